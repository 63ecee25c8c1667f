"""Health of the pieces background work depends on: the database, the broker, the sweeps."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from .choices import OutboxStatus, SweepJob
from .models import OutboxMessage
from .outbox import outbox_stuck
from .services import sweep_last_run

BROKER_TIMEOUT_SECONDS = 1.0
# Counting stops here: a number this large already says enough, and stays cheap.
PENDING_COUNT_CAP = 1000


def check_database() -> None:
    """Raise if the database does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_transport(url: str | None = None) -> str:
    """The broker's transport name (redis, filesystem...), without its address or password."""
    if url is None:
        from celery import current_app

        url = current_app.conf.broker_write_url
    return urlsplit(url).scheme or "amqp"


def check_broker(timeout: float = BROKER_TIMEOUT_SECONDS) -> None:
    """Raise if the broker cannot be reached within `timeout` seconds."""
    from celery import current_app
    from kombu import Connection

    url = current_app.conf.broker_write_url
    options = dict(current_app.conf.broker_transport_options or {})
    if broker_transport(url) == "filesystem":
        for key in ("data_folder_in", "data_folder_out"):
            folder = options.get(key)
            if folder and not os.access(folder, os.W_OK):
                raise OSError(f"broker folder {folder} is missing or not writable")
        return
    options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _probe(check) -> dict[str, Any]:
    try:
        check()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def last_sweep_report() -> dict[str, Any] | None:
    run = sweep_last_run(SweepJob.EXPIRE_LICENSES)
    if run is None:
        return None
    return {
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "expired": run.count,
        "batches": run.batches,
    }


def outbox_report() -> dict[str, Any]:
    now = timezone.now()
    pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    failed = OutboxMessage.objects.filter(status=OutboxStatus.FAILED)
    stuck = outbox_stuck(now=now)
    return {
        "pending": pending[:PENDING_COUNT_CAP].count(),
        "oldest_pending_at": _iso(oldest),
        "failed": failed[:PENDING_COUNT_CAP].count(),
        # Handed to a worker minutes ago, not done, held by nobody (the relay job resends).
        "stuck": stuck["count"],
        "oldest_stuck_at": _iso(stuck["oldest_sent_at"]),
        "oldest_stuck_age_seconds": stuck["oldest_age_seconds"],
    }


def health_report() -> tuple[bool, dict[str, Any]]:
    """(database up, report). Without a database the rest cannot be read, and is left out."""
    database = _probe(check_database)
    broker = {**_probe(check_broker), "transport": broker_transport()}
    report: dict[str, Any] = {"database": database, "broker": broker}
    if database["ok"]:
        report["last_sweep"] = last_sweep_report()
        report["outbox"] = outbox_report()
        # Apps' own sections (e.g. the subscriber inbox's backlog), wired in settings so
        # that jobs imports no app above it.
        for name, reader in settings.LMO_HEALTH_SECTIONS.items():
            report[name] = import_string(reader)()
    if not database["ok"]:
        report["status"] = "down"
    elif not broker["ok"]:
        report["status"] = "degraded"
    else:
        report["status"] = "ok"
    return database["ok"], report
