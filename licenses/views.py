"""The managers' dashboard: seats, conversion, version spread, lapsing trials, churn."""

from django.contrib.admin import site as admin_site
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from packages.models import Package

from .selectors import dashboard_get


@login_required
@permission_required("licenses.view_dashboard", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    packages = list(Package.objects.order_by("name"))
    selected = next((p for p in packages if str(p.pk) == request.GET.get("package")), None)
    data = dashboard_get(package=selected)
    peak = max([1, *(max(m["installs"], m["uninstalls"]) for m in data.monthly)])
    spread_peak = max([1, *(row["installs"] for row in data.version_spread)])
    context = {
        **admin_site.each_context(request),
        "title": "License dashboard",
        "dashboard": data,
        "packages": packages,
        "selected": selected,
        "peak": peak,
        "spread_peak": spread_peak,
    }
    return render(request, "dashboard/index.html", context)
