"""The staff REST API (/api/v1/), its OpenAPI schema (/api/schema/) and docs (/api/docs/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from core.api.views import SchemaView, swagger_view
from features.api.views import FeatureOverrideViewSet, FeatureParameterViewSet
from leads.api.views import AccountViewSet, LeadViewSet
from licenses.api.views import LicenseViewSet
from packages.api.views import PackageViewSet
from subscribers.api.views import SubscriberEventViewSet

router = SimpleRouter(trailing_slash=True)
router.register("packages", PackageViewSet, basename="package")
router.register("feature-parameters", FeatureParameterViewSet, basename="feature-parameter")
router.register("feature-overrides", FeatureOverrideViewSet, basename="feature-override")
router.register("accounts", AccountViewSet, basename="account")
router.register("leads", LeadViewSet, basename="lead")
router.register("licenses", LicenseViewSet, basename="license")
router.register("events", SubscriberEventViewSet, basename="event")

urlpatterns = [
    path("v1/dashboards/", include("dashboards.api.urls")),
    path("v1/", include((router.urls, "api"), namespace="api")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", swagger_view, name="api-docs"),
]
