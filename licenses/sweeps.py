"""Scheduled sweeps over licenses: end what is due, warn about trials ending soon.

Both are set-based and batched: per batch one locking SELECT of at most `batch_size` ids,
one UPDATE, one INSERT of history rows and one of outbox rows, so the number of queries
grows with the number of batches, and memory with the batch size, never with the number
of licenses. Rows another run holds are skipped, so two runs at once share the work and
each license changes exactly once. The history row of an expiry is the one
`License.expire()` writes for a single license (`License.expired_history`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.choices import SweepJob
from jobs.services import (
    DEFAULT_BATCH_SIZE,
    SweepConflict,
    SweepResult,
    lock_batch,
    sweep_finish,
    sweep_prune,
    sweep_run_batches,
    sweep_start,
)

from .cache import license_checks_invalidate
from .choices import EXPIRING_STATUSES, Actor, EventKind, LicenseStatus
from .models import License, LicenseEvent
from .notifications import notify_many
from .signals import send_licenses_changed_in_bulk

EXPIRING_SOON_WITHIN = timedelta(days=7)


def expiry_source_statuses() -> tuple[str, ...]:
    """Statuses the sweep may move to expired, as the transition table allows."""
    return tuple(sorted(EXPIRING_STATUSES))


def licenses_due_for_expiry(*, now: datetime) -> QuerySet[License]:
    """Licenses the sweep would expire at `now`: past their end and their package's grace."""
    return License.objects.filter(status__in=expiry_source_statuses()).due_for_expiry(now)


def licenses_in_grace_unnoted(*, now: datetime) -> QuerySet[License]:
    """Licenses in their grace period whose entering it is not in their history yet."""
    return License.objects.in_grace(now).filter(grace_noted_at__isnull=True)


def licenses_expiring_soon(
    *, now: datetime, within: timedelta = EXPIRING_SOON_WITHIN
) -> QuerySet[License]:
    """Trials ending within `within` whose owners have not been told yet."""
    return License.objects.filter(
        status=LicenseStatus.TRIAL,
        expires_at__gt=now,
        expires_at__lte=now + within,
        expiring_soon_notified_at__isnull=True,
    )


def _invalidate_after_commit(rows: list[tuple[int, str]]) -> None:
    license_checks_invalidate(rows)


def history_write_many(
    *, kind: str, at: datetime, rows: list[tuple[int, dict[str, Any], dict[str, Any]]]
) -> None:
    """One history row per (license id, before, after), by the system, in the shape
    License.record_event writes, and, for the kinds people hear about, one outbox message
    naming the whole batch's events (one row per batch, not per license, keeps the sweep
    close to the cost of the bare UPDATE and INSERT).
    """
    events = LicenseEvent.objects.bulk_create(
        [
            LicenseEvent(license_id=pk, at=at, actor=Actor.SYSTEM, kind=kind, before=b, after=a)
            for pk, b, a in rows
        ]
    )
    event_ids = [event.pk for event in events]
    send_licenses_changed_in_bulk(rows, at)
    notify_many(kind=kind, event_ids=event_ids)


def _expire_batch(*, now: datetime, due: QuerySet[License], batch_size: int) -> int:
    with transaction.atomic():
        rows = lock_batch(due, ("pk", "status", "package_id", "org_id"), batch_size)
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        # The conditions again, so a row that is no longer due is never touched.
        updated = due.filter(pk__in=ids).update(
            status=LicenseStatus.EXPIRED, updated_at=timezone.now()
        )
        if updated != len(ids):
            raise SweepConflict(f"{len(ids)} licenses locked, {updated} updated")
        history = [(pk, License.expired_history(status)) for pk, status, _, _ in rows]
        history_write_many(
            kind=License.EXPIRED_KIND,
            at=now,
            rows=[(pk, before, after) for pk, (before, after) in history],
        )
        _invalidate_after_commit([(package_pk, org_id) for _, _, package_pk, org_id in rows])
    return len(ids)


