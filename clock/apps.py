from django.apps import AppConfig


class ClockConfig(AppConfig):
    name = "clock"
    verbose_name = "Clock"

    def ready(self) -> None:
        from celery.signals import task_prerun

        from lmo.clock import forget_offset

        # Each task reads the offset afresh, as each web request does (see ClockMiddleware).
        task_prerun.connect(lambda **_: forget_offset(), weak=False, dispatch_uid="clock_reset")
