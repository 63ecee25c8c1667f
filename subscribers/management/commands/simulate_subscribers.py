import collections
import datetime as dt
import json
import random
import threading
import time
import zlib
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone
from tqdm import tqdm

from core.salesforce_ids import PACKAGE_PREFIX, try_normalize
from features.choices import Direction
from features.models import FeatureParameter
from lmo import clock
from packages.models import Package, SubscriberApiKey
from subscribers.signatures import sign
from subscribers.simulator import Delivery, SimPackage, plan_deliveries

WEBHOOK_PATH = "/api/v1/webhooks/subscriber/"


def _fast_forward(text: str | None) -> dt.timedelta:
    if not text:
        return dt.timedelta(0)
    from clock.exceptions import ClockError
    from clock.services import parse_duration

    if not clock.simulated_clock_enabled():
        raise CommandError("--fast-forward moves the simulated clock: set LMO_SIMULATED_CLOCK=1.")
    try:
        forward = parse_duration(text)
    except ClockError as exc:
        raise CommandError(exc.message) from None
    if forward < dt.timedelta(days=1):
        raise CommandError("--fast-forward: at least 1d.")
    return forward


CHECK_PATH = "/api/v1/subscriber/license/"


class Command(BaseCommand):
    help = (
        "Play a population of subscriber orgs against a running LMO over simulated months: "
        "signed installs, upgrades, uninstalls and usage reports, license checks, duplicate "
        "and out-of-order deliveries. Retries 5xx, 429 and timeouts on the Standard Webhooks "
        "schedule, waits for the events to settle, and exits non-zero if one was lost or "
        "stayed queued."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The LMO's base URL.")
        parser.add_argument(
            "--secret",
            default=None,
            help="The whsec_... signing secret (default: the first of LMO_WEBHOOK_SECRETS).",
        )
        parser.add_argument("--orgs", type=int, default=500)
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Same seed, same orgs and event ids (default: a new one per run, printed).",
        )
        parser.add_argument("--months", type=int, default=6)
        parser.add_argument(
            "--package-id",
            action="append",
            default=[],
            help="A package to install (repeatable). Default: every linked package in the "
            "database this command is configured for.",
        )
        parser.add_argument(
            "--api-key",
            action="append",
            default=[],
            help="Subscriber API key for the license checks, one per --package-id in the same "
            "order. Default: one key per package is created in the database.",
        )
        parser.add_argument("--checks-every", type=int, default=5, help="A check per N events.")
        parser.add_argument("--concurrency", type=int, default=4, help="Parallel senders.")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--retry-scale",
            type=float,
            default=1.0,
            help="Multiply the retry delays (Standard Webhooks: 5 s, 5 min, 30 min, 2 h...) "
            "by this, e.g. 0.01 in tests.",
        )
        parser.add_argument(
            "--settle-timeout",
            type=float,
            default=120.0,
            help="Seconds to wait for every accepted event to leave the queue.",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="Per request, seconds.")
        parser.add_argument(
            "--fast-forward",
            default=None,
            metavar="DURATION",
            help="Play the months forward from the clock's time over DURATION (e.g. 180d), "
            "moving the simulated clock a day at a time and running the sweep, so trials "
            "lapse, grace and overrides end. Needs LMO_SIMULATED_CLOCK=1 here and on the "
            "server, and the server's database.",
        )

    def handle(self, *args, **opts) -> None:
        secret = opts["secret"] or next(iter(settings.LMO_WEBHOOK_SECRETS), None)
        if not secret:
            raise CommandError("Pass --secret whsec_... (or set LMO_WEBHOOK_SECRETS).")
        if opts["orgs"] < 1 or opts["months"] < 1 or opts["concurrency"] < 1:
            raise CommandError("--orgs, --months and --concurrency must be at least 1.")
        forward = _fast_forward(opts["fast_forward"])
        packages, keys = self._packages_and_keys(opts["package_id"], opts["api_key"])
        seed = opts["seed"] if opts["seed"] is not None else random.randrange(1_000, 1_000_000)
        start = clock.now()
        deliveries = plan_deliveries(
            packages=packages,
            orgs=opts["orgs"],
            seed=seed,
            # Played forward, the months end `forward` after the clock's time.
            months=-(-forward.days // 30) if forward else opts["months"],
            now=start + forward if forward else timezone.now(),
        )
        run = _Run(
            base_url=opts["url"].rstrip("/"),
            secret=secret,
            keys=keys,
            checks_every=max(opts["checks_every"], 1),
            progress=not opts["no_progress"],
            retry_scale=max(opts["retry_scale"], 0.0),
            timeout=opts["timeout"],
        )
        try:
            httpx.get(run.base_url + WEBHOOK_PATH, timeout=opts["timeout"])
        except httpx.HTTPError as exc:
            raise CommandError(f"Could not reach {opts['url']}: {exc}") from None
        self.stdout.write(f"seed {seed}: {len(deliveries)} deliveries")
        if forward:
            self._play_forward(run, deliveries, start=start, forward=forward, opts=opts)
        else:
            run.send(deliveries, concurrency=opts["concurrency"])
        run.settle(timeout=opts["settle_timeout"])
        for line in run.summary_lines():
            self.stdout.write(line)
        if run.lost or run.stuck:
            raise CommandError(
                f"{len(run.lost)} event(s) lost and {len(run.stuck)} still queued after "
                f"{opts['settle_timeout']:.0f}s."
            )

    def _play_forward(self, run, deliveries, *, start, forward, opts) -> None:
        """A day at a time: move the clock to the day's end, run the sweep as beat would,
        then send that day's deliveries (whose times the server now accepts)."""
        from clock.services import clock_set
        from features.services import feature_overrides_sweep
        from licenses.sweeps import licenses_sweep_due

        run.progress = False
        elapsed, sent, index = 0.0, 0, 0
        days = max(forward.days, 1)
        for day in range(1, days + 1):
            until = start + forward * day / days
            clock_set(by="simulate_subscribers", to=until, note="simulate_subscribers")
            licenses_sweep_due(now=until)
            feature_overrides_sweep(now=until)
            batch = []
            while index < len(deliveries) and deliveries[index].deliver_at <= until:
                batch.append(deliveries[index])
                index += 1
            if batch:
                run.send(batch, concurrency=opts["concurrency"])
                elapsed += run.elapsed
                sent += len(batch)
            if day % 30 == 0 or day == days:
                self.stdout.write(f"clock {until:%Y-%m-%d %H:%M} UTC: {sent} deliveries sent")
        run.elapsed = elapsed

    def _packages_and_keys(
        self, package_ids: list[str], api_keys: list[str]
    ) -> tuple[list[SimPackage], dict[str, str]]:
        if api_keys and len(api_keys) != len(package_ids):
            raise CommandError("Give one --api-key per --package-id, in the same order.")
        normalized = []
        for value in package_ids:
            package_id = try_normalize(value, prefix=PACKAGE_PREFIX)
            if package_id is None:
                raise CommandError(f"{value!r} is not a package id (033..., 15 or 18 characters).")
            normalized.append(package_id)
        try:
            return self._from_database(normalized, api_keys)
        except DatabaseError:
            if not normalized:
                raise CommandError(
                    "No database to read packages from: pass --package-id (and --api-key)."
                ) from None
        # Against a remote LMO: only what the command line says.
        return [SimPackage(package_id=p, versions=[]) for p in normalized], dict(
            zip(normalized, api_keys, strict=False)
        )

    def _from_database(
        self, package_ids: list[str], api_keys: list[str]
    ) -> tuple[list[SimPackage], dict[str, str]]:
        queryset = Package.objects.all()
        queryset = (
            queryset.filter(package_id__in=package_ids)
            if package_ids
            else queryset.filter(license_manager_linked=True)
        )
        found = {p.package_id: p for p in queryset}
        if not package_ids and not found:
            raise CommandError("No linked package in the database: pass --package-id.")
        packages, keys = [], dict(zip(package_ids, api_keys, strict=False))
        for package_id in package_ids or sorted(found):
            package = found.get(package_id)
            if package is None:
                packages.append(SimPackage(package_id=package_id, versions=[]))
                continue
            versions = [
                (v.version_number, v.version_id)
                for v in package.versions.released().order_by("major", "minor", "patch")
            ]
            parameters = dict(
                FeatureParameter.objects.filter(
                    package=package, direction=Direction.SUBSCRIBER_TO_LMO
                ).values_list("developer_name", "data_type")
            )
            packages.append(SimPackage(package_id, versions, parameters))
            if package_id not in keys:
                _, keys[package_id] = SubscriberApiKey.issue(
                    package=package, name="simulate_subscribers"
                )
        return packages, keys


# Standard Webhooks' retry schedule (seconds after the previous attempt).
RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 60 * 60, 5 * 60 * 60, 10 * 60 * 60, 10 * 60 * 60)
FINAL_STATUSES = ("applied", "ignored", "unrouted", "failed")


