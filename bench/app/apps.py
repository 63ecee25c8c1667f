from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Baselines for the benchmarks under bench/; installed only by lmo.settings_bench."""

    name = "bench.app"
    label = "bench"
