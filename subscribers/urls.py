"""Subscriber-facing endpoints, mounted under /api/v1/.

Each route also matches without its trailing slash, so a POST is never redirected.
"""

from django.urls import re_path

from . import views

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
]
