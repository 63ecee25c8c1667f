"""License action forms in a real browser: each shows the license's values and limits,
and only the actions that can succeed are offered."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.dates import format_utc
from licenses.choices import LicenseStatus
from tests.factories import PackageFactory, UserFactory, make_license

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ops():
    return UserFactory(username="demo-ops", role="ops")


def test_ops__extend_trial_past_90_days__keeps_the_input_and_shows_the_rule(
    ops, page, login, screenshot
):
    # Given a trial started 30 days ago, on its page
    started = timezone.now() - dt.timedelta(days=30)
    trial = make_license(package=PackageFactory(), org_name="Acme", installed_at=started)
    login("demo-ops")
    page.goto(f"/admin/licenses/license/{trial.pk}/change/")

    # When ops open "Extend trial": the form shows its start, current end and latest end
    page.get_by_role("button", name="Extend trial").click()
    limits = page.locator("#action-licenses")
    expect(limits).to_contain_text(format_utc(trial.trial_started_at))
    expect(limits).to_contain_text(format_utc(trial.expires_at))
    expect(limits).to_contain_text(format_utc(trial.trial_limit))

    # And they ask for an end 100 days after the start
    too_late = (started + dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_until", too_late)
    page.fill("#id_reason", "Evaluation needs longer")
    page.click("input[name=apply]")

    # Then they stay on the form, with what they typed and the 90-day rule's message
    form = page.locator("#license-action-form")
    expect(form.locator(".errorlist")).to_contain_text("at most 90 days")
    limit = format_utc(trial.trial_limit)
    expect(form.locator(".errorlist")).to_contain_text(f"must end by {limit}")
    expect(page.locator("#id_until")).to_have_value(too_late)
    expect(page.locator("#id_reason")).to_have_value("Evaluation needs longer")
    screenshot("extend-trial-refused-keeps-input")
    trial.refresh_from_db()
    assert trial.expires_at < trial.trial_limit


def test_ops__suspended_license__offers_reinstate_and_not_activate(ops, page, login, screenshot):
    # Given a license suspended while it was active
    held = make_license(
        package=PackageFactory(),
        org_name="Globex",
        status=LicenseStatus.SUSPENDED,
        status_before_suspension=LicenseStatus.ACTIVE,
        activated_at=timezone.now() - dt.timedelta(days=40),
    )

    # When ops open its page
    login("demo-ops")
    page.goto(f"/admin/licenses/license/{held.pk}/change/")

    # Then Reinstate is offered and Activate is not
    actions = page.locator("#license-actions")
    expect(actions.get_by_role("button", name="Reinstate (lift suspension)")).to_be_visible()
    expect(actions.get_by_role("button", name="Activate (customer bought)")).to_have_count(0)
    screenshot("suspended-license-offers-reinstate")

    # And reinstating brings it back to active
    actions.get_by_role("button", name="Reinstate (lift suspension)").click()
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("Reinstated")
    held.refresh_from_db()
    assert held.status == LicenseStatus.ACTIVE


def test_ops__uninstalled_license__offers_no_action(ops, page, login):
    gone = make_license(package=PackageFactory(), status=LicenseStatus.UNINSTALLED)

    login("demo-ops")
    page.goto(f"/admin/licenses/license/{gone.pk}/change/")

    expect(page.locator("#locked-banner")).to_be_visible()
    expect(page.locator("#license-actions")).to_have_count(0)
