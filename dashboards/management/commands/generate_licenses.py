"""Fill the database with a realistic population of licenses and their history, fast.

Three years of installs that grow over time across the linked packages (sandboxes among
them), each with the history the License methods would have written: the install, a
purchase within the trial for about a third, upgrades as versions came out, usage reports
(some over their seats), suspensions, trials and contracts that ended (expired by the
sweep) and uninstalls; and each license's feature values. Rows go in by batches (COPY on
PostgreSQL, bulk inserts elsewhere), written from plain values rather than model instances
(which cost more than the database's work), all in one transaction. What the new licenses
add to the dashboards' rollup is counted as they are written, by the rollup's own rules
(`dashboards.rollup.Recount`, as `rebuild_rollups` counts), and added at the end.

For benchmarks and demos: it never changes existing licenses, and it writes no leads,
accounts, inbox rows or notifications.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import queue
import random
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.db.models import Max

from core.salesforce_ids import normalize_salesforce_id
from dashboards.rollup import Recount, version_ids
from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from licenses.choices import Actor, EventKind, LicenseStatus, OrgType
from licenses.models import License, LicenseEvent
from licenses.signals import LicenseSnapshot
from lmo import clock
from packages.choices import SITE_LICENSE
from packages.models import Package, PackageVersion

YEARS = 3
BATCH = 5000
SEAT_CHOICES = (5, 10, 10, 25, 25, 50, 100, 250, SITE_LICENSE)
ALPHABET = string.ascii_letters + string.digits


@dataclass
class Catalogue:
    package: Package
    versions: list[PackageVersion]  # released, oldest first
    released_at: list[dt.datetime]
    parameters: list[FeatureParameter]
    weight: float


# Org names as customers have them: a few words, many shared (franchises, common words).
NAME_WORDS = [
    "Acme",
    "Apex",
    "Atlas",
    "Aurora",
    "Beacon",
    "Blue",
    "Bright",
    "Cedar",
    "Summit",
    "Coastal",
    "Crescent",
    "Delta",
    "Eagle",
    "Evergreen",
    "Frontier",
    "Global",
    "Granite",
    "Harbor",
    "Horizon",
    "Iron",
    "Keystone",
    "Lakeside",
    "Liberty",
    "Maple",
    "Meridian",
    "North",
    "Oak",
    "Pacific",
    "Pioneer",
    "Prime",
    "Red",
    "River",
    "Sierra",
    "Silver",
    "Star",
    "Sterling",
    "Union",
    "United",
    "Valley",
    "Vertex",
    "West",
]
NAME_TRADES = [
    "Logistics",
    "Health",
    "Foods",
    "Energy",
    "Bank",
    "Insurance",
    "Motors",
    "Software",
    "Retail",
    "Labs",
    "Media",
    "Capital",
    "Telecom",
    "Pharma",
    "Realty",
    "Travel",
    "Consulting",
    "Manufacturing",
    "Analytics",
    "Outdoor",
    "Foods",
    "Freight",
]
NAME_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Corp", "SA", "")


def _org_name(rng: random.Random) -> str:
    words = [rng.choice(NAME_WORDS), rng.choice(NAME_TRADES), rng.choice(NAME_SUFFIXES)]
    return " ".join(word for word in words if word)


def _org_id(rng: random.Random) -> str:
    return normalize_salesforce_id("00D" + "".join(rng.choices(ALPHABET, k=12)), prefix="00D")


def _ensure_catalogue(rng: random.Random, now: dt.datetime) -> list[Catalogue]:
    """The linked packages whose installs start a trial, with their released versions;
    three made up when there are none (versions released over the years, a few feature
    parameters each)."""
    linked = Package.objects.filter(license_manager_linked=True, default_status="trial")
    packages = list(linked.order_by("pk"))
    if not packages:
        start = now - dt.timedelta(days=365 * YEARS)
        for n, (name, namespace) in enumerate(
            [("Field Service Pro", "fsp"), ("Quote Builder", "qbld"), ("Data Sync", "dsync")]
        ):
            package = Package.objects.create(
                name=name,
                namespace=namespace,
                package_id=normalize_salesforce_id(f"033{n:012d}", prefix="033"),
                developer_org_id=normalize_salesforce_id(f"00D{n:012d}", prefix="00D"),
                license_manager_linked=True,
                linked_at=start,
                default_status="trial",
                trial_days=30,
                default_seats=10,
            )
            for v in range(8):
                PackageVersion.objects.create(
                    package=package,
                    version_number=f"{1 + v // 3}.{v % 3}.0",
                    version_id=normalize_salesforce_id(f"04t{n:06d}{v:06d}", prefix="04t"),
                    name=f"Release {v}",
                    release_date=(start + dt.timedelta(days=v * 140)).date(),
                )
            PackageVersion.objects.create(
                package=package,
                version_number="9.0.0",
                version_id=normalize_salesforce_id(f"04t{n:06d}999999", prefix="04t"),
                name="Beta",
                release_date=now.date(),
                is_beta=True,
            )
            for dev, data_type, direction in [
                ("Premium_Sync", DataType.BOOLEAN, Direction.LMO_TO_SUBSCRIBER),
                ("Advanced_Reports", DataType.BOOLEAN, Direction.LMO_TO_SUBSCRIBER),
                ("Jobs_Run", DataType.INTEGER, Direction.SUBSCRIBER_TO_LMO),
            ]:
                FeatureParameter.objects.create(
                    package=package,
                    developer_name=dev,
                    label=dev.replace("_", " "),
                    data_type=data_type,
                    direction=direction,
                    default_boolean=False if data_type == DataType.BOOLEAN else None,
                )
        packages = list(linked.order_by("pk"))
    catalogue = []
    for n, package in enumerate(packages):
        versions = [v for v in package.versions.released().order_by("major", "minor", "patch")]
        if not versions:
            raise CommandError(f"Package {package.name} has no released version.")
        released = [
            dt.datetime.combine(v.release_date, dt.time(), tzinfo=dt.UTC)
            if v.release_date
            else now - dt.timedelta(days=365 * YEARS)
            for v in versions
        ]
        catalogue.append(
            Catalogue(
                package, versions, released, list(package.feature_parameters.all()), 1 / (n + 1)
            )
        )
    return catalogue


# COPY's text format: \N is NULL; backslash, tab and newlines are escaped.
COPY_NULL = "\\N"
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_converter(field: models.Field) -> Callable[[Any], str]:
    """The function that writes one field's value in COPY's text format."""
    if isinstance(field, models.JSONField):
        encode = field.encoder().encode if field.encoder else json.JSONEncoder().encode
        return lambda value: encode(value).translate(COPY_ESCAPES)
    if isinstance(field, models.BooleanField):
        return {True: "t", False: "f", None: COPY_NULL}.__getitem__
    if isinstance(field, models.DateTimeField | models.DateField):
        return lambda value: COPY_NULL if value is None else value.isoformat()
    if isinstance(field, models.IntegerField | models.ForeignKey | models.AutoField):
        return lambda value: COPY_NULL if value is None else str(int(value))
    return lambda value: COPY_NULL if value is None else str(value).translate(COPY_ESCAPES)


class Table:
    """Rows of one model given as {attname: value}: as COPY text (PostgreSQL) or as
    instances for bulk_create (elsewhere). The columns, and the values of those a row
    leaves out, come from the model's fields (their defaults; `now` for the automatic
    times). Rows carry their "id" when the table's rows are referred to by others."""

    def __init__(self, model: type[models.Model], now: dt.datetime, *, with_ids: bool) -> None:
        self.model = model
        fields = [f for f in model._meta.concrete_fields if with_ids or not f.primary_key]
        self.names = [f.attname for f in fields]
        self.columns = [f.column for f in fields]
        self.defaults: dict[str, object] = {}
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                self.defaults[field.attname] = now
            else:  # its default, else "" for a text column, else None
                self.defaults[field.attname] = field.get_default()
        self.converters = [_copy_converter(f) for f in fields]

    def text(self, rows: list[dict]) -> str:
        """The rows in COPY's text format; a value a row leaves out is its column's
        default, converted once."""
        columns = [
            (name, convert, convert(self.defaults[name]))
            for name, convert in zip(self.names, self.converters, strict=True)
        ]
        lines = [
            "\t".join(
                [
                    convert(row[name]) if name in row else default
                    for name, convert, default in columns
                ]
            )
            for row in rows
        ]
        return "\n".join(lines) + "\n" if lines else ""

    def copy(self, text: str) -> None:
        if not text:
            return
        quote = connection.ops.quote_name
        columns = ", ".join(quote(c) for c in self.columns)
        with connection.cursor() as cursor:
            # Read in one piece: the rows are already in memory.
            cursor.copy_expert(
                f"COPY {quote(self.model._meta.db_table)} ({columns}) FROM STDIN",
                io.StringIO(text),
                size=len(text) + 1,
            )

    def bulk_create(self, rows: list[dict]) -> None:
        objects = [self.model(**{**self.defaults, **row}) for row in rows]
        self.model.objects.bulk_create(objects, batch_size=1000)


