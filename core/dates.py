"""How the console writes and reads times: one format (`2026-12-27 19:06 UTC`) everywhere,
and "in N days" counted in UTC calendar days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.html import format_html

UTC = dt.UTC
DISPLAY_FORMAT = "%Y-%m-%d %H:%M UTC"
DISPLAY_SECONDS_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
DATE_FORMAT = "%Y-%m-%d"
# What a date-and-time field accepts, first the format it shows.
INPUT_FORMATS = [
    DISPLAY_FORMAT,
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S UTC",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
]
INPUT_PLACEHOLDER = "YYYY-MM-DD HH:MM UTC"


def format_utc(value: dt.datetime | dt.date | None, *, seconds: bool = False) -> str:
    """`2026-12-27 19:06 UTC` for a time (`19:06:43` with seconds), `2026-12-27` for a date,
    "" for nothing."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime(DISPLAY_SECONDS_FORMAT if seconds else DISPLAY_FORMAT)
    return value.strftime(DATE_FORMAT)


def days_until(value: dt.datetime, now: dt.datetime | None = None) -> int:
    """Calendar days from today to the value's day, both taken in UTC (negative: past)."""
    now = now or timezone.now()
    return (value.astimezone(UTC).date() - now.astimezone(UTC).date()).days


def relative_days(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """`today`, `in 1 day`, `in 12 days`, `1 day ago`, `3 days ago`."""
    days = days_until(value, now)
    if days == 0:
        return "today"
    unit = "day" if abs(days) == 1 else "days"
    return f"in {days} {unit}" if days > 0 else f"{-days} {unit} ago"


def expiry_html(
    expires_at: dt.datetime | None, now: dt.datetime | None = None, *, compact: bool = False
) -> str:
    """An expiry with how far off it is, marked when it has passed or falls within a week.

    Compact (for lists): the day only, the full time on hover.
    """
    if expires_at is None:
        return format_html('<span class="lmo-muted">{}</span>', "Does not expire")
    now = now or timezone.now()
    days = days_until(expires_at, now)
    if expires_at <= now:
        css = "lmo-late"
    elif days < 7:
        css = "lmo-soon"
    else:
        css = "lmo-muted"
    full = format_utc(expires_at)
    return format_html(
        '<span class="lmo-date" title="{}">{}</span> <span class="{}">({})</span>',
        full,
        format_utc(expires_at.astimezone(UTC).date()) if compact else full,
        css,
        relative_days(expires_at, now),
    )


def format_history_value(value: Any) -> str:
    """A value from a history row's before/after, with ISO times written the console's way."""
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return format_utc(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


class UtcDateTimeInput(forms.DateTimeInput):
    """A plain text box showing and taking `2026-12-27 19:06 UTC` (no browser locale picker)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"placeholder": INPUT_PLACEHOLDER, "size": 22, **(attrs or {})},
            format=DISPLAY_FORMAT,
        )
