"""What a day's work in the console needs: seat over-use in sight, feature values on
hand-picked licenses with a preview, errors in the console's frame, owners who can own,
and the API docs one click away."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from features.models import FeatureParameterValue
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.factories import LeadFactory, UserFactory

CHANGELIST = "admin:licenses_license_changelist"


def _over(license: License, used: int, seats: int | None = None) -> License:
    fields = {"used_licenses": used}
    if seats is not None:
        fields["seats"] = seats
    License.objects.filter(pk=license.pk).update(**fields)
    return License.objects.get(pk=license.pk)


# --- Seat over-use ----------------------------------------------------------------------------


def test_over_seat_limit__site_licenses_and_uninstalled_are_never_over(world):
    # Given licenses using more seats than bought: a normal one, a site license, an uninstalled one
    over = _over(world["active"], used=45, seats=10)
    _over(world["trial"], used=5000, seats=-1)
    _over(world["uninstalled"], used=45, seats=10)
    _over(world["sibling"], used=10, seats=10)

    # When the rule is asked, as a filter and per row
    filtered = list(License.objects.over_seat_limit())
    marked = {lic.pk for lic in License.objects.with_seat_use() if lic.is_over_seat_limit}

    # Then only the normal license is over (exactly at the limit is not over)
    assert filtered == [over]
    assert marked == {over.pk}


def test_license_list__over_seat_filter_and_mark(world, client, ops_user):
    over = _over(world["active"], used=45, seats=10)
    _over(world["trial"], used=5000, seats=-1)
    client.force_login(ops_user)

    listed = client.get(reverse(CHANGELIST))
    filtered = client.get(reverse(CHANGELIST), {"seats": "over"})

    body = listed.content.decode()
    assert "over seat limit" in body
    assert body.count('class="lmo-over-mark"') == 1
    assert "Uses 45 seats of 10 bought (35 over)." in body
    assert [lic.pk for lic in filtered.context["cl"].result_list] == [over.pk]


def test_license_page_and_subscribers_page__warn_of_over_use(world, client, support_user):
    over = _over(world["active"], used=45, seats=10)
    client.force_login(support_user)

    page = client.get(reverse("admin:licenses_license_change", args=[over.pk]))
    org = client.get(reverse("admin:licenses_license_subscribers"), {"org": over.org_id})
    fine = client.get(reverse("admin:licenses_license_change", args=[world["trial"].pk]))

    assert 'id="over-seat-warning"' in page.content.decode()
    assert "uses 45 seats of the 10 bought" in page.content.decode()
    assert 'id="over-seat-warning"' in org.content.decode()
    assert 'id="over-seat-warning"' not in fine.content.decode()


# --- Set feature values on hand-picked licenses -----------------------------------------------


def _feature_post(client, licenses, stage, **values):
    data = {
        "action": "set_feature_values",
        "_selected_action": [lic.pk for lic in licenses],
        "select_across": "0",
        **values,
    }
    if stage in ("preview", "apply"):
        # The confirm page posts `apply`; after the preview it carries `confirmed` too.
        data["apply"] = "1"
    if stage == "apply":
        data["confirmed"] = "1"
    return client.post(reverse(CHANGELIST), data, follow=True)


def _value(license, parameter):
    return FeatureParameterValue.objects.get(license=license, parameter=parameter).value


def test_set_feature_values__preview_counts_and_writes_nothing(world, client, ops_user):
    # Given three hand-picked licenses: one already on, one off, one uninstalled
    premium = world["premium"]
    FeatureParameterValue.objects.filter(license=world["active"], parameter=premium).update(
        value_boolean=True
    )
    picked = [world["trial"], world["active"], world["uninstalled"]]
    client.force_login(ops_user)
    events_before = LicenseEvent.objects.count()

    # When ops preview Premium_Scheduling = On
    response = _feature_post(client, picked, "preview", **{f"param_{premium.pk}": "true"})

    # Then the preview says what would happen, and nothing is written yet
    body = response.content.decode()
    assert "will change 1 license, 1 already has it, 1 refused" in body
    assert f"{world['uninstalled'].name} is uninstalled" in body
    assert _value(world["trial"], premium) is False
    assert LicenseEvent.objects.count() == events_before


def test_set_feature_values__confirm_writes_one_history_row_per_changed_license(
    world, client, ops_user
):
    premium = world["premium"]
    picked = [world["trial"], world["active"], world["uninstalled"]]
    client.force_login(ops_user)

    response = _feature_post(
        client, picked, "apply", **{f"param_{premium.pk}": "true", "reason": "Customer pilot"}
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert "Premium_Scheduling = On: 2 license(s) changed, 0 already had it, 1 refused." in messages
    assert _value(world["trial"], premium) is True
    assert _value(world["active"], premium) is True
    assert _value(world["uninstalled"], premium) is False
    rows = LicenseEvent.objects.filter(kind=EventKind.FEATURE_CHANGED, reason="Customer pilot")
    assert sorted(rows.values_list("license_id", flat=True)) == sorted(
        [world["trial"].pk, world["active"].pk]
    )


def test_set_feature_values__no_value_chosen__asks_again(world, client, ops_user):
    client.force_login(ops_user)
    response = _feature_post(client, [world["trial"]], "preview")
    assert "Choose a value for at least one parameter." in response.content.decode()


def test_set_feature_values__offers_only_lmo_to_subscriber_parameters(world, client, ops_user):
    client.force_login(ops_user)
    response = _feature_post(client, [world["trial"]], "")
    body = response.content.decode()
    assert f'name="param_{world["premium"].pk}"' in body
    assert f'name="param_{world["jobs"].pk}"' not in body
    # With what the chosen licenses have now
    assert "Now: Off on 1." in body


def test_set_feature_values__not_offered_to_support(world, client, support_user):
    client.force_login(support_user)
    listed = client.get(reverse(CHANGELIST))
    assert "set_feature_values" not in listed.content.decode()
    response = _feature_post(
        client, [world["trial"]], "apply", **{f"param_{world['premium'].pk}": "true"}
    )
    # The list has no action for support: the post just shows the list, and nothing changed
    assert response.status_code == 200
    assert _value(world["trial"], world["premium"]) is False
    assert not LicenseEvent.objects.filter(kind=EventKind.FEATURE_CHANGED).exists()


# --- 403 and 404 in the console's frame ----------------------------------------------------------


def test_403__in_the_console_frame_with_a_link_home(world, client):
    # Given a staff user with no role
    client.force_login(UserFactory(username="newcomer"))

    # When they open a license
    response = client.get(reverse("admin:licenses_license_change", args=[world["trial"].pk]))

    # Then a 403 page in the console's frame says why and links home
    body = response.content.decode()
    assert response.status_code == 403
    assert 'id="site-name"' in body and 'id="go-home"' in body
    assert "with no role yet" in body
    assert world["trial"].org_name not in body


def test_404__in_the_console_frame_with_a_link_home(client, ops_user):
    client.force_login(ops_user)
    response = client.get("/admin/no-such-page/")
    assert response.status_code == 404
    assert 'id="site-name"' in response.content.decode()
    assert 'id="go-home"' in response.content.decode()


def test_404_and_403_under_api__stay_json(client, ops_user):
    client.force_login(ops_user)
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Users, owners, autocomplete, API docs ------------------------------------------------------


def test_create_user__role_none__makes_a_staff_user_without_a_role(db, capsys):
    call_command("create_user", "newcomer", "--role", "none", "--password", "s3cret-pass")
    user = get_user_model().objects.get(username="newcomer")
    assert user.is_staff and not user.groups.exists()
    assert "newcomer (no role)" in capsys.readouterr().out


def test_lead_owner__only_partner_ops_are_offered(world, client, ops_user, support_user):
    UserFactory(username="norole-user")
    client.force_login(ops_user)
    lead = world["lead"]

    response = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    owners = {str(user) for user in response.context["adminform"].form.fields["owner"].queryset}
    assert owners == {"ops"}


def test_lead_owner__a_current_owner_without_the_role_stays_listed(world, client, ops_user):
    former = UserFactory(username="former-owner")
    lead = LeadFactory(owner=former, package=world["package"])
    client.force_login(ops_user)
    response = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    owners = {str(u) for u in response.context["adminform"].form.fields["owner"].queryset}
    assert owners == {"ops", "former-owner"}


def test_convert_lead__existing_account_is_an_autocomplete(world, client, ops_user):
    client.force_login(ops_user)
    response = client.post(
        reverse("admin:leads_lead_changelist"),
        {"action": "convert_leads", "_selected_action": [world["lead"].pk], "index": "0"},
    )
    body = response.content.decode()
    assert "admin-autocomplete" in body
    assert "select2" in body
    assert world["account"].name not in body  # not one long list of every account


def test_api_docs_link__for_users_with_a_role_only(world, client, ops_user):
    client.force_login(ops_user)
    assert 'id="api-docs-link"' in client.get(reverse("admin:index")).content.decode()
    client.force_login(UserFactory(username="newcomer"))
    assert 'id="api-docs-link"' not in client.get(reverse("admin:index")).content.decode()


def test_history_rows__show_times_in_the_console_format(world, client, ops_user):
    trial = world["trial"]
    trial.extend_trial(by=ops_user, until=timezone.now() + dt.timedelta(days=40))
    client.force_login(ops_user)
    body = client.get(reverse("admin:licenses_license_change", args=[trial.pk])).content.decode()
    assert " UTC → " in body or "UTC →" in body
    assert "+00:00" not in body


@pytest.mark.parametrize("status", [LicenseStatus.TRIAL])
def test_license_list__expiry_tomorrow_reads_in_1_day(world, client, ops_user, status):
    tomorrow = timezone.now() + dt.timedelta(days=1)
    License.objects.filter(pk=world["trial"].pk).update(expires_at=tomorrow, status=status)
    client.force_login(ops_user)
    body = client.get(reverse(CHANGELIST), {"q": world["trial"].name}).content.decode()
    assert "(in 1 day)" in body


def test_package_lead_manager__only_partner_ops_are_offered(world, client, ops_user):
    UserFactory(username="support-2", role="support")
    client.force_login(UserFactory(username="pkg-admin", role="admin"))
    response = client.get(reverse("admin:packages_package_change", args=[world["package"].pk]))
    managers = {str(u) for u in response.context["adminform"].form.fields["lead_manager"].queryset}
    assert managers == {"ops"}


def test_404__for_someone_not_signed_in__still_the_console_page(db, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'id="go-home"' in body
    assert "nav-sidebar" not in body
