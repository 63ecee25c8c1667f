"""Keeping the rollup: what each license contributes to each table, applied as it changes.

A change of a license (a LicenseChange from licenses.signals, sent in the transaction that
made it) adds what the license contributes now and takes away what it contributed before,
in one upsert per table; so does a change of a feature value (a FeatureValueChange from
features.signals). `rollup_rebuild` recomputes every table from the licenses, their
history and their feature values with the same contribution functions (`Recount`), so the
kept rollup and a recount can be compared (and are, in the tests); `generate_licenses`
counts what it writes with the same `Recount`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import groupby
from types import SimpleNamespace
from typing import Any, Protocol

from django.db import connection, models, transaction

from features.choices import DataType
from features.models import FeatureParameterValue
from features.signals import FeatureValueChange
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from licenses.signals import LicenseChange, LicenseSnapshot
from packages.models import PackageVersion

from . import definitions as d
from .models import (
    ROLLUP_MODELS,
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

Rows = dict[tuple, Counter]
CREATED_KINDS = frozenset({EventKind.INSTALLED, EventKind.REINSTALLED})
# The history rows that change what a license is counted by (replayed by the recount).
COUNTED_KINDS = (
    *CREATED_KINDS,
    EventKind.UPGRADED,
    EventKind.STATUS_CHANGED,
    EventKind.SEATS_CHANGED,
    EventKind.USAGE_REPORTED,
    EventKind.UNINSTALLED,
)
TALLIED_DATA_TYPES = frozenset({DataType.BOOLEAN, DataType.INTEGER})


# --- What one license contributes -------------------------------------------------------


def _seat_measures(s: LicenseSnapshot) -> dict[str, int]:
    site = d.is_site_license(s.seats)
    return {
        "licenses": 1,
        "seats": 0 if site else s.seats,
        "site_licenses": int(site),
        "used_seats": 0 if site or s.used_licenses is None else s.used_licenses,
        "over_limit": int(d.is_over_limit(s.seats, s.used_licenses)),
    }


def _tally_key(s: LicenseSnapshot) -> tuple:
    return (s.package_id, s.version_id or 0, s.org_type, s.status)


def tally_rows(s: LicenseSnapshot) -> Iterator[tuple[tuple, dict[str, int]]]:
    yield _tally_key(s), _seat_measures(s)


def trial_cohort_rows(s: LicenseSnapshot) -> Iterator[tuple[tuple, dict[str, int]]]:
    if s.trial_started_at is not None and s.previous_license_id is None:
        month = d.month_start(d.utc_day(s.trial_started_at))
        days = d.purchase_days(s.trial_started_at, s.activated_at)
        yield (s.package_id, s.org_type, month, s.status, days), {"licenses": 1}


def install_cohort_rows(s: LicenseSnapshot) -> Iterator[tuple[tuple, dict[str, int]]]:
    measures = {"installs": 1}
    for days in d.RETENTION_DAYS:
        measures[f"gone_{days}"] = int(d.gone_within(s.installed_at, s.uninstalled_at, days))
    yield (s.package_id, s.org_type, d.month_start(d.utc_day(s.installed_at))), measures


def trial_end_rows(s: LicenseSnapshot) -> Iterator[tuple[tuple, dict[str, int]]]:
    if s.status == LicenseStatus.TRIAL and s.expires_at is not None:
        yield (s.package_id, s.org_type, d.utc_day(s.expires_at)), {"trials": 1}


class LicenseHolder(Protocol):
    """What a feature value is counted by, of the license that holds it (a License, or a
    LicenseSnapshot)."""

    package_id: int
    org_type: str
    status: str


def feature_rows(
    license: LicenseHolder, parameter_id: int, data_type: str, value: Any
) -> Iterator[tuple[tuple, dict[str, int]]]:
    """A yes/no or number value counts while its license is live by status (trial or
    active; those whose end passed but are not swept yet are taken off when read)."""
    if license.status in d.LIVE_STATUSES and data_type in TALLIED_DATA_TYPES:
        reported = value is not None
        key = (license.package_id, parameter_id, license.org_type, reported)
        yield (*key, int(value) if reported else 0), {"licenses": 1}


def bucket_of(value: int) -> int:
    """The power-of-two range of a reading: its number of binary digits (0 for 0), negative
    for a negative value."""
    return value.bit_length() if value >= 0 else -(-value).bit_length()


def bucket_bounds(bucket: int) -> tuple[int, int]:
    """The smallest and largest value of a range (bucket_of's inverse)."""
    if bucket == 0:
        return 0, 0
    low, high = 1 << (abs(bucket) - 1), (1 << abs(bucket)) - 1
    return (low, high) if bucket > 0 else (-high, -low)


def feature_bucket_rows(
    license: LicenseHolder, parameter_id: int, data_type: str, value: Any
) -> Iterator[tuple[tuple, dict[str, int]]]:
    """A reading (a number reported) counted in its range, while its license is live by
    status: the same licenses as feature_rows."""
    if license.status in d.LIVE_STATUSES and data_type == DataType.INTEGER and value is not None:
        key = (license.package_id, parameter_id, license.org_type, bucket_of(int(value)))
        yield key, {"licenses": 1}


# The tables counting feature values, and what one value contributes to each.
FEATURE_TABLES = ((FeatureTally, feature_rows), (FeatureBucket, feature_bucket_rows))


def _feature_key(s: LicenseSnapshot) -> tuple:
    return (s.status in d.LIVE_STATUSES, s.package_id, s.org_type)


def _typed(data_type: str, boolean: bool | None, integer: int | None) -> Any:
    return boolean if data_type == DataType.BOOLEAN else integer


VALUE_FIELDS = ("license_id", "parameter_id", "data_type", "value_boolean", "value_integer")


# Tables that hold what licenses contribute now (the day table is kept apart: it records
# when each change happened).
CURRENT_TABLES = (
    (LicenseTally, tally_rows),
    (TrialCohort, trial_cohort_rows),
    (InstallCohort, install_cohort_rows),
    (TrialEndDay, trial_end_rows),
)


def _add(rows: Rows, contributions: Iterable, sign: int) -> None:
    for key, measures in contributions:
        counter = rows[key]
        for name, value in measures.items():
            counter[name] += sign * value


def day_rows(
    rows: Rows, before: LicenseSnapshot | None, after: LicenseSnapshot, at: dt.datetime
) -> None:
    """Add what one change did on its day to `rows` (keyed by LicenseDay.KEY)."""
    day = d.utc_day(at)
    if before is None:
        rows[(day, *_tally_key(after))]["installs"] += 1
    else:
        counter = rows[(day, *_tally_key(before))]
        counter.subtract(_seat_measures(before))
        if before.status != LicenseStatus.UNINSTALLED == after.status:
            counter["uninstalls"] += 1
    rows[(day, *_tally_key(after))].update(_seat_measures(after))


def history_rows(
    tables: dict[type[models.Model], Rows],
    before: LicenseSnapshot | None,
    after: LicenseSnapshot,
    at: dt.datetime,
) -> None:
    """Add what one change did at its moment: to the day table, and an uninstall to its
    month."""
    day_rows(tables[LicenseDay], before, after, at)
    if before is not None and before.status != LicenseStatus.UNINSTALLED == after.status:
        month = d.month_start(d.utc_day(at))
        tables[UninstallMonth][(month, before.package_id, before.org_type, before.status)][
            "uninstalls"
        ] += 1


# --- Applying changes -------------------------------------------------------------------


def _tables() -> dict[type[models.Model], Rows]:
    return defaultdict(lambda: defaultdict(Counter))


def rollup_apply(changes: Iterable[LicenseChange]) -> None:
    """Add the difference the changes made to every rollup table (one upsert per table).

    A license that stops or starts being live by status (or changes package or org type)
    takes its feature values with it: one query reads them. A new license has none yet
    (its values come with feature_values_changed)."""
    tables = _tables()
    moved: dict[int, tuple[LicenseSnapshot, LicenseSnapshot]] = {}
    for before, after, at in changes:
        for model, contributions in CURRENT_TABLES:
            if before is not None:
                _add(tables[model], contributions(before), -1)
            _add(tables[model], contributions(after), +1)
        history_rows(tables, before, after, at)
        moved_now = before is not None and _feature_key(before) != _feature_key(after)
        if moved_now and after.id is not None:
            first = moved.get(after.id, (before, after))[0]
            moved[after.id] = (first, after)
    if moved:
        values = FeatureParameterValue.objects.filter(license_id__in=moved).order_by()
        for license_id, parameter_id, data_type, boolean, integer in values.values_list(
            *VALUE_FIELDS
        ):
            value = _typed(data_type, boolean, integer)
            before, after = moved[license_id]
            for model, contributions in FEATURE_TABLES:
                _add(tables[model], contributions(before, parameter_id, data_type, value), -1)
                _add(tables[model], contributions(after, parameter_id, data_type, value), +1)
    _write_differences(tables)


def feature_values_apply(
    changes: Iterable[FeatureValueChange], licenses: dict[int, LicenseHolder]
) -> None:
    """Add the difference changed feature values made to the feature tables (one round
    trip on PostgreSQL); the licenses not given are read in one query."""
    changes = [c for c in changes if c.data_type in TALLIED_DATA_TYPES]
    missing = {c.license_id for c in changes} - set(licenses)
    if missing:
        licenses = {**licenses}
        for pk, *values in License.objects.filter(pk__in=missing).values_list(
            "pk", "package_id", "org_type", "status"
        ):
            licenses[pk] = SimpleNamespace(
                **dict(zip(("package_id", "org_type", "status"), values, strict=True))
            )
    tables = _tables()
    for license_id, parameter_id, data_type, before, after, created in changes:
        license = licenses[license_id]
        for model, contributions in FEATURE_TABLES:
            if not created:
                _add(tables[model], contributions(license, parameter_id, data_type, before), -1)
            _add(tables[model], contributions(license, parameter_id, data_type, after), +1)
    _write_differences(tables)


def _write_differences(tables: dict[type[models.Model], Rows]) -> None:
    # A fixed order of tables, and of rows within each, so that two transactions never
    # wait for each other's rows in opposite orders.
    statements = [
        statement
        for model in ROLLUP_MODELS
        if model in tables and (statement := _upsert_statement(model, tables[model]))
    ]
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One round trip for every table: the statements run in order, in the
            # transaction of the change (or, outside one, as one implicit transaction).
            cursor.execute(
                ";\n".join(sql for sql, _ in statements),
                [param for _, params in statements for param in params],
            )
        else:
            for sql, params in statements:
                cursor.execute(sql, params)


def on_licenses_changed(sender: Any, *, changes: list[LicenseChange], **kwargs: Any) -> None:
    rollup_apply(changes)


def on_feature_values_changed(
    sender: Any,
    *,
    changes: list[FeatureValueChange],
    licenses: dict[int, LicenseHolder],
    **kwargs: Any,
) -> None:
    feature_values_apply(changes, licenses)


def _upsert_statement(model: type[models.Model], rows: Rows) -> tuple[str, list] | None:
    """INSERT ... ON CONFLICT DO UPDATE adding to the stored counts (the same statement on
    PostgreSQL and SQLite); None when nothing changes."""
    changed = sorted((key, counter) for key, counter in rows.items() if any(counter.values()))
    if not changed:
        return None
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_columns = [quote(model._meta.get_field(name).column) for name in model.KEY]
    measure_columns = [quote(name) for name in model.MEASURES]
    row_sql = "(" + ", ".join(["%s"] * (len(key_columns) + len(measure_columns))) + ")"
    updates = ", ".join(f"{col} = {table}.{col} + excluded.{col}" for col in measure_columns)
    sql = (
        f"INSERT INTO {table} ({', '.join(key_columns + measure_columns)}) "
        f"VALUES {', '.join([row_sql] * len(changed))} "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates}"
    )
    params = [
        value
        for key, counter in changed
        for value in (*key, *(counter[name] for name in model.MEASURES))
    ]
    return sql, params


