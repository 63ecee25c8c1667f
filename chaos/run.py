"""`make chaos`: the real processes (gunicorn, a Celery worker, beat) on PostgreSQL and Redis,
driven by subscriber webhooks and the staff API while faults are injected; then the database
and a local SMTP sink are checked against what was sent.

Every piece runs on this machine's own ports (8130-8139) and its own database and Redis:
a redis-server started here on CHAOS_REDIS_PORT, PostgreSQL reached through a proxy the run
can cut, the broker through a proxy it can make refuse or hang. The shared PostgreSQL server
is never stopped: "unreachable" is the proxy in front of it going away.

    .venv/bin/python -m chaos.run                 # every scenario (about 10-15 minutes)
    .venv/bin/python -m chaos.run --short         # CI: a small storm and both broker faults
    .venv/bin/python -m chaos.run storm soak      # some scenarios only

Exit status 1 on any lost or doubled change, any email lost, or more duplicate emails than
processes killed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_HOST, PG_PORT = "127.0.0.1", int(os.environ.get("CHAOS_PG_PORT", "5432"))
DB_NAME = os.environ.get("CHAOS_DB", "lmo_chaos")
WEB_PORT = int(os.environ.get("CHAOS_WEB_PORT", "8131"))
SMTP_PORT = int(os.environ.get("CHAOS_SMTP_PORT", "8133"))
BROKER_PROXY_PORT = int(os.environ.get("CHAOS_BROKER_PROXY_PORT", "8134"))
PG_PROXY_PORT = int(os.environ.get("CHAOS_PG_PROXY_PORT", "8135"))
REDIS_PORT = int(os.environ.get("CHAOS_REDIS_PORT", "6390"))
SECRET = "whsec_" + "Q2hhb3NDaGFvc0NoYW9zQ2hhb3NDaGFvcw=="
BASE = f"http://127.0.0.1:{WEB_PORT}"
WEBHOOK_URL = f"{BASE}/api/v1/webhooks/subscriber/"
CHECK_URL = f"{BASE}/api/v1/subscriber/license/"
VENV_BIN = ROOT / ".venv" / "bin"
LOG_DIR = ROOT / "var" / "chaos"


def _harness_env() -> None:
    """This process reads the database directly (never through the proxy it cuts)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="lmo.settings",
        DATABASE_URL=f"postgres://postgres@{PG_HOST}:{PG_PORT}/{DB_NAME}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        CACHE_URL=f"redis://127.0.0.1:{REDIS_PORT}/1",
        SECRET_KEY=secrets.token_urlsafe(50),
        LMO_WEBHOOK_SECRETS=SECRET,
        CONN_MAX_AGE="0",
    )
    os.environ.pop("DEBUG", None)


def _process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="lmo.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{PG_PROXY_PORT}/{DB_NAME}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{BROKER_PROXY_PORT}/0",
        CACHE_URL=f"redis://127.0.0.1:{REDIS_PORT}/1",
        SECRET_KEY=os.environ["SECRET_KEY"],
        LMO_WEBHOOK_SECRETS=SECRET,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(SMTP_PORT),
        LMO_OUTBOX_RELAY_INTERVAL_SECONDS="2",
        LMO_SWEEP_INTERVAL_SECONDS="15",
        # A killed consumer's messages are relayed again after a minute, not five, so the
        # run does not sit out the production delay (the mechanism is the same).
        LMO_OUTBOX_STUCK_AFTER_SECONDS="60",
        LMO_OUTBOX_LEASE_SECONDS="30",
        API_THROTTLE_USER="1000000/hour",
        API_THROTTLE_WRITES="1000000/hour",
        API_THROTTLE_READS="1000000/hour",
        GUNICORN_BIND=f"127.0.0.1:{WEB_PORT}",
        GUNICORN_WORKERS="2",
        GUNICORN_MAX_REQUESTS="0",  # the soak measures memory: no worker recycling
        GUNICORN_ACCESS_LOG="",
        LOG_LEVEL="WARNING",
    )
    env.pop("DEBUG", None)
    # Persistent connections, as deployed (CONN_MAX_AGE defaults to 60 s in settings):
    # the run's own short-lived setting is not the product's.
    env.pop("CONN_MAX_AGE", None)
    return env


# --- processes --------------------------------------------------------------------------------


CELERY_WORKER = [
    str(VENV_BIN / "celery"),
    "-A",
    "lmo",
    "worker",
    "--loglevel",
    "WARNING",
    "--without-gossip",
    "--without-mingle",
]


