"""Moving the simulated clock from the console: a trial goes into grace, then expires."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.factories import PackageFactory, UserFactory, make_license

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def simulated_clock(settings):
    settings.LMO_SIMULATED_CLOCK = True
    return settings


def _advance(page, duration: str) -> None:
    page.goto("/admin/clock/clockchange/")
    page.fill("#id_duration", duration)
    page.click("#clock-advance input[type=submit]")
    page.wait_for_load_state()


def test_console_clock__trial_moves_to_grace_then_expired(simulated_clock, page, login, screenshot):
    # Given a trial ending in two days, of a package with three days of grace, and a
    # superuser who may move the clock and read licenses
    package = PackageFactory(name="Field Service Pro", trial_days=30, grace_days=3)
    trial = make_license(
        package=package,
        org_name="Late Payer Ltd",
        installed_at=timezone.now() - dt.timedelta(days=28),
    )
    UserFactory(username="root", is_superuser=True)
    login("root")
    license_url = f"/admin/licenses/license/{trial.pk}/change/"
    page.goto(license_url)
    expect(page.locator("#lmo-clock-banner")).to_have_count(0)

    # When the clock is advanced three days from the console
    _advance(page, "3d")

    # Then every page carries the banner, and the trial is in grace in the list's filter
    expect(page.locator("#lmo-clock-banner")).to_contain_text("Simulated clock")
    page.goto("/admin/licenses/license/?grace=in")
    expect(page.locator("#result_list")).to_contain_text("Late Payer Ltd")
    expect(page.locator("#result_list")).to_contain_text("grace until")
    screenshot("clock-trial-in-grace")
    assert License.objects.get(pk=trial.pk).status == LicenseStatus.TRIAL
    assert LicenseEvent.objects.filter(license=trial, kind=EventKind.GRACE_STARTED).count() == 1

    # When the clock passes the end of grace
    _advance(page, "2d")

    # Then the sweep has expired it, and its page and history say so
    page.goto(license_url)
    expect(page.locator(".lmo-badge--expired").first).to_be_visible()
    expect(page.locator("#history")).to_contain_text("Grace period started")
    screenshot("clock-trial-expired")
    page.goto("/admin/licenses/license/?grace=in")
    expect(page.locator("#result_list")).to_have_count(0)
    assert License.objects.get(pk=trial.pk).status == LicenseStatus.EXPIRED
