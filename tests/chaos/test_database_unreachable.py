"""What callers get while PostgreSQL cannot be reached (the chaos run's 20 s outage), request
by request: 503 with Retry-After in the API's error shape, never a 400 or a 500, and the
same request succeeds once the database is back, without a restart.

During the outage every connection attempt fails as it does behind a refused connection:
the request's first query raises the driver's OperationalError, wrapped by Django.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.utils import OperationalError
from django.utils import timezone
from rest_framework.test import APIClient

from licenses.models import License
from packages.models import SubscriberApiKey
from staff.tokens import api_token_create
from tests.factories import PackageFactory, PackageVersionFactory, UserFactory, make_license
from tests.subscribers.helpers import CHECK_URL, install_body, post_event

ORG = "00D5g000004AbCdEAK"
REFUSED = (
    'connection to server at "127.0.0.1", port 8135 failed: Connection refused\n'
    "\tIs the server running on that host and accepting TCP/IP connections?"
)


class Outage:
    """Switches the database away and back for the rest of a test."""

    def __init__(self) -> None:
        self._patch = pytest.MonkeyPatch()

    def begin(self) -> None:
        def refuse(*args, **kwargs):
            raise OperationalError(REFUSED)

        self._patch.setattr(connections["default"], "ensure_connection", refuse)

    def end(self) -> None:
        self._patch.undo()


@pytest.fixture
def outage(db) -> Iterator[Outage]:
    # After `db`, so the outage ends before the test's transaction is rolled back.
    cache.clear()  # nothing answered from the cache: every request needs the database
    switch = Outage()
    yield switch
    switch.end()
    cache.clear()


@pytest.fixture
def package(db):
    package = PackageFactory(
        lead_manager=UserFactory(username="leadmanager"), default_status="trial"
    )
    PackageVersionFactory(package=package, version_id="04t000000000001", version_number="1.0.0")
    return package


@pytest.fixture
def ops_api(ops_user) -> APIClient:
    api = APIClient()
    _, token = api_token_create(user=ops_user, expires_at=None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    error = json.loads(response.content)["error"]
    assert error["code"] in {"unavailable", "service_unavailable"}
    assert error["message"]
    # What the driver said (addresses, ports) is not for callers.
    assert "8135" not in response.content.decode()


def test_webhook__database_unreachable__503_then_the_same_delivery_is_queued(
    client, outage, package
):
    body = install_body(
        package_id=package.package_id, org_id=ORG, at=timezone.now() - dt.timedelta(minutes=1)
    )
    outage.begin()

    during = post_event(client, body, event_id="msg_outage_1")

    _assert_unavailable(during)
    # Back, without a restart: the sender's retry is a new event (nothing was stored).
    outage.end()
    again = post_event(client, body, event_id="msg_outage_1")
    assert again.status_code == 202, again.content
    assert again.json() == {"event_id": "msg_outage_1", "status": "queued"}


def test_license_check__database_unreachable__503(client, outage, package):
    _, key = SubscriberApiKey.issue(package=package)
    outage.begin()

    response = client.get(
        CHECK_URL,
        {"org_id": ORG, "package_id": package.package_id},
        headers={"Authorization": f"Bearer {key}"},
    )

    _assert_unavailable(response)


def test_staff_api_list__database_unreachable__503(outage, ops_api):
    outage.begin()

    response = ops_api.get("/api/v1/licenses/")

    _assert_unavailable(response)
    outage.end()
    assert ops_api.get("/api/v1/licenses/").status_code == 200


def test_staff_api_action__database_unreachable__503_then_it_applies(outage, ops_api):
    license = make_license()
    outage.begin()

    response = ops_api.post(f"/api/v1/licenses/{license.pk}/suspend/", {"reason": "Overdue"})

    _assert_unavailable(response)
    outage.end()
    assert License.objects.get(pk=license.pk).status == "trial"
    again = ops_api.post(f"/api/v1/licenses/{license.pk}/suspend/", {"reason": "Overdue"})
    assert again.status_code == 200, again.content
    assert License.objects.get(pk=license.pk).status == "suspended"


def test_healthz__database_unreachable__503_status_only(client, outage):
    outage.begin()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert set(response.json()) == {"status"}


@pytest.mark.django_db(transaction=True)
def test_staff_api_action__connection_lost_after_commit__200_message_left_to_the_relay_job(
    ops_api, monkeypatch
):
    from django.db.models.query import QuerySet

    from jobs.choices import OutboxStatus
    from jobs.models import OutboxMessage

    license = make_license()
    before = set(OutboxMessage.objects.values_list("pk", flat=True))
    update = QuerySet.update

    def lost_on_relay(self, **kwargs):
        # The session is killed between the suspend's commit and the relay's first write.
        if self.model is OutboxMessage and kwargs.get("status") == OutboxStatus.SENT:
            raise OperationalError("server closed the connection unexpectedly")
        return update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", lost_on_relay)

    response = ops_api.post(f"/api/v1/licenses/{license.pk}/suspend/", {"reason": "Overdue"})

    # The change committed: its answer says so, not a 500.
    assert response.status_code == 200, response.content
    assert License.objects.get(pk=license.pk).status == "suspended"
    # Its email is not lost: the message waits, pending, for the relay job.
    new = OutboxMessage.objects.exclude(pk__in=before)
    assert list(new.values_list("status", flat=True)) == [OutboxStatus.PENDING]
