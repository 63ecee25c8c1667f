"""The Redis cache backend (core.cache) against a real Redis: what the license check relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.cache import RedisCache

CACHE_URL = os.environ.get("CACHE_URL", "")
ROOT = Path(__file__).resolve().parents[2]

needs_redis = pytest.mark.skipif(
    not CACHE_URL.startswith("redis"),
    reason="needs CACHE_URL=redis://... (.ci/run sets it)",
)


@pytest.fixture
def redis_cache():
    cache = RedisCache(CACHE_URL, {"KEY_PREFIX": "test-lmo-cache"})
    yield cache
    cache.clear()


@needs_redis
def test_redis_cache__set_get_many_delete(redis_cache):
    redis_cache.set("a", {"status": "active"}, 30)
    redis_cache.set("b", "no-license", 30)

    assert redis_cache.get_many(["a", "b", "c"]) == {"a": {"status": "active"}, "b": "no-license"}
    redis_cache.delete("a")
    assert redis_cache.get("a") is None
    assert redis_cache.get("b") == "no-license"


@needs_redis
def test_redis_cache__one_client_per_pool_reused(redis_cache):
    first = redis_cache._cache.get_client("a")
    redis_cache.get("a")

    assert redis_cache._cache.get_client("b", write=True) is first


@needs_redis
def test_redis_cache__each_thread_its_own_connection(redis_cache):
    # Given the client of this thread
    mine = redis_cache._cache.get_client("a")
    redis_cache.get("a")

    # When another thread asks for one
    theirs: list = []
    thread = threading.Thread(target=lambda: theirs.append(redis_cache._cache.get_client("a")))
    thread.start()
    thread.join()

    # Then it gets a client of its own, holding another connection of the same pool
    assert theirs[0] is not mine
    assert theirs[0].connection is not mine.connection
    assert theirs[0].connection_pool is mine.connection_pool


@needs_redis
def test_redis_cache__after_a_fork__new_client(redis_cache, monkeypatch):
    # Given a client made in this process
    first = redis_cache._cache.get_client("a")

    # When the process is a fork of it (another pid)
    import core.cache

    monkeypatch.setattr(core.cache.os, "getpid", lambda: -1)

    # Then a new client is made rather than the parent's socket shared
    assert redis_cache._cache.get_client("a") is not first


@needs_redis
def test_redis_cache__used_from_many_threads_at_once(redis_cache):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                redis_cache.set(f"t{n}-{i}", i, 30)
                assert redis_cache.get(f"t{n}-{i}") == i
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []


def test_settings__redis_cache_url__uses_the_reusing_backend():
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "lmo.settings",
            "SECRET_KEY": "x",
            "CACHE_URL": "redis://127.0.0.1:6379/9",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "core.cache.RedisCache", result.stderr
