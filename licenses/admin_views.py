"""The org-centric Subscribers page: everything about one subscriber org on one screen."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views import View

from core.salesforce_ids import ORG_PREFIX, try_normalize
from leads.models import Account, Lead

from .models import License, LicenseEvent

MAX_ORGS_LISTED = 50
RECENT_EVENTS = 25


def orgs_matching(term: str) -> list[dict[str, Any]]:
    """Orgs whose name contains the term: one row per org, newest install first."""
    return list(
        License.objects.filter(org_name__icontains=term)
        .values("org_id", "org_name", "is_sandbox")
        .annotate(last_installed=Max("installed_at"))
        .order_by("-last_installed")[:MAX_ORGS_LISTED]
    )


def org_overview(org_id: str, *, with_inbox: bool) -> dict[str, Any] | None:
    """What support needs about one org: its details, licenses, account, leads, events."""
    licenses = list(
        License.objects.filter(org_id=org_id)
        .select_related("package", "version", "account", "lead")
        .order_by("package__name", "-installed_at")
    )
    if not licenses:
        return None
    newest = max(licenses, key=lambda lic: lic.installed_at)
    account_ids = {lic.account_id for lic in licenses if lic.account_id}
    lead_filter = Q(org_id=org_id) | Q(pk__in=[lic.lead_id for lic in licenses if lic.lead_id])
    overview: dict[str, Any] = {
        "org_id": org_id,
        "org_name": newest.org_name,
        "edition": newest.org_edition,
        "instance": newest.org_instance,
        "is_sandbox": newest.is_sandbox,
        "parent_org_id": newest.parent_org_id,
        "parent_name": License.objects.filter(org_id=newest.parent_org_id)
        .values_list("org_name", flat=True)
        .first()
        if newest.parent_org_id
        else None,
        "sandboxes": list(
            License.objects.filter(parent_org_id=org_id)
            .values("org_id", "org_name")
            .distinct()
            .order_by("org_id")[:MAX_ORGS_LISTED]
        ),
        "licenses": licenses,
        "accounts": list(Account.objects.filter(pk__in=account_ids).order_by("name")),
        "leads": list(
            Lead.objects.filter(lead_filter).select_related("package").order_by("-created_at")[:50]
        ),
        "events": list(
            LicenseEvent.objects.filter(license__org_id=org_id)
            .select_related("license__package")
            .order_by("-at", "-id")[:RECENT_EVENTS]
        ),
        "inbox": None,
    }
    if with_inbox:
        from subscribers.models import SubscriberEvent

        overview["inbox"] = list(
            SubscriberEvent.objects.filter(org_id=org_id).order_by("-received_at", "-id")[
                :RECENT_EVENTS
            ]
        )
    return overview


class SubscribersView(View):
    """Search by org name or org id (15 or 18 characters) and see that org whole."""

    model_admin: ModelAdmin | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        admin = self.model_admin
        if not admin.has_view_permission(request):
            raise PermissionDenied
        term = (request.GET.get("q") or "").strip()
        org_param = (request.GET.get("org") or "").strip()
        org_id = try_normalize(org_param or term, prefix=ORG_PREFIX)
        matches: list[dict[str, Any]] = []
        overview = None
        if org_id:
            overview = org_overview(
                org_id, with_inbox=request.user.has_perm("subscribers.view_subscriberevent")
            )
        elif term:
            matches = orgs_matching(term)
            if len(matches) == 1:
                overview = org_overview(
                    matches[0]["org_id"],
                    with_inbox=request.user.has_perm("subscribers.view_subscriberevent"),
                )
        context = {
            **admin.admin_site.each_context(request),
            "opts": admin.model._meta,
            "title": overview["org_name"] or overview["org_id"] if overview else "Subscribers",
            "q": term,
            "searched": bool(term or org_param),
            "matches": matches,
            "org": overview,
        }
        return TemplateResponse(request, "console/subscribers.html", context)
