"""A paginator for very large admin lists: no COUNT(*) over a whole big table per page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


def estimated_row_count(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the queryset's table (PostgreSQL), None if unknown."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # reltuples is -1 (PostgreSQL 14+) or 0 until the table was first analysed.
    return int(row[0]) if row and row[0] > 0 else None


class EstimatedCountPaginator(Paginator):
    """Exact counts for filtered lists; the planner's estimate for a big, unfiltered table.

    An exact count of a million rows costs a sequential scan on every page load; the
    estimate is kept current by autovacuum and is plenty to page through "about 1,000,000".
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet) and not object_list.query.where:
            estimate = estimated_row_count(object_list)
            if estimate is not None and estimate > self.estimate_above:
                return estimate
        return super().count
