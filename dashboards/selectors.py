"""The figures of each dashboard page, read from the rollup in a fixed number of queries.

No writes here. Each page's figures cost the same number of queries whatever the number
of licenses: they read the rollup tables (a few rows per package, version, status and
day) and, from the license table, only what its indexes bound: the few trials and
contracts whose end passed moments ago and that the sweep has not marked yet, and the
first rows of the over-use list.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.urls import reverse

from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from licenses.choices import LicenseStatus
from licenses.models import License
from packages.choices import SITE_LICENSE
from packages.models import Package, PackageVersion

from . import definitions as d
from .filters import Scope
from .links import day_range, license_list
from .models import (
    SEAT_MEASURES,
    FeatureBucket,
    FeatureTally,
    InstallCohort,
    LicenseDay,
    LicenseTally,
    TrialCohort,
    TrialEndDay,
    UninstallMonth,
)
from .rollup import bucket_bounds, bucket_of, feature_bucket_rows, feature_rows

OVER_USE_ROWS = 20
OLDER_VERSION_ROWS = 50


@dataclass
class Figure:
    """One number, what it was at the start of the period (when known), and its list."""

    value: int
    url: str
    previous: int | None = None

    @property
    def change(self) -> int | None:
        return None if self.previous is None else self.value - self.previous


def share(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


def _rollup(queryset: QuerySet, scope: Scope, package_field: str = "package") -> QuerySet:
    return queryset.filter(org_type__in=scope.org_types, **scope.package_filter(package_field))


def _sums(names: Iterable[str]) -> dict[str, Sum]:
    return {name: Sum(name) for name in names}


OVERDUE_ROWS_READ = 5000


def _overdue(scope: Scope, *group_by: str) -> list[dict[str, Any]]:
    """Trials and contracts whose end has passed but that the sweep has not marked expired
    yet: not live, though their status still says so. One row per `group_by` values, with
    the seat measures.

    They are few (the sweep runs every few minutes), so they are read as rows through the
    status+expiry index and counted here; filtering by package in SQL would tempt the
    planner into reading every live license of the package. Should the sweep have fallen
    far behind, the database counts them instead."""
    fields = ("status", "package_id", "version_id", "org_type", "seats", "used_licenses")
    due = License.objects.filter(status__in=d.LIVE_STATUSES, expires_at__lte=scope.now).order_by()
    # Ordered as the index is, so that the LIMIT reads the index rather than the table.
    first = due.order_by("status", "expires_at").values_list(*fields)[: OVERDUE_ROWS_READ + 1]
    rows = [(*row, 1) for row in first]
    if len(rows) > OVERDUE_ROWS_READ:
        rows = list(due.values_list(*fields).annotate(n=Count("id")).values_list(*fields, "n"))
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for status, package_id, version_id, org_type, seats, used, n in rows:
        if org_type not in scope.org_types or (
            scope.package is not None and package_id != scope.package.pk
        ):
            continue
        values = {"status": status, "package_id": package_id, "version_id": version_id}
        key = tuple(values[name] for name in group_by)
        site = d.is_site_license(seats)
        counts[key].update(
            licenses=n,
            seats=0 if site else seats * n,
            site_licenses=n * int(site),
            used_seats=0 if site or used is None else used * n,
            over_limit=n * int(d.is_over_limit(seats, used)),
        )
    return [
        {**dict(zip(group_by, key, strict=True)), **{m: counter[m] for m in SEAT_MEASURES}}
        for key, counter in counts.items()
    ]


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# --- Overview ---------------------------------------------------------------------------


@dataclass
class Overview:
    scope: Scope
    live: Figure
    active_seats: Figure
    seats_used: Figure
    site_licenses: Figure
    over_use: Figure
    by_status: list[dict[str, Any]]
    weeks: list[dict[str, Any]]
    trials_ending: list[dict[str, Any]]
    over_use_rows: list[dict[str, Any]]
    in_grace: Figure
    in_grace_rows: list[dict[str, Any]]

    @property
    def seats_used_share(self) -> float | None:
        return share(self.seats_used.value, self.active_seats.value)


def overview(scope: Scope) -> Overview:
    """Seats, licenses by status with their change over the period, installs and
    uninstalls per week, trials ending soon, over-use, licenses in grace: seven queries."""
    now: dict[str, Counter] = defaultdict(Counter)
    for row in (
        _rollup(LicenseTally.objects.all(), scope).values("status").annotate(**_sums(SEAT_MEASURES))
    ):
        now[row["status"]].update({name: row[name] or 0 for name in SEAT_MEASURES})
    # What changed within the period, per status, and installs and uninstalls per day.
    change: dict[str, Counter] = defaultdict(Counter)
    days: dict[dt.date, Counter] = defaultdict(Counter)
    for row in (
        _rollup(LicenseDay.objects.filter(day__gte=scope.since), scope)
        .values("day", "status")
        .annotate(**_sums((*SEAT_MEASURES, "installs", "uninstalls")))
    ):
        change[row["status"]].update({name: row[name] or 0 for name in SEAT_MEASURES})
        days[row["day"]].update(installs=row["installs"] or 0, uninstalls=row["uninstalls"] or 0)
    then = {
        status: {name: now[status][name] - change[status][name] for name in SEAT_MEASURES}
        for status in LicenseStatus.values
    }
    # Live now: trial and active, less those whose end has passed (not yet swept).
    current = {status: dict(now[status]) for status in d.LIVE_STATUSES}
    for row in _overdue(scope, "status"):
        for name in SEAT_MEASURES:
            current[row["status"]][name] = current[row["status"]].get(name, 0) - (row[name] or 0)
    live_now = {
        name: sum(current[s].get(name, 0) for s in d.LIVE_STATUSES) for name in SEAT_MEASURES
    }
    live_then = {name: sum(then[s][name] for s in d.LIVE_STATUSES) for name in SEAT_MEASURES}
    active_now = {name: current[LicenseStatus.ACTIVE].get(name, 0) for name in SEAT_MEASURES}
    active_then = then[LicenseStatus.ACTIVE]

    live_url = license_list(scope, segment="live")
    seats_url = license_list(scope, segment="live", status__exact="active", seats__gt=0)
    by_status = [
        {
            "status": status,
            "label": LicenseStatus(status).label,
            "figure": Figure(
                now[status]["licenses"],
                license_list(scope, status__exact=status),
                then[status]["licenses"],
            ),
        }
        for status in LicenseStatus.values
    ]
    weeks = []
    week = _week_start(scope.since)
    while week <= scope.today:
        end = week + dt.timedelta(days=7)
        first = max(week, scope.since)
        installs = sum(days[first + dt.timedelta(n)]["installs"] for n in range((end - first).days))
        uninstalls = sum(
            days[first + dt.timedelta(n)]["uninstalls"] for n in range((end - first).days)
        )
        weeks.append(
            {
                "week": week,
                "installs": Figure(
                    installs, license_list(scope, **day_range("installed_at", first, end))
                ),
                "uninstalls": Figure(
                    uninstalls, license_list(scope, **day_range("uninstalled_at", first, end))
                ),
                "net": installs - uninstalls,
            }
        )
        week = end
    ending = Counter(
        {
            row["day"]: row["trials"]
            for row in _rollup(
                TrialEndDay.objects.filter(
                    day__gte=scope.today,
                    day__lte=scope.today + dt.timedelta(days=max(d.TRIAL_ENDING_DAYS)),
                ),
                scope,
            )
            .values("day")
            .annotate(trials=Sum("trials"))
        }
    )
    trials_ending = [
        {
            "days": days_ahead,
            "figure": Figure(
                sum(
                    n for day, n in ending.items() if day <= scope.today + dt.timedelta(days_ahead)
                ),
                license_list(
                    scope,
                    status__exact="trial",
                    **day_range(
                        "expires_at", scope.today, scope.today + dt.timedelta(days=days_ahead + 1)
                    ),
                ),
            ),
        }
        for days_ahead in d.TRIAL_ENDING_DAYS
    ]
    over_use_rows = [
        {
            "license": license.name,
            "url": reverse("admin:licenses_license_change", args=[license.pk]),
            "org_name": license.org_name,
            "org_id": license.org_id,
            "package": license.package.name,
            "status": license.status,
            "seats": license.seats,
            "used": license.used_licenses,
            "excess": license.excess,
        }
        for license in _rollup(License.objects.all(), scope)
        .filter(d.over_limit_q(), d.live_q(scope.now))
        .annotate(excess=F("used_licenses") - F("seats"))
        .select_related("package")
        .order_by("-excess", "-id")[:OVER_USE_ROWS]
    ]
    in_grace = _rollup(License.objects.in_grace(scope.now), scope)
    in_grace_rows = [
        {
            "license": license.name,
            "url": reverse("admin:licenses_license_change", args=[license.pk]),
            "org_name": license.org_name,
            "org_id": license.org_id,
            "package": license.package.name,
            "status": license.status,
            "expires_at": license.expires_at,
        }
        for license in in_grace.select_related("package").order_by("expires_at", "id")[
            :OVER_USE_ROWS
        ]
    ]
    return Overview(
        scope=scope,
        live=Figure(live_now["licenses"], live_url, live_then["licenses"]),
        active_seats=Figure(active_now["seats"], seats_url, active_then["seats"]),
        seats_used=Figure(active_now["used_seats"], seats_url, active_then["used_seats"]),
        site_licenses=Figure(
            active_now["site_licenses"],
            license_list(scope, segment="live", status__exact="active", seats__exact=SITE_LICENSE),
            active_then["site_licenses"],
        ),
        over_use=Figure(
            live_now["over_limit"],
            license_list(scope, segment="over_limit"),
            live_then["over_limit"],
        ),
        by_status=by_status,
        weeks=weeks,
        trials_ending=trials_ending,
        over_use_rows=over_use_rows,
        in_grace=Figure(in_grace.count(), license_list(scope, grace="in")),
        in_grace_rows=in_grace_rows,
    )


# --- Trial conversion -------------------------------------------------------------------

TRIAL_OUTCOMES = ("converted", "trial", "expired", "suspended", "uninstalled")
OUTCOME_LABELS = {
    "converted": "Converted",
    "trial": "Still in trial",
    "expired": "Expired",
    "suspended": "Suspended",
    "uninstalled": "Uninstalled",
}


def _next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def median_of(histogram: Counter) -> int | None:
    """The median of values given as {value: count}: the lower middle value (nearest
    rank), so it is always a value that occurred."""
    total = sum(histogram.values())
    if not total:
        return None
    return percentile_of(histogram, 50)


def percentile_of(histogram: Counter, percent: int) -> int | None:
    """Nearest-rank percentile of values given as {value: count}."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, -(-total * percent // 100))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


