"""A population of subscriber orgs living through simulated months, as events to deliver.

`plan_deliveries` is pure: the same seed gives the same orgs, events and faults. The
`simulate_subscribers` command posts the plan as signed HTTP; the demo data applies the
same plan in process through the same services.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import string
from dataclasses import dataclass, field
from typing import Any

from core.salesforce_ids import normalize_salesforce_id

COMPANIES = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell",
    "Cyberdyne", "Soylent", "Vandelay", "Pied Piper", "Aperture", "Gringotts", "Oscorp",
]  # fmt: skip
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Donald"]
LAST_NAMES = ["Byron", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton"]
EDITIONS = ["Enterprise Edition", "Unlimited Edition", "Professional Edition"]
INSTANCES = ["NA135", "EU45", "AP27", "NA221", "CS42"]
DAY = dt.timedelta(days=1)


@dataclass
class SimPackage:
    """A package the simulated orgs install, with the versions it has released so far."""

    package_id: str
    versions: list[tuple[str, str]]  # (version_number, version_id), oldest first
    usage_parameters: dict[str, str] = field(default_factory=dict)  # developer_name: data_type


@dataclass
class Delivery:
    """One POST the simulated subscriber systems make (a duplicate shares the event id)."""

    deliver_at: dt.datetime
    event_id: str
    org_id: str
    package_id: str
    body: dict[str, Any]
    fault: str = ""  # "", "duplicate" or "late"


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def derived_id(prefix: str, *parts: str) -> str:
    """A stable Salesforce-style id derived from its parts (same input, same id)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    alphabet = string.ascii_letters + string.digits
    body = "".join(alphabet[b % len(alphabet)] for b in digest[:12])
    return normalize_salesforce_id(prefix + body, prefix=prefix)


def _version_key(number: str) -> tuple[int, ...]:
    return tuple(int(p) for p in number.split("."))


def _release_schedule(
    package: SimPackage, start: dt.datetime, end: dt.datetime, rng: random.Random
) -> list[tuple[dt.datetime, str, str]]:
    """The versions already out at `start`, then a new minor version every month or two."""
    known = sorted(package.versions, key=lambda v: _version_key(v[0]))
    if not known:
        known = [("1.0.0", derived_id("04t", package.package_id, "1.0.0"))]
    schedule = [(start - DAY, number, vid) for number, vid in known]
    major, minor, _ = _version_key(known[-1][0])
    when = start + dt.timedelta(days=rng.randint(20, 50))
    while when < end:
        minor += 1
        number = f"{major}.{minor}.0"
        schedule.append((when, number, derived_id("04t", package.package_id, number)))
        when += dt.timedelta(days=rng.randint(30, 60))
    return schedule


def _usage_parameters(package: SimPackage, at: dt.datetime, rng: random.Random) -> dict:
    values: dict[str, Any] = {}
    for name, data_type in package.usage_parameters.items():
        if data_type == "integer":
            values[name] = rng.randint(0, 5000)
        elif data_type == "boolean":
            values[name] = rng.random() < 0.5
        else:
            values[name] = at.date().isoformat()
    return values


