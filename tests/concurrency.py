"""Run one callable in several threads at the same moment, for PostgreSQL race tests."""

import threading
from collections.abc import Callable

from django.db import connection


def race(target: Callable[[], object], count: int = 2, *, timeout: float = 60) -> list[object]:
    """Start `count` threads together; return what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            outcome = target()
        except Exception as exc:  # the test asserts on what each thread saw
            outcome = exc
        finally:
            # Each thread has its own connection; close it so the test database can be dropped.
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
