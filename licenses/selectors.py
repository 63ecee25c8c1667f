"""Reads for the managers' dashboard and lists. No writes here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from lmo import clock
from packages.choices import SITE_LICENSE
from packages.models import Package

from .choices import LicenseStatus
from .models import License

DASHBOARD_CACHE_SECONDS = 120
LAPSING_WINDOW_DAYS = 7
HISTORY_MONTHS = 12


@dataclass
class Dashboard:
    """Everything the managers' dashboard shows, computed in a fixed number of queries."""

    as_of: dt.datetime
    package: Package | None
    status_counts: dict[str, int]
    active_seats: int
    active_site_licenses: int
    trials_started: int
    trials_converted: int
    version_spread: list[dict[str, Any]]
    lapsing_trials: list[License]
    monthly: list[dict[str, Any]] = field(default_factory=list)
    # Past their end but within their package's grace: still running, about to be cut off.
    in_grace: list[License] = field(default_factory=list)
    in_grace_count: int = 0

    @property
    def total(self) -> int:
        return sum(self.status_counts.values())

    @property
    def live(self) -> int:
        return self.status_counts.get(LicenseStatus.TRIAL, 0) + self.status_counts.get(
            LicenseStatus.ACTIVE, 0
        )

    @property
    def conversion_rate(self) -> float | None:
        if not self.trials_started:
            return None
        return self.trials_converted / self.trials_started


def _month_start(moment: dt.datetime, months_back: int) -> dt.datetime:
    year, month = moment.year, moment.month - months_back
    while month <= 0:
        month += 12
        year -= 1
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def dashboard_get(*, package: Package | None = None, now: dt.datetime | None = None) -> Dashboard:
    """The dashboard, cached briefly: managers don't need it to the second, and the
    aggregates scan many rows."""
    key = f"dashboard:v1:{package.pk if package else 'all'}"
    cached = cache.get(key)
    if cached is not None and now is None:
        return cached
    dashboard = dashboard_compute(package=package, now=now)
    cache.set(key, dashboard, DASHBOARD_CACHE_SECONDS)
    return dashboard


def dashboard_compute(
    *, package: Package | None = None, now: dt.datetime | None = None
) -> Dashboard:
    """Aggregate licenses for the dashboard: 8 queries whatever the number of licenses (9
    with 25 or more licenses in grace)."""
    now = now or clock.now()
    licenses = License.objects.all()
    if package is not None:
        licenses = licenses.filter(package=package)

    status_counts = dict(
        licenses.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    seats = licenses.filter(status=LicenseStatus.ACTIVE).aggregate(
        seat_total=Sum("seats", filter=~Q(seats=SITE_LICENSE)),
        site_count=Count("id", filter=Q(seats=SITE_LICENSE)),
    )
    trials = licenses.filter(trial_started_at__isnull=False).aggregate(
        started=Count("id"), converted=Count("id", filter=Q(activated_at__isnull=False))
    )
    version_spread = list(
        licenses.live()
        .order_by()
        .values(
            "package__namespace",
            "version__version_number",
            "version__major",
            "version__minor",
            "version__patch",
        )
        .annotate(installs=Count("id"))
        .order_by("package__namespace", "-version__major", "-version__minor", "-version__patch")
    )
    lapsing = list(
        licenses.filter(
            status=LicenseStatus.TRIAL,
            expires_at__gt=now,
            expires_at__lte=now + dt.timedelta(days=LAPSING_WINDOW_DAYS),
        )
        .select_related("package", "account")
        .order_by("expires_at")[:25]
    )
    grace = licenses.in_grace(now)
    in_grace = list(grace.select_related("package", "account").order_by("expires_at")[:25])
    in_grace_count = len(in_grace) if len(in_grace) < 25 else grace.count()
    since = _month_start(now, HISTORY_MONTHS - 1)
    installs = dict(
        licenses.filter(installed_at__gte=since, previous_license__isnull=True)
        .annotate(month=TruncMonth("installed_at"))
        .order_by()
        .values_list("month")
        .annotate(n=Count("id"))
        .values_list("month", "n")
    )
    churn = dict(
        licenses.filter(uninstalled_at__gte=since)
        .annotate(month=TruncMonth("uninstalled_at"))
        .order_by()
        .values_list("month")
        .annotate(n=Count("id"))
        .values_list("month", "n")
    )
    monthly = []
    for back in range(HISTORY_MONTHS - 1, -1, -1):
        month = _month_start(now, back)
        monthly.append(
            {
                "month": month,
                "installs": _lookup_month(installs, month),
                "uninstalls": _lookup_month(churn, month),
            }
        )
    return Dashboard(
        as_of=now,
        package=package,
        status_counts={status: status_counts.get(status, 0) for status in LicenseStatus.values},
        active_seats=seats["seat_total"] or 0,
        active_site_licenses=seats["site_count"] or 0,
        trials_started=trials["started"] or 0,
        trials_converted=trials["converted"] or 0,
        version_spread=version_spread,
        lapsing_trials=lapsing,
        monthly=monthly,
        in_grace=in_grace,
        in_grace_count=in_grace_count,
    )


def _lookup_month(counts: dict[Any, int], month: dt.datetime) -> int:
    # SQLite returns naive or date-only values from TruncMonth; compare by (year, month).
    for key, value in counts.items():
        if key is not None and (key.year, key.month) == (month.year, month.month):
            return value
    return 0
