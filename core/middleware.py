"""Answers for requests that meet a database which is away (restart, failover, network)."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse

from core.api.exceptions import error_body

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying: about how long a failover takes.
RETRY_AFTER_SECONDS = 10


class DatabaseUnavailableMiddleware:
    """A request that fails because the database cannot be reached answers 503 with
    `Retry-After` in the API's error shape, not 500: nothing was written, and the same
    request may be sent again. The next request reconnects (CONN_HEALTH_CHECKS), so the
    app recovers without a restart."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("Database unavailable (%s %s): %s", request.method, request.path, exception)
        body = error_body("service_unavailable", "The database is unavailable; retry shortly.")
        response = JsonResponse(body, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
