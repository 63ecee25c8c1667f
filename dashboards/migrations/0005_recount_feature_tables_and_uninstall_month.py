"""Count the feature values and uninstalls that existed before their tables did (instant on a
new database)."""

from django.db import migrations


def recount(apps, schema_editor):
    from dashboards.models import FeatureBucket, FeatureTally, UninstallMonth
    from dashboards.rollup import rollup_rebuild

    rollup_rebuild(models=(FeatureTally, FeatureBucket, UninstallMonth))


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0004_feature_tables_and_uninstall_month")]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
