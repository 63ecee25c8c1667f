from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "LMO Back Office"
admin.site.site_title = "LMO Back Office"
admin.site.index_title = "License Management Org"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("dashboard/", include("licenses.urls")),
    path("api/", include("lmo.api_urls")),
    path("api/v1/", include("subscribers.urls")),
    path("", include("jobs.urls")),
]
