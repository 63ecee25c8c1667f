"""A trigram index for searching licenses by part of the org name (PostgreSQL only).

The console's search box matches org names anywhere in the name, case-insensitively
(`UPPER(org_name) LIKE UPPER('%term%')`); without this index that is a scan of the
whole table. SQLite, used for local work, needs no index for its sizes.
"""

from django.db import migrations

INDEX = "license_org_name_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON licenses_license "
        "USING gin ((UPPER(org_name::text)) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("licenses", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
