"""The outbox: written with the change, relayed after commit, re-relayed when the broker
was down, and done exactly once however often it is relayed."""

import datetime as dt
import smtplib

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from jobs import outbox
from jobs.choices import OutboxStatus
from jobs.models import OutboxMessage
from jobs.outbox import MAX_ATTEMPTS, outbox_relay, outbox_relay_pending
from jobs.tasks import process_outbox_messages, relay_pending_outbox
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License
from licenses.notifications import NOTIFY_TASK
from licenses.services import OrgDetails, license_create
from lmo.celery import app
from tests.factories import PackageVersionFactory, make_license, org_id

pytestmark = pytest.mark.django_db

LATER = dt.timedelta(minutes=2)


@pytest.fixture
def license(pkg, account):
    return make_license(package=pkg, account=account, org_name="Acme Corp")


@pytest.fixture
def broker_down(monkeypatch):
    """Publishing fails the way kombu fails when it cannot reach the broker."""

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_outbox_messages, "apply_async", refuse)
    return monkeypatch


def _suspend(license, on_commit):
    with on_commit(execute=True):
        License.objects.get(pk=license.pk).suspend(by="ops", reason="Payment overdue")


def _suspension_emails(mailoutbox):
    return [email for email in mailoutbox if email.subject.endswith("-> suspended")]


def _message_for(license, kind=EventKind.STATUS_CHANGED):
    event = license.events.filter(kind=kind).latest("id")
    return OutboxMessage.objects.get(payload__event_ids=[event.pk])


def test_suspend__committed__one_email_to_lead_manager_and_account_owner(
    license, mailoutbox, django_capture_on_commit_callbacks
):
    # When staff suspend a license and it commits
    _suspend(license, django_capture_on_commit_callbacks)

    # Then the outbox message is done and one email went to both people concerned
    message = _message_for(license)
    assert (message.topic, message.status, message.relays) == (
        NOTIFY_TASK,
        OutboxStatus.DONE,
        1,
    )
    [email] = mailoutbox
    assert email.to == ["account.owner@partner.example", "lead.manager@partner.example"]
    assert email.subject == f"{license.name} Acme Corp (Quote Builder): trial -> suspended"
    assert "Reason: Payment overdue" in email.body


def test_suspend__rolled_back__no_outbox_row_no_email(
    license, mailoutbox, django_capture_on_commit_callbacks
):
    before = OutboxMessage.objects.count()

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        License.objects.get(pk=license.pk).suspend(by="ops", reason="Payment overdue")
        raise RuntimeError("rolled back")

    assert OutboxMessage.objects.count() == before
    assert mailoutbox == []


def test_set_seats__kind_nobody_is_told_about__no_outbox_row(license):
    before = OutboxMessage.objects.count()

    License.objects.get(pk=license.pk).set_seats(by="ops", seats=40)

    assert OutboxMessage.objects.count() == before


def test_notification__nobody_with_email__done_without_email(
    pkg, mailoutbox, django_capture_on_commit_callbacks
):
    # Given a license of a package whose lead manager has no email, and no account
    pkg.lead_manager.email = ""
    pkg.lead_manager.save()
    license = make_license(package=pkg)

    _suspend(license, django_capture_on_commit_callbacks)

    assert _message_for(license).status == OutboxStatus.DONE
    assert mailoutbox == []


def test_suspend__broker_unreachable__commits_and_stays_pending_until_rerelay(
    license, broker_down, mailoutbox, django_capture_on_commit_callbacks
):
    # Given the broker is unreachable
    # When staff suspend a license
    _suspend(license, django_capture_on_commit_callbacks)

    # Then the change is committed, the message waits with the reason, and no email went out
    license.refresh_from_db()
    assert license.status == LicenseStatus.SUSPENDED
    message = _message_for(license)
    assert message.status == OutboxStatus.PENDING
    assert "Connection refused" in message.last_error
    assert mailoutbox == []

    # When the broker is back and the relay job runs at once, it leaves it (a relay after
    # commit may still be under way)
    broker_down.undo()
    assert relay_pending_outbox.delay().get() == 0
    # but a little later it relays it
    with time_machine.travel(timezone.now() + LATER):
        relay_pending_outbox.delay()

    # Then the email is sent once
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert len(_suspension_emails(mailoutbox)) == 1

    # And relaying it twice more sends nothing more
    outbox_relay(message_ids=[message.pk])
    process_outbox_messages.delay([message.pk])
    assert len(_suspension_emails(mailoutbox)) == 1


def test_suspend__real_unreachable_redis__commits_and_stays_pending(
    license, unreachable_broker, mailoutbox, django_capture_on_commit_callbacks
):
    # Given tasks really go to a Redis where nothing listens
    # When staff suspend a license
    _suspend(license, django_capture_on_commit_callbacks)

    # Then the suspension is committed and the message stays pending, with kombu's reason
    license.refresh_from_db()
    assert license.status == LicenseStatus.SUSPENDED
    message = _message_for(license)
    assert message.status == OutboxStatus.PENDING
    assert message.last_error.startswith("relay: ")
    assert mailoutbox == []


def test_install__broker_unreachable__license_written_and_notified_once_after_rerelay(
    pkg, broker_down, mailoutbox, django_capture_on_commit_callbacks
):
    # Given the broker is unreachable
    # When a subscriber org installs the package
    with django_capture_on_commit_callbacks(execute=True):
        license = license_create(
            package=pkg,
            version=PackageVersionFactory(package=pkg),
            org=OrgDetails(org_id=org_id(), name="Globex"),
            installed_at=timezone.now(),
        )

    # Then the license exists, its notification waits
    message = _message_for(license, EventKind.INSTALLED)
    assert message.status == OutboxStatus.PENDING
    assert mailoutbox == []

    # When the broker is back, a relay after commit and the re-relay job both deliver it
    broker_down.undo()
    outbox_relay(message_ids=[message.pk])
    outbox_relay_pending(now=timezone.now() + LATER)

    # Then the lead manager got exactly one email
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    [email] = mailoutbox
    assert email.to == ["lead.manager@partner.example"]
    assert "installed (trial)" in email.subject