@dataclass
class TrialConversion:
    scope: Scope
    cohorts: list[dict[str, Any]]
    started: int
    converted: int
    median_days_to_purchase: int | None

    @property
    def conversion(self) -> float | None:
        return share(self.converted, self.started)


def trial_conversion(scope: Scope) -> TrialConversion:
    """Monthly cohorts of trial starts: converted, still in trial, expired, suspended,
    uninstalled, and the median days to purchase: one query."""
    months = scope.months
    counts: dict[dt.date, Counter] = defaultdict(Counter)
    purchase: dict[dt.date, Counter] = defaultdict(Counter)
    for row in (
        _rollup(TrialCohort.objects.filter(month__gte=months[0]), scope)
        .values("month", "status", "purchase_days")
        .annotate(licenses=Sum("licenses"))
    ):
        month, n = row["month"], row["licenses"] or 0
        if row["purchase_days"] != d.NOT_BOUGHT:
            counts[month]["converted"] += n
            purchase[month][row["purchase_days"]] += n
        else:
            counts[month][row["status"]] += n
    cohorts = []
    for month in months:
        started = sum(counts[month].values())
        base = {
            "previous_license__isnull": "True",
            **day_range("trial_started_at", month, _next_month(month)),
        }
        outcomes = []
        for outcome in TRIAL_OUTCOMES:
            extra = (
                {"activated_at__isnull": "False"}
                if outcome == "converted"
                else {"activated_at__isnull": "True", "status__exact": outcome}
            )
            outcomes.append(
                {
                    "outcome": outcome,
                    "label": OUTCOME_LABELS[outcome],
                    "figure": Figure(counts[month][outcome], license_list(scope, **base, **extra)),
                    "share": share(counts[month][outcome], started),
                }
            )
        cohorts.append(
            {
                "month": month,
                "started": Figure(started, license_list(scope, **base)),
                "outcomes": outcomes,
                "median_days_to_purchase": median_of(purchase[month]),
            }
        )
    everything = sum((purchase[m] for m in months), Counter())
    return TrialConversion(
        scope=scope,
        cohorts=cohorts,
        started=sum(c["started"].value for c in cohorts),
        converted=sum(counts[m]["converted"] for m in months),
        median_days_to_purchase=median_of(everything),
    )


