import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from features.choices import DataType, Direction
from features.services import feature_parameter_create
from licenses.choices import LicenseStatus
from staff.tokens import api_token_create
from subscribers.choices import EventType, Outcome
from subscribers.models import SubscriberEvent
from tests.factories import (
    AccountFactory,
    LeadFactory,
    PackageFactory,
    PackageVersionFactory,
    make_license,
)


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache; each test starts with a full allowance.
    cache.clear()
    yield
    cache.clear()


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _token, key = api_token_create(user=user, expires_at=None)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def client_for(db):
    return token_client


@pytest.fixture
def ops_client(ops_user):
    return token_client(ops_user)


@pytest.fixture
def world(db):
    """A linked package with a version, two parameters, licenses in several states, an
    account, an open lead and an inbox event."""
    now = timezone.now()
    package = PackageFactory(name="Field Service Pro", namespace="fsp")
    version = PackageVersionFactory(package=package, version_number="1.0.0")
    max_jobs = feature_parameter_create(
        package=package,
        developer_name="Max_Jobs",
        label="Max jobs",
        data_type=DataType.INTEGER,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_value=5,
    )
    jobs_used = feature_parameter_create(
        package=package,
        developer_name="Jobs_Used",
        label="Jobs used",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_value=0,
    )
    trial = make_license(package=package, version=version, org_name="Trial Org")
    active = make_license(
        package=package,
        version=version,
        status=LicenseStatus.ACTIVE,
        org_name="Active Org",
        expires_at=now + dt.timedelta(days=200),
    )
    suspended = make_license(
        package=package, version=version, status=LicenseStatus.SUSPENDED, org_name="Held Org"
    )
    uninstalled = make_license(
        package=package, version=version, status=LicenseStatus.UNINSTALLED, org_name="Gone Org"
    )
    account = AccountFactory(name="Globex Corporation")
    lead = LeadFactory(package=package, company="Initech")
    event = SubscriberEvent.objects.create(
        event_id="msg_world_1",
        type=EventType.INSTALLED,
        occurred_at=now,
        package_id=package.package_id,
        org_id=trial.org_id,
        payload={"type": "package.installed"},
        outcome=Outcome.APPLIED,
        license=trial,
    )
    return {
        "package": package,
        "version": version,
        "max_jobs": max_jobs,
        "jobs_used": jobs_used,
        "trial": trial,
        "active": active,
        "suspended": suspended,
        "uninstalled": uninstalled,
        "account": account,
        "lead": lead,
        "event": event,
        "now": now,
    }
