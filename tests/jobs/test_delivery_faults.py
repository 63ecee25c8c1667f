"""Delivery under faults: a broker that hangs, a consumer that dies or loses its database
mid-batch, messages left behind by a dead worker. Effectively once, and never a stuck request."""

import datetime as dt
import socket
import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import OperationalError, connection
from django.utils import timezone

from jobs import outbox
from jobs.choices import OutboxStatus
from jobs.models import OutboxDelivery, OutboxMessage
from jobs.outbox import LEASE, RERELAY_SENT_AFTER, outbox_process, outbox_relay_pending
from licenses.choices import EventKind
from licenses.models import License, LicenseEvent
from licenses.notifications import NOTIFY_TASK
from lmo.celery import app
from tests.factories import make_license

pytestmark = pytest.mark.django_db


def _batch_message(pkg, account, n=5) -> OutboxMessage:
    """One outbox message about n status changes (as a sweep writes), nothing sent yet."""
    events = []
    for i in range(n):
        license = make_license(package=pkg, account=account, org_name=f"Org {i}")
        license.suspend(by="ops", reason="Payment overdue")
        events.append(license.events.filter(kind=EventKind.STATUS_CHANGED).latest("id"))
    mail.outbox.clear()
    # The setup's own notifications are not what is tested here.
    OutboxMessage.objects.update(status=OutboxStatus.DONE)
    return OutboxMessage.objects.create(
        topic=NOTIFY_TASK,
        payload={"event_ids": [event.pk for event in events]},
        created_at=timezone.now(),
    )


def _emails_per_event(mailoutbox) -> Counter:
    return Counter(email.subject for email in mailoutbox)


def test_consumer__database_lost_after_the_third_email__retry_resends_only_that_one(
    pkg, account, mailoutbox, monkeypatch
):
    # Given a batch of five notifications, and a database connection that dies right after
    # the third email has left (its record cannot be written)
    message = _batch_message(pkg, account)
    real_create = OutboxDelivery.objects.create
    calls = {"n": 0}

    def dying_create(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real_create(**kwargs)

    monkeypatch.setattr(OutboxDelivery.objects, "create", dying_create)

    # When the consumer runs, fails, and its retry (same task) runs again
    with pytest.raises(outbox.OutboxDeliveryError):
        outbox_process(message_ids=[message.pk], holder="task-1")
    outbox_process(message_ids=[message.pk], holder="task-1")

    # Then every email went out, and only the one in flight went twice
    per_event = _emails_per_event(mailoutbox)
    assert len(per_event) == 5
    assert sorted(per_event.values()) == [1, 1, 1, 1, 2]
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert message.deliveries.count() == 5


def test_consumer__killed_mid_batch__next_consumer_sends_only_the_rest(
    pkg, account, mailoutbox, monkeypatch
):
    # Given a consumer that dies (kill -9: nothing after this runs) while sending the 4th email
    message = _batch_message(pkg, account)
    real_send = mail.backends.locmem.EmailBackend.send_messages
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def send_then_die(self, messages):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed
        return real_send(self, messages)

    monkeypatch.setattr(mail.backends.locmem.EmailBackend, "send_messages", send_then_die)
    with pytest.raises(Killed):
        outbox_process(message_ids=[message.pk], holder="worker-that-dies")
    monkeypatch.setattr(mail.backends.locmem.EmailBackend, "send_messages", real_send)

    # When its lease has run out and the relay job runs minutes later (not hours)
    later = timezone.now() + RERELAY_SENT_AFTER + LEASE + dt.timedelta(seconds=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outbox.timezone, "now", lambda: later)
        relayed = outbox_relay_pending(now=later)

    # Then it was relayed and each of the five emails went out exactly once
    assert relayed == 1
    assert sorted(_emails_per_event(mailoutbox).values()) == [1, 1, 1, 1, 1]
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE


def test_rerelay__sent_minutes_ago_held_by_a_living_consumer__left_alone(license_factory):
    message = license_factory()
    now = timezone.now()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT,
        dispatched_at=now - RERELAY_SENT_AFTER - dt.timedelta(minutes=1),
        lease_until=now + dt.timedelta(minutes=1),
        lease_holder="busy-worker",
    )

    assert outbox_relay_pending(now=now) == 0
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT


def test_rerelay__sent_six_minutes_ago_nobody_holds_it__relayed_and_done(
    license_factory, mailoutbox
):
    message = license_factory()
    mailoutbox.clear()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT, dispatched_at=timezone.now() - dt.timedelta(minutes=6)
    )
    OutboxDelivery.objects.filter(message=message).delete()

    assert outbox_relay_pending(now=timezone.now()) == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert len(mailoutbox) == 1


@pytest.fixture
def license_factory(pkg, account):
    def make() -> OutboxMessage:
        license = make_license(package=pkg, account=account)
        event = license.events.get(kind=EventKind.INSTALLED)
        message = OutboxMessage.objects.filter(topic=NOTIFY_TASK).latest("pk")
        assert message.payload == {"event_ids": [event.pk]}
        return message

    return make


