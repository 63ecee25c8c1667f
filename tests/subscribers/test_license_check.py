"""The license check: authentication, answers, query counts, cache and invalidation."""

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from features.models import FeatureParameter
from features.services import feature_value_set
from licenses.models import License
from packages.models import PackageVersion, SubscriberApiKey
from tests.factories import PackageFactory, make_license

from .helpers import CHECK_URL, deliver, install_body, post_event

ORG = "00D5g000004AbCd"


@pytest.fixture
def api_key(pkg):
    _, raw = SubscriberApiKey.issue(package=pkg)
    return raw


@pytest.fixture
def license(client, pkg):
    now = timezone.now() - dt.timedelta(minutes=5)
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG, at=now))
    return License.objects.get()


def _check(client, key, org=ORG, package_id=None, pkg=None):
    return client.get(
        CHECK_URL,
        {"org_id": org, "package_id": package_id or pkg.package_id},
        headers={"authorization": f"Bearer {key}"} if key else {},
    )


def test_check__trial__answers_all_fields_with_lmo_to_subscriber_features(
    client, pkg, api_key, license
):
    response = _check(client, api_key, pkg=pkg)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "org_id": license.org_id,
        "package_id": pkg.package_id,
        "status": "trial",
        "access": True,
        "code": "TRIAL",
        "grace_ends_at": None,
        "seats": pkg.default_seats,
        "used_licenses": None,
        "expires_at": license.expires_at.isoformat().replace("+00:00", "Z"),
        "version_number": "1.0.0",
        "features": {"Premium": False, "Max_Users": 25},
        "overrides": {},
    }


def test_check__15_and_18_char_ids__same_answer(client, pkg, api_key, license):
    short = _check(client, api_key, org=ORG, package_id=pkg.package_id[:15]).json()
    long = _check(client, api_key, org=license.org_id, package_id=pkg.package_id).json()

    assert short == long
    assert short["org_id"] == license.org_id


def test_check__no_key_or_wrong_key_or_revoked__401(client, pkg, api_key, license):
    assert _check(client, None, pkg=pkg).status_code == 401
    assert _check(client, "lmo_sk_wrong", pkg=pkg).status_code == 401
    basic = client.get(
        CHECK_URL,
        {"org_id": ORG, "package_id": pkg.package_id},
        headers={"authorization": "Basic abc"},
    )
    assert basic.status_code == 401
    assert basic.json()["error"]["code"] == "not_authenticated"


def test_check__revoked_key__401_even_when_cached(
    client, pkg, api_key, license, django_capture_on_commit_callbacks
):
    assert _check(client, api_key, pkg=pkg).status_code == 200
    key = SubscriberApiKey.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        key.revoke()
    response = _check(client, api_key, pkg=pkg)

    assert response.status_code == 401


def test_check__key_of_another_package__404_not_403(client, pkg, license):
    other = PackageFactory()
    _, other_key = SubscriberApiKey.issue(package=other)

    response = _check(client, other_key, pkg=pkg)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert response.json()["error"]["code"] == "not_found"


def test_check__org_without_license__404_not_found(client, pkg, api_key):
    response = _check(client, api_key, org="00D000000000404", pkg=pkg)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"org_id": "001000000000001"}, "org_id"),
        ({"org_id": "00D5g000004AbCdXXX"}, "org_id"),
        ({"package_id": "04t000000000001"}, "package_id"),
        ({"org_id": ""}, "org_id"),
    ],
)
def test_check__bad_ids__400(client, pkg, api_key, params, field):
    query = {"org_id": ORG, "package_id": pkg.package_id, **params}

    response = client.get(CHECK_URL, query, headers={"authorization": f"Bearer {api_key}"})

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_check__trial_past_end_before_sweep__denied_expired(client, pkg, api_key, license):
    assert _check(client, api_key, pkg=pkg).json()["access"] is True

    with time_machine.travel(license.expires_at + dt.timedelta(minutes=1)):
        body = _check(client, api_key, pkg=pkg).json()

    assert (body["status"], body["access"], body["code"]) == ("trial", False, "EXPIRED")


def test_check__uninstalled_only__answers_uninstalled(client, pkg, api_key):
    make_license(package=pkg, org_id_value=ORG, status="uninstalled")

    body = _check(client, api_key, pkg=pkg).json()

    assert (body["status"], body["access"], body["code"]) == ("uninstalled", False, "UNINSTALLED")


