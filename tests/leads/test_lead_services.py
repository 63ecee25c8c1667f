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
