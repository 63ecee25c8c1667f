"""Outbox messages name the task that does their work: license notifications written
before under the topic 'license.event' go to licenses.notify_license_events."""

from django.db import migrations

OLD, NEW = "license.event", "licenses.notify_license_events"


def forwards(apps, schema_editor):
    apps.get_model("jobs", "OutboxMessage").objects.filter(topic=OLD).update(topic=NEW)


def backwards(apps, schema_editor):
    apps.get_model("jobs", "OutboxMessage").objects.filter(topic=NEW).update(topic=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("licenses", "0004_license_write_indexes"),
        ("jobs", "0002_outbox_topic_is_a_task_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