def test_check__reinstalled__answers_live_license(client, pkg, api_key):
    make_license(package=pkg, org_id_value=ORG, status="uninstalled")
    make_license(package=pkg, org_id_value=ORG, status="active")

    body = _check(client, api_key, pkg=pkg).json()

    assert (body["code"], body["access"]) == ("ACTIVE", True)


def test_check__uncached__at_most_two_queries(
    client, pkg, api_key, license, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        response = _check(client, api_key, pkg=pkg)
    assert response.status_code == 200


def test_check__cached__no_queries(client, pkg, api_key, license, django_assert_num_queries):
    _check(client, api_key, pkg=pkg)

    with django_assert_num_queries(0):
        response = _check(client, api_key, pkg=pkg)

    assert response.json()["features"] == {"Premium": False, "Max_Users": 25}


def test_check__404__not_cached_so_an_install_is_seen_at_once(
    client, pkg, api_key, django_assert_max_num_queries
):
    assert _check(client, api_key, pkg=pkg).status_code == 404
    with django_assert_max_num_queries(1):
        assert _check(client, api_key, pkg=pkg).status_code == 404

    # No on-commit callbacks run here: the answer must not depend on an invalidation.
    deliver(client, install_body(package_id=pkg.package_id, org_id=ORG, at=timezone.now()))

    response = _check(client, api_key, pkg=pkg)
    assert response.status_code == 200
    assert response.json()["org_id"] == License.objects.get().org_id


def test_check__suspend__seen_by_very_next_check(
    client, pkg, api_key, license, django_capture_on_commit_callbacks
):
    # Given a cached answer
    assert _check(client, api_key, pkg=pkg).json()["access"] is True

    # When staff suspend the license (and it commits)
    with django_capture_on_commit_callbacks(execute=True):
        License.objects.get().suspend(by="ops", reason="Payment overdue")

    # Then the next check sees it
    body = _check(client, api_key, pkg=pkg).json()
    assert (body["status"], body["access"], body["code"]) == ("suspended", False, "SUSPENDED")


def test_check__feature_value_change__seen_by_next_check(
    client, pkg, api_key, license, django_capture_on_commit_callbacks
):
    assert _check(client, api_key, pkg=pkg).json()["features"]["Premium"] is False

    with django_capture_on_commit_callbacks(execute=True):
        feature_value_set(
            license=License.objects.get(),
            parameter=FeatureParameter.objects.get(developer_name="Premium"),
            value=True,
            by="ops",
        )

    assert _check(client, api_key, pkg=pkg).json()["features"]["Premium"] is True


def test_check__upgrade_event__seen_by_next_check(
    client, pkg, api_key, license, django_capture_on_commit_callbacks
):
    assert _check(client, api_key, pkg=pkg).json()["version_number"] == "1.0.0"

    with django_capture_on_commit_callbacks(execute=True):
        post_event(
            client,
            install_body(
                package_id=pkg.package_id,
                org_id=ORG,
                at=timezone.now(),
                event_type="package.upgraded",
                version_id="04t000000000099",
                version_number="2.0.0",
            ),
        )

    assert PackageVersion.objects.filter(version_number="2.0.0").exists()
    assert _check(client, api_key, pkg=pkg).json()["version_number"] == "2.0.0"


def test_check__without_trailing_slash__same_answer(client, pkg, api_key, license):
    response = client.get(
        CHECK_URL.rstrip("/"),
        {"org_id": ORG, "package_id": pkg.package_id},
        headers={"authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 200


def test_check__change_rolled_back__cached_answer_stays(
    client, pkg, api_key, license, django_capture_on_commit_callbacks
):
    assert _check(client, api_key, pkg=pkg).json()["access"] is True

    # A suspension that never commits must not drop the cache either
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                License.objects.get().suspend(by="ops", reason="Payment overdue")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert callbacks == []
    assert _check(client, api_key, pkg=pkg).json()["access"] is True


def test_check__other_methods__405_json(client, pkg, api_key):
    response = client.post(
        CHECK_URL, {"org_id": ORG}, headers={"authorization": f"Bearer {api_key}"}
    )

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
