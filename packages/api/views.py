"""Packages: register, read, change the install defaults, link the License Manager."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.schema import error_example, error_response
from core.api.views import StaffApiMixin
from packages.exceptions import LicenseManagerAlreadyLinked
from packages.models import Package

from .serializers import PackageSerializer, PackageUpdateSerializer, PackageVersionSerializer

PACKAGE_EXAMPLE = {
    "id": 1,
    "name": "Acme Billing",
    "namespace": "acmebill",
    "package_id": "0330X000000AbCdQAK",
    "developer_org_id": "00D0X000000DevOrgUA4",
    "license_manager_linked": True,
    "linked_at": "2026-11-01T09:00:00Z",
    "lead_manager": 3,
    "default_status": "trial",
    "trial_days": 30,
    "license_days": None,
    "default_seats": 10,
    "created_at": "2026-11-01T09:00:00Z",
    "updated_at": "2026-11-01T09:00:00Z",
}
VERSION_EXAMPLE = {
    "id": 7,
    "version_number": "1.4.0",
    "version_id": "04t0X000000XyZaQAK",
    "name": "Winter release",
    "release_date": "2026-10-15",
    "is_beta": False,
}


def _list_example(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "next": "https://lmo.example/api/v1/...?cursor=cD0x",
        "previous": None,
        "results": [item],
    }


class PackageFilter(django_filters.FilterSet):
    namespace = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Package
        fields = ("namespace", "license_manager_linked", "default_status")


@transaction.atomic
def _package_save(package: Package, changes: dict[str, Any]) -> Package:
    """Apply field changes, then the License Manager link through the model's own method."""
    link = changes.pop("license_manager_linked", None)
    if link is False and package.license_manager_linked:
        raise LicenseManagerAlreadyLinked(
            f"Package {package.namespace} is linked to this License Management Org; "
            "the link is set once and cannot be undone."
        )
    for field, value in changes.items():
        setattr(package, field, value)
    package.full_clean()
    package.save()
    if link and not package.license_manager_linked:
        package.link_license_manager()
    return package


@extend_schema_view(
    list=extend_schema(
        summary="List packages",
        examples=[OpenApiExample("Packages", value=_list_example(PACKAGE_EXAMPLE))],
    ),
    retrieve=extend_schema(
        summary="One package",
        examples=[
            OpenApiExample("Package", value=PACKAGE_EXAMPLE),
            error_example("Not found", 404, "not_found", "No Package matches the given query."),
        ],
    ),
    create=extend_schema(
        summary="Register a package",
        description="Sending `license_manager_linked: true` links the License Manager at once.",
        examples=[
            OpenApiExample(
                "New package",
                value={
                    "name": "Acme Billing",
                    "namespace": "acmebill",
                    "package_id": "0330X000000AbCd",
                    "developer_org_id": "00D0X000000DevO",
                    "default_status": "trial",
                    "trial_days": 30,
                    "default_seats": 10,
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=PACKAGE_EXAMPLE, response_only=True),
            error_example(
                "Bad package id",
                400,
                "invalid",
                "Invalid input: package_id.",
                {"package_id": ["package_id: must start with '033'; got '04t0X000000XyZa'."]},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change defaults or link the License Manager",
        description=(
            "`namespace`, `package_id` and `developer_org_id` are fixed once registered. "
            "`license_manager_linked: true` links this LMO as the package's License Manager "
            "(once); `false` on a linked package is refused with 409."
        ),
        responses={200: PackageUpdateSerializer, 409: error_response("409")},
        examples=[
            OpenApiExample(
                "Longer trials",
                value={"trial_days": 60, "default_seats": 25},
                request_only=True,
            ),
            OpenApiExample("Link", value={"license_manager_linked": True}, request_only=True),
            OpenApiExample("Updated", value=PACKAGE_EXAMPLE, response_only=True),
            error_example(
                "Unlink refused",
                409,
                "license_manager_linked",
                "Package acmebill is linked to this License Management Org; the link is set "
                "once and cannot be undone.",
            ),
        ],
    ),
)
class PackageViewSet(
    StaffApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Managed packages. Administrators register and change them; every role with a
    package permission reads them."""

    queryset = Package.objects.all()
    filterset_class = PackageFilter
    ordering_fields = ("id", "name", "namespace", "created_at")
    ordering = ("-id",)
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "versions": ["packages.view_package", "packages.view_packageversion"],
    }

    def get_serializer_class(self):
        if self.action == "partial_update":
            return PackageUpdateSerializer
        if self.action == "versions":
            return PackageVersionSerializer
        return PackageSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        package = _package_save(Package(), dict(serializer.validated_data))
        return Response(PackageSerializer(package).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        package = self.get_object()
        serializer = self.get_serializer(package, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        package = _package_save(package, dict(serializer.validated_data))
        return Response(PackageSerializer(package).data)

    @extend_schema(
        summary="Versions of a package",
        description="Most recently recorded first.",
        responses={200: PackageVersionSerializer(many=True)},
        filters=False,
        examples=[OpenApiExample("Versions", value=_list_example(VERSION_EXAMPLE))],
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request, pk=None):
        package = self.get_object()
        page = self.paginate_queryset(package.versions.all())
        return self.get_paginated_response(PackageVersionSerializer(page, many=True).data)