def plan_deliveries(
    *,
    packages: list[SimPackage],
    orgs: int,
    seed: int,
    months: int = 6,
    now: dt.datetime,
    duplicate_rate: float = 0.03,
    late_rate: float = 0.03,
    usage_interval_days: tuple[float, float] = (20, 40),
    event_prefix: str | None = None,
) -> list[Delivery]:
    """Every event of `orgs` subscriber orgs over `months`, in delivery order, with faults.

    Event ids are `event_prefix` (default `msg_sim<seed>_`) and a counter.
    """
    rng = random.Random(seed)
    prefix = f"msg_sim{seed}_" if event_prefix is None else event_prefix
    end = now - dt.timedelta(minutes=1)
    start = end - dt.timedelta(days=30 * months)
    schedules = {p.package_id: _release_schedule(p, start, end, rng) for p in packages}
    production_orgs: dict[str, list[str]] = {p.package_id: [] for p in packages}
    emails: list[str] = []
    events: list[Delivery] = []
    counter = 0

    def add(at: dt.datetime, org_id: str, package: SimPackage, body: dict) -> None:
        nonlocal counter
        counter += 1
        events.append(
            Delivery(
                deliver_at=at,
                event_id=f"{prefix}{counter:07d}",
                org_id=org_id,
                package_id=package.package_id,
                body=body,
            )
        )

    for n in range(orgs):
        package = rng.choice(packages)
        schedule = schedules[package.package_id]
        org_id = derived_id("00D", str(seed), str(n))
        # Subscribers send either form of the id; both must reach the same license.
        sent_org_id = org_id[:15] if rng.random() < 0.5 else org_id
        is_sandbox = rng.random() < 0.15
        parents = production_orgs[package.package_id]
        parent = rng.choice(parents) if is_sandbox and parents and rng.random() < 0.7 else None
        if not is_sandbox:
            parents.append(org_id)
        company = f"{rng.choice(COMPANIES)} {n}"
        if emails and rng.random() < 0.1:
            email = rng.choice(emails)
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}{n}@{company.split()[0].lower()}{n}.example".lower()
            emails.append(email)
        first_name, last_name = email.split("@")[0].split(".")[0].title(), "Admin"
        org = {
            "id": sent_org_id,
            "name": company,
            "edition": rng.choice(EDITIONS),
            "instance": rng.choice(INSTANCES),
            "type": "sandbox" if is_sandbox else "production",
            "is_sandbox": is_sandbox,
            "parent_org_id": parent,
        }
        installer = {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "phone": f"+1 555 {rng.randint(1000, 9999)}",
            "company": company,
        }

        def version_at(when: dt.datetime, schedule=schedule) -> tuple[str, str]:
            released = [(number, vid) for at, number, vid in schedule if at <= when]
            return released[-1]

        installed = start + dt.timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
        life_end = end
        if rng.random() < 0.15:
            life_end = installed + dt.timedelta(days=rng.uniform(5, 90))
        cursor = installed
        while cursor < end:
            number, vid = version_at(cursor)
            base = {"package_id": package.package_id, "org": org}
            add(
                cursor,
                org_id,
                package,
                {
                    "type": "package.installed",
                    "timestamp": _iso(cursor),
                    "data": {
                        **base,
                        "version_id": vid,
                        "version_number": number,
                        "installer": installer,
                    },
                },
            )
            stop = min(life_end, end)
            for at, new_number, new_vid in schedule:
                if cursor < at < stop and rng.random() < 0.7:
                    upgraded = at + dt.timedelta(days=rng.uniform(0.5, 20))
                    if upgraded < stop:
                        add(
                            upgraded,
                            org_id,
                            package,
                            {
                                "type": "package.upgraded",
                                "timestamp": _iso(upgraded),
                                "data": {
                                    **base,
                                    "version_id": new_vid,
                                    "version_number": new_number,
                                    "installer": installer,
                                },
                            },
                        )
            reported = cursor + dt.timedelta(days=rng.uniform(1, usage_interval_days[1]))
            while reported < stop:
                data: dict[str, Any] = {
                    "package_id": package.package_id,
                    "org": {"id": sent_org_id},
                    "used_licenses": rng.randint(1, 60),
                }
                parameters = _usage_parameters(package, reported, rng)
                if parameters:
                    data["parameters"] = parameters
                add(
                    reported,
                    org_id,
                    package,
                    {"type": "usage.reported", "timestamp": _iso(reported), "data": data},
                )
                reported += dt.timedelta(days=rng.uniform(*usage_interval_days))
            if life_end >= end:
                break
            add(
                life_end,
                org_id,
                package,
                {
                    "type": "package.uninstalled",
                    "timestamp": _iso(life_end),
                    "data": {"package_id": package.package_id, "org": {"id": sent_org_id}},
                },
            )
            if rng.random() >= 0.4:
                break
            # Some come back: a reinstall, which must not start a second trial.
            cursor = life_end + dt.timedelta(days=rng.uniform(1, 30))
            life_end = end

    deliveries: list[Delivery] = []
    for event in events:
        roll = rng.random()
        if roll < late_rate:
            event.fault = "late"
            event.deliver_at += dt.timedelta(days=rng.uniform(5, 40))
        deliveries.append(event)
        if rng.random() < duplicate_rate:
            deliveries.append(
                Delivery(
                    deliver_at=event.deliver_at + dt.timedelta(hours=rng.uniform(0, 48)),
                    event_id=event.event_id,
                    org_id=event.org_id,
                    package_id=event.package_id,
                    body=event.body,
                    fault="duplicate",
                )
            )
    deliveries.sort(key=lambda d: d.deliver_at)
    return deliveries
