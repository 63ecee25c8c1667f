"""Each license action through the API, with its refusals: nothing is written on a refusal."""

import datetime as dt

import pytest

from features.models import FeatureParameterValue
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent


def url(license, action=""):
    return f"/api/v1/licenses/{license.pk}/{action + '/' if action else ''}"


def later(world, days):
    return (world["now"] + dt.timedelta(days=days)).isoformat()


def events_of(license):
    return LicenseEvent.objects.filter(license=license).count()


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    return body


# --- activate -------------------------------------------------------------------------------


def test_activate__trial_with_seats__becomes_active_and_records_history(world, ops_client):
    # Given a trial license
    trial = world["trial"]
    before = events_of(trial)

    # When ops activate it with 20 seats and a contract end
    response = ops_client.post(
        url(trial, "activate"), {"seats": 20, "expires_at": later(world, 365)}, format="json"
    )

    # Then it is active with 20 seats, the response shows it, and one history row is written
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["seats"] == 20
    trial.refresh_from_db()
    assert (trial.status, trial.seats) == (LicenseStatus.ACTIVE, 20)
    assert events_of(trial) == before + 1


def test_activate__when_uninstalled__answers_409_license_locked(world, ops_client):
    gone = world["uninstalled"]
    before = events_of(gone)

    response = ops_client.post(url(gone, "activate"), {}, format="json")

    body = assert_error(response, 409, "license_locked")
    assert "uninstalled" in body["message"]
    gone.refresh_from_db()
    assert gone.status == LicenseStatus.UNINSTALLED
    assert events_of(gone) == before


def test_activate__when_already_active__answers_409_naming_both_statuses(world, ops_client):
    response = ops_client.post(url(world["active"], "activate"), {}, format="json")

    body = assert_error(response, 409, "invalid_transition")
    assert "from active to active" in body["message"]


