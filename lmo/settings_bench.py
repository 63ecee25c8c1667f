"""Settings for the benchmarks under bench/: production settings plus the baseline views."""

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.app"]
ROOT_URLCONF = "bench.app.urls"
