from django.db import models


class DataType(models.TextChoices):
    BOOLEAN = "boolean", "Boolean"
    INTEGER = "integer", "Integer"
    DATE = "date", "Date"


class Direction(models.TextChoices):
    LMO_TO_SUBSCRIBER = "lmo_to_subscriber", "LMO to subscriber"
    SUBSCRIBER_TO_LMO = "subscriber_to_lmo", "Subscriber to LMO"


MAX_PARAMETERS_PER_PACKAGE = 200
DEVELOPER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"