def test_activate__with_expiry_in_the_past__answers_400_and_stays_trial(world, ops_client):
    trial = world["trial"]

    response = ops_client.post(
        url(trial, "activate"), {"expires_at": later(world, -1)}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert "expires_at" in body["fields"]
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.TRIAL


def test_activate__with_zero_seats__answers_400(world, ops_client):
    response = ops_client.post(url(world["trial"], "activate"), {"seats": 0}, format="json")

    body = assert_error(response, 400, "invalid")
    assert "seats" in body["message"].lower()


# --- suspend / reinstate ----------------------------------------------------------------


def test_suspend__active_with_reason__becomes_suspended_with_reason_in_history(world, ops_client):
    active = world["active"]

    response = ops_client.post(url(active, "suspend"), {"reason": "Unpaid"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    event = LicenseEvent.objects.filter(license=active).first()
    assert (event.kind, event.reason, event.actor) == (EventKind.STATUS_CHANGED, "Unpaid", "ops")


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_suspend__without_reason__answers_400_and_stays_active(world, ops_client, body):
    active = world["active"]

    response = ops_client.post(url(active, "suspend"), body, format="json")

    body = assert_error(response, 400, "invalid")
    assert "reason" in body["fields"]
    active.refresh_from_db()
    assert active.status == LicenseStatus.ACTIVE


def test_suspend__when_uninstalled__answers_409(world, ops_client):
    response = ops_client.post(url(world["uninstalled"], "suspend"), {"reason": "x"}, format="json")

    assert_error(response, 409, "license_locked")


def test_reinstate__suspended_trial__returns_to_trial(world, ops_client):
    held = world["suspended"]

    response = ops_client.post(url(held, "reinstate"), {}, format="json")

    assert response.status_code == 200
    held.refresh_from_db()
    assert held.status == LicenseStatus.TRIAL


def test_reinstate__when_not_suspended__answers_409(world, ops_client):
    response = ops_client.post(url(world["trial"], "reinstate"), {}, format="json")

    body = assert_error(response, 409, "invalid_transition")
    assert "only a suspended license" in body["message"]


# --- extend-trial ---------------------------------------------------------------------------


def test_extend_trial__within_90_days__moves_the_end(world, ops_client):
    trial = world["trial"]
    until = world["now"] + dt.timedelta(days=60)

    response = ops_client.post(
        url(trial, "extend-trial"), {"until": until.isoformat()}, format="json"
    )

    assert response.status_code == 200
    trial.refresh_from_db()
    assert trial.expires_at == until


def test_extend_trial__past_90_days__answers_422_and_keeps_the_end(world, ops_client):
    trial = world["trial"]
    old_end = trial.expires_at

    response = ops_client.post(
        url(trial, "extend-trial"), {"until": later(world, 120)}, format="json"
    )

    assert_error(response, 422, "trial_limit_exceeded")
    trial.refresh_from_db()
    assert trial.expires_at == old_end


def test_extend_trial__of_a_bought_license__answers_409(world, ops_client):
    response = ops_client.post(
        url(world["active"], "extend-trial"), {"until": later(world, 10)}, format="json"
    )

    body = assert_error(response, 409, "invalid_transition")
    assert "cannot become a trial again" in body["message"]


def test_extend_trial__without_until__answers_400(world, ops_client):
    response = ops_client.post(url(world["trial"], "extend-trial"), {}, format="json")

    body = assert_error(response, 400, "invalid")
    assert body["fields"] == {"until": ["This field is required."]}


# --- set-seats / set-expiration -----------------------------------------------------------------


def test_set_seats__site_license__is_stored_as_minus_one(world, ops_client):
    active = world["active"]

    response = ops_client.post(url(active, "set-seats"), {"seats": -1}, format="json")

    assert response.status_code == 200
    active.refresh_from_db()
    assert active.seats == -1


@pytest.mark.parametrize("seats", [0, -2, 99_000_001, "10", 2.5, None])
def test_set_seats__out_of_range_or_wrong_type__answers_400(world, ops_client, seats):
    active = world["active"]
    old = active.seats

    response = ops_client.post(url(active, "set-seats"), {"seats": seats}, format="json")

    body = assert_error(response, 400, "invalid")
    assert "seats" in body["fields"]
    active.refresh_from_db()
    assert active.seats == old


def test_set_seats__when_uninstalled__answers_409(world, ops_client):
    response = ops_client.post(url(world["uninstalled"], "set-seats"), {"seats": 5}, format="json")

    assert_error(response, 409, "license_locked")


def test_set_expiration__null_for_active__does_not_expire(world, ops_client):
    active = world["active"]

    response = ops_client.post(url(active, "set-expiration"), {"expires_at": None}, format="json")

    assert response.status_code == 200
    active.refresh_from_db()
    assert active.expires_at is None


def test_set_expiration__null_for_trial__answers_400(world, ops_client):
    response = ops_client.post(
        url(world["trial"], "set-expiration"), {"expires_at": None}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert "expires_at" in body["fields"]


def test_set_expiration__trial_past_90_days__answers_422(world, ops_client):
    response = ops_client.post(
        url(world["trial"], "set-expiration"), {"expires_at": later(world, 200)}, format="json"
    )

    assert_error(response, 422, "trial_limit_exceeded")


# --- features ------------------------------------------------------------------------------------


def _value(world, license, parameter):
    return FeatureParameterValue.objects.get(license=license, parameter=world[parameter]).value


def test_features__lmo_to_subscriber_value__is_set_and_shown_in_detail(world, ops_client):
    trial = world["trial"]

    response = ops_client.patch(
        url(trial, "features"), {"values": {"Max_Jobs": 9}, "reason": "Pilot"}, format="json"
    )

    assert response.status_code == 200
    shown = {v["developer_name"]: v["value"] for v in response.json()["feature_values"]}
    assert shown["Max_Jobs"] == 9
    assert _value(world, trial, "max_jobs") == 9


def test_features__subscriber_to_lmo_parameter__answers_400_and_changes_nothing(world, ops_client):
    # Given a request that sets a writable value and a read-only one together
    trial = world["trial"]

    # When it is sent
    response = ops_client.patch(
        url(trial, "features"), {"values": {"Max_Jobs": 9, "Jobs_Used": 3}}, format="json"
    )

    # Then it is refused as a whole: neither value changed
    body = assert_error(response, 400, "wrong_direction")
    assert "Jobs_Used" in body["message"]
    assert _value(world, trial, "max_jobs") == 5
    assert _value(world, trial, "jobs_used") == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"Max_Jobs": "nine"}, None),
        ({"Max_Jobs": 1.5}, "values"),
        ({"Max_Jobs": [1]}, "values"),
        ({"Nope": 1}, "Nope"),
    ],
)
def test_features__bad_value_or_unknown_parameter__answers_400(world, ops_client, values, field):
    trial = world["trial"]

    response = ops_client.patch(url(trial, "features"), {"values": values}, format="json")

    body = assert_error(response, 400, "invalid")
    if field:
        assert field in body["fields"]
    assert _value(world, trial, "max_jobs") == 5


def test_features__when_uninstalled__answers_409(world, ops_client):
    response = ops_client.patch(
        url(world["uninstalled"], "features"), {"values": {"Max_Jobs": 1}}, format="json"
    )

    assert_error(response, 409, "license_locked")


# --- history, detail, direct edits ------------------------------------------------------------


def test_history__after_a_suspension__lists_newest_first_with_actor_and_reason(world, ops_client):
    active = world["active"]
    ops_client.post(url(active, "suspend"), {"reason": "Unpaid"}, format="json")

    response = ops_client.get(url(active, "history"))

    assert response.status_code == 200
    newest = response.json()["results"][0]
    assert newest["kind"] == "status_changed"
    assert newest["before"]["status"] == "active"
    assert newest["after"]["status"] == "suspended"
    assert (newest["actor"], newest["reason"]) == ("ops", "Unpaid")


def test_detail__shows_version_and_feature_values(world, ops_client):
    response = ops_client.get(url(world["trial"]))

    assert response.status_code == 200
    body = response.json()
    assert body["version"]["version_number"] == "1.0.0"
    assert {v["developer_name"] for v in body["feature_values"]} == {"Max_Jobs", "Jobs_Used"}
    assert body["name"] == world["trial"].name


