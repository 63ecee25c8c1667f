"""Demo data for `make run`: packages, versions, feature parameters, and a few hundred
licenses made by simulated subscriber events going through the webhook's own services."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from core.salesforce_ids import normalize_salesforce_id
from features.choices import DataType, Direction
from features.services import feature_parameter_create
from leads.models import Account, Lead
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

# The simulator names each org after a company ("Acme 17"). The demo turns those into a
# few customers with several orgs each (the way real customers run them: one per region or
# business unit), each with its own web domain for its installers' emails.
CUSTOMERS = {
    "Acme": ("Acme Corporation", "acme.example"),
    "Globex": ("Globex Corporation", "globex.example"),
    "Initech": ("Initech", "initech.example"),
    "Umbrella": ("Umbrella Health", "umbrella-health.example"),
    "Hooli": ("Hooli", "hooli.example"),
    "Stark": ("Stark Industries", "starkindustries.example"),
    "Wayne": ("Wayne Enterprises", "wayne-enterprises.example"),
    "Wonka": ("Wonka Confectionery", "wonka.example"),
    "Tyrell": ("Tyrell Corporation", "tyrell.example"),
    "Cyberdyne": ("Cyberdyne Systems", "cyberdyne.example"),
    "Soylent": ("Soylent Foods", "soylent.example"),
    "Vandelay": ("Vandelay Industries", "vandelay.example"),
    "Pied Piper": ("Pied Piper", "piedpiper.example"),
    "Aperture": ("Aperture Science", "aperture.example"),
    "Gringotts": ("Gringotts Bank", "gringotts.example"),
    "Oscorp": ("Oscorp", "oscorp.example"),
}
DIVISIONS = [
    "North America",
    "EMEA",
    "APAC",
    "Field Service",
    "Retail",
    "Finance",
    "Customer Care",
    "Manufacturing",
    "LATAM",
    "Logistics",
    "Marketing",
    "Procurement",
]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Donald", "Frances"]
LAST_NAMES = ["Byron", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Knuth"]


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
    # Leads from installs go to the demo's Partner Ops user when `bootstrap_demo` made one.
    lead_manager = get_user_model().objects.filter(username="demo-ops").first()
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
            lead_manager=lead_manager,
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
    customers = _Customers(random.Random(seed))
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
        body = customers.dress(delivery.org_id, delivery.body)
        subscriber_event_accept(event=parse_event(delivery.event_id, body))
    # Applied here, through the workers' own drain, so the demo is complete when it returns.
    subscriber_events_drain()
    for license in License.objects.live().select_related("lead").order_by("pk"):
        _age(license, rng, now)
    _date_leads_and_accounts()
    return License.objects.count()


class _Customers:
    """Gives each simulated org a customer, a division name and installers at its domain."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.orgs: dict[str, tuple[str, dict[str, Any]]] = {}  # org id: (org name, installer)
        self.divisions: dict[str, int] = {}
        self.installers: dict[str, list[dict[str, Any]]] = {}

    def dress(self, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data", {})
        org = data.get("org", {})
        if org_id not in self.orgs:
            if "name" not in org:
                return body
            parent = self.orgs.get(org.get("parent_org_id") or "")
            if parent is not None:
                # A sandbox of a known production org belongs to the same customer.
                self.orgs[org_id] = (f"{parent[0]} (UAT sandbox)", parent[1])
            else:
                self.orgs[org_id] = self._new_org(org["name"], sandbox=bool(org.get("is_sandbox")))
        name, installer = self.orgs[org_id]
        data = dict(data)
        if "name" in org:
            data["org"] = {**org, "name": name}
        if "installer" in data:
            data["installer"] = installer
        return {**body, "data": data}

    def _new_org(self, simulated_name: str, *, sandbox: bool) -> tuple[str, dict[str, Any]]:
        key = next((k for k in CUSTOMERS if simulated_name.startswith(f"{k} ")), "Acme")
        company, domain = CUSTOMERS[key]
        n = self.divisions.get(key, 0)
        self.divisions[key] = n + 1
        division = DIVISIONS[n % len(DIVISIONS)]
        if n >= len(DIVISIONS):
            division = f"{division} {n // len(DIVISIONS) + 1}"
        name = f"{company} {division}" + (" (UAT sandbox)" if sandbox else "")
        known = self.installers.setdefault(key, [])
        # The same admin often installs into several of the company's orgs.
        if known and self.rng.random() < 0.3:
            return name, self.rng.choice(known)
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        installer = {
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}@{domain}".lower(),
            "phone": f"+1 555 {self.rng.randint(1000, 9999)}",
            "company": company,
        }
        known.append(installer)
        return name, installer


def _company(license: License) -> str:
    if license.lead_id and license.lead.company:
        return license.lead.company
    return next((c for c, _ in CUSTOMERS.values() if license.org_name.startswith(c)), "Customer")


def _date_leads_and_accounts() -> None:
    """Leads and accounts were created when their first license was installed or bought."""
    first_install = (
        License.objects.filter(lead=OuterRef("pk")).order_by("installed_at").values("installed_at")
    )
    Lead.objects.update(created_at=Coalesce(Subquery(first_install[:1]), F("created_at")))
    first_sale = (
        License.objects.filter(account=OuterRef("pk"), activated_at__isnull=False)
        .order_by("activated_at")
        .values("activated_at")
    )
    Account.objects.update(created_at=Coalesce(Subquery(first_sale[:1]), F("created_at")))


def _age(license: License, rng: random.Random, now: dt.datetime) -> None:
    """Staff work on some licenses, so the demo shows every status."""
    if license.status in ("trial", "active") and license.expires_at and license.expires_at <= now:
        license.expire(now=now)
    roll = rng.random()
    if roll < 0.35:
        if license.status not in ("trial", "expired"):
            return
        account = license.account
        if account is None:
            company = _company(license)
            domain = next((d for c, d in CUSTOMERS.values() if c == company), "")
            account, _ = Account.objects.get_or_create(
                name=company, defaults={"website": f"https://www.{domain}" if domain else ""}
            )
        license.activate(by="system", seats=rng.choice([5, 10, 25, 50, 100]))
        license.assign_account(by="system", account=account)
    elif roll < 0.42 and license.status in ("trial", "active", "expired"):
        license.suspend(by="system", reason="Payment overdue")
