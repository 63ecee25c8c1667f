"""The filters every dashboard page and endpoint takes: package, period, which orgs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms

from lmo import clock
from packages.models import Package

from . import definitions as d


@dataclass(frozen=True)
class Scope:
    """Which licenses a dashboard counts, over which period, as of when."""

    package: Package | None
    period_days: int
    org_scope: str
    now: dt.datetime

    @property
    def org_types(self) -> tuple[str, ...]:
        return d.org_types(self.org_scope)

    @property
    def today(self) -> dt.date:
        return d.utc_day(self.now)

    @property
    def since(self) -> dt.date:
        """The period's first day (UTC)."""
        return self.today - dt.timedelta(days=self.period_days - 1)

    @property
    def months(self) -> list[dt.date]:
        """The months the period touches, oldest first (at least one, at most 24)."""
        count = min(d.COHORT_MONTHS_MAX, max(1, round(self.period_days / 30.44)))
        month = d.month_start(self.today)
        months = [month]
        for _ in range(count - 1):
            month = d.month_start(month - dt.timedelta(days=1))
            months.append(month)
        return months[::-1]

    @property
    def sandboxes_excluded(self) -> bool:
        return self.org_scope == "production"

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for links between the pages)."""
        params = {"period": str(self.period_days), "orgs": self.org_scope}
        if self.package is not None:
            params["package"] = str(self.package.pk)
        return params

    def license_filters(self) -> dict[str, str]:
        """The same scope as license-list query parameters."""
        params: dict[str, str] = {}
        if self.package is not None:
            params["package__id__exact"] = str(self.package.pk)
        if len(self.org_types) == 1:
            params["org_type__exact"] = self.org_types[0]
        return params

    def package_filter(self, field: str = "package") -> dict[str, object]:
        return {} if self.package is None else {field: self.package}


class ScopeForm(forms.Form):
    package = forms.ModelChoiceField(
        queryset=Package.objects.order_by("name"), required=False, empty_label="All packages"
    )
    period = forms.TypedChoiceField(
        choices=list(d.PERIODS.items()), coerce=int, required=False, empty_value=None
    )
    orgs = forms.ChoiceField(choices=list(d.ORG_SCOPES.items()), required=False)

    def __init__(self, *args, default_period: int = 30, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default_period = default_period
        self.fields["period"].initial = default_period
        self.fields["orgs"].initial = d.DEFAULT_ORG_SCOPE

    def scope(self, now: dt.datetime | None = None) -> Scope:
        """The valid form's scope (call is_valid() first)."""
        data = self.cleaned_data
        return Scope(
            package=data.get("package"),
            period_days=data.get("period") or self.default_period,
            org_scope=data.get("orgs") or d.DEFAULT_ORG_SCOPE,
            now=now or clock.now(),
        )


def parse_scope(params, *, default_period: int) -> tuple[Scope | None, ScopeForm]:
    """The scope the query parameters ask for, or None (the form says what is wrong)."""
    data = params.copy()
    # Absent filters take the page's defaults, and the form shows them as chosen.
    if not data.get("period"):
        data["period"] = str(default_period)
    if not data.get("orgs"):
        data["orgs"] = d.DEFAULT_ORG_SCOPE
    form = ScopeForm(data, default_period=default_period)
    return (form.scope() if form.is_valid() else None), form
