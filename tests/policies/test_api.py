"""Feature overrides and grace through the staff API."""

import datetime as dt

import pytest
from django.utils import timezone

from features.models import FeatureOverride, FeatureParameter
from licenses.models import LicenseEvent
from tests.api.conftest import token_client
from tests.factories import PackageFactory, make_license

URL = "/api/v1/feature-overrides/"


@pytest.fixture(autouse=True)
def _fixed_time(real_time):
    """Real time stands still for these, so `until` stays in the future."""


@pytest.fixture
def pilot(graced):
    premium = FeatureParameter.objects.get(package=graced, developer_name="Premium")
    licenses = [make_license(package=graced) for _ in range(3)]
    return premium, licenses


def _until(days=14):
    return (timezone.now() + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_create__ops_pilot_on_three_and_one_unknown__applied_each_and_not_found(ops_user, pilot):
    premium, licenses = pilot
    response = token_client(ops_user).post(
        URL,
        {
            "parameter": premium.pk,
            "licenses": [*(lic.pk for lic in licenses), 999999],
            "value": True,
            "until": _until(),
            "reason": "pilot",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["applied"], body["refused"]) == (3, 1)
    assert body["results"][-1] == {
        "id": 999999,
        "license": None,
        "outcome": "not_found",
        "message": "No such license.",
    }
    assert FeatureOverride.objects.filter(ended_at__isnull=True).count() == 3
    listed = token_client(ops_user).get(URL, {"running": "true", "license": licenses[0].pk})
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert (row["developer_name"], row["value"], row["previous_value"]) == (
        "Premium",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [({"value": "yes"}, "value"), ({"until": "2020-01-01T00:00:00Z"}, "until")],
)
def test_create__bad_value_or_past_until__400_and_nothing_written(ops_user, pilot, change, field):
    premium, licenses = pilot
    body = {"parameter": premium.pk, "licenses": [licenses[0].pk], "value": True, "until": _until()}
    response = token_client(ops_user).post(URL, {**body, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not FeatureOverride.objects.exists()
    assert not LicenseEvent.objects.filter(kind="feature_changed").exists()


@pytest.mark.parametrize(("role", "status"), [("support_user", 403), ("manager_user", 403)])
def test_create__read_only_roles__403_and_nothing_written(request, pilot, role, status):
    premium, licenses = pilot
    response = token_client(request.getfixturevalue(role)).post(
        URL,
        {"parameter": premium.pk, "licenses": [licenses[0].pk], "value": True, "until": _until()},
        format="json",
    )
    assert response.status_code == status
    assert not FeatureOverride.objects.exists()


def test_list__no_role__sees_nothing(norole_user, pilot):
    assert token_client(norole_user).get(URL).status_code == 403


def test_package_grace_days__api_validates_range(admin_user_role):
    package = PackageFactory()
    client = token_client(admin_user_role)
    response = client.patch(f"/api/v1/packages/{package.pk}/", {"grace_days": 31}, format="json")
    assert response.status_code == 400
    assert "grace_days" in response.json()["error"]["fields"]
    response = client.patch(f"/api/v1/packages/{package.pk}/", {"grace_days": 5}, format="json")
    assert response.status_code == 200
    assert response.json()["grace_days"] == 5
