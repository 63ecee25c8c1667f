"""Concurrency on PostgreSQL: the same event on several web workers at once, and the same
backlog drained by several workers at once (row and advisory locks)."""

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

import subscribers.services
from licenses.models import License, LicenseEvent
from subscribers.models import SubscriberEvent
from subscribers.services import subscriber_events_drain

from .helpers import WEBHOOK_URL, install_body, post_event, signed_headers, usage_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORG = "00D5g000004AbCd"
WORKERS = 6


@pytest.fixture
def no_trigger(monkeypatch):
    """Accepted events stay queued until a test drains them (no eager drain on commit)."""
    monkeypatch.setattr(subscribers.services, "subscriber_events_drain_soon", lambda: None)


def _together(count: int, target) -> list:
    """Run target(index) in `count` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _post_all(deliveries: list[tuple[bytes, str]]) -> list[tuple[int, dict]]:
    def post(index: int) -> tuple[int, dict]:
        raw, event_id = deliveries[index]
        response = Client().post(
            WEBHOOK_URL,
            data=raw,
            content_type="application/json",
            headers=signed_headers(raw, event_id=event_id),
        )
        return response.status_code, response.json()

    return _together(len(deliveries), post)


def test_same_event_on_six_web_workers__stored_once_applied_once(pkg, no_trigger):
    # Given one install delivered six times at the same moment
    raw = json.dumps(
        install_body(package_id=pkg.package_id, org_id=ORG, at=timezone.now())
    ).encode()

    # When all copies race
    results = _post_all([(raw, "msg_race")] * WORKERS)

    # Then one copy stored it (202 queued) and every other copy got its status
    assert sorted(status for status, _ in results) == [200] * (WORKERS - 1) + [202], results
    assert [body for status, body in results if status == 200] == [
        {"event_id": "msg_race", "status": "queued", "license_id": None, "duplicate": True}
    ] * (WORKERS - 1)
    assert SubscriberEvent.objects.count() == 1

    subscriber_events_drain()

    license = License.objects.get()
    assert LicenseEvent.objects.filter(source_event_id="msg_race").count() == 1
    again = post_event(Client(), json.loads(raw), event_id="msg_race").json()
    assert (again["status"], again["license_id"]) == ("applied", license.pk)


def test_same_backlog_on_two_workers__each_event_applied_exactly_once(pkg, no_trigger):
    # Given a backlog: 40 orgs, each an install then two usage reports
    now = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    client = Client()
    for n in range(40):
        org = f"00D5g0000{n:06d}"
        post_event(client, install_body(package_id=pkg.package_id, org_id=org, at=now))
        for k in (1, 2):
            at = now + dt.timedelta(minutes=k)
            post_event(client, usage_body(package_id=pkg.package_id, org_id=org, at=at))
    assert SubscriberEvent.objects.filter(outcome="queued").count() == 120

    # When two workers drain it at the same moment, in small batches
    results = _together(2, lambda i: subscriber_events_drain(batch_size=5))

    # Then every event was applied once, by one of them, in each org's order
    assert sum(r.processed for r in results) == 120
    assert all(r.processed for r in results), "both workers took a share"
    assert set(SubscriberEvent.objects.values_list("outcome", flat=True)) == {"applied"}
    assert License.objects.count() == 40
    assert LicenseEvent.objects.filter(kind="installed").count() == 40
    assert LicenseEvent.objects.filter(kind="usage_reported").count() == 80
    # Installs were applied before their usage reports: each license has its org name
    assert not License.objects.filter(org_name="").exists()


def test_different_events_for_one_org_at_once__one_license_no_errors(pkg):
    # Given installs and usage reports for the same new org, each with its own id
    now = timezone.now().replace(microsecond=0)
    deliveries = []
    for i in range(WORKERS):
        at = now - dt.timedelta(minutes=WORKERS - i)
        if i % 2:
            body = usage_body(package_id=pkg.package_id, org_id=ORG, at=at, used_licenses=i)
        else:
            body = install_body(package_id=pkg.package_id, org_id=ORG, at=at)
        deliveries.append((json.dumps(body).encode(), f"msg_org_{i}"))

    # When they all arrive at once (each commit triggers a drain, eager here)
    results = _post_all(deliveries)

    # Then every one is accepted, and the org ends up with exactly one license
    assert all(status == 202 for status, _ in results), results
    subscriber_events_drain()
    assert set(SubscriberEvent.objects.values_list("outcome", flat=True)) <= {
        "applied",
        "ignored",
    }
    assert License.objects.count() == 1
    assert SubscriberEvent.objects.count() == WORKERS
