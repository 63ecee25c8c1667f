from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
