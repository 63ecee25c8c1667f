"""Concurrent deliveries on PostgreSQL: the same event on several workers, or several events
for one org at once."""

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from licenses.models import License, LicenseEvent
from subscribers.models import SubscriberEvent

from .helpers import WEBHOOK_URL, install_body, signed_headers, usage_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORG = "00D5g000004AbCd"
WORKERS = 6


def _deliver_all(deliveries: list[tuple[bytes, str]]) -> list[tuple[int, dict]]:
    """Post every (body, event id) from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(deliveries))
    results: list = [None] * len(deliveries)

    def worker(index: int, raw: bytes, event_id: str) -> None:
        try:
            client = Client()
            headers = signed_headers(raw, event_id=event_id)
            barrier.wait()
            response = client.post(
                WEBHOOK_URL, data=raw, content_type="application/json", headers=headers
            )
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, raw, event_id))
        for i, (raw, event_id) in enumerate(deliveries)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_same_event_on_six_workers__applied_once_others_duplicate(pkg):
    # Given one install delivered six times at the same moment
    raw = json.dumps(
        install_body(package_id=pkg.package_id, org_id=ORG, at=timezone.now())
    ).encode()

    # When all copies race
    results = _deliver_all([(raw, "msg_race")] * WORKERS)

    # Then one copy applied it and every other copy got the first answer
    assert all(status == 200 for status, _ in results), results
    outcomes = sorted(body["outcome"] for _, body in results)
    assert outcomes == ["applied"] + ["duplicate"] * (WORKERS - 1)
    license = License.objects.get()
    assert {body["license_id"] for _, body in results} == {license.pk}
    assert SubscriberEvent.objects.count() == 1
    assert LicenseEvent.objects.filter(source_event_id="msg_race").count() == 1


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

    # When they all arrive at once
    results = _deliver_all(deliveries)

    # Then every one is answered, and the org ends up with exactly one license
    assert all(status == 200 for status, _ in results), results
    assert {body["outcome"] for _, body in results} <= {"applied", "ignored"}
    assert License.objects.count() == 1
    assert SubscriberEvent.objects.count() == WORKERS
    assert {body["license_id"] for _, body in results} == {License.objects.get().pk}
