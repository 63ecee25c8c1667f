from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "staff"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the token's OpenAPI scheme)
