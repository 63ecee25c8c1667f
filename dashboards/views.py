"""The managers' dashboards in the console: thin views over dashboards.selectors."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib.admin import site as admin_site
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from packages.models import PackageVersion

from . import definitions as d
from . import selectors
from .filters import Scope, parse_scope
from .selectors import figures_json

DASHBOARD_PERMISSION = "licenses.view_dashboard"

PAGES = (
    ("overview", "Overview", 30),
    ("conversion", "Trial conversion", 365),
    ("churn", "Churn and retention", 365),
    ("versions", "Versions", 30),
    ("features", "Feature adoption", 30),
)
DEFAULT_PERIODS = {name: period for name, _, period in PAGES}
CSV_CHUNK = 2000


def dashboard_view(view: Callable) -> Callable:
    """Signed-in staff whose role may see dashboards (Managers, Partner Ops); anyone else
    gets the console's 403 page."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff or not request.user.has_perm(DASHBOARD_PERMISSION):
            context = {**admin_site.each_context(request), "title": "Dashboards"}
            return render(request, "dashboards/forbidden.html", context, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _page(
    request: HttpRequest, page: str, template: str, build: Callable[[Scope], dict[str, Any]]
) -> HttpResponse:
    scope, form = parse_scope(request.GET, default_period=DEFAULT_PERIODS[page])
    context: dict[str, Any] = {
        **admin_site.each_context(request),
        "title": dict((name, title) for name, title, _ in PAGES)[page],
        "page": page,
        "pages": [
            {"name": name, "title": title, "url": reverse(f"dashboards:{name}")}
            for name, title, _ in PAGES
        ],
        "form": form,
        "scope": scope,
        "definitions": d.DEFINITIONS,
        "org_scopes": d.ORG_SCOPES,
    }
    if scope is None:
        return render(request, template, context, status=400)
    context["query"] = urlencode(scope.params())
    context["org_scope_label"] = d.ORG_SCOPES[scope.org_scope]
    context["period_label"] = d.PERIODS.get(scope.period_days, f"Last {scope.period_days} days")
    context.update(build(scope))
    return render(request, template, context)


@dashboard_view
def overview(request: HttpRequest) -> HttpResponse:
    def build(scope: Scope) -> dict[str, Any]:
        data = selectors.overview(scope)
        return {"data": data, "chart": figures_json({"weeks": data.weeks})}

    return _page(request, "overview", "dashboards/overview.html", build)


@dashboard_view
def conversion(request: HttpRequest) -> HttpResponse:
    def build(scope: Scope) -> dict[str, Any]:
        data = selectors.trial_conversion(scope)
        return {"data": data, "chart": figures_json({"cohorts": data.cohorts})}

    return _page(request, "conversion", "dashboards/conversion.html", build)


@dashboard_view
def churn(request: HttpRequest) -> HttpResponse:
    def build(scope: Scope) -> dict[str, Any]:
        data = selectors.churn(scope)
        return {"data": data, "chart": figures_json({"months": data.months})}

    return _page(request, "churn", "dashboards/churn.html", build)


def _chosen_version(request: HttpRequest, scope: Scope) -> PackageVersion | None:
    raw = request.GET.get("older_than", "")
    if not raw.isdigit():
        return None
    versions = PackageVersion.objects.select_related("package")
    if scope.package is not None:
        versions = versions.filter(package=scope.package)
    return versions.filter(pk=int(raw)).first()


@dashboard_view
def versions(request: HttpRequest) -> HttpResponse:
    def build(scope: Scope) -> dict[str, Any]:
        data = selectors.versions(scope)
        chosen = _chosen_version(request, scope)
        older: dict[str, Any] | None = None
        if chosen is not None:
            licenses = selectors.licenses_on_older_versions(scope, chosen)
            older = {
                "version": chosen,
                "rows": list(licenses[: selectors.OLDER_VERSION_ROWS]),
                "url": selectors.older_versions_url(scope, chosen),
                "csv": reverse("dashboards:versions-csv")
                + "?"
                + urlencode({**scope.params(), "older_than": chosen.pk}),
            }
        chart = [
            {
                "package": row["package"].name,
                "versions": [
                    {"label": v["version_number"], "value": v["figure"].value}
                    for v in reversed(row["versions"])
                ],
            }
            for row in data.packages
        ]
        return {"data": data, "older": older, "chart": chart}

    return _page(request, "versions", "dashboards/versions.html", build)


class _Echo:
    def write(self, value: str) -> str:
        return value


@dashboard_view
def versions_csv(request: HttpRequest) -> HttpResponse:
    """The orgs on a version older than the chosen one, as CSV (streamed)."""
    scope, _form = parse_scope(request.GET, default_period=DEFAULT_PERIODS["versions"])
    chosen = _chosen_version(request, scope) if scope is not None else None
    if scope is None or chosen is None:
        return HttpResponse(
            "Choose a version (older_than=<version id>) and valid filters.",
            status=400,
            content_type="text/plain",
        )
    writer = csv.writer(_Echo())
    licenses = selectors.licenses_on_older_versions(scope, chosen)

    def rows() -> Iterator[str]:
        yield writer.writerow(
            [
                "license",
                "org_id",
                "org_name",
                "org_type",
                "status",
                "version",
                "account",
                "installed_at",
            ]
        )
        for license in licenses.iterator(chunk_size=CSV_CHUNK):
            yield writer.writerow(
                [
                    license.name,
                    license.org_id,
                    license.org_name,
                    license.org_type,
                    license.status,
                    license.version.version_number if license.version_id else "",
                    license.account.name if license.account_id else "",
                    license.installed_at.isoformat(),
                ]
            )

    name = f"{chosen.package.namespace}-older-than-{chosen.version_number}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@dashboard_view
def features(request: HttpRequest) -> HttpResponse:
    def build(scope: Scope) -> dict[str, Any]:
        data = selectors.feature_adoption(scope)
        chart = [
            {"label": f"{row['package']} · {row['label']}", "value": row["share_on"]}
            for row in data.switches
        ]
        return {"data": data, "chart": chart}

    return _page(request, "features", "dashboards/features.html", build)


@dashboard_view
def help_page(request: HttpRequest) -> HttpResponse:
    context = {
        **admin_site.each_context(request),
        "title": "What the dashboards' figures mean",
        "page": "help",
        "pages": [
            {"name": name, "title": title, "url": reverse(f"dashboards:{name}")}
            for name, title, _ in PAGES
        ],
        "definitions": d.DEFINITIONS,
        "periods": d.PERIODS,
        "org_scopes": d.ORG_SCOPES,
    }
    return render(request, "dashboards/help.html", context)
