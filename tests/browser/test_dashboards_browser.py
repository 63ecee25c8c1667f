"""The managers' dashboards in a real browser: every chart drawn, every page's numbers
followable to the licenses behind them."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from features.models import FeatureParameterValue
from features.services import feature_values_create_for_license
from licenses.services import OrgDetails, license_create
from licenses.sweeps import licenses_expire_due
from tests.factories import (
    FeatureParameterFactory,
    PackageFactory,
    PackageVersionFactory,
    UserFactory,
    org_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {
    "overview": ("/dashboard/", ["chart-growth"]),
    "conversion": ("/dashboard/trial-conversion/", ["chart-conversion"]),
    "churn": ("/dashboard/churn/", ["chart-churn", "chart-retention"]),
    "versions": ("/dashboard/versions/", ["chart-versions-0"]),
    "features": ("/dashboard/features/", ["chart-features"]),
}

# True once the canvas has a pixel that is not transparent.
CANVAS_DRAWN = """id => {
  const canvas = document.getElementById(id);
  if (!canvas || !canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
  return false;
}"""


@pytest.fixture
def recent_licenses():
    """Installs over the last two months through the services: purchases (one using more
    seats than it bought), an expired trial, an uninstall, an upgrade, a switch turned on."""
    ops = UserFactory(username="browser-ops", role="ops")
    UserFactory(username="demo-manager", role="manager")
    package = PackageFactory(name="Field Service Pro", trial_days=30, default_seats=10)
    old = PackageVersionFactory(package=package, version_number="1.0.0")
    new = PackageVersionFactory(package=package, version_number="2.0.0")
    premium = FeatureParameterFactory(package=package, developer_name="Premium_Sync")
    now = timezone.now()
    made = []
    for days_ago in (58, 45, 33, 20, 12, 9, 4, 2):
        when = now - dt.timedelta(days=days_ago)
        with time_machine.travel(when, tick=False):
            license = license_create(
                package=package,
                version=old if days_ago > 30 else new,
                org=OrgDetails(org_id=org_id(), name=f"Org {days_ago}"),
                installed_at=when,
            )
            feature_values_create_for_license(license=license)
            made.append(license)
    with time_machine.travel(now - dt.timedelta(days=40), tick=False):
        made[0].activate(by=ops, seats=20)
        made[0].report_usage(25)
    with time_machine.travel(now - dt.timedelta(days=10), tick=False):
        made[3].activate(by=ops, seats=50)
        made[2].mark_uninstalled(timezone.now())
        made[1].set_version(new)
    licenses_expire_due(now=now)
    FeatureParameterValue.objects.filter(parameter=premium, license__in=made[:2]).update(
        value_boolean=True
    )
    return made


def test_dashboards__manager__every_chart_drawn_and_numbers_lead_to_licenses(
    recent_licenses, page, login, screenshot
):
    login("demo-manager")

    for name, (url, charts) in PAGES.items():
        page.goto(url)
        expect(page.locator("#dash-scope")).to_contain_text("Sandboxes are excluded")
        for chart in charts:
            page.wait_for_function(CANVAS_DRAWN, arg=chart)
        screenshot(f"dashboards-{name}")

    # A number leads to the license list that makes it up: the live licenses.
    page.goto("/dashboard/")
    live = page.locator("#card-live a.dash-num")
    count = int(live.inner_text().replace(",", ""))
    live.click()
    page.wait_for_load_state()
    assert "/admin/licenses/license/" in page.url and "segment=live" in page.url
    expect(page.locator("#result_list tbody tr")).to_have_count(count)
    screenshot("dashboards-live-licenses")

    # And from the over-use card, the one license using more seats than it bought.
    page.goto("/dashboard/")
    page.locator("#card-over-use a.dash-num").click()
    page.wait_for_load_state()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Org 58")
