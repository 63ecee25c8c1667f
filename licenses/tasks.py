"""Celery tasks of the licenses app: thin, idempotent, each calling one service.

Retry and time-limit options come from jobs.tasks, which owns the retry policy.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from jobs.tasks import SWEEP_OPTIONS

from .notifications import NOTIFY_TASK, license_event_notify
from .sweeps import licenses_expire_due, licenses_notify_expiring_soon


@shared_task(name="licenses.expire_licenses", **SWEEP_OPTIONS)
def expire_licenses() -> int:
    """Expire every trial and active license that is due (beat, every few minutes)."""
    return licenses_expire_due(now=timezone.now()).count


@shared_task(name="licenses.notify_expiring_soon", **SWEEP_OPTIONS)
def notify_expiring_soon() -> int:
    """Record expiring_soon once for each trial ending within 7 days."""
    return licenses_notify_expiring_soon(now=timezone.now()).count


@shared_task(name=NOTIFY_TASK)
def notify_license_events(payload: dict[str, Any]) -> int:
    """Email about license history rows; run by the outbox consumer, which retries it."""
    return license_event_notify(payload)
