import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from licenses.selectors import dashboard_compute
from tests.factories import PackageFactory, PackageVersionFactory, make_license


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def population(db):
    now = timezone.now()
    package = PackageFactory(name="Field Service Pro", namespace="fsp")
    v1 = PackageVersionFactory(package=package, version_number="1.0.0")
    v2 = PackageVersionFactory(package=package, version_number="2.0.0")
    lapsing = make_license(package=package, version=v1, installed_at=now - dt.timedelta(days=27))
    make_license(package=package, version=v2)
    bought = make_license(package=package, version=v2)
    bought.activate(by="system", seats=40)
    site = make_license(package=package, version=v2)
    site.activate(by="system", seats=-1)
    gone = make_license(package=package, version=v1)
    gone.mark_uninstalled(now)
    return {"package": package, "lapsing": lapsing}


def test_dashboard_compute__aggregates(population):
    data = dashboard_compute()
    assert data.status_counts == {
        "trial": 2,
        "active": 2,
        "suspended": 0,
        "expired": 0,
        "uninstalled": 1,
    }
    assert data.active_seats == 40
    assert data.active_site_licenses == 1
    assert (data.trials_started, data.trials_converted) == (5, 2)
    assert [lic.pk for lic in data.lapsing_trials] == [population["lapsing"].pk]
    spread = {row["version__version_number"]: row["installs"] for row in data.version_spread}
    assert spread == {"2.0.0": 3, "1.0.0": 1}
    assert sum(month["installs"] for month in data.monthly) == 5
    assert data.monthly[-1]["uninstalls"] == 1


def test_dashboard_compute__query_count_does_not_grow_with_licenses(
    population, django_assert_max_num_queries
):
    for _ in range(10):
        make_license(package=population["package"])
    with django_assert_max_num_queries(9):
        dashboard_compute()


@pytest.mark.parametrize(
    ("role", "status"),
    [("manager", 200), ("ops", 403), ("support", 403), ("admin", 403), (None, 403)],
)
def test_dashboard_page__only_managers(client, population, role, status):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username=f"dash-{role}", role=role))
    response = client.get("/dashboard/")
    assert response.status_code == status
    if status == 200:
        body = response.content.decode()
        assert "Active seats" in body
        assert population["lapsing"].name in body
        assert "cdn" not in body.lower()


def test_dashboard_page__anonymous_is_sent_to_login(client, db):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_dashboard_page__filtered_by_package(client, population):
    from tests.factories import UserFactory

    other = PackageFactory(name="Other")
    make_license(package=other)
    client.force_login(UserFactory(username="mgr", role="manager"))
    response = client.get(f"/dashboard/?package={other.pk}")
    assert response.context["dashboard"].status_counts["trial"] == 1
