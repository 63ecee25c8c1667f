"""GET /healthz and manage.py celery_status."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from jobs import health
from licenses.sweeps import licenses_expire_due
from lmo.celery import app
from tests.factories import make_license

pytestmark = pytest.mark.django_db


def test_healthz__all_up__200_with_database_broker_and_last_sweep(client, pkg):
    # Given one due trial, swept
    make_license(
        package=pkg,
        installed_at=timezone.now() - dt.timedelta(days=40),
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    result = licenses_expire_due(now=timezone.now())

    # When the health endpoint is asked
    response = client.get("/healthz")

    # Then it answers 200 with each part's state and the last sweep's numbers
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is True
    assert body["last_sweep"]["expired"] == 1
    assert body["last_sweep"]["finished_at"] is not None
    assert result.count == 1
    assert set(body["outbox"]) == {"pending", "oldest_pending_at", "failed"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz__never_swept__last_sweep_null(client):
    body = client.get("/healthz").json()

    assert body["last_sweep"] is None


def test_healthz__database_down__503(client, monkeypatch):
    # Given the database does not answer
    def down():
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "check_database", down)

    # When the health endpoint is asked
    response = client.get("/healthz")

    # Then it answers 503 and says why, without trying to read the sweep record
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is False
    assert "Connection refused" in body["database"]["error"]
    assert "last_sweep" not in body


def test_healthz__broker_unreachable__200_degraded(client, unreachable_broker):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"]["ok"] is False
    assert body["broker"]["transport"] == "redis"


def test_healthz__post__405(client):
    assert client.post("/healthz").status_code == 405


class _Inspect:
    def __init__(self, replies):
        self.replies = replies

    def ping(self):
        return self.replies


@pytest.fixture
def workers(monkeypatch):
    def answer(replies):
        monkeypatch.setattr(app.control, "inspect", lambda timeout: _Inspect(replies))

    return answer


def test_celery_status__worker_answers_and_recent_sweep__up(workers):
    workers({"celery@web1": {"ok": "pong"}})
    licenses_expire_due(now=timezone.now())
    out = StringIO()

    call_command("celery_status", "--timeout", "0.1", stdout=out)

    text = out.getvalue()
    assert "worker: up (celery@web1 answered)" in text
    assert "beat: up" in text
    assert "last sweep: Expire licenses" in text


def test_celery_status__no_worker__exit_1(workers):
    workers(None)
    licenses_expire_due(now=timezone.now())
    out = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("celery_status", "--timeout", "0.1", stdout=out)

    assert raised.value.returncode == 1
    assert "worker: DOWN" in out.getvalue()


def test_celery_status__beat_silent__exit_1(workers, time_machine):
    # Given a worker, but the last sweep ran an hour ago and beat sent nothing since
    workers({"celery@web1": {"ok": "pong"}})
    time_machine.move_to(timezone.now() - dt.timedelta(hours=1))
    licenses_expire_due(now=timezone.now())
    time_machine.move_to(timezone.now() + dt.timedelta(hours=1))
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("celery_status", "--timeout", "0.1", "--beat-max-age", "600", stdout=out)

    assert "beat: DOWN" in out.getvalue()
