"""Every endpoint x every role x read/write: who may, who gets 403, who gets 404."""

import datetime as dt

import pytest
from django.db.models import Max

from features.models import FeatureParameter
from leads.models import Account, Contact, Lead
from licenses.models import License, LicenseEvent
from packages.models import Package
from tests.api.conftest import token_client

ROLES = ("ops", "support", "manager", "admin", "none")


def expect(status: int, allowed: tuple[str, ...], hidden: tuple[str, ...] = ()) -> dict[str, int]:
    """`allowed` get `status`; `hidden` (may not even read it) get 404; the rest 403."""
    return {role: status if role in allowed else 404 if role in hidden else 403 for role in ROLES}


def _until(w, days):
    return (w["now"] + dt.timedelta(days=days)).isoformat()


READ_ALL = ("ops", "support", "manager", "admin")
READ_CUSTOMERS = ("ops", "support", "manager")
READ_EVENTS = ("ops", "support", "admin")

# (name, method, path, body, expected status by role)
READS = [
    ("packages list", "get", lambda w: "/api/v1/packages/", None, expect(200, READ_ALL)),
    (
        "package detail",
        "get",
        lambda w: f"/api/v1/packages/{w['package'].pk}/",
        None,
        expect(200, READ_ALL, hidden=("none",)),
    ),
    (
        "package versions",
        "get",
        lambda w: f"/api/v1/packages/{w['package'].pk}/versions/",
        None,
        expect(200, READ_ALL, hidden=("none",)),
    ),
    (
        "feature parameters list",
        "get",
        lambda w: "/api/v1/feature-parameters/",
        None,
        expect(200, READ_ALL),
    ),
    (
        "feature parameter detail",
        "get",
        lambda w: f"/api/v1/feature-parameters/{w['max_jobs'].pk}/",
        None,
        expect(200, READ_ALL, hidden=("none",)),
    ),
    ("accounts list", "get", lambda w: "/api/v1/accounts/", None, expect(200, READ_CUSTOMERS)),
    (
        "account detail",
        "get",
        lambda w: f"/api/v1/accounts/{w['account'].pk}/",
        None,
        expect(200, READ_CUSTOMERS, hidden=("admin", "none")),
    ),
    ("leads list", "get", lambda w: "/api/v1/leads/", None, expect(200, READ_CUSTOMERS)),
    (
        "lead detail",
        "get",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/",
        None,
        expect(200, READ_CUSTOMERS, hidden=("admin", "none")),
    ),
    ("licenses list", "get", lambda w: "/api/v1/licenses/", None, expect(200, READ_CUSTOMERS)),
    (
        "license detail",
        "get",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/",
        None,
        expect(200, READ_CUSTOMERS, hidden=("admin", "none")),
    ),
    (
        "license history",
        "get",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/history/",
        None,
        expect(200, READ_CUSTOMERS, hidden=("admin", "none")),
    ),
    ("events list", "get", lambda w: "/api/v1/events/", None, expect(200, READ_EVENTS)),
    (
        "event detail",
        "get",
        lambda w: f"/api/v1/events/{w['event'].pk}/",
        None,
        expect(200, READ_EVENTS, hidden=("manager", "none")),
    ),
]

