"""A real Celery worker, started here against the Redis broker from the environment, does
the work of an outbox row written in a committed transaction on the test database."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from jobs.choices import OutboxStatus
from jobs.models import OutboxMessage
from licenses.choices import EventKind
from licenses.models import License
from lmo.celery import app
from tests.factories import PackageFactory, UserFactory, make_license

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 90

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not BROKER_URL.startswith("redis"),
        reason="needs CELERY_BROKER_URL=redis://... (the worker and this test share the broker)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _test_database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


@pytest.fixture
def real_worker(tmp_path):
    """A worker process on a queue of its own, reading the test database; tasks published
    from this process really go through Redis to it."""
    queue = f"lmo-test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lmo.settings",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CACHE_URL": "locmemcache://",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "test-worker-secret-key"),
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "CONN_MAX_AGE": "0",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "lmo", "worker", "-Q", queue, "--pool", "solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        "-n", f"{queue}@%h",
    ]  # fmt: skip
    with log_path.open("w") as log:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    saved = {key: app.conf[key] for key in ("task_always_eager", "task_default_queue")}
    app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        yield worker, log_path
    finally:
        app.conf.update(saved)
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        import redis

        redis.Redis.from_url(BROKER_URL).delete(queue)


def _wait_until_done(worker: subprocess.Popen, message_id: int) -> OutboxMessage:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and worker.poll() is None:
        message = OutboxMessage.objects.get(pk=message_id)
        if message.status == OutboxStatus.DONE:
            return message
        time.sleep(0.5)
    return message


def test_real_worker__suspension_committed__worker_sends_the_email_once(real_worker):
    # Given a license of a package whose lead manager has an email
    manager = UserFactory(username="worker-lm", email="worker.lm@partner.example")
    license = make_license(package=PackageFactory(lead_manager=manager), org_name="Initech")

    # When staff suspend it (committed; the relay after commit publishes to Redis)
    License.objects.get(pk=license.pk).suspend(by="ops", reason="Chargeback")
    event = license.events.filter(kind=EventKind.STATUS_CHANGED).latest("id")
    message = OutboxMessage.objects.get(payload__event_ids=[event.pk])

    # Then the worker process does the work: the row is done and the email went out once
    worker, log_path = real_worker
    message = _wait_until_done(worker, message.pk)
    log = log_path.read_text()
    assert message.status == OutboxStatus.DONE, log
    assert log.count(f"Subject: {license.name} Initech") == 2, log  # installed, suspended
    assert log.count("trial -> suspended") == 1, log
    assert "Reason: Chargeback" in log
