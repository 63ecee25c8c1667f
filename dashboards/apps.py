from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        from features.signals import feature_values_changed
        from licenses.signals import licenses_changed

        from .rollup import on_feature_values_changed, on_licenses_changed

        # Every writer of licenses and of feature values sends these inside its
        # transaction: the rollup changes (or rolls back) with them.
        licenses_changed.connect(on_licenses_changed, dispatch_uid="dashboards.rollup")
        feature_values_changed.connect(
            on_feature_values_changed, dispatch_uid="dashboards.rollup.features"
        )
