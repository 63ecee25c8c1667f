"""What each event does: installs, lead dedup, upgrades, usage, reinstalls, order, replay."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from features.models import FeatureParameterValue
from leads.choices import LeadStatus
from leads.models import Lead
from licenses.models import License
from packages.models import PackageVersion, SubscriberApiKey
from subscribers.models import SubscriberEvent
from subscribers.services import subscriber_events_replay
from tests.factories import AccountFactory, LeadFactory, PackageFactory, make_license

from .helpers import deliver, install_body, post_event, uninstall_body, usage_body

ORG = "00D5g000004AbCd"
H = dt.timedelta(hours=1)


def _send(client, body, **kwargs) -> dict:
    return deliver(client, body, **kwargs)


def _install(client, pkg, at, org=ORG, **kwargs) -> dict:
    return _send(client, install_body(package_id=pkg.package_id, org_id=org, at=at, **kwargs))


def _upgrade(client, pkg, at, number, version_id, org=ORG) -> dict:
    body = install_body(
        package_id=pkg.package_id,
        org_id=org,
        at=at,
        event_type="package.upgraded",
        version_id=version_id,
        version_number=number,
    )
    return _send(client, body)


def _uninstall(client, pkg, at, org=ORG) -> dict:
    return _send(client, uninstall_body(package_id=pkg.package_id, org_id=org, at=at))


def _usage(client, pkg, at, used=5, parameters=None, org=ORG) -> dict:
    body = usage_body(
        package_id=pkg.package_id, org_id=org, at=at, used_licenses=used, parameters=parameters
    )
    return _send(client, body)


# --- Install and leads -------------------------------------------------------------------


def test_install__active_package_default__active_without_expiry(client, lead_manager, t0):
    pkg = PackageFactory(default_status="active", license_days=None, default_seats=50)

    _install(client, pkg, t0)

    license = License.objects.get()
    assert (license.status, license.expires_at, license.seats) == ("active", None, 50)


def test_install__sandbox__site_license(client, pkg, t0):
    _install(client, pkg, t0, is_sandbox=True)

    license = License.objects.get()
    assert (license.is_sandbox, license.org_type, license.seats) == (True, "sandbox", -1)


def test_install__org_has_license_with_account__assigned_no_lead(client, pkg, t0):
    # Given the org already owns another package's license, assigned to an Account
    account = AccountFactory()
    make_license(org_id_value=ORG, account=account)
    leads_before = Lead.objects.count()

    # When it installs this package
    result = _install(client, pkg, t0)

    # Then the new license goes to that Account and no lead is created
    license = License.objects.get(pk=result["license_id"])
    assert license.account == account
    assert license.lead is None
    assert Lead.objects.count() == leads_before


def test_install__open_lead_with_same_email_any_case__reused(client, pkg, t0):
    existing = LeadFactory(email="Ada@ACME.example", status=LeadStatus.WORKING)

    result = _install(client, pkg, t0, email="ada@acme.example")

    assert License.objects.get(pk=result["license_id"]).lead == existing
    assert Lead.objects.count() == 1


def test_install__only_closed_lead_with_same_email__new_lead(client, pkg, t0):
    LeadFactory(email="ada@acme.example", status=LeadStatus.DISQUALIFIED)

    result = _install(client, pkg, t0, email="ada@acme.example")

    lead = License.objects.get(pk=result["license_id"]).lead
    assert lead.status == LeadStatus.OPEN and Lead.objects.count() == 2
    assert lead.owner == pkg.lead_manager


def test_install__sandbox_of_known_production_org__parents_account_no_lead(client, pkg, t0):
    # Given the production org's license belongs to an Account
    account = AccountFactory()
    make_license(package=pkg, org_id_value=ORG, account=account)
    leads_before = Lead.objects.count()

    # When a sandbox made from it installs the package
    result = _install(client, pkg, t0, org="00D000000000SBX", is_sandbox=True, parent_org_id=ORG)

    # Then it is linked to the same Account and no lead is created
    license = License.objects.get(pk=result["license_id"])
    assert license.account == account
    assert license.parent_org_id.startswith(ORG)
    assert Lead.objects.count() == leads_before


def test_install__sandbox_of_unknown_org__creates_lead(client, pkg, t0):
    _install(client, pkg, t0, org="00D000000000SBX", is_sandbox=True, parent_org_id=ORG)

    assert Lead.objects.count() == 1


def test_install__15_and_18_char_ids__same_license(client, pkg, t0):
    first = _install(client, pkg, t0, org=ORG)
    org18 = License.objects.get().org_id

    second = _usage(client, pkg, t0 + H, org=org18)

    assert second["license_id"] == first["license_id"]
    assert License.objects.count() == 1


# --- Upgrade and usage -----------------------------------------------------------------


def test_upgrade__unseen_version__registered_and_license_moved(client, pkg, t0):
    _install(client, pkg, t0)

    _upgrade(client, pkg, t0 + H, "1.2.0", "04t000000000077")

    license = License.objects.get()
    version = PackageVersion.objects.get(version_id__startswith="04t000000000077")
    assert license.version == version and version.package == pkg
    assert license.installed_at == t0
    event = license.events.get(kind="upgraded")
    assert (event.before, event.after) == ({"version": "1.0.0"}, {"version": "1.2.0"})


def test_upgrade__version_of_another_package__failed_with_reason(client, pkg, t0):
    other = PackageFactory()
    PackageVersion.objects.create(
        package=other, version_number="9.0.0", version_id="04t000000000555"
    )
    _install(client, pkg, t0)

    body = install_body(
        package_id=pkg.package_id,
        org_id=ORG,
        at=t0 + H,
        event_type="package.upgraded",
        version_id="04t000000000555",
        version_number="9.0.0",
    )
    result = _send(client, body)

    assert result["status"] == "failed"
    assert "another package" in result["error"]
    assert License.objects.get().version.version_number == "1.0.0"


def test_usage__stores_used_licenses_and_subscriber_values(client, pkg, t0):
    _install(client, pkg, t0)

    _usage(client, pkg, t0 + H, used=7, parameters={"Jobs_Run": 12, "Last_Sync": "2026-11-01"})

    license = License.objects.get()
    assert license.used_licenses == 7
    values = {
        v.parameter.developer_name: v.value
        for v in FeatureParameterValue.objects.filter(license=license)
    }
    assert values["Jobs_Run"] == 12
    assert values["Last_Sync"] == dt.date(2026, 11, 1)
    assert values["Premium"] is False


# --- Order tolerance ---------------------------------------------------------------------


def test_usage__older_than_last_applied__ignored_and_unchanged(client, pkg, t0):
    _install(client, pkg, t0)
    _usage(client, pkg, t0 + 2 * H, used=9)

    result = _usage(client, pkg, t0 + H, used=3)

    assert result["status"] == "ignored"
    assert License.objects.get().used_licenses == 9
    assert SubscriberEvent.objects.filter(outcome="ignored").count() == 1


def test_upgrade__older_than_last_upgrade__ignored(client, pkg, t0):
    _install(client, pkg, t0)
    _upgrade(client, pkg, t0 + 2 * H, "1.2.0", "04t000000000002")

    result = _upgrade(client, pkg, t0 + H, "1.1.0", "04t000000000003")

    assert result["status"] == "ignored"
    assert License.objects.get().version.version_number == "1.2.0"


def test_upgrade__before_install__creates_license_as_install_would(client, pkg, t0):
    # When the upgrade arrives first
    upgraded = _upgrade(client, pkg, t0 + H, "1.1.0", "04t000000000002")

    # Then the license exists, on the new version, with its lead
    license = License.objects.get()
    assert upgraded["status"] == "applied"
    assert (license.status, license.version.version_number) == ("trial", "1.1.0")
    assert license.lead is not None

    # And the late install changes nothing
    install = _install(client, pkg, t0)
    assert install == {**install, "status": "ignored", "license_id": license.pk}
    assert License.objects.count() == 1
    assert License.objects.get().version.version_number == "1.1.0"


def test_usage__before_install__creates_license(client, pkg, t0):
    result = _usage(client, pkg, t0 + H, used=4)

    license = License.objects.get()
    assert result == {**result, "status": "applied", "license_id": license.pk}
    assert (license.status, license.used_licenses) == ("trial", 4)
    assert _install(client, pkg, t0)["status"] == "ignored"
    assert License.objects.count() == 1


def test_install__arriving_after_its_uninstall__does_not_resurrect(client, pkg, t0):
    _install(client, pkg, t0)
    _uninstall(client, pkg, t0 + 2 * H)

    # A second copy of the install (another id, same moment) comes in late
    result = _install(client, pkg, t0)

    assert result["status"] == "ignored"
    assert License.objects.count() == 1
    assert License.objects.get().status == "uninstalled"


def test_uninstall__before_install__license_kept_frozen_and_install_ignored(client, pkg, t0):
    uninstalled = _uninstall(client, pkg, t0 + H)
    installed = _install(client, pkg, t0)

    license = License.objects.get()
    assert uninstalled["status"] == "applied"
    assert installed == {**installed, "status": "ignored", "license_id": license.pk}
    assert license.status == "uninstalled"


def test_uninstall__twice__second_ignored(client, pkg, t0):
    _install(client, pkg, t0)
    _uninstall(client, pkg, t0 + H)

    assert _uninstall(client, pkg, t0 + 2 * H)["status"] == "ignored"


def test_uninstall__stale_after_reinstall__ignored(client, pkg, t0):
    _install(client, pkg, t0)
    _uninstall(client, pkg, t0 + H)
    _install(client, pkg, t0 + 3 * H)

    result = _uninstall(client, pkg, t0 + 2 * H)

    assert result["status"] == "ignored"
    assert License.objects.live().count() == 1


# --- Reinstall ---------------------------------------------------------------------------


def test_reinstall__after_uninstall__new_license_carries_state_no_second_trial(client, pkg, t0):
    # Given a trial that was uninstalled
    first = _install(client, pkg, t0)
    old = License.objects.get(pk=first["license_id"])
    _uninstall(client, pkg, t0 + H)

    # When the org installs again
    second = _install(client, pkg, t0 + 2 * H)

    # Then a new license continues the old one's trial instead of starting a fresh one
    new = License.objects.get(pk=second["license_id"])
    assert new.pk != old.pk
    assert new.previous_license == old
    assert new.status == "trial"
    assert new.expires_at == old.expires_at == t0 + dt.timedelta(days=30)
    assert new.trial_started_at == t0
    assert new.lead == old.lead
    assert Lead.objects.count() == 1
    assert License.objects.get(pk=old.pk).status == "uninstalled"


def test_reinstall__of_bought_license__active_with_account_and_seats(client, pkg, t0):
    account = AccountFactory()
    _install(client, pkg, t0)
    old = License.objects.get()
    old.activate(by="ops", seats=40)
    old.assign_account(by="ops", account=account)
    _uninstall(client, pkg, t0 + dt.timedelta(days=1))

    result = _install(client, pkg, t0 + dt.timedelta(days=2))

    new = License.objects.get(pk=result["license_id"])
    assert (new.status, new.seats, new.account) == ("active", 40, account)


def test_reinstall__trial_ran_out_meanwhile__expired(client, pkg, t0):
    old_start = t0 - dt.timedelta(days=60)
    _install(client, pkg, old_start)
    _uninstall(client, pkg, old_start + dt.timedelta(days=1))

    result = _install(client, pkg, t0)

    assert License.objects.get(pk=result["license_id"]).status == "expired"


def test_usage__after_uninstall__counts_as_reinstall(client, pkg, t0):
    _install(client, pkg, t0)
    _uninstall(client, pkg, t0 + H)

    result = _usage(client, pkg, t0 + 2 * H, used=3)

    new = License.objects.get(pk=result["license_id"])
    assert new.previous_license is not None
    assert (new.status, new.used_licenses, new.org_name) == ("trial", 3, "Acme Corp")


# --- Unrouted and replay -----------------------------------------------------------------


@pytest.fixture
def unlinked(lead_manager):
    return PackageFactory(license_manager_linked=False, linked_at=None, lead_manager=lead_manager)


def test_event__unlinked_package__unrouted_nothing_created(client, unlinked, t0):
    result = _install(client, unlinked, t0)

    assert result == {**result, "status": "unrouted", "license_id": None}
    assert not License.objects.exists() and not Lead.objects.exists()
    assert SubscriberEvent.objects.get().error


def test_replay__after_linking__applies_in_time_order(client, unlinked, t0):
    # Given an install, an upgrade and a usage report kept unrouted, delivered out of order
    _usage(client, unlinked, t0 + 2 * H, used=6)
    _upgrade(client, unlinked, t0 + H, "1.1.0", "04t000000000002")
    _install(client, unlinked, t0)
    assert SubscriberEvent.objects.filter(outcome="unrouted").count() == 3

    # When the package is linked and its events replayed
    unlinked.link_license_manager()
    result = subscriber_events_replay(package=unlinked)

    # Then all three are applied, oldest first, onto one license
    assert (result.replayed, result.applied, result.ignored, result.failed) == (3, 3, 0, 0)
    license = License.objects.get()
    assert (license.version.version_number, license.used_licenses) == ("1.1.0", 6)
    assert license.lead is not None
    assert set(SubscriberEvent.objects.values_list("outcome", flat=True)) == {"applied"}
    assert not SubscriberEvent.objects.filter(replayed_at__isnull=True).exists()

    # And a second replay finds nothing left
    assert subscriber_events_replay(package=unlinked).replayed == 0


def test_replay__not_linked__nothing_applied(client, unlinked, t0):
    _install(client, unlinked, t0)

    result = subscriber_events_replay(package=unlinked)

    assert (result.replayed, result.still_unrouted) == (0, 1)
    assert "not linked" in str(result)
    assert not License.objects.exists()


def test_replay__event_no_longer_valid__failed_with_reason(client, unlinked, t0):
    _usage(client, unlinked, t0, parameters={"Unknown_Param": 1})
    unlinked.link_license_manager()

    result = subscriber_events_replay(package=unlinked)

    assert (result.failed, result.applied) == (1, 0)
    row = SubscriberEvent.objects.get()
    assert row.outcome == "failed" and "Unknown_Param" in row.error


def test_replay_unrouted_command__prints_counts(client, unlinked, t0):
    _install(client, unlinked, t0)
    unlinked.link_license_manager()
    out = StringIO()

    call_command("replay_unrouted", unlinked.package_id[:15], stdout=out)

    assert "1 applied" in out.getvalue()
    assert License.objects.count() == 1


def test_replay_unrouted_command__unlinked_or_unknown__error(unlinked):
    with pytest.raises(CommandError, match="not linked"):
        call_command("replay_unrouted", unlinked.package_id, stdout=StringIO())
    with pytest.raises(CommandError, match="No package"):
        call_command("replay_unrouted", "033000000000999", stdout=StringIO())


def test_create_subscriber_key_command__prints_a_working_key(pkg):
    out = StringIO()

    call_command("create_subscriber_key", pkg.package_id, stdout=out, stderr=StringIO())

    raw = out.getvalue().strip()
    key = SubscriberApiKey.objects.get()
    assert raw.startswith("lmo_sk_") and key.key_hash == SubscriberApiKey.hash_key(raw)
    assert key.package == pkg


def test_upgrade__known_number_under_another_id__reuses_that_version(client, pkg, t0):
    _install(client, pkg, t0)
    known = PackageVersion.objects.create(
        package=pkg, version_number="1.5.0", version_id="04t000000000150"
    )

    _upgrade(client, pkg, t0 + H, "1.5.0", "04t000000000999")

    assert License.objects.get().version == known
    assert PackageVersion.objects.filter(package=pkg, version_number="1.5.0").count() == 1


def test_unrouted__redelivered__duplicate_without_license(client, unlinked, t0):
    body = install_body(package_id=unlinked.package_id, org_id=ORG, at=t0)
    _send(client, body, event_id="msg_unrouted")

    again = post_event(client, body, event_id="msg_unrouted")

    assert again.status_code == 200
    assert again.json() == {
        "event_id": "msg_unrouted",
        "status": "unrouted",
        "license_id": None,
        "duplicate": True,
    }
    assert SubscriberEvent.objects.count() == 1


def test_event_find__by_event_id_or_either_org_id_form(client, pkg, t0):
    from subscribers.selectors import subscriber_event_find

    _install(client, pkg, t0)
    _usage(client, pkg, t0 + H)
    org18 = License.objects.get().org_id

    by_short = subscriber_event_find(query=ORG)
    by_long = subscriber_event_find(query=org18)
    by_id = subscriber_event_find(query=by_short[0].event_id)

    assert len(by_short) == len(by_long) == 2
    assert [e.type for e in by_short] == ["usage.reported", "package.installed"]
    assert by_id == [by_short[0]]
