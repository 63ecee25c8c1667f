"""403 and 404 pages inside the console's frame (header, sidebar, a way home); JSON under /api/."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from core.api.exceptions import error_body
from staff.roles import GROUP_NAMES


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _role_names(request: HttpRequest) -> list[str]:
    user = request.user
    if not user.is_authenticated:
        return []
    return sorted(user.groups.filter(name__in=GROUP_NAMES.values()).values_list("name", flat=True))


def _render(request: HttpRequest, template: str, title: str, status: int) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        # Someone not signed in to the console gets the frame without its navigation.
        "is_nav_sidebar_enabled": admin.site.has_permission(request),
        "title": title,
        "role_names": _role_names(request),
    }
    response = TemplateResponse(request, template, context, status=status)
    return response.render()


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("permission_denied", "You do not have permission to do this."), status=403
        )
    return _render(request, "403.html", "You may not open this page", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("not_found", f"No API endpoint at {request.path}."), status=404
        )
    return _render(request, "404.html", "Page not found", 404)
