"""Task settings that keep background work safe: bounded retries, time limits, no early
redelivery by Redis."""

import pytest
from django.test import override_settings

from jobs import tasks
from jobs.checks import check_visibility_timeout
from licenses import tasks as license_tasks

JOB_TASKS = [
    license_tasks.expire_licenses,
    license_tasks.notify_expiring_soon,
    tasks.process_outbox_messages,
    tasks.relay_pending_outbox,
]


@pytest.mark.parametrize("task", JOB_TASKS, ids=lambda task: task.name)
def test_task__bounded_retries_with_backoff_jitter_and_time_limits(task):
    assert task.autoretry_for
    assert task.retry_backoff and task.retry_jitter
    assert 0 < task.max_retries <= 10
    assert task.retry_backoff_max <= tasks.LONGEST_COUNTDOWN
    assert task.soft_time_limit < task.time_limit
    assert task.acks_late is True


def test_beat_schedule__every_entry_names_a_registered_task(settings):
    from lmo.celery import app

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names == {
        "licenses.expire_licenses",
        "features.end_overrides",
        "licenses.notify_expiring_soon",
        "jobs.relay_pending_outbox",
        "subscribers.drain_events",
    }
    assert names <= set(app.tasks)


@override_settings(
    CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 600},
)
def test_visibility_check__redis_timeout_shorter_than_countdown__warns():
    [warning] = check_visibility_timeout()

    assert warning.id == "jobs.W001"


@override_settings(
    CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 2 * 60 * 60},
)
def test_visibility_check__project_setting__no_warning():
    assert check_visibility_timeout() == []
