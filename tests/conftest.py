import pytest
from django.db import connection

from tests.factories import PackageFactory, PackageVersionFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(
            reason="needs PostgreSQL row locks; run .ci/run or set DATABASE_URL"
        )
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _broker_not_paused():
    """A test whose broker was down must not leave later tests' publishing paused."""
    from jobs.outbox import outbox_broker_resume

    outbox_broker_resume()
    yield
    outbox_broker_resume()


@pytest.fixture(autouse=True)
def _real_time():
    """Each test starts on real time: no offset remembered from an earlier test's clock."""
    from django.core.cache import cache

    from lmo import clock

    cache.delete(clock.CACHE_KEY)
    clock.forget_offset()
    yield
    cache.delete(clock.CACHE_KEY)
    clock.forget_offset()


@pytest.fixture
def package(db):
    return PackageFactory()


@pytest.fixture
def version(package):
    return PackageVersionFactory(package=package, version_number="1.0.0")


@pytest.fixture
def ops_user(db):
    return UserFactory(username="ops", role="ops")


@pytest.fixture
def support_user(db):
    return UserFactory(username="support", role="support")


@pytest.fixture
def manager_user(db):
    return UserFactory(username="manager", role="manager")


@pytest.fixture
def admin_user_role(db):
    return UserFactory(username="administrator", role="admin")


@pytest.fixture
def norole_user(db):
    return UserFactory(username="norole")


@pytest.fixture
def users_by_role(ops_user, support_user, manager_user, admin_user_role, norole_user):
    return {
        "ops": ops_user,
        "support": support_user,
        "manager": manager_user,
        "admin": admin_user_role,
        "none": norole_user,
    }
