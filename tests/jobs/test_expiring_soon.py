"""The expiring-soon job: one event per trial ending within 7 days, once."""

import datetime as dt

import pytest
from django.utils import timezone

from jobs.choices import SweepJob
from jobs.models import OutboxMessage, SweepRun
from licenses.choices import EventKind
from licenses.notifications import NOTIFY_TASK
from licenses.sweeps import licenses_notify_expiring_soon
from licenses.tasks import notify_expiring_soon
from tests.factories import make_license
from tests.jobs.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _trial(pkg, ends_in, **kwargs):
    return make_license(
        package=pkg, installed_at=NOW - 10 * DAY, expires_at=NOW + ends_in, **kwargs
    )


def _soon_events(license):
    return list(license.events.filter(kind=EventKind.EXPIRING_SOON))


def test_expiring_soon__trial_ending_in_3_days__one_event_and_marked(pkg):
    # Given a trial ending in 3 days
    license = _trial(pkg, 3 * DAY)

    # When the job runs
    result = licenses_notify_expiring_soon(now=NOW)

    # Then one expiring_soon event is written, by the system, and the license is marked
    assert result.count == 1
    [event] = _soon_events(license)
    assert event.actor == "system"
    assert event.after == {"expires_at": (NOW + 3 * DAY).isoformat().replace("+00:00", "Z")}
    license.refresh_from_db()
    assert license.expiring_soon_notified_at == NOW
    # And people will be told through the outbox
    told = OutboxMessage.objects.filter(topic=NOTIFY_TASK)
    assert any(event.pk in m.payload.get("event_ids", []) for m in told)


def test_expiring_soon__run_again_next_day__no_second_event(pkg):
    # Given a trial already told about
    license = _trial(pkg, 3 * DAY)
    licenses_notify_expiring_soon(now=NOW)

    # When the job runs again a day later
    again = licenses_notify_expiring_soon(now=NOW + DAY)

    # Then nothing new is recorded
    assert again.count == 0
    assert len(_soon_events(license)) == 1


def test_expiring_soon__only_trials_within_the_window(pkg):
    # Given trials ending in 8 days and already ended, an active license ending in 3 days,
    # and a trial ending in exactly 7 days
    far = _trial(pkg, 8 * DAY)
    ended = _trial(pkg, -DAY)
    active = _trial(pkg, 3 * DAY, status="active")
    edge = _trial(pkg, 7 * DAY)

    # When the job runs
    result = licenses_notify_expiring_soon(now=NOW)

    # Then only the trial at the edge of the window is told
    assert result.count == 1
    assert _soon_events(edge)
    assert not (_soon_events(far) or _soon_events(ended) or _soon_events(active))


def test_expiring_soon__batched__each_trial_once(pkg):
    licenses = [_trial(pkg, (i + 1) * DAY / 2) for i in range(5)]

    result = licenses_notify_expiring_soon(now=NOW, batch_size=2)

    assert (result.count, result.batches) == (5, 3)
    assert all(len(_soon_events(lic)) == 1 for lic in licenses)


def test_notify_expiring_soon_task__marks_trial_and_records_a_run(pkg):
    now = timezone.now()
    license = make_license(package=pkg, installed_at=now - DAY, expires_at=now + 2 * DAY)

    notify_expiring_soon.delay()

    run = SweepRun.objects.get(job=SweepJob.NOTIFY_EXPIRING_SOON)
    assert (run.count, run.finished_at is not None) == (1, True)
    assert len(_soon_events(license)) == 1
