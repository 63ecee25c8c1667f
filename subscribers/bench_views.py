"""Baselines for bench/bench_subscribers.py: the cheapest possible views in this same app.

They answer 404 unless the setting LMO_BENCH_VIEWS is on, so production never serves them.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import BaselineRow


def _enabled() -> None:
    if not getattr(settings, "LMO_BENCH_VIEWS", False):
        raise Http404("Benchmark views are off.")


@csrf_exempt
@require_http_methods(["POST"])
def baseline_insert(request: HttpRequest) -> JsonResponse:
    """Insert one row and answer: the floor for any view that writes."""
    _enabled()
    row = BaselineRow.objects.create(note="baseline")
    return JsonResponse({"id": row.pk})


@require_http_methods(["GET"])
def baseline_constant(request: HttpRequest) -> JsonResponse:
    """Answer a constant: the floor for any view that reads."""
    _enabled()
    return JsonResponse({"access": True, "code": "ACTIVE"})
