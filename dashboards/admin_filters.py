"""License-list filters that the dashboards' numbers link to, with the meaning
dashboards.definitions gives them (registered on the license list's filters)."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import QuerySet

from features.models import FeatureParameter, FeatureParameterValue
from lmo import clock

from . import definitions as d

SEGMENTS = {
    "live": "Live",
    "over_limit": "Over seat limit (live)",
    **{f"retained_{days}": f"Still installed after {days} days" for days in d.RETENTION_DAYS},
}


class DashboardSegmentFilter(admin.SimpleListFilter):
    """Live licenses, live ones over their seat limit, installs still there after N days."""

    title = "dashboard figure"
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        return list(SEGMENTS.items())

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "live":
            return queryset.filter(d.live_q(clock.now()))
        if value == "over_limit":
            return queryset.filter(d.live_q(clock.now()), d.over_limit_q())
        if value and value.startswith("retained_") and value[9:].isdigit():
            return queryset.filter(d.retained_q(int(value[9:])))
        return queryset


class FeatureFilter(admin.SimpleListFilter):
    """Licenses with a switch on (`<parameter id>:on`), or that reported a reading since a
    day (`<parameter id>:reported:<YYYY-MM-DD>`). Offered only as a dashboard's link."""

    title = "feature"
    parameter_name = "feature"

    def _parse(self) -> tuple[int, str, dt.date | None] | None:
        parts = (self.value() or "").split(":")
        if len(parts) < 2 or not parts[0].isdigit() or parts[1] not in ("on", "reported"):
            return None
        since = None
        if parts[1] == "reported" and len(parts) == 3:
            try:
                since = dt.date.fromisoformat(parts[2])
            except ValueError:
                return None
        return int(parts[0]), parts[1], since

    def lookups(self, request, model_admin):
        parsed = self._parse()
        if parsed is None:
            return []
        parameter = FeatureParameter.objects.filter(pk=parsed[0]).first()
        if parameter is None:
            return []
        label = f"{parameter.label}: " + (
            "on"
            if parsed[1] == "on"
            else f"reported since {parsed[2]}"
            if parsed[2]
            else "reported"
        )
        return [(self.value(), label)]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        parsed = self._parse()
        if parsed is None:
            return queryset if not self.value() else queryset.none()
        parameter_id, kind, since = parsed
        values = FeatureParameterValue.objects.filter(parameter_id=parameter_id)
        if kind == "on":
            values = values.filter(value_boolean=True)
        else:
            values = values.filter(value_integer__isnull=False)
            if since is not None:
                values = values.filter(
                    updated_at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
                )
        return queryset.filter(pk__in=values.values("license_id"))
