"""Measure the license list at scale on PostgreSQL: queries and time against a trivial page.

    psql -h 127.0.0.1 -U postgres -c 'create database lmo_h5'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_h5 \\
        .venv/bin/python bench/bench_changelist.py --rows 200000

Fills the database with licenses through INSERT ... SELECT generate_series (once; re-runs
reuse them), then times each page with the Django test client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lmo.settings_test")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from licenses.models import License  # noqa: E402
from packages.models import Package, PackageVersion  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

FILL_SQL = """
INSERT INTO licenses_license (
    package_id, version_id, org_id, org_name, org_edition, org_instance, org_type, is_sandbox,
    status, status_before_suspension, status_before_uninstall, seats, used_licenses,
    installed_at, trial_started_at, activated_at, expires_at, uninstalled_at, account_id,
    created_at, updated_at
)
SELECT %(package)s,
       %(version)s,
       '00D' || lpad(n::text, 12, '0') || 'AAA',
       'Org ' || n,
       'Enterprise Edition', 'NA135', 'production', n %% 10 = 0,
       s.status, '', '', 10, n %% 40,
       now() - (n %% 365) * interval '1 day',
       CASE WHEN s.status = 'trial' THEN now() - (n %% 20) * interval '1 day' END,
       CASE WHEN s.status = 'active' THEN now() - (n %% 300) * interval '1 day' END,
       CASE WHEN s.status = 'trial' THEN now() + (n %% 60 - 15) * interval '1 day'
            WHEN s.status = 'active' AND n %% 3 = 0 THEN now() + (n %% 400) * interval '1 day'
       END,
       CASE WHEN s.status = 'uninstalled' THEN now() - (n %% 30) * interval '1 day' END,
       NULL, now(), now()
FROM generate_series(%(start)s, %(stop)s) AS n
CROSS JOIN LATERAL (
    SELECT (ARRAY['trial', 'active', 'active', 'suspended', 'expired', 'uninstalled'])[n %% 6 + 1]
        AS status
) AS s
"""


def fill(rows: int) -> None:
    package, _ = Package.objects.get_or_create(
        namespace="bench",
        defaults={
            "name": "Bench Package",
            "package_id": "033000000000099",
            "developer_org_id": "00D000000000099",
            "license_manager_linked": True,
        },
    )
    version = PackageVersion.objects.filter(package=package).first()
    if version is None:
        version = PackageVersion(
            package=package, version_number="1.0.0", version_id="04t000000000099"
        )
        version.save()
    have = License.objects.filter(package=package).count()
    if have < rows:
        with connection.cursor() as cursor:
            cursor.execute(
                FILL_SQL,
                {"package": package.pk, "version": version.pk, "start": have + 1, "stop": rows},
            )
            # What autovacuum does soon after a bulk load: statistics and the visibility map.
            cursor.execute("VACUUM ANALYZE licenses_license")
    print(f"licenses in the table: {License.objects.count():,}")


def measure(client: Client, url: str, runs: int) -> tuple[float, int, float]:
    client.get(url)  # warm up caches and the connection
    timings = []
    sql_timings = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
        sql_timings.append(sum(float(q["time"]) for q in captured.captured_queries))
    return statistics.median(timings), queries, statistics.median(sql_timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database (see the docstring).")
    call_command("migrate", verbosity=0)
    fill(args.rows)
    user = UserFactory(username="bench-ops", role="ops")
    client = Client()
    client.force_login(user)
    org = "00D" + str(args.rows // 2).zfill(12)  # a 15-character id
    pages = {
        "trivial page (password change form)": "/admin/password_change/",
        "license list, unfiltered": "/admin/licenses/license/",
        "license list, page 50": "/admin/licenses/license/?p=50",
        "license list, status=trial": "/admin/licenses/license/?status__exact=trial",
        "license list, expiring in 7 days": "/admin/licenses/license/?expiring=7",
        "license list, over seat limit": "/admin/licenses/license/?seats=over",
        "license list, search by org id": f"/admin/licenses/license/?q={org}",
        "license list, search by org name": "/admin/licenses/license/?q=Org+12345",
        "subscribers page, by org id": f"/admin/licenses/license/subscribers/?q={org}",
        "subscribers page, by org name": "/admin/licenses/license/subscribers/?q=Org+12345",
    }
    baseline = None
    print(f"{'page':<40} {'median ms':>10} {'sql ms':>8} {'queries':>8} {'x trivial':>10}")
    for label, url in pages.items():
        seconds, queries, sql = measure(client, url, args.runs)
        baseline = baseline or seconds
        print(
            f"{label:<40} {seconds * 1000:>10.1f} {sql * 1000:>8.1f} {queries:>8} "
            f"{seconds / baseline:>10.1f}"
        )


if __name__ == "__main__":
    main()
