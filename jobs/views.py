"""The health endpoint that load balancers, compose and operators poll."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .health import health_report

# A load balancer needs no more than this; the rest would tell a stranger where the broker
# lives and what the database said.
ANONYMOUS_FIELDS = ("status",)


def _caller_is_staff(request: HttpRequest) -> bool:
    """A signed-in staff user (session), or an API token of an active staff user."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    if "HTTP_AUTHORIZATION" not in request.META:
        return False
    drf_request = Request(request)
    for authentication in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            found = authentication().authenticate(drf_request)
        except AuthenticationFailed:
            return False
        if found is not None:
            return bool(found[0].is_staff)
    return False


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 (or 503 without a database) with the overall status. Staff (a session or a token)
    also get the state of the database, broker, last sweep and outbox."""
    database_ok, report = health_report()
    try:
        staff = _caller_is_staff(request)
    except DatabaseError:  # sessions and tokens live in the database that is down
        staff = False
    if not staff:
        report = {key: report[key] for key in ANONYMOUS_FIELDS}
    response = JsonResponse(report, status=200 if database_ok else 503)
    if not database_ok:
        response["Retry-After"] = "10"
    return response
