"""The one answer to "what time is it?" for every business rule.

`now()` is real time, or, with `LMO_SIMULATED_CLOCK` on, real time plus an offset stored
in the database (`clock.models.ClockChange`), so a back office can watch months of
trials lapse in minutes. Transport security (webhook signature timestamps), bookkeeping
of background work (outbox, sweep runs) and `auto_now` columns stay on real time.

The offset is read from the shared cache (every web and worker process sees the same
entry, refreshed from the database after at most `CACHE_SECONDS`) and remembered for the
rest of a request or task, so one request sees one "now" and the license check pays no
extra round trip with the simulated clock off, and at most one cache read with it on.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

ZERO = timedelta(0)
CACHE_KEY = "lmo:clock:offset-us"
# The shared entry expires, so even a lost invalidation heals within this time.
CACHE_SECONDS = 60
# Outside a request or a task (shell, management commands), re-read this often.
MEMO_SECONDS = 1.0

_memo: ContextVar[tuple[float, timedelta] | None] = ContextVar("lmo_clock_offset", default=None)


def simulated_clock_enabled() -> bool:
    return bool(getattr(settings, "LMO_SIMULATED_CLOCK", False))


def _stored_offset() -> timedelta:
    from clock.models import ClockChange

    latest = ClockChange.objects.order_by("-id").values_list("offset", flat=True).first()
    return latest if latest is not None else ZERO


def _offset_us(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


def offset() -> timedelta:
    """Simulated time minus real time: zero unless the simulated clock is on and moved."""
    if not simulated_clock_enabled():
        return ZERO
    memo = _memo.get()
    tick = time.monotonic()
    if memo is not None and tick - memo[0] < MEMO_SECONDS:
        return memo[1]
    try:
        cached = cache.get(CACHE_KEY)
    except Exception:  # a cache that is down must not stop the clock: the database answers
        logger.warning("Clock offset not readable from the cache", exc_info=True)
        cached = None
    if cached is None:
        value = _stored_offset()
        try:
            cache.set(CACHE_KEY, _offset_us(value), CACHE_SECONDS)
        except Exception:
            logger.warning("Clock offset not writable to the cache", exc_info=True)
    else:
        value = timedelta(microseconds=cached)
    _memo.set((tick, value))
    return value


def now() -> datetime:
    """The time every rule uses: real time, moved by the simulated clock's offset."""
    current = timezone.now()
    if not simulated_clock_enabled():
        return current
    return current + offset()


def is_simulated() -> bool:
    """True while the clock is not real time (the banner shows, /healthz says so)."""
    return simulated_clock_enabled() and offset() != ZERO


def forget_offset() -> None:
    """Read the offset afresh next time (at the start of each request and task)."""
    _memo.set(None)


def publish_offset(value: timedelta) -> None:
    """After a move commits: every process sees the new offset from its next request."""
    _memo.set(None)
    try:
        cache.set(CACHE_KEY, _offset_us(value), CACHE_SECONDS)
    except Exception:
        # The entry expires within CACHE_SECONDS; the database already holds the new value.
        logger.warning("Clock offset not published to the cache", exc_info=True)
        try:
            cache.delete(CACHE_KEY)
        except Exception:
            logger.warning("Clock offset not removed from the cache", exc_info=True)
