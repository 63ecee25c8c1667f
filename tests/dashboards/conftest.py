"""A small licence population with a known answer for every dashboard figure.

Built through the same services and License methods as production (installs, purchases,
suspensions, the expiry sweep, upgrades, usage reports, uninstalls), each at its moment on
a travelled clock, so the rollup is kept exactly as it would be in production.
"""

import datetime as dt
from types import SimpleNamespace

import pytest
import time_machine

from features.choices import DataType, Direction
from features.services import feature_value_set, feature_values_create_for_license
from licenses.choices import Actor
from licenses.services import OrgDetails, license_create
from licenses.sweeps import licenses_expire_due
from tests.factories import (
    FeatureParameterFactory,
    PackageFactory,
    PackageVersionFactory,
    UserFactory,
    org_id,
)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture
def population(db):
    """Production licenses A..L (one a sandbox, J) of one package; see each step's comment.
    The figures are read at NOW (Monday 2026-06-15 12:00 UTC)."""
    ops = UserFactory(username="population-ops", role="ops")
    package = PackageFactory(
        name="Field Service Pro", namespace="fsp", trial_days=30, default_seats=10
    )
    v100 = PackageVersionFactory(package=package, version_number="1.0.0")
    v110 = PackageVersionFactory(package=package, version_number="1.1.0")
    v200 = PackageVersionFactory(package=package, version_number="2.0.0")
    v210 = PackageVersionFactory(package=package, version_number="2.1.0", is_beta=True)
    premium = FeatureParameterFactory(
        package=package, developer_name="Premium_Sync", label="Premium sync"
    )
    jobs_run = FeatureParameterFactory(
        package=package,
        developer_name="Jobs_Run",
        label="Jobs run",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
    )
    licenses = {}

    def install(name, when, version, sandbox=False, previous=None):
        with time_machine.travel(when, tick=False):
            licenses[name] = license_create(
                package=package,
                version=version,
                org=OrgDetails(org_id=org_id(), name=f"Org {name}", is_sandbox=sandbox),
                installed_at=when,
                previous_license=previous,
            )
            # As the install workflow does.
            feature_values_create_for_license(license=licenses[name])
        return licenses[name]

    def on(when, action):
        with time_machine.travel(when, tick=False):
            action()

    def set_value(name, parameter, value, by):
        feature_value_set(
            license=licenses[name],
            parameter=parameter,
            value=value,
            by=by,
            from_subscriber=by == Actor.SUBSCRIBER,
        )

    install("I", at(2, 10), v100)
    on(at(2, 15), lambda: licenses["I"].activate(by=ops, seats=5))  # bought after 5 days
    install("H", at(3, 1), v100)
    install("A", at(3, 10), v100)
    on(at(3, 15), lambda: licenses["H"].mark_uninstalled(at(3, 15)))  # in trial, 14 days in
    on(at(3, 20), lambda: licenses["A"].activate(by=ops, seats=50))  # bought after 10 days
    install("B", at(4, 5), v110)
    install("D", at(4, 10), v110)  # trial ends 05-10
    on(at(4, 20), lambda: licenses["I"].mark_uninstalled(at(4, 20)))  # active, 69 days in
    on(at(4, 25), lambda: licenses["B"].activate(by=ops, seats=20))  # bought after 20 days
    install("C", at(5, 1), v200)
    on(at(5, 11), lambda: licenses_expire_due(now=at(5, 11)))  # D expires
    install("L", at(5, 15, 12), v200)  # trial ends 06-14 12:00: past at NOW, never swept
    install("G", at(5, 18), v110)  # trial ends 06-17
    install("F", at(5, 25), v200)  # trial ends 06-24
    on(at(5, 31, 9), lambda: licenses["C"].activate(by=ops, seats=-1))  # site license, 29 days
    install("E", at(6, 1), v200)  # trial ends 07-01
    on(at(6, 1), lambda: licenses["A"].report_usage(60))  # 10 over its 50 seats
    install("J", at(6, 2), v200, sandbox=True)
    on(at(6, 3), lambda: licenses["B"].set_version(v200))
    install("K", at(6, 5), v200)
    on(at(6, 9), lambda: set_value("K", jobs_run, 500, Actor.SUBSCRIBER))  # suspended next:
    on(at(6, 10), lambda: licenses["K"].suspend(by=ops, reason="Unpaid invoice"))  # not live
    on(at(6, 10), lambda: licenses["B"].report_usage(5))
    on(at(6, 12), lambda: licenses["G"].report_usage(12))  # 2 over its 10 seats

    # Feature values set by staff and reported by the orgs, through the feature service.
    for name in ("A", "B", "L"):  # L's end has passed: not live, so not counted
        on(at(6, 10), lambda name=name: set_value(name, premium, True, ops))
    for name, value, when in [
        ("A", 100, at(6, 10)),
        ("B", 40, at(6, 10)),
        ("C", 7, at(6, 10)),
        ("G", 12, at(6, 10)),
        ("F", 3, at(5, 26)),  # long before the period: still its value now
        ("L", 1000, at(5, 20)),  # not live at NOW
    ]:
        on(when, lambda name=name, value=value: set_value(name, jobs_run, value, Actor.SUBSCRIBER))
    for license in licenses.values():
        license.refresh_from_db()
    return SimpleNamespace(
        package=package,
        versions={"1.0.0": v100, "1.1.0": v110, "2.0.0": v200, "2.1.0": v210},
        premium=premium,
        jobs_run=jobs_run,
        licenses=licenses,
    )
