import datetime as dt

import pytest
from django.core.cache import cache

from lmo.celery import app
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


@pytest.fixture
def unreachable_broker():
    """Really publish (no eager tasks) to a Redis port where nothing listens."""
    # broker_write_url: the CELERY_BROKER_URL environment variable outranks broker_url.
    saved = {key: app.conf[key] for key in ("broker_write_url", "task_always_eager")}
    app.conf.update(broker_write_url="redis://127.0.0.1:1/15", task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.update(saved)
    app._pool = None
    app.amqp._producer_pool = None
