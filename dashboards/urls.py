from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("trial-conversion/", views.conversion, name="conversion"),
    path("churn/", views.churn, name="churn"),
    path("versions/", views.versions, name="versions"),
    path("versions/older.csv", views.versions_csv, name="versions-csv"),
    path("features/", views.features, name="features"),
    path("help/", views.help_page, name="help"),
]
