"""Mechanics every set-based sweep shares: lock a batch, repeat until none is left, and
record the run. What a sweep changes, and why, belongs to the app it sweeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from .models import SweepRun

DEFAULT_BATCH_SIZE = 1000
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


def lock_batch(queryset: QuerySet, fields: tuple[str, ...], size: int) -> list[tuple]:
    """Lock up to `size` rows of `queryset` and return their `fields`; rows another run
    holds are skipped (PostgreSQL's SKIP LOCKED), so two runs at once share the work."""
    # No ORDER BY: rows come in index order and the LIMIT stops the scan early.
    locked = queryset.order_by()
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(
            skip_locked=True, no_key=connection.features.has_select_for_no_key_update
        )
    return list(locked.values_list(*fields)[:size])


def sweep_start(*, job: str, dry_run: bool = False) -> SweepRun:
    return SweepRun.objects.create(job=job, started_at=timezone.now(), dry_run=dry_run)


def sweep_run_batches(run: SweepRun, batch: Callable[[], int]) -> SweepResult:
    """Call `batch` (one transaction, returns how many rows it changed) until it changes
    none, and record the run's totals."""
    count = batches = 0
    while changed := batch():
        count += changed
        batches += 1
    return sweep_finish(run, count=count, batches=batches)


def sweep_prune(*, now: datetime) -> None:
    """Forget runs older than the retention (the health page reads only the newest)."""
    SweepRun.objects.filter(started_at__lt=now - SWEEP_RUN_RETENTION).delete()


def sweep_finish(run: SweepRun, *, count: int, batches: int) -> SweepResult:
    run.finished_at = timezone.now()
    run.count = count
    run.batches = batches
    run.save(update_fields=["finished_at", "count", "batches"])
    return SweepResult(run.job, count, batches, run.dry_run, run.pk)


def sweep_last_run(job: str) -> SweepRun | None:
    """The newest finished, real (not dry) run of a sweep."""
    return (
        SweepRun.objects.filter(job=job, dry_run=False, finished_at__isnull=False)
        .order_by("-started_at", "-id")
        .first()
    )