def test_healthz_and_console__stuck_message__shown_with_its_age(
    client, license_factory, admin_user_role
):
    # Given a message handed over ten minutes ago that no worker holds
    message = license_factory()
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT, dispatched_at=timezone.now() - dt.timedelta(minutes=10)
    )
    client.force_login(admin_user_role)

    # Then the health check counts it with its age
    body = client.get("/healthz").json()
    assert body["outbox"]["stuck"] == 1
    assert body["outbox"]["oldest_stuck_age_seconds"] >= 600

    # And the console lists it under "stuck", with a warning saying since when
    page = client.get("/admin/jobs/outboxmessage/", {"stuck": "yes"})
    content = page.content.decode()
    assert page.status_code == 200
    assert "Stuck messages" in content and "10\xa0minutes" in content
    assert list(page.context["cl"].result_list) == [message]


# --- a broker that accepts connections and never answers -------------------------------------


@pytest.fixture
def hanging_broker():
    """A TCP server that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    saved = {key: app.conf[key] for key in ("broker_write_url", "task_always_eager")}
    saved_options = dict(app.conf.broker_transport_options or {})
    app.conf.update(
        broker_write_url=f"redis://127.0.0.1:{port}/0",
        task_always_eager=False,
        broker_transport_options={
            **saved_options,
            "socket_timeout": 1.0,
            "socket_connect_timeout": 1.0,
        },
    )
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.update(saved, broker_transport_options=saved_options)
    app._pool = None
    app.amqp._producer_pool = None
    stop.set()
    thread.join(timeout=2)
    for sock in accepted:
        sock.close()
    server.close()


@pytest.mark.django_db(transaction=True)
def test_suspend__broker_hangs__answers_200_and_the_message_waits_pending(hanging_broker, ops_user):
    from tests.api.conftest import token_client

    # Given active licenses and staff with a token
    license = make_license(status="active")
    other = make_license(status="active")
    client = token_client(ops_user)
    outbox.outbox_broker_resume()  # creating them met the hanging broker already
    answers = []

    # When they suspend it while the broker accepts connections and never answers
    def suspend():
        try:
            answers.append(
                client.post(
                    f"/api/v1/licenses/{license.pk}/suspend/",
                    {"reason": "Payment overdue"},
                    format="json",
                )
            )
        finally:
            connection.close()

    worker = threading.Thread(target=suspend)
    worker.start()
    worker.join(timeout=60)

    # Then the request finished (it did not wait on the broker), the change is committed,
    # and the notification is pending for the relay job
    assert not worker.is_alive(), "the request is still waiting on the broker"
    assert answers[0].status_code == 200
    assert License.objects.get(pk=license.pk).status == "suspended"
    event = LicenseEvent.objects.filter(license=license, kind=EventKind.STATUS_CHANGED).latest("id")
    message = OutboxMessage.objects.get(payload__event_ids=[event.pk])
    assert message.status == OutboxStatus.PENDING
    assert "relay" in message.last_error

    # And the next change in this process does not wait on the broker at all
    client.post(f"/api/v1/licenses/{other.pk}/suspend/", {"reason": "x"}, format="json")
    event = LicenseEvent.objects.filter(license=other, kind=EventKind.STATUS_CHANGED).latest("id")
    assert OutboxMessage.objects.get(payload__event_ids=[event.pk]).status == OutboxStatus.PENDING


def test_consumer__long_batch__lease_renewed_by_progress_one_write_per_email(
    pkg, account, mailoutbox, monkeypatch
):
    # Given a batch of four notifications, each taking a good part of a lease
    message = _batch_message(pkg, account, n=4)
    start = timezone.now()
    clock = {"now": start}
    monkeypatch.setattr(outbox.timezone, "now", lambda: clock["now"])
    real_create = OutboxDelivery.objects.create
    leases = []

    def slow_create(**kwargs):
        # Each record is written 0.3 of a lease after the one before.
        clock["now"] += LEASE * 0.3
        kwargs["delivered_at"] = clock["now"]
        leases.append(OutboxMessage.objects.get(pk=message.pk).lease_until)
        return real_create(**kwargs)

    monkeypatch.setattr(OutboxDelivery.objects, "create", slow_create)

    # When the consumer sends them
    outbox_process(message_ids=[message.pk], holder="task-1")

    # Then the lease taken at the claim was renewed once less than half of it was left
    # (after the third email), so it never ran out while the batch advanced
    assert leases[:3] == [start + LEASE] * 3
    assert leases[3] == start + LEASE * 0.6 + LEASE
    assert len(mailoutbox) == 4
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.DONE


@pytest.mark.django_db(transaction=True)
def test_consumer__each_email_recorded__one_statement_when_the_lease_is_fresh(
    pkg, account, django_assert_num_queries
):
    from jobs.outbox import _current_work, _Work, deliver_once

    message = _batch_message(pkg, account, n=1)
    sent = []
    token = _current_work.set(
        _Work(message_id=message.pk, holder="task-1", lease_until=timezone.now() + LEASE)
    )
    try:
        # The record of a sent email is a single INSERT (its own commit, in autocommit)
        with django_assert_num_queries(1):
            assert deliver_once("license-event:1", lambda: sent.append(1))
        # and a key already recorded is not sent again
        with django_assert_num_queries(0):
            assert not deliver_once("license-event:1", lambda: sent.append(1))
    finally:
        _current_work.reset(token)
    assert sent == [1]
