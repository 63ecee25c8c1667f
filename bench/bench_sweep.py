#!/usr/bin/env python
"""The expiry sweep against raw SQL on PostgreSQL: 100,000 due trials among 1,000,000.

In one run, on one database:
  * builds the licenses with INSERT ... SELECT generate_series (no ORM),
  * times one raw SQL INSERT of the history rows plus one UPDATE of the same rows,
  * times the sweep service (batches, history, outbox rows, relay, cache invalidation),
  * resets the state between the two (and vacuums, so each starts from the same table),
  * prints the ratio, the query counts (CaptureQueriesContext), and the peak RSS of a
    process sweeping 10,000 against one sweeping 100,000 (memory stays flat).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_bench_sweep \\
        .venv/bin/python bench/bench_sweep.py

Broker and cache default to Redis db 4 (`--redis-url`), flushed at the end. The database
named in DATABASE_URL is created if missing and its license tables are emptied: use a
database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOTAL = 1_000_000
DUE = 100_000
# The due trials end one second apart, ending at CUTOFF: sweeping at CUTOFF - k seconds
# expires DUE - k of them, so one script sweeps 10,000 or 100,000 from the same table.
CUTOFF_SQL = "timestamptz '2026-06-01 12:00:00+00'"


def _configure(args) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lmo.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.redis_url,
            "CACHE_URL": args.redis_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def _ensure_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def _sql(statement: str, params=None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("licenses_license", "licenses_licenseevent", "jobs_outboxmessage"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def build(total: int, due: int) -> None:
    """A package and `total` licenses: the first `due` are trials past their end."""
    from django.core.management import call_command

    from packages.models import Package, PackageVersion
    from tests.factories import PackageFactory, PackageVersionFactory

    call_command("migrate", verbosity=0)
    _sql(
        "TRUNCATE licenses_licenseevent, jobs_outboxdelivery, jobs_outboxmessage, jobs_sweeprun, "
        "features_featureparametervalue, licenses_license RESTART IDENTITY CASCADE"
    )
    package = Package.objects.order_by("pk").first() or PackageFactory(
        namespace="benchsweep", name="Bench Package"
    )
    version = PackageVersion.objects.filter(package=package).first() or PackageVersionFactory(
        package=package, version_number="1.0.0"
    )
    started = time.perf_counter()
    # Not due: a mix of later trials, active (with and without an end), suspended, expired
    # and uninstalled licenses, several of them past their end date.
    _sql(
        f"""
        INSERT INTO licenses_license (
            org_id, org_name, org_edition, org_instance, org_type, is_sandbox, status,
            status_before_suspension, status_before_uninstall, seats, installed_at,
            trial_started_at, activated_at, expires_at, uninstalled_at, created_at, updated_at,
            package_id, version_id)
        SELECT
            '00D' || lpad(i::text, 12, '0') || 'AAA', 'Org ' || i, 'Enterprise Edition',
            'NA' || (i %% 200), 'production', false,
            CASE WHEN i <= %(due)s THEN 'trial'
                 ELSE (ARRAY['trial', 'active', 'active', 'suspended', 'expired',
                             'uninstalled'])[1 + i %% 6] END,
            '', '', 10, {CUTOFF_SQL} - interval '60 days',
            {CUTOFF_SQL} - interval '60 days',
            CASE WHEN i > %(due)s AND i %% 6 = 1 THEN {CUTOFF_SQL} - interval '50 days' END,
            CASE WHEN i <= %(due)s THEN {CUTOFF_SQL} - (%(due)s - i) * interval '1 second'
                 WHEN i %% 6 IN (0, 1) THEN {CUTOFF_SQL} + (1 + i %% 89) * interval '1 day'
                 WHEN i %% 6 = 2 THEN NULL
                 ELSE {CUTOFF_SQL} - (i %% 30) * interval '1 day' END,
            CASE WHEN i > %(due)s AND i %% 6 = 5 THEN {CUTOFF_SQL} - interval '5 days' END,
            now(), now(), %(package)s, %(version)s
        FROM generate_series(1, %(total)s) AS i
        """,
        {"due": due, "total": total, "package": package.pk, "version": version.pk},
    )
    _vacuum()
    print(f"built {total:,} licenses ({due:,} due trials) in {time.perf_counter() - started:.1f}s")


def reset(due: int) -> None:
    """Put the due trials back and drop what a sweep wrote."""
    _sql(
        "UPDATE licenses_license SET status = 'trial' WHERE id <= %s AND status <> 'trial'",
        [due],
    )
    _sql("TRUNCATE licenses_licenseevent, jobs_outboxdelivery, jobs_outboxmessage, jobs_sweeprun")
    _vacuum()


def cutoff(sweep_count: int, due: int):
    import datetime as dt

    end = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    return end - dt.timedelta(seconds=due - sweep_count)


def raw_sql(now) -> tuple[float, int, int]:
    """One INSERT of the history rows, one UPDATE of the same rows, in one transaction."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    due_rows = "status IN ('trial', 'active') AND expires_at <= %(now)s"
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        with transaction.atomic():
            _sql(
                "INSERT INTO licenses_licenseevent "
                "(license_id, at, actor, kind, before, after, reason) "
                "SELECT id, %(now)s, 'system', 'status_changed', "
                "jsonb_build_object('status', status), '{\"status\": \"expired\"}', '' "
                f"FROM licenses_license WHERE {due_rows}",
                {"now": now},
            )
            updated = _sql(
                "UPDATE licenses_license SET status = 'expired', updated_at = now() "
                f"WHERE {due_rows}",
                {"now": now},
            )
        elapsed = time.perf_counter() - started
    return elapsed, updated, len(queries)


