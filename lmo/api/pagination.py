"""Cursor pagination for every list: stable under inserts, and no COUNT(*) per page."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

MAX_PAGE_SIZE = 100


class ApiCursorPagination(CursorPagination):
    """`?page_size=` up to 100; `next` and `previous` are opaque links."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError) as exc:
            # A hand-made cursor can carry a position the ordering field cannot hold.
            raise NotFound(self.invalid_cursor_message) from exc