# --- Recounting -------------------------------------------------------------------------

REBUILD_CHUNK = 20_000
History = Iterable[tuple[str, dt.datetime, dict[str, Any]]]  # (kind, at, after) in order


class Recount:
    """Every rollup table counted from scratch: each license as it is now, its history
    replayed for the day table, each of its feature values."""

    def __init__(self, version_ids: dict[tuple[int, str], int]) -> None:
        self.version_ids = version_ids  # {(package id, version number): version id}
        self.tables = _tables()

    def add_license(self, snapshot: LicenseSnapshot, history: History) -> None:
        for model, contributions in CURRENT_TABLES:
            _add(self.tables[model], contributions(snapshot), +1)
        self._replay(snapshot, history)

    def add_feature_value(
        self, license: LicenseHolder, parameter_id: int, data_type: str, value: Any
    ) -> None:
        for model, contributions in FEATURE_TABLES:
            _add(self.tables[model], contributions(license, parameter_id, data_type, value), +1)

    def _replay(self, known: LicenseSnapshot, history: History) -> None:
        """Replay one license's history (the rows License methods and the sweeps write) to
        recount what changed on each day (and each month's uninstalls)."""
        state: LicenseSnapshot | None = None
        for kind, at, after in history:
            if kind in CREATED_KINDS:
                before, state = None, known._replace(used_licenses=None)
            elif state is None:
                continue  # history without its creation: nothing to replay it from
            elif kind not in COUNTED_KINDS:
                continue
            else:
                before = state
            changes: dict[str, Any] = {}
            for field in ("status", "seats", "used_licenses"):
                if field in after:
                    changes[field] = after[field]
            if "version" in after:
                changes["version_id"] = self.version_ids.get((state.package_id, after["version"]))
            state = state._replace(**changes)
            if before != state:
                history_rows(self.tables, before, state, at)

    def replace(self, models: Iterable[type[models.Model]] = ROLLUP_MODELS) -> dict[str, int]:
        """Write the counted tables in place of what they held; the rows written per table."""
        written = {}
        for model in models:
            model.objects.all().delete()
            objects = [
                model(**dict(zip(model.KEY, key, strict=True)), **counter)
                for key, counter in sorted(self.tables[model].items())
                if any(counter.values())
            ]
            model.objects.bulk_create(objects, batch_size=2000)
            written[model.__name__] = len(objects)
        return written

    def add_to_stored(self) -> dict[str, int]:
        """Add the counts to what the tables hold (for licenses added to those already
        counted); the rows changed per table."""
        written = {}
        for model in ROLLUP_MODELS:
            items = sorted(self.tables[model].items())
            for start in range(0, len(items), 2000):
                _write_differences({model: dict(items[start : start + 2000])})
            written[model.__name__] = len(items)
        return written


