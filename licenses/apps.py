from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"

    def ready(self) -> None:
        from clock.signals import clock_moved

        from .tasks import sweeps_after_clock_moved

        clock_moved.connect(sweeps_after_clock_moved, dispatch_uid="licenses_sweeps_on_clock")
