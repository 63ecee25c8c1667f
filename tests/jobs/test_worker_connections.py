"""A worker keeps its database connection from one task to the next, as a web process keeps
it from one request to the next, and drops one that failed.

Celery's Django fixup otherwise closes every connection before and after each task: a new
PostgreSQL session (connect, authenticate, a backend process) for each of thousands of
one-email tasks after a burst of installs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from lmo.celery import app, close_old_connections

# SQLite's in-memory test database is never closed, so only PostgreSQL can tell.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _task(is_eager: bool = False) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(is_eager=is_eager))


def _between_tasks(fixup: DjangoWorkerFixup) -> None:
    """What a worker runs after one task and before the next."""
    task = _task()
    fixup.on_task_postrun(task)
    close_old_connections(task=task)
    fixup.on_task_prerun(task)
    close_old_connections(task=task)


def test_worker__consecutive_tasks__one_database_session():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    session = connection.connection

    for _ in range(3):
        _between_tasks(fixup)
        connection.ensure_connection()

    assert connection.connection is session


def test_worker__connection_failed__the_next_task_opens_a_new_one(monkeypatch):
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    session = connection.connection
    # The session was killed under the task: its query failed and the connection says so.
    connection.errors_occurred = True
    monkeypatch.setattr(connection, "is_usable", lambda: False)

    _between_tasks(fixup)
    monkeypatch.undo()
    connection.ensure_connection()

    assert connection.connection is not session
    assert connection.is_usable()