# --- Churn and retention ----------------------------------------------------------------

CHURN_STATUSES = (
    LicenseStatus.TRIAL,
    LicenseStatus.ACTIVE,
    LicenseStatus.SUSPENDED,
    LicenseStatus.EXPIRED,
)


@dataclass
class Churn:
    scope: Scope
    months: list[dict[str, Any]]
    uninstalls: int


def churn(scope: Scope) -> Churn:
    """Uninstalls per month by the status they had, and the share of each month's installs
    still installed after 30, 60 and 90 days: two queries."""
    months = scope.months
    uninstalls: dict[dt.date, Counter] = defaultdict(Counter)
    for row in (
        _rollup(UninstallMonth.objects.filter(month__gte=months[0]), scope)
        .values("month", "status")
        .annotate(uninstalls=Sum("uninstalls"))
    ):
        uninstalls[row["month"]][row["status"]] += row["uninstalls"] or 0
    cohorts = {
        row["month"]: row
        for row in _rollup(InstallCohort.objects.filter(month__gte=months[0]), scope)
        .values("month")
        .annotate(**_sums(InstallCohort.MEASURES))
    }
    rows = []
    for month in months:
        end = _next_month(month)
        in_month = day_range("uninstalled_at", month, end)
        installed = day_range("installed_at", month, end)
        cohort = cohorts.get(month, {})
        installs = cohort.get("installs") or 0
        retention = []
        for days in d.RETENTION_DAYS:
            measurable = end + dt.timedelta(days=days - 1) <= scope.today
            kept = installs - (cohort.get(f"gone_{days}") or 0)
            retention.append(
                {
                    "days": days,
                    "measurable": measurable,
                    "figure": Figure(
                        kept, license_list(scope, segment=f"retained_{days}", **installed)
                    ),
                    "share": share(kept, installs) if measurable else None,
                }
            )
        rows.append(
            {
                "month": month,
                "uninstalls": Figure(
                    sum(uninstalls[month].values()), license_list(scope, **in_month)
                ),
                "by_status": [
                    {
                        "status": status,
                        "label": LicenseStatus(status).label,
                        "figure": Figure(
                            uninstalls[month][status],
                            license_list(scope, status_before_uninstall__exact=status, **in_month),
                        ),
                    }
                    for status in CHURN_STATUSES
                ],
                "installs": Figure(installs, license_list(scope, **installed)),
                "retention": retention,
            }
        )
    return Churn(scope=scope, months=rows, uninstalls=sum(r["uninstalls"].value for r in rows))


