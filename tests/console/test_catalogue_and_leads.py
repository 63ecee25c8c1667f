"""Leads, accounts, packages, API keys, feature parameters and the inbox in the console."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from features.choices import DataType, Direction
from features.models import FeatureParameter, FeatureParameterValue
from leads.choices import LeadStatus
from leads.models import Account, Contact, Lead
from licenses.choices import EventKind, LicenseStatus
from licenses.models import LicenseEvent
from packages.models import Package, SubscriberApiKey
from subscribers.choices import Outcome
from tests.factories import LeadFactory


def _action(client, url_name, action, objs, **fields):
    data = {
        "action": action,
        "_selected_action": [obj.pk for obj in objs],
        "select_across": "0",
        "apply": "1",
        **fields,
    }
    return client.post(reverse(url_name), data, follow=True)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


# --- Leads ---------------------------------------------------------------------------------


def test_lead_convert__creates_account_and_contact_and_assigns_the_orgs_licenses(
    world, client, ops_user
):
    # Given an open lead whose org has a trial and a license of another package
    client.force_login(ops_user)
    lead = world["lead"]

    # When ops convert it into an account named "Acme Corporation"
    response = _action(
        client,
        "admin:leads_lead_changelist",
        "convert_leads",
        [lead],
        account_name="Acme Corporation",
        create_contact="on",
    )

    # Then the account exists with a contact, and both of the org's licenses belong to it
    account = Account.objects.get(name="Acme Corporation")
    assert Contact.objects.filter(account=account, email="ada@acme.example").exists()
    for name in ("trial", "sibling"):
        world[name].refresh_from_db()
        assert world[name].account == account
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert any("has 2 license(s)" in m for m in _messages(response))


@pytest.mark.parametrize(("role", "offered"), [("ops", True), ("support", False)])
def test_lead_page__offers_conversion_to_ops_only(world, users_by_role, client, role, offered):
    client.force_login(users_by_role[role])
    url = reverse("admin:leads_lead_change", args=[world["lead"].pk])
    assert ('id="convert-lead"' in client.get(url).content.decode()) is offered


def test_lead_convert__already_converted__is_reported(world, client, ops_user):
    client.force_login(ops_user)
    lead = world["lead"]
    _action(client, "admin:leads_lead_changelist", "convert_leads", [lead], account_name="A")
    response = _action(
        client, "admin:leads_lead_changelist", "convert_leads", [lead], account_name="B"
    )
    assert any("already converted" in m for m in _messages(response))
    assert not Account.objects.filter(name="B").exists()


@pytest.mark.parametrize("role", ["support", "manager"])
def test_lead_convert__by_read_only_roles__changes_nothing(world, users_by_role, client, role):
    client.force_login(users_by_role[role])
    _action(client, "admin:leads_lead_changelist", "convert_leads", [world["lead"]])
    world["lead"].refresh_from_db()
    assert world["lead"].status == LeadStatus.OPEN


def test_lead_merge__closes_duplicates_and_moves_their_licenses(world, client, ops_user):
    # Given two duplicates of the same person
    client.force_login(ops_user)
    primary = world["lead"]
    duplicate = LeadFactory(email="ada@acme.example", company="Acme", phone="555")
    world["active"].__class__.objects.filter(pk=world["active"].pk).update(lead=duplicate)

    # When ops merge them, keeping the first
    _action(
        client,
        "admin:leads_lead_changelist",
        "merge_leads",
        [primary, duplicate],
        primary=primary.pk,
    )

    # Then the duplicate is closed into the primary and its license follows
    duplicate.refresh_from_db()
    world["active"].refresh_from_db()
    assert (duplicate.status, duplicate.merged_into) == (LeadStatus.DISQUALIFIED, primary)
    assert world["active"].lead == primary


def test_lead_merge__with_one_lead__asks_for_two(world, client, ops_user):
    client.force_login(ops_user)
    response = _action(client, "admin:leads_lead_changelist", "merge_leads", [world["lead"]])
    assert any("at least two" in m for m in _messages(response))


def test_lead_form__offers_no_converted_status(world, client, ops_user):
    client.force_login(ops_user)
    url = reverse("admin:leads_lead_change", args=[world["lead"].pk])
    content = client.get(url).content.decode()
    assert 'value="working"' in content and 'value="converted"' not in content


def test_lead_list__search_by_15_character_org_id(world, client, support_user):
    client.force_login(support_user)
    response = client.get(reverse("admin:leads_lead_changelist"), {"q": world["lead"].org_id[:15]})
    assert list(response.context["cl"].result_list) == [world["lead"]]


# --- Accounts ------------------------------------------------------------------------------


def test_account_page__lists_its_licenses_and_total_seats(world, client, support_user):
    # Given an account with an active 10-seat license and another 15-seat one
    from tests.factories import make_license

    make_license(
        package=world["sibling"].package,
        status=LicenseStatus.ACTIVE,
        account=world["account"],
        org_name="Globex EU",
        seats=15,
    )
    client.force_login(support_user)

    # When support open the account list and page
    listing = client.get(reverse("admin:leads_account_changelist")).content.decode()
    page = client.get(
        reverse("admin:leads_account_change", args=[world["account"].pk])
    ).content.decode()

    # Then the seats add up, and both licenses show on the account
    assert "25" in listing
    assert world["active"].name in page and "Globex EU" in page


# --- Packages, versions, keys, inbox ---------------------------------------------------------


def test_package_page__versions_latest_first_with_installs(world, client, support_user):
    client.force_login(support_user)
    response = client.get(reverse("admin:packages_package_change", args=[world["package"].pk]))
    content = response.content.decode()
    inline = next(
        f for f in response.context["inline_admin_formsets"] if "version" in f.opts.verbose_name
    )
    rows = [(f.original.version_number, f.original._installs) for f in inline]
    # Installs count live licenses only: the uninstalled one on 1.0.0 is not counted.
    assert rows == [("2.0.0", 1), ("1.0.0", 1)]
    assert "Link as License Manager" not in content


def test_package_link__admin_links_once_and_the_flag_stays(world, client, admin_user_role):
    client.force_login(admin_user_role)
    unlinked = world["unlinked"]
    _action(client, "admin:packages_package_changelist", "link_license_manager", [unlinked])
    unlinked.refresh_from_db()
    assert unlinked.license_manager_linked and unlinked.linked_at is not None
    # A second link is refused with the domain's message.
    response = _action(
        client, "admin:packages_package_changelist", "link_license_manager", [unlinked]
    )
    assert any("already linked" in m for m in _messages(response))
    # And the flag is no form field: a post cannot unset it.
    url = reverse("admin:packages_package_change", args=[unlinked.pk])
    assert 'name="license_manager_linked"' not in client.get(url).content.decode()


def test_package_link__ops_cannot(world, client, ops_user):
    client.force_login(ops_user)
    _action(
        client, "admin:packages_package_changelist", "link_license_manager", [world["unlinked"]]
    )
    world["unlinked"].refresh_from_db()
    assert not world["unlinked"].license_manager_linked


def test_package_page__shows_unrouted_events_waiting(world, client, admin_user_role):
    client.force_login(admin_user_role)
    url = reverse("admin:packages_package_change", args=[world["unlinked"].pk])
    assert "1 event(s)" in client.get(url).content.decode()


def test_package_replay__admin_replays_the_packages_unrouted_events(world, client, admin_user_role):
    # Given a package that was linked after an install arrived unrouted
    client.force_login(admin_user_role)
    unlinked = world["unlinked"]
    unlinked.link_license_manager()

    # When the admin replays its events
    response = _action(
        client, "admin:packages_package_changelist", "replay_unrouted_events", [unlinked]
    )

    # Then the replay ran and reported what it did (our inbox payload is empty: refused)
    assert any(m.startswith("unl: Replayed 1") for m in _messages(response))
    world["inbox"].refresh_from_db()
    assert world["inbox"].replayed_at is not None


def test_package_replay__ops_cannot(world, client, ops_user):
    client.force_login(ops_user)
    world["unlinked"].link_license_manager()
    _action(
        client, "admin:packages_package_changelist", "replay_unrouted_events", [world["unlinked"]]
    )
    world["inbox"].refresh_from_db()
    assert world["inbox"].outcome == Outcome.UNROUTED and world["inbox"].replayed_at is None


def test_api_key_create__shows_the_secret_once_and_stores_only_its_hash(
    world, client, admin_user_role
):
    # Given an administrator
    client.force_login(admin_user_role)

    # When they create a key for the package
    response = client.post(
        reverse("admin:packages_subscriberapikey_add"),
        {"package": world["package"].pk, "name": "prod"},
    )

    # Then the raw key is on the page, not cached, and only its hash is stored
    raw = response.context["raw_key"]
    assert raw.startswith("lmo_sk_") and raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key = SubscriberApiKey.objects.get()
    assert key.key_hash == SubscriberApiKey.hash_key(raw) and key.created_by == admin_user_role
    # And the key's page never shows it again
    page = client.get(reverse("admin:packages_subscriberapikey_change", args=[key.pk]))
    assert raw not in page.content.decode()


def test_api_key_revoke__admin_revokes_and_ops_cannot_see_keys(
    world, client, admin_user_role, ops_user
):
    key, _ = SubscriberApiKey.issue(package=world["package"], name="old")
    client.force_login(ops_user)
    assert client.get(reverse("admin:packages_subscriberapikey_changelist")).status_code == 403
    client.force_login(admin_user_role)
    _action(client, "admin:packages_subscriberapikey_changelist", "revoke_keys", [key])
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_create__by_ops__is_forbidden(world, client, ops_user):
    client.force_login(ops_user)
    response = client.post(
        reverse("admin:packages_subscriberapikey_add"), {"package": world["package"].pk}
    )
    assert response.status_code == 403 and not SubscriberApiKey.objects.exists()


def test_inbox__search_by_org_id_and_event_id(world, client, support_user):
    client.force_login(support_user)
    url = reverse("admin:subscribers_subscriberevent_changelist")
    inbox = world["inbox"]
    by_org = client.get(url, {"q": inbox.org_id[:15]}).context["cl"].result_list
    by_event = client.get(url, {"q": "evt_unrouted_1"}).context["cl"].result_list
    assert list(by_org) == [inbox] and list(by_event) == [inbox]


# --- Feature parameters ------------------------------------------------------------------------


def test_parameter_create__through_the_service__gives_every_license_the_default(
    world, client, admin_user_role
):
    client.force_login(admin_user_role)
    response = client.post(
        reverse("admin:features_featureparameter_add"),
        {
            "package": world["package"].pk,
            "developer_name": "Max_Users",
            "label": "Max users",
            "data_type": DataType.INTEGER,
            "direction": Direction.LMO_TO_SUBSCRIBER,
            "default_boolean": "unknown",
            "default_integer": "50",
            "default_date": "",
        },
    )
    assert response.status_code == 302
    parameter = FeatureParameter.objects.get(developer_name="Max_Users")
    assert parameter.default_value == 50
    # Live licenses got it; the uninstalled one did not.
    values = FeatureParameterValue.objects.filter(parameter=parameter)
    assert {v.license_id for v in values} == {world["trial"].pk, world["active"].pk}
    assert LogEntry.objects.filter(object_id=str(parameter.pk)).exists()


def test_parameter_create__default_of_another_type__is_refused(world, client, admin_user_role):
    client.force_login(admin_user_role)
    response = client.post(
        reverse("admin:features_featureparameter_add"),
        {
            "package": world["package"].pk,
            "developer_name": "Mixed",
            "label": "Mixed",
            "data_type": DataType.BOOLEAN,
            "direction": Direction.LMO_TO_SUBSCRIBER,
            "default_boolean": "unknown",
            "default_integer": "3",
        },
    )
    assert response.status_code == 200
    assert not FeatureParameter.objects.filter(developer_name="Mixed").exists()


def test_parameter_update__type_and_direction_stay_fixed(world, client, admin_user_role):
    client.force_login(admin_user_role)
    premium = world["premium"]
    url = reverse("admin:features_featureparameter_change", args=[premium.pk])
    response = client.post(
        url,
        {
            "label": "Premium scheduling (new)",
            "default_boolean": "true",
            "data_type": DataType.INTEGER,
            "direction": Direction.SUBSCRIBER_TO_LMO,
            "developer_name": "Renamed",
        },
    )
    assert response.status_code == 302
    premium.refresh_from_db()
    assert (premium.label, premium.default_value) == ("Premium scheduling (new)", True)
    assert (premium.data_type, premium.direction, premium.developer_name) == (
        DataType.BOOLEAN,
        Direction.LMO_TO_SUBSCRIBER,
        "Premium_Scheduling",
    )


def test_bulk_set__ops_enable_a_feature_on_all_active_licenses(world, client, ops_user):
    # Given an active and a trial license of the package, Premium_Scheduling off on both
    client.force_login(ops_user)
    premium = world["premium"]

    # When ops enable it on every active license
    response = _action(
        client,
        "admin:features_featureparameter_changelist",
        "bulk_set_value",
        [premium],
        value="true",
        statuses=["active"],
        reason="Premium promo",
    )

    # Then only the active license has it on, written to its history
    assert FeatureParameterValue.objects.get(license=world["active"], parameter=premium).value
    assert not FeatureParameterValue.objects.get(license=world["trial"], parameter=premium).value
    event = LicenseEvent.objects.get(license=world["active"], kind=EventKind.FEATURE_CHANGED)
    assert event.reason == "Premium promo"
    assert any("1 license(s) changed" in m for m in _messages(response))


def test_bulk_set__subscriber_to_lmo_parameter__is_refused(world, client, ops_user):
    client.force_login(ops_user)
    response = _action(
        client,
        "admin:features_featureparameter_changelist",
        "bulk_set_value",
        [world["jobs"]],
        value="5",
        statuses=["active"],
    )
    assert any("read-only here" in m for m in _messages(response))
    assert not LicenseEvent.objects.filter(kind=EventKind.FEATURE_CHANGED).exists()


@pytest.mark.parametrize("role", ["support", "manager", "admin"])
def test_bulk_set__by_other_roles__changes_nothing(world, users_by_role, client, role):
    client.force_login(users_by_role[role])
    _action(
        client,
        "admin:features_featureparameter_changelist",
        "bulk_set_value",
        [world["premium"]],
        value="true",
        statuses=["active", "trial"],
    )
    assert not LicenseEvent.objects.filter(kind=EventKind.FEATURE_CHANGED).exists()


def test_packages_list__query_count_is_fixed(
    world, client, admin_user_role, django_assert_max_num_queries
):
    client.force_login(admin_user_role)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("admin:packages_package_changelist"))
    assert len(response.context["cl"].result_list) == Package.objects.count()


def test_lead_list__user_without_role__gets_403_and_no_lead_data(world, client, norole_user):
    client.force_login(norole_user)
    response = client.get(reverse("admin:leads_lead_changelist"))
    assert response.status_code == 403
    assert b"ada@acme.example" not in response.content
    assert Lead.objects.count() == 1
