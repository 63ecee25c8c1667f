"""The inbox of subscriber events: every accepted webhook, what it did, and to which license."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .choices import EventType, Outcome


class SubscriberEvent(models.Model):
    """One signed webhook delivery that passed verification; its id is unique."""

    # Unique and indexed in Meta rather than on the fields: a field's unique or db_index
    # would add a LIKE (pattern) index to each, which exact lookups never use.
    event_id = models.CharField(max_length=255, help_text="The webhook-id header.")
    type = models.CharField(max_length=30, choices=EventType.choices)
    occurred_at = models.DateTimeField(help_text="When it happened in the subscriber org.")
    received_at = models.DateTimeField(auto_now_add=True)
    package_id = models.CharField(max_length=18)
    org_id = models.CharField(max_length=18)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    error = models.TextField(blank=True)
    license = models.ForeignKey(
        "licenses.License",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriber_events",
    )
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=Outcome.values),
                name="subscriber_event_outcome_valid",
            ),
            models.UniqueConstraint(fields=["event_id"], name="subscriber_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["package_id"], name="subscriber_event_package_idx"),
            models.Index(fields=["org_id"], name="subscriber_event_org_idx"),
            models.Index(fields=["outcome", "package_id"], name="subscriber_event_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"


class BaselineRow(models.Model):
    """One row per request to the benchmark's insert baseline (only when LMO_BENCH_VIEWS is on)."""

    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"baseline row {self.pk}"
