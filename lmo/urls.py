from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from core.api.views import api_not_found

admin.site.site_header = "LMO Back Office"
admin.site.site_title = "LMO Back Office"
admin.site.index_title = "License Management Org"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboards.urls")),
    # Before the staff API, whose routes would otherwise all be tried first: these are the
    # busiest endpoints (the webhook and the license check), and none of the paths overlap.
    path("api/v1/", include("subscribers.urls")),
    path("api/", include("lmo.api_urls")),
    re_path(r"^api/", api_not_found),
    path("", include("jobs.urls")),
]

handler403 = "lmo.errors.permission_denied"
handler404 = "lmo.errors.page_not_found"
