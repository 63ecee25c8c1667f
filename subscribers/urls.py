"""Subscriber-facing endpoints, mounted under /api/v1/.

Each route also matches without its trailing slash, so a POST is never redirected.
"""

from django.urls import re_path

from . import bench_views, views

app_name = "subscribers"

urlpatterns = [
    re_path(
        r"^webhooks/subscriber/?$",
        views.SubscriberWebhookView.as_view(),
        name="webhook",
    ),
    re_path(
        r"^subscriber/license/?$",
        views.LicenseCheckView.as_view(),
        name="license-check",
    ),
    re_path(r"^bench/baseline/insert/?$", bench_views.baseline_insert, name="bench-insert"),
    re_path(r"^bench/baseline/constant/?$", bench_views.baseline_constant, name="bench-constant"),
]
