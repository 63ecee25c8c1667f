"""The Celery application: workers and beat load their configuration from Django settings."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lmo.settings")

app = Celery("lmo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_connections(task=None, **kwargs) -> None:
    """Between tasks, as between requests: a connection past CONN_MAX_AGE, or one that
    failed (the server restarted, the session was killed), is closed and the next query
    opens a new one; a healthy one is kept (CELERY_DB_REUSE_MAX keeps Celery from closing
    it after every task). Not for a task run in place (eager): that one runs inside the
    caller's transaction."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections as close

    close()
