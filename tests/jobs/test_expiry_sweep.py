"""The expiry sweep: what it expires, what it leaves alone, what it writes, how many queries."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboards.models import ROLLUP_MODELS
from jobs.choices import OutboxStatus, SweepJob
from jobs.models import OutboxMessage, SweepRun
from jobs.outbox import outbox_process
from licenses.cache import license_check_cache_key
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from licenses.sweeps import expiry_source_statuses, licenses_expire_due
from tests.factories import make_license
from tests.jobs.conftest import NOW

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def _trial(pkg, expires_at):
    return make_license(
        package=pkg, installed_at=expires_at - dt.timedelta(days=30), expires_at=expires_at
    )


def _due(pkg, count, *, expires_at=NOW - dt.timedelta(hours=1)):
    return [
        make_license(
            package=pkg,
            installed_at=NOW - dt.timedelta(days=40),
            org_name=f"Due {i}",
            expires_at=expires_at,
        )
        for i in range(count)
    ]


def _status(license):
    license.refresh_from_db()
    return license.status


def test_sweep__expires_at_equals_now__expired(pkg):
    # Given a trial ending exactly now (frozen clock)
    with time_machine.travel(NOW, tick=False):
        license = _trial(pkg, NOW)

        # When the sweep runs at that instant
        result = licenses_expire_due(now=timezone.now())

    # Then it is expired
    assert result.count == 1
    assert _status(license) == LicenseStatus.EXPIRED


def test_sweep__one_second_before_expires_at__left_alone(pkg):
    # Given a trial ending at NOW, and the clock one second earlier
    with time_machine.travel(NOW - SECOND, tick=False):
        license = _trial(pkg, NOW)

        # When the sweep runs
        result = licenses_expire_due(now=timezone.now())

    # Then nothing changes
    assert result.count == 0
    assert _status(license) == LicenseStatus.TRIAL
    assert not license.events.filter(kind=EventKind.STATUS_CHANGED).exists()


def test_sweep__mix_of_statuses__only_due_trials_and_active_expire(pkg):
    # Given licenses in every status, due or not
    past = NOW - dt.timedelta(days=1)
    future = NOW + dt.timedelta(days=1)
    old = NOW - dt.timedelta(days=60)
    due_trial = make_license(package=pkg, installed_at=old, expires_at=past)
    due_active = make_license(package=pkg, status="active", installed_at=old, expires_at=past)
    later_trial = make_license(package=pkg, installed_at=old, expires_at=future)
    endless_active = make_license(package=pkg, status="active", installed_at=old)
    suspended = make_license(package=pkg, status="suspended", installed_at=old, expires_at=past)
    expired = make_license(package=pkg, status="expired", installed_at=old, expires_at=past)
    uninstalled = make_license(package=pkg, status="uninstalled", installed_at=old, expires_at=past)
    untouched = [later_trial, endless_active, suspended, expired, uninstalled]
    before = {lic.pk: (lic.status, lic.updated_at, lic.events.count()) for lic in untouched}

    # When the sweep runs
    result = licenses_expire_due(now=NOW)

    # Then exactly the due trial and the due active license expired, one event each
    assert result.count == 2
    assert _status(due_trial) == _status(due_active) == LicenseStatus.EXPIRED
    for license, was in ((due_trial, "trial"), (due_active, "active")):
        events = license.events.filter(kind=EventKind.STATUS_CHANGED)
        assert [(e.before, e.after) for e in events] == [({"status": was}, {"status": "expired"})]
    # And nothing else was touched, the uninstalled license least of all
    for license in untouched:
        license.refresh_from_db()
        assert (license.status, license.updated_at, license.events.count()) == before[license.pk]


def test_sweep__event__same_shape_as_license_expire(pkg):
    # Given two due trials; one expires through the model method, one through the sweep
    by_method, by_sweep = _due(pkg, 2)
    License.objects.get(pk=by_method.pk).expire(now=NOW)

    # When the sweep runs
    licenses_expire_due(now=NOW)

    # Then both history rows look the same
    fields = ("kind", "at", "actor", "actor_user_id", "before", "after", "reason")
    rows = [
        LicenseEvent.objects.filter(license=lic, kind=EventKind.STATUS_CHANGED)
        .values(*fields)
        .get()
        for lic in (by_method, by_sweep)
    ]
    assert rows[0] == rows[1]
    assert rows[1]["actor"] == "system"


def test_sweep__run_twice__second_run_changes_nothing(pkg):
    # Given three due trials swept once
    licenses = _due(pkg, 3)
    first = licenses_expire_due(now=NOW)
    events = LicenseEvent.objects.count()
    messages = OutboxMessage.objects.count()

    # When the sweep runs again
    second = licenses_expire_due(now=NOW + dt.timedelta(minutes=5))

    # Then it expires nothing and writes nothing
    assert (first.count, second.count) == (3, 0)
    assert LicenseEvent.objects.count() == events
    assert OutboxMessage.objects.count() == messages
    assert all(_status(lic) == LicenseStatus.EXPIRED for lic in licenses)


def test_sweep__sources__read_from_transition_table():
    # The statuses the sweep moves are those the one table lets move to expired.
    assert expiry_source_statuses() == ("active", "trial")
    assert LicenseStatus.UNINSTALLED not in expiry_source_statuses()


def test_sweep__batches__every_due_license_expired_once(pkg):
    # Given 7 due trials and a batch size of 3
    licenses = _due(pkg, 7)

    # When the sweep runs
    result = licenses_expire_due(now=NOW, batch_size=3)

    # Then it took three batches and each license has exactly one expiry event
    assert (result.count, result.batches) == (7, 3)
    for license in licenses:
        assert license.events.filter(kind=EventKind.STATUS_CHANGED).count() == 1


def _count_sweep_queries(now, batch_size):
    with CaptureQueriesContext(connection) as queries:
        result = licenses_expire_due(now=now, batch_size=batch_size)
    return result, len(queries)


def test_sweep__queries__same_for_10_and_50_licenses_in_one_batch(pkg):
    # Given 10 due trials, swept in one batch
    _due(pkg, 10, expires_at=NOW - dt.timedelta(days=2))
    small, small_queries = _count_sweep_queries(NOW - dt.timedelta(days=1), batch_size=100)

    # When 50 more become due and are swept in one batch
    _due(pkg, 50)
    large, large_queries = _count_sweep_queries(NOW, batch_size=100)

    # Then five times the licenses cost the same number of queries
    assert (small.count, large.count) == (10, 50)
    assert small.batches == large.batches == 1
    assert small_queries == large_queries


def test_sweep__queries__grow_with_batches_not_licenses(pkg):
    # Given 10 due trials in 2 batches of 5, then 50 in 2 batches of 25
    _due(pkg, 10, expires_at=NOW - dt.timedelta(days=2))
    small, small_queries = _count_sweep_queries(NOW - dt.timedelta(days=1), batch_size=5)
    _due(pkg, 50)
    large, large_queries = _count_sweep_queries(NOW, batch_size=25)

    # Then equal batches mean equal queries
    assert small.batches == large.batches == 2
    assert small_queries == large_queries


def test_sweep__query_budget(pkg, django_assert_max_num_queries):
    _due(pkg, 30)
    # The run record (2), the packages' grace lengths and the retention DELETE; per batch a
    # savepoint pair, the locking SELECT, the UPDATE, two INSERTs, and for the dashboards'
    # rollup a read of the batch's licenses, a read of their feature values (an expired
    # license's values leave the feature tally) and its upserts (one round trip on
    # PostgreSQL, one per table on SQLite); the last, empty batch a savepoint pair and a SELECT.
    rollup = 2 + (1 if connection.vendor == "postgresql" else len(ROLLUP_MODELS))
    with django_assert_max_num_queries(4 + 3 * (6 + rollup) + 3):
        result = licenses_expire_due(now=NOW, batch_size=10)
    assert result.batches == 3


def test_sweep__writes_one_outbox_message_per_batch_naming_every_expiry(pkg):
    # Given five due trials
    licenses = _due(pkg, 5)
    before = set(OutboxMessage.objects.values_list("pk", flat=True))

    # When the sweep runs in batches of two
    licenses_expire_due(now=NOW, batch_size=2)

    # Then each batch wrote one pending message, and together they name every expiry event
    events = LicenseEvent.objects.filter(license__in=licenses, kind=EventKind.STATUS_CHANGED)
    messages = OutboxMessage.objects.exclude(pk__in=before).order_by("pk")
    assert [len(m.payload["event_ids"]) for m in messages] == [2, 2, 1]
    named = sorted(pk for m in messages for pk in m.payload["event_ids"])
    assert named == sorted(e.pk for e in events)
    assert {m.status for m in messages} == {OutboxStatus.PENDING}


def test_sweep__batch_message__emails_each_expiry_once(pkg, mailoutbox, django_user_model):
    # Given two due trials of a package whose lead manager has an email address
    pkg.lead_manager = django_user_model.objects.create(username="lm", email="lm@partner.example")
    pkg.save()
    _due(pkg, 2)
    licenses_expire_due(now=NOW)
    expired = LicenseEvent.objects.filter(kind=EventKind.STATUS_CHANGED).order_by("pk")
    message = OutboxMessage.objects.latest("pk")
    assert message.payload == {"event_ids": [event.pk for event in expired]}

    # When the message is processed twice
    outbox_process(message_ids=[message.pk])
    outbox_process(message_ids=[message.pk])

    # Then one email per expired license went out
    expired = [m for m in mailoutbox if "-> expired" in m.subject]
    assert len(expired) == 2
    assert all(m.to == ["lm@partner.example"] for m in expired)


def test_sweep__after_commit__cached_license_checks_of_the_batch_dropped(
    pkg, django_capture_on_commit_callbacks
):
    # Given a due and a not-due license, both with a cached license check
    due = _due(pkg, 1)[0]
    later = make_license(package=pkg, installed_at=NOW, expires_at=NOW + dt.timedelta(days=3))
    due_key = license_check_cache_key(pkg.pk, due.org_id)
    later_key = license_check_cache_key(pkg.pk, later.org_id)
    cache.set_many({due_key: "cached", later_key: "cached"})

    # When the sweep commits
    with django_capture_on_commit_callbacks(execute=True):
        licenses_expire_due(now=NOW)

    # Then only the expired license's cached answer is gone
    assert cache.get(due_key) is None
    assert cache.get(later_key) == "cached"


def test_sweep__records_run_for_health(pkg):
    _due(pkg, 4)

    with time_machine.travel(NOW, tick=False):
        result = licenses_expire_due(now=timezone.now())

    run = SweepRun.objects.get(pk=result.run_id)
    assert (run.job, run.count, run.dry_run) == (SweepJob.EXPIRE_LICENSES, 4, False)
    assert run.started_at == run.finished_at == NOW


def test_sweep__dry_run__counts_and_changes_nothing(pkg):
    licenses = _due(pkg, 3)

    result = licenses_expire_due(now=NOW, dry_run=True)

    assert (result.count, result.dry_run) == (3, True)
    assert all(_status(lic) == LicenseStatus.TRIAL for lic in licenses)
    assert SweepRun.objects.get(pk=result.run_id).dry_run is True


def test_expire_licenses_command__dry_run__lists_due_licenses_changes_nothing(pkg):
    # Given a due trial and one that is not due
    due = _due(pkg, 1)[0]
    later = make_license(package=pkg, org_name="Later Corp")
    out = StringIO()

    # When the command runs with --dry-run
    call_command("expire_licenses", "--dry-run", stdout=out)

    # Then it names the due license and changes nothing
    text = out.getvalue()
    assert "1 license(s) would expire" in text
    assert due.name in text and "Due 0" in text
    assert later.name not in text
    assert _status(due) == LicenseStatus.TRIAL


def test_expire_licenses_command__expires_and_prints_counts(pkg):
    due = _due(pkg, 2)
    out = StringIO()

    call_command("expire_licenses", "--batch-size", "1", stdout=out)

    assert "Expired 2 license(s) in 2 batch(es)" in out.getvalue()
    assert all(_status(lic) == LicenseStatus.EXPIRED for lic in due)


def test_expire_licenses_command__bad_batch_size__error():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("expire_licenses", "--batch-size", "0", stdout=StringIO())