def licenses_expire_due(
    *, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> SweepResult:
    """Move every trial and active license whose expires_at and grace have passed to
    expired, with one history row (and one notification) each; uninstalled licenses are
    never touched."""
    run = sweep_start(job=SweepJob.EXPIRE_LICENSES, dry_run=dry_run)
    # Built once per run: it reads the packages' grace lengths.
    due = licenses_due_for_expiry(now=now)
    if dry_run:
        return sweep_finish(run, count=due.count(), batches=0)
    result = sweep_run_batches(run, lambda: _expire_batch(now=now, due=due, batch_size=batch_size))
    # Runs are dated on real time, whatever the simulated clock says.
    sweep_prune(now=timezone.now())
    return result


def _grace_batch(*, now: datetime, unnoted: QuerySet[License], batch_size: int) -> int:
    from packages.models import Package

    with transaction.atomic():
        rows = lock_batch(
            unnoted, ("pk", "status", "expires_at", "package_id", "org_id"), batch_size
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        updated = unnoted.filter(pk__in=ids).update(grace_noted_at=now, updated_at=timezone.now())
        if updated != len(ids):
            raise SweepConflict(f"{len(ids)} licenses locked, {updated} updated")
        grace = dict(
            Package.objects.filter(pk__in={row[3] for row in rows}).values_list("pk", "grace_days")
        )
        history_write_many(
            kind=EventKind.GRACE_STARTED,
            at=now,
            rows=[
                (
                    pk,
                    {"status": status, "expires_at": expires_at},
                    {"grace_ends_at": expires_at + timedelta(days=grace[package_pk])},
                )
                for pk, status, expires_at, package_pk, _ in rows
            ],
        )
        _invalidate_after_commit([(package_pk, org_id) for *_, package_pk, org_id in rows])
    return len(ids)


def licenses_note_grace(*, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE) -> SweepResult:
    """Record one grace_started row for each trial or active license that has entered its
    package's grace period, once per end date (even with two sweeps at once)."""
    run = sweep_start(job=SweepJob.NOTE_GRACE)
    unnoted = licenses_in_grace_unnoted(now=now)
    return sweep_run_batches(
        run, lambda: _grace_batch(now=now, unnoted=unnoted, batch_size=batch_size)
    )


def licenses_sweep_due(*, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE) -> SweepResult:
    """What the scheduled sweep does at `now`: record licenses entering grace, then expire
    what is past its end and grace. Returns the expiry run."""
    licenses_note_grace(now=now, batch_size=batch_size)
    return licenses_expire_due(now=now, batch_size=batch_size)


def _expiring_soon_batch(*, now: datetime, within: timedelta, batch_size: int) -> int:
    with transaction.atomic():
        rows = lock_batch(
            licenses_expiring_soon(now=now, within=within),
            ("pk", "expires_at", "package_id", "org_id"),
            batch_size,
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        updated = License.objects.filter(pk__in=ids, expiring_soon_notified_at__isnull=True).update(
            expiring_soon_notified_at=now, updated_at=timezone.now()
        )
        if updated != len(ids):
            raise SweepConflict(f"{len(ids)} licenses locked, {updated} updated")
        history_write_many(
            kind=EventKind.EXPIRING_SOON,
            at=now,
            rows=[(pk, {}, {"expires_at": expires_at}) for pk, expires_at, _, _ in rows],
        )
        _invalidate_after_commit([(package_pk, org_id) for _, _, package_pk, org_id in rows])
    return len(ids)


def licenses_notify_expiring_soon(
    *,
    now: datetime,
    within: timedelta = EXPIRING_SOON_WITHIN,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> SweepResult:
    """Record one expiring_soon event for each trial ending within `within`, once per license."""
    run = sweep_start(job=SweepJob.NOTIFY_EXPIRING_SOON)
    return sweep_run_batches(
        run, lambda: _expiring_soon_batch(now=now, within=within, batch_size=batch_size)
    )
