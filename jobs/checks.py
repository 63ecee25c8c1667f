"""System check: a Redis-style broker must not redeliver a task still waiting for its retry."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

# Brokers that redeliver an unacknowledged message after a visibility timeout.
VISIBILITY_TIMEOUT_TRANSPORTS = ("redis", "rediss", "sqs")


@register()
def check_visibility_timeout(app_configs=None, **kwargs) -> list[Warning]:
    from .health import broker_transport
    from .tasks import LONGEST_COUNTDOWN

    if broker_transport(settings.CELERY_BROKER_URL) not in VISIBILITY_TIMEOUT_TRANSPORTS:
        return []
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    # Kombu's default for Redis is one hour.
    timeout = options.get("visibility_timeout", 3600)
    if timeout > LONGEST_COUNTDOWN:
        return []
    return [
        Warning(
            f"The broker's visibility_timeout ({timeout}s) is not longer than the longest "
            f"retry countdown ({LONGEST_COUNTDOWN}s): such tasks would be delivered twice.",
            hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'].",
            id="jobs.W001",
        )
    ]