class _Counter:
    """Counts statements without keeping them (CaptureQueriesContext keeps every SQL text)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def sweep(now, batch_size: int, *, capture: bool = False) -> tuple[float, int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from licenses.sweeps import licenses_expire_due

    counter = _Counter()
    if capture:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = licenses_expire_due(now=now, batch_size=batch_size)
            elapsed = time.perf_counter() - started
        return elapsed, result.count, result.batches, len(queries)
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = licenses_expire_due(now=now, batch_size=batch_size)
        elapsed = time.perf_counter() - started
    return elapsed, result.count, result.batches, counter.count


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def rss_child(args) -> None:
    """Run in a fresh process: sweep `args.rss_child` licenses, report the peak RSS."""
    _configure(args)
    reset(args.due)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, count, batches, queries = sweep(cutoff(args.rss_child, args.due), args.batch_size)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "count": count,
                "batches": batches,
                "queries": queries,
                "before": before,
                "after": after,
            }
        )
    )


def _rss_in_child(args, sweep_count: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--rss-child",
        str(sweep_count),
        "--due",
        str(args.due),
        "--batch-size",
        str(args.batch_size),
        "--database-url",
        args.database_url,
        "--redis-url",
        args.redis_url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--total", type=int, default=TOTAL)
    parser.add_argument("--due", type=int, default=DUE)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each (best kept)")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("set DATABASE_URL (or --database-url) to a PostgreSQL database of its own")
    if args.rss_child:
        rss_child(args)
        return

    _ensure_database(args.database_url)
    _configure(args)
    build(args.total, args.due)
    now = cutoff(args.due, args.due)

    raw_times, sweep_times = [], []
    for round_number in range(1, args.rounds + 1):
        reset(args.due)
        raw_time, raw_rows, raw_queries = raw_sql(now)
        raw_times.append(raw_time)
        reset(args.due)
        sweep_time, swept, batches, sweep_queries = sweep(now, args.batch_size)
        sweep_times.append(sweep_time)
        assert raw_rows == swept == args.due, (raw_rows, swept)
        print(
            f"round {round_number}: raw SQL {raw_time:.2f}s ({raw_queries} queries), "
            f"sweep {sweep_time:.2f}s ({sweep_queries} queries, {batches} batches)"
        )

    # Query counts with CaptureQueriesContext (untimed: it keeps every statement's text).
    counts = {}
    for sweep_count in (args.due // 10, args.due):
        reset(args.due)
        _, swept, batches, queries = sweep(
            cutoff(sweep_count, args.due), args.batch_size, capture=True
        )
        counts[swept] = (batches, queries)

    small = _rss_in_child(args, args.due // 10)
    large = _rss_in_child(args, args.due)
    reset(args.due)
    _flush_redis(args.redis_url)

    best_raw, best_sweep = min(raw_times), min(sweep_times)
    print()
    print(f"licenses: {args.total:,}; due trials: {args.due:,}; batch size: {args.batch_size}")
    print(f"raw SQL (INSERT history + UPDATE): {best_raw:.2f}s")
    print(f"sweep service:                     {best_sweep:.2f}s")
    print(f"ratio sweep / raw SQL:             {best_sweep / best_raw:.2f}x (target <= 2x)")
    for swept, (batches, queries) in sorted(counts.items()):
        print(f"queries to sweep {swept:>7,}: {queries:>5} ({batches} batches)")
    for label, child in (("small", small), ("large", large)):
        print(
            f"peak RSS sweeping {child['count']:>7,} ({label}): {child['after'] / 1024:.1f} MiB "
            f"(before the sweep {child['before'] / 1024:.1f} MiB)"
        )


if __name__ == "__main__":
    main()
