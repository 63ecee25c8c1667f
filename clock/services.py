"""Moving the simulated clock: forward by a duration, to an instant, or back to real time.

Time only moves forward (as with a payment provider's test clocks): history written at a
simulated time must never end up in the future. `reset` is the one way back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lmo.clock import ZERO, publish_offset, simulated_clock_enabled

from .exceptions import ClockError
from .models import ClockChange
from .signals import clock_moved

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Far enough for any simulation; a typo of a few more zeros is refused.
MAX_OFFSET = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '2w', '45s' -> timedelta; anything else is refused."""
    match = _DURATION.match(text or "")
    if not match:
        raise ClockError(
            f"{text!r} is not a duration: give a number and a unit, e.g. 30d, 12h, 90m, 2w."
        )
    amount, unit = int(match[1]), match[2].lower()
    return timedelta(**{_UNITS[unit]: amount})


def parse_instant(text: str) -> datetime:
    """'2027-03-01T09:00Z' (or with seconds or an offset) -> aware datetime; UTC if naive."""
    value = parse_datetime((text or "").strip().replace("z", "Z"))
    if value is None:
        raise ClockError(f"{text!r} is not a date and time: give e.g. 2027-03-01T09:00Z.")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.UTC)
    return value


def format_offset(value: timedelta) -> str:
    """'+30d 04:00:00' style, for people."""
    if value == ZERO:
        return "real time"
    sign = "+" if value > ZERO else "-"
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{value.days}d {hours:02d}:{minutes:02d}:{seconds:02d}"


def _actor(by: Any) -> tuple[str, Any]:
    if by is None:
        return "system", None
    if isinstance(by, str):
        return by, None
    return by.get_username(), by


@transaction.atomic
def _move(*, target: Callable[[timedelta], timedelta], by: Any, note: str) -> ClockChange:
    """Write the next offset, computed from the current one read under a lock."""
    if not simulated_clock_enabled():
        raise ClockError(
            "The simulated clock is off: set LMO_SIMULATED_CLOCK=1 (never in production) to "
            "move time."
        )
    # One mover at a time: the newest row is read under a lock before the next is written.
    latest = ClockChange.objects.select_for_update().order_by("-id").first()
    before = latest.offset if latest is not None else ZERO
    offset = target(before)
    if offset > MAX_OFFSET:
        raise ClockError(f"The clock cannot run more than {MAX_OFFSET.days} days ahead.")
    actor, user = _actor(by)
    change = ClockChange.objects.create(
        at=timezone.now(),
        actor=actor,
        actor_user=user,
        offset_before=before,
        offset=offset,
        note=note[:200],
    )

    # A named function, not a partial: Django names a failing robust callback in its log by
    # its __qualname__, and a partial has none (the log call itself would then raise).
    def published() -> None:
        _published(offset=offset, before=before)

    transaction.on_commit(published, robust=True)
    return change


def _published(*, offset: timedelta, before: timedelta) -> None:
    publish_offset(offset)
    clock_moved.send(sender=ClockChange, offset=offset, offset_before=before)


def clock_advance(*, by: Any, delta: timedelta, note: str = "") -> ClockChange:
    """Move simulated time forward by `delta`."""
    if delta <= ZERO:
        raise ClockError("Advance by a positive duration, e.g. 30d.")
    return _move(target=lambda current: current + delta, by=by, note=note or f"advance {delta}")


def clock_set(*, by: Any, to: datetime, note: str = "") -> ClockChange:
    """Make simulated time read `to` now; it must be later than the simulated now."""

    def target(current: timedelta) -> timedelta:
        real = timezone.now()
        if to - real <= current:
            raise ClockError(
                f"{to.isoformat()} is not after the clock's time "
                f"({(real + current).isoformat(timespec='seconds')}): the clock only moves "
                "forward (reset returns to real time)."
            )
        return to - real

    return _move(target=target, by=by, note=note or f"set {to.isoformat()}")


def clock_reset(*, by: Any, note: str = "") -> ClockChange:
    """Back to real time."""
    return _move(target=lambda current: ZERO, by=by, note=note or "reset")


def clock_history(limit: int = 50) -> list[ClockChange]:
    return list(ClockChange.objects.select_related("actor_user").order_by("-id")[:limit])
