"""The license check's answer at every step while the simulated clock walks a trial
through its end, its grace and a lapsing override, with the sweep run by each move."""

import datetime as dt

import pytest

from clock.services import clock_reset
from features.models import FeatureParameter
from features.services import feature_override_set
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from packages.models import SubscriberApiKey
from tests.subscribers.helpers import CHECK_URL, deliver, install_body, iso

from .conftest import REAL, SECOND

ORG = "00D5g000004AbCdEAK"
END = REAL + dt.timedelta(days=30)
GRACE_ENDS = END + dt.timedelta(days=3)
PILOT_ENDS = REAL + dt.timedelta(days=14)


@pytest.fixture
def api_key(graced):
    _, raw = SubscriberApiKey.issue(package=graced)
    return raw


def _check(client, key, package):
    response = client.get(
        CHECK_URL,
        {"org_id": ORG, "package_id": package.package_id},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    body = response.json()
    return {k: body[k] for k in ("status", "access", "code", "grace_ends_at", "features")} | {
        "overrides": body["overrides"]
    }


def test_check__trial_through_pilot_end_grace_and_expiry(
    client, graced, api_key, move_clock, ops_user
):
    # Given a trial installed through the webhook, with a Premium pilot for two weeks
    deliver(client, install_body(package_id=graced.package_id, org_id=ORG, at=REAL))
    license = License.objects.get()
    premium = FeatureParameter.objects.get(developer_name="Premium")
    feature_override_set(
        license=license, parameter=premium, value=True, until=PILOT_ENDS, by=ops_user
    )
    step = _check(client, api_key, graced)
    assert step == {
        "status": "trial",
        "access": True,
        "code": "TRIAL",
        "grace_ends_at": None,
        "features": {"Premium": True},
        "overrides": {"Premium": {"until": iso(PILOT_ENDS)}},
    }

    # One second before the pilot ends: still on
    move_clock(PILOT_ENDS - SECOND)
    assert _check(client, api_key, graced)["features"] == {"Premium": True}

    # One second after: the sweep put the value back
    move_clock(PILOT_ENDS + SECOND)
    step = _check(client, api_key, graced)
    assert (step["features"], step["overrides"]) == ({"Premium": False}, {})

    # One second before the trial ends
    move_clock(END - SECOND)
    assert _check(client, api_key, graced)["code"] == "TRIAL"

    # One second after: in grace, access kept, grace's end given
    move_clock(END + SECOND)
    step = _check(client, api_key, graced)
    assert step | {"features": None} == {
        "status": "trial",
        "access": True,
        "code": "GRACE",
        "grace_ends_at": iso(GRACE_ENDS),
        "features": None,
        "overrides": {},
    }

    # One second before grace ends: still in grace
    move_clock(GRACE_ENDS - SECOND)
    assert _check(client, api_key, graced)["code"] == "GRACE"

    # At the end of grace: expired by the sweep
    move_clock(GRACE_ENDS)
    step = _check(client, api_key, graced)
    assert (step["status"], step["access"], step["code"], step["grace_ends_at"]) == (
        "expired",
        False,
        "EXPIRED",
        None,
    )

    # History: grace entered once, the pilot ended once, expired once
    kinds = list(
        LicenseEvent.objects.filter(license=license)
        .order_by("at", "id")
        .values_list("kind", "reason")
    )
    assert [k for k, _ in kinds].count(EventKind.GRACE_STARTED) == 1
    assert sum(1 for k, r in kinds if r.startswith("override ended")) == 1
    statuses = LicenseEvent.objects.filter(license=license, kind=EventKind.STATUS_CHANGED)
    assert [e.after["status"] for e in statuses] == [LicenseStatus.EXPIRED]
    # The expiry is dated on the simulated clock, the grace row too
    assert statuses.get().at == GRACE_ENDS
    clock_reset(by="tester")
