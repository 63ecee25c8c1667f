"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.exceptions import DomainError

logger = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
}


# The database is away (restart, failover, network) or refused this transaction for now
# (deadlock, lock or statement timeout): the request was right, and sent again it succeeds.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
# Seconds a client should wait before retrying: about how long a failover takes.
DATABASE_RETRY_AFTER_SECONDS = 10


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(
    status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> Response:
    return Response(error_body(code, message, fields), status=status_code)


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def database_unavailable_response() -> Response:
    """503 with Retry-After: nothing was written (the transaction rolled back), and what the
    driver said (hosts, ports) stays in the log."""
    response = error_response(
        503, "service_unavailable", "The database is unavailable; retry shortly."
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("API request met an unavailable database: %s", exc)
        return database_unavailable_response()
    if isinstance(exc, DomainError):
        return error_response(exc.http_status, exc.code, exc.message)
    if isinstance(exc, DjangoValidationError):
        fields = django_validation_fields(exc)
        message = "; ".join(m for messages in fields.values() for m in messages)
        return error_response(400, "invalid", message or "Invalid input.", fields)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return error_response(500, "server_error", "The server could not complete the request.")

    status_code = response.status_code
    code = _CODES_BY_STATUS.get(status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        message = "Invalid input: " + ", ".join(sorted(fields)) + "."
    else:
        detail = getattr(exc, "detail", "")
        fields = {}
        message = str(detail) if detail else response.reason_phrase or "Error."
        if isinstance(exc, exceptions.APIException):
            codes = exc.get_codes()
            if isinstance(codes, str):
                code = codes
    body = error_body(code, message, fields)
    headers = {
        k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    return Response(body, status=status_code, headers=headers or None)


__all__ = ["api_exception_handler", "error_body", "error_response", "status"]
