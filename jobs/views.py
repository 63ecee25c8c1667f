"""The health endpoint that load balancers, compose and operators poll."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import health_report


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the state of the database, broker, last sweep and outbox; 503 without a
    database (the broker being down is reported but does not fail the check)."""
    database_ok, report = health_report()
    return JsonResponse(report, status=200 if database_ok else 503)
