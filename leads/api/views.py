"""Leads (read, create, edit contact details, convert) and customer accounts."""

from __future__ import annotations

import django_filters
from django.db.models import Count
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.filters import IdFilter, UtcIsoDateTimeFilter, salesforce_id_filter
from core.api.schema import error_example, error_response
from core.api.views import StaffApiMixin
from core.salesforce_ids import ORG_PREFIX
from leads.choices import LeadStatus
from leads.models import Account, Lead
from leads.services import lead_convert

from .serializers import (
    AccountSerializer,
    LeadConvertResultSerializer,
    LeadConvertSerializer,
    LeadSerializer,
)

ACCOUNT_EXAMPLE = {
    "id": 12,
    "name": "Globex Corporation",
    "website": "https://globex.example",
    "owner": 3,
    "license_count": 2,
    "created_at": "2026-11-03T08:00:00Z",
    "updated_at": "2026-11-03T08:00:00Z",
}
LEAD_EXAMPLE = {
    "id": 40,
    "first_name": "Ada",
    "last_name": "Byron",
    "email": "ada@globex.example",
    "phone": "+1 555 0100",
    "company": "Globex",
    "org_id": "00D5g000004SbcdEAC",
    "package": 1,
    "lead_source": "Package Installation",
    "status": "open",
    "owner": 3,
    "converted_account": None,
    "converted_at": None,
    "merged_into": None,
    "created_at": "2026-11-02T16:20:00Z",
    "updated_at": "2026-11-02T16:20:00Z",
}


def _page(item):
    return {"next": None, "previous": None, "results": [item]}


class LeadFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    org_id = django_filters.CharFilter(method=salesforce_id_filter(ORG_PREFIX))
    package = IdFilter(field_name="package_id")
    email = django_filters.CharFilter(lookup_expr="iexact")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Lead
        fields = ("status", "org_id", "package", "email", "created_after")


class AccountFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    owner = IdFilter(field_name="owner_id")

    class Meta:
        model = Account
        fields = ("name", "owner")


@extend_schema_view(
    list=extend_schema(
        summary="List customer accounts",
        examples=[OpenApiExample("Accounts", value=_page(ACCOUNT_EXAMPLE))],
    ),
    retrieve=extend_schema(
        summary="One account", examples=[OpenApiExample("Account", value=ACCOUNT_EXAMPLE)]
    ),
    create=extend_schema(
        summary="Create an account",
        examples=[
            OpenApiExample(
                "New account",
                value={"name": "Globex Corporation", "website": "https://globex.example"},
                request_only=True,
            ),
            OpenApiExample("Created", value=ACCOUNT_EXAMPLE, response_only=True),
            error_example(
                "Name missing",
                400,
                "invalid",
                "Invalid input: name.",
                {"name": ["This field is required."]},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Rename an account or change its owner",
        examples=[
            OpenApiExample("New owner", value={"owner": 3}, request_only=True),
            OpenApiExample("Updated", value=ACCOUNT_EXAMPLE, response_only=True),
        ],
    ),
)
class AccountViewSet(
    StaffApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customer accounts; licenses are assigned to them through lead conversion."""

    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    ordering_fields = ("id", "name", "created_at")
    ordering = ("-id",)
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Account.objects.annotate(license_count=Count("licenses"))

    def perform_create(self, serializer):
        account = serializer.save()
        account.license_count = 0


@extend_schema_view(
    list=extend_schema(
        summary="List leads", examples=[OpenApiExample("Leads", value=_page(LEAD_EXAMPLE))]
    ),
    retrieve=extend_schema(
        summary="One lead", examples=[OpenApiExample("Lead", value=LEAD_EXAMPLE)]
    ),
    create=extend_schema(
        summary="Create a lead",
        examples=[
            OpenApiExample(
                "New lead",
                value={
                    "first_name": "Ada",
                    "last_name": "Byron",
                    "email": "ada@globex.example",
                    "company": "Globex",
                    "org_id": "00D5g000004Sbcd",
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=LEAD_EXAMPLE, response_only=True),
        ],
    ),
    partial_update=extend_schema(
        summary="Edit a lead's contact details",
        description="`status` is read-only: sending it is refused with 400, nothing changes.",
        examples=[
            OpenApiExample("New phone", value={"phone": "+1 555 0199"}, request_only=True),
            OpenApiExample("Updated", value=LEAD_EXAMPLE, response_only=True),
            error_example(
                "Status is read-only",
                400,
                "invalid",
                "Invalid input: status.",
                {"status": ["Read-only: the server sets this field; nothing was changed."]},
            ),
        ],
    ),
)
class LeadViewSet(
    StaffApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Prospects created by installs; Partner Ops work and convert them."""

    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    ordering_fields = ("id", "created_at", "updated_at")
    ordering = ("-id",)
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "convert": ["leads.view_lead", "leads.change_lead", "leads.add_account"],
    }

    @extend_schema(
        summary="Convert a lead into a customer",
        description=(
            "Creates an Account (or uses `account`), a Contact, and assigns the org's live "
            "licenses to the Account. A converted or disqualified lead is refused with 409."
        ),
        request=LeadConvertSerializer,
        responses={200: LeadConvertResultSerializer, 409: error_response("409")},
        examples=[
            OpenApiExample(
                "New account", value={"account_name": "Globex Corporation"}, request_only=True
            ),
            OpenApiExample(
                "Converted",
                value={
                    "lead": {**LEAD_EXAMPLE, "status": "converted", "converted_account": 12},
                    "account": ACCOUNT_EXAMPLE,
                },
                response_only=True,
            ),
            error_example(
                "Already converted",
                409,
                "lead_already_converted",
                "Lead Ada Byron (Globex) was already converted to Globex Corporation.",
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        lead = self.get_object()
        serializer = LeadConvertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = lead_convert(lead=lead, by=request.user, **serializer.validated_data)
        lead.refresh_from_db()
        account = Account.objects.annotate(license_count=Count("licenses")).get(pk=account.pk)
        return Response(
            {"lead": LeadSerializer(lead).data, "account": AccountSerializer(account).data}
        )
