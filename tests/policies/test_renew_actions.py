"""Renewal through the registry: the API's single and bulk endpoints and the console."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from licenses.choices import RENEWAL_RULE, EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.api.conftest import token_client
from tests.factories import PackageFactory, make_license


@pytest.fixture
def bought(db):
    package = PackageFactory(default_status="active", license_days=365)
    now = timezone.now()
    return {
        "running": make_license(
            package=package, status=LicenseStatus.ACTIVE, expires_at=now + dt.timedelta(days=5)
        ),
        "expired": make_license(
            package=package,
            status=LicenseStatus.EXPIRED,
            activated_at=now - dt.timedelta(days=400),
            expires_at=now - dt.timedelta(days=3),
        ),
        "trial": make_license(package=package),
    }


def test_api_renew__running_license__term_from_its_end(bought, ops_user):
    license = bought["running"]
    old_end = license.expires_at
    response = token_client(ops_user).post(
        f"/api/v1/licenses/{license.pk}/renew/", {"days": 30}, format="json"
    )
    assert response.status_code == 200, response.json()
    license.refresh_from_db()
    assert license.expires_at == old_end + dt.timedelta(days=30)
    assert LicenseEvent.objects.filter(license=license, kind=EventKind.RENEWED).count() == 1


def test_api_renew__trial__409_and_nothing_written(bought, ops_user):
    trial = bought["trial"]
    response = token_client(ops_user).post(f"/api/v1/licenses/{trial.pk}/renew/", {}, format="json")
    assert response.status_code == 409
    assert "activate it instead" in response.json()["error"]["message"]
    assert not LicenseEvent.objects.filter(kind=EventKind.RENEWED).exists()


def test_api_renew__support__403(bought, support_user):
    license = bought["running"]
    response = token_client(support_user).post(
        f"/api/v1/licenses/{license.pk}/renew/", {"days": 30}, format="json"
    )
    assert response.status_code == 403
    assert not LicenseEvent.objects.filter(kind=EventKind.RENEWED).exists()


def test_api_bulk_renew__package_term__expired_active_again_trial_refused(bought, ops_user):
    ids = [bought["expired"].pk, bought["running"].pk, bought["trial"].pk]
    response = token_client(ops_user).post(
        "/api/v1/licenses/bulk/", {"action": "renew", "ids": ids}, format="json"
    )
    assert response.status_code == 200, response.json()
    outcomes = [r["outcome"] for r in response.json()["results"]]
    assert outcomes == ["applied", "applied", "refused"]
    expired = License.objects.get(pk=bought["expired"].pk)
    assert expired.status == LicenseStatus.ACTIVE
    assert expired.expires_at > timezone.now() + dt.timedelta(days=364)


def test_console_renew__form_shows_the_rule_and_renews(bought, client, ops_user):
    license = bought["expired"]
    client.force_login(ops_user)
    url = reverse("admin:licenses_license_changelist")
    form_page = client.post(
        url, {"action": "action_renew", "_selected_action": [license.pk], "index": "0"}
    )
    assert RENEWAL_RULE in form_page.content.decode()
    client.post(
        url,
        {
            "action": "action_renew",
            "_selected_action": [license.pk],
            "index": "0",
            "apply": "1",
            "days": "90",
        },
    )
    license.refresh_from_db()
    assert license.status == LicenseStatus.ACTIVE
    event = LicenseEvent.objects.get(license=license, kind=EventKind.RENEWED)
    assert (event.before["status"], event.after["status"]) == ("expired", "active")