# --- Versions ---------------------------------------------------------------------------


@dataclass
class Versions:
    scope: Scope
    packages: list[dict[str, Any]] = field(default_factory=list)


def _latest(versions: list[PackageVersion]) -> PackageVersion | None:
    released = [v for v in versions if not v.is_beta]
    return max(released, key=lambda v: (v.major, v.minor, v.patch)) if released else None


def versions(scope: Scope) -> Versions:
    """Per package, live installs by version, the share on the latest version and the
    change over the period: four queries."""
    recorded: Counter = Counter()
    for row in (
        _rollup(LicenseTally.objects.filter(status__in=d.LIVE_STATUSES), scope)
        .values("package_id", "version_key")
        .annotate(licenses=Sum("licenses"))
    ):
        recorded[(row["package_id"], row["version_key"])] += row["licenses"] or 0
    live = Counter(recorded)
    for row in _overdue(scope, "package_id", "version_id"):
        live[(row["package_id"], row["version_id"] or 0)] -= row["licenses"]
    change: Counter = Counter()
    for row in (
        _rollup(LicenseDay.objects.filter(day__gte=scope.since, status__in=d.LIVE_STATUSES), scope)
        .values("package_id", "version_key")
        .annotate(licenses=Sum("licenses"))
    ):
        change[(row["package_id"], row["version_key"])] += row["licenses"] or 0
    packages = (
        [scope.package] if scope.package is not None else list(Package.objects.order_by("name"))
    )
    by_package: dict[int, list[PackageVersion]] = defaultdict(list)
    for version in PackageVersion.objects.filter(package__in=packages).newest_first():
        by_package[version.package_id].append(version)
    result = Versions(scope=scope)
    for package in packages:
        package_versions = by_package[package.pk]
        latest = _latest(package_versions)
        total = sum(n for (pk, _), n in live.items() if pk == package.pk)
        rows = [
            {
                "version_id": version.pk,
                "version_number": version.version_number,
                "is_beta": version.is_beta,
                "is_latest": version == latest,
                "figure": Figure(
                    live[(package.pk, version.pk)],
                    license_list(
                        scope, segment="live", package__id__exact=package.pk, version=version.pk
                    ),
                    recorded[(package.pk, version.pk)] - change[(package.pk, version.pk)],
                ),
                "share": share(live[(package.pk, version.pk)], total),
            }
            for version in package_versions
        ]
        if live[(package.pk, 0)]:
            rows.append(
                {
                    "version_id": None,
                    "version_number": "unknown",
                    "is_beta": False,
                    "is_latest": False,
                    "figure": Figure(
                        live[(package.pk, 0)],
                        license_list(
                            scope,
                            segment="live",
                            package__id__exact=package.pk,
                            version__isnull="True",
                        ),
                        recorded[(package.pk, 0)] - change[(package.pk, 0)],
                    ),
                    "share": share(live[(package.pk, 0)], total),
                }
            )
        on_latest = live[(package.pk, latest.pk)] if latest else 0
        result.packages.append(
            {
                "package": package,
                "live": Figure(
                    total, license_list(scope, segment="live", package__id__exact=package.pk)
                ),
                "latest": latest,
                "on_latest_share": share(on_latest, total),
                "versions": rows,
            }
        )
    return result