def version_ids() -> dict[tuple[int, str], int]:
    return {
        (package_id, number): pk
        for pk, package_id, number in PackageVersion.objects.values_list(
            "pk", "package_id", "version_number"
        )
    }


def _snapshots() -> Iterator[LicenseSnapshot]:
    query = License.objects.order_by("pk").values_list(*LicenseSnapshot._fields)
    for values in query.iterator(chunk_size=REBUILD_CHUNK):
        yield LicenseSnapshot(*values)


def _histories() -> Iterator[tuple[int, list[tuple[str, dt.datetime, dict[str, Any]]]]]:
    events = (
        LicenseEvent.objects.order_by("license_id", "at", "id")
        .filter(kind__in=COUNTED_KINDS)
        .values_list("license_id", "kind", "at", "after")
        .iterator(chunk_size=REBUILD_CHUNK)
    )
    for license_id, rows in groupby(events, key=lambda row: row[0]):
        yield license_id, [row[1:] for row in rows]


@transaction.atomic
def rollup_rebuild(models: Iterable[type[models.Model]] = ROLLUP_MODELS) -> dict[str, int]:
    """Recompute the rollup tables (all of them unless told) from the licenses, their
    history and their feature values; returns the number of rows written per table."""
    recount = Recount(version_ids())
    snapshots: dict[int, LicenseSnapshot] = {}
    for snapshot in _snapshots():
        snapshots[snapshot.id] = snapshot
    histories = _histories()
    pending = next(histories, None)
    for pk, snapshot in snapshots.items():  # in id order, as the histories come
        history: list = []
        while pending is not None and pending[0] <= pk:
            if pending[0] == pk:
                history = pending[1]
            pending = next(histories, None)
        recount.add_license(snapshot, history)
    live = FeatureParameterValue.objects.filter(
        license__status__in=d.LIVE_STATUSES, data_type__in=TALLIED_DATA_TYPES
    ).order_by()
    for license_id, parameter_id, data_type, boolean, integer in live.values_list(
        *VALUE_FIELDS
    ).iterator(chunk_size=REBUILD_CHUNK):
        recount.add_feature_value(
            snapshots[license_id], parameter_id, data_type, _typed(data_type, boolean, integer)
        )
    return recount.replace(models)


def rollup_contents() -> dict[str, dict[tuple, dict[str, int]]]:
    """Every rollup table as {key: measures}, rows that count nothing left out (for
    comparing the kept rollup with a recount)."""
    contents = {}
    for model in ROLLUP_MODELS:
        rows = {}
        for values in model.objects.values_list(*model.KEY, *model.MEASURES):
            key, measures = values[: len(model.KEY)], values[len(model.KEY) :]
            if any(measures):
                rows[tuple(key)] = dict(zip(model.MEASURES, measures, strict=True))
        contents[model.__name__] = rows
    return contents


__all__ = [
    "SEAT_MEASURES",
    "Recount",
    "bucket_bounds",
    "bucket_of",
    "feature_bucket_rows",
    "feature_rows",
    "feature_values_apply",
    "on_feature_values_changed",
    "on_licenses_changed",
    "rollup_apply",
    "rollup_contents",
    "rollup_rebuild",
]
