"""Keeping the rollup: what each license contributes to each table, applied as it changes.

A change of a license (a LicenseChange from licenses.signals, sent in the transaction that
made it) adds what the license contributes now and takes away what it contributed before,
in one upsert per table. `rollup_rebuild` recomputes every table from the licenses and
their history with the same contribution functions, so the kept rollup and a recount can
be compared (and are, in the tests).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection, models, transaction

from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from licenses.signals import LicenseChange, LicenseSnapshot
from packages.models import PackageVersion

from . import definitions as d
from .models import (
    ROLLUP_MODELS,
    SEAT_MEASURES,
    InstallCohort,
    LicenseDay,
    LicenseTally,
    TrialCohort,
    TrialEndDay,
)

Rows = dict[tuple, Counter]
CREATED_KINDS = frozenset({EventKind.INSTALLED, EventKind.REINSTALLED})


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
        for name, value in _seat_measures(before).items():
            rows[(day, *_tally_key(before))][name] -= value
        if before.status != LicenseStatus.UNINSTALLED == after.status:
            rows[(day, *_tally_key(before))]["uninstalls"] += 1
    for name, value in _seat_measures(after).items():
        rows[(day, *_tally_key(after))][name] += value


# --- Applying changes -------------------------------------------------------------------


def rollup_apply(changes: Iterable[LicenseChange]) -> None:
    """Add the difference the changes made to every rollup table (one upsert per table)."""
    tables: dict[type[models.Model], Rows] = defaultdict(lambda: defaultdict(Counter))
    for before, after, at in changes:
        for model, contributions in CURRENT_TABLES:
            if before is not None:
                _add(tables[model], contributions(before), -1)
            _add(tables[model], contributions(after), +1)
        day_rows(tables[LicenseDay], before, after, at)
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


def _snapshots() -> Iterator[tuple[int, LicenseSnapshot]]:
    query = License.objects.order_by().values_list("pk", *LicenseSnapshot._fields)
    for pk, *values in query.iterator(chunk_size=REBUILD_CHUNK):
        yield pk, LicenseSnapshot(*values)


def _history_day_rows(snapshots: dict[int, LicenseSnapshot]) -> Rows:
    """Replay every license's history (the rows License methods and the sweeps write) to
    recount what changed on each day."""
    version_ids = {
        (package_id, number): pk
        for pk, package_id, number in PackageVersion.objects.values_list(
            "pk", "package_id", "version_number"
        )
    }
    rows: Rows = defaultdict(Counter)
    events = (
        LicenseEvent.objects.order_by("license_id", "at", "id")
        .filter(
            kind__in=[
                *CREATED_KINDS,
                EventKind.UPGRADED,
                EventKind.STATUS_CHANGED,
                EventKind.SEATS_CHANGED,
                EventKind.USAGE_REPORTED,
                EventKind.UNINSTALLED,
            ]
        )
        .values_list("license_id", "kind", "at", "after")
        .iterator(chunk_size=REBUILD_CHUNK)
    )
    state: LicenseSnapshot | None = None
    current = None
    for license_id, kind, at, after in events:
        if license_id != current:
            current, state = license_id, None
        known = snapshots.get(license_id)
        if known is None:
            continue
        if kind in CREATED_KINDS:
            before, state = None, known._replace(used_licenses=None)
        elif state is None:
            continue  # history without its creation: nothing to replay it from
        else:
            before = state
        changes: dict[str, Any] = {}
        for field in ("status", "seats", "used_licenses"):
            if field in after:
                changes[field] = after[field]
        if "version" in after:
            changes["version_id"] = version_ids.get((state.package_id, after["version"]))
        state = state._replace(**changes)
        if before != state:
            day_rows(rows, before, state, at)
    return rows


@transaction.atomic
def rollup_rebuild() -> dict[str, int]:
    """Recompute every rollup table from the licenses and their history; returns the
    number of rows written per table."""
    tables: dict[type[models.Model], Rows] = defaultdict(lambda: defaultdict(Counter))
    snapshots: dict[int, LicenseSnapshot] = {}
    for pk, snapshot in _snapshots():
        snapshots[pk] = snapshot
        for model, contributions in CURRENT_TABLES:
            _add(tables[model], contributions(snapshot), +1)
    tables[LicenseDay] = _history_day_rows(snapshots)
    written = {}
    for model in ROLLUP_MODELS:
        model.objects.all().delete()
        objects = [
            model(**dict(zip(model.KEY, key, strict=True)), **counter)
            for key, counter in sorted(tables[model].items())
            if any(counter.values())
        ]
        model.objects.bulk_create(objects, batch_size=2000)
        written[model.__name__] = len(objects)
    return written


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
    "on_licenses_changed",
    "rollup_apply",
    "rollup_contents",
    "rollup_rebuild",
]
