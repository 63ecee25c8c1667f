"""Each dashboard page's server time at two population sizes, and the ratio between them.

    createdb -h 127.0.0.1 -U postgres lmo_dash_small; createdb ... lmo_dash_large
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_dash_small \\
        .venv/bin/python manage.py generate_licenses --count 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_dash_large \\
        .venv/bin/python manage.py generate_licenses --count 1000000
    .venv/bin/python bench/bench_dashboards.py \\
        --small postgres://postgres@127.0.0.1:5432/lmo_dash_small \\
        --large postgres://postgres@127.0.0.1:5432/lmo_dash_large

Times every page (HTML and JSON) with the Django test client (the server's time: view,
queries, template), the median (or with --statistic min the fastest) of --runs after a
warm-up, on each database in turn for --rounds, keeping each page's best round, and
prints, per page, the time at each size, the ratio large/small (the target: at most 1.5)
and whether the large time is under 300 ms. The small database is the baseline measured
in the same run. A trivial admin page is timed too, for scale. `--fill` generates the
populations first when a database has fewer licenses than asked (--small-count,
--large-count).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATIO_TARGET = 1.5
MS_TARGET = 300.0


def measure_here(runs: int) -> dict:
    """In a child process whose DATABASE_URL is the database to measure."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lmo.settings_test")
    import django

    django.setup()
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from licenses.models import License
    from packages.models import Package, PackageVersion
    from tests.factories import UserFactory

    user = UserFactory(username="bench-manager", role="manager")
    client = Client()
    client.force_login(user)
    package = Package.objects.order_by("pk").first()
    latest = PackageVersion.objects.filter(package=package, is_beta=False).newest_first().first()
    pages = {
        "trivial page (password change form)": "/admin/password_change/",
        "overview": "/dashboard/",
        "overview, one package, 90 days": f"/dashboard/?package={package.pk}&period=90",
        "trial conversion (12 months)": "/dashboard/trial-conversion/",
        "churn and retention (12 months)": "/dashboard/churn/",
        "versions": "/dashboard/versions/",
        "versions, orgs older than latest": (
            f"/dashboard/versions/?package={package.pk}&older_than={latest.pk}"
        ),
        "feature adoption": "/dashboard/features/",
        "feature adoption, refresh=1": "/dashboard/features/?refresh=1",
        "API overview": "/api/v1/dashboards/overview/",
        "API overview, one package, 90 days": (
            f"/api/v1/dashboards/overview/?package={package.pk}&period=90"
        ),
        "API trial conversion": "/api/v1/dashboards/trial-conversion/",
        "API churn": "/api/v1/dashboards/churn/",
        "API versions": "/api/v1/dashboards/versions/",
        "API versions, older than latest": (
            f"/api/v1/dashboards/versions/?package={package.pk}&older_than={latest.pk}"
        ),
        "API feature adoption": "/api/v1/dashboards/features/",
        "API feature adoption, refresh=true": "/api/v1/dashboards/features/?refresh=true",
    }
    results = {"licenses": License.objects.count(), "pages": {}}
    for label, url in pages.items():
        cache.clear()
        client.get(url)  # warm up: connection, templates
        timings, sql = [], []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            sql.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        results["pages"][label] = {
            "ms": statistics.median(timings),
            "min_ms": min(timings),
            "sql_ms": statistics.median(sql),
            "queries": len(captured),
        }
    user.delete()
    return results


def run_child(url: str, runs: int) -> dict:
    env = {**os.environ, "DATABASE_URL": url}
    output = subprocess.run(
        [sys.executable, __file__, "--measure", "--runs", str(runs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def fill(url: str, count: int) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    have = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from licenses.models import License; print(License.objects.count())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if int(have or 0) < count:
        subprocess.run(
            [*manage, "generate_licenses", "--count", str(count - int(have or 0))],
            env=env,
            check=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", help="PostgreSQL URL of the small population (baseline)")
    parser.add_argument("--large", help="PostgreSQL URL of the large population")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=2, help="Alternate small/large rounds.")
    parser.add_argument(
        "--statistic",
        choices=["median", "min"],
        default="median",
        help="Each round's figure per page: the median of its runs, or the fastest (on a "
        "machine others load, the fastest run is the one least slowed by them).",
    )
    parser.add_argument("--fill", action="store_true")
    parser.add_argument("--small-count", type=int, default=10_000)
    parser.add_argument("--large-count", type=int, default=1_000_000)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_here(args.runs)))
        return 0
    if not (args.small and args.large):
        parser.error("--small and --large are required")
    if args.fill:
        fill(args.small, args.small_count)
        fill(args.large, args.large_count)
    # Alternating rounds, best median per page: the machine is shared, so one round can be
    # slowed by others' work; each size gets the same chances.
    small_rounds, large_rounds = [], []
    for _ in range(args.rounds):
        small_rounds.append(run_child(args.small, args.runs))
        large_rounds.append(run_child(args.large, args.runs))

    stat = "ms" if args.statistic == "median" else "min_ms"

    def best(rounds: list[dict], page: str) -> dict:
        fastest = min((r["pages"][page] for r in rounds), key=lambda p: p[stat])
        return {**fastest, "ms": fastest[stat]}

    small_n, large_n = small_rounds[0]["licenses"], large_rounds[0]["licenses"]
    print(
        f"licenses: small {small_n:,}, large {large_n:,}; best of {args.rounds} rounds "
        f"of {args.runs} runs ({args.statistic}) each"
    )
    header = f"{'page':<38} {'small ms':>9} {'large ms':>9} {'ratio':>6} {'sql ms':>7}"
    header += f" {'queries':>8}  ok"
    print(header)
    failures = 0
    for page in small_rounds[0]["pages"]:
        small, large = best(small_rounds, page), best(large_rounds, page)
        ratio = large["ms"] / small["ms"]
        trivial = page.startswith("trivial")
        ok = trivial or (ratio <= RATIO_TARGET and large["ms"] <= MS_TARGET)
        failures += not ok
        queries = f"{small['queries']}/{large['queries']}"
        print(
            f"{page:<38} {small['ms']:>9.1f} {large['ms']:>9.1f} {ratio:>6.2f} "
            f"{large['sql_ms']:>7.1f} {queries:>8}  {'-' if trivial else ('yes' if ok else 'NO')}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
