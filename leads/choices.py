from django.db import models


class LeadStatus(models.TextChoices):
    OPEN = "open", "Open"
    WORKING = "working", "Working"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"


OPEN_LEAD_STATUSES = (LeadStatus.OPEN, LeadStatus.WORKING)

LEAD_SOURCE_PACKAGE_INSTALLATION = "Package Installation"
