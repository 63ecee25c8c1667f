"""Links from a dashboard number to the license list that makes it up."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from .filters import Scope


def day_start(day: dt.date) -> str:
    """A UTC day's start as the license list's date-time filters take it."""
    return f"{day.isoformat()} 00:00:00+00:00"


def license_list(scope: Scope, **params: object) -> str:
    """The console's license list filtered to the scope and `params` (field lookups, and
    the dashboards' own list filters: `segment`, `feature`)."""
    query = {**scope.license_filters(), **{k: str(v) for k, v in params.items()}}
    return f"{reverse('admin:licenses_license_changelist')}?{urlencode(query)}"


def day_range(field: str, first: dt.date, end: dt.date) -> dict[str, str]:
    """`field` within [first, end) in whole UTC days."""
    return {f"{field}__gte": day_start(first), f"{field}__lt": day_start(end)}
