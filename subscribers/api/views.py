"""The subscriber event inbox, read-only."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import viewsets

from core.api.filters import IdFilter, salesforce_id_filter
from core.api.schema import error_example
from core.api.views import StaffApiMixin
from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX
from subscribers.choices import EventType, Outcome
from subscribers.models import SubscriberEvent

from .serializers import SubscriberEventSerializer

EVENT_EXAMPLE = {
    "id": 3051,
    "event_id": "msg_2p9cQkE7o1",
    "type": "package.installed",
    "occurred_at": "2026-11-28T10:15:00Z",
    "received_at": "2026-11-28T10:15:01Z",
    "package_id": "0330X000000AbCdQAK",
    "org_id": "00D5g000004SbcdEAC",
    "payload": {"type": "package.installed", "data": {"org_id": "00D5g000004SbcdEAC"}},
    "outcome": "applied",
    "error": "",
    "license": 42,
    "replayed_at": None,
}


class SubscriberEventFilter(django_filters.FilterSet):
    org_id = django_filters.CharFilter(method=salesforce_id_filter(ORG_PREFIX), max_length=18)
    package_id = django_filters.CharFilter(
        method=salesforce_id_filter(PACKAGE_PREFIX), max_length=18
    )
    event_id = django_filters.CharFilter(max_length=255)
    outcome = django_filters.MultipleChoiceFilter(choices=Outcome.choices)
    type = django_filters.ChoiceFilter(choices=EventType.choices)
    license = IdFilter(field_name="license_id")

    class Meta:
        model = SubscriberEvent
        fields = ("org_id", "package_id", "event_id", "outcome", "type", "license")


@extend_schema_view(
    list=extend_schema(
        summary="The webhook inbox",
        description="Every accepted subscriber event, newest first, with its outcome.",
        examples=[
            OpenApiExample(
                "Events", value={"next": None, "previous": None, "results": [EVENT_EXAMPLE]}
            ),
            error_example(
                "Bad outcome",
                400,
                "invalid",
                "Invalid input: outcome.",
                {"outcome": ["Select a valid choice. done is not one of the available choices."]},
            ),
        ],
    ),
    retrieve=extend_schema(
        summary="One subscriber event", examples=[OpenApiExample("Event", value=EVENT_EXAMPLE)]
    ),
)
class SubscriberEventViewSet(StaffApiMixin, viewsets.ReadOnlyModelViewSet):
    """Accepted webhook deliveries: what arrived, when, and what it did."""

    queryset = SubscriberEvent.objects.all()
    serializer_class = SubscriberEventSerializer
    filterset_class = SubscriberEventFilter
    ordering_fields = ("id", "received_at", "occurred_at")
    ordering = ("-id",)
