"""Demo data for `make run`: packages, versions, feature parameters and a few hundred licenses."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from features.choices import DataType, Direction
from features.services import feature_parameter_create
from leads.models import Account, Lead
from licenses.models import License
from licenses.services import OrgDetails, license_create
from lmo.salesforce_ids import normalize_salesforce_id
from packages.models import Package, PackageVersion

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
def load_demo_data(*, licenses_per_package: int = 120, seed: int = 7) -> int:
    """Create the demo catalogue and licenses once; returns how many licenses it created."""
    if Package.objects.filter(namespace="fsp").exists():
        return 0
    rng = random.Random(seed)
    now = timezone.now()
    created = 0
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
        for n in range(licenses_per_package):
            company = f"{rng.choice(COMPANIES)} {n}"
            installed_at = now - dt.timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23))
            org_number = rng.randint(1, 10**9)
            lead = Lead.objects.create(
                first_name=rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]),
                last_name=rng.choice(
                    ["Byron", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson"]
                ),
                email=f"admin{n}@{company.split()[0].lower()}{n}.example",
                company=company,
                org_id=_id("00D", org_number),
                package=package,
            )
            license = license_create(
                package=package,
                version=rng.choice(versions),
                org=OrgDetails(
                    org_id=_id("00D", org_number),
                    name=company,
                    edition=rng.choice(
                        ["Enterprise Edition", "Unlimited Edition", "Professional Edition"]
                    ),
                    instance=rng.choice(["NA135", "EU45", "AP27", "NA221"]),
                    is_sandbox=rng.random() < 0.1,
                ),
                installed_at=installed_at,
                lead=lead,
            )
            created += 1
            _age(license, rng, now)
    return created


def _age(license: License, rng: random.Random, now: dt.datetime) -> None:
    """Move a fresh license along a plausible life so the demo shows every status."""
    roll = rng.random()
    if license.expires_at and license.expires_at <= now:
        license.expire(now)
    if roll < 0.35 and license.status in ("trial", "expired"):
        account = Account.objects.create(name=license.org_name)
        license.activate("system", seats=rng.choice([5, 10, 25, 50, 100]))
        license.assign_account("system", account)
    elif roll < 0.42 and license.status != "uninstalled":
        license.suspend("system", reason="Payment overdue")
    elif roll < 0.50:
        license.mark_uninstalled(now - dt.timedelta(days=rng.randint(0, 10)))
    if license.status in ("trial", "active") and rng.random() < 0.6:
        license.report_usage(rng.randint(1, 40))