def older_versions(version: PackageVersion) -> QuerySet[PackageVersion]:
    return PackageVersion.objects.filter(package_id=version.package_id).filter(
        Q(major__lt=version.major)
        | Q(major=version.major, minor__lt=version.minor)
        | Q(major=version.major, minor=version.minor, patch__lt=version.patch)
    )


def licenses_on_older_versions(scope: Scope, version: PackageVersion) -> QuerySet[License]:
    """Live licenses of the version's package on a version older than it, newest first."""
    return (
        License.objects.filter(
            d.live_q(scope.now),
            package_id=version.package_id,
            org_type__in=scope.org_types,
            version__in=older_versions(version),
        )
        .select_related("version", "account")
        .order_by("-id")
    )


def older_versions_url(scope: Scope, version: PackageVersion) -> str:
    ids = ",".join(str(pk) for pk in older_versions(version).values_list("pk", flat=True))
    return license_list(
        scope, segment="live", package__id__exact=version.package_id, version__id__in=ids or "0"
    )


# --- Feature adoption -------------------------------------------------------------------


@dataclass
class FeatureAdoption:
    scope_params: dict[str, str]
    as_of: dt.datetime
    switches: list[dict[str, Any]]
    readings: list[dict[str, Any]]


def feature_adoption(scope: Scope) -> FeatureAdoption:
    """The figures as of now, counted from the feature tally at every call."""
    return feature_adoption_compute(scope)


Overdue = list[tuple[Any, int, str, Any, int]]  # (license, parameter id, type, value, n)


