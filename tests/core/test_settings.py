import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env: str) -> subprocess.CompletedProcess:
    # A local .env (make run) turns the simulated clock on; these start-ups decide it here.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lmo.settings",
        "LMO_SIMULATED_CLOCK": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings__production_without_secret_key__fails_loudly():
    result = _import_settings(DEBUG="0", SECRET_KEY="")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_settings__production_with_secret_key__starts():
    result = _import_settings(DEBUG="0", SECRET_KEY="a-real-secret")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
