from django.apps import AppConfig


class FeaturesConfig(AppConfig):
    name = "features"

    def ready(self) -> None:
        from clock.signals import clock_moved

        from .tasks import overrides_after_clock_moved

        clock_moved.connect(overrides_after_clock_moved, dispatch_uid="features_overrides_on_clock")
