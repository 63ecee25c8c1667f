"""The product's URLs plus the baselines (bench settings only)."""

from django.urls import re_path

from lmo.urls import urlpatterns as product_urlpatterns

from . import views

urlpatterns = [
    re_path(r"^bench/baseline/insert/?$", views.baseline_insert, name="bench-insert"),
    re_path(r"^bench/baseline/constant/?$", views.baseline_constant, name="bench-constant"),
    *product_urlpatterns,
]
