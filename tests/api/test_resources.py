"""Packages, feature parameters, accounts, leads and the event inbox through the API."""

import pytest

from features.models import FeatureParameter, FeatureParameterValue
from leads.choices import LeadStatus
from leads.models import Account, Lead
from packages.models import Package
from tests.api.conftest import token_client
from tests.factories import make_license


@pytest.fixture
def admin_client(admin_user_role):
    return token_client(admin_user_role)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    return body


NEW_PACKAGE = {
    "name": "Route Planner",
    "namespace": "routes",
    "package_id": "0330X000000AbCd",
    "developer_org_id": "00D0X000000DevO",
    "default_status": "trial",
    "trial_days": 14,
    "default_seats": 25,
}


# --- packages -------------------------------------------------------------------------------


def test_package_create__with_15_character_ids__stores_18_and_links(db, admin_client):
    response = admin_client.post(
        "/api/v1/packages/", {**NEW_PACKAGE, "license_manager_linked": True}, format="json"
    )

    assert response.status_code == 201, response.content
    package = Package.objects.get(namespace="routes")
    assert len(package.package_id) == 18
    assert package.package_id.startswith("0330X000000AbCd")
    assert package.license_manager_linked
    assert response.json()["linked_at"] is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"package_id": "04t0X000000XyZa"}, "package_id"),
        ({"trial_days": 91}, "trial_days"),
        ({"trial_days": 0}, "trial_days"),
        ({"default_status": "active", "license_days": 3_000_000}, "license_days"),
        ({"default_status": "active", "license_days": 36_501}, "license_days"),
        ({"default_status": "active", "license_days": 0}, "license_days"),
        ({"default_seats": 0}, "default_seats"),
        ({"default_seats": 99_000_001}, "default_seats"),
        ({"namespace": "1bad"}, "namespace"),
        ({"status": "active"}, "status"),
    ],
)
def test_package_create__invalid_field__answers_400_and_creates_nothing(
    db, admin_client, change, field
):
    response = admin_client.post("/api/v1/packages/", {**NEW_PACKAGE, **change}, format="json")

    body = assert_error(response, 400, "invalid")
    assert field in body["fields"]
    assert not Package.objects.filter(namespace=NEW_PACKAGE["namespace"]).exists()


def test_package_update__link__sets_license_manager_once(db, admin_client, package):
    Package.objects.filter(pk=package.pk).update(license_manager_linked=False, linked_at=None)

    response = admin_client.patch(
        f"/api/v1/packages/{package.pk}/", {"license_manager_linked": True}, format="json"
    )

    assert response.status_code == 200
    package.refresh_from_db()
    assert package.license_manager_linked and package.linked_at is not None


def test_package_update__unlink__answers_409_and_stays_linked(db, admin_client, package):
    response = admin_client.patch(
        f"/api/v1/packages/{package.pk}/",
        {"license_manager_linked": False, "trial_days": 20},
        format="json",
    )

    body = assert_error(response, 409, "license_manager_linked")
    assert "cannot be undone" in body["message"]
    package.refresh_from_db()
    assert package.license_manager_linked
    assert package.trial_days == 30


def test_package_update__defaults__are_saved(db, admin_client, package):
    response = admin_client.patch(
        f"/api/v1/packages/{package.pk}/",
        {"default_status": "active", "license_days": 365, "default_seats": -1},
        format="json",
    )

    assert response.status_code == 200
    package.refresh_from_db()
    assert (package.default_status, package.license_days, package.default_seats) == (
        "active",
        365,
        -1,
    )


def test_package_update__namespace__is_read_only(db, admin_client, package):
    response = admin_client.patch(
        f"/api/v1/packages/{package.pk}/", {"namespace": "other"}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert "namespace" in body["fields"]
    package.refresh_from_db()
    assert package.namespace != "other"


def test_package_versions__lists_the_package_versions_only(world, ops_client):
    response = ops_client.get(f"/api/v1/packages/{world['package'].pk}/versions/")

    assert response.status_code == 200
    assert [v["version_number"] for v in response.json()["results"]] == ["1.0.0"]


# --- feature parameters ---------------------------------------------------------------------


def test_feature_parameter_create__gives_live_licenses_the_default(world, admin_client):
    response = admin_client.post(
        "/api/v1/feature-parameters/",
        {
            "package": world["package"].pk,
            "developer_name": "Premium",
            "label": "Premium",
            "data_type": "boolean",
            "direction": "lmo_to_subscriber",
            "default_value": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["default_value"] is True
    parameter = FeatureParameter.objects.get(developer_name="Premium")
    live = FeatureParameterValue.objects.filter(parameter=parameter)
    assert live.count() == 3  # trial, active, suspended; not the uninstalled one
    assert all(value.value is True for value in live)


def test_feature_parameter_create__default_of_wrong_type__answers_400(world, admin_client):
    response = admin_client.post(
        "/api/v1/feature-parameters/",
        {
            "package": world["package"].pk,
            "developer_name": "Seats_Cap",
            "label": "Seats cap",
            "data_type": "integer",
            "direction": "lmo_to_subscriber",
            "default_value": "ten",
        },
        format="json",
    )

    assert_error(response, 400, "invalid")
    assert not FeatureParameter.objects.filter(developer_name="Seats_Cap").exists()


def test_feature_parameter_create__duplicate_name__answers_400(world, admin_client):
    response = admin_client.post(
        "/api/v1/feature-parameters/",
        {
            "package": world["package"].pk,
            "developer_name": "Max_Jobs",
            "label": "Again",
            "data_type": "integer",
            "direction": "lmo_to_subscriber",
        },
        format="json",
    )

    assert_error(response, 400, "invalid")
    assert FeatureParameter.objects.filter(developer_name="Max_Jobs").count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"data_type": "boolean"},
        {"direction": "subscriber_to_lmo"},
        {"developer_name": "Renamed"},
    ],
)
def test_feature_parameter_update__fixed_field__answers_409_and_changes_nothing(
    world, admin_client, change
):
    parameter = world["max_jobs"]

    response = admin_client.patch(
        f"/api/v1/feature-parameters/{parameter.pk}/", {**change, "label": "New"}, format="json"
    )

    body = assert_error(response, 409, "parameter_immutable")
    assert next(iter(change)) in body["message"]
    parameter.refresh_from_db()
    assert (parameter.label, parameter.data_type, parameter.developer_name) == (
        "Max jobs",
        "integer",
        "Max_Jobs",
    )


