from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)

        ensure_broker_folders()


def ensure_broker_folders() -> None:
    """The on-disk broker needs its folders before the web, worker or beat publish to it."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
