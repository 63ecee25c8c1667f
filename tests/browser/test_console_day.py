"""A day of partner ops work in the console at 1440x900: a compact list, seat over-use in
sight, feature values on hand-picked licenses, and errors inside the console's frame."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from features.choices import DataType, Direction
from features.services import feature_parameter_create
from leads.models import Account
from licenses.choices import LicenseStatus
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
