"""Dates as people read them everywhere in the product: `2026-12-27 19:06 UTC`."""

from __future__ import annotations

import datetime as dt

DISPLAY_FORMAT = "%Y-%m-%d %H:%M UTC"


def format_utc(value: dt.datetime) -> str:
    """An aware datetime in UTC to the minute, e.g. `2026-12-27 19:06 UTC`."""
    return value.astimezone(dt.UTC).strftime(DISPLAY_FORMAT)
