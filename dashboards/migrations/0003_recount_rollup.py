"""Count the licenses that existed before the rollup did (instant on a new database)."""

from django.db import migrations


def recount(apps, schema_editor):
    from dashboards.rollup import rollup_rebuild

    rollup_rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0002_roles_and_over_limit_index"),
        ("licenses", "0004_license_write_indexes"),
        ("features", "0002_value_write_indexes"),
    ]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
