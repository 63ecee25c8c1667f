"""The webhook inbox as the staff API shows it."""

from rest_framework import serializers

from subscribers.models import SubscriberEvent


class SubscriberEventSerializer(serializers.ModelSerializer):
    """One accepted webhook delivery and what it did."""

    payload = serializers.DictField(child=serializers.JSONField(), read_only=True)

    class Meta:
        model = SubscriberEvent
        fields = (
            "id",
            "event_id",
            "type",
            "occurred_at",
            "received_at",
            "package_id",
            "org_id",
            "payload",
            "outcome",
            "error",
            "license",
            "replayed_at",
        )
        read_only_fields = fields
