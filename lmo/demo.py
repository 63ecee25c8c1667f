"""Demo data for `make run`: packages, versions, feature parameters, and a few hundred
licenses made by simulated subscriber events going through the webhook's own services."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from core.salesforce_ids import normalize_salesforce_id
from features.choices import DataType, Direction
from features.services import feature_parameter_create
from leads.models import Account
from licenses.models import License
from lmo import clock
from packages.models import Package, PackageVersion
from subscribers.events import parse_event
from subscribers.services import subscriber_event_accept, subscriber_events_drain
from subscribers.simulator import SimPackage, plan_deliveries

DEMO_PACKAGES = [
    {
        "name": "Field Service Pro",
        "namespace": "fsp",
        "package_id": "033000000000001",
        "developer_org_id": "00D000000000001",
        "default_status": "trial",
        "trial_days": 30,
        "default_seats": 10,
        "versions": ["1.0.0", "1.1.0", "1.2.0", "2.0.0"],
        "parameters": [
            ("Premium_Scheduling", DataType.BOOLEAN, Direction.LMO_TO_SUBSCRIBER, False),
            ("Max_Technicians", DataType.INTEGER, Direction.LMO_TO_SUBSCRIBER, 25),
            ("Premium_Trial_Ends", DataType.DATE, Direction.LMO_TO_SUBSCRIBER, None),
            ("Jobs_Scheduled", DataType.INTEGER, Direction.SUBSCRIBER_TO_LMO, 0),
        ],
    },
    {
        "name": "Quote Builder",
        "namespace": "qbld",
        "package_id": "033000000000002",
        "developer_org_id": "00D000000000001",
        "default_status": "active",
        "trial_days": 30,
        "default_seats": -1,
        "versions": ["3.0.0", "3.1.0", "3.2.0"],
        "parameters": [
            ("Advanced_Pricing", DataType.BOOLEAN, Direction.LMO_TO_SUBSCRIBER, True),
            ("Quotes_Created", DataType.INTEGER, Direction.SUBSCRIBER_TO_LMO, 0),
        ],
    },
]

COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Aperture",
    "Gringotts",
    "Oscorp",
]


def _id(prefix: str, n: int) -> str:
    return normalize_salesforce_id(f"{prefix}{n:012d}", prefix=prefix)


@transaction.atomic
def load_demo_data(*, orgs: int = 150, seed: int = 7, months: int = 5) -> int:
    """Create the demo catalogue once, then play its subscriber orgs' events through the
    webhook's acceptance and the workers' drain; returns how many licenses it created."""
    if Package.objects.filter(namespace="fsp").exists():
        return 0
    rng = random.Random(seed)
    now = clock.now()
    simulated = []
    for spec in DEMO_PACKAGES:
        package = Package.objects.create(
            name=spec["name"],
            namespace=spec["namespace"],
            package_id=spec["package_id"],
            developer_org_id=spec["developer_org_id"],
            default_status=spec["default_status"],
            trial_days=spec["trial_days"],
            default_seats=spec["default_seats"],
            license_manager_linked=True,
            linked_at=now - dt.timedelta(days=400),
        )
        versions = []
        for i, number in enumerate(spec["versions"]):
            version = PackageVersion(
                package=package,
                version_number=number,
                version_id=_id("04t", package.pk * 100 + i),
                name=f"{spec['name']} {number}",
                release_date=(now - dt.timedelta(days=300 - i * 80)).date(),
            )
            version.save()
            versions.append(version)
        for developer_name, data_type, direction, default in spec["parameters"]:
            feature_parameter_create(
                package=package,
                developer_name=developer_name,
                label=developer_name.replace("_", " "),
                data_type=data_type,
                direction=direction,
                default_value=default,
            )
        simulated.append(
            SimPackage(
                package_id=package.package_id,
                # Later versions get "released" during the simulated months and reach the
                # LMO through upgrade events, like real releases do.
                versions=[(versions[0].version_number, versions[0].version_id)],
                usage_parameters={
                    name: data_type
                    for name, data_type, direction, _ in spec["parameters"]
                    if direction == Direction.SUBSCRIBER_TO_LMO
                },
            )
        )
    for delivery in plan_deliveries(
        packages=simulated,
        orgs=orgs,
        seed=seed,
        months=months,
        now=now,
        # Fewer usage reports than the simulator's monthly ones keep `make run` quick.
        usage_interval_days=(50, 90),
        # Their own ids, so a simulator run against the demo never replays one.
        event_prefix=f"msg_demo{seed}_",
    ):
        subscriber_event_accept(event=parse_event(delivery.event_id, delivery.body))
    # Applied here, through the workers' own drain, so the demo is complete when it returns.
    subscriber_events_drain()
    for license in License.objects.live().order_by("pk"):
        _age(license, rng, now)
    return License.objects.count()


def _age(license: License, rng: random.Random, now: dt.datetime) -> None:
    """Staff work on some licenses, so the demo shows every status."""
    if license.status in ("trial", "active") and license.expires_at and license.expires_at <= now:
        license.expire(now=now)
    roll = rng.random()
    if roll < 0.35:
        if license.status not in ("trial", "expired"):
            return
        account = license.account or Account.objects.create(name=license.org_name or "Customer")
        license.activate(by="system", seats=rng.choice([5, 10, 25, 50, 100]))
        license.assign_account(by="system", account=account)
    elif roll < 0.42 and license.status in ("trial", "active", "expired"):
        license.suspend(by="system", reason="Payment overdue")
