"""The worker side of the inbox: drain queued subscriber events."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from .services import (
    DRAIN_HELPER_KEY,
    DRAIN_PENDING_KEY,
    TRANSIENT_ERRORS,
    subscriber_events_drain,
    subscriber_events_drain_help,
)


@shared_task(
    name="subscribers.drain_events",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
    soft_time_limit=15 * 60,
    time_limit=16 * 60,
)
def drain_subscriber_events(helper: bool = False) -> dict[str, int]:
    """Apply the queued events; triggered after each acceptance and by beat as a safety net,
    and as a `helper` by a drain that found a backlog."""
    if helper:
        try:
            result = subscriber_events_drain(max_seconds=settings.LMO_SUBSCRIBER_DRAIN_MAX_SECONDS)
        finally:
            cache.delete(DRAIN_HELPER_KEY)
    else:
        # Cleared first: an event accepted from now on asks for a new drain, and one accepted
        # before is already committed, so the queries below see it.
        cache.delete(DRAIN_PENDING_KEY)
        # Web processes that saw the key just before it was cleared do not ask again for
        # LMO_SUBSCRIBER_DRAIN_ASK_SECONDS; the events they accept meanwhile are this drain's.
        cleared_at = time.monotonic()
        result = subscriber_events_drain(
            max_seconds=settings.LMO_SUBSCRIBER_DRAIN_MAX_SECONDS,
            on_backlog=subscriber_events_drain_help,
            keep_looking_until=cleared_at + settings.LMO_SUBSCRIBER_DRAIN_ASK_SECONDS,
        )
    return {"batches": result.batches, "processed": result.processed, "failed": result.failed}
