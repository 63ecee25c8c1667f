#!/usr/bin/env python
"""Subscriber ingest against its baselines, measured in one run on one PostgreSQL database.

HTTP (wrk as the load generator, gunicorn with gunicorn.conf.py and 3 workers,
lmo.settings_bench):
  * acceptance: signed new install events/s   vs  a view that inserts one row
  * license check/s                           vs  a view that answers a constant
Drain (in process, as the worker runs it):
  * queued first installs applied/s by the product's drain (subscriber_events_drain)
    vs  plain SQL writing the same rows (license, lead, feature values, history, outbox,
        inbox status), one transaction per event

Kinds are measured in interleaved rounds, so load from elsewhere on the machine hits both
sides of a ratio alike; the median of the per-round ratios is reported with its range.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lmo_bench \\
    CACHE_URL=redis://127.0.0.1:6379/3 .venv/bin/python bench/bench_subscribers.py

Targets: acceptance >= 60 % of the insert baseline, check >= 60 % of the constant view,
drain >= 50 % of the plain-SQL rate. gunicorn is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
PACKAGE_ID = "033000000BENCH1"
VERSION_ID = "04t000000BENCH1"
CHECK_ORGS = 200
WEBHOOK_PATH = "/api/v1/webhooks/subscriber/"

# Each wrk thread takes every n-th line of the request file (event id, timestamp,
# signature, body): `signed_share(path, threads)` in its init.
SHARE_LUA = """
local counter = 1
threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function signed_share(path, thread_count)
  local share = {}
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if n % thread_count == id - 1 then
      local event_id, ts, sig, body = line:match("([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)")
      share[#share + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = event_id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
      }, body)
    end
  end
  return share
end
"""

# Each thread stops when its share is sent, so no event is sent twice.
ACCEPT_LUA = (
    SHARE_LUA
    + """
function init(args)
  requests = signed_share(args[1], tonumber(args[2]))
  i = 0
end
function request()
  i = i + 1
  if i > #requests then
    wrk.thread:stop()
    i = #requests
  end
  return requests[i]
end
"""
)

CHECK_LUA = """
function init(args)
  requests = {}
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", line, {["Authorization"] = "Bearer " .. args[2]})
  end
  i = 0
end
function request()
  i = i % #requests + 1
  return requests[i]
end
"""

POST_LUA = 'wrk.method = "POST"\n'

# The latency run's sender: each wrk thread sends its share of the signed events at
# rate / threads per second, on a schedule from its start (LuaJIT's ffi reads the clock), so
# a slow answer on one connection does not slow the others; once its share is sent a
# connection waits out the run. Answers other than 202 are counted and printed at the end.
PACED_LUA = (
    SHARE_LUA
    + """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } lmo_timespec;
