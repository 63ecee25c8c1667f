from django.db import models


class EventType(models.TextChoices):
    INSTALLED = "package.installed", "Package installed"
    UPGRADED = "package.upgraded", "Package upgraded"
    UNINSTALLED = "package.uninstalled", "Package uninstalled"
    USAGE_REPORTED = "usage.reported", "Usage reported"


class Outcome(models.TextChoices):
    """Where an inbox event stands: queued until a worker applies it, then final."""

    QUEUED = "queued", "Queued"
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Ignored (stale)"
    UNROUTED = "unrouted", "Unrouted"
    FAILED = "failed", "Failed"


# What a replay may put back in the queue.
REPLAYABLE = (Outcome.FAILED, Outcome.UNROUTED)
