"""Celery tasks of the features app: thin, idempotent, each calling one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from jobs.tasks import SWEEP_OPTIONS
from lmo import clock

from .services import feature_overrides_sweep

logger = logging.getLogger(__name__)


@shared_task(name="features.end_overrides", **SWEEP_OPTIONS)
def end_overrides() -> int:
    """Put back the values whose override has lapsed (beat, with the expiry sweep)."""
    return feature_overrides_sweep(now=clock.now()).count


def overrides_after_clock_moved(**_: Any) -> None:
    """The simulated clock jumped: end what the jump lapsed now, not at the next beat."""
    try:
        end_overrides.delay()
    except Exception:
        logger.warning(
            "Could not queue %s after the clock moved", end_overrides.name, exc_info=True
        )
