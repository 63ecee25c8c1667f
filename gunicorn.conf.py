"""Gunicorn settings for the web process (read from the working directory by default).

Threaded workers (gthread): a connection whose client trickles its body holds one thread,
not a whole worker, so a few slow clients cannot starve the app; requests that take too long
are bounded by `timeout`. In docker compose a buffering nginx in front also reads every body
completely (with its own read timeouts) before gunicorn sees the request.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A worker silent this long (stuck) is replaced; a graceful restart gets this long to finish.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Idle keep-alive connections are closed quickly so they do not hold a thread's slot.
keepalive = 5
# The app is imported once, in the master: a worker (new, or replacing one below) is a fork
# that serves at once instead of importing Django again, and the workers share those pages.
# Nothing opens a connection at import; each worker opens its own on first use. New code
# needs a restart of gunicorn (a HUP re-forks workers from the code already loaded).
preload_app = True
# Replace workers now and then, so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# Bounded header sizes and counts (gunicorn's defaults, stated here on purpose).
limit_request_line = 4094
limit_request_fields = 100
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
