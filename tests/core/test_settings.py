import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-real-secret",
    "DATABASE_URL": "postgres://lmo@db.example:5432/lmo",
    "CACHE_URL": "redis://cache.example:6379/1",
    "CELERY_BROKER_URL": "redis://cache.example:6379/0",
    "LMO_WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
REQUIRED = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "LMO_WEBHOOK_SECRETS")


def _import_settings(print_expr: str = "'ok'", **env: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in (*PRODUCTION, "DJANGO_SETTINGS_MODULE")},
        "DJANGO_SETTINGS_MODULE": "lmo.settings",
        # A developer's .env must not fill in what a test leaves out.
        "LMO_ENV_FILE": os.devnull,
        **env,
    }
    code = f"import django; django.setup(); from django.conf import settings; print({print_expr})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings__production_without_secret_key__fails_loudly():
    result = _import_settings(**{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_settings__production_with_every_setting__starts():
    result = _import_settings(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("name", REQUIRED)
def test_settings__production_without_a_required_setting__refuses_naming_it(name):
    # Given production settings with one service left out
    env = {key: value for key, value in PRODUCTION.items() if key != name}

    # When the app starts
    result = _import_settings(**env)

    # Then it stops, naming that setting and no other
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert name in message
    assert [other for other in REQUIRED if other != name and other in message] == []


def test_settings__production_without_any_service__names_each_missing_setting():
    result = _import_settings(DEBUG="0", SECRET_KEY="a-real-secret")

    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert all(name in message for name in REQUIRED), message


def test_settings__production__uses_what_it_was_given():
    result = _import_settings(
        "settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'], "
        "settings.CELERY_BROKER_URL",
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "core.cache.RedisCache",
        "redis://cache.example:6379/0",
    ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_connection__detects_a_vanished_server_within_a_minute():
    from django.db import connection

    connection.ensure_connection()
    parameters = connection.connection.get_dsn_parameters()
    # Probes after 30 s idle, every 10 s, 3 misses; unacknowledged writes give up at 60 s.
    assert parameters["keepalives_idle"] == "30"
    assert parameters["keepalives_count"] == "3"
    assert parameters["tcp_user_timeout"] == "60000"