int clock_gettime(int clk_id, lmo_timespec *tp);
]]
local ts = ffi.new("lmo_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
function init(args)
  local count = tonumber(args[2])
  requests = signed_share(args[1], count)
  interval_ms = 1000 * count / tonumber(args[3])
  i = 0
  slot = 0
  not_accepted = 0
  started_ms = now_ms()
end
function delay()
  if slot >= #requests then return 3600000 end
  slot = slot + 1
  local wait = started_ms + slot * interval_ms - now_ms()
  if wait < 0 then return 0 end
  return wait
end
function request()
  -- wrk calls this once to check the script before anything is sent: nothing taken then.
  if slot == 0 then return requests[1] end
  i = i + 1
  return requests[i]
end
function response(status, headers, body)
  if status ~= 202 then not_accepted = not_accepted + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("not_accepted") end
  io.write(string.format("not_accepted %d\\n", total))
end
"""
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lmo.settings_bench",
            "DATABASE_URL": args.database_url,
            "CACHE_URL": args.cache_url,
            # Accepted events ask a worker to drain; none runs during the HTTP rounds, and
            # the queue is dropped at the end.
            "CELERY_BROKER_URL": args.broker_url,
            "SECRET_KEY": "bench-only-secret-key",
            "DEBUG": "0",
            # Plain HTTP on the loopback interface; no access log per request.
            "SECURE_SSL_REDIRECT": "0",
            "GUNICORN_ACCESS_LOG": "",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LMO_WEBHOOK_SECRETS": SECRET,
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": "600",
            # The bench measures capacity, not the throttles (they still run).
            "LMO_WEBHOOK_THROTTLE": "100000000/hour",
            "LMO_LICENSE_CHECK_THROTTLE": "100000000/hour",
        }
    )
    return env


def _install_body(org_id: str, when: dt.datetime, tag: str) -> dict:
    return {
        "type": "package.installed",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "data": {
            "package_id": PACKAGE_ID,
            "version_id": VERSION_ID,
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


def _prepare(env: dict[str, str]) -> tuple[str, list[str]]:
    """Migrate; create the bench package, its key, and the licenses the check reads."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from core.salesforce_ids import normalize_salesforce_id
    from features.choices import DataType, Direction
    from features.services import feature_parameter_create
    from licenses.models import License
    from packages.models import Package, SubscriberApiKey
    from subscribers.events import parse_event
    from subscribers.services import subscriber_event_accept, subscriber_events_drain
    from subscribers.simulator import derived_id

    call_command("migrate", verbosity=0)
    package, created = Package.objects.get_or_create(
        package_id=normalize_salesforce_id(PACKAGE_ID, prefix="033"),
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
    # As a partner sets a package up: each install emails its lead manager, so the latency
    # run's notification worker sends one email per first install.
    package.lead_manager, _ = get_user_model().objects.get_or_create(
        username="bench-lead-manager", defaults={"email": "leads@bench.example"}
    )
    package.save(update_fields=["lead_manager"])
    _, key = SubscriberApiKey.issue(package=package, name="bench")
    orgs = [derived_id("00D", "bench-check", str(n)) for n in range(CHECK_ORGS)]
    existing = set(
        License.objects.filter(package=package, org_id__in=orgs).values_list("org_id", flat=True)
    )
    now = timezone.now() - dt.timedelta(minutes=1)
    for n, org_id in enumerate(orgs):
        if org_id not in existing:
            body = _install_body(org_id, now, f"check{n}")
            subscriber_event_accept(event=parse_event(f"bench-seed-{org_id}", body))
    subscriber_events_drain()
    return key, orgs


# --- HTTP -------------------------------------------------------------------------------------


def _wrk(url: str, args, script: str, script_args: list[str]) -> tuple[float, int]:
    """(requests/s, non-2xx answers) of one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        command = [
            "wrk", "-t", str(args.threads), "-c", str(args.connections),
            "-d", f"{args.duration}s", "--timeout", "10s", "-s", lua.name, url,
            *(["--", *script_args] if script_args else []),
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(lua.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rate, int(errors.group(1)) if errors else 0


def _signed_requests(path: Path, count: int, tag: str) -> None:
    from standardwebhooks.webhooks import Webhook

    from subscribers.simulator import derived_id

    webhook = Webhook(SECRET)
    now = dt.datetime.now(dt.UTC)
    with path.open("w") as out:
        for i in range(count):
            org_id = derived_id("00D", "bench-accept", tag, str(i))
            raw = json.dumps(_install_body(org_id, now, f"a{tag}x{i}"), separators=(",", ":"))
            event_id = f"msg_bench_{tag}_{i}"
            signature = webhook.sign(event_id, now, raw)
            out.write(f"{event_id}\t{int(now.timestamp())}\t{signature}\t{raw}\n")


def _http_rounds(args, env, key: str, orgs: list[str]) -> dict[str, list[float]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "lmo.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "lmo.settings_bench"},
        start_new_session=True,
    )
    rates: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-subscribers-"))
    check_file = work / "check.txt"
    check_file.write_text(
        "".join(
            f"/api/v1/subscriber/license/?org_id={org}&package_id={PACKAGE_ID}\n" for org in orgs
        )
    )
    try:
        _wait_ready(base + "/bench/baseline/constant/", time.time() + 60)
        kinds = {
            "baseline_insert": lambda r: (base + "/bench/baseline/insert/", POST_LUA, []),
            "accept": lambda r: _accept_run(base, work, args, r),
            "baseline_constant": lambda r: (base + "/bench/baseline/constant/", "", []),
            "check": lambda r: (
                base + "/api/v1/subscriber/license/",
                CHECK_LUA,
                [str(check_file), key],
            ),
        }
        for round_no in range(args.rounds + 1):  # round 0 warms every worker
            for kind, make in kinds.items():
                url, script, script_args = make(round_no)
                rate, non_2xx = _wrk(url, args, script or "", script_args)
                if round_no:
                    rates.setdefault(kind, []).append(rate)
                    errors[kind] = errors.get(kind, 0) + non_2xx
            if round_no:
                print(
                    f"round {round_no}: "
                    + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()),
                    flush=True,
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        _drop_queued_tasks(args.broker_url)
    for kind, count in errors.items():
        if count:
            print(f"  {kind}: {count} non-2xx answers")
    return rates


def _accept_run(base: str, work: Path, args, round_no: int) -> tuple[str, str, list[str]]:
    # Signed just before the round (5 minutes of tolerance), enough for the round's length.
    path = work / f"accept-{round_no}.txt"
    tag = f"{secrets.token_hex(3)}r{round_no}"
    _signed_requests(path, args.accept_requests, tag)
    return base + WEBHOOK_PATH, ACCEPT_LUA, [str(path), str(args.threads)]


def _wait_ready(url: str, deadline: float) -> None:
    import httpx

    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not become ready in time")


def _drop_queued_tasks(broker_url: str) -> None:
    from django.core.cache import cache

    from subscribers.services import DRAIN_HELPER_KEY, DRAIN_PENDING_KEY

    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).delete("celery", "ingest")
    # The drain those tasks would have run is not pending any more: the next acceptance asks
    # for one at once instead of leaving it to beat's next periodic drain.
    cache.delete_many([DRAIN_PENDING_KEY, DRAIN_HELPER_KEY])


# --- Drain --------------------------------------------------------------------------------------


def _queue_installs(count: int, tag: str) -> list[int]:
    """`count` queued first installs in the inbox, as the webhook stores them (bulk-written
    here: what is measured is applying them)."""
    from django.utils import timezone

    from subscribers.events import parse_event
    from subscribers.models import SubscriberEvent
    from subscribers.simulator import derived_id

    now = timezone.now() - dt.timedelta(minutes=1)
    rows = []
    for i in range(count):
        org_id = derived_id("00D", "bench-drain", tag, str(i))
        event = parse_event(f"msg_drain_{tag}_{i}", _install_body(org_id, now, f"d{tag}x{i}"))
        rows.append(
            SubscriberEvent(
                event_id=event.event_id,
                type=event.type,
                occurred_at=event.occurred_at,
                package_id=event.package_id,
                org_id=event.org.org_id,
                payload=event.payload,
            )
        )
    created = SubscriberEvent.objects.bulk_create(rows, batch_size=2000)
    return [row.pk for row in created]


def _rows(cursor, table: str, where: str, params: list) -> list[dict]:
    cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY id", params)
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _template() -> dict:
    """The rows one first install writes, read back from one the product applied."""
    from django.db import connection

    from jobs.models import OutboxMessage
    from licenses.models import License, LicenseEvent
    from subscribers.services import subscriber_events_drain

    outbox_before = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first()
    _queue_installs(1, "template" + secrets.token_hex(3))
    subscriber_events_drain()
    license = License.objects.latest("id")
    with connection.cursor() as cursor:
        return {
            "license": _rows(cursor, License._meta.db_table, "id = %s", [license.pk])[0],
            "lead": _rows(cursor, "leads_lead", "id = %s", [license.lead_id])[0],
            "values": _rows(
                cursor, "features_featureparametervalue", "license_id = %s", [license.pk]
            ),
            "history": _rows(cursor, LicenseEvent._meta.db_table, "license_id = %s", [license.pk]),
            "outbox": _rows(cursor, OutboxMessage._meta.db_table, "id > %s", [outbox_before or 0]),
        }


def _insert(cursor, table: str, row: dict, **changes) -> int:
    from psycopg2.extras import Json

    values = {**{k: v for k, v in row.items() if k != "id"}, **changes}
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    params = [Json(v) if isinstance(v, dict | list) else v for v in values.values()]
    cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", params)
    return cursor.fetchone()[0]


def _sql_apply(pks: list[int], template: dict) -> None:
    """The baseline: the same rows per event, by plain SQL, one transaction per event. The
    product names a chunk's history rows in one outbox message, so does this: in the
    transaction of each chunk's last event."""
    from django.db import connection, transaction

    from subscribers.models import SubscriberEvent
    from subscribers.services import INSTALL_CHUNK

    events = dict(SubscriberEvent.objects.filter(pk__in=pks).values_list("pk", "org_id"))
    named: list[int] = []
    for position, pk in enumerate(pks, start=1):
        org_id = events[pk]
        with transaction.atomic(), connection.cursor() as cursor:
            lead_id = _insert(
                cursor, "leads_lead", template["lead"], org_id=org_id, email=f"{org_id}@b.example"
            )
            license_id = _insert(
                cursor, "licenses_license", template["license"], org_id=org_id, lead_id=lead_id
            )
            for value in template["values"]:
                _insert(cursor, "features_featureparametervalue", value, license_id=license_id)
            for history in template["history"]:
                named.append(
                    _insert(cursor, "licenses_licenseevent", history, license_id=license_id)
                )
            if position % INSTALL_CHUNK == 0 or position == len(pks):
                for message in template["outbox"]:
                    _insert(cursor, "jobs_outboxmessage", message, payload={"event_ids": named})
                named = []
            cursor.execute(
                "UPDATE subscribers_subscriberevent SET outcome = 'applied', license_id = %s, "
                "processed_at = now() WHERE id = %s",
                [license_id, pk],
            )


def _drain_rounds(args) -> dict[str, list[float]]:
    from subscribers.services import subscriber_events_drain

    template = _template()
    per_round = max(args.drain_events // args.rounds, 1)
    rates: dict[str, list[float]] = {}
    for round_no in range(1, args.rounds + 1):
        pks = _queue_installs(per_round, f"p{round_no}{secrets.token_hex(3)}")
        started = time.perf_counter()
        result = subscriber_events_drain()
        product = result.applied / (time.perf_counter() - started)
        assert result.applied >= per_round and not result.failed, result

        pks = _queue_installs(per_round, f"s{round_no}{secrets.token_hex(3)}")
        started = time.perf_counter()
        _sql_apply(pks, template)
        sql = per_round / (time.perf_counter() - started)
        rates.setdefault("drain", []).append(product)
        rates.setdefault("plain_sql", []).append(sql)
        print(f"drain round {round_no}: product {product:.0f}/s, plain SQL {sql:.0f}/s", flush=True)
    return rates


def _report(label: str, kind: list[float], baseline: list[float], target: float) -> bool:
    ratios = sorted(a / b for a, b in zip(kind, baseline, strict=True))
    median = statistics.median(ratios)
    print(
        f"{label}: median of {len(ratios)} rounds {median:.0%} (range {ratios[0]:.0%}-"
        f"{ratios[-1]:.0%}); {statistics.median(kind):.0f}/s vs "
        f"{statistics.median(baseline):.0f}/s; target >= {target:.0%}"
    )
    return median >= target


# --- Latency: acceptance -> applied under a steady load -----------------------------------------


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _wait_worker(url: str, work: Path, deadline: float) -> None:
    """Send one event and wait until a worker applied it: the worker (started moments ago,
    slowly on a loaded machine) is then draining, and the load measures a running system."""
    import httpx

    from subscribers.models import SubscriberEvent

    tag = f"{secrets.token_hex(3)}w"
    _signed_requests(work / "warm.txt", 1, tag)
    event_id, ts, sig, body = (work / "warm.txt").read_text().rstrip("\n").split("\t", 3)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": ts,
        "webhook-signature": sig,
    }
    httpx.post(url, content=body, headers=headers, timeout=30).raise_for_status()
    started = time.time()
    while time.time() < deadline:
        if SubscriberEvent.objects.filter(event_id=event_id).exclude(outcome="queued").exists():
            print(f"worker ready: warm-up event applied after {time.time() - started:.1f} s")
            return
        time.sleep(0.2)
    raise SystemExit("the worker did not apply the warm-up event in time")


def _latency(args, env: dict[str, str]) -> bool:
    """p50/p95/p99 of acceptance -> applied for new first installs sent at a steady rate.

    Applied is when a reader first sees the inbox row's outcome (polled every 50 ms), so
    the time between the worker's batch start (`processed_at`) and its commit counts too.
    """
    from django.db import connection

    from subscribers.models import SubscriberEvent

    port = args.latency_port
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    env = {**env, "LMO_BROKER_DIR": str(work / "broker")}
    celery = str(ROOT / ".venv" / "bin" / "celery")
    gunicorn = _start(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "lmo.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(args.workers), "--log-level", "warning"],
        env, work / "gunicorn.log",
    )  # fmt: skip
    processes = [gunicorn]
    try:
        _wait_ready(base + "/bench/baseline/constant/", time.time() + 60)
        rate = args.latency_rate
        if not rate:
            # Acceptance alone (no worker yet), as the HTTP rounds measure it.
            _signed_requests(work / "max.txt", args.accept_requests, f"{secrets.token_hex(3)}m")
            rate, _ = _wrk(
                base + WEBHOOK_PATH, args, ACCEPT_LUA, [str(work / "max.txt"), str(args.threads)]
            )
            print(
                f"max acceptance: {rate:.0f}/s "
                f"(wrk -t{args.threads} -c{args.connections} -d{args.duration}s)"
            )
            rate = rate / 2
        # Events of the capacity run or of an earlier run measured nothing of this one: the
        # latency run starts on an empty queue.
        SubscriberEvent.objects.filter(event_id__startswith="msg_bench_", outcome="queued").delete()
        _drop_queued_tasks(args.broker_url)
        # As the Procfile runs them: a worker for the drain's queue, one for the rest.
        for queue, concurrency in (("ingest", args.latency_concurrency), ("celery", 1)):
            processes.append(_start(
                [celery, "-A", "lmo", "worker", "--loglevel", "WARNING", "--concurrency",
                 str(concurrency), "-Q", queue, "-n", f"{queue}-bench@%h",
                 "--without-gossip", "--without-mingle"],
                env, work / f"worker-{queue}.log",
            ))  # fmt: skip
        processes.append(_start(
            [celery, "-A", "lmo", "beat", "--loglevel", "WARNING", "-s", str(work / "beat")],
            env, work / "beat.log",
        ))  # fmt: skip
        _wait_worker(base + WEBHOOK_PATH, work, time.time() + 120)
        if connection.vendor == "postgresql":
            # A sustained run leaves a dead index entry per applied event; without autovacuum
            # the drain's reads slow as they pile up (bench/README.md), so say which it was.
            with connection.cursor() as cursor:
                cursor.execute("SHOW autovacuum")
                print(f"PostgreSQL autovacuum: {cursor.fetchone()[0]}")
        count = int(rate * args.latency_seconds)
        tag = f"{secrets.token_hex(3)}l"
        _signed_requests(work / "latency.txt", count, tag)
        print(f"sending {count} new first installs at {rate:.1f}/s for {args.latency_seconds} s")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write(PACED_LUA)
        # Enough connections that answers slowed by the drain's writes (SQLite has one writer
        # at a time) do not hold back the schedule; wrk is stopped once every event is seen.
        sender = subprocess.Popen(
            ["wrk", "-t", str(args.threads), "-c", "128", "-d",
             f"{args.latency_seconds + args.latency_grace}s", "--timeout", "30s", "-s", lua.name,
             base + WEBHOOK_PATH, "--", str(work / "latency.txt"), str(args.threads), str(rate)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        start_at = time.time()
        seen: dict[str, float] = {}
        prefix = f"msg_bench_{tag}_"
        deadline = start_at + args.latency_seconds + args.latency_grace
        # One connection in autocommit: each SELECT sees what has committed. (Reconnecting per
        # poll cost PostgreSQL a backend start, about 14 ms of CPU, 20 times a second.)
        # Each poll reads the rows from the oldest one not yet seen applied, so it stays
        # small while the workers keep up. Rows may commit out of id order, so the mark only
        # moves to the oldest queued row, or a margin behind the newest.
        low = 0
        while time.time() < deadline and len(seen) < count:
            now = time.time()
            rows = list(
                SubscriberEvent.objects.filter(pk__gte=low, event_id__startswith=prefix)
                .order_by("pk")
                .values_list("pk", "event_id", "outcome")
            )
            queued = [pk for pk, _, outcome in rows if outcome == "queued"]
            for _, event_id, outcome in rows:
                if outcome != "queued":
                    seen.setdefault(event_id, now)
            if queued:
                low = queued[0]
            elif rows:
                low = max(low, rows[-1][0] - 1000)
            time.sleep(0.05)
        sender.send_signal(signal.SIGINT)  # wrk stops and prints what it did
        output, _ = sender.communicate(timeout=30)
        os.unlink(lua.name)
        sent = re.search(r"(\d+) requests in", output)
        not_accepted = re.search(r"not_accepted (\d+)", output)
        errors = re.search(r"Socket errors:.*", output)
        print(
            f"answered: {sent.group(1) if sent else '?'} of {count} (wrk"
            + (f"; {errors.group(0)})" if errors else ")")
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        _drop_queued_tasks(args.broker_url)
    rows = {
        e: (r, p, o)
        for e, r, p, o in SubscriberEvent.objects.filter(event_id__startswith=prefix).values_list(
            "event_id", "received_at", "processed_at", "outcome"
        )
    }
    bad = int(not_accepted.group(1)) if not_accepted else count
    latencies = sorted(seen[e] - rows[e][0].timestamp() for e in seen if e in rows)
    by_stamp = sorted((p - r).total_seconds() for r, p, _ in rows.values() if p is not None)
    late = count - len(seen)
    outcomes: dict[str, int] = {}
    for _, _, o in rows.values():
        outcomes[o] = outcomes.get(o, 0) + 1
    print(f"answers not 202: {bad}; inbox outcomes: {outcomes}; not applied in time: {late}")

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    for label, values in [("seen applied", latencies), ("processed_at", by_stamp)]:
        print(
            f"  {label:13s} p50 {pct(values, 0.50):.2f} s, p95 {pct(values, 0.95):.2f} s, "
            f"p99 {pct(values, 0.99):.2f} s, max {max(values, default=float('nan')):.2f} s"
        )
    # Events never applied within the grace period count as misses.
    p99 = pct(latencies + [float("inf")] * late, 0.99)
    target = 2.0 if connection.vendor == "postgresql" else 5.0
    verdict = "met" if p99 <= target else "missed"
    print(f"latency p99 {p99:.2f} s, target {target:.0f} s: {verdict}")
    return p99 <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--cache-url", default=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/3")
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/3")
    )
    parser.add_argument(
        "--workers", type=int, default=3, help="gunicorn workers (threads: gunicorn.conf.py)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--accept-requests", type=int, default=10000, help="signed events prepared per round"
    )
    parser.add_argument(
        "--drain-events", type=int, default=100_000, help="queued installs drained in all"
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument(
        "--latency", action="store_true", help="only acceptance->applied latency (p50/p95/p99)"
    )
    parser.add_argument(
        "--latency-rate", type=float, default=0, help="events/s (default: half the measured max)"
    )
    parser.add_argument("--latency-seconds", type=int, default=45, help="steady load duration")
    parser.add_argument("--latency-grace", type=int, default=60, help="wait for the rest")
    parser.add_argument(
        "--latency-concurrency",
        type=int,
        default=2,
        help="the ingest worker's processes (2, as docker-compose)",
    )
    parser.add_argument("--latency-port", type=int, default=0, help="gunicorn port")
    args = parser.parse_args()
    if args.latency:
        # Any database: the embedded default (SQLite, filesystem broker, file cache) too.
        args.database_url = args.database_url or f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"
        args.latency_port = args.latency_port or _free_port()
        env = _env(args)
        _prepare(env)
        return 0 if _latency(args, env) else 1
    if not args.database_url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (e.g. .../lmo_bench).")

    env = _env(args)
    key, orgs = _prepare(env)
    ok = True
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, gunicorn "
        f"{args.workers} workers (gunicorn.conf.py: gthread, "
        f"{os.environ.get('GUNICORN_THREADS', '8')} threads), {args.rounds} interleaved rounds"
    )
    if not args.skip_http:
        rates = _http_rounds(args, env, key, orgs)
        ok &= _report("acceptance", rates["accept"], rates["baseline_insert"], 0.60)
        ok &= _report("license check", rates["check"], rates["baseline_constant"], 0.60)
    if not args.skip_drain:
        rates = _drain_rounds(args)
        ok &= _report(
            f"drain ({args.drain_events} installs)", rates["drain"], rates["plain_sql"], 0.50
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
