"""The license list's paginator: exact when small, the planner's estimate when huge."""

import pytest
from django.db import connection

from core.paginator import EstimatedCountPaginator
from licenses.models import License
from tests.factories import make_license


@pytest.fixture
def three_licenses(db):
    return [make_license(org_name=f"Org {n}") for n in range(3)]


def test_paginator__small_table__counts_exactly(three_licenses):
    paginator = EstimatedCountPaginator(License.objects.order_by("-id"), 2)
    assert (paginator.count, paginator.num_pages) == (3, 2)


def test_paginator__filtered_small_result__counts_exactly(three_licenses):
    queryset = License.objects.filter(org_name="Org 1").order_by("-id")
    assert EstimatedCountPaginator(queryset, 2).count == 1


def test_paginator__empty_queryset__counts_zero(three_licenses):
    assert EstimatedCountPaginator(License.objects.none(), 2).count == 0


@pytest.mark.postgres
def test_paginator__huge_estimates__are_used_instead_of_count(
    three_licenses, django_assert_num_queries
):
    # Given a planner that believes the table is huge (statistics say so)
    paginator = EstimatedCountPaginator(License.objects.order_by("-id"), 50)
    paginator.estimate_above = 0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE licenses_license")

    # When the list is counted, unfiltered and filtered
    with django_assert_num_queries(1) as captured:
        unfiltered = paginator.count
    filtered = EstimatedCountPaginator(License.objects.filter(status="trial").order_by("-id"), 50)
    filtered.estimate_above = 0
    with django_assert_num_queries(1) as captured_filtered:
        filtered_count = filtered.count

    # Then no COUNT(*) ran: the estimates came from pg_class and EXPLAIN
    assert "reltuples" in captured.captured_queries[0]["sql"]
    assert captured_filtered.captured_queries[0]["sql"].startswith("EXPLAIN")
    assert unfiltered >= 1 and filtered_count >= 1
