"""Background jobs: the record of scheduled sweeps, and the outbox of side effects."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .choices import OutboxStatus, SweepJob


class SweepRun(models.Model):
    """One run of a scheduled sweep: when it ran, how many licenses it changed."""

    job = models.CharField(max_length=40, choices=SweepJob.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(
        default=0, help_text="Licenses changed (or, for a dry run, that would be)."
    )
    batches = models.PositiveIntegerField(default=0)
    dry_run = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"], name="sweeprun_job_started_idx")]

    def __str__(self) -> str:
        suffix = " (dry run)" if self.dry_run else ""
        return f"{self.get_job_display()} at {self.started_at:%Y-%m-%d %H:%M}: {self.count}{suffix}"


class OutboxMessage(models.Model):
    """A side effect owed for a committed change, relayed to the worker until it is done."""

    topic = models.CharField(
        max_length=60, help_text="The name of the Celery task that does the work."
    )
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    relays = models.PositiveIntegerField(default=0, help_text="Times handed to the broker.")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts to do the work.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A consumer working on the message (or its scheduled retry) holds it until then; the
    # re-relay job takes over a message whose holder died once this has passed.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_holder = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The re-relay job looks for old pending (or lost sent) messages.
            models.Index(fields=["status", "created_at"], name="outbox_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk} ({self.status})"


class OutboxDelivery(models.Model):
    """One piece of a message's work done (one email sent), written in its own commit right
    after it is done: a consumer that dies mid-message redoes at most the piece in flight."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    key = models.CharField(max_length=200, help_text="What was done, e.g. license-event:42.")
    detail = models.CharField(max_length=500, blank=True, help_text="e.g. the recipients.")
    delivered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "key"], name="outbox_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of #{self.message_id}"