class Processes:
    """gunicorn, the Celery workers and beat, each in its own process group."""

    COMMANDS = {
        "web": [str(VENV_BIN / "gunicorn"), "lmo.wsgi:application", "-c", "gunicorn.conf.py"],
        # As docker-compose.yml runs it: four pool processes, mostly waiting for mail and
        # commits, so batches of emails and a sweep do not wait for each other.
        "worker": [
            *CELERY_WORKER,
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "4"),
            "-Q",
            "celery",
            "-n",
            "worker@%h",
        ],
        # The subscriber inbox's own worker (queue "ingest"), where tasks are routed there.
        "ingest": [*CELERY_WORKER, "--concurrency", "2", "-Q", "ingest", "-n", "ingest@%h"],
        "beat": [str(VENV_BIN / "celery"), "-A", "lmo", "beat", "--loglevel", "WARNING"],
    }

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    def start(self, name: str) -> None:
        log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115
        env = _process_env()
        # Named connections: the database-kill scenario counts whose connections it ended.
        env["DATABASE_URL"] += f"?application_name=chaos-{name}"
        self.procs[name] = subprocess.Popen(
            self.COMMANDS[name],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self, name: str) -> int:
        """kill -9 the whole process (its pool children included), as a crash would; how
        many working processes died (the pool's, or the process itself without a pool)."""
        proc = self.procs[name]
        working = len(_children(proc.pid)) or 1
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return working

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def rss_mb(self, name: str) -> float:
        """Resident memory of the process and its children (MiB), from /proc."""
        pids = [self.procs[name].pid]
        pids += _children(pids[0])
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
            found += _children(int(entry.name))
    return found


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 1.0) -> bool:
    """Poll `check` until it holds; the wait is printed, so a slow run shows where it waited."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                print(f"   {what}: {time.monotonic() - started:.0f}s", flush=True)
                return True
        except Exception:
            pass
        time.sleep(every)
    print(f"   ! timed out after {timeout:.0f}s waiting for {what}", flush=True)
    return False


# --- traffic ----------------------------------------------------------------------------------


@dataclass
class Traffic:
    """What the senders saw: answers by kind, and which requests were finally accepted.

    A 503 with Retry-After is the app asking to be called again (database away): expected
    during a fault, and counted apart from errors. Errors are any other 5xx, a 503 without
    Retry-After, a refusal of valid traffic (4xx other than 409 and 429: a 409 is a retried
    action that had committed) and transport failures (timeouts, resets)."""

    statuses: Counter = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response) -> None:
        status: int | str = response.status_code
        if status == 503 and not response.headers.get("Retry-After"):
            status = "503 without Retry-After"
        with self.lock:
            self.statuses[status] += 1

    def record_failure(self, exc: Exception) -> None:
        with self.lock:
            self.statuses[type(exc).__name__] += 1

    @property
    def unavailable(self) -> int:
        return self.statuses[503]

    @property
    def five_xx(self) -> int:
        """5xx answers other than a 503 with Retry-After."""
        return sum(
            n
            for status, n in self.statuses.items()
            if (isinstance(status, int) and status >= 500 and status != 503)
            or status == "503 without Retry-After"
        )

    @property
    def refused(self) -> int:
        """Valid requests answered 4xx (other than 409 and 429)."""
        return sum(
            n
            for status, n in self.statuses.items()
            if isinstance(status, int) and 400 <= status < 500 and status not in (409, 429)
        )

    @property
    def transport_errors(self) -> int:
        return sum(
            n
            for status, n in self.statuses.items()
            if isinstance(status, str) and not status.startswith("503")
        )

    def summary(self) -> str:
        return " ".join(f"{status}x{n}" for status, n in sorted(self.statuses.items(), key=str))

    def report(self, row: Row) -> None:
        """Copy the answer counts to the row; print every kind of answer seen."""
        row.five_xx += self.five_xx
        row.unavailable += self.unavailable
        row.refused += self.refused
        row.transport_errors += self.transport_errors
        print(f"   answers: {self.summary()}", flush=True)


def _sign(event_id: str, body: str) -> dict[str, str]:
    from standardwebhooks import Webhook

    now = dt.datetime.now(dt.UTC)
    signature = Webhook(SECRET).sign(msg_id=event_id, timestamp=now, data=body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def send_with_retries(
    client: httpx.Client,
    traffic: Traffic,
    key: str,
    send: Callable[[httpx.Client], httpx.Response],
    *,
    done: Callable[[httpx.Response], bool] = lambda r: r.status_code < 300,
    tries: int = 40,
) -> None:
    """Like a real sender: retry on 5xx, 429 and network errors (honouring Retry-After)."""
    for _ in range(tries):
        try:
            response = send(client)
        except httpx.HTTPError as exc:
            traffic.record_failure(exc)
            time.sleep(0.5)
            continue
        traffic.record(response)
        if done(response):
            with traffic.lock:
                traffic.accepted.add(key)
            return
        if response.status_code < 500 and response.status_code != 429:
            with traffic.lock:
                traffic.given_up.add(key)
            return
        # Retry-After is honoured up to a second: the run cannot wait as long as a real sender.
        time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 1.0))
    with traffic.lock:
        traffic.given_up.add(key)


def post_webhook(client: httpx.Client, traffic: Traffic, event_id: str, body: dict) -> None:
    text = json.dumps(body)

    def send(c: httpx.Client) -> httpx.Response:
        return c.post(WEBHOOK_URL, content=text, headers=_sign(event_id, text), timeout=30)

    send_with_retries(client, traffic, event_id, send)


def run_senders(jobs: list[Callable[[httpx.Client], None]], senders: int = 8) -> None:
    """Run the jobs from `senders` threads, each with its own connection pool."""
    lock = threading.Lock()
    queue = list(reversed(jobs))

    def sender() -> None:
        with httpx.Client() as client:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop()
                job(client)

    started = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"   {len(jobs)} jobs from {senders} senders: {elapsed:.0f}s", flush=True)


# --- the world --------------------------------------------------------------------------------


class World:
    """The package, staff user and key the traffic uses, and the checks against the database."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from packages.models import Package, PackageVersion, SubscriberApiKey
        from staff.roles import GROUP_NAMES, Role, sync_role_groups
        from staff.tokens import api_token_create

        User = get_user_model()
        manager, _ = User.objects.get_or_create(
            username="chaos-leads", defaults={"email": "leads@chaos.example", "is_staff": True}
        )
        self.package, _ = Package.objects.get_or_create(
            namespace="chaos",
            defaults={
                "name": "Chaos Monkey",
                "package_id": "033000000000CHA",
                "developer_org_id": "00D000000000CHA",
                "license_manager_linked": True,
                "lead_manager": manager,
                "default_status": "trial",
                "trial_days": 30,
                "default_seats": 10,
            },
        )
        self.version, _ = PackageVersion.objects.get_or_create(
            package=self.package,
            version_number="1.0.0",
            defaults={"version_id": "04t000000000CHA", "name": "Spring"},
        )
        sync_role_groups()
        from django.contrib.auth.models import Group

        ops, _ = User.objects.get_or_create(username="chaos-ops", defaults={"is_staff": True})
        ops.groups.add(Group.objects.get(name=GROUP_NAMES[Role.OPS]))
        _, self.token = api_token_create(user=ops, expires_at=None)
        _, self.subscriber_key = SubscriberApiKey.issue(package=self.package)

    def install_body(self, org_id: str, n: int) -> dict:
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        return {
            "type": "package.installed",
            "timestamp": now,
            "data": {
                "package_id": self.package.package_id,
                "version_id": self.version.version_id,
                "version_number": self.version.version_number,
                "org": {
                    "id": org_id,
                    "name": f"Chaos Org {n}",
                    "edition": "Enterprise Edition",
                    "instance": "NA135",
                    "type": "production",
                    "is_sandbox": False,
                    "parent_org_id": None,
                },
                "installer": {
                    "first_name": "Ada",
                    "last_name": "Admin",
                    "email": f"ada{n}@org{n}.example",
                    "phone": "+1 555 0100",
                    "company": f"Chaos Org {n}",
                },
            },
        }

    @staticmethod
    def org_ids(label: str, count: int) -> list[str]:
        from subscribers.simulator import derived_id

        return [derived_id("00D", "chaos", label, str(n)) for n in range(count)]

    def licenses_per_org(self, org_ids: Iterable[str]) -> Counter:
        from licenses.models import License

        orgs = list(org_ids)
        found: Counter = Counter()
        for start in range(0, len(orgs), 5000):
            found.update(
                License.objects.filter(
                    package=self.package, org_id__in=orgs[start : start + 5000]
                ).values_list("org_id", flat=True)
            )
        return found

    def api(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


def expected_emails(since_event_id: int, license_ids: Iterable[int] | None = None) -> Counter:
    """One email per history row people are told about, written after `since_event_id`."""
    from licenses.models import LicenseEvent
    from licenses.notifications import NOTIFY_KINDS, license_event_compose

    events = LicenseEvent.objects.filter(pk__gt=since_event_id, kind__in=NOTIFY_KINDS)
    if license_ids is not None:
        events = events.filter(license_id__in=list(license_ids))
    expected: Counter = Counter()
    for event in events.select_related(
        "license__package__lead_manager", "license__account__owner"
    ).iterator(chunk_size=2000):
        recipients = tuple(sorted({"leads@chaos.example"}))
        expected[(license_event_compose(event)[0], recipients)] += 1
    return expected


def outbox_quiet() -> bool:
    from jobs.choices import OutboxStatus
    from jobs.models import OutboxMessage

    return not OutboxMessage.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENT]
    ).exists()


