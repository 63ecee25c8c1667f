"""The dashboard pages and their JSON: who may see them, what they say, what they cost."""

import datetime as dt
import random

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboards.rollup import rollup_rebuild
from features.services import feature_value_set
from licenses.choices import LicenseStatus, OrgType
from licenses.models import License
from tests.api.conftest import token_client
from tests.dashboards.conftest import NOW
from tests.factories import (
    FeatureParameterFactory,
    PackageFactory,
    PackageVersionFactory,
    org_id,
)

PAGES = ["overview", "conversion", "churn", "versions", "features", "help"]
APIS = ["overview", "trial-conversion", "churn", "versions", "features", "definitions"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", ["manager", "ops"])
def test_page__managers_and_partner_ops__see_it(db, client, page, role, request):
    client.force_login(request.getfixturevalue(f"{role}_user" if role != "ops" else "ops_user"))

    response = client.get(reverse(f"dashboards:{page}"))

    assert response.status_code == 200
    assert b"What the figures mean" in response.content


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("user", ["support_user", "admin_user_role", "norole_user"])
def test_page__other_roles__get_the_console_403(db, client, page, user, request):
    client.force_login(request.getfixturevalue(user))

    response = client.get(reverse(f"dashboards:{page}"))

    assert response.status_code == 403
    assert b"You may not see the dashboards" in response.content
    assert b'id="site-name"' in response.content  # the console's frame


def test_page__anonymous__is_sent_to_sign_in(db, client):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@time_machine.travel(NOW, tick=False)
def test_overview_page__shows_linked_numbers_sandbox_note_and_chart(
    population, client, manager_user
):
    client.force_login(manager_user)

    response = client.get("/dashboard/", {"package": population.package.pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Sandboxes are excluded from these figures" in html
    assert 'id="chart-growth"' in html and 'id="chart-data"' in html
    assert "segment=live" in html  # the live figure links to its licenses
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert 'href="/dashboard/help/#live"' in html


@time_machine.travel(NOW, tick=False)
def test_overview_page__sandboxes_chosen__no_exclusion_note(population, client, manager_user):
    client.force_login(manager_user)

    response = client.get("/dashboard/", {"orgs": "all"})

    assert b"Sandboxes are excluded" not in response.content
    assert response.context["data"].live.value == 7


@pytest.mark.parametrize("params", [{"period": "7"}, {"orgs": "moon"}, {"package": "999999"}])
def test_page__invalid_filter__400_saying_which(db, client, manager_user, params):
    client.force_login(manager_user)

    response = client.get("/dashboard/churn/", params)

    assert response.status_code == 400
    assert next(iter(params)).encode() in response.content
    assert b'id="filter-errors"' in response.content


def test_help_page__lists_every_definition(db, client, manager_user):
    client.force_login(manager_user)

    response = client.get("/dashboard/help/")

    for term in ("Live", "Converted", "Churned", "Over-use", "Still installed after N days"):
        assert term.encode() in response.content


@time_machine.travel(NOW, tick=False)
def test_versions_csv__lists_live_orgs_on_older_versions(population, client, manager_user):
    client.force_login(manager_user)
    v200 = population.versions["2.0.0"]

    page = client.get("/dashboard/versions/", {"older_than": v200.pk})
    response = client.get("/dashboard/versions/older.csv", {"older_than": v200.pk})

    assert page.status_code == 200 and b'id="older-csv"' in page.content
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert response["Content-Type"] == "text/csv"
    assert lines[0].startswith("license,org_id,org_name")
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(
        population.licenses[k].name for k in ("A", "G")
    )
    assert client.get("/dashboard/versions/older.csv").status_code == 400


@time_machine.travel(NOW, tick=False)
def test_features_page__says_as_of_and_shows_a_change_at_once(population, client, manager_user):
    client.force_login(manager_user)
    first = client.get("/dashboard/features/")
    ops = get_user_model().objects.get(username="population-ops")
    feature_value_set(
        license=population.licenses["C"], parameter=population.premium, value=True, by=ops
    )

    again = client.get("/dashboard/features/")

    assert b"Figures as of 2026-06-15 12:00:00 UTC" in first.content
    assert b"Refresh now" not in first.content  # nothing kept, nothing to refresh
    assert first.context["data"].switches[0]["on"].value == 2
    assert again.context["data"].switches[0]["on"].value == 3


# --- Query counts ------------------------------------------------------------------------


def _population(count: int) -> None:
    """`count` licenses of two packages in every status, bulk-inserted, rollup recounted."""
    rng = random.Random(count)
    packages = [PackageFactory(), PackageFactory()]
    versions = [
        PackageVersionFactory(package=p, version_number=f"1.{n}.0")
        for p in packages
        for n in range(3)
    ]
    for package in packages:
        FeatureParameterFactory(package=package)
    start = NOW - dt.timedelta(days=400)
    licenses = []
    for _ in range(count):
        version = rng.choice(versions)
        installed = start + dt.timedelta(hours=rng.randrange(400 * 24))
        status = rng.choice(LicenseStatus.values)
        seats = rng.choice([-1, 5, 10, 50])
        licenses.append(
            License(
                package_id=version.package_id,
                version=version,
                org_id=org_id(),
                org_type=rng.choice(OrgType.values),
                status=status,
                seats=seats,
                used_licenses=rng.choice([None, 3, 12, 60]),
                installed_at=installed,
                trial_started_at=installed,
                activated_at=installed + dt.timedelta(days=5) if status == "active" else None,
                expires_at=installed + dt.timedelta(days=30),
                uninstalled_at=NOW - dt.timedelta(days=1) if status == "uninstalled" else None,
            )
        )
    License.objects.bulk_create(licenses, batch_size=500)
    rollup_rebuild()


def _queries(client, url: str) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/",
        "/dashboard/trial-conversion/",
        "/dashboard/churn/",
        "/dashboard/versions/",
        "/dashboard/features/",
        "/api/v1/dashboards/overview/",
        "/api/v1/dashboards/churn/",
    ],
)
@time_machine.travel(NOW, tick=False)
def test_page__query_count__bounded_and_the_same_at_10_and_1000_licenses(
    db, client, manager_user, url
):
    client.force_login(manager_user)
    _population(10)
    at_10 = _queries(client, url)

    _population(990)  # the same two packages' worth of rows again, and more licenses
    at_1000 = _queries(client, url)

    assert License.objects.count() == 1000
    assert at_10 == at_1000
    assert at_1000 <= 14


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", APIS)
def test_api__manager__200(db, manager_user, endpoint):
    response = token_client(manager_user).get(f"/api/v1/dashboards/{endpoint}/")

    assert response.status_code == 200


@pytest.mark.parametrize("endpoint", APIS)
@pytest.mark.parametrize("user", ["support_user", "admin_user_role", "norole_user"])
def test_api__other_roles__403_in_the_error_shape(db, endpoint, user, request):
    response = token_client(request.getfixturevalue(user)).get(f"/api/v1/dashboards/{endpoint}/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_api__anonymous__401(db):
    assert token_client(None).get("/api/v1/dashboards/overview/").status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [({"period": "12"}, "period"), ({"orgs": "x"}, "orgs"), ({"older_than": "abc"}, "older_than")],
)
def test_api__bad_filter__400_naming_the_field(db, ops_user, params, field):
    response = token_client(ops_user).get("/api/v1/dashboards/versions/", params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@time_machine.travel(NOW, tick=False)
def test_api__overview__the_same_figures_as_the_page(population, ops_user):
    response = token_client(ops_user).get(
        "/api/v1/dashboards/overview/", {"package": population.package.pk}
    )

    body = response.json()
    assert body["scope"]["sandboxes_excluded"] is True
    assert (body["live"]["value"], body["live"]["previous"], body["live"]["change"]) == (6, 4, 2)
    assert body["active_seats"]["value"] == 70
    assert [r["license"] for r in body["over_use_rows"]] == [
        population.licenses["A"].name,
        population.licenses["G"].name,
    ]
    assert "segment=over_limit" in body["over_use"]["url"]


@time_machine.travel(NOW, tick=False)
def test_api__conversion_churn_versions_features(population, manager_user):
    client = token_client(manager_user)

    conversion = client.get("/api/v1/dashboards/trial-conversion/").json()
    churn = client.get("/api/v1/dashboards/churn/").json()
    versions = client.get(
        "/api/v1/dashboards/versions/", {"older_than": population.versions["2.0.0"].pk}
    ).json()
    features = client.get("/api/v1/dashboards/features/", {"refresh": "true"}).json()

    assert (conversion["started"], conversion["converted"]) == (11, 4)
    assert conversion["median_days_to_purchase"] == 10
    assert churn["uninstalls"] == 2
    assert versions["packages"][0]["on_latest_share"] == 0.6667
    assert "version__id__in=" in versions["older"]["url"]
    assert features["readings"][0]["median"] == 12


def test_page__no_filters__shows_the_pages_defaults_as_chosen(db, client, manager_user):
    client.force_login(manager_user)

    conversion = client.get("/dashboard/trial-conversion/").content.decode()
    overview = client.get("/dashboard/").content.decode()

    assert '<option value="365" selected>' in conversion
    assert '<option value="30" selected>' in overview
    assert '<option value="production" selected>' in overview
