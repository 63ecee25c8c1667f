import datetime as dt

import pytest
from django.core.cache import cache

from tests.factories import AccountFactory, PackageFactory, UserFactory

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lead_manager(db):
    return UserFactory(username="leadmanager", email="lead.manager@partner.example")


@pytest.fixture
def account_owner(db):
    return UserFactory(username="owner", email="account.owner@partner.example")


@pytest.fixture
def pkg(lead_manager):
    return PackageFactory(name="Quote Builder", lead_manager=lead_manager, trial_days=30)


@pytest.fixture
def account(account_owner):
    return AccountFactory(name="Acme Inc", owner=account_owner)