def last_event_id() -> int:
    from licenses.models import LicenseEvent

    return LicenseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- the report -------------------------------------------------------------------------------


@dataclass
class Row:
    """One scenario's line of the table. `killed` is how many working processes (or, for
    the database scenario, worker connections) were ended without warning: each may have
    been between sending an email and recording it, so each may send one email twice."""

    scenario: str
    sent: int = 0
    applied: int = 0
    lost: int = 0
    doubled: int = 0
    emails_expected: int = 0
    emails_sent: int = 0
    email_duplicates: int = 0
    emails_lost: int = 0
    emails_unexpected: int = 0
    five_xx: int = 0
    unavailable: int = 0
    refused: int = 0
    transport_errors: int = 0
    killed: int = 0
    note: str = ""
    failures: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failures.append(why)

    @property
    def problems(self) -> list[str]:
        found = list(self.failures)
        checks = [
            (self.lost, "changes lost"),
            (self.doubled, "changes doubled"),
            (self.emails_lost, "emails missing"),
            (self.emails_unexpected, "emails about nothing that happened"),
            (self.five_xx, "5xx answers (other than 503 with Retry-After)"),
            (self.refused, "valid requests refused with 4xx"),
            (self.transport_errors, "requests without an answer"),
        ]
        found += [f"{n} {what}" for n, what in checks if n]
        if self.email_duplicates > self.killed:
            found.append(f"{self.email_duplicates} duplicate emails for {self.killed} killed")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


