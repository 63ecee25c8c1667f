"""The console in a real browser: each role sees what it may, and ops work licenses,
leads and features through the pages."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from features.choices import DataType, Direction
from features.models import FeatureParameterValue
from features.services import feature_parameter_create
from leads.choices import LeadStatus
from leads.models import Account
from licenses.choices import LicenseStatus
from licenses.models import License
from tests.factories import (
    LeadFactory,
    PackageFactory,
    PackageVersionFactory,
    UserFactory,
    make_license,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_data():
    package = PackageFactory(name="Field Service Pro", namespace="fsp")
    version = PackageVersionFactory(package=package, version_number="2.1.0")
    premium = feature_parameter_create(
        package=package,
        developer_name="Premium_Scheduling",
        label="Premium scheduling",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_value=False,
    )
    lead = LeadFactory(first_name="Grace", last_name="Hopper", company="Acme", package=package)
    trial = make_license(
        package=package, version=version, org_id_value=lead.org_id, org_name="Acme", lead=lead
    )
    active = make_license(
        package=package, version=version, status=LicenseStatus.ACTIVE, org_name="Globex"
    )
    gone = make_license(
        package=package, version=version, status=LicenseStatus.UNINSTALLED, org_name="Initech"
    )
    for role in ("ops", "support", "manager", "admin"):
        UserFactory(username=f"demo-{role}", role=role)
    UserFactory(username="norole")
    return {
        "package": package,
        "premium": premium,
        "lead": lead,
        "trial": trial,
        "active": active,
        "gone": gone,
    }


ROLE_VIEWS = [
    # username, sees licenses and leads, sees API keys
    ("demo-ops", True, False),
    ("demo-support", True, False),
    ("demo-manager", True, False),
    ("demo-admin", False, True),
    ("norole", False, False),
]


def test_each_role__sees_what_it_may_and_no_more(console_data, browser, live_server):
    for username, sees_licenses, sees_keys in ROLE_VIEWS:
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        try:
            # Given a staff user of this role logged in
            page.goto("/admin/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", "pw")
            page.click("input[type=submit]")
            nav = page.locator("#content-main")
            expect(nav).to_be_visible()

            # Then licenses and leads are listed only for roles that may read them
            assert (nav.get_by_role("link", name="Licenses", exact=True).count() > 0) is (
                sees_licenses
            ), username
            assert (nav.get_by_role("link", name="Leads", exact=True).count() > 0) is (
                sees_licenses
            ), username
            assert (nav.get_by_role("link", name="Subscriber API keys").count() > 0) is (
                sees_keys
            ), username
            # And opening the license list directly is allowed or forbidden accordingly
            response = page.goto("/admin/licenses/license/")
            assert response.status == (200 if sees_licenses else 403), username
            if sees_licenses:
                assert page.locator("#result_list").get_by_text("Acme").count() == 1
                # Only ops get the actions menu
                has_actions = page.locator("select[name=action]").count() > 0
                assert has_actions is (username == "demo-ops"), username
            else:
                assert "Acme" not in page.content(), username
        finally:
            context.close()


def test_ops__find_by_org_id__extend_trial__activate__suspend(
    console_data, page, login, screenshot
):
    trial = console_data["trial"]
    login("demo-ops")

    # Find the license by its 15-character org id
    page.goto("/admin/licenses/license/")
    page.fill("#searchbar", trial.org_id[:15])
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".lmo-badge")).to_have_text("Trial")
    page.goto("/admin/licenses/license/?status__exact=trial")
    screenshot("license-list")
    page.goto("/admin/licenses/license/")
    page.fill("#searchbar", trial.org_id[:15])
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list tbody tr").first.get_by_role("link", name=trial.name).click()
    expect(page.locator("#history")).to_be_visible()
    screenshot("license-page")

    # Extend the trial by a week
    until = (trial.expires_at + dt.timedelta(days=7)).replace(second=0, microsecond=0)
    page.get_by_role("button", name="Extend trial").click()
    page.fill("#id_until", until.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_reason", "Evaluation needs another week")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("Trial extended: 1 license(s)")
    trial.refresh_from_db()
    assert trial.expires_at == until

    # Activate it with 25 seats
    page.get_by_role("button", name="Activate (customer bought)").click()
    page.fill("#id_seats", "25")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("Activated: 1 license(s)")
    expect(page.locator(".field-status_display .lmo-badge")).to_have_text("Active")
    trial.refresh_from_db()
    assert (trial.status, trial.seats) == (LicenseStatus.ACTIVE, 25)

    # Suspend it: the reason is required
    page.get_by_role("button", name="Suspend").click()
    page.click("input[name=apply]")
    expect(page.locator("#id_reason:invalid")).to_have_count(1)
    page.fill("#id_reason", "Payment overdue")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("Suspended: 1 license(s)")
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.SUSPENDED
    expect(page.locator("#history")).to_contain_text("Payment overdue")
    screenshot("license-page-suspended")

    # The org's subscriber page, found by the 18-character id, shows the new state
    page.goto("/admin/licenses/license/subscribers/")
    page.fill("input[name=q]", trial.org_id)
    page.press("input[name=q]", "Enter")
    expect(page.locator("#org-licenses")).to_contain_text("Suspended")
    expect(page.locator("#org-details")).to_contain_text("Enterprise Edition")
    screenshot("subscribers-page")


def test_ops__uninstalled_license__opens_read_only_with_the_reason(console_data, page, login):
    gone = console_data["gone"]
    login("demo-ops")
    page.goto(f"/admin/licenses/license/{gone.pk}/change/")
    expect(page.locator("#locked-banner")).to_contain_text("uninstalled")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("#license-actions").count() == 0
    assert page.locator("#save-features").count() == 0

    # Acting on it from the list is refused with the domain's message, on the form it kept
    page.goto("/admin/licenses/license/?status__exact=uninstalled")
    page.locator("#result_list tbody input.action-select").first.check()
    page.select_option("select[name=action]", "action_set_seats")
    page.click("button[name=index]")
    page.fill("#id_seats", "50")
    page.click("input[name=apply]")
    expect(page.locator("#license-action-form .errorlist")).to_contain_text(
        f"{gone.name} is uninstalled"
    )
    expect(page.locator("#id_seats")).to_have_value("50")
    gone.refresh_from_db()
    assert gone.seats != 50


def test_ops__convert_a_lead(console_data, page, login):
    lead = console_data["lead"]
    login("demo-ops")
    page.goto("/admin/leads/lead/")
    page.locator("#result_list tbody tr", has_text="Hopper").locator("input.action-select").check()
    page.select_option("select[name=action]", "convert_leads")
    page.click("button[name=index]")
    page.fill("#id_account_name", "Acme Corporation")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("converted to account Acme Corporation")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    account = Account.objects.get(name="Acme Corporation")
    assert License.objects.get(pk=console_data["trial"].pk).account == account


def test_ops__bulk_enable_a_feature_on_active_licenses(console_data, page, login, screenshot):
    premium = console_data["premium"]
    login("demo-ops")
    page.goto("/admin/features/featureparameter/")
    page.locator("#result_list tbody tr", has_text="Premium_Scheduling").locator(
        "input.action-select"
    ).check()
    page.select_option("select[name=action]", "bulk_set_value")
    page.click("button[name=index]")
    page.select_option("#id_value", "true")
    page.fill("#id_reason", "Premium promo")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("1 license(s) changed")
    values = FeatureParameterValue.objects.filter(parameter=premium)
    assert values.get(license=console_data["active"]).value is True
    assert values.get(license=console_data["trial"]).value is False
    page.goto(f"/admin/licenses/license/{console_data['active'].pk}/change/")
    expect(page.locator("#history")).to_contain_text("Premium promo")