def _license_ids(count: int) -> Iterator[int]:
    """Ids for the new licenses, known before they are written (their history and values
    refer to them): from the table's sequence on PostgreSQL, after the newest elsewhere."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [License._meta.db_table, count],
            )
            return iter([pk for (pk,) in cursor.fetchall()])
    newest = License.objects.aggregate(newest=Max("id"))["newest"] or 0
    return iter(range(newest + 1, newest + count + 1))


def _version_at(entry: Catalogue, moment: dt.datetime) -> int:
    index = 0
    for i, released in enumerate(entry.released_at):
        if released <= moment:
            index = i
    return index


def _snapshot(license: dict) -> LicenseSnapshot:
    return LicenseSnapshot(
        *(license.get(field) for field in LicenseSnapshot._fields[:-1]), license["id"]
    )


class Command(BaseCommand):
    help = "Insert N licenses of the linked packages with three years of history (fast)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, required=True, help="Licenses to create.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--no-rollup",
            action="store_true",
            help="Leave the dashboards' rollup as it is (then run rebuild_rollups).",
        )

    def handle(self, *args, count: int, seed: int, no_rollup: bool, **options) -> None:
        if count < 1:
            raise CommandError("--count must be at least 1.")
        # Another run adds other orgs: seeded by what exists too.
        newest = License.objects.aggregate(newest=Max("id"))["newest"] or 0
        rng = random.Random(f"{seed}:{newest}")
        now = clock.now()
        started = time.monotonic()
        self.verbose, self.total = options["verbosity"] > 1, count
        catalogue = _ensure_catalogue(rng, now)
        tables = {
            License: Table(License, now, with_ids=True),
            LicenseEvent: Table(LicenseEvent, now, with_ids=False),
            FeatureParameterValue: Table(FeatureParameterValue, now, with_ids=False),
        }
        # What the new licenses add to the rollup, counted by the rollup's own rules as they
        # are made, and added to the stored counts with them.
        recount = None if no_rollup else Recount(version_ids())
        with transaction.atomic():
            batches = self._batches(rng, now, catalogue, _license_ids(count), count, recount)
            if connection.vendor == "postgresql":
                self._copy(batches, tables, started)
            else:
                for n, batch in enumerate(batches, 1):
                    for model, rows in batch.items():
                        tables[model].bulk_create(rows)
                    self._progress(min(n * BATCH, count), count, started)
            if recount is not None:
                written = recount.add_to_stored()
                self.stdout.write(f"Rollup counted: {written}")
        if connection.vendor == "postgresql":
            # Fresh statistics of every table (the licenses and the catalogue it may have
            # made alike), so the planner knows what it now holds: the dashboards' queries
            # choose their plans by them, well before autovacuum would have looked.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            self.style.SUCCESS(f"{count} licenses in {time.monotonic() - started:.1f}s.")
        )

    def _progress(self, done: int, count: int, started: float) -> None:
        if self.verbose or done % (BATCH * 20) == 0 or done == count:
            rate = done / (time.monotonic() - started)
            self.stdout.write(f"{done} licenses ({rate:,.0f}/s)")

    def _copy(self, batches: Iterator[dict], tables: dict, started: float) -> None:
        """COPY the batches while the next ones are made: a thread makes each batch and
        its COPY text (Python) while this one waits for the server to store the previous
        (the database driver lets go of the interpreter while it waits), so the two
        overlap on two cores."""
        ready: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def make() -> None:
            try:
                for batch in batches:
                    texts = {model: tables[model].text(rows) for model, rows in batch.items()}
                    item = (len(batch[License]), texts)
                    while not stop.is_set():
                        with suppress(queue.Full):
                            ready.put(item, timeout=0.5)
                            break
                    if stop.is_set():
                        return
                ready.put(None)
            except BaseException as exc:  # handed to the writer, which raises it
                ready.put(exc)

        maker = threading.Thread(target=make, name="generate_licenses", daemon=True)
        with connection.cursor() as cursor:
            # Foreign keys checked as each COPY runs, rather than all at the commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        maker.start()
        done = 0
        waited = copying = 0.0  # which side holds the other up: Python or the database
        try:
            while True:
                before = time.monotonic()
                item = ready.get()
                waited += time.monotonic() - before
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                size, texts = item
                before = time.monotonic()
                for model, text in texts.items():  # licenses first: the others refer to them
                    tables[model].copy(text)
                copying += time.monotonic() - before
                done += size
                self._progress(done, self.total, started)
            self.stdout.write(f"COPY {copying:.1f}s; waiting for the next batch {waited:.1f}s.")
        finally:
            stop.set()
            maker.join()

    def _batches(
        self,
        rng: random.Random,
        now: dt.datetime,
        catalogue: list[Catalogue],
        ids: Iterator[int],
        count: int,
        recount: Recount | None,
    ) -> Iterator[dict[type[models.Model], list[dict]]]:
        """The licenses in batches, each {model: rows}, licenses first; no database access
        (they may be made in another thread)."""
        weights = [entry.weight for entry in catalogue]
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            yield self._batch(rng, now, catalogue, weights, size, ids, recount)
            done += size

    def _batch(
        self,
        rng: random.Random,
        now: dt.datetime,
        catalogue: list[Catalogue],
        weights: list[float],
        size: int,
        ids: Iterator[int],
        recount: Recount | None,
    ) -> dict[type[models.Model], list[dict]]:
        span = dt.timedelta(days=365 * YEARS).total_seconds()
        plans = []
        for entry in rng.choices(catalogue, weights, k=size):
            # More installs lately: the population grows.
            installed = now - dt.timedelta(seconds=span * (1 - rng.random() ** 0.6))
            plan = self._plan(rng, now, entry, installed)
            plan["license"]["id"] = next(ids)
            plans.append((entry, plan))
        events, values = [], []
        for entry, plan in plans:
            license = plan["license"]
            history = []
            for kind, at, actor, before, after in plan["events"]:
                events.append(
                    {
                        "license_id": license["id"],
                        "at": at,
                        "actor": actor,
                        "kind": kind,
                        "before": before,
                        "after": after,
                    }
                )
                history.append((kind, at, after))
            snapshot = _snapshot(license)
            if recount is not None:
                recount.add_license(snapshot, history)
            for parameter in entry.parameters:
                value = {
                    "license_id": license["id"],
                    "parameter_id": parameter.pk,
                    "data_type": parameter.data_type,
                    "updated_at": plan["last_change"],
                }
                if parameter.data_type == DataType.BOOLEAN:
                    typed = value["value_boolean"] = rng.random() < 0.3
                elif parameter.data_type == DataType.INTEGER:
                    typed = value["value_integer"] = (
                        int(rng.paretovariate(1.5) * 20) if rng.random() < 0.7 else None
                    )
                else:
                    typed = value["value_date"] = parameter.default_date
                values.append(value)
                if recount is not None:
                    recount.add_feature_value(snapshot, parameter.pk, parameter.data_type, typed)
        return {
            License: [plan["license"] for _, plan in plans],
            LicenseEvent: events,
            FeatureParameterValue: values,
        }

    def _plan(
        self, rng: random.Random, now: dt.datetime, entry: Catalogue, installed: dt.datetime
    ) -> dict:
        """One license's life, as the License methods would have recorded it."""
        sandbox = rng.random() < 0.1
        version_index = _version_at(entry, installed)
        version = entry.versions[version_index]
        trial_end = installed + dt.timedelta(days=entry.package.trial_days or 30)
        seats = SITE_LICENSE if sandbox else entry.package.default_seats
        license = {
            "package_id": entry.package.pk,
            "version_id": version.pk,
            "org_id": _org_id(rng),
            "org_name": _org_name(rng),
            "org_edition": "Enterprise Edition",
            "org_instance": f"NA{rng.randrange(100, 200)}",
            "org_type": OrgType.SANDBOX if sandbox else OrgType.PRODUCTION,
            "is_sandbox": sandbox,
            "status": LicenseStatus.TRIAL,
            "seats": seats,
            "used_licenses": None,
            "installed_at": installed,
            "trial_started_at": installed,
            "activated_at": None,
            "expires_at": trial_end,
            "uninstalled_at": None,
            "previous_license_id": None,
            "last_event_at": installed,
        }
        events = [
            (
                EventKind.INSTALLED,
                installed,
                Actor.SUBSCRIBER,
                {},
                {
                    "status": LicenseStatus.TRIAL,
                    "seats": seats,
                    "expires_at": trial_end,
                    "version": version.version_number,
                    "previous_license": None,
                },
            )
        ]
        moments = []  # (at, change) in time order, applied below

        if rng.random() < 0.38:  # bought during the trial
            bought = installed + dt.timedelta(days=rng.uniform(1, 29))
            moments.append((bought, "activate"))
            if rng.random() < 0.6:
                moments.append((bought + dt.timedelta(days=rng.uniform(1, 200)), "usage"))
            if rng.random() < 0.05:
                moments.append((bought + dt.timedelta(days=rng.uniform(10, 300)), "suspend"))
        elif rng.random() < 0.15:
            moments.append((installed + dt.timedelta(days=rng.uniform(1, 29)), "usage"))
        if rng.random() < 0.18:
            moments.append((installed + dt.timedelta(days=rng.uniform(2, 500)), "uninstall"))
        for later in range(version_index + 1, len(entry.versions)):
            if rng.random() < 0.5:
                released = entry.released_at[later]
                moments.append((released + dt.timedelta(days=rng.uniform(1, 120)), f"up{later}"))
        moments.append((trial_end, "trial_end"))
        moments.sort(key=lambda item: item[0])

        last = installed
        for at, change in moments:
            if at > now or license["status"] == LicenseStatus.UNINSTALLED:
                continue
            status = license["status"]
            if change == "trial_end":
                if status == LicenseStatus.TRIAL:
                    license["status"] = LicenseStatus.EXPIRED
                    events.append(
                        (
                            EventKind.STATUS_CHANGED,
                            at,
                            Actor.SYSTEM,
                            {"status": status},
                            {"status": LicenseStatus.EXPIRED},
                        )
                    )
                else:
                    continue
            elif change == "activate":
                if status != LicenseStatus.TRIAL:
                    continue
                new_seats = SITE_LICENSE if sandbox else rng.choice(SEAT_CHOICES)
                license["status"], license["activated_at"], license["expires_at"] = (
                    "active",
                    at,
                    None,
                )
                before = {"status": status, "expires_at": trial_end}
                after = {"status": LicenseStatus.ACTIVE, "expires_at": None}
                if new_seats != license["seats"]:
                    before["seats"], after["seats"] = license["seats"], new_seats
                    license["seats"] = new_seats
                events.append((EventKind.STATUS_CHANGED, at, "demo-ops", before, after))
            elif change == "usage":
                cap = license["seats"] if license["seats"] != SITE_LICENSE else 40
                used = max(0, int(cap * rng.uniform(0.2, 1.35)))
                before = {"used_licenses": license["used_licenses"]}
                license["used_licenses"] = used
                events.append(
                    (
                        EventKind.USAGE_REPORTED,
                        at,
                        Actor.SUBSCRIBER,
                        before,
                        {"used_licenses": used},
                    )
                )
            elif change == "suspend":
                if status not in (LicenseStatus.ACTIVE, LicenseStatus.TRIAL):
                    continue
                license["status"] = LicenseStatus.SUSPENDED
                license["status_before_suspension"] = status
                events.append(
                    (
                        EventKind.STATUS_CHANGED,
                        at,
                        "demo-ops",
                        {"status": status},
                        {"status": LicenseStatus.SUSPENDED},
                    )
                )
            elif change == "uninstall":
                license["status_before_uninstall"] = status
                license["status"] = LicenseStatus.UNINSTALLED
                license["uninstalled_at"] = at
                events.append(
                    (
                        EventKind.UNINSTALLED,
                        at,
                        Actor.SUBSCRIBER,
                        {"status": status, "uninstalled_at": None},
                        {"status": LicenseStatus.UNINSTALLED, "uninstalled_at": at},
                    )
                )
            elif change.startswith("up"):
                target = entry.versions[int(change[2:])]
                if (target.major, target.minor, target.patch) <= (
                    version.major,
                    version.minor,
                    version.patch,
                ):
                    continue
                before = {"version": version.version_number}
                version = target
                license["version_id"] = target.pk
                events.append(
                    (
                        EventKind.UPGRADED,
                        at,
                        Actor.SUBSCRIBER,
                        before,
                        {"version": target.version_number},
                    )
                )
            last = at
        license["last_event_at"] = last
        return {"license": license, "events": events, "last_change": last}
