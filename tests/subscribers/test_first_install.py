"""A first install on PostgreSQL is written by one statement: the same rows as the ORM path.

Every test here installs through the webhook twice over: once as delivered (the one-statement
path where it applies) and, for comparison, once with that path switched off so the
services write the same event with the ORM and the License methods.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import subscribers.services
from features.models import FeatureParameterValue
from jobs.choices import OutboxStatus
from jobs.models import OutboxMessage
from jobs.outbox import RERELAY_PENDING_AFTER, outbox_relay_pending
from leads.models import Lead
from licenses.choices import LicenseStatus
from licenses.models import License, LicenseEvent
from packages.models import PackageVersion
from subscribers.models import SubscriberEvent
from tests.factories import AccountFactory, LeadFactory, PackageVersionFactory, make_license
from tests.factories import org_id as new_org_id

from .helpers import install_body, post_event, uninstall_body

pytestmark = pytest.mark.postgres

VERSION_ID = "04t000000000001"
# Columns that differ between any two installs, whichever path wrote them.
VOLATILE = {"id", "org_id", "created_at", "updated_at", "license_id", "lead_id", "received_at"}


@pytest.fixture
def known_version(pkg):
    return PackageVersionFactory(package=pkg, version_id=VERSION_ID, version_number="1.0.0")


@pytest.fixture
def orm_only(monkeypatch):
    """Switch the one-statement path off: the services handle every event."""

    def switch_off() -> None:
        monkeypatch.setattr(subscribers.services, "first_install_apply", lambda event: None)

    return switch_off


def _row(instance, *, drop: set[str] = frozenset()) -> dict[str, Any]:
    return {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.attname not in VOLATILE | set(drop)
    }


def _written_for(license_id: int, event_id: str) -> dict[str, Any]:
    """Everything one install wrote, with what differs between two installs left out."""
    license = License.objects.get(pk=license_id)
    history = LicenseEvent.objects.get(license=license)
    message = OutboxMessage.objects.get(payload__event_id=history.pk)
    inbox = SubscriberEvent.objects.get(event_id=event_id)
    return {
        "license": _row(license),
        "lead": _row(license.lead, drop={"email", "last_name"}) if license.lead else None,
        "values": sorted(
            (v.parameter.developer_name, v.data_type, v.value)
            for v in FeatureParameterValue.objects.filter(license=license)
        ),
        "history": _row(history, drop={"source_event_id"}),
        "message": (
            _row(message, drop={"payload"}),
            sorted(message.payload),
            message.payload["license_id"] == license.pk,
        ),
        "inbox": (
            _row(inbox, drop={"event_id", "payload"}),
            inbox.license_id == license.pk,
        ),
    }


def _install(client, pkg, t0, *, org_id: str | None = None, **body_kwargs):
    org_id = org_id or new_org_id()
    body = install_body(package_id=pkg.package_id, org_id=org_id, at=t0, **body_kwargs)
    response = post_event(client, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["outcome"] == "applied"
    return answer


def _compare_paths(client, pkg, t0, orm_only, **body_kwargs) -> tuple[dict, dict]:
    fast = _install(client, pkg, t0, **body_kwargs)
    orm_only()
    slow = _install(client, pkg, t0, **body_kwargs)
    return (
        _written_for(fast["license_id"], fast["event_id"]),
        _written_for(slow["license_id"], slow["event_id"]),
    )


def test_first_install__one_statement(client, pkg, known_version, t0):
    # Given a linked package whose version this process has already looked up
    _install(client, pkg, t0)

    # When another org installs it
    with CaptureQueriesContext(connection) as queries:
        answer = _install(client, pkg, t0)

    # (the test runs in a transaction, so a savepoint is set and released around it; in
    # production the statement runs as its own implicit transaction)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    # The dashboards' rollup follows in one more round trip (dashboards.rollup).
    install = [sql for sql in statements if "dashboards_" not in sql]
    assert (len(install), len(statements)) == (1, 2), statements

    # Then one statement wrote the license, its values, its history, the lead and the inbox
    license = License.objects.get(pk=answer["license_id"])
    assert license.status == LicenseStatus.TRIAL
    assert license.feature_values.count() == 4
    assert license.lead.email == "ada@acme.example"
    assert SubscriberEvent.objects.get(event_id=answer["event_id"]).license == license


def test_first_install__new_lead__same_rows_as_orm_path(client, pkg, known_version, t0, orm_only):
    # The same install, written once by each path, with a different installer each time
    fast, slow = _compare_paths(client, pkg, t0, orm_only, email="")

    assert fast == slow
    assert fast["license"]["status"] == LicenseStatus.TRIAL
    assert fast["lead"]["company"] == "Acme Corp"
    assert fast["message"][1] == ["event_id", "kind", "license_id"]


def test_first_install__active_package__same_rows_as_orm_path(
    client, pkg, known_version, t0, orm_only
):
    pkg.default_status = "active"
    pkg.default_seats = 40
    pkg.save()

    fast, slow = _compare_paths(client, pkg, t0, orm_only, email="")

    assert fast == slow
    assert (fast["license"]["status"], fast["license"]["seats"]) == (LicenseStatus.ACTIVE, 40)


def test_first_install__no_installer__no_lead_on_either_path(
    client, pkg, known_version, t0, orm_only
):
    fast, slow = _compare_paths(client, pkg, t0, orm_only, installer={})

    assert fast == slow
    assert fast["lead"] is None
    assert Lead.objects.count() == 0


def test_first_install__open_lead_with_that_email__linked_not_duplicated(
    client, pkg, known_version, t0
):
    # Given an open lead with the installer's email (in another case)
    lead = LeadFactory(email="Ada@Acme.Example")

    # When the org installs
    answer = _install(client, pkg, t0, email="ada@acme.example")

    # Then the license is the lead's and no second lead is made
    assert License.objects.get(pk=answer["license_id"]).lead == lead
    assert Lead.objects.count() == 1


def test_first_install__org_known_to_an_account__license_goes_to_it(client, pkg, known_version, t0):
    # Given the org already has another package's license owned by an account
    account = AccountFactory()
    org_id = new_org_id()
    make_license(org_id_value=org_id, account=account)

    # When it installs this package
    answer = _install(client, pkg, t0, org_id=org_id)

    # Then the new license belongs to the account and no lead is made
    license = License.objects.get(pk=answer["license_id"])
    assert (license.account, license.lead) == (account, None)
    assert Lead.objects.count() == 0


def test_first_install__package_defaults_changed__new_defaults_used(client, pkg, known_version, t0):
    # Given this process has looked the package up (trial by default)
    _install(client, pkg, t0)

    # When ops change its defaults and another org installs
    pkg.default_status = "active"
    pkg.save()
    answer = _install(client, pkg, t0)

    # Then the install has the new defaults
    assert License.objects.get(pk=answer["license_id"]).status == LicenseStatus.ACTIVE


def test_first_install__defaults_changed_by_update_not_save__new_defaults_used(
    client, pkg, known_version, t0
):
    # Given this process has looked the package up
    _install(client, pkg, t0)

    # When its defaults change by an UPDATE that leaves updated_at alone
    type(pkg).objects.filter(pk=pkg.pk).update(default_status="active", default_seats=7)
    answer = _install(client, pkg, t0)

    # Then the install has the new defaults all the same
    license = License.objects.get(pk=answer["license_id"])
    assert (license.status, license.seats) == (LicenseStatus.ACTIVE, 7)


def test_first_install__package_unlinked_after_lookup__unrouted(client, pkg, known_version, t0):
    _install(client, pkg, t0)
    pkg.license_manager_linked = False
    pkg.save()

    body = install_body(package_id=pkg.package_id, org_id=new_org_id(), at=t0)
    response = post_event(client, body)

    assert response.json()["outcome"] == "unrouted"
    assert License.objects.count() == 1


def test_first_install__unknown_version__registered_by_services(client, pkg, t0):
    answer = _install(client, pkg, t0)

    assert License.objects.get(pk=answer["license_id"]).version.version_id.startswith(VERSION_ID)
    assert PackageVersion.objects.filter(package=pkg).count() == 1


def test_reinstall__carried_over_not_a_second_trial(client, pkg, known_version, t0):
    # Given an org that installed, activated and uninstalled
    org_id = new_org_id()
    first = License.objects.get(pk=_install(client, pkg, t0, org_id=org_id)["license_id"])
    first.activate(by="ops")
    post_event(
        client,
        uninstall_body(package_id=pkg.package_id, org_id=org_id, at=t0 + dt.timedelta(hours=1)),
    )

    # When it installs again
    answer = _install(client, pkg, t0 + dt.timedelta(hours=2), org_id=org_id)

    # Then the new license carries the old one's state
    second = License.objects.get(pk=answer["license_id"])
    assert (second.previous_license, second.status) == (first, LicenseStatus.ACTIVE)


def test_first_install__redelivered__duplicate_and_nothing_written(client, pkg, known_version, t0):
    body = install_body(package_id=pkg.package_id, org_id=new_org_id(), at=t0)
    first = post_event(client, body, event_id="msg_same").json()

    again = post_event(client, body, event_id="msg_same").json()

    assert again == {**first, "outcome": "duplicate"}
    assert (License.objects.count(), Lead.objects.count(), LicenseEvent.objects.count()) == (
        1,
        1,
        1,
    )
    assert SubscriberEvent.objects.count() == 1


def test_first_install__same_org_new_event_id__no_second_license(client, pkg, known_version, t0):
    org_id = new_org_id()
    first = _install(client, pkg, t0, org_id=org_id)

    second = _install(client, pkg, t0 + dt.timedelta(minutes=1), org_id=org_id)

    assert second["license_id"] == first["license_id"]
    assert License.objects.count() == 1


def test_first_install__notification_relayed_by_the_relay_job(
    client, pkg, known_version, t0, lead_manager
):
    # Given a first install (no relay after commit on this path)
    lead_manager.email = "leads@partner.example"
    lead_manager.save()
    _install(client, pkg, t0)
    message = OutboxMessage.objects.get()
    assert message.status == OutboxStatus.PENDING

    # When the relay job runs
    relayed = outbox_relay_pending(now=timezone.now() + RERELAY_PENDING_AFTER)

    # Then the lead manager hears of it, once
    message.refresh_from_db()
    assert (relayed, message.status) == (1, OutboxStatus.DONE)
    assert [m.to for m in mail.outbox] == [["leads@partner.example"]]


def test_first_install__session_lost_its_prepared_statement__prepares_again(
    client, pkg, known_version, t0
):
    # Given the statement is prepared in this session, and then dropped behind our back
    # (as a pooler in transaction mode or DISCARD ALL would)
    _install(client, pkg, t0)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    # When another org installs
    answer = _install(client, pkg, t0)

    # Then it is applied all the same
    assert License.objects.filter(pk=answer["license_id"]).exists()
    assert License.objects.count() == 2


def test_first_install__statement_never_replanned(client, pkg, known_version, t0):
    # Given a session that prepares the statement afresh
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    # When more orgs install than the five runs PostgreSQL plans one by one by default
    for _ in range(7):
        _install(client, pkg, t0)

    # Then every run used the one generic plan (planning cost more than the writes)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE name LIKE 'lmo_first_install_%%'"
        )
        plans = cursor.fetchall()
    assert plans
    assert all(custom == 0 and generic >= 1 for generic, custom in plans), plans


TRICKY = "O'Brien \"Bob\" \\ {a,b} Zoë 名前 😀 '); DROP TABLE leads_lead; --"


def test_first_install__quotes_backslashes_non_ascii__stored_exactly(
    client, pkg, known_version, t0
):
    # Given an install whose names hold quotes, backslashes, braces and non-ASCII text
    body = install_body(
        package_id=pkg.package_id,
        org_id=new_org_id(),
        at=t0,
        installer={
            "first_name": TRICKY,
            "last_name": "Ng",
            "email": "ng@x.example",
            "company": TRICKY,
        },
    )
    body["data"]["org"]["name"] = TRICKY
    _install(client, pkg, t0)  # the package and version are known to this process

    # When it arrives
    with CaptureQueriesContext(connection) as queries:
        answer = post_event(client, body).json()

    # Then the one statement wrote every text exactly as sent
    assert len([q for q in queries if "SAVEPOINT" not in q["sql"]]) == 2  # and the rollup
    license = License.objects.get(pk=answer["license_id"])
    assert license.org_name == TRICKY
    assert (license.lead.first_name, license.lead.company) == (TRICKY, TRICKY)
    stored = SubscriberEvent.objects.get(event_id=answer["event_id"]).payload
    assert stored["data"]["org"]["name"] == TRICKY
    assert stored["data"]["installer"]["first_name"] == TRICKY


@pytest.mark.parametrize("value", [1.5, b"bytes", {"a": 1}])
def test_first_install__parameter_of_unknown_type__refused_not_stringified(value):
    from subscribers.first_install import _json_params

    with pytest.raises(TypeError):
        _json_params([value])
