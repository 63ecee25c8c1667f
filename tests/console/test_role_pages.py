"""Every console page for every role: who may open it, and who gets a 403."""

import pytest
from django.urls import reverse

ROLES = ("ops", "support", "manager", "admin", "none")
LICENSE_READERS = {"ops", "support", "manager"}
PACKAGE_READERS = {"ops", "support", "manager", "admin"}
INBOX_READERS = {"ops", "support", "admin"}
ADMINS = {"admin"}


def _pages(world):
    w = world
    return [
        ("admin:licenses_license_changelist", (), LICENSE_READERS),
        ("admin:licenses_license_change", (w["trial"].pk,), LICENSE_READERS),
        ("admin:licenses_license_change", (w["uninstalled"].pk,), LICENSE_READERS),
        ("admin:licenses_license_subscribers", (), LICENSE_READERS),
        ("admin:licenses_license_export", (), LICENSE_READERS),
        ("admin:licenses_licenseevent_changelist", (), LICENSE_READERS),
        ("admin:leads_lead_changelist", (), LICENSE_READERS),
        ("admin:leads_lead_change", (w["lead"].pk,), LICENSE_READERS),
        ("admin:leads_account_changelist", (), LICENSE_READERS),
        ("admin:leads_account_change", (w["account"].pk,), LICENSE_READERS),
        ("admin:packages_package_changelist", (), PACKAGE_READERS),
        ("admin:packages_package_change", (w["package"].pk,), PACKAGE_READERS),
        ("admin:packages_packageversion_changelist", (), PACKAGE_READERS),
        ("admin:packages_subscriberapikey_changelist", (), ADMINS),
        ("admin:packages_subscriberapikey_add", (), ADMINS),
        ("admin:features_featureparameter_changelist", (), PACKAGE_READERS),
        ("admin:features_featureparameter_change", (w["premium"].pk,), PACKAGE_READERS),
        ("admin:features_featureparameter_add", (), ADMINS),
        ("admin:subscribers_subscriberevent_changelist", (), INBOX_READERS),
        ("admin:subscribers_subscriberevent_change", (w["inbox"].pk,), INBOX_READERS),
        ("admin:auth_user_changelist", (), ADMINS),
        ("admin:jobs_sweeprun_changelist", (), PACKAGE_READERS),
        ("admin:jobs_outboxmessage_changelist", (), ADMINS),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_console_pages__for_each_role__open_only_where_the_role_allows(
    world, users_by_role, client, role
):
    # Given a staff user with this role
    client.force_login(users_by_role[role])

    # When they open every page of the console
    wrong = []
    for url_name, args, allowed in _pages(world):
        status = client.get(reverse(url_name, args=args)).status_code
        expected = 200 if role in allowed else 403
        if status != expected:
            wrong.append(f"{url_name}{args}: {status}, expected {expected}")

    # Then each opens for the roles that may see it, and is forbidden for the others
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_console_index__shows_license_data_only_to_roles_that_may_read_it(
    world, users_by_role, client, role
):
    # Given a staff user with this role
    client.force_login(users_by_role[role])

    # When they open the console's home page
    content = client.get(reverse("admin:index")).content.decode()

    # Then licenses, leads and the subscribers page appear only for license readers
    shows = role in LICENSE_READERS
    assert (reverse("admin:licenses_license_changelist") in content) is shows
    assert (reverse("admin:leads_lead_changelist") in content) is shows
    assert (reverse("admin:licenses_license_subscribers") in content) is shows


def test_console_index__user_without_role__sees_nothing_to_work_on(world, norole_user, client):
    # Given a staff user with no role
    client.force_login(norole_user)

    # When they open the console
    content = client.get(reverse("admin:index")).content.decode()

    # Then no app is listed, and no org from the licenses shows up
    assert "have permission to view or edit anything" in content
    assert "Acme" not in content
    assert "Feature" not in content


@pytest.mark.parametrize(("role", "editable"), [("ops", True), ("support", False)])
def test_license_page__only_ops_get_a_form_and_action_buttons(
    world, users_by_role, client, role, editable
):
    # Given a trial license
    client.force_login(users_by_role[role])

    # When the role opens it
    content = client.get(
        reverse("admin:licenses_license_change", args=[world["trial"].pk])
    ).content.decode()

    # Then only ops see the account field, the feature form and the status buttons
    assert ('name="assign_account"' in content) is editable
    assert ('id="save-features"' in content) is editable
    assert ('value="action_suspend"' in content) is editable
    # And everyone who may read it sees its history and the feature values
    assert 'id="history"' in content
    assert "Premium_Scheduling" in content