COLUMNS = (
    ("scenario", 22),
    ("sent", 7),
    ("applied", 7),
    ("lost", 5),
    ("doubled", 7),
    ("emails exp/sent", 15),
    ("dup", 4),
    ("5xx", 4),
    ("503", 5),
    ("4xx", 4),
    ("killed", 6),
)


def print_table(rows: list[Row], elapsed: dict[str, float]) -> None:
    header = " ".join(
        f"{name:<{width}}" if i == 0 else f"{name:>{width}}"
        for i, (name, width) in enumerate(COLUMNS)
    )
    header += "  time  result"
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        values = [
            row.scenario,
            row.sent,
            row.applied,
            row.lost,
            row.doubled,
            f"{row.emails_expected}/{row.emails_sent}",
            row.email_duplicates,
            row.five_xx,
            row.unavailable,
            row.refused,
            row.killed,
        ]
        line = " ".join(
            f"{value:<{width}}" if i == 0 else f"{value:>{width}}"
            for i, (value, (_, width)) in enumerate(zip(values, COLUMNS, strict=True))
        )
        seconds = elapsed.get(row.scenario, 0.0)
        result = "ok" if row.ok else "FAIL: " + "; ".join(row.problems)
        print(f"{line} {seconds:>5.0f}s  {result}")
    print()
    for row in rows:
        print(f"{row.scenario}: {row.note}")
    total = sum(elapsed.values())
    print(f"total {total:.0f}s")


def compare_emails(row: Row, expected: Counter, received: Counter) -> None:
    """Emails by (subject, recipients): each expected one must arrive; one arriving more
    often than expected is a duplicate, one not expected at all is about nothing that
    happened."""
    row.emails_expected = sum(expected.values())
    row.emails_sent = sum(received.values())
    row.emails_lost = sum(max(0, n - received[key]) for key, n in expected.items())
    row.email_duplicates = sum(
        max(0, n - expected[key]) for key, n in received.items() if key in expected
    )
    row.emails_unexpected = sum(n for key, n in received.items() if key not in expected)


def settle(sink, mark: int, since_event: int, timeout: float, license_ids=None) -> tuple:
    """Wait for the outbox to drain and the mail to arrive; (expected, received)."""
    wait_for(outbox_quiet, timeout, "the outbox to drain")
    expected = expected_emails(since_event, license_ids)
    wait_for(
        lambda: sum(sink.since(mark).values()) >= sum(expected.values()),
        60,
        "the emails to arrive",
    )
    time.sleep(2)  # anything doubled arrives late
    return expected, sink.since(mark)


# --- scenarios --------------------------------------------------------------------------------


