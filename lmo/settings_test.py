"""Test settings: only what makes the suite fast and deterministic differs from production."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("LMO_WEBHOOK_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
# Without a server: SQLite, and the broker on disk (tasks run eagerly; the cache is below).
os.environ.setdefault(
    "DATABASE_URL", f"sqlite:///{Path(__file__).resolve().parent.parent / 'db.sqlite3'}"
)
os.environ.setdefault("CACHE_URL", "locmemcache://")
os.environ.setdefault("CELERY_BROKER_URL", "filesystem://")

from .settings import *  # noqa: F403
from .settings import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Eager drains run inside the acceptance that asks for them: no other process to wait for.
# The tests of the interval set it themselves.
LMO_SUBSCRIBER_DRAIN_ASK_SECONDS = 0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The test client and the browser tests speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
TEST_OUTPUT_DIR = BASE_DIR / "var" / "test-output"
