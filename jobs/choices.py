"""Choices for background jobs: which scheduled job ran, and where an outbox message is."""

from django.db import models


class SweepJob(models.TextChoices):
    EXPIRE_LICENSES = "expire_licenses", "Expire licenses"
    NOTIFY_EXPIRING_SOON = "notify_expiring_soon", "Notify expiring soon"
    NOTE_GRACE = "note_grace", "Record licenses entering grace"
    END_OVERRIDES = "end_overrides", "End lapsed feature overrides"


class OutboxStatus(models.TextChoices):
    # Written with the change; not yet handed to the broker.
    PENDING = "pending", "Pending"
    # Handed to the broker; the consumer has not finished it yet.
    SENT = "sent", "Sent"
    # The consumer did the work (exactly once: it claims the row with a conditional UPDATE).
    DONE = "done", "Done"
    # The consumer gave up after its last attempt; last_error says why.
    FAILED = "failed", "Failed"


# The consumer may claim a message in these states; a relay twice finds it DONE and skips.
OUTBOX_CLAIMABLE = (OutboxStatus.PENDING, OutboxStatus.SENT)
