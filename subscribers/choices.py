from django.db import models


class EventType(models.TextChoices):
    INSTALLED = "package.installed", "Package installed"
    UPGRADED = "package.upgraded", "Package upgraded"
    UNINSTALLED = "package.uninstalled", "Package uninstalled"
    USAGE_REPORTED = "usage.reported", "Usage reported"


class Outcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Duplicate"
    IGNORED = "ignored", "Ignored (stale)"
    UNROUTED = "unrouted", "Unrouted"