def _overdue_values(scope: Scope, parameter_ids: list[int]) -> Overdue:
    """The feature values of the licenses whose end passed but that the sweep has not
    marked (still counted as live by the feature tables), in the scope: two queries.

    Few (the sweep runs every few minutes): read as rows, the licenses through the
    status+expiry index in its order (as _overdue), their values through the (license,
    parameter) index; a join would tempt the planner into reading every value. Should the
    sweep have fallen far behind, the database counts them."""
    due = License.objects.filter(status__in=d.LIVE_STATUSES, expires_at__lte=scope.now)
    first = due.order_by("status", "expires_at")[: OVERDUE_ROWS_READ + 1]
    holders = {
        pk: SimpleNamespace(package_id=package_id, org_type=org_type, status=status)
        for pk, package_id, org_type, status in first.values_list(
            "pk", "package_id", "org_type", "status"
        )
    }
    value_fields = ("parameter_id", "data_type", "value_boolean", "value_integer")
    if len(holders) <= OVERDUE_ROWS_READ:
        rows = [
            (holders[license_id], *values, 1)
            for license_id, *values in FeatureParameterValue.objects.filter(
                license_id__in=first.values("pk")
            )
            .order_by()
            .values_list("license_id", *value_fields)
        ]
    else:
        fields = ("license__package_id", "license__org_type", "license__status", *value_fields)
        rows = [
            (SimpleNamespace(package_id=p, org_type=o, status=st), *values, n)
            for p, o, st, *values, n in FeatureParameterValue.objects.filter(license__in=due)
            .order_by()
            .values_list(*fields)
            .annotate(n=Count("id"))
            .values_list(*fields, "n")
        ]
    wanted = set(parameter_ids)
    return [
        (holder, parameter_id, data_type, boolean if data_type == DataType.BOOLEAN else integer, n)
        for holder, parameter_id, data_type, boolean, integer, n in rows
        if parameter_id in wanted and holder.org_type in scope.org_types
    ]


def _less_overdue(counts: dict[int, Counter], overdue: Overdue, contributions, key) -> None:
    """Take the overdue licenses' values off `counts` ({parameter id: {key: n}}), by the
    feature table's own contribution function."""
    for holder, parameter_id, data_type, value, n in overdue:
        for row_key, measures in contributions(holder, parameter_id, data_type, value):
            counts[parameter_id][key(row_key)] -= n * measures["licenses"]


def _switch_counts(scope: Scope, switch_ids: list[int], overdue: Overdue) -> dict[int, Counter]:
    """{parameter id: {(reported, value): live licenses}} of the switches: one query."""
    counts: dict[int, Counter] = defaultdict(Counter)
    for parameter_id, reported, value, licenses in (
        _rollup(FeatureTally.objects.filter(parameter_id__in=switch_ids), scope)
        .values_list("parameter_id", "reported", "value")
        .annotate(licenses=Sum("licenses"))
        .values_list("parameter_id", "reported", "value", "licenses")
    ):
        counts[parameter_id][(reported, value)] += licenses
    _less_overdue(counts, overdue, feature_rows, lambda key: (key[3], key[4]))
    return counts


@dataclass
class _Rank:
    """Where a nearest-rank statistic falls: its range (bucket) and its rank within it."""

    bucket: int
    rank: int


def _rank_in_buckets(buckets: list[tuple[int, int]], rank: int) -> _Rank:
    seen = 0
    for bucket, n in buckets:
        if seen + n >= rank:
            return _Rank(bucket, rank - seen)
        seen += n
    return _Rank(buckets[-1][0], buckets[-1][1])  # only if the counts drifted: the last


