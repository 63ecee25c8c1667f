import datetime as dt

import pytest
from django.utils import timezone

from features.choices import DataType, Direction
from features.services import feature_parameter_create
from licenses.choices import LicenseStatus
from subscribers.choices import EventType, Outcome
from subscribers.models import SubscriberEvent
from tests.factories import (
    AccountFactory,
    LeadFactory,
    PackageFactory,
    PackageVersionFactory,
    make_license,
    salesforce_id,
)


@pytest.fixture
def world(db):
    """One package with two versions, feature parameters, and licenses in several states."""
    package = PackageFactory(name="Field Service Pro", namespace="fsp")
    old = PackageVersionFactory(package=package, version_number="1.0.0")
    new = PackageVersionFactory(package=package, version_number="2.0.0")
    premium = feature_parameter_create(
        package=package,
        developer_name="Premium_Scheduling",
        label="Premium scheduling",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_value=False,
    )
    jobs = feature_parameter_create(
        package=package,
        developer_name="Jobs_Scheduled",
        label="Jobs scheduled",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_value=0,
    )
    lead = LeadFactory(email="ada@acme.example", company="Acme", package=package)
    trial = make_license(
        package=package, version=new, org_id_value=lead.org_id, org_name="Acme", lead=lead
    )
    account = AccountFactory(name="Globex Inc")
    active = make_license(
        package=package,
        version=old,
        status=LicenseStatus.ACTIVE,
        org_name="Globex",
        account=account,
    )
    uninstalled = make_license(
        package=package, version=old, status=LicenseStatus.UNINSTALLED, org_name="Initech"
    )
    other_package = PackageFactory(name="Quote Builder", namespace="qbld")
    sibling = make_license(
        package=other_package,
        org_id_value=lead.org_id,
        org_name="Acme",
        status=LicenseStatus.ACTIVE,
    )
    unlinked = PackageFactory(name="Unlinked", namespace="unl", license_manager_linked=False)
    inbox = SubscriberEvent.objects.create(
        event_id="evt_unrouted_1",
        type=EventType.INSTALLED,
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        package_id=unlinked.package_id,
        org_id=salesforce_id("00D"),
        payload={},
        outcome=Outcome.UNROUTED,
    )
    return {
        "package": package,
        "versions": (old, new),
        "premium": premium,
        "jobs": jobs,
        "lead": lead,
        "trial": trial,
        "active": active,
        "uninstalled": uninstalled,
        "sibling": sibling,
        "account": account,
        "unlinked": unlinked,
        "inbox": inbox,
    }


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login