def test_patch_status__changes_nothing_and_answers_400_naming_the_field(world, ops_client):
    trial = world["trial"]
    before = events_of(trial)

    response = ops_client.patch(url(trial), {"status": "active", "seats": 5}, format="json")

    body = assert_error(response, 400, "read_only")
    assert set(body["fields"]) == {"status", "seats"}
    assert "activate" in body["message"]
    trial.refresh_from_db()
    assert (trial.status, trial.seats) == (LicenseStatus.TRIAL, 10)
    assert events_of(trial) == before


@pytest.mark.parametrize("method", ["put", "delete"])
def test_put_or_delete_license__answers_405(world, ops_client, method):
    response = getattr(ops_client, method)(url(world["trial"]), {"status": "active"}, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert License.objects.filter(pk=world["trial"].pk, status=LicenseStatus.TRIAL).exists()


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk__mixed_licenses__gives_each_id_its_own_result(world, ops_client):
    # Given a trial, a bought license, an uninstalled one and an id that does not exist
    ids = [world["trial"].pk, world["active"].pk, world["uninstalled"].pk, 999_999]

    # When ops extend the trials of all of them
    response = ops_client.post(
        "/api/v1/licenses/bulk/",
        {"action": "extend-trial", "ids": ids, "until": later(world, 45), "reason": "Holidays"},
        format="json",
    )

    # Then each id has its own outcome, in the order sent, and only the trial changed
    assert response.status_code == 200
    body = response.json()
    outcomes = [(r["id"], r["outcome"]) for r in body["results"]]
    assert outcomes == [
        (ids[0], "applied"),
        (ids[1], "refused"),
        (ids[2], "refused"),
        (999_999, "not_found"),
    ]
    assert "cannot become a trial again" in body["results"][1]["message"]
    assert "uninstalled" in body["results"][2]["message"]
    assert (body["applied"], body["refused"]) == (1, 3)
    world["trial"].refresh_from_db()
    assert world["trial"].expires_at == world["now"] + dt.timedelta(days=45)


def test_bulk__suspend_without_reason__answers_400_and_suspends_nothing(world, ops_client):
    response = ops_client.post(
        "/api/v1/licenses/bulk/", {"action": "suspend", "ids": [world["active"].pk]}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert "reason" in body["fields"]
    world["active"].refresh_from_db()
    assert world["active"].status == LicenseStatus.ACTIVE


def test_bulk__1000_ids__are_accepted_and_1001_refused(world, ops_client):
    thousand = list(range(1_000_000, 1_001_000))

    accepted = ops_client.post(
        "/api/v1/licenses/bulk/", {"action": "reinstate", "ids": thousand}, format="json"
    )
    refused = ops_client.post(
        "/api/v1/licenses/bulk/",
        {"action": "reinstate", "ids": [*thousand, 1]},
        format="json",
    )

    assert accepted.status_code == 200
    assert len(accepted.json()["results"]) == 1000
    body = assert_error(refused, 400, "invalid")
    assert "ids" in body["fields"]


def test_bulk__by_support__answers_403_and_changes_nothing(world, client_for, support_user):
    response = client_for(support_user).post(
        "/api/v1/licenses/bulk/",
        {"action": "suspend", "ids": [world["active"].pk], "reason": "x"},
        format="json",
    )

    assert_error(response, 403, "permission_denied")
    world["active"].refresh_from_db()
    assert world["active"].status == LicenseStatus.ACTIVE


def test_bulk__unknown_action__answers_400(world, ops_client):
    response = ops_client.post(
        "/api/v1/licenses/bulk/", {"action": "delete", "ids": [world["trial"].pk]}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert "action" in body["fields"]


@pytest.mark.parametrize("which", ["trial", "active"])
def test_set_expiration__in_the_past__answers_400_and_writes_nothing(world, ops_client, which):
    # Given a live license and its history
    license = world[which]
    before, history = license.expires_at, events_of(license)

    # When ops set its expiry to a date long gone
    response = ops_client.post(
        url(license, "set-expiration"), {"expires_at": "2020-01-01T00:00:00Z"}, format="json"
    )

    # Then 400 says what is wrong with expires_at, and nothing changed
    body = assert_error(response, 400, "invalid")
    assert "expires_at" in body["fields"]
    license.refresh_from_db()
    assert license.expires_at == before
    assert events_of(license) == history


def test_set_expiration__before_the_license_started__answers_400(world, ops_client):
    active = world["active"]
    # Given an active license whose start lies 400 days ahead (a contract dated forward)
    start = world["now"] + dt.timedelta(days=400)
    License.objects.filter(pk=active.pk).update(installed_at=start, trial_started_at=None)

    response = ops_client.post(
        url(active, "set-expiration"),
        {"expires_at": (start - dt.timedelta(days=1)).isoformat()},
        format="json",
    )

    body = assert_error(response, 400, "invalid")
    assert "start" in body["fields"]["expires_at"][0]
