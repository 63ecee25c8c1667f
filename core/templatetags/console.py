"""Template filters of the console: `{% load console %}`, then `{{ value|utc }}`,
`{{ license.expires_at|expiry }}` and `{{ value|days_from_now }}`."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.safestring import SafeString

from core.dates import expiry_html, format_utc, relative_days

register = template.Library()


@register.filter
def utc(value: dt.datetime | dt.date | None) -> str:
    return format_utc(value)


@register.filter
def expiry(value: dt.datetime | None) -> SafeString:
    return expiry_html(value)


@register.filter
def days_from_now(value: dt.datetime | None) -> str:
    return relative_days(value) if value is not None else ""
