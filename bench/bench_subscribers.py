#!/usr/bin/env python
"""Throughput of the subscriber webhook and the license check against gunicorn + PostgreSQL.

In one run, against one gunicorn started here on a free loopback port:
  * signed install events/s   vs  a view that inserts one row per request
  * license checks/s          vs  a view that returns a constant
and prints the ratios (targets: ingest >= 50 %, check >= 60 % of its baseline).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_bench \\
    CACHE_URL=redis://127.0.0.1:6379/3 .venv/bin/python bench/bench_subscribers.py

Every loop is bounded (a fixed number of requests per round) and gunicorn is stopped at
the end, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
PACKAGE_ID = "033000000BENCH1"
CHECK_ORGS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lmo.settings",
            "DATABASE_URL": args.database_url,
            "CACHE_URL": args.cache_url,
            # Install notifications go through the outbox to a broker, as in production; no
            # worker consumes them here, and the queue is dropped when the run ends.
            "CELERY_BROKER_URL": args.broker_url,
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LMO_BENCH_VIEWS": "1",
            "LMO_WEBHOOK_SECRETS": SECRET,
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": "600",
        }
    )
    return env


def _prepare(env: dict[str, str]) -> tuple[str, list[str]]:
    """Migrate, and create the bench package, its key and licenses to check (in process)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from features.choices import DataType, Direction
    from features.services import feature_parameter_create
    from licenses.models import License
    from packages.models import Package, SubscriberApiKey
    from subscribers.serializers import parse_event
    from subscribers.services import subscriber_event_receive
    from subscribers.simulator import derived_id

    call_command("migrate", verbosity=0)
    package, created = Package.objects.get_or_create(
        package_id=PACKAGE_ID,
        defaults={
            "name": "Bench Package",
            "namespace": "benchpkg",
            "developer_org_id": "00D000000000001",
            "license_manager_linked": True,
            "linked_at": timezone.now(),
            "default_status": "active",
            "default_seats": 20,
        },
    )
    if created:
        for name, data_type, direction, default in [
            ("Premium", DataType.BOOLEAN, Direction.LMO_TO_SUBSCRIBER, False),
            ("Max_Users", DataType.INTEGER, Direction.LMO_TO_SUBSCRIBER, 25),
            ("Jobs_Run", DataType.INTEGER, Direction.SUBSCRIBER_TO_LMO, 0),
        ]:
            feature_parameter_create(
                package=package,
                developer_name=name,
                label=name,
                data_type=data_type,
                direction=direction,
                default_value=default,
            )
    _, key = SubscriberApiKey.issue(package=package, name="bench")
    orgs = [derived_id("00D", "bench-check", str(n)) for n in range(CHECK_ORGS)]
    existing = set(
        License.objects.filter(package=package, org_id__in=orgs).values_list("org_id", flat=True)
    )
    now = timezone.now()
    for n, org_id in enumerate(orgs):
        if org_id in existing:
            continue
        body = _install_body(org_id, now, f"check{n}")
        subscriber_event_receive(event=parse_event(f"bench-seed-{org_id}", body))
    return key, orgs


def _install_body(org_id: str, when, tag: str) -> dict:
    return {
        "type": "package.installed",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "data": {
            "package_id": PACKAGE_ID,
            "version_id": "04t000000BENCH1",
            "version_number": "1.0.0",
            "org": {
                "id": org_id,
                "name": f"Bench {tag}",
                "edition": "Enterprise Edition",
                "instance": "NA135",
                "type": "production",
                "is_sandbox": False,
                "parent_org_id": None,
            },
            "installer": {
                "first_name": "Bench",
                "last_name": tag,
                "email": f"{tag}@bench.example",
                "phone": "+1 555 0100",
                "company": f"Bench {tag}",
            },
        },
    }


def _client_requests(kind: str, count: int, offset: int, key: str, orgs) -> list[tuple]:
    """The `count` requests one client sends, built (and signed) before the timed window:
    the load generator shares the two cores with the server, and it is the server that is
    measured. Signatures stay fresh: a round lasts seconds, the tolerance is 5 minutes."""
    import datetime as dt

    from standardwebhooks.webhooks import Webhook

    from subscribers.simulator import derived_id

    webhook = Webhook(SECRET)
    run = secrets.token_hex(4)
    built = []
    for i in range(count):
        if kind == "baseline_insert":
            built.append(("POST", "/api/v1/bench/baseline/insert/", {}, None, None))
        elif kind == "baseline_constant":
            built.append(("GET", "/api/v1/bench/baseline/constant/", {}, None, None))
        elif kind == "check":
            org_id = orgs[(offset + i) % len(orgs)]
            built.append(
                (
                    "GET",
                    "/api/v1/subscriber/license/",
                    {"authorization": f"Bearer {key}"},
                    {"org_id": org_id, "package_id": PACKAGE_ID},
                    None,
                )
            )
        else:
            now = dt.datetime.now(dt.UTC)
            org_id = derived_id("00D", "bench-install", run, str(offset), str(i))
            raw = json.dumps(_install_body(org_id, now, f"i{run}{offset}x{i}")).encode()
            msg_id = f"msg_bench_{run}_{offset}_{i}"
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": webhook.sign(msg_id, now, raw.decode()),
            }
            built.append(("POST", "/api/v1/webhooks/subscriber/", headers, None, raw))
    return built


