"""`manage.py generate_licenses`: a population with history, and a rollup that agrees."""

from io import StringIO

from django.core.management import call_command

from dashboards.rollup import rollup_contents, rollup_rebuild
from features.models import FeatureParameterValue
from licenses.choices import EventKind, LicenseStatus
from licenses.models import License, LicenseEvent


def test_generate_licenses__history_values_and_a_rollup_equal_to_a_recount(db):
    # Given a first run, then a second adding to it (and to its rollup)
    call_command("generate_licenses", "--count", "400", stdout=StringIO())
    out = StringIO()
    call_command("generate_licenses", "--count", "300", stdout=out)

    # Then every license has its install in its history, and many more rows besides
    assert License.objects.count() == 700
    assert LicenseEvent.objects.filter(kind=EventKind.INSTALLED).count() == 700
    kinds = set(LicenseEvent.objects.values_list("kind", flat=True))
    assert {
        EventKind.STATUS_CHANGED,
        EventKind.UPGRADED,
        EventKind.USAGE_REPORTED,
        EventKind.UNINSTALLED,
    } <= kinds
    statuses = set(License.objects.values_list("status", flat=True))
    assert {LicenseStatus.ACTIVE, LicenseStatus.EXPIRED, LicenseStatus.UNINSTALLED} <= statuses
    assert FeatureParameterValue.objects.count() == 700 * 3  # three parameters per package
    assert "700 licenses" not in out.getvalue() and "300 licenses in" in out.getvalue()

    # And the rollup it counted as it wrote is the one a full recount finds
    kept = rollup_contents()
    assert kept["FeatureTally"] and kept["LicenseDay"] and kept["TrialCohort"]
    rollup_rebuild()
    assert rollup_contents() == kept
