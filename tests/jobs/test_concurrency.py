"""Two sweeps at once on PostgreSQL: SKIP LOCKED shares the work, nothing happens twice."""

import datetime as dt

import pytest

from jobs.models import OutboxMessage
from jobs.outbox import outbox_process
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from licenses.sweeps import licenses_expire_due, licenses_notify_expiring_soon
from tests.concurrency import race
from tests.factories import PackageFactory, make_license

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _due_licenses(count):
    package = PackageFactory()
    return [
        make_license(
            package=package,
            installed_at=NOW - dt.timedelta(days=40),
            expires_at=NOW - dt.timedelta(minutes=i + 1),
            org_name=f"Due {i}",
        )
        for i in range(count)
    ]


def test_expire_due__two_runs_at_once__each_license_expired_exactly_once():
    # Given 40 due trials
    licenses = _due_licenses(40)

    # When two sweeps run at the same moment, in small batches
    results = race(lambda: licenses_expire_due(now=NOW, batch_size=5))

    # Then neither failed, together they expired all 40, and each has one expiry event
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.count for r in results) == 40
    ids = [lic.pk for lic in licenses]
    assert set(License.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        LicenseStatus.EXPIRED
    }
    events = LicenseEvent.objects.filter(license_id__in=ids, kind=EventKind.STATUS_CHANGED)
    assert sorted(events.values_list("license_id", flat=True)) == sorted(ids)


def test_notify_expiring_soon__two_runs_at_once__one_event_per_trial():
    package = PackageFactory()
    licenses = [
        make_license(
            package=package,
            installed_at=NOW - dt.timedelta(days=10),
            expires_at=NOW + dt.timedelta(days=2, minutes=i),
        )
        for i in range(20)
    ]

    results = race(lambda: licenses_notify_expiring_soon(now=NOW, batch_size=3))

    assert sum(r.count for r in results) == 20
    ids = [lic.pk for lic in licenses]
    events = LicenseEvent.objects.filter(license_id__in=ids, kind=EventKind.EXPIRING_SOON)
    assert sorted(events.values_list("license_id", flat=True)) == sorted(ids)


def test_outbox_process__same_message_twice_at_once__one_email(mailoutbox, django_user_model):
    # Given a pending notification for someone with an email
    manager = django_user_model.objects.create(username="lm", email="lm@partner.example")
    license = make_license(package=PackageFactory(lead_manager=manager))
    installed = license.events.get(kind=EventKind.INSTALLED)
    message = OutboxMessage.objects.get(payload__event_ids=[installed.pk])
    OutboxMessage.objects.filter(pk=message.pk).update(status="pending")
    message.deliveries.all().delete()
    mailoutbox.clear()

    # When two consumers get the same message at once (a double relay)
    results = race(lambda: outbox_process(message_ids=[message.pk]))

    # Then one did the work, the other found it done, and one email went out
    assert sorted((r["done"], r["skipped"]) for r in results) == [(0, 1), (1, 0)]
    assert len(mailoutbox) == 1
