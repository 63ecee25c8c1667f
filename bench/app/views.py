"""The cheapest possible views, served in the same process as the product's endpoints."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import BaselineRow


@csrf_exempt
@require_http_methods(["POST"])
def baseline_insert(request: HttpRequest) -> JsonResponse:
    """Insert one row and answer: the floor for any view that writes."""
    row = BaselineRow.objects.create(note="baseline")
    return JsonResponse({"id": row.pk})


@require_http_methods(["GET"])
def baseline_constant(request: HttpRequest) -> JsonResponse:
    """Answer a constant: the floor for any view that reads."""
    return JsonResponse({"access": True, "code": "ACTIVE"})
