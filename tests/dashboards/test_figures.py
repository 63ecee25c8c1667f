"""Every dashboard figure of the known population (tests/dashboards/conftest.py), exactly."""

import datetime as dt
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import strategies as st

from dashboards import selectors
from dashboards.filters import Scope
from dashboards.rollup import bucket_bounds, bucket_of
from features.choices import DataType, Direction
from features.services import feature_value_set, feature_values_create_for_license
from licenses.choices import Actor
from licenses.models import License
from licenses.services import OrgDetails, license_create
from tests.dashboards.conftest import NOW
from tests.factories import FeatureParameterFactory, PackageFactory, org_id

pytestmark = pytest.mark.django_db


def scope(population, days=30, orgs="production", package=True):
    return Scope(
        package=population.package if package else None,
        period_days=days,
        org_scope=orgs,
        now=NOW,
    )


def listed(client, url):
    """The license names the license list shows at a figure's link."""
    response = client.get(url + "&all=")
    assert response.status_code == 200, url
    return sorted(license.name for license in response.context["cl"].result_list)


def names(population, *keys):
    return sorted(population.licenses[key].name for key in keys)


def test_overview__figures(population):
    data = selectors.overview(scope(population))

    assert (data.live.value, data.live.previous) == (6, 4)
    assert (data.active_seats.value, data.active_seats.previous) == (70, 70)
    assert (data.site_licenses.value, data.site_licenses.previous) == (1, 0)
    assert (data.seats_used.value, data.seats_used.previous) == (65, 0)
    assert data.seats_used_share == pytest.approx(65 / 70, abs=1e-4)
    assert (data.over_use.value, data.over_use.previous) == (2, 0)
    assert {
        row["status"]: (row["figure"].value, row["figure"].previous) for row in data.by_status
    } == {
        "trial": (4, 2),
        "active": (3, 2),
        "suspended": (1, 0),
        "expired": (1, 1),
        "uninstalled": (2, 2),
    }
    assert [
        (w["week"], w["installs"].value, w["uninstalls"].value, w["net"]) for w in data.weeks
    ] == [
        (dt.date(2026, 5, 11), 0, 0, 0),
        (dt.date(2026, 5, 18), 1, 0, 1),
        (dt.date(2026, 5, 25), 1, 0, 1),
        (dt.date(2026, 6, 1), 2, 0, 2),
        (dt.date(2026, 6, 8), 0, 0, 0),
        (dt.date(2026, 6, 15), 0, 0, 0),
    ]
    assert [(r["days"], r["figure"].value) for r in data.trials_ending] == [
        (7, 1),
        (14, 2),
        (30, 3),
    ]
    names_and_excess = [(row["license"], row["excess"]) for row in data.over_use_rows]
    assert names_and_excess == [
        (population.licenses["A"].name, 10),
        (population.licenses["G"].name, 2),
    ]


def test_overview__sandboxes_included_when_asked(population):
    data = selectors.overview(scope(population, orgs="all"))

    assert data.live.value == 7  # J, the sandbox's trial, too
    assert selectors.overview(scope(population, orgs="sandbox")).live.value == 1


def test_trial_conversion__cohorts(population):
    data = selectors.trial_conversion(scope(population, days=365))

    assert len(data.cohorts) == 12
    assert data.cohorts[0]["month"] == dt.date(2025, 7, 1)
    table = {
        c["month"].strftime("%Y-%m"): (
            c["started"].value,
            {o["outcome"]: o["figure"].value for o in c["outcomes"] if o["figure"].value},
            c["median_days_to_purchase"],
        )
        for c in data.cohorts
        if c["started"].value
    }
    assert table == {
        "2026-02": (1, {"converted": 1}, 5),
        "2026-03": (2, {"converted": 1, "uninstalled": 1}, 10),
        "2026-04": (2, {"converted": 1, "expired": 1}, 20),
        "2026-05": (4, {"converted": 1, "trial": 3}, 29),
        "2026-06": (2, {"trial": 1, "suspended": 1}, None),
    }
    may = next(c for c in data.cohorts if c["month"] == dt.date(2026, 5, 1))
    assert {o["outcome"]: o["share"] for o in may["outcomes"]}["trial"] == 0.75
    assert (data.started, data.converted, data.median_days_to_purchase) == (11, 4, 10)
    assert data.conversion == pytest.approx(4 / 11, abs=1e-4)


