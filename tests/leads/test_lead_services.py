import pytest

from leads.choices import LeadStatus
from leads.exceptions import LeadAlreadyConverted, LeadMergeError
from leads.models import Account, Contact
from leads.services import lead_convert, lead_merge
from licenses.choices import EventKind, LicenseStatus
from tests.factories import LeadFactory, PackageFactory, make_license


def test_lead_convert__creates_account_and_contact_and_assigns_org_licenses(db, ops_user):
    # Given a lead for an org with two licenses, one already uninstalled
    lead = LeadFactory(company="Acme Corp", email="ada@acme.example")
    live = make_license(org_id_value=lead.org_id, lead=lead)
    other_package = make_license(org_id_value=lead.org_id, package=PackageFactory())
    gone = make_license(org_id_value=lead.org_id, package=PackageFactory(), status="uninstalled")

    # When
    account = lead_convert(lead=lead, by=ops_user)

    # Then
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert lead.converted_account == account
    assert account.name == "Acme Corp"
    assert Contact.objects.get(account=account).email == "ada@acme.example"
    for license in (live, other_package):
        license.refresh_from_db()
        assert license.account == account
        assert license.events.filter(kind=EventKind.ACCOUNT_CHANGED).count() == 1
    gone.refresh_from_db()
    assert gone.account is None


def test_lead_convert__into_existing_account(db, ops_user):
    lead = LeadFactory()
    existing = Account.objects.create(name="Existing")
    assert lead_convert(lead=lead, by=ops_user, account=existing) == existing
    assert Account.objects.count() == 1


def test_lead_convert__twice__is_refused(db, ops_user):
    lead = LeadFactory()
    lead_convert(lead=lead, by=ops_user)
    with pytest.raises(LeadAlreadyConverted):
        lead_convert(lead=lead, by=ops_user)
    assert Account.objects.count() == 1


def test_lead_merge__moves_licenses_and_closes_duplicates(db, ops_user):
    primary = LeadFactory(phone="")
    duplicate = LeadFactory(email=primary.email, phone="+1 555 0100")
    license = make_license(lead=duplicate)
    merged = lead_merge(primary=primary, duplicates=[duplicate], by=ops_user)
    duplicate.refresh_from_db()
    license.refresh_from_db()
    assert duplicate.status == LeadStatus.DISQUALIFIED
    assert duplicate.merged_into == primary
    assert license.lead == primary
    assert merged.phone == "+1 555 0100"
    assert license.status == LicenseStatus.TRIAL


def test_lead_merge__without_duplicates__is_refused(db, ops_user):
    lead = LeadFactory()
    with pytest.raises(LeadMergeError):
        lead_merge(primary=lead, duplicates=[lead], by=ops_user)


def test_lead_merge__writes_a_lead_changed_row_per_license_moved(db, ops_user):
    # Given a duplicate lead with two licenses (one uninstalled) and a license of another lead
    primary = LeadFactory()
    duplicate = LeadFactory(email=primary.email)
    moved = [make_license(lead=duplicate), make_license(lead=duplicate, status="uninstalled")]
    untouched = make_license(lead=LeadFactory())

    # When the duplicate is merged into the primary
    lead_merge(primary=primary, duplicates=[duplicate], by=ops_user)

    # Then each moved license has one lead_changed row saying who, from and to; the other none
    for license in moved:
        [row] = license.events.filter(kind=EventKind.LEAD_CHANGED)
        assert row.actor_user == ops_user
        assert (row.before, row.after) == ({"lead": str(duplicate)}, {"lead": str(primary)})
        assert f"Lead {duplicate.pk} merged" == row.reason
    assert not untouched.events.filter(kind=EventKind.LEAD_CHANGED).exists()
