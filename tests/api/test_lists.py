"""License filters, ordering, cursor pagination, and query counts of every list."""

import datetime as dt

import pytest
from django.utils import timezone

from leads.models import Account, Lead
from licenses.choices import LicenseStatus
from licenses.models import License, LicenseEvent
from packages.models import PackageVersion
from subscribers.choices import EventType, Outcome
from subscribers.models import SubscriberEvent
from tests.factories import (
    AccountFactory,
    FeatureParameterFactory,
    LeadFactory,
    PackageFactory,
    PackageVersionFactory,
    make_license,
    org_id,
)


def names(response):
    assert response.status_code == 200, response.content
    return {row["org_name"] for row in response.json()["results"]}


@pytest.fixture
def spread(world):
    """Licenses that differ in one property each, next to the world's."""
    now = world["now"]
    other_package = PackageFactory()
    other_version = PackageVersionFactory(package=other_package, version_number="2.0.0")
    account = world["account"]
    return {
        "other": make_license(
            package=other_package, version=other_version, org_name="Other Package Org"
        ),
        "sandbox": make_license(
            package=world["package"],
            version=world["version"],
            is_sandbox=True,
            org_name="Sandbox Org",
            account=account,
        ),
        "old": make_license(
            package=world["package"],
            version=world["version"],
            org_name="Old Install",
            installed_at=now - dt.timedelta(days=400),
            status=LicenseStatus.EXPIRED,
            expires_at=now - dt.timedelta(days=370),
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "active"}, {"Active Org"}),
        ({"status": ["suspended", "uninstalled"]}, {"Held Org", "Gone Org"}),
        ({"sandbox": "true"}, {"Sandbox Org"}),
        ({"sandbox": "false", "status": "trial"}, {"Trial Org", "Other Package Org"}),
    ],
)
def test_licenses_list__status_and_sandbox_filters(world, spread, ops_client, query, expected):
    assert names(ops_client.get("/api/v1/licenses/", query)) == expected


def test_licenses_list__package_version_and_account_filters(world, spread, ops_client):
    other = spread["other"]

    assert names(ops_client.get("/api/v1/licenses/", {"package": other.package_id})) == {
        "Other Package Org"
    }
    assert names(ops_client.get("/api/v1/licenses/", {"version": other.version_id})) == {
        "Other Package Org"
    }
    assert names(ops_client.get("/api/v1/licenses/", {"account": world["account"].pk})) == {
        "Sandbox Org"
    }


def test_licenses_list__org_id_in_either_form(world, ops_client):
    org = world["active"].org_id

    assert names(ops_client.get("/api/v1/licenses/", {"org_id": org})) == {"Active Org"}
    assert names(ops_client.get("/api/v1/licenses/", {"org_id": org[:15]})) == {"Active Org"}
    assert names(ops_client.get("/api/v1/licenses/", {"org_id": "00Dnope"})) == set()


def test_licenses_list__date_filters(world, spread, ops_client):
    now = world["now"]

    lapsed = ops_client.get("/api/v1/licenses/", {"expires_before": now.isoformat()})
    later = ops_client.get(
        "/api/v1/licenses/", {"expires_after": (now + dt.timedelta(days=100)).isoformat()}
    )
    recent = ops_client.get(
        "/api/v1/licenses/", {"installed_after": (now - dt.timedelta(days=30)).isoformat()}
    )

    assert names(lapsed) == {"Old Install"}
    assert names(later) == {"Active Org"}
    assert "Old Install" not in names(recent)
    assert "Trial Org" in names(recent)


def test_licenses_list__dates_with_any_offset__compared_in_utc(world, spread, ops_client):
    # An offset PostgreSQL cannot store (beyond 15:59) is still a valid ISO 8601 instant
    now = world["now"]
    far_east = (now - dt.timedelta(days=30)).astimezone(dt.timezone(dt.timedelta(hours=19)))

    recent = ops_client.get("/api/v1/licenses/", {"installed_after": far_east.isoformat()})

    assert "Old Install" not in names(recent)
    assert "Trial Org" in names(recent)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"package": "abc"}, "package"),
        ({"package": "99999999999999999999"}, "package"),
        ({"expires_before": "tomorrow"}, "expires_before"),
        ({"installed_after": "0001-01-01T00:30:00+01:00"}, "installed_after"),
        ({"page_size": "-3"}, "page_size"),
    ],
)
def test_licenses_list__bad_filter__answers_400_naming_it(world, ops_client, query, field):
    response = ops_client.get("/api/v1/licenses/", query)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_licenses_list__ordering_by_org_name(world, ops_client):
    response = ops_client.get("/api/v1/licenses/", {"ordering": "org_name"})

    ordered = [row["org_name"] for row in response.json()["results"]]
    assert ordered == sorted(ordered)