def test_churn__uninstalls_and_retention(population):
    data = selectors.churn(scope(population, days=365))

    months = {m["month"].strftime("%Y-%m"): m for m in data.months}
    assert data.uninstalls == 2
    assert {s["status"]: s["figure"].value for s in months["2026-03"]["by_status"]} == {
        "trial": 1,
        "active": 0,
        "suspended": 0,
        "expired": 0,
    }
    assert {s["status"]: s["figure"].value for s in months["2026-04"]["by_status"]}["active"] == 1
    retention = {
        key: [(r["figure"].value, r["share"]) if r["measurable"] else None for r in m["retention"]]
        for key, m in months.items()
        if m["installs"].value
    }
    assert {key: m["installs"].value for key, m in months.items() if m["installs"].value} == {
        "2026-02": 1,
        "2026-03": 2,
        "2026-04": 2,
        "2026-05": 4,
        "2026-06": 2,
    }
    assert retention == {
        "2026-02": [(1, 1.0), (1, 1.0), (0, 0.0)],
        "2026-03": [(1, 0.5), (1, 0.5), None],
        "2026-04": [(2, 1.0), None, None],
        "2026-05": [None, None, None],
        "2026-06": [None, None, None],
    }


def test_versions__live_installs_latest_share_and_change(population):
    data = selectors.versions(scope(population))

    (package,) = data.packages
    assert package["live"].value == 6
    assert package["latest"] == population.versions["2.0.0"]
    assert package["on_latest_share"] == pytest.approx(4 / 6, abs=1e-4)
    assert [
        (v["version_number"], v["figure"].value, v["figure"].previous, v["is_latest"])
        for v in package["versions"]
    ] == [
        ("2.1.0", 0, 0, False),
        ("2.0.0", 4, 2, True),
        ("1.1.0", 1, 1, False),
        ("1.0.0", 1, 1, False),
    ]
    older = selectors.licenses_on_older_versions(scope(population), population.versions["2.0.0"])
    assert [lic.name for lic in older] == [
        population.licenses["G"].name,  # newest first
        population.licenses["A"].name,
    ]


def test_feature_adoption__switches_and_readings(population):
    data = selectors.feature_adoption(scope(population))

    # L (end passed, not swept) and K (suspended) are not live: their 1000 and 500 are out
    (switch,) = data.switches
    assert (switch["on"].value, switch["live"], switch["share_on"]) == (2, 6, 0.3333)
    (reading,) = data.readings
    assert (reading["reported"].value, reading["median"], reading["p90"], reading["max"]) == (
        5,
        12,
        100,
        100,
    )


def test_feature_adoption__many_past_their_end__counted_by_the_database_alike(
    population, monkeypatch
):
    # Given more licenses past their end than the page reads as rows (here: any)
    monkeypatch.setattr(selectors, "OVERDUE_ROWS_READ", 0)

    data = selectors.feature_adoption(scope(population))

    # Then L is still taken off, counted by the database instead
    (switch,) = data.switches
    assert (switch["on"].value, switch["live"]) == (2, 6)
    (reading,) = data.readings
    assert (reading["reported"].value, reading["max"]) == (5, 100)


@time_machine.travel(NOW, tick=False)
def test_feature_adoption__counts_follow_value_and_license_changes(population):
    ops = get_user_model().objects.get(username="population-ops")
    L = population.licenses

    # Given a switch turned on, a reading raised, and a live license suspended
    feature_value_set(license=L["E"], parameter=population.premium, value=True, by=ops)
    feature_value_set(
        license=L["B"],
        parameter=population.jobs_run,
        value=4000,
        by=Actor.SUBSCRIBER,
        from_subscriber=True,
    )
    L["A"].suspend(by=ops, reason="Unpaid invoice")

    data = selectors.feature_adoption(scope(population))

    # Then the switch counts E and B, of five live (A left); the readings lose A's 100
    (switch,) = data.switches
    assert (switch["on"].value, switch["live"]) == (2, 5)
    (reading,) = data.readings
    assert (reading["reported"].value, reading["median"], reading["max"]) == (4, 7, 4000)


