"""How the app is deployed: secrets required, `check --deploy` clean, slow clients harmless."""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_PORT = 8132


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_", "DEBUG"))
    }
    # Production settings refuse to start without these; the suite may run without them.
    env.setdefault("DATABASE_URL", "sqlite:///var/deploy-check.sqlite3")
    env.setdefault("CACHE_URL", "locmemcache://")
    env.setdefault("CELERY_BROKER_URL", "filesystem://")
    env.update(
        DJANGO_SETTINGS_MODULE="lmo.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        LMO_WEBHOOK_SECRETS="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        LMO_ENV_FILE="/dev/null",
        **extra,
    )
    return env


@pytest.mark.parametrize("variable", ["SECRET_KEY", "LMO_WEBHOOK_SECRETS"])
def test_compose__secret_has_no_default__compose_refuses_to_start_without_it(variable):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    value = compose["x-app"]["environment"][variable]

    assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", value), value


def test_check_deploy__production_settings__no_warnings():
    # Given production settings: DEBUG off, a strong secret, nothing else overridden
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def test_gunicorn__three_slow_uploads__health_check_still_answers(tmp_path):
    # Given gunicorn started with the project's configuration (one worker, as small as it gets)
    env = _production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        GUNICORN_BIND=f"127.0.0.1:{GUNICORN_PORT}",
        GUNICORN_WORKERS="1",
        GUNICORN_ACCESS_LOG="",
        SECURE_SSL_REDIRECT="0",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "lmo.wsgi:application", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    slow: list[socket.socket] = []
    try:
        _wait_for_port(GUNICORN_PORT, time.monotonic() + 30)
        # When three clients announce 60,000 bytes and send only a few
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", GUNICORN_PORT))
            sock.sendall(
                # A form post: the CSRF check reads the whole body before any view runs.
                b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 60000\r\n\r\nusername="
            )
            slow.append(sock)
        time.sleep(0.5)

        # Then the health check is still answered while they trickle (this database has no
        # tables: 503 is the expected answer, a timeout is the failure)
        response = httpx.get(f"http://127.0.0.1:{GUNICORN_PORT}/healthz", timeout=10)
        assert response.status_code == 503
    finally:
        for sock in slow:
            sock.close()
        server.terminate()
        server.wait(timeout=30)
