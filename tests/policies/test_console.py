"""Grace, overrides and the clock in the console."""

import datetime as dt

import pytest
from django.urls import reverse

from features.models import FeatureOverride, FeatureParameter, FeatureParameterValue
from tests.factories import make_license

from .conftest import REAL, SECOND


@pytest.fixture
def premium(graced):
    return FeatureParameter.objects.get(package=graced, developer_name="Premium")


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_license_list__grace_filter__shows_only_licenses_in_grace(
    graced, move_clock, client, support_user
):
    # Given one trial in grace and one still running
    in_grace = make_license(package=graced, installed_at=REAL, org_name="Late Payer Ltd")
    make_license(
        package=graced, installed_at=REAL + dt.timedelta(days=5), org_name="Fresh Start Inc"
    )
    move_clock(in_grace.expires_at + SECOND)
    client.force_login(support_user)
    # When the list is filtered on grace
    page = client.get(reverse("admin:licenses_license_changelist"), {"grace": "in"})
    body = page.content.decode()
    # Then only the one in grace shows, with its grace's end
    assert page.status_code == 200
    assert "Late Payer Ltd" in body
    assert "Fresh Start Inc" not in body
    assert "grace until 2027-01-03 09:00" in body


def test_dashboard__in_grace_group(graced, move_clock, client, manager_user):
    late = make_license(package=graced, installed_at=REAL, org_name="Late Payer Ltd")
    move_clock(late.expires_at + SECOND)
    client.force_login(manager_user)
    body = client.get("/dashboard/").content.decode()
    assert "In grace (1)" in body
    assert late.name in body


def test_license_page__values_until__set_as_override_and_listed(
    trial, premium, client, ops_user, real_time
):
    client.force_login(ops_user)
    url = reverse("admin:licenses_license_features", args=[trial.pk])
    until = REAL + dt.timedelta(days=14)
    response = client.post(
        url,
        {f"param_{premium.pk}": "true", "until": "2026-12-15T09:00", "reason": "pilot"},
        follow=True,
    )
    assert any("Premium until 2026-12-15 09:00" in m for m in _messages(response))
    override = FeatureOverride.objects.get()
    assert (override.value, override.until, override.previous_value) == (True, until, False)
    page = client.get(reverse("admin:licenses_license_change", args=[trial.pk])).content.decode()
    assert 'id="feature-overrides"' in page


def test_bulk_pilot__twenty_orgs_by_id__each_until(graced, premium, client, ops_user, real_time):
    # Given 22 trials, 20 of them in the pilot list (15-character ids for half of them)
    licenses = [make_license(package=graced, installed_at=REAL) for _ in range(22)]
    ids = [lic.org_id[:15] if i % 2 else lic.org_id for i, lic in enumerate(licenses[:20])]
    client.force_login(ops_user)
    # When ops set Premium on until a date through the parameter's bulk action
    response = client.post(
        reverse("admin:features_featureparameter_changelist"),
        {
            "action": "bulk_set_value",
            "_selected_action": [premium.pk],
            "select_across": "0",
            "apply": "1",
            "value": "true",
            "statuses": ["trial"],
            "org_ids": "\n".join(ids),
            "until": "2026-12-15T09:00",
            "reason": "Q1 pilot",
        },
        follow=True,
    )
    # Then exactly those 20 have a running override, the other two are untouched
    assert any(
        "until 2026-12-15 09:00 UTC: 20 license(s) changed" in m for m in _messages(response)
    )
    piloted = set(FeatureOverride.objects.values_list("license_id", flat=True))
    assert piloted == {lic.pk for lic in licenses[:20]}
    assert not FeatureParameterValue.objects.get(license=licenses[21], parameter=premium).value


def test_bulk_pilot__bad_org_id__form_says_so_and_nothing_written(
    graced, premium, client, ops_user, real_time
):
    client.force_login(ops_user)
    response = client.post(
        reverse("admin:features_featureparameter_changelist"),
        {
            "action": "bulk_set_value",
            "_selected_action": [premium.pk],
            "select_across": "0",
            "apply": "1",
            "value": "true",
            "statuses": ["trial"],
            "org_ids": "not-an-org",
            "until": "2026-12-15T09:00",
        },
    )
    assert "Not org ids: not-an-org." in response.content.decode()
    assert not FeatureOverride.objects.exists()


def test_package_form__grace_days_over_30__refused_on_the_form(db, client, admin_user_role):
    from django.forms.models import model_to_dict

    from tests.factories import PackageFactory

    # Given the console's package form, as the Administrators' page builds it
    package = PackageFactory(grace_days=0)
    client.force_login(admin_user_role)
    url = reverse("admin:packages_package_change", args=[package.pk])
    form_class = type(client.get(url).context["adminform"].form)
    data = {k: v for k, v in model_to_dict(package).items() if v is not None}
    # When grace_days is out of range, or within it
    too_long = form_class(data={**data, "grace_days": 31}, instance=package)
    week = form_class(data={**data, "grace_days": 7}, instance=package)
    # Then the form says which field is wrong, and takes the valid one
    assert "grace_days" in too_long.errors
    assert "grace_days" not in week.errors
