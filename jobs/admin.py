"""Background jobs in the console, read-only: sweep runs, and the outbox's delivery state."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince

from core.paginator import EstimatedCountPaginator

from .choices import OutboxStatus
from .models import OutboxMessage, SweepRun
from .outbox import stuck_filter


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what the workers did: nobody edits it by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "started_at", "finished_at", "count", "batches", "dry_run")
    list_filter = ("job", "dry_run")


class StuckFilter(admin.SimpleListFilter):
    """Messages handed to a worker minutes ago, not done, that no living worker holds: the
    relay job sends them again; many, or old ones, mean workers are dying or the broker
    is losing messages."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", "Stuck (the relay resends them)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(stuck_filter(timezone.now()))
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    # The payload carries license details: the outbox page shows delivery state only.
    list_display = (
        "id",
        "topic",
        "status",
        "created_at",
        "age",
        "relays",
        "attempts",
        "processed_at",
    )
    list_filter = (StuckFilter, "status", "topic")
    fields = (
        "topic",
        "status",
        "created_at",
        "relays",
        "attempts",
        "dispatched_at",
        "lease_until",
        "processed_at",
        "last_error",
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="waiting for")
    def age(self, obj: OutboxMessage) -> str:
        """How long a message not done yet has waited since it was written."""
        if obj.status in (OutboxStatus.DONE, OutboxStatus.FAILED):
            return "-"
        return timesince(obj.created_at, timezone.now())

    def changelist_view(self, request, extra_context=None):
        stuck = OutboxMessage.objects.filter(stuck_filter(timezone.now()))
        oldest = stuck.order_by("dispatched_at").values_list("dispatched_at", flat=True).first()
        if oldest is not None:
            self.message_user(
                request,
                f"Stuck messages (handed over, not done, held by no worker): the oldest since "
                f"{timesince(oldest, timezone.now())} ago. The relay job sends them again.",
                level="warning",
            )
        return super().changelist_view(request, extra_context)