class Chaos:
    def __init__(self, *, short: bool) -> None:
        from chaos.proxy import ProxyProcess
        from chaos.smtp_sink import SmtpSink

        self.short = short
        self.broker = ProxyProcess(BROKER_PROXY_PORT, ("127.0.0.1", REDIS_PORT), "broker-proxy")
        self.pg = ProxyProcess(PG_PROXY_PORT, (PG_HOST, PG_PORT), "pg-proxy")
        self.sink = SmtpSink(SMTP_PORT, LOG_DIR / "mail.jsonl")
        self.sink.start()
        self.procs = Processes()
        for name in ("web", "worker", "ingest", "beat"):
            self.procs.start(name)
        wait_for(lambda: httpx.get(f"{BASE}/healthz", timeout=2).status_code == 200, 60, "web")
        self.world = World()
        self.rows: list[Row] = []
        self._spare = 0

    def close(self) -> None:
        self.procs.stop_all()
        self.sink.stop()
        self.broker.close()
        self.pg.close()

    # -- helpers --

    def _installs(self, label: str, count: int, copies: int = 1) -> tuple[list[str], list]:
        orgs = self.world.org_ids(label, count)
        jobs = []
        for n, org_id in enumerate(orgs):
            body = self.world.install_body(org_id, n)
            event_id = f"msg_chaos_{label}_{n}"
            for _ in range(copies):
                jobs.append((event_id, body))
        return orgs, jobs

    def _apply_check(self, row: Row, orgs: list[str], timeout: float) -> list[int]:
        from subscribers.models import SubscriberEvent

        # Every accepted event is in the inbox once the senders are done: wait until none
        # is left queued (one cheap query a second), then count what was applied.
        wait_for(
            lambda: not SubscriberEvent.objects.filter(outcome="queued").exists(),
            timeout,
            "installs",
        )
        per_org = self.world.licenses_per_org(orgs)
        row.applied = len(per_org)
        row.lost = len(orgs) - len(per_org)
        row.doubled = sum(1 for n in per_org.values() if n > 1)
        from licenses.models import License

        return list(
            License.objects.filter(package=self.world.package, org_id__in=orgs).values_list(
                "pk", flat=True
            )
        )

    def _suspend_job(self, traffic: Traffic, license_id: int):
        def job(client: httpx.Client) -> None:
            def send(c: httpx.Client) -> httpx.Response:
                return c.post(
                    f"{BASE}/api/v1/licenses/{license_id}/suspend/",
                    json={"reason": "Chaos: payment overdue"},
                    headers=self.world.api(),
                    timeout=30,
                )

            # 409: an earlier try committed and lost its answer; the license is suspended.
            send_with_retries(
                client,
                traffic,
                f"suspend-{license_id}",
                send,
                done=lambda r: r.status_code in (200, 409),
            )

        return job

    def _suspension_check(self, row: Row, license_ids: list[int]) -> None:
        from licenses.choices import EventKind
        from licenses.models import License, LicenseEvent

        suspended = License.objects.filter(pk__in=license_ids, status="suspended").count()
        events = Counter(
            LicenseEvent.objects.filter(
                license_id__in=license_ids,
                kind=EventKind.STATUS_CHANGED,
                after__status="suspended",
            ).values_list("license_id", flat=True)
        )
        row.sent += len(license_ids)
        row.applied += suspended
        row.lost += len(license_ids) - suspended
        row.doubled += sum(1 for n in events.values() if n > 1)

    def _trials(self, count: int) -> list[int]:
        """`count` running trials (the storm's installs; made here when a scenario runs
        without it)."""
        from licenses.models import License

        found = list(
            License.objects.filter(package=self.world.package, status="trial")
            .order_by("pk")
            .values_list("pk", flat=True)[:count]
        )
        if len(found) < count:
            self._spare += 1
            found += self._bulk_trials(f"spare{self._spare}", count - len(found), due=False)
        return found

    # -- the scenarios --

    def storm(self) -> None:
        """5,000 installs, each delivered 3 times, from 8 senders, shuffled."""
        count = 300 if self.short else 5000
        row = Row("duplicate storm", note=f"{count} events x3, 8 senders")
        mark, since = self.sink.mark(), last_event_id()
        orgs, deliveries = self._installs("storm", count, copies=3)
        random.Random(13).shuffle(deliveries)
        traffic = Traffic()
        run_senders(
            [
                lambda c, e=event_id, b=body: post_webhook(c, traffic, e, b)
                for event_id, body in deliveries
            ]
        )
        row.sent = count
        license_ids = self._apply_check(row, orgs, timeout=900)
        traffic.report(row)
        compare_emails(row, *settle(self.sink, mark, since, 300, license_ids))
        self.rows.append(row)

    def _broker_fault(self, mode: str, name: str) -> None:
        from chaos.proxy import PASS

        seconds = 10 if self.short else 30
        row = Row(name, note=f"{seconds}s")
        mark, since = self.sink.mark(), last_event_id()
        targets = self._trials(20)
        orgs, deliveries = self._installs(f"{mode}-broker", 40)
        traffic = Traffic()
        jobs = [self._suspend_job(traffic, pk) for pk in targets]
        jobs += [lambda c, e=e, b=b: post_webhook(c, traffic, e, b) for e, b in deliveries]
        random.Random(5).shuffle(jobs)
        self.broker.set_mode(mode)
        started = time.monotonic()
        slowest = 0.0

        def paced(job):
            def run(client: httpx.Client) -> None:
                nonlocal slowest
                t0 = time.monotonic()
                job(client)
                slowest = max(slowest, time.monotonic() - t0)
                time.sleep(seconds / max(len(jobs), 1) * 4)

            return run

        run_senders([paced(job) for job in jobs], senders=4)
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        self.broker.set_mode(PASS)
        row.sent = len(orgs)
        license_ids = self._apply_check(row, orgs, timeout=180)
        self._suspension_check(row, targets)
        traffic.report(row)
        if slowest > 15:
            row.fail(f"a request took {slowest:.0f}s")
        else:
            row.note += f", slowest request {slowest:.1f}s"
        compare_emails(row, *settle(self.sink, mark, since, 180, license_ids + targets))
        self.rows.append(row)

    def broker_refusing(self) -> None:
        from chaos.proxy import REFUSE

        self._broker_fault(REFUSE, "broker refusing")

    def broker_hanging(self) -> None:
        from chaos.proxy import HANG

        self._broker_fault(HANG, "broker hanging")

    def worker_kill(self) -> None:
        """kill -9 the worker mid-sweep of many due trials, then again mid-relay (emails)."""
        from licenses.choices import EventKind
        from licenses.models import License, LicenseEvent

        count = int(os.environ.get("CHAOS_SWEEP_LICENSES", "5000" if self.short else "50000"))
        row = Row("worker kill -9", note=f"sweep of {count} due trials")
        # Marked before the trials exist: beat's own sweep may start on them at once.
        mark, since = self.sink.mark(), last_event_id()
        ids = self._due_trials(count)
        # By id range, not `pk IN (50,000 ids)`: the run polls this every second or two.
        due = License.objects.filter(pk__range=(min(ids), max(ids)), org_name__startswith="Due ")
        assert due.count() == count
        from lmo.celery import app

        app.send_task("licenses.expire_licenses")
        wait_for(lambda: due.filter(status="expired").exists(), 120, "the sweep to start", 0.2)
        row.killed += self.procs.kill9("worker")
        self.procs.start("worker")
        # The killed sweep's task is redelivered only after the visibility timeout; beat
        # starts the next one within its interval. Then kill it again while it sends email.
        wait_for(lambda: self.sink.count() > mark + min(count, 2000) // 4, 300, "emails", 0.2)
        row.killed += self.procs.kill9("worker")
        self.procs.start("worker")
        wait_for(
            lambda: due.filter(status="expired").count() == count,
            600,
            "every due trial to expire",
            every=2,
        )
        expired = due.filter(status="expired").count()
        events = Counter(
            LicenseEvent.objects.filter(
                license_id__gte=min(ids),
                license_id__lte=max(ids),
                kind=EventKind.STATUS_CHANGED,
                after__status="expired",
            ).values_list("license_id", flat=True)
        )
        row.sent, row.applied = count, expired
        row.lost = count - expired
        row.doubled = sum(1 for n in events.values() if n > 1)
        compare_emails(row, *settle(self.sink, mark, since, 900))
        self.rows.append(row)

    def _due_trials(self, count: int) -> list[int]:
        return self._bulk_trials("due", count, due=True)

    def _bulk_trials(self, label: str, count: int, *, due: bool) -> list[int]:
        """Trials written straight to the table (set-up, not traffic): ended ten days ago
        when `due`, else running for twenty more days."""
        from django.utils import timezone

        from licenses.models import License

        now = timezone.now()
        started = now - dt.timedelta(days=40 if due else 10)
        orgs = self.world.org_ids(label, count)
        rows = [
            License(
                package=self.world.package,
                version=self.world.version,
                org_id=org_id,
                org_name=f"{label.capitalize()} Org {n}",
                status="trial",
                seats=10,
                installed_at=started,
                trial_started_at=started,
                expires_at=started + dt.timedelta(days=30),
                last_event_at=started,
            )
            for n, org_id in enumerate(orgs)
        ]
        for start in range(0, len(rows), 5000):
            License.objects.bulk_create(rows[start : start + 5000])
        return list(
            License.objects.filter(package=self.world.package, org_id__in=orgs).values_list(
                "pk", flat=True
            )
        )

    def db_kills(self) -> None:
        """Database connections killed every 300 ms during a burst of webhooks and actions."""
        import psycopg2

        row = Row("db connections killed", note="every 300 ms")
        mark, since = self.sink.mark(), last_event_id()
        targets = self._trials(50)
        orgs, deliveries = self._installs("dbkill", 200 if self.short else 1000)
        traffic = Traffic()
        jobs = [self._suspend_job(traffic, pk) for pk in targets]
        jobs += [lambda c, e=e, b=b: post_webhook(c, traffic, e, b) for e, b in deliveries]
        random.Random(7).shuffle(jobs)
        stop = threading.Event()
        kills = Counter()

        def killer() -> None:
            conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=DB_NAME)
            conn.autocommit = True
            while not stop.is_set():
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT application_name, count(pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid() "
                        "AND client_port IS NOT NULL AND client_addr IS NOT NULL "
                        "AND application_name <> 'chaos-harness' GROUP BY 1",
                        [DB_NAME],
                    )
                    for name, count in cursor.fetchall():
                        kills[name] += count
                stop.wait(0.3)
            conn.close()

        thread = threading.Thread(target=killer)
        thread.start()
        run_senders(jobs)
        stop.set()
        thread.join()
        row.sent = len(orgs)
        license_ids = self._apply_check(row, orgs, timeout=900)
        self._suspension_check(row, targets)
        traffic.report(row)
        row.note += ", connections killed: " + ", ".join(
            f"{name or 'unnamed'} {n}" for name, n in sorted(kills.items())
        )
        # Only the worker sends email: one of its connections killed between an email and
        # its record sends that email again.
        row.killed = kills["chaos-worker"]
        compare_emails(row, *settle(self.sink, mark, since, 300, license_ids + targets))
        self.rows.append(row)

    def pg_unreachable(self) -> None:
        """PostgreSQL unreachable for 20 s: every caller gets 503 with Retry-After (never a
        400 or another 5xx), and the app recovers without a restart."""
        from chaos.proxy import PASS, REFUSE

        outage = 20
        row = Row("postgres unreachable", note=f"{outage}s")
        mark, since = self.sink.mark(), last_event_id()
        targets = self._trials(10)
        orgs, deliveries = self._installs("pgdown", 60)
        traffic = Traffic()
        self.pg.set_mode(REFUSE)
        time.sleep(1)
        probes = self._outage_probes(traffic, deliveries[0], targets[0])
        restored = threading.Timer(outage - 1, lambda: self.pg.set_mode(PASS))
        restored.start()
        jobs = [self._suspend_job(traffic, pk) for pk in targets]
        jobs += [lambda c, e=e, b=b: post_webhook(c, traffic, e, b) for e, b in deliveries]
        random.Random(11).shuffle(jobs)
        run_senders(jobs)
        restored.join()
        wait_for(lambda: httpx.get(f"{BASE}/healthz", timeout=5).status_code == 200, 60, "health")
        row.sent = len(orgs)
        license_ids = self._apply_check(row, orgs, timeout=120)
        self._suspension_check(row, targets)
        traffic.report(row)
        for name, response in probes.items():
            body_ok = response.headers.get("content-type", "").startswith("application/json")
            if response.status_code != 503 or not response.headers.get("Retry-After"):
                row.fail(f"{name} answered {response.status_code} during the outage")
            elif not body_ok:
                row.fail(f"{name} answered 503 without a JSON body")
        row.note += ", during: " + ", ".join(
            f"{name} {r.status_code} Retry-After {r.headers.get('Retry-After')}"
            for name, r in probes.items()
        )
        compare_emails(row, *settle(self.sink, mark, since, 120, license_ids + targets))
        self.rows.append(row)

    def _outage_probes(
        self, traffic: Traffic, delivery: tuple[str, dict], license_id: int
    ) -> dict[str, httpx.Response]:
        """One request of each kind while the database is away: the health check, a valid
        signed install, a license check, a staff API list and a staff API action."""
        event_id, body = delivery
        text = json.dumps(body)
        probe_org = self.world.org_ids("pgdown-probe", 1)[0]
        with httpx.Client(timeout=15) as client:
            probes = {
                "healthz": client.get(f"{BASE}/healthz"),
                "webhook": client.post(WEBHOOK_URL, content=text, headers=_sign(event_id, text)),
                "license check": client.get(
                    CHECK_URL,
                    params={"org_id": probe_org, "package_id": self.world.package.package_id},
                    headers={"Authorization": f"Bearer {self.world.subscriber_key}"},
                ),
                "staff list": client.get(f"{BASE}/api/v1/licenses/", headers=self.world.api()),
                "staff action": client.post(
                    f"{BASE}/api/v1/licenses/{license_id}/suspend/",
                    json={"reason": "Chaos: payment overdue"},
                    headers=self.world.api(),
                ),
            }
        for name, response in probes.items():
            if name != "healthz":
                traffic.record(response)
        return probes

    def soak(self) -> None:
        """A steady rate of mixed traffic; web and worker memory must stay flat."""
        seconds = int(os.environ.get("CHAOS_SOAK_SECONDS", "180"))
        rate = float(os.environ.get("CHAOS_SOAK_RATE", "20"))
        row = Row("soak", note=f"{seconds}s at {rate:.0f}/s")
        mark, since = self.sink.mark(), last_event_id()
        orgs = self.world.org_ids("soak", int(seconds * rate / 2) + 10)
        from licenses.models import License

        # Orgs with a license (the storm's, or trials made here when the soak runs alone).
        checks = list(
            License.objects.filter(pk__in=self._trials(300)).values_list("org_id", flat=True)
        )
        traffic = Traffic()
        stop_at = time.monotonic() + seconds
        warm_at = time.monotonic() + min(30, seconds / 4)
        samples: dict[str, list[float]] = {"web": [], "worker": [], "ingest": []}
        sent = 0

        def one(client: httpx.Client, n: int) -> None:
            nonlocal sent
            kind = n % 4
            if kind in (0, 1) and sent < len(orgs):
                org = orgs[sent]
                sent += 1
                post_webhook(
                    client, traffic, f"msg_chaos_soak_{sent}", self.world.install_body(org, sent)
                )
            elif kind == 2:
                response = client.get(
                    CHECK_URL,
                    params={
                        "org_id": random.choice(checks),
                        "package_id": self.world.package.package_id,
                    },
                    headers={"Authorization": f"Bearer {self.world.subscriber_key}"},
                    timeout=30,
                )
                traffic.record(response)
            else:
                response = client.get(
                    f"{BASE}/api/v1/licenses/",
                    params={"page_size": 20},
                    headers=self.world.api(),
                    timeout=30,
                )
                traffic.record(response)

        with httpx.Client() as client:
            n = 0
            next_at = time.monotonic()
            while time.monotonic() < stop_at:
                one(client, n)
                n += 1
                if time.monotonic() >= warm_at and (not samples["web"] or n % int(rate * 10) == 0):
                    for name, values in samples.items():
                        values.append(self.procs.rss_mb(name))
                next_at += 1 / rate
                time.sleep(max(0.0, next_at - time.monotonic()))
        for name, values in samples.items():
            values.append(self.procs.rss_mb(name))
        row.sent = sent
        license_ids = self._apply_check(row, orgs[:sent], timeout=120)
        traffic.report(row)
        for name, values in samples.items():
            first, last = values[0], values[-1]
            growth = last - first
            row.note += f", {name} {first:.0f}->{last:.0f} MiB"
            # Flat: no more than a quarter up, or 25 MiB (caches filling), over the soak.
            if growth > max(25.0, first * 0.25):
                row.fail(f"{name} memory grew {first:.0f}->{last:.0f} MiB")
        compare_emails(row, *settle(self.sink, mark, since, 120, license_ids))
        self.rows.append(row)


