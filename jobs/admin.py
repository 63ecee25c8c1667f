"""Background jobs in the console, read-only: sweep runs, and the outbox's delivery state."""

from __future__ import annotations

from django.contrib import admin

from core.paginator import EstimatedCountPaginator

from .models import OutboxMessage, SweepRun


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


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    # The payload carries license details: the outbox page shows delivery state only.
    list_display = ("id", "topic", "status", "created_at", "relays", "attempts", "processed_at")
    list_filter = ("status", "topic")
    fields = (
        "topic",
        "status",
        "created_at",
        "relays",
        "attempts",
        "dispatched_at",
        "processed_at",
        "last_error",
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator
