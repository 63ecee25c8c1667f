"""Count the feature values that existed before their tally did (instant on a new database)."""

from django.db import migrations


def recount(apps, schema_editor):
    from dashboards.models import FeatureTally
    from dashboards.rollup import rollup_rebuild

    rollup_rebuild(models=(FeatureTally,))


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0004_feature_tally")]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
