from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        from licenses.signals import licenses_changed

        from .rollup import on_licenses_changed

        # Every writer of licenses sends this inside its transaction: the rollup changes
        # (or rolls back) with the licenses.
        licenses_changed.connect(on_licenses_changed, dispatch_uid="dashboards.rollup")
