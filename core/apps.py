from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: errors, Salesforce ids, the API kernel and console helpers."""

    name = "core"

    def ready(self) -> None:
        from .api import authentication  # noqa: F401  (registers the token's OpenAPI scheme)
