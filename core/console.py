"""What every console page built on the Django admin shares.

One pattern for an action that needs a confirmation or some input before it runs: the
ModelAdmin mixes in IntermediateActionMixin; its action returns `self.confirm_page(...)`
until the form comes back with `apply`, then does the work and returns `self.back(...)`.
Every such page renders templates/console/confirm.html. A page that is not an action is a
view in `<app>/console.py`, routed from its ModelAdmin's get_urls, with its template in
templates/console/.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

CONFIRM_TEMPLATE = "console/confirm.html"
MAX_LISTED_OBJECTS = 50


def truncated(value: str) -> str:
    """A long value cut to its list column (CSS), whole on hover and on its own page."""
    return format_html('<span class="lmo-trunc" title="{}">{}</span>', value, value)


def safe_next_url(request: HttpRequest) -> str:
    """The `next` the form carries, if it is a page of this site; else empty."""
    next_url = request.POST.get("next", "") or request.GET.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return ""


class IntermediateActionMixin:
    """ModelAdmin actions that ask before they run, all on one confirm template."""

    def wants_apply(self, request: HttpRequest) -> bool:
        """Has the confirm page come back (rather than the list's first post)?"""
        return "apply" in request.POST

    def confirm_page(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        action: str,
        title: str,
        form: forms.Form | None = None,
        intro: str = "",
        submit_label: str = "",
        objects: Iterable[Any] | None = None,
        preview_template: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> TemplateResponse:
        """The page that asks: what will be changed, the form, and apply or cancel."""
        select_across = request.POST.get("select_across") in ("1", "True", "true")
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        next_url = safe_next_url(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "intro": intro,
            "form": form if form is not None else forms.Form(),
            "form_id": "intermediate-action-form",
            "action_name": action,
            "selected": selected,
            "select_across": select_across,
            "objects": list(objects if objects is not None else queryset[:MAX_LISTED_OBJECTS]),
            "preview_template": preview_template,
            "submit_label": submit_label or title,
            "next": next_url,
            "cancel_url": next_url or request.get_full_path(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    def back(self, request: HttpRequest) -> HttpResponseRedirect | None:
        """Where an applied action returns: the page it came from, or the list."""
        next_url = safe_next_url(request)
        return HttpResponseRedirect(next_url) if next_url else None
