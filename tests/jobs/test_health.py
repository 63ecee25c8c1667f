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


@pytest.fixture
def staff_client(client, ops_user):
    client.force_login(ops_user)
    return client


def test_healthz__all_up__200_with_database_broker_and_last_sweep(staff_client, pkg):
    # Given one due trial, swept
    make_license(
        package=pkg,
        installed_at=timezone.now() - dt.timedelta(days=40),
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    result = licenses_expire_due(now=timezone.now())

    # When the health endpoint is asked
    response = staff_client.get("/healthz")

    # Then it answers 200 with each part's state and the last sweep's numbers
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is True
    assert body["last_sweep"]["expired"] == 1
    assert body["last_sweep"]["finished_at"] is not None
    assert result.count == 1
    assert set(body["outbox"]) == {
        "pending",
        "oldest_pending_at",
        "failed",
        "stuck",
        "oldest_stuck_at",
        "oldest_stuck_age_seconds",
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz__never_swept__last_sweep_null(staff_client):
    body = staff_client.get("/healthz").json()

    assert body["last_sweep"] is None


def test_healthz__database_down__503(staff_client, monkeypatch):
    # Given the database does not answer
    def down():
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "check_database", down)

    # When the health endpoint is asked
    response = staff_client.get("/healthz")

    # Then it answers 503 and says why, without trying to read the sweep record
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is False
    assert "Connection refused" in body["database"]["error"]
    assert "last_sweep" not in body


def test_healthz__broker_unreachable__200_degraded(staff_client, unreachable_broker):
    response = staff_client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"]["ok"] is False
    assert body["broker"]["transport"] == "redis"


def test_healthz__anonymous__only_the_status(client, unreachable_broker):
    # Given the broker is down (its address would appear in the details)
    # When an anonymous caller asks
    response = client.get("/healthz")

    # Then it learns the overall status and nothing else
    assert response.status_code == 200
    assert response.json() == {"status": "degraded"}
    assert b"127.0.0.1" not in response.content


def test_healthz__anonymous_database_down__503_status_only_with_retry_after(client, monkeypatch):
    def down():
        raise OperationalError("could not connect to server at 10.1.2.3: Connection refused")

    monkeypatch.setattr(health, "check_database", down)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down"}
    assert response["Retry-After"]


def test_healthz__api_token_of_staff_user__details(client, ops_user):
    from staff.tokens import api_token_create

    _token, key = api_token_create(user=ops_user, expires_at=None)

    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {key}").json()

    assert body["database"] == {"ok": True}
    assert "outbox" in body


def test_healthz__bad_token__status_only(client):
    body = client.get("/healthz", HTTP_AUTHORIZATION="Token " + "0" * 64).json()

    assert set(body) == {"status"}


def test_any_view__database_unreachable__503_with_retry_after_in_the_error_shape(
    client, monkeypatch
):
    # Given a view whose query finds the database gone
    from jobs import views

    def unreachable():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "health_report", unreachable)

    # When it is asked
    response = client.get("/healthz")

    # Then the answer is a 503 to retry, not a 500
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json()["error"]["code"] == "service_unavailable"


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
