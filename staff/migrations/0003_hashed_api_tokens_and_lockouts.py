"""API tokens move to hashed storage (knox) and sign-in lockouts (axes) join the roles.

Tokens stored in clear by the earlier token table are dropped, not carried over: anyone who
could read that table may hold them. Scripts get a new token (`manage.py drf_create_token`).
"""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from staff.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0002_console_permissions"),
        ("knox", "0009_extend_authtoken_field"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
