"""A paginator for very large admin lists: no COUNT(*) over a whole big table per page."""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
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


def planned_row_count(queryset: QuerySet) -> int | None:
    """How many rows PostgreSQL's planner expects the filtered queryset to return."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; the planner's estimate when there are very many.

    An exact count of hundreds of thousands of rows costs a scan on every page load. Past
    `estimate_above` rows nobody pages to the end, and "about 166,000" is what they need:
    the unfiltered table uses pg_class.reltuples (kept current by autovacuum), a filtered
    list the planner's estimate for its WHERE clause. Below that, the count is exact.
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet):
            if object_list.query.where:
                estimate = planned_row_count(object_list)
            else:
                estimate = estimated_row_count(object_list)
            if estimate is not None and estimate > self.estimate_above:
                return estimate
        return super().count
