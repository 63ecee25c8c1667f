"""License actions from the console: each asks for what it needs, runs through the License
methods, reports refusals per license, and is only offered to the roles allowed to run it."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from features.models import FeatureParameterValue
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.factories import AccountFactory, LeadFactory

CHANGELIST = "admin:licenses_license_changelist"


def _post_action(client, action, licenses, **fields):
    data = {
        "action": f"action_{action}",
        "_selected_action": [lic.pk for lic in licenses],
        "select_across": "0",
        "apply": "1",
        **fields,
    }
    return client.post(reverse(CHANGELIST), data, follow=True)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_suspend_action__first_post__asks_for_a_reason_and_changes_nothing(world, client, ops_user):
    # Given ops on the license list
    client.force_login(ops_user)
    trial = world["trial"]

    # When they choose "suspend" for a license (the list's first post)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "action_suspend", "_selected_action": [trial.pk], "index": "0"},
    )

    # Then a form asks for the reason, and the license is untouched
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.TRIAL


def test_suspend_action__without_reason__shows_the_form_again(world, client, ops_user):
    client.force_login(ops_user)
    response = _post_action(client, "suspend", [world["trial"]], reason="")
    assert "This field is required" in response.content.decode()
    world["trial"].refresh_from_db()
    assert world["trial"].status == LicenseStatus.TRIAL


def test_suspend_action__on_many__suspends_the_live_and_reports_the_uninstalled(
    world, client, ops_user
):
    # Given a trial, an active and an uninstalled license
    client.force_login(ops_user)
    trial, active, gone = world["trial"], world["active"], world["uninstalled"]

    # When ops suspend all three with a reason
    response = _post_action(client, "suspend", [trial, active, gone], reason="Payment overdue")

    # Then the two live ones are suspended with the reason in their history
    for lic in (trial, active):
        lic.refresh_from_db()
        assert lic.status == LicenseStatus.SUSPENDED
        assert LicenseEvent.objects.filter(license=lic, reason="Payment overdue").exists()
    # And the uninstalled one is refused with the domain's message, and stays as it was
    gone.refresh_from_db()
    assert gone.status == LicenseStatus.UNINSTALLED
    msgs = _messages(response)
    assert any(m.startswith(f"{gone.name} refused:") and "uninstalled" in m for m in msgs)
    assert any("Suspended: 2 license(s)" in m for m in msgs)


def test_activate_action__with_seats__activates_a_trial(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    _post_action(client, "activate", [trial], seats="25", expires_at="", reason="Bought")
    trial.refresh_from_db()
    assert (trial.status, trial.seats, trial.expires_at) == (LicenseStatus.ACTIVE, 25, None)


def test_activate_action__site_license__sets_minus_one(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    _post_action(client, "activate", [trial], seats="-1", expires_at="", reason="")
    trial.refresh_from_db()
    assert trial.seats == -1


@pytest.mark.parametrize("seats", ["0", "-2", "100000000", "ten"])
def test_activate_action__with_invalid_seats__shows_the_form_and_changes_nothing(
    world, client, ops_user, seats
):
    client.force_login(ops_user)
    response = _post_action(client, "activate", [world["trial"]], seats=seats)
    assert response.status_code == 200
    assert 'id="license-action-form"' in response.content.decode()
    world["trial"].refresh_from_db()
    assert world["trial"].status == LicenseStatus.TRIAL


def test_extend_trial_action__past_90_days__is_refused_with_the_domain_message(
    world, client, ops_user
):
    # Given a trial that started now
    client.force_login(ops_user)
    trial = world["trial"]
    before = trial.expires_at
    too_late = (trial.trial_started_at + dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M")

    # When ops extend it 100 days from its start
    response = _post_action(client, "extend_trial", [trial], until=too_late)

    # Then the form stays, with the date entered and the 90-day rule's message, and the
    # expiry stays
    content = response.content.decode()
    assert 'id="license-action-form"' in content
    assert "at most 90 days" in content
    assert f'value="{too_late}"' in content
    trial.refresh_from_db()
    assert trial.expires_at == before


def test_extend_trial_action__within_90_days__moves_the_expiry(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    until = (trial.trial_started_at + dt.timedelta(days=60)).replace(second=0, microsecond=0)
    _post_action(client, "extend_trial", [trial], until=until.strftime("%Y-%m-%dT%H:%M"))
    trial.refresh_from_db()
    assert trial.expires_at == until


def test_extend_trial_action__on_an_active_license__is_refused(world, client, ops_user):
    client.force_login(ops_user)
    until = (timezone.now() + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = _post_action(client, "extend_trial", [world["active"]], until=until)
    content = response.content.decode()
    assert 'id="license-action-form"' in content
    assert "cannot become a trial again" in content


def test_reinstate_action__on_a_suspended_license__restores_its_status(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    trial.suspend(by=ops_user, reason="Check")
    _post_action(client, "reinstate", [trial], reason="")
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.TRIAL


def test_set_seats_and_expiration_actions__write_history(world, client, ops_user):
    client.force_login(ops_user)
    active = world["active"]
    _post_action(client, "set_seats", [active], seats="40", reason="Upsell")
    expiry = (timezone.now() + dt.timedelta(days=365)).replace(second=0, microsecond=0)
    _post_action(client, "set_expiration", [active], expires_at=expiry.strftime("%Y-%m-%dT%H:%M"))
    active.refresh_from_db()
    assert (active.seats, active.expires_at) == (40, expiry)
    kinds = set(LicenseEvent.objects.filter(license=active).values_list("kind", flat=True))
    assert {EventKind.SEATS_CHANGED, EventKind.EXPIRATION_CHANGED} <= kinds


def test_set_expiration_action__never_expires__clears_the_date(world, client, ops_user):
    client.force_login(ops_user)
    active = world["active"]
    active.set_expiration(by=ops_user, expires_at=timezone.now() + dt.timedelta(days=10))
    _post_action(client, "set_expiration", [active], never_expires="on")
    active.refresh_from_db()
    assert active.expires_at is None


@pytest.mark.parametrize("role", ["support", "manager", "admin", "none"])
@pytest.mark.parametrize("action", ["suspend", "set_seats", "activate"])
def test_license_actions__by_roles_without_the_permission__change_nothing(
    world, users_by_role, client, role, action
):
    # Given a role that may not change licenses
    client.force_login(users_by_role[role])
    trial = world["trial"]

    # When it posts an action anyway
    response = _post_action(client, action, [trial], reason="x", seats="5", expires_at="")

    # Then nothing changes: forbidden, or the action is not offered
    assert response.status_code in (200, 403)
    trial.refresh_from_db()
    assert (trial.status, trial.seats) == (LicenseStatus.TRIAL, 10)
    assert not LicenseEvent.objects.filter(license=trial, kind=EventKind.STATUS_CHANGED).exists()


def test_action_from_the_license_page__returns_to_the_license_page(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    page = reverse("admin:licenses_license_change", args=[trial.pk])
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "action_suspend",
            "_selected_action": [trial.pk],
            "select_across": "0",
            "apply": "1",
            "reason": "Terms",
            "next": page,
        },
    )
    assert response.status_code == 302 and response["Location"] == page


def test_action_with_select_across__applies_to_the_filtered_list(world, client, ops_user):
    # Given the list filtered to trials, with "select all" ticked
    client.force_login(ops_user)
    url = reverse(CHANGELIST) + "?status__exact=trial"

    # When ops set seats on every matching license
    client.post(
        url,
        {
            "action": "action_set_seats",
            "_selected_action": [world["trial"].pk],
            "select_across": "1",
            "apply": "1",
            "seats": "7",
        },
    )

    # Then the trial changed and the active license did not
    world["trial"].refresh_from_db()
    world["active"].refresh_from_db()
    assert world["trial"].seats == 7
    assert world["active"].seats != 7


def test_uninstalled_license_page__is_read_only_with_a_banner(world, client, ops_user):
    # Given ops, who may change licenses
    client.force_login(ops_user)
    gone = world["uninstalled"]
    url = reverse("admin:licenses_license_change", args=[gone.pk])

    # When they open an uninstalled license
    content = client.get(url).content.decode()

    # Then it says why it is read-only and offers no field, button or save
    assert 'id="locked-banner"' in content
    assert "uninstalled" in content
    assert 'name="assign_account"' not in content
    assert 'name="_save"' not in content
    assert 'id="license-actions"' not in content
    # And a crafted post is refused
    assert client.post(url, {"assign_account": ""}).status_code == 403


def test_license_page__assign_account__goes_through_the_model_method(world, client, ops_user):
    client.force_login(ops_user)
    trial = world["trial"]
    account = AccountFactory(name="New Customer")
    url = reverse("admin:licenses_license_change", args=[trial.pk])
    response = client.post(
        url, {"assign_account": account.pk, "assign_reason": "Signed", "_save": "Save"}
    )
    assert response.status_code == 302
    trial.refresh_from_db()
    assert trial.account == account
    event = LicenseEvent.objects.get(license=trial, kind=EventKind.ACCOUNT_CHANGED)
    assert (event.after, event.reason) == ({"account": "New Customer"}, "Signed")


def test_license_page__assign_lead__autocompletes_and_goes_through_the_model_method(
    world, client, ops_user
):
    client.force_login(ops_user)
    trial = world["trial"]
    lead = LeadFactory(first_name="Grace", last_name="Hopper", company="Cobol Systems")
    url = reverse("admin:licenses_license_change", args=[trial.pk])
    # The lead is picked by typing, not from a list of every lead
    assert 'name="assign_lead"' in client.get(url).content.decode()
    found = client.get(
        reverse("admin:autocomplete"),
        {
            "term": "Hopper",
            "app_label": "licenses",
            "model_name": "license",
            "field_name": "lead",
        },
    ).json()
    assert [row["id"] for row in found["results"]] == [str(lead.pk)]
    response = client.post(
        url,
        {
            "assign_lead": lead.pk,
            "assign_account": trial.account_id or "",
            "assign_reason": "Met at the user group",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    trial.refresh_from_db()
    assert trial.lead == lead
    event = LicenseEvent.objects.get(license=trial, kind=EventKind.LEAD_CHANGED)
    assert event.reason == "Met at the user group"
    assert not LicenseEvent.objects.filter(license=trial, kind=EventKind.ACCOUNT_CHANGED).exists()


def test_license_page__status_is_not_a_form_field(world, client, ops_user):
    client.force_login(ops_user)
    url = reverse("admin:licenses_license_change", args=[world["trial"].pk])
    client.post(url, {"status": "active", "seats": "999", "_save": "Save"})
    world["trial"].refresh_from_db()
    assert (world["trial"].status, world["trial"].seats) == (LicenseStatus.TRIAL, 10)


def test_license_page__shows_history_newest_first_and_the_orgs_other_licenses(
    world, client, support_user
):
    trial = world["trial"]
    trial.set_seats(by="system", seats=12, reason="reason-older")
    trial.set_seats(by="system", seats=13, reason="reason-newer")
    client.force_login(support_user)
    content = client.get(reverse("admin:licenses_license_change", args=[trial.pk])).content.decode()
    assert content.index("reason-newer") < content.index("reason-older")
    assert world["sibling"].name in content
    assert "Quote Builder" in content


def test_feature_values__ops_set_an_lmo_to_subscriber_value__with_history(world, client, ops_user):
    # Given a trial with Premium_Scheduling off
    client.force_login(ops_user)
    trial, premium, jobs = world["trial"], world["premium"], world["jobs"]
    url = reverse("admin:licenses_license_features", args=[trial.pk])

    # When ops turn it on from the license page (and try to sneak a subscriber value in)
    client.post(url, {f"param_{premium.pk}": "true", f"param_{jobs.pk}": "99", "reason": "Upsell"})

    # Then it is on, in history, and the subscriber-to-LMO value is untouched
    assert FeatureParameterValue.objects.get(license=trial, parameter=premium).value is True
    assert FeatureParameterValue.objects.get(license=trial, parameter=jobs).value == 0
    event = LicenseEvent.objects.get(license=trial, kind=EventKind.FEATURE_CHANGED)
    assert event.after == {"Premium_Scheduling": True}


def test_feature_values__support__is_forbidden(world, client, support_user):
    client.force_login(support_user)
    trial, premium = world["trial"], world["premium"]
    url = reverse("admin:licenses_license_features", args=[trial.pk])
    assert client.post(url, {f"param_{premium.pk}": "true"}).status_code == 403
    assert FeatureParameterValue.objects.get(license=trial, parameter=premium).value is False


def test_feature_values__on_an_uninstalled_license__are_frozen(world, client, ops_user):
    client.force_login(ops_user)
    gone, premium = world["uninstalled"], world["premium"]
    url = reverse("admin:licenses_license_features", args=[gone.pk])
    response = client.post(url, {f"param_{premium.pk}": "true"}, follow=True)
    assert any("frozen" in m for m in _messages(response))
    assert FeatureParameterValue.objects.get(license=gone, parameter=premium).value is False


def test_feature_values__bad_integer__is_reported_and_nothing_written(world, client, ops_user):
    from features.choices import DataType, Direction
    from features.services import feature_parameter_create

    cap = feature_parameter_create(
        package=world["package"],
        developer_name="Max_Users",
        label="Max users",
        data_type=DataType.INTEGER,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_value=5,
    )
    client.force_login(ops_user)
    trial = world["trial"]
    url = reverse("admin:licenses_license_features", args=[trial.pk])
    response = client.post(url, {f"param_{cap.pk}": "lots"}, follow=True)
    assert any("Enter a whole number" in m for m in _messages(response))
    assert FeatureParameterValue.objects.get(license=trial, parameter=cap).value == 5


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("org15", {"trial", "sibling"}),
        ("org18", {"trial", "sibling"}),
        ("name", {"trial"}),
        ("Globex", {"active"}),
        ("Globex Inc", {"active"}),
        ("ADA@acme.example", {"trial"}),
    ],
)
def test_license_list_search__finds_by_org_id_name_account_and_lead_email(
    world, client, support_user, term, expected
):
    trial = world["trial"]
    term = {"org15": trial.org_id[:15], "org18": trial.org_id, "name": trial.name}.get(term, term)
    client.force_login(support_user)
    response = client.get(reverse(CHANGELIST), {"q": term})
    found = {lic.pk for lic in response.context["cl"].result_list}
    assert found == {world[name].pk for name in expected}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "active"}, {"active", "sibling"}),
        ({"is_sandbox__exact": "0", "status__exact": "uninstalled"}, {"uninstalled"}),
        ({"expiring": "30"}, {"trial"}),
        ({"expiring": "7"}, set()),
    ],
)
def test_license_list_filters(world, client, support_user, params, expected):
    client.force_login(support_user)
    response = client.get(reverse(CHANGELIST), params)
    found = {lic.pk for lic in response.context["cl"].result_list}
    assert found == {world[name].pk for name in expected}


def test_license_list_version_filter__lists_the_chosen_packages_versions(
    world, client, support_user
):
    client.force_login(support_user)
    old, _new = world["versions"]
    params = {"package__id__exact": world["package"].pk, "version": old.pk}
    response = client.get(reverse(CHANGELIST), params)
    version_filter = next(f for f in response.context["cl"].filter_specs if f.title == "version")
    assert [label for _, label in version_filter.lookup_choices] == ["2.0.0", "1.0.0"]
    found = {lic.pk for lic in response.context["cl"].result_list}
    assert found == {world["active"].pk, world["uninstalled"].pk}


def test_license_list__query_count_does_not_grow_with_rows(
    world, client, support_user, django_assert_max_num_queries
):
    client.force_login(support_user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 4


def test_license_csv_export__streams_the_filtered_list(world, client, support_user):
    client.force_login(support_user)
    response = client.get(reverse("admin:licenses_license_export"), {"status__exact": "active"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["license"] for row in rows} == {world["active"].name, world["sibling"].name}
    globex = next(row for row in rows if row["license"] == world["active"].name)
    assert globex["account"] == "Globex Inc" and globex["status"] == "active"


def test_subscribers_page__by_org_id__shows_the_org_whole(world, client, support_user):
    # Given an org with two packages installed and a lead
    client.force_login(support_user)
    trial = world["trial"]

    # When support search its 15-character id
    response = client.get(reverse("admin:licenses_license_subscribers"), {"q": trial.org_id[:15]})

    # Then they see its edition, instance, both packages, its lead and its history
    content = response.content.decode()
    assert "Enterprise Edition" in content and "NA135" in content
    assert "Field Service Pro" in content and "Quote Builder" in content
    assert "ada@acme.example" in content
    assert "Production" in content
    assert 'id="org-events"' in content and "Installed" in content


def test_subscribers_page__by_name__lists_matching_orgs(world, client, support_user):
    client.force_login(support_user)
    content = client.get(
        reverse("admin:licenses_license_subscribers"), {"q": "ac"}
    ).content.decode()
    # "ac" matches only Acme (two licenses, one org): the org opens directly.
    assert 'id="org-details"' in content
    content = client.get(
        reverse("admin:licenses_license_subscribers"), {"q": "nothing-like-this"}
    ).content.decode()
    assert 'id="no-match"' in content


def test_subscribers_page__sandbox__links_its_production_parent(
    world, client, support_user, django_assert_max_num_queries
):
    from tests.factories import make_license

    sandbox = make_license(package=world["package"], is_sandbox=True, org_name="Acme Sandbox")
    License.objects.filter(pk=sandbox.pk).update(parent_org_id=world["trial"].org_id)
    client.force_login(support_user)
    with django_assert_max_num_queries(16):
        response = client.get(
            reverse("admin:licenses_license_subscribers"), {"org": sandbox.org_id}
        )
    content = response.content.decode()
    assert "Sandbox" in content and f"?org={world['trial'].org_id}" in content


def test_license_page__account_autocomplete__answers_ops(world, client, ops_user):
    client.force_login(ops_user)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "licenses", "model_name": "license", "field_name": "account", "term": "Glob"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Globex Inc"]


@pytest.mark.parametrize(
    "params",
    [{"package__id__exact": "abc"}, {"version": "x"}, {"expiring": "never"}, {"q": "%%%"}],
)
def test_license_list_and_export__odd_parameters__never_fail(world, client, support_user, params):
    client.force_login(support_user)
    assert client.get(reverse(CHANGELIST), params).status_code in (200, 302)
    assert client.get(reverse("admin:licenses_license_export"), params).status_code in (200, 302)


def test_set_expiration_action__in_the_past__is_refused_with_the_rule_message(
    world, client, ops_user
):
    # Given ops in the console and a trial
    client.force_login(ops_user)
    trial = world["trial"]
    before = trial.expires_at

    # When they set its expiry to 2020-01-01
    response = _post_action(client, "set_expiration", [trial], expires_at="2020-01-01T00:00")

    # Then the License's rule refuses it (the form stays, with its message), and the expiry
    # stays
    content = response.content.decode()
    assert 'id="license-action-form"' in content
    assert "must be after the license" in content or "must be in the future" in content
    trial.refresh_from_db()
    assert trial.expires_at == before


@pytest.mark.parametrize(
    "org_name",
    ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)", "+1+2", "-2+3", "\tx", "\rx"],
)
def test_license_csv_export__formula_like_org_names__written_as_text(
    world, client, support_user, org_name
):
    # Given a subscriber whose org name a spreadsheet would run as a formula
    License.objects.filter(pk=world["active"].pk).update(org_name=org_name)
    client.force_login(support_user)

    # When the list is exported
    response = client.get(reverse("admin:licenses_license_export"), {"status__exact": "active"})
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline=""))
    )

    # Then that cell starts with a quote, and a site license's -1 stays a number
    row = next(row for row in rows if row["license"] == world["active"].name)
    assert row["org_name"] == "'" + org_name
    assert all(not row[key].startswith(("=", "+", "@", "\t", "\r")) for key in row)
