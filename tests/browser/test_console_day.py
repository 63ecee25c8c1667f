"""A day of partner ops work in the console at 1440x900: a compact list, seat over-use in
sight, feature values on hand-picked licenses, and errors inside the console's frame."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from features.choices import DataType, Direction
from features.models import FeatureParameterValue
from features.services import feature_parameter_create
from leads.models import Account
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.factories import PackageFactory, PackageVersionFactory, UserFactory, make_license

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1440, "height": 900}
# The widest badges and expiry texts included.
STATUSES = [
    LicenseStatus.TRIAL,
    LicenseStatus.SUSPENDED,
    LicenseStatus.ACTIVE,
    LicenseStatus.UNINSTALLED,
    LicenseStatus.TRIAL,
]


@pytest.fixture
def screen_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=SCREEN)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def _login(page, username: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_load_state()


def _shot(page, name: str) -> None:
    from django.conf import settings

    settings.TEST_OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(settings.TEST_OUTPUT_DIR / f"{name}.png"))


@pytest.fixture
def customer():
    """One customer's 14 orgs on a package, long names included, and a few over their seats."""
    package = PackageFactory(
        name="Field Service Pro for Enterprise Scheduling", namespace="fsp", default_seats=10
    )
    version = PackageVersionFactory(package=package, version_number="2.10.3")
    premium = feature_parameter_create(
        package=package,
        developer_name="Premium_Scheduling",
        label="Premium scheduling",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_value=False,
    )
    account = Account.objects.create(name="Cyberdyne Systems International Holdings Ltd")
    now = timezone.now()
    licenses = [
        make_license(
            package=package,
            version=version,
            org_name=f"Cyberdyne Systems Worldwide Operations Division {n}",
            account=account,
            installed_at=now - dt.timedelta(days=n),
            used_licenses=45 if n % 5 == 0 else 8,
            status=STATUSES[n % len(STATUSES)],
        )
        for n in range(30)
    ]
    UserFactory(username="ops", role="ops")
    return {"package": package, "premium": premium, "licenses": licenses}


def test_license_list__25_rows_fit_1440x900_with_the_sidebar_open(customer, screen_page):
    page = screen_page
    # Given ops signed in, with the navigation sidebar open
    _login(page, "ops")
    # When they open the license list
    page.goto("/admin/licenses/license/")
    expect(page.locator("#nav-sidebar")).to_be_visible()
    # Then at least 25 rows are on screen without scrolling
    bottoms = page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().bottom)"
    )
    _shot(page, "license-list-1440x900")
    assert len(bottoms) == 30
    assert sum(1 for bottom in bottoms if bottom <= SCREEN["height"]) >= 25
    # And no column is clipped: the table ends inside the screen, the page does not scroll sideways
    clipped = page.eval_on_selector(".results", "box => box.scrollWidth > box.clientWidth")
    assert not clipped
    last = page.locator("#result_list thead th").last.bounding_box()
    assert last["x"] + last["width"] <= SCREEN["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
    # And names and dates stay on one line: every row is one line high
    heights = page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    assert max(heights) < 30
    # And a cut value is whole on hover
    org_cell = page.locator("#result_list tbody tr .lmo-trunc").first
    assert org_cell.get_attribute("title").startswith("Cyberdyne Systems Worldwide Operations")


def _pick(page, license) -> None:
    row = page.locator("#result_list tbody tr", has_text=license.name)
    row.locator("input.action-select").check()


def test_ops__set_a_feature_on_hand_picked_licenses__preview_then_confirm(customer, screen_page):
    page = screen_page
    premium, licenses = customer["premium"], customer["licenses"]
    # Four of the customer's orgs: trial, active, suspended, and one uninstalled
    picked = [licenses[4], licenses[2], licenses[1], licenses[3]]
    assert picked[3].status == LicenseStatus.UNINSTALLED
    _login(page, "ops")
    page.goto("/admin/licenses/license/")

    # When ops tick them and run "Set feature values"
    for license in picked:
        _pick(page, license)
    page.select_option("select[name=action]", "set_feature_values")
    page.click("button[name=index]")
    page.select_option(f"select[name=param_{premium.pk}]", "true")
    page.fill("input[name=reason]", "Pilot for Cyberdyne")
    page.click("input[name=apply]")

    # Then the preview counts what will change, and nothing has changed yet
    preview = page.locator("#feature-preview")
    expect(preview).to_contain_text("will change 3 licenses, 0 already have it, 1 refused")
    expect(preview).to_contain_text(f"{picked[3].name} is uninstalled")
    _shot(page, "set-feature-values-preview")
    assert not FeatureParameterValue.objects.filter(parameter=premium, value_boolean=True).exists()

    # When they confirm
    expect(page.locator("input[name=apply]")).to_have_value("Confirm and set the values")
    page.click("input[name=apply]")

    # Then the three are switched on, each with one history row, and the list says so
    expect(page.locator(".messagelist")).to_contain_text(
        "Premium_Scheduling = On: 3 license(s) changed, 0 already had it, 1 refused."
    )
    on = FeatureParameterValue.objects.filter(parameter=premium, value_boolean=True)
    assert sorted(on.values_list("license_id", flat=True)) == sorted(p.pk for p in picked[:3])
    rows = LicenseEvent.objects.filter(
        kind=EventKind.FEATURE_CHANGED, reason="Pilot for Cyberdyne"
    ).values_list("license_id", flat=True)
    assert sorted(rows) == sorted(p.pk for p in picked[:3])
    _shot(page, "set-feature-values-done")


def test_support__over_seat_limit_filter_and_warnings(customer, screen_page):
    page = screen_page
    UserFactory(username="support", role="support")
    over = sorted(License.objects.over_seat_limit().values_list("pk", flat=True), reverse=True)
    assert len(over) == 6
    _login(page, "support")
    page.goto("/admin/licenses/license/")

    # When support filters the list to licenses over their seat limit
    page.click("#changelist-filter a:has-text('over seat limit')")

    # Then only those are listed, each marked
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(len(over))
    expect(page.locator("#result_list tbody .lmo-over-mark")).to_have_count(len(over))
    _shot(page, "license-list-over-seat-limit")

    # And the license page and the subscriber page warn about it
    rows.first.locator("th a").click()
    expect(page.locator("#over-seat-warning")).to_contain_text("uses 45 seats of the 10 bought")
    _shot(page, "license-page-over-seat-limit")
    page.click("#other-licenses h2 a")
    expect(page.locator("#over-seat-warning")).to_be_visible()


def test_no_role__403_page_in_the_console_frame_with_a_way_home(customer, screen_page):
    page = screen_page
    UserFactory(username="newcomer")
    license = customer["licenses"][0]
    _login(page, "newcomer")

    # When a staff user without a role opens a license's address
    response = page.goto(f"/admin/licenses/license/{license.pk}/change/")

    # Then a 403 page inside the console says why, shows none of the license, and leads home
    assert response.status == 403
    expect(page.locator("#header #site-name")).to_contain_text("LMO Back Office")
    expect(page.locator(".lmo-error")).to_contain_text("with no role yet")
    expect(page.locator("body")).not_to_contain_text(license.org_name)
    _shot(page, "403-in-console-frame")
    page.click("#go-home")
    expect(page).to_have_url(re.compile(r"/admin/$"))
