import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from clock.services import clock_set
from features.choices import DataType, Direction
from tests.factories import FeatureParameterFactory, PackageFactory, make_license

REAL = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def real_time():
    """Real time stands still at REAL; only the simulated clock moves."""
    with time_machine.travel(REAL, tick=False) as traveller:
        yield traveller


@pytest.fixture
def simulated(settings, db, real_time):
    settings.LMO_SIMULATED_CLOCK = True
    return settings


@pytest.fixture
def move_clock(simulated, django_capture_on_commit_callbacks):
    """Move the simulated clock to an instant, the way the console does: the new offset is
    published and the sweeps run when the move commits."""

    def move(to: dt.datetime) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            clock_set(by="tester", to=to)

    return move


@pytest.fixture
def graced(db):
    """A trial package with 3 days of grace and a Premium switch (default off)."""
    package = PackageFactory(default_status="trial", trial_days=30, grace_days=3)
    FeatureParameterFactory(
        package=package,
        developer_name="Premium",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_boolean=False,
    )
    return package


@pytest.fixture
def trial(graced, real_time):
    return make_license(package=graced, installed_at=REAL)
