"""Two sweeps at once on PostgreSQL: grace noted and overrides ended exactly once each."""

import datetime as dt

import pytest
from django.utils import timezone

from features.choices import DataType, Direction
from features.models import FeatureOverride, FeatureParameterValue
from features.services import feature_override_set
from licenses.choices import EventKind
from licenses.models import LicenseEvent
from tests.concurrency import race
from tests.factories import FeatureParameterFactory, PackageFactory, UserFactory, make_license
from tests.policies.helpers import sweep_due

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_sweep__two_at_once__grace_noted_and_overrides_ended_once_each():
    # Given 30 trials that ended an hour ago (3 days of grace), each with a lapsed pilot
    package = PackageFactory(grace_days=3)
    premium = FeatureParameterFactory(
        package=package,
        developer_name="Premium",
        data_type=DataType.BOOLEAN,
        direction=Direction.LMO_TO_SUBSCRIBER,
        default_boolean=False,
    )
    ops = UserFactory(username="ops-race", role="ops")
    licenses = []
    for i in range(30):
        license = make_license(
            package=package,
            installed_at=NOW - dt.timedelta(days=31),
            expires_at=NOW - dt.timedelta(hours=1),
            org_name=f"Org {i}",
        )
        feature_override_set(
            license=license,
            parameter=premium,
            value=True,
            until=timezone.now() + dt.timedelta(days=1),
            by=ops,
        )
        licenses.append(license)
    FeatureOverride.objects.update(until=NOW - dt.timedelta(minutes=1))

    # When two sweeps run at the same moment
    results = race(lambda: sweep_due(now=NOW))

    # Then neither failed, each license entered grace once and its pilot ended once
    assert not [r for r in results if isinstance(r, Exception)], results
    ids = [lic.pk for lic in licenses]
    grace = LicenseEvent.objects.filter(license_id__in=ids, kind=EventKind.GRACE_STARTED)
    assert sorted(grace.values_list("license_id", flat=True)) == sorted(ids)
    ended = LicenseEvent.objects.filter(
        license_id__in=ids, kind=EventKind.FEATURE_CHANGED, reason__startswith="override ended"
    )
    assert sorted(ended.values_list("license_id", flat=True)) == sorted(ids)
    assert not FeatureOverride.objects.filter(ended_at__isnull=True).exists()
    assert set(
        FeatureParameterValue.objects.filter(parameter=premium).values_list(
            "value_boolean", flat=True
        )
    ) == {False}
