from django.urls import path

from . import views

app_name = "licenses"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
