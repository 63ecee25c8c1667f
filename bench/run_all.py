"""Run every benchmark, each on a PostgreSQL database of its own (created when missing).

    make bench                       # BENCH_PG=postgres://postgres@127.0.0.1:5432 by default
    BENCH_ONLY=sweep make bench      # one of: subscribers, sweep, changelist, dashboards

Each script prints its own ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")

BENCHMARKS = {
    "subscribers": ("bench_subscribers.py", "lmo_bench_subscribers", []),
    "sweep": ("bench_sweep.py", "lmo_bench_sweep", []),
    "changelist": ("bench_changelist.py", "lmo_bench_changelist", ["--rows", "1000000"]),
    # Two populations (10,000 and 1,000,000 licenses, generated once) compared in one run.
    "dashboards": (
        "bench_dashboards.py",
        "lmo_bench_dashboards_small",
        [
            "--fill",
            "--small",
            f"{SERVER}/lmo_bench_dashboards_small",
            "--large",
            f"{SERVER}/lmo_bench_dashboards_large",
        ],
    ),
}


def ensure_database(name: str) -> None:
    exists = subprocess.run(
        ["psql", f"{SERVER}/postgres", "-Atc", f"select 1 from pg_database where datname='{name}'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", f"{SERVER}/postgres", "-c", f"create database {name}"], check=True)


def main() -> int:
    only = os.environ.get("BENCH_ONLY")
    failures = 0
    for key, (script, database, args) in BENCHMARKS.items():
        if only and key != only:
            continue
        ensure_database(database)
        if key == "dashboards":
            ensure_database("lmo_bench_dashboards_large")
        env = {
            **os.environ,
            "DATABASE_URL": f"{SERVER}/{database}",
            "CACHE_URL": f"{REDIS}/3",
        }
        print(f"\n=== {script} (database {database}) ===", flush=True)
        result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], env=env)
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
