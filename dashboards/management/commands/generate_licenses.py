"""Fill the database with a realistic population of licenses and their history, fast.

Three years of installs that grow over time across the linked packages (sandboxes among
them), each with the history the License methods would have written: the install, a
purchase within the trial for about a third, upgrades as versions came out, usage reports
(some over their seats), suspensions, trials and contracts that ended (expired by the
sweep) and uninstalls; and each license's feature values. Rows go in by batches (COPY on
PostgreSQL, bulk inserts elsewhere), and the dashboards' rollup is recounted at the end
(`rebuild_rollups`).

For benchmarks and demos: it never changes existing licenses, and it writes no leads,
accounts, inbox rows or notifications.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import string
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.db.models import Max

from core.salesforce_ids import normalize_salesforce_id
from dashboards.rollup import rollup_rebuild
from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from licenses.choices import Actor, EventKind, LicenseStatus, OrgType
from licenses.models import License, LicenseEvent
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


def _org_id(rng: random.Random) -> str:
    return normalize_salesforce_id(
        "00D" + "".join(rng.choice(ALPHABET) for _ in range(12)), prefix="00D"
    )


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


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _insert(objects: list[models.Model], *, with_ids: bool = False) -> None:
    """Insert the rows: by COPY on PostgreSQL (ids drawn from the table's sequence first
    when the caller needs them), else bulk_create."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=BATCH)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if with_ids or not f.primary_key]
    if with_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(objects)],
            )
            for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
                obj.pk = pk
    lines = []
    for obj in objects:
        row = []
        for field in fields:
            value = field.pre_save(obj, True)
            if isinstance(field, models.JSONField):
                value = json.dumps(value, cls=field.encoder)
            else:
                value = field.get_db_prep_save(value, connection)
            row.append(_copy_text(value))
        lines.append("\t".join(row))
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN",
            io.StringIO("\n".join(lines) + "\n"),
        )


def _version_at(entry: Catalogue, moment: dt.datetime) -> int:
    index = 0
    for i, released in enumerate(entry.released_at):
        if released <= moment:
            index = i
    return index


class Command(BaseCommand):
    help = "Insert N licenses of the linked packages with three years of history (fast)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, required=True, help="Licenses to create.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--no-rollup", action="store_true", help="Skip recounting the dashboards' rollup."
        )

    def handle(self, *args, count: int, seed: int, no_rollup: bool, **options) -> None:
        if count < 1:
            raise CommandError("--count must be at least 1.")
        # Another run adds other orgs: seeded by what exists too.
        newest = License.objects.aggregate(newest=Max("id"))["newest"] or 0
        rng = random.Random(f"{seed}:{newest}")
        now = clock.now()
        started = time.monotonic()
        catalogue = _ensure_catalogue(rng, now)
        weights = [entry.weight for entry in catalogue]
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            with transaction.atomic():
                self._batch(rng, now, catalogue, weights, size)
            done += size
            if options["verbosity"] > 1 or done % (BATCH * 20) == 0 or done == count:
                rate = done / (time.monotonic() - started)
                self.stdout.write(f"{done} licenses ({rate:,.0f}/s)")
        if not no_rollup:
            written = rollup_rebuild()
            self.stdout.write(f"Rollup recounted: {written}")
        self.stdout.write(
            self.style.SUCCESS(f"{count} licenses in {time.monotonic() - started:.1f}s.")
        )

    def _batch(
        self,
        rng: random.Random,
        now: dt.datetime,
        catalogue: list[Catalogue],
        weights: list[float],
        size: int,
    ) -> None:
        span = dt.timedelta(days=365 * YEARS).total_seconds()
        plans = []
        licenses = []
        for _ in range(size):
            entry = rng.choices(catalogue, weights)[0]
            # More installs lately: the population grows.
            installed = now - dt.timedelta(seconds=span * (1 - rng.random() ** 0.6))
            plan = self._plan(rng, now, entry, installed)
            plans.append((entry, plan))
            licenses.append(plan.pop("license"))
        _insert(licenses, with_ids=True)
        events, values = [], []
        for license, (entry, plan) in zip(licenses, plans, strict=True):
            for kind, at, actor, before, after in plan["events"]:
                events.append(
                    LicenseEvent(
                        license_id=license.pk,
                        at=at,
                        actor=actor,
                        kind=kind,
                        before=before,
                        after=after,
                    )
                )
            for parameter in entry.parameters:
                value = FeatureParameterValue(
                    license_id=license.pk,
                    parameter_id=parameter.pk,
                    data_type=parameter.data_type,
                    updated_at=plan["last_change"],
                )
                if parameter.data_type == DataType.BOOLEAN:
                    value.value_boolean = rng.random() < 0.3
                elif parameter.data_type == DataType.INTEGER:
                    value.value_integer = (
                        int(rng.paretovariate(1.5) * 20) if rng.random() < 0.7 else None
                    )
                else:
                    value.value_date = parameter.default_date
                values.append(value)
        _insert(events)
        _insert(values)

    def _plan(
        self, rng: random.Random, now: dt.datetime, entry: Catalogue, installed: dt.datetime
    ) -> dict:
        """One license's life, as the License methods would have recorded it."""
        sandbox = rng.random() < 0.1
        version_index = _version_at(entry, installed)
        version = entry.versions[version_index]
        trial_end = installed + dt.timedelta(days=entry.package.trial_days or 30)
        seats = SITE_LICENSE if sandbox else entry.package.default_seats
        license = License(
            package=entry.package,
            version=version,
            org_id=_org_id(rng),
            org_name=f"Org {rng.randrange(10**9)}",
            org_edition="Enterprise Edition",
            org_instance=f"NA{rng.randrange(100, 200)}",
            org_type=OrgType.SANDBOX if sandbox else OrgType.PRODUCTION,
            is_sandbox=sandbox,
            status=LicenseStatus.TRIAL,
            seats=seats,
            installed_at=installed,
            trial_started_at=installed,
            expires_at=trial_end,
            last_event_at=installed,
        )
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
            if at > now or license.status == LicenseStatus.UNINSTALLED:
                continue
            status = license.status
            if change == "trial_end":
                if status == LicenseStatus.TRIAL:
                    license.status = LicenseStatus.EXPIRED
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
                license.status, license.activated_at, license.expires_at = "active", at, None
                before = {"status": status, "expires_at": trial_end}
                after = {"status": LicenseStatus.ACTIVE, "expires_at": None}
                if new_seats != license.seats:
                    before["seats"], after["seats"] = license.seats, new_seats
                    license.seats = new_seats
                events.append((EventKind.STATUS_CHANGED, at, "demo-ops", before, after))
            elif change == "usage":
                cap = license.seats if license.seats != SITE_LICENSE else 40
                used = max(0, int(cap * rng.uniform(0.2, 1.35)))
                before = {"used_licenses": license.used_licenses}
                license.used_licenses = used
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
                license.status = LicenseStatus.SUSPENDED
                license.status_before_suspension = status
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
                license.status_before_uninstall = status
                license.status = LicenseStatus.UNINSTALLED
                license.uninstalled_at = at
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
                    license.version.major,
                    license.version.minor,
                    license.version.patch,
                ):
                    continue
                before = {"version": license.version.version_number}
                license.version = target
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
        license.last_event_at = last
        return {"license": license, "events": events, "last_change": last}
