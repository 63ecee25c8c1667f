"""The inbox of subscriber events: every accepted webhook, where it stands, and its license."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .choices import EventType, Outcome


class SubscriberEvent(models.Model):
    """One signed webhook delivery that passed verification; its id is unique.

    Stored `queued` when it arrives; a worker then applies it and records the outcome.
    """

    # Unique and indexed in Meta rather than on the fields: a field's unique or db_index
    # would add a LIKE (pattern) index to each, which exact lookups never use.
    event_id = models.CharField(max_length=255, help_text="The webhook-id header.")
    type = models.CharField(max_length=30, choices=EventType.choices)
    occurred_at = models.DateTimeField(help_text="When it happened in the subscriber org.")
    received_at = models.DateTimeField(auto_now_add=True)
    package_id = models.CharField(max_length=18)
    org_id = models.CharField(max_length=18)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    outcome = models.CharField(
        "status", max_length=12, choices=Outcome.choices, default=Outcome.QUEUED
    )
    error = models.TextField(blank=True)
    license = models.ForeignKey(
        "licenses.License",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriber_events",
    )
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker last applied (or refused) it."
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
            # The workers' queue: small however large the inbox grows.
            models.Index(
                fields=["id"],
                condition=models.Q(outcome=Outcome.QUEUED),
                name="subscriber_event_queued_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"
