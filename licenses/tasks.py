"""Celery tasks of the licenses app: thin, idempotent, each calling one service.

Retry and time-limit options come from jobs.tasks, which owns the retry policy.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from jobs.tasks import SWEEP_OPTIONS
from lmo import clock

from .notifications import NOTIFY_TASK, license_event_notify
from .sweeps import licenses_notify_expiring_soon, licenses_sweep_due

logger = logging.getLogger(__name__)


@shared_task(name="licenses.expire_licenses", **SWEEP_OPTIONS)
def expire_licenses() -> int:
    """Record licenses entering grace, and expire every trial and active license past its
    end and grace (beat, every few minutes)."""
    return licenses_sweep_due(now=clock.now()).count


@shared_task(name="licenses.notify_expiring_soon", **SWEEP_OPTIONS)
def notify_expiring_soon() -> int:
    """Record expiring_soon once for each trial ending within 7 days."""
    return licenses_notify_expiring_soon(now=clock.now()).count


def sweeps_after_clock_moved(**_: Any) -> None:
    """The simulated clock jumped: run the sweeps now rather than at their next beat, so
    what the jump ended shows straight away. A broker that is down only delays them."""
    for task in (expire_licenses, notify_expiring_soon):
        try:
            task.delay()
        except Exception:
            logger.warning("Could not queue %s after the clock moved", task.name, exc_info=True)


@shared_task(name=NOTIFY_TASK)
def notify_license_events(payload: dict[str, Any]) -> int:
    """Email about license history rows; run by the outbox consumer, which retries it."""
    return license_event_notify(payload)
