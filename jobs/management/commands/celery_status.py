"""Tell an operator whether a Celery worker answers and when beat last ran."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.utils import timezone

from jobs.models import SweepRun

# django-celery-beat writes last_run_at to the database every three minutes, not each tick.
BEAT_SYNC_LAG_SECONDS = 180


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    return f"{then:%Y-%m-%d %H:%M:%S} UTC, {int((now - then).total_seconds())}s ago"


class Command(BaseCommand):
    help = (
        "Ping the Celery workers and read when beat last sent a job and when the sweep last "
        "ran. Exits with status 1 when no worker answers or beat has been silent too long."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--timeout", type=float, default=3.0, help="Seconds to wait for workers (3)."
        )
        parser.add_argument(
            "--beat-max-age",
            type=int,
            default=None,
            help="Seconds of beat silence that count as down "
            "(default: twice the sweep interval plus three minutes).",
        )

    def handle(self, *args, timeout: float, beat_max_age: int | None, **options) -> None:
        from celery import current_app as app
        from django_celery_beat.models import PeriodicTask

        try:
            replies = app.control.inspect(timeout=timeout).ping() or {}
            ping_error = ""
        except Exception as exc:
            replies, ping_error = {}, f" ({type(exc).__name__}: {exc})"
        if replies:
            self.stdout.write(f"worker: up ({', '.join(sorted(replies))} answered)")
        else:
            self.stdout.write(f"worker: DOWN (no worker answered within {timeout}s){ping_error}")

        now = timezone.now()
        max_age = beat_max_age or 2 * settings.LMO_SWEEP_INTERVAL_SECONDS + BEAT_SYNC_LAG_SECONDS
        last_sent = PeriodicTask.objects.filter(task__startswith="jobs.").aggregate(
            last=Max("last_run_at")
        )["last"]
        last_run = SweepRun.objects.filter(dry_run=False).order_by("-started_at").first()
        last_run_at = last_run.started_at if last_run else None
        seen = max((t for t in (last_sent, last_run_at) if t is not None), default=None)
        beat_up = seen is not None and now - seen <= timedelta(seconds=max_age)
        state = "up" if beat_up else f"DOWN (silent for more than {max_age}s)"
        self.stdout.write(f"beat: {state}; last sent a job: {_ago(now, last_sent)}")
        if last_run:
            self.stdout.write(
                f"last sweep: {last_run.get_job_display()} at {_ago(now, last_run.started_at)}, "
                f"{last_run.count} license(s)"
            )
        else:
            self.stdout.write("last sweep: never")
        if not (replies and beat_up):
            raise CommandError("Background work is not running: see above.", returncode=1)