def _bulk_licenses(package, count):
    version = PackageVersion.objects.filter(package=package).first()
    now = timezone.now()
    License.objects.bulk_create(
        License(
            package=package,
            version=version,
            org_id=org_id(),
            org_name=f"Bulk {i:03d}",
            status=LicenseStatus.ACTIVE,
            seats=5,
            installed_at=now,
        )
        for i in range(count)
    )


def test_licenses_list__page_size_is_capped_at_100_and_cursor_walks_every_row(world, ops_client):
    # Given 105 licenses besides the world's 4
    _bulk_licenses(world["package"], 105)

    # When a client asks for 500 per page and follows the cursor
    first = ops_client.get("/api/v1/licenses/", {"page_size": 500})
    second = ops_client.get(first.json()["next"])

    # Then pages hold at most 100 and together hold every license once
    assert len(first.json()["results"]) == 100
    seen = [row["id"] for row in first.json()["results"] + second.json()["results"]]
    assert len(seen) == len(set(seen)) == License.objects.count() == 109
    assert second.json()["next"] is None


def test_licenses_list__garbage_cursor__answers_404(world, ops_client):
    response = ops_client.get("/api/v1/licenses/", {"cursor": "cD1hYmM="})  # p=abc

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_licenses_list__by_role_without_licenses__is_403(world, client_for, admin_user_role):
    response = client_for(admin_user_role).get("/api/v1/licenses/")

    assert response.status_code == 403


# --- query counts: the bound does not grow with the page ---------------------------------------


def _grow(world, count):
    """`count` more rows of everything the lists show."""
    package = world["package"]
    for i in range(count):
        license = make_license(package=package, version=world["version"], org_name=f"Org {i}")
        license.record_event("status_changed", by="system", reason="grow")
        account = AccountFactory()
        License.objects.filter(pk=license.pk).update(account=account)
        LeadFactory(package=package)
        FeatureParameterFactory(package=package, developer_name=f"Grow_{i}")
        PackageVersionFactory(package=package)
        PackageFactory()
        SubscriberEvent.objects.create(
            event_id=f"grow-{i}",
            type=EventType.INSTALLED,
            occurred_at=timezone.now(),
            package_id=package.package_id,
            org_id=license.org_id,
            payload={},
            outcome=Outcome.APPLIED,
            license=license,
        )


LISTS = [
    ("/api/v1/licenses/", License),
    ("/api/v1/packages/", None),
    ("/api/v1/feature-parameters/", None),
    ("/api/v1/accounts/", Account),
    ("/api/v1/leads/", Lead),
    ("/api/v1/events/", SubscriberEvent),
    ("history", LicenseEvent),
    ("versions", None),
]
MAX_LIST_QUERIES = 5  # token, permissions (2), page; history and versions add the parent


def _path(world, path):
    if path == "history":
        return f"/api/v1/licenses/{world['active'].pk}/history/"
    if path == "versions":
        return f"/api/v1/packages/{world['package'].pk}/versions/"
    return path


@pytest.mark.parametrize("rows", [5, 30])
def test_every_list__query_count__does_not_grow_with_the_page(
    world, ops_client, django_assert_max_num_queries, rows
):
    # Given `rows` more of everything (history rows are on the active license)
    _grow(world, rows)
    for _ in range(rows):
        world["active"].record_event("seats_changed", by="system")

    for path, _model in LISTS:
        # When ops list a full page
        with django_assert_max_num_queries(MAX_LIST_QUERIES):
            response = ops_client.get(_path(world, path), {"page_size": 100})

        # Then the page holds every row, read in the same few queries
        assert response.status_code == 200, path
        assert len(response.json()["results"]) >= rows, path


def test_license_detail__query_count__does_not_grow_with_feature_values(
    world, ops_client, django_assert_max_num_queries
):
    for i in range(20):
        FeatureParameterFactory(package=world["package"], developer_name=f"Extra_{i}")

    with django_assert_max_num_queries(5):
        response = ops_client.get(f"/api/v1/licenses/{world['trial'].pk}/")

    assert response.status_code == 200
