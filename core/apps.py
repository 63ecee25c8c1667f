from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: errors, Salesforce ids, the API kernel and console helpers."""

    name = "core"
