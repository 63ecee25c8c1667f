"""Scheduled sweeps over licenses: end what is due, warn about trials ending soon.

Both are set-based and batched: per batch one locking SELECT of at most `batch_size` ids,
one UPDATE, one INSERT of history rows and one of outbox rows, so the number of queries
grows with the number of batches, and memory with the batch size, never with the number
of licenses. Rows another run holds are skipped (PostgreSQL's SKIP LOCKED), so two runs at
once share the work and each license changes exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from licenses.cache import license_check_cache_key
from licenses.choices import EXPIRING_STATUSES, Actor, EventKind, LicenseStatus, is_allowed
from licenses.models import License, LicenseEvent
from licenses.signals import send_licenses_changed_in_bulk

from .choices import OutboxTopic, SweepJob
from .models import SweepRun
from .outbox import NOTIFY_KINDS, outbox_enqueue

DEFAULT_BATCH_SIZE = 1000
EXPIRING_SOON_WITHIN = timedelta(days=7)
SWEEP_RUN_RETENTION = timedelta(days=90)


class SweepConflict(Exception):
    """A batch changed between its locking SELECT and its UPDATE; the batch was rolled back."""


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did (or, for a dry run, would do)."""

    job: str
    count: int
    batches: int
    dry_run: bool
    run_id: int


def expiry_source_statuses() -> tuple[str, ...]:
    """Statuses the sweep may move to expired, as the transition table allows."""
    return tuple(
        sorted(status for status in EXPIRING_STATUSES if is_allowed(status, LicenseStatus.EXPIRED))
    )


def licenses_due_for_expiry(*, now: datetime) -> QuerySet[License]:
    """Licenses the sweep would expire at `now` (served by the status+expiry index)."""
    return License.objects.filter(status__in=expiry_source_statuses(), expires_at__lte=now)


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


def _lock_batch(queryset: QuerySet[License], fields: tuple[str, ...], size: int) -> list[tuple]:
    # No ORDER BY: rows come in index order and the LIMIT stops the scan early.
    locked = queryset.order_by()
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(
            skip_locked=True, no_key=connection.features.has_select_for_no_key_update
        )
    return list(locked.values_list(*fields)[:size])


def _invalidate_after_commit(rows: list[tuple[int, str]]) -> None:
    keys = [license_check_cache_key(package_pk, org_id) for package_pk, org_id in rows]
    transaction.on_commit(lambda: cache.delete_many(keys), robust=True)


def _run_batches(batch: Callable[[], int]) -> tuple[int, int]:
    count = batches = 0
    while changed := batch():
        count += changed
        batches += 1
    return count, batches


def _finish(run: SweepRun, *, count: int, batches: int) -> SweepResult:
    run.finished_at = timezone.now()
    run.count = count
    run.batches = batches
    run.save(update_fields=["finished_at", "count", "batches"])
    return SweepResult(run.job, count, batches, run.dry_run, run.pk)


def history_write_many(
    *, kind: str, at: datetime, rows: list[tuple[int, dict[str, Any], dict[str, Any]]]
) -> None:
    """One history row per (license id, before, after), by the system, in the shape
    License.record_event writes, and, for the kinds people hear about, one outbox message
    naming the whole batch's events (one row per batch, not per license, keeps the sweep
    close to the cost of the bare UPDATE and INSERT).

    On PostgreSQL the history goes in one INSERT ... SELECT from arrays, which costs a
    fraction of building and sending thousands of model instances; elsewhere bulk_create.
    """
    if connection.vendor != "postgresql":
        events = LicenseEvent.objects.bulk_create(
            [
                LicenseEvent(license_id=pk, at=at, actor=Actor.SYSTEM, kind=kind, before=b, after=a)
                for pk, b, a in rows
            ]
        )
        event_ids = [event.pk for event in events]
    else:
        encode = DjangoJSONEncoder().encode
        params = {
            "ids": [pk for pk, _, _ in rows],
            "befores": [encode(before) for _, before, _ in rows],
            "afters": [encode(after) for _, _, after in rows],
            "at": at,
            "actor": Actor.SYSTEM.value,
            "kind": kind,
        }
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {LicenseEvent._meta.db_table}
                    (license_id, at, actor, kind, before, after, reason)
                SELECT row.id, %(at)s, %(actor)s, %(kind)s, row.before, row.after, ''
                FROM unnest(%(ids)s::bigint[], %(befores)s::jsonb[], %(afters)s::jsonb[])
                    AS row(id, before, after)
                RETURNING id
                """,
                params,
            )
            event_ids = [event_id for (event_id,) in cursor.fetchall()]
    send_licenses_changed_in_bulk(rows, at)
    if kind in NOTIFY_KINDS and event_ids:
        outbox_enqueue(
            topic=OutboxTopic.LICENSE_EVENT,
            payload={"event_ids": event_ids, "kind": kind},
            now=at,
        )


def _expire_batch(*, now: datetime, sources: tuple[str, ...], batch_size: int) -> int:
    with transaction.atomic():
        rows = _lock_batch(
            License.objects.filter(status__in=sources, expires_at__lte=now),
            ("pk", "status", "package_id", "org_id"),
            batch_size,
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        # The conditions again, so a row that is no longer due is never touched.
        updated = License.objects.filter(
            pk__in=ids, status__in=sources, expires_at__lte=now
        ).update(status=LicenseStatus.EXPIRED, updated_at=timezone.now())
        if updated != len(ids):
            raise SweepConflict(f"{len(ids)} licenses locked, {updated} updated")
        # The same history row License.expire() writes, one per license.
        history_write_many(
            kind=EventKind.STATUS_CHANGED,
            at=now,
            rows=[
                (pk, {"status": status}, {"status": LicenseStatus.EXPIRED})
                for pk, status, _, _ in rows
            ],
        )
        _invalidate_after_commit([(package_pk, org_id) for _, _, package_pk, org_id in rows])
    return len(ids)


def licenses_expire_due(
    *, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> SweepResult:
    """Move every trial and active license whose expires_at has passed to expired, with one
    history row (and one notification) each; uninstalled licenses are never touched."""
    sources = expiry_source_statuses()
    run = SweepRun.objects.create(
        job=SweepJob.EXPIRE_LICENSES, started_at=timezone.now(), dry_run=dry_run
    )
    if dry_run:
        return _finish(run, count=licenses_due_for_expiry(now=now).count(), batches=0)
    count, batches = _run_batches(
        lambda: _expire_batch(now=now, sources=sources, batch_size=batch_size)
    )
    SweepRun.objects.filter(started_at__lt=now - SWEEP_RUN_RETENTION).delete()
    return _finish(run, count=count, batches=batches)


def _expiring_soon_batch(*, now: datetime, within: timedelta, batch_size: int) -> int:
    with transaction.atomic():
        rows = _lock_batch(
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
    run = SweepRun.objects.create(job=SweepJob.NOTIFY_EXPIRING_SOON, started_at=timezone.now())
    count, batches = _run_batches(
        lambda: _expiring_soon_batch(now=now, within=within, batch_size=batch_size)
    )
    return _finish(run, count=count, batches=batches)


def sweep_last_run(job: str = SweepJob.EXPIRE_LICENSES) -> SweepRun | None:
    """The newest finished, real (not dry) run of a sweep."""
    return (
        SweepRun.objects.filter(job=job, dry_run=False, finished_at__isnull=False)
        .order_by("-started_at", "-id")
        .first()
    )
