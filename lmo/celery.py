"""The Celery application: workers and beat load their configuration from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lmo.settings")

app = Celery("lmo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
