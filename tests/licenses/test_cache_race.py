"""The license check's cache against a change that commits while a check reads the database.

The interleaving is forced, not hoped for: the check's database read is wrapped so that the
change commits (and its after-commit invalidation runs) after the read and before the store.
"""

import pytest
from django.core.cache import cache

from packages.models import SubscriberApiKey
from subscribers import views as subscriber_views
from tests.factories import PackageFactory, make_license

CHECK_URL = "/api/v1/subscriber/license/"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def active_license(db):
    return make_license(package=PackageFactory(), status="active")


def _check(client, license, key):
    return client.get(
        CHECK_URL,
        {"org_id": license.org_id, "package_id": license.package.package_id},
        headers={"authorization": f"Bearer {key}"},
    )


def test_check__suspension_commits_between_read_and_store__next_check_sees_suspended(
    client, active_license, monkeypatch, django_capture_on_commit_callbacks
):
    # Given an active license, not cached, and a check whose database read is followed by a
    # suspension that commits (invalidation included) before the check stores its answer
    _, key = SubscriberApiKey.issue(package=active_license.package)
    real_read = subscriber_views.license_check_payload
    interleaved = []

    def read_then_suspend(**kwargs):
        payload = real_read(**kwargs)
        if not interleaved:
            interleaved.append(payload["status"])
            with django_capture_on_commit_callbacks(execute=True):
                active_license.suspend(by="ops", reason="Payment overdue")
        return payload

    monkeypatch.setattr(subscriber_views, "license_check_payload", read_then_suspend)

    # When that check answers (with what it read: the suspension came after)
    first = _check(client, active_license, key)

    # Then the next check does not serve the stale answer: access is refused
    assert interleaved == ["active"]
    assert first.json()["status"] == "active"
    second = _check(client, active_license, key).json()
    assert (second["status"], second["access"]) == ("suspended", False)


def test_check__no_change__second_check_served_from_cache(client, active_license, monkeypatch):
    _, key = SubscriberApiKey.issue(package=active_license.package)
    reads = []
    real_read = subscriber_views.license_check_payload

    def counting(**kwargs):
        reads.append(1)
        return real_read(**kwargs)

    monkeypatch.setattr(subscriber_views, "license_check_payload", counting)

    _check(client, active_license, key)
    _check(client, active_license, key)

    assert len(reads) == 1


def test_cache__store_tagged_with_an_older_generation__never_served(db):
    from licenses.cache import (
        license_check_read,
        license_check_store,
        license_checks_invalidate_now,
    )

    # Given a reader that took the generation, then (before storing) an invalidation
    payload, generation = license_check_read(1, "00D000000000001AAA")
    assert payload is None
    license_checks_invalidate_now([(1, "00D000000000001AAA")])

    # When the reader stores what it read
    license_check_store(1, "00D000000000001AAA", {"status": "active"}, generation)

    # Then nobody is served it; a store under the current generation is
    assert license_check_read(1, "00D000000000001AAA")[0] is None
    _, current = license_check_read(1, "00D000000000001AAA")
    license_check_store(1, "00D000000000001AAA", {"status": "suspended"}, current)
    assert license_check_read(1, "00D000000000001AAA")[0] == {"status": "suspended"}
