from django.urls import path

from . import views

app_name = "dashboards-api"

urlpatterns = [
    path("overview/", views.OverviewView.as_view(), name="overview"),
    path("trial-conversion/", views.TrialConversionView.as_view(), name="trial-conversion"),
    path("churn/", views.ChurnView.as_view(), name="churn"),
    path("versions/", views.VersionsView.as_view(), name="versions"),
    path("features/", views.FeaturesView.as_view(), name="features"),
    path("definitions/", views.DefinitionsView.as_view(), name="definitions"),
]
