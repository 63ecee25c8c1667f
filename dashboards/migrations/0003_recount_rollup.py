"""Count the licenses that existed before the rollup did (instant on a new database)."""

from django.db import migrations


def recount(apps, schema_editor):
    from dashboards import models
    from dashboards.rollup import rollup_rebuild

    # The tables that exist at this point (the feature tally comes in 0004).
    rollup_rebuild(
        models=(
            models.LicenseTally,
            models.LicenseDay,
            models.TrialCohort,
            models.InstallCohort,
            models.TrialEndDay,
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0002_roles_and_over_limit_index"),
        ("licenses", "0004_license_write_indexes"),
        ("features", "0002_value_write_indexes"),
    ]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