def test_consumer__email_fails_once__retried_later_and_sent_once(
    license, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    # Given the mail server refuses the first attempt
    from django.core import mail

    calls = {"n": 0}

    def flaky_send(self, messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        mail.outbox.extend(messages)
        return len(messages)

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", flaky_send)

    # When a suspension commits
    _suspend(license, django_capture_on_commit_callbacks)

    # Then the failed attempt is recorded and nothing was sent
    message = _message_for(license)
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert "Connection unexpectedly closed" in message.last_error
    assert _suspension_emails(mailoutbox) == []

    # When it is tried again
    outbox_relay_pending(now=timezone.now() + LATER)

    # Then it is sent, once
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.DONE, 1)
    assert len(_suspension_emails(mailoutbox)) == 1


def test_consumer__email_always_fails__task_retries_then_marks_failed(
    license, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    # Given the mail server is down for good
    def refuse(self, messages):
        raise smtplib.SMTPConnectError(421, "Service not available")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    _suspend(license, django_capture_on_commit_callbacks)
    message = _message_for(license)

    # When the task runs with all its retries (eager tasks that do not propagate errors run
    # their retries inline, without the countdown)
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    result = process_outbox_messages.apply(args=[[message.pk]])

    # Then the retries stopped once the message was failed, after MAX_ATTEMPTS attempts
    assert result.state == "SUCCESS"
    license.refresh_from_db()
    assert license.status == LicenseStatus.SUSPENDED
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert "Service not available" in message.last_error
    assert _suspension_emails(mailoutbox) == []

    # And the re-relay job leaves failed messages alone
    outbox_relay_pending(now=timezone.now() + LATER)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)


def test_consumer__chunk_with_one_bad_message__others_done(license, mailoutbox):
    # Given a good message and one whose event does not exist
    good = _message_for(license, EventKind.INSTALLED)
    bad = OutboxMessage.objects.create(
        topic=NOTIFY_TASK,
        payload={"event_id": 0, "license_id": license.pk, "kind": "installed"},
        created_at=timezone.now(),
    )

    # When both are processed in one task
    with pytest.raises(outbox.OutboxDeliveryError):
        outbox.outbox_process(message_ids=[bad.pk, good.pk])

    # Then the good one is done and the bad one counts a failed attempt, held for its retry
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == OutboxStatus.DONE
    assert (bad.status, bad.attempts) == (OutboxStatus.SENT, 1)
    assert bad.lease_until > timezone.now()
    assert len(mailoutbox) == 1


def test_consumer__message_written_by_an_earlier_version__emails_its_one_row(license, mailoutbox):
    # Given a message in the shape earlier versions wrote (one row, `event_id`), not done
    event = license.events.get(kind=EventKind.INSTALLED)
    OutboxMessage.objects.update(status=OutboxStatus.DONE)
    mailoutbox.clear()
    old = OutboxMessage.objects.create(
        topic=NOTIFY_TASK,
        payload={"event_id": event.pk, "license_id": license.pk, "kind": "installed"},
        created_at=timezone.now(),
    )

    # When it is processed
    outbox.outbox_process(message_ids=[old.pk])

    # Then the row's email went out once and the message is done
    old.refresh_from_db()
    assert old.status == OutboxStatus.DONE
    assert len(mailoutbox) == 1 and license.org_id in mailoutbox[0].body


def test_rerelay__sent_long_ago_and_never_done__relayed_again(license, mailoutbox):
    # Given a message the broker accepted hours ago but lost
    message = _message_for(license, EventKind.INSTALLED)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT, dispatched_at=timezone.now() - dt.timedelta(hours=4)
    )

    # When the re-relay job runs
    relayed = outbox_relay_pending(now=timezone.now())

    # Then it is delivered
    message.refresh_from_db()
    assert (relayed, message.status, message.relays) == (1, OutboxStatus.DONE, 1)
    assert len(mailoutbox) == 1


def test_prune__done_long_ago__deleted(license):
    message = _message_for(license, EventKind.INSTALLED)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.DONE, processed_at=timezone.now() - dt.timedelta(days=31)
    )

    relay_pending_outbox.delay()

    assert not OutboxMessage.objects.filter(pk=message.pk).exists()


def test_webhook_install__broker_unreachable__200_license_written_notified_once_later(
    client, pkg, broker_down, mailoutbox, django_capture_on_commit_callbacks
):
    from tests.subscribers.helpers import install_body, post_event

    # Given the broker is unreachable
    # When a subscriber org's install arrives on the signed webhook
    org = org_id()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(
            client, install_body(package_id=pkg.package_id, org_id=org, at=timezone.now())
        )

    # Then the webhook still answers 202, the license is written, its notification waits
    assert response.status_code == 202
    license = License.objects.get(org_id=org, package=pkg)
    message = _message_for(license, EventKind.INSTALLED)
    assert message.status == OutboxStatus.PENDING
    assert mailoutbox == []

    # When the broker is back, the re-relay job delivers it, and a second relay does nothing
    broker_down.undo()
    outbox_relay_pending(now=timezone.now() + LATER)
    outbox_relay(message_ids=[message.pk])

    # Then the lead manager got exactly one email
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    [email] = mailoutbox
    assert email.to == ["lead.manager@partner.example"]
