import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from features.choices import DataType, Direction
from tests.factories import FeatureParameterFactory, PackageFactory, UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lead_manager(db):
    return UserFactory(username="leadmanager")


@pytest.fixture
def pkg(lead_manager):
    """A package linked to this LMO, with one parameter of each direction and type."""
    package = PackageFactory(lead_manager=lead_manager, default_status="trial", trial_days=30)
    FeatureParameterFactory(
        package=package,
        developer_name="Premium",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_boolean=False,
    )
    FeatureParameterFactory(
        package=package,
        developer_name="Max_Users",
        data_type=DataType.INTEGER,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_boolean=None,
        default_integer=25,
    )
    FeatureParameterFactory(
        package=package,
        developer_name="Jobs_Run",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
        default_integer=0,
    )
    FeatureParameterFactory(
        package=package,
        developer_name="Last_Sync",
        data_type=DataType.DATE,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
    )
    return package


@pytest.fixture
def t0():
    """A moment a few days ago, so later events still lie in the past."""
    return timezone.now().replace(microsecond=0) - dt.timedelta(days=5)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttles count per process between syncs: each test starts from zero."""
    from subscribers.throttling import FixedWindowRateThrottle

    FixedWindowRateThrottle._local.clear()
    yield
    FixedWindowRateThrottle._local.clear()