SCENARIOS = [
    "storm",
    "broker_refusing",
    "broker_hanging",
    "worker_kill",
    "db_kills",
    "pg_unreachable",
    "soak",
]
SHORT = ["storm", "broker_refusing", "broker_hanging"]


def _database(create: bool) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [DB_NAME],
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        if create:
            cursor.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of: {', '.join(SCENARIOS)}")
    parser.add_argument("--short", action="store_true", help="CI: small storm, broker faults")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    chosen = args.scenarios or (SHORT if args.short else SCENARIOS)

    _harness_env()
    # A stop (timeout, ^C from a wrapper) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import logging

    for noisy in ("mail.log", "httpx", "axes", "celery"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    chaos = None
    try:
        _database(create=True)
        import django

        django.setup()
        from django.conf import settings

        settings.DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = (
            "chaos-harness"
        )
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        chaos = Chaos(short=args.short)
        elapsed: dict[str, float] = {}
        for name in chosen:
            print(f"== {name}", flush=True)
            started = time.monotonic()
            rows_before = len(chaos.rows)
            try:
                getattr(chaos, name)()
            except Exception as exc:  # the table still comes out, with this row failed
                traceback.print_exc()
                chaos.rows[rows_before:] = [Row(name, failures=[f"the run broke: {exc!r}"])]
            elapsed[chaos.rows[-1].scenario] = time.monotonic() - started
            print(f"   done in {elapsed[chaos.rows[-1].scenario]:.0f}s", flush=True)
        print_table(chaos.rows, elapsed)
        return 0 if all(row.ok for row in chaos.rows) else 1
    finally:
        if chaos is not None:
            chaos.close()
        from django.db import connections

        connections.close_all()
        redis.terminate()
        redis.wait(timeout=10)
        if not args.keep_db:
            _database(create=False)


if __name__ == "__main__":
    sys.exit(main())
