"""Re-sync the role groups: Administrators see and move the simulated clock."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from staff.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0003_hashed_api_tokens_and_lockouts"),
        ("clock", "0001_simulated_clock"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