@time_machine.travel(NOW, tick=False)
def test_every_number_links_to_the_licenses_that_make_it_up(population, client, manager_user):
    client.force_login(manager_user)
    overview = selectors.overview(scope(population))
    L = population.licenses

    assert listed(client, overview.live.url) == names(population, "A", "B", "C", "E", "F", "G")
    assert listed(client, overview.active_seats.url) == names(population, "A", "B")
    assert listed(client, overview.site_licenses.url) == names(population, "C")
    assert listed(client, overview.over_use.url) == names(population, "A", "G")
    by_status = {row["status"]: row["figure"].url for row in overview.by_status}
    assert listed(client, by_status["trial"]) == names(population, "E", "F", "G", "L")
    assert listed(client, by_status["uninstalled"]) == names(population, "H", "I")
    week = overview.weeks[3]
    assert listed(client, week["installs"].url) == names(population, "E", "K")
    assert listed(client, overview.trials_ending[1]["figure"].url) == names(population, "F", "G")

    conversion = selectors.trial_conversion(scope(population, days=365))
    may = next(c for c in conversion.cohorts if c["month"] == dt.date(2026, 5, 1))
    assert listed(client, may["started"].url) == names(population, "C", "F", "G", "L")
    outcomes = {o["outcome"]: o["figure"].url for o in may["outcomes"]}
    assert listed(client, outcomes["converted"]) == names(population, "C")
    assert listed(client, outcomes["trial"]) == names(population, "F", "G", "L")

    churn = {m["month"]: m for m in selectors.churn(scope(population, days=365)).months}
    march = churn[dt.date(2026, 3, 1)]
    assert listed(client, march["uninstalls"].url) == names(population, "H")
    assert listed(client, march["by_status"][0]["figure"].url) == names(population, "H")
    assert listed(client, march["retention"][0]["figure"].url) == names(population, "A")
    feb = churn[dt.date(2026, 2, 1)]
    assert listed(client, feb["retention"][2]["figure"].url) == []

    versions = selectors.versions(scope(population)).packages[0]["versions"]
    assert listed(client, versions[1]["figure"].url) == names(population, "B", "C", "E", "F")
    older = selectors.older_versions_url(scope(population), population.versions["2.0.0"])
    assert listed(client, older) == names(population, "A", "G")

    features = selectors.feature_adoption(scope(population))
    assert listed(client, features.switches[0]["on"].url) == names(population, "A", "B")
    assert listed(client, features.readings[0]["reported"].url) == names(
        population, "A", "B", "C", "F", "G"
    )
    assert L["J"].is_sandbox


def test_links_keep_the_scope(population):
    url = selectors.overview(scope(population)).live.url
    query = parse_qs(urlparse(url).query)

    assert query["package__id__exact"] == [str(population.package.pk)]
    assert query["org_type__exact"] == ["production"]
    assert License.objects.filter(org_type="sandbox").count() == 1


@given(st.integers(-(2**31), 2**31 - 1))
def test_reading_ranges__every_value_in_its_own_range_and_ranges_in_value_order(value):
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value <= high
    if value < 2**31 - 1:
        above = bucket_bounds(bucket_of(value + 1))
        assert above == (low, high) or above[0] == high + 1


@time_machine.travel(NOW, tick=False)
def test_feature_adoption__readings__exact_median_p90_max_over_any_spread(db):
    # Given readings of every sign and size, with ties, one per live license
    values = [0, 0, 1, 2, 3, 3, 3, 7, 8, 15, 16, 17, 31, 64, 100, 1000, 4097, -1, -5, -40]
    values += [999_999, 12, 12, 12, 12, 40, 41, 42, 43, 44, 45, 46]
    package = PackageFactory(trial_days=30)
    jobs = FeatureParameterFactory(
        package=package,
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
    )
    for value in values:
        license = license_create(
            package=package, version=None, org=OrgDetails(org_id=org_id()), installed_at=NOW
        )
        feature_values_create_for_license(license=license)
        feature_value_set(
            license=license, parameter=jobs, value=value, by=Actor.SUBSCRIBER, from_subscriber=True
        )

    (reading,) = selectors.feature_adoption(
        Scope(package=package, period_days=30, org_scope="production", now=NOW)
    ).readings

    # Then the figures are those of the whole list, though only a few ranges were read
    histogram = Counter(values)
    assert (reading["reported"].value, reading["median"], reading["p90"], reading["max"]) == (
        len(values),
        selectors.median_of(histogram),
        selectors.percentile_of(histogram, 90),
        999_999,
    )
    assert (reading["median"], reading["p90"]) == (12, 100)
