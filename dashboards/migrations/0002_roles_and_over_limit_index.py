"""Partner Ops may see the dashboards too (re-sync the role groups), and an index that
lists the licenses over their seat limit by excess without reading the license table."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from staff.roles import sync_role_groups

    sync_role_groups(apps)


# The same statement on PostgreSQL and SQLite: a partial index on an expression. It lives
# with the dashboards, whose over-use list is its only reader.
OVER_LIMIT_INDEX = """
CREATE INDEX dashboards_license_over_limit_idx ON licenses_license
    ((used_licenses - seats) DESC) WHERE seats <> -1 AND used_licenses > seats
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_rollup"),
        ("staff", "0002_console_permissions"),
        ("licenses", "0004_license_write_indexes"),
    ]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
        migrations.RunSQL(
            OVER_LIMIT_INDEX, "DROP INDEX IF EXISTS dashboards_license_over_limit_idx"
        ),
    ]