class _Run:
    """Sends a plan: one thread per slice of orgs, so each org's deliveries keep their order.

    Like a real sender, it retries a delivery answered 5xx or 429, or not answered, on the
    Standard Webhooks schedule; then it redelivers each accepted event until it settles,
    which tells its final status.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        keys: dict[str, str],
        checks_every: int,
        progress: bool,
        retry_scale: float = 1.0,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.secret = secret
        self.keys = keys
        self.checks_every = checks_every
        self.progress = progress
        self.retry_scale = retry_scale
        self.timeout = timeout
        self.counts: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.elapsed = 0.0
        self.settle_elapsed = 0.0
        # Event id -> its body and latest known status, for every event the server stored.
        self.statuses: dict[str, str] = {}
        self.bodies: dict[str, dict] = {}
        self.sent_ids: set[str] = set()
        self.lost: set[str] = set()
        self.stuck: set[str] = set()

    def send(self, deliveries: list[Delivery], *, concurrency: int) -> None:
        lanes: list[list[Delivery]] = [[] for _ in range(concurrency)]
        for delivery in deliveries:
            lanes[zlib.crc32(delivery.org_id.encode()) % concurrency].append(delivery)
        bar = tqdm(
            total=len(deliveries), unit="event", disable=not self.progress, desc="subscribers"
        )
        started = time.perf_counter()
        threads = [
            threading.Thread(target=self._lane, args=(lane, bar), daemon=True) for lane in lanes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.perf_counter() - started
        bar.close()
        self.lost = self.sent_ids - set(self.statuses)

    def _lane(self, lane: list[Delivery], bar: tqdm) -> None:
        seen_orgs: list[tuple[str, str]] = []
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            for index, delivery in enumerate(lane, start=1):
                self._deliver(client, delivery)
                if delivery.body.get("type") == "package.installed":
                    seen_orgs.append((delivery.package_id, delivery.org_id))
                if seen_orgs and index % self.checks_every == 0:
                    package_id, org_id = seen_orgs[index % len(seen_orgs)]
                    self._check(client, package_id, org_id)
                with self.lock:
                    bar.update(1)

    def _post(self, client: httpx.Client, event_id: str, body: dict) -> httpx.Response | None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, msg_id=event_id, timestamp=timestamp, body=raw),
        }
        return self._request(client, "POST", WEBHOOK_PATH, content=raw, headers=headers)

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        with self.lock:
            self.counts["sent"] += 1
            self.sent_ids.add(delivery.event_id)
            self.bodies.setdefault(delivery.event_id, delivery.body)
            if delivery.fault:
                self.counts[f"fault_{delivery.fault}"] += 1
        for attempt in range(len(RETRY_SCHEDULE) + 1):
            response = self._post(client, delivery.event_id, delivery.body)
            if (
                response is not None
                and response.status_code < 500
                and (response.status_code != 429)
            ):
                break
            if attempt == len(RETRY_SCHEDULE):
                return
            delay = RETRY_SCHEDULE[attempt]
            if response is not None and response.headers.get("retry-after", "").isdigit():
                delay = max(delay, int(response.headers["retry-after"]))
            with self.lock:
                self.counts["retries"] += 1
            time.sleep(delay * self.retry_scale)
        with self.lock:
            self.counts["answered"] += 1
            if response.status_code in (200, 202):
                answer = _json(response) or {}
                if answer.get("duplicate"):
                    self.counts["duplicate"] += 1
                self.statuses[delivery.event_id] = answer.get("status", "queued")
            else:
                self.counts["rejected"] += 1

    def settle(self, *, timeout: float) -> None:
        """Redeliver every event still queued until it is not, or `timeout` passes."""
        started = time.perf_counter()
        pause = 0.05
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            while True:
                waiting = [i for i, status in self.statuses.items() if status == "queued"]
                if not waiting or time.perf_counter() - started > timeout:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                for event_id in waiting:
                    response = self._post(client, event_id, self.bodies[event_id])
                    if response is not None and response.status_code == 200:
                        self.statuses[event_id] = (_json(response) or {}).get("status", "queued")
        self.stuck = {i for i, status in self.statuses.items() if status == "queued"}
        self.settle_elapsed = time.perf_counter() - started

    def _check(self, client: httpx.Client, package_id: str, org_id: str) -> None:
        key = self.keys.get(package_id)
        if not key:
            return
        response = self._request(
            client,
            "GET",
            CHECK_PATH,
            params={"org_id": org_id, "package_id": package_id},
            headers={"authorization": f"Bearer {key}"},
        )
        with self.lock:
            self.counts["checks"] += 1
            if response is None:
                return
            if response.status_code == 200:
                answer = _json(response) or {}
                self.counts["checks_access" if answer.get("access") else "checks_denied"] += 1
            elif response.status_code == 404:
                self.counts["checks_not_found"] += 1

    def _request(self, client: httpx.Client, method: str, path: str, **kw) -> httpx.Response | None:
        try:
            response = client.request(method, path, **kw)
        except httpx.HTTPError:
            with self.lock:
                self.counts["transport_errors"] += 1
            return None
        with self.lock:
            if response.status_code >= 500:
                self.counts["5xx"] += 1
            elif response.status_code == 429:
                self.counts["429"] += 1
        return response

    def summary_lines(self) -> list[str]:
        c = self.counts
        final = collections.Counter(self.statuses.values())
        requests = c["sent"] + c["checks"]
        rate = requests / self.elapsed if self.elapsed else 0.0
        # Every delivery ends as one of these: the first stored copy of an event by its
        # final status, a later copy as a duplicate, a refused one, or one never stored.
        duplicates = c["answered"] - c["rejected"] - len(self.statuses)
        lost_deliveries = c["sent"] - c["answered"]
        return [
            f"sent {c['sent']} deliveries of {len(self.sent_ids)} events ({c['fault_duplicate']} "
            f"duplicate and {c['fault_late']} late deliveries injected)",
            f"applied {final['applied']}, ignored {final['ignored']}, unrouted "
            f"{final['unrouted']}, failed {final['failed']}, duplicate {duplicates}, rejected "
            f"{c['rejected']}, lost {lost_deliveries}, still queued {final['queued']} "
            f"(total {sum(final.values()) + duplicates + c['rejected'] + lost_deliveries})",
            f"license checks {c['checks']}: {c['checks_access']} access, "
            f"{c['checks_denied']} denied, {c['checks_not_found']} not found",
            f"server answers: {c['5xx']} 5xx, {c['429']} throttled, {c['transport_errors']} "
            f"transport errors; {c['retries']} retries",
            f"{requests} requests in {self.elapsed:.1f}s: {rate:.0f} requests/s; settled "
            f"{self.settle_elapsed:.1f}s later",
        ]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
