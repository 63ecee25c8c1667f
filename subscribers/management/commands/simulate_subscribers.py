import collections
import json
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
from packages.models import Package, SubscriberApiKey
from subscribers.signatures import sign
from subscribers.simulator import Delivery, SimPackage, plan_deliveries

WEBHOOK_PATH = "/api/v1/webhooks/subscriber/"
CHECK_PATH = "/api/v1/subscriber/license/"


class Command(BaseCommand):
    help = (
        "Play a population of subscriber orgs against a running LMO over simulated months: "
        "signed installs, upgrades, uninstalls and usage reports, license checks, duplicate "
        "and out-of-order deliveries. Exits non-zero if the server answers any 5xx."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The LMO's base URL.")
        parser.add_argument(
            "--secret",
            default=None,
            help="The whsec_... signing secret (default: the first of LMO_WEBHOOK_SECRETS).",
        )
        parser.add_argument("--orgs", type=int, default=500)
        parser.add_argument("--seed", type=int, default=7)
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

    def handle(self, *args, **opts) -> None:
        secret = opts["secret"] or next(iter(settings.LMO_WEBHOOK_SECRETS), None)
        if not secret:
            raise CommandError("Pass --secret whsec_... (or set LMO_WEBHOOK_SECRETS).")
        if opts["orgs"] < 1 or opts["months"] < 1 or opts["concurrency"] < 1:
            raise CommandError("--orgs, --months and --concurrency must be at least 1.")
        packages, keys = self._packages_and_keys(opts["package_id"], opts["api_key"])
        deliveries = plan_deliveries(
            packages=packages,
            orgs=opts["orgs"],
            seed=opts["seed"],
            months=opts["months"],
            now=timezone.now(),
        )
        run = _Run(
            base_url=opts["url"].rstrip("/"),
            secret=secret,
            keys=keys,
            checks_every=max(opts["checks_every"], 1),
            progress=not opts["no_progress"],
        )
        run.send(deliveries, concurrency=opts["concurrency"])
        for line in run.summary_lines():
            self.stdout.write(line)
        if run.counts["5xx"]:
            raise CommandError(f"The server answered {run.counts['5xx']} request(s) with a 5xx.")
        if run.counts["transport_errors"] == run.counts["sent"] + run.counts["checks"]:
            raise CommandError(f"Could not reach {opts['url']}.")

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


class _Run:
    """Sends a plan: one thread per slice of orgs, so each org's deliveries keep their order."""

    def __init__(
        self, *, base_url: str, secret: str, keys: dict[str, str], checks_every: int, progress: bool
    ) -> None:
        self.base_url = base_url
        self.secret = secret
        self.keys = keys
        self.checks_every = checks_every
        self.progress = progress
        self.counts: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.elapsed = 0.0

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

    def _lane(self, lane: list[Delivery], bar: tqdm) -> None:
        seen_orgs: list[tuple[str, str]] = []
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for index, delivery in enumerate(lane, start=1):
                self._deliver(client, delivery)
                if delivery.body.get("type") == "package.installed":
                    seen_orgs.append((delivery.package_id, delivery.org_id))
                if seen_orgs and index % self.checks_every == 0:
                    package_id, org_id = seen_orgs[index % len(seen_orgs)]
                    self._check(client, package_id, org_id)
                with self.lock:
                    bar.update(1)

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        raw = json.dumps(delivery.body, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                self.secret, msg_id=delivery.event_id, timestamp=timestamp, body=raw
            ),
        }
        outcome = self._request(client, "POST", WEBHOOK_PATH, content=raw, headers=headers)
        with self.lock:
            self.counts["sent"] += 1
            if delivery.fault:
                self.counts[f"fault_{delivery.fault}"] += 1
            if isinstance(outcome, dict):
                self.counts[outcome.get("outcome", "unknown")] += 1

    def _check(self, client: httpx.Client, package_id: str, org_id: str) -> None:
        key = self.keys.get(package_id)
        if not key:
            return
        outcome = self._request(
            client,
            "GET",
            CHECK_PATH,
            params={"org_id": org_id, "package_id": package_id},
            headers={"authorization": f"Bearer {key}"},
            check=True,
        )
        with self.lock:
            self.counts["checks"] += 1
            if isinstance(outcome, dict):
                self.counts["checks_access" if outcome.get("access") else "checks_denied"] += 1

    def _request(self, client: httpx.Client, method: str, path: str, check: bool = False, **kw):
        try:
            response = client.request(method, path, **kw)
        except httpx.HTTPError:
            with self.lock:
                self.counts["transport_errors"] += 1
            return None
        with self.lock:
            if response.status_code >= 500:
                self.counts["5xx"] += 1
            elif response.status_code == 404 and check:
                self.counts["checks_not_found"] += 1
            elif response.status_code >= 400:
                self.counts["rejected"] += 1
        if response.status_code != 200:
            return None
        try:
            body: Any = response.json()
        except ValueError:
            return None
        return body

    def summary_lines(self) -> list[str]:
        c = self.counts
        requests = c["sent"] + c["checks"]
        rate = requests / self.elapsed if self.elapsed else 0.0
        errors = c["5xx"] + c["transport_errors"] + c["rejected"]
        return [
            f"sent {c['sent']} events ({c['fault_duplicate']} duplicate and {c['fault_late']} "
            "late deliveries injected)",
            f"applied {c['applied']}, duplicate {c['duplicate']}, ignored {c['ignored']}, "
            f"unrouted {c['unrouted']}",
            f"license checks {c['checks']}: {c['checks_access']} access, "
            f"{c['checks_denied']} denied, {c['checks_not_found']} not found",
            f"errors {errors} ({c['5xx']} 5xx, {c['rejected']} rejected 4xx, "
            f"{c['transport_errors']} transport)",
            f"{requests} requests in {self.elapsed:.1f}s: {rate:.0f} requests/s",
        ]
