"""The default set-up, as `make run` starts it: SQLite, the on-disk broker, the web process
and a real Celery worker, under eight concurrent senders: no 5xx, nothing lost.

Every process runs from this checkout against files in a temporary folder (its own SQLite
database, broker folders and cache), so it shares nothing with the test database.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import WEBHOOK_URL

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

pytestmark = [pytest.mark.celery_worker]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def default_setup(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="lmo.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LMO_BROKER_DIR=str(tmp_path / "broker"),
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
        SECRET_KEY="default-setup-test-key",
        LMO_WEBHOOK_SECRETS=SECRET,
        CELERY_TASK_ALWAYS_EAGER="0",
        DEBUG="1",
        LOG_LEVEL="WARNING",
    )
    migrated = _manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    created = _manage(
        env,
        "shell",
        "-c",
        "from tests.factories import PackageFactory; PackageFactory(namespace='fsp')",
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = []
    try:
        with (logs / "web.log").open("w") as log:
            web = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append(web)
        with (logs / "worker.log").open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "lmo", "worker", "--concurrency", "1",
                 "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append(worker)
        _wait_for(f"http://127.0.0.1:{port}{WEBHOOK_URL}", web)
        yield env, f"http://127.0.0.1:{port}", logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_default_setup__eight_concurrent_senders__no_5xx_nothing_lost(default_setup):
    env, url, logs = default_setup

    # When eight senders deliver a simulated population's events at once
    run = _manage(
        env,
        "simulate_subscribers",
        "--url", url, "--orgs", "100", "--months", "3", "--seed", "21",
        "--concurrency", "8", "--retry-scale", "0.01", "--settle-timeout", "40",
        "--no-progress",
        timeout=150,
    )  # fmt: skip

    # Then every event was stored and applied by the worker: no 5xx, none lost or stuck
    report = run.stdout + run.stderr
    assert run.returncode == 0, report + (logs / "worker.log").read_text()[-3000:]
    assert "0 5xx" in report, report
    assert "lost 0, still queued 0" in report, report
