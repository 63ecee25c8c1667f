"""The subscriber event inbox in the console: read-only, searchable by org id and event id,
with each event's status and age, and a replay of failed or unrouted events."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import TextField
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from core.paginator import EstimatedCountPaginator
from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, try_normalize

from .choices import REPLAYABLE
from .models import SubscriberEvent
from .services import subscriber_events_replay_pks

# Payloads are shown indented up to this depth; deeper ones (the webhook refuses them now,
# older rows may hold them) are shown as stored, so rendering never recurses without end.
PAYLOAD_DISPLAY_DEPTH = 32
PAYLOAD_DISPLAY_CHARS = 20_000


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def payload_display_text(raw: str | None) -> str:
    """A stored payload as text for the console: indented when it is reasonably shaped."""
    if raw is None:
        return ""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if value is not None and _depth(value) <= PAYLOAD_DISPLAY_DEPTH:
        text = json.dumps(value, indent=2, ensure_ascii=False)
    else:
        text = raw
    if len(text) > PAYLOAD_DISPLAY_CHARS:
        text = text[:PAYLOAD_DISPLAY_CHARS] + "\n... (cut)"
    return text


class PackageIdFilter(admin.SimpleListFilter):
    """Lets the package page link to its unrouted events (package_id is not a foreign key)."""

    title = "package id"
    parameter_name = "package_id"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                package_id=try_normalize(self.value(), prefix=PACKAGE_PREFIX) or self.value()
            )
        return queryset


@admin.register(SubscriberEvent)
class SubscriberEventAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "event_id",
        "type",
        "package_id",
        "org_id",
        "outcome_badge",
        "age",
        "license_link",
        "error",
    )
    list_filter = ("outcome", "type", PackageIdFilter)
    list_select_related = ("license",)
    search_fields = ("event_id",)
    search_help_text = "Event id, or org id (15 or 18 characters)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "event_id",
        "type",
        "occurred_at",
        "received_at",
        "package_id",
        "org_id",
        "outcome",
        "age",
        "processed_at",
        "license_link",
        "error",
        "replayed_at",
        "payload_text",
    )
    fields = readonly_fields
    actions = ["replay_events"]

    def get_queryset(self, request):
        # The payload is read as text: a stored body nested too deep for the JSON decoder
        # must still open in the console.
        return (
            super()
            .get_queryset(request)
            .defer("payload")
            .annotate(payload_raw=Cast("payload", TextField()))
        )

    @admin.display(description="Payload")
    def payload_text(self, obj: SubscriberEvent) -> str:
        return format_html(
            '<pre class="lmo-payload">{}</pre>', payload_display_text(obj.payload_raw)
        )

    @admin.display(description="Age")
    def age(self, obj: SubscriberEvent) -> str:
        """How long it has waited (queued) or how long it took to be applied."""
        if obj.processed_at is None:
            return f"queued {timesince(obj.received_at, timezone.now())}"
        took = (obj.processed_at - obj.received_at).total_seconds()
        return f"{obj.get_outcome_display().lower()} after {max(took, 0):.1f} s"

    @admin.action(description="Replay selected failed or unrouted events", permissions=["replay"])
    def replay_events(self, request, queryset):
        pks = list(queryset.filter(outcome__in=REPLAYABLE).values_list("pk", flat=True))
        if not pks:
            messages.warning(request, "Only failed or unrouted events can be replayed.")
            return None
        result = subscriber_events_replay_pks(event_pks=pks)
        messages.success(request, str(result))
        return None

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("subscribers.change_subscriberevent")

    @admin.display(description="Status")
    def outcome_badge(self, obj: SubscriberEvent) -> str:
        return format_html(
            '<span class="lmo-badge lmo-badge--{}">{}</span>',
            obj.outcome,
            obj.get_outcome_display(),
        )

    @admin.display(description="License")
    def license_link(self, obj: SubscriberEvent) -> str:
        if not obj.license_id:
            return "-"
        url = reverse("admin:licenses_license_change", args=[obj.license_id])
        return format_html('<a href="{}">{}</a>', url, obj.license.name)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        org_id = try_normalize(term, prefix=ORG_PREFIX)
        if org_id:
            return queryset.filter(org_id=org_id), False
        return queryset.filter(event_id=term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The inbox is a record of what arrived: it changes only by a replay (an action).
        return False

    def has_delete_permission(self, request, obj=None):
        return False