def test_feature_parameter_update__label_and_default__are_saved(world, admin_client):
    parameter = world["max_jobs"]

    response = admin_client.patch(
        f"/api/v1/feature-parameters/{parameter.pk}/",
        {"label": "Jobs a month", "default_value": 50},
        format="json",
    )

    assert response.status_code == 200
    parameter.refresh_from_db()
    assert (parameter.label, parameter.default_value) == ("Jobs a month", 50)


# --- accounts and leads ---------------------------------------------------------------------


def test_account_create_and_update__by_ops(db, ops_client):
    created = ops_client.post("/api/v1/accounts/", {"name": "Umbrella"}, format="json")
    assert created.status_code == 201
    assert created.json()["license_count"] == 0

    account_id = created.json()["id"]
    updated = ops_client.patch(
        f"/api/v1/accounts/{account_id}/", {"website": "https://umbrella.example"}, format="json"
    )

    assert updated.status_code == 200
    assert Account.objects.get(pk=account_id).website == "https://umbrella.example"


def test_lead_create__with_15_character_org_id__stores_18(db, ops_client):
    response = ops_client.post(
        "/api/v1/leads/",
        {"last_name": "Hopper", "email": "grace@navy.example", "org_id": "00D5g000004Sbcd"},
        format="json",
    )

    assert response.status_code == 201, response.content
    lead = Lead.objects.get(email="grace@navy.example")
    assert len(lead.org_id) == 18
    assert lead.status == LeadStatus.OPEN


def test_lead_patch_status__is_refused_by_name_and_changes_nothing(world, ops_client):
    lead = world["lead"]

    response = ops_client.patch(f"/api/v1/leads/{lead.pk}/", {"status": "converted"}, format="json")

    body = assert_error(response, 400, "invalid")
    assert body["fields"]["status"] == [
        "Read-only: the server sets this field; nothing was changed."
    ]
    lead.refresh_from_db()
    assert lead.status == LeadStatus.OPEN


def test_lead_convert__creates_account_and_assigns_the_org_licenses(world, ops_client):
    # Given an open lead whose org has a live license
    lead = world["lead"]
    license = make_license(
        package=world["package"], version=world["version"], org_id_value=lead.org_id
    )

    # When ops convert it
    response = ops_client.post(
        f"/api/v1/leads/{lead.pk}/convert/", {"account_name": "Initech"}, format="json"
    )

    # Then the lead is converted, the account exists and owns the license
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lead"]["status"] == "converted"
    assert body["account"]["name"] == "Initech"
    assert body["account"]["license_count"] == 1
    license.refresh_from_db()
    assert license.account_id == body["account"]["id"]


def test_lead_convert__twice__answers_409(world, ops_client):
    lead = world["lead"]
    ops_client.post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json")
    accounts = Account.objects.count()

    response = ops_client.post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json")

    assert_error(response, 409, "lead_already_converted")
    assert Account.objects.count() == accounts


# --- events ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        (lambda w: {"org_id": w["trial"].org_id[:15]}, True),
        (lambda w: {"org_id": w["trial"].org_id}, True),
        (lambda w: {"org_id": w["active"].org_id}, False),
        (lambda w: {"org_id": "not-an-org"}, False),
        (lambda w: {"event_id": "msg_world_1"}, True),
        (lambda w: {"outcome": "applied"}, True),
        (lambda w: {"outcome": "unrouted"}, False),
        (lambda w: {"package_id": w["package"].package_id[:15]}, True),
    ],
)
def test_events_list__filters(world, ops_client, query, found):
    response = ops_client.get("/api/v1/events/", query(world))

    assert response.status_code == 200
    ids = [event["event_id"] for event in response.json()["results"]]
    assert ids == (["msg_world_1"] if found else [])


def test_events__are_read_only(world, ops_client):
    response = ops_client.patch(
        f"/api/v1/events/{world['event'].pk}/", {"outcome": "ignored"}, format="json"
    )

    assert_error(response, 405, "method_not_allowed")
    world["event"].refresh_from_db()
    assert world["event"].outcome == "applied"
