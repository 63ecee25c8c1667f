"""The subscriber event inbox, read-only."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError

from lmo.api.filters import IdFilter
from lmo.api.schema import error_example
from lmo.api.views import StaffApiMixin
from lmo.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, try_normalize
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


def _salesforce_id_filter(prefix: str):
    def apply(queryset, name, value):
        normalized = try_normalize(value, prefix=prefix)
        if normalized is None:
            raise ValidationError(
                {name: [f"Not an id of this kind (15 or 18 characters starting {prefix})."]}
            )
        return queryset.filter(**{name: normalized})

    return apply


class SubscriberEventFilter(django_filters.FilterSet):
    org_id = django_filters.CharFilter(method=_salesforce_id_filter(ORG_PREFIX), max_length=18)
    package_id = django_filters.CharFilter(
        method=_salesforce_id_filter(PACKAGE_PREFIX), max_length=18
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
                "Bad org id",
                400,
                "invalid",
                "Invalid input: org_id.",
                {"org_id": ["Not an id of this kind (15 or 18 characters starting 00D)."]},
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
