"""Re-sync the role groups: the console shows sweep runs and the outbox to some roles."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from staff.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_role_groups"),
        ("jobs", "0001_sweep_runs_and_outbox"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