WRITES = [
    (
        "package create",
        "post",
        lambda w: "/api/v1/packages/",
        lambda w: {
            "name": "New Package",
            "namespace": "newpkg",
            "package_id": "0330X000000AbCd",
            "developer_org_id": "00D0X000000DevO",
        },
        expect(201, ("admin",)),
    ),
    (
        "package update",
        "patch",
        lambda w: f"/api/v1/packages/{w['package'].pk}/",
        lambda w: {"trial_days": 45},
        expect(200, ("admin",), hidden=("none",)),
    ),
    (
        "feature parameter create",
        "post",
        lambda w: "/api/v1/feature-parameters/",
        lambda w: {
            "package": w["package"].pk,
            "developer_name": "Premium",
            "label": "Premium",
            "data_type": "boolean",
            "direction": "lmo_to_subscriber",
            "default_value": False,
        },
        expect(201, ("admin",)),
    ),
    (
        "feature parameter update",
        "patch",
        lambda w: f"/api/v1/feature-parameters/{w['max_jobs'].pk}/",
        lambda w: {"label": "Jobs per month"},
        expect(200, ("admin",), hidden=("none",)),
    ),
    (
        "account create",
        "post",
        lambda w: "/api/v1/accounts/",
        lambda w: {"name": "Umbrella"},
        expect(201, ("ops",)),
    ),
    (
        "account update",
        "patch",
        lambda w: f"/api/v1/accounts/{w['account'].pk}/",
        lambda w: {"website": "https://globex.example"},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "lead create",
        "post",
        lambda w: "/api/v1/leads/",
        lambda w: {"last_name": "Hopper", "email": "grace@navy.example"},
        expect(201, ("ops",)),
    ),
    (
        "lead update",
        "patch",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/",
        lambda w: {"phone": "+1 555 0100"},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "lead convert",
        "post",
        lambda w: f"/api/v1/leads/{w['lead'].pk}/convert/",
        lambda w: {"account_name": "Initech"},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license direct patch",
        "patch",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/",
        lambda w: {"status": "active"},
        expect(400, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license activate",
        "post",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/activate/",
        lambda w: {"seats": 20},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license suspend",
        "post",
        lambda w: f"/api/v1/licenses/{w['active'].pk}/suspend/",
        lambda w: {"reason": "Unpaid"},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license reinstate",
        "post",
        lambda w: f"/api/v1/licenses/{w['suspended'].pk}/reinstate/",
        lambda w: {},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license extend trial",
        "post",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/extend-trial/",
        lambda w: {"until": _until(w, 40)},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license set seats",
        "post",
        lambda w: f"/api/v1/licenses/{w['active'].pk}/set-seats/",
        lambda w: {"seats": 99},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license set expiration",
        "post",
        lambda w: f"/api/v1/licenses/{w['active'].pk}/set-expiration/",
        lambda w: {"expires_at": _until(w, 400)},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license features",
        "patch",
        lambda w: f"/api/v1/licenses/{w['trial'].pk}/features/",
        lambda w: {"values": {"Max_Jobs": 9}},
        expect(200, ("ops",), hidden=("admin", "none")),
    ),
    (
        "license bulk",
        "post",
        lambda w: "/api/v1/licenses/bulk/",
        lambda w: {"action": "suspend", "ids": [w["active"].pk], "reason": "Unpaid"},
        expect(200, ("ops",)),
    ),
]


def snapshot() -> tuple:
    """Row counts and newest change times of everything the API can write."""
    return (
        Package.objects.aggregate(n=Max("updated_at"))["n"],
        Package.objects.count(),
        FeatureParameter.objects.aggregate(n=Max("updated_at"))["n"],
        FeatureParameter.objects.count(),
        Account.objects.aggregate(n=Max("updated_at"))["n"],
        Account.objects.count(),
        Lead.objects.aggregate(n=Max("updated_at"))["n"],
        Lead.objects.count(),
        Contact.objects.count(),
        License.objects.aggregate(n=Max("updated_at"))["n"],
        LicenseEvent.objects.count(),
    )


def _rows(rows):
    return [
        pytest.param(method, path, body, expected, id=name)
        for name, method, path, body, expected in rows
    ]


def _denied_first(expected: dict[str, int]) -> list[str]:
    # Refused roles go first: they must leave everything as it was for the allowed one.
    return sorted(ROLES, key=lambda role: expected[role] < 300)


@pytest.mark.parametrize(("method", "path", "body", "expected"), _rows(READS))
def test_read__by_each_role__answers_per_role_permissions(
    world, users_by_role, method, path, body, expected
):
    for role in ROLES:
        # Given a user of the role with a token
        client = token_client(users_by_role[role])
        before = snapshot()

        # When they read the endpoint
        response = getattr(client, method)(path(world))

        # Then the status follows the role table, errors have the one shape, nothing changes
        assert response.status_code == expected[role], (role, response.content)
        if expected[role] >= 400:
            assert set(response.json()["error"]) == {"code", "message", "fields"}
        assert snapshot() == before, role


@pytest.mark.parametrize(("method", "path", "body", "expected"), _rows(WRITES))
def test_write__by_each_role__answers_per_role_permissions_and_writes_only_when_allowed(
    world, users_by_role, method, path, body, expected
):
    for role in _denied_first(expected):
        # Given a user of the role with a token
        client = token_client(users_by_role[role])
        before = snapshot()

        # When they write
        response = getattr(client, method)(path(world), body(world), format="json")

        # Then the status follows the role table, and rows change only on success
        assert response.status_code == expected[role], (role, response.content)
        if expected[role] < 300:
            assert snapshot() != before, role
        else:
            assert set(response.json()["error"]) == {"code", "message", "fields"}
            assert snapshot() == before, role


def test_every_endpoint__without_credentials__answers_401_and_writes_nothing(world):
    # Given no token and no session
    client = token_client(None)
    before = snapshot()

    for name, method, path, body, _expected in READS + WRITES:
        # When the endpoint is called
        payload = body(world) if body else None
        response = getattr(client, method)(path(world), payload, format="json")

        # Then 401 with a Token challenge
        assert response.status_code == 401, name
        assert response["WWW-Authenticate"] == "Token", name
        assert response.json()["error"]["code"] == "not_authenticated", name

    # And nothing was written
    assert snapshot() == before
