"""The action registry: an action is offered exactly where its License method can succeed,
and the console and the API offer the same actions for the same license."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.exceptions import DomainError
from licenses.actions import ACTIONS, actions_available
from licenses.choices import ALLOWED_TRANSITIONS, LicenseStatus
from licenses.models import License
from tests.api.conftest import token_client
from tests.factories import make_license

S = LicenseStatus
DAY = dt.timedelta(days=1)


def _variants() -> dict[str, License]:
    """Licenses in every status, with the histories that change what may be done to them."""
    now = timezone.now()
    ago = now - 10 * DAY
    bought = {"activated_at": ago, "expires_at": now + 200 * DAY}
    return {
        "trial": make_license(installed_at=ago),
        "trial ran out": make_license(installed_at=ago, expires_at=now - DAY),
        "active": make_license(status=S.ACTIVE, installed_at=ago, expires_at=now + 100 * DAY),
        "active, no end": make_license(status=S.ACTIVE, installed_at=ago),
        "suspended trial": make_license(status=S.SUSPENDED, installed_at=ago),
        "suspended active": make_license(
            status=S.SUSPENDED, installed_at=ago, status_before_suspension=S.ACTIVE, **bought
        ),
        "suspended active, contract over": make_license(
            status=S.SUSPENDED,
            installed_at=ago,
            status_before_suspension=S.ACTIVE,
            activated_at=ago,
            expires_at=now - DAY,
        ),
        "suspended expired": make_license(
            status=S.SUSPENDED,
            installed_at=ago,
            status_before_suspension=S.EXPIRED,
            expires_at=now - DAY,
        ),
        "expired trial": make_license(status=S.EXPIRED, installed_at=ago, expires_at=now - DAY),
        "expired, bought": make_license(
            status=S.EXPIRED, installed_at=ago, activated_at=ago, expires_at=now - DAY
        ),
        "uninstalled": make_license(status=S.UNINSTALLED, installed_at=ago),
    }


def _inputs(name: str, license: License) -> list[dict]:
    """Inputs worth trying for each action: if none of them works, none will."""
    now = timezone.now()
    limit = license.trial_limit
    soon = now + dt.timedelta(hours=1)
    return {
        "activate": [{}, {"seats": 5, "expires_at": now + 365 * DAY}],
        "suspend": [{"reason": "Terms"}],
        "reinstate": [{}],
        "extend_trial": [{"until": soon}, *([{"until": limit}] if limit and limit > now else [])],
        "renew": [{}, {"days": 30}],
        "set_seats": [{"seats": 7}, {"seats": -1}],
        "set_expiration": [
            {"expires_at": None},
            {"expires_at": now + 10 * DAY},
            *([{"expires_at": limit}] if limit else []),
        ],
    }[name]


def _succeeds(name: str, license: License, user) -> bool:
    """Run the action on a fresh copy inside a savepoint that is always rolled back."""
    for data in _inputs(name, license):
        fresh = License.objects.get(pk=license.pk)
        try:
            with transaction.atomic():
                ACTIONS[name].run(fresh, by=user, data=data)
                raise _RolledBack
        except _RolledBack:
            return True
        except (DomainError, ValidationError):
            continue
    return False


class _RolledBack(Exception):
    pass


def test_registry__offers_each_action_exactly_where_its_method_succeeds(db, ops_user):
    # Given licenses in every status, with the histories that matter
    variants = _variants()
    mismatches = []
    offered_in: dict[str, set[str]] = {name: set() for name in ACTIONS}

    for label, license in variants.items():
        for name, action in ACTIONS.items():
            # When the registry is asked, and the method is tried with sensible inputs
            offered = action.is_available(license)
            works = _succeeds(name, license, ops_user)

            # Then they agree
            if offered != works:
                mismatches.append((label, name, offered, works))
            if offered:
                offered_in[name].add(license.status)

    assert mismatches == []
    # And the statuses an action is offered in are the ones the table gives it
    for name, action in ACTIONS.items():
        assert offered_in[name] == set(action.offered_in()), name


def test_registry__statuses_come_from_the_transition_table():
    assert ACTIONS["activate"].offered_in() == {S.TRIAL, S.SUSPENDED, S.EXPIRED}
    assert ACTIONS["suspend"].offered_in() == {S.TRIAL, S.ACTIVE, S.EXPIRED}
    assert ACTIONS["reinstate"].offered_in() == {S.SUSPENDED}
    assert ACTIONS["extend_trial"].offered_in() == {S.TRIAL, S.EXPIRED}
    assert ACTIONS["set_seats"].offered_in() == set(ALLOWED_TRANSITIONS) - {S.UNINSTALLED}


def test_available_actions__suspended_after_being_active__reinstate_not_activate(db):
    license = make_license(
        status=S.SUSPENDED, status_before_suspension=S.ACTIVE, activated_at=timezone.now()
    )

    assert "reinstate" in license.available_actions()
    assert "activate" not in license.available_actions()


def test_available_actions__uninstalled__offers_nothing(db):
    license = make_license(status=S.UNINSTALLED)

    assert license.available_actions() == []


def test_available_actions__by_role__only_what_the_role_may_run(db, users_by_role):
    license = make_license()

    by_role = {
        role: [a.name for a in actions_available(license, user=user)]
        for role, user in users_by_role.items()
    }

    assert by_role["ops"] == ["activate", "suspend", "extend_trial", "set_seats", "set_expiration"]
    assert by_role["support"] == by_role["manager"] == by_role["none"] == []


@pytest.mark.parametrize(
    "state",
    [
        {"status": S.TRIAL},
        {"status": S.ACTIVE},
        {"status": S.SUSPENDED, "status_before_suspension": S.ACTIVE},
        {"status": S.SUSPENDED, "status_before_suspension": S.TRIAL},
        {"status": S.EXPIRED},
        {"status": S.UNINSTALLED},
    ],
    ids=lambda state: "-".join(state.values()),
)
@pytest.mark.parametrize("role", ["ops", "support"])
def test_console_and_api__offer_the_same_actions_for_the_same_license(
    db, client, users_by_role, state, role
):
    # Given a license in some state, and a user of some role
    license = make_license(**state)
    user = users_by_role[role]

    # When the API's license detail and the console's license page are read
    api = token_client(user).get(f"/api/v1/licenses/{license.pk}/").json()
    client.force_login(user)
    page = client.get(reverse("admin:licenses_license_change", args=[license.pk]))
    console = [action.slug for action in page.context["license_actions"]]

    # Then both offer the same actions, and the page has a button for each
    assert api["available_actions"] == console
    content = page.content.decode()
    for name in ACTIONS:
        assert (f'value="action_{name}"' in content) == (name.replace("_", "-") in console)