def _client_worker(kind, base_url, count, offset, key, orgs, ready, go, queue):
    """One load-generating process: builds its requests, waits for `go`, sends them on one
    keep-alive connection, and reports (ok, errors)."""
    import httpx

    ok = errors = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        # Built before the timed window, headers and all: only sending is timed.
        requests = [
            client.build_request(method, path, headers=headers, params=params, content=content)
            for method, path, headers, params, content in _client_requests(
                kind, count, offset, key, orgs
            )
        ]
        ready.put(True)
        go.wait(timeout=600)
        for request in requests:
            response = client.send(request)
            if response.status_code == 200:
                ok += 1
            else:
                errors += 1
    queue.put((ok, errors))


def _measure(kind: str, base_url: str, requests: int, clients: int, key: str, orgs) -> dict:
    """Wall time from the moment every client is ready until the last one is done."""
    ready: multiprocessing.Queue = multiprocessing.Queue()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    go = multiprocessing.Event()
    per_client = requests // clients
    procs = [
        multiprocessing.Process(
            target=_client_worker,
            args=(kind, base_url, per_client, n * per_client, key, orgs, ready, go, queue),
        )
        for n in range(clients)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=600)
    started = time.perf_counter()
    go.set()
    results = [queue.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=30)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {"ok": ok, "errors": errors, "seconds": elapsed}


def _drop_queued_tasks(broker_url: str) -> None:
    """The notifications the run queued are for bench licenses: nobody should receive them."""
    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).delete("celery")


def _wait_ready(base_url: str, deadline: float) -> None:
    import httpx

    while time.time() < deadline:
        try:
            if (
                httpx.get(base_url + "/api/v1/bench/baseline/constant/", timeout=2).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not become ready in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--cache-url", default=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/3")
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/3")
    )
    # As the Dockerfile and docker-compose.yml serve the app.
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=4, help="load-generating processes")
    # Rounds interleaved, so bursts of other load on the machine hit every kind alike; each
    # long enough (about 1 to 3 s per kind) to measure sustained throughput rather than the
    # first requests on each connection.
    parser.add_argument("--requests", type=int, default=800, help="per kind and round")
    # Enough paired rounds that a burst of load elsewhere on a shared machine moves the
    # median little (one round's ratio has been seen anywhere from about 40 to 80 %).
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (e.g. .../lmo_bench).")

    env = _server_env(args)
    key, orgs = _prepare(env)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "lmo.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    totals: dict[str, dict[str, float]] = {}
    per_round: dict[str, list[float]] = {}
    try:
        _wait_ready(base_url, time.time() + 60)
        kinds = ["baseline_insert", "install", "baseline_constant", "check"]
        for kind in kinds:  # warm every worker's connections and caches
            _measure(kind, base_url, 40 * args.clients, args.clients, key, orgs)
        for _ in range(args.rounds):
            # Interleaved so load from anything else on the machine hits both sides alike.
            for kind in kinds:
                result = _measure(kind, base_url, args.requests, args.clients, key, orgs)
                per_round.setdefault(kind, []).append(result["ok"] / result["seconds"])
                total = totals.setdefault(kind, {"ok": 0, "errors": 0, "seconds": 0.0})
                for field in total:
                    total[field] += result[field]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        _drop_queued_tasks(args.broker_url)

    rate = {k: v["ok"] / v["seconds"] for k, v in totals.items()}
    print(
        f"gunicorn {args.workers} sync workers, {args.clients} client processes, "
        f"{args.rounds} rounds x {args.requests} requests per kind"
    )
    for kind in ["baseline_insert", "install", "baseline_constant", "check"]:
        t = totals[kind]
        print(
            f"  {kind:<18} {rate[kind]:8.0f} req/s   ({t['ok']:.0f} ok, {t['errors']:.0f} errors)"
        )
    for label, kind, baseline, target in [
        ("ingest", "install", "baseline_insert", "50%"),
        ("check ", "check", "baseline_constant", "60%"),
    ]:
        # Each round measures a kind right after its baseline, so the ratio of a round is
        # taken under the same load from the rest of the machine; the median of those
        # ratios is the figure least moved by bursts.
        ratios = sorted(a / b for a, b in zip(per_round[kind], per_round[baseline], strict=True))
        print(
            f"{label}: {rate[kind] / rate[baseline]:.0%} of {baseline} over the whole run; "
            f"median of {len(ratios)} paired rounds {statistics.median(ratios):.0%} "
            f"(range {ratios[0]:.0%}-{ratios[-1]:.0%}); target >= {target}"
        )
    failed = any(t["errors"] for t in totals.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
