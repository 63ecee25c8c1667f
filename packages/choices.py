from django.db import models


class DefaultLicenseStatus(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"


SITE_LICENSE = -1
MAX_SEATS = 99_000_000
MAX_TRIAL_DAYS = 90
# An active default's term: up to a hundred years, far inside what a datetime holds.
MAX_LICENSE_DAYS = 36_500
MAX_GRACE_DAYS = 30
