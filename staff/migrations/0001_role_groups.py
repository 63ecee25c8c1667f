"""Create the role groups (Partner Ops, Support, Managers, Administrators) and their permissions."""

from django.db import migrations


def create_role_groups(apps, schema_editor):
    from staff.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0001_initial"),
        ("packages", "0001_initial"),
        ("leads", "0001_initial"),
        ("licenses", "0001_initial"),
        ("features", "0001_initial"),
        ("subscribers", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