def _reading_stats(
    scope: Scope, reading_ids: list[int], overdue: Overdue
) -> dict[int, dict[str, int | None]]:
    """{parameter id: reported, median, p90, max} of the readings, exactly, in two queries
    that read a few rows per reading whatever the licenses: the count per power-of-two
    range (FeatureBucket), then the values of only the ranges that hold the median, the
    90th percentile and the maximum (FeatureTally)."""
    per_bucket: dict[int, Counter] = defaultdict(Counter)
    for parameter_id, bucket, licenses in (
        _rollup(FeatureBucket.objects.filter(parameter_id__in=reading_ids), scope)
        .values_list("parameter_id", "bucket")
        .annotate(licenses=Sum("licenses"))
        .values_list("parameter_id", "bucket", "licenses")
    ):
        per_bucket[parameter_id][bucket] += licenses
    _less_overdue(per_bucket, overdue, feature_bucket_rows, lambda key: key[3])
    stats: dict[int, dict[str, int | None]] = {}
    wanted: dict[int, dict[str, _Rank]] = {}
    for parameter_id in reading_ids:
        buckets = sorted(
            ((b, n) for b, n in per_bucket[parameter_id].items() if n > 0),
            key=lambda item: bucket_bounds(item[0])[0],
        )
        total = sum(n for _, n in buckets)
        stats[parameter_id] = {"reported": total, "median": None, "p90": None, "max": None}
        if total:
            wanted[parameter_id] = {
                "median": _rank_in_buckets(buckets, max(1, -(-total * 50 // 100))),
                "p90": _rank_in_buckets(buckets, max(1, -(-total * 90 // 100))),
                "max": _Rank(buckets[-1][0], buckets[-1][1]),
            }
    if not wanted:
        return stats
    ranges = Q()
    for parameter_id, ranks in wanted.items():
        for bucket in {rank.bucket for rank in ranks.values()}:
            low, high = bucket_bounds(bucket)
            ranges |= Q(parameter_id=parameter_id, value__gte=low, value__lte=high)
    values: dict[int, Counter] = defaultdict(Counter)
    for parameter_id, value, licenses in (
        _rollup(FeatureTally.objects.filter(ranges, reported=True), scope)
        .values_list("parameter_id", "value")
        .annotate(licenses=Sum("licenses"))
        .values_list("parameter_id", "value", "licenses")
    ):
        values[parameter_id][value] += licenses
    _less_overdue(values, overdue, feature_rows, lambda key: key[4] if key[3] else None)
    for parameter_id, ranks in wanted.items():
        for name, rank in ranks.items():
            in_bucket = [
                (value, n)
                for value, n in sorted(values[parameter_id].items(), key=lambda item: item[0] or 0)
                if value is not None and n > 0 and bucket_of(value) == rank.bucket
            ]
            seen = 0
            for value, n in in_bucket:
                seen += n
                if seen >= rank.rank:
                    stats[parameter_id][name] = value
                    break
    return stats


def feature_adoption_compute(scope: Scope) -> FeatureAdoption:
    """Switches' share on among live licenses; readings' median, p90 and max among the
    values live licenses hold: six queries, from the feature tables."""
    parameters = list(
        FeatureParameter.objects.filter(**scope.package_filter())
        .filter(
            Q(data_type=DataType.BOOLEAN, direction=Direction.LMO_TO_SUBSCRIBER)
            | Q(data_type=DataType.INTEGER, direction=Direction.SUBSCRIBER_TO_LMO)
        )
        .select_related("package")
        .order_by("package__name", "developer_name")
    )
    switch_ids = [p.pk for p in parameters if p.data_type == DataType.BOOLEAN]
    reading_ids = [p.pk for p in parameters if p.data_type == DataType.INTEGER]
    overdue = _overdue_values(scope, switch_ids + reading_ids)
    switch_counts = _switch_counts(scope, switch_ids, overdue)
    reading_stats = _reading_stats(scope, reading_ids, overdue)
    switches, reading_rows = [], []
    for parameter in parameters:
        base = {
            "package": parameter.package.name,
            "developer_name": parameter.developer_name,
            "label": parameter.label,
        }
        if parameter.data_type == DataType.BOOLEAN:
            counts = switch_counts[parameter.pk]
            live, on = sum(counts.values()), counts[(True, 1)]
            switches.append(
                {
                    **base,
                    "live": live,
                    "on": Figure(
                        on, license_list(scope, segment="live", feature=f"{parameter.pk}:on")
                    ),
                    "share_on": share(on, live),
                }
            )
        else:
            stats = reading_stats[parameter.pk]
            reading_rows.append(
                {
                    **base,
                    "reported": Figure(
                        stats["reported"],
                        license_list(scope, segment="live", feature=f"{parameter.pk}:reported"),
                    ),
                    "median": stats["median"],
                    "p90": stats["p90"],
                    "max": stats["max"],
                }
            )
    return FeatureAdoption(
        scope_params=scope.params(),
        as_of=scope.now,
        switches=switches,
        readings=reading_rows,
    )


def figures_json(value: Any) -> Any:
    """Plain data (for the JSON API and the charts): figures as {value, previous, change,
    url}, dates as ISO strings, models as ids."""
    if isinstance(value, Figure):
        return {
            "value": value.value,
            "previous": value.previous,
            "change": value.change,
            "url": value.url,
        }
    if isinstance(value, Scope):
        return value.params()
    if isinstance(value, Package):
        return {"id": value.pk, "name": value.name, "namespace": value.namespace}
    if isinstance(value, PackageVersion):
        return {"id": value.pk, "version_number": value.version_number}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: figures_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [figures_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return figures_json({k: getattr(value, k) for k in value.__dataclass_fields__})
    return value
