"""The rollup the dashboards read: counts kept up to date as licenses change.

Every table is a sum of per-license contributions (dashboards.rollup says what each license
contributes), so it can be kept by adding the difference each change makes and recomputed
from scratch by `manage.py rebuild_rollups`. Dashboards read these small tables instead of
aggregating the license table, so a page costs the same at ten thousand licenses as at a
million.

Versions are kept as their id (`version_key`, 0 for a license with no version) rather than
a nullable foreign key, so that every key is NOT NULL and a change is one upsert per table.
"""

from __future__ import annotations

from django.db import models

from licenses.choices import LicenseStatus, OrgType

SEAT_MEASURES = ("licenses", "seats", "site_licenses", "used_seats", "over_limit")


class RollupRow(models.Model):
    KEY: tuple[str, ...] = ()
    MEASURES: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return " ".join(str(getattr(self, name)) for name in self.KEY)


class SeatMeasures(RollupRow):
    licenses = models.BigIntegerField(default=0)
    seats = models.BigIntegerField(default=0, help_text="Seats bought, site licenses apart.")
    site_licenses = models.BigIntegerField(default=0)
    used_seats = models.BigIntegerField(
        default=0, help_text="Seats reported used, on licenses with a seat count."
    )
    over_limit = models.BigIntegerField(
        default=0, help_text="Licenses whose used seats exceed their seats."
    )

    class Meta:
        abstract = True


class LicenseTally(SeatMeasures):
    """Licenses as they are now, per package, version, org type and status."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    version_key = models.BigIntegerField(help_text="PackageVersion id; 0 when unknown.")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    status = models.CharField(max_length=12, choices=LicenseStatus.choices)

    KEY = ("package_id", "version_key", "org_type", "status")
    MEASURES = SEAT_MEASURES

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "version_key", "org_type", "status"],
                name="licensetally_key",
            )
        ]


class LicenseDay(SeatMeasures):
    """What changed on one day (UTC) per package, version, org type and status: the net
    change of each measure, and the installs and uninstalls (an uninstall is counted under
    the status the license had when it was uninstalled)."""

    day = models.DateField()
    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    version_key = models.BigIntegerField(help_text="PackageVersion id; 0 when unknown.")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    status = models.CharField(max_length=12, choices=LicenseStatus.choices)
    installs = models.BigIntegerField(default=0)
    uninstalls = models.BigIntegerField(default=0)

    KEY = ("day", "package_id", "version_key", "org_type", "status")
    MEASURES = (*SEAT_MEASURES, "installs", "uninstalls")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "package", "version_key", "org_type", "status"],
                name="licenseday_key",
            )
        ]


class UninstallMonth(RollupRow):
    """Uninstalls per month (UTC) they happened, package, org type and the status the
    license had when it was uninstalled: the churn page's figures in a few hundred rows
    a year, however many licenses (the day table holds the same counts by day and
    version, many more rows)."""

    month = models.DateField(help_text="First day of the month of the uninstall.")
    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    status = models.CharField(max_length=12, choices=LicenseStatus.choices)
    uninstalls = models.BigIntegerField(default=0)

    KEY = ("month", "package_id", "org_type", "status")
    MEASURES = ("uninstalls",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "package", "org_type", "status"], name="uninstallmonth_key"
            )
        ]


class TrialCohort(RollupRow):
    """Licenses that started as a trial, per month the trial started, status now, and days
    from install to purchase (-1: not bought)."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    month = models.DateField(help_text="First day of the month the trial started.")
    status = models.CharField(max_length=12, choices=LicenseStatus.choices)
    purchase_days = models.IntegerField()
    licenses = models.BigIntegerField(default=0)

    KEY = ("package_id", "org_type", "month", "status", "purchase_days")
    MEASURES = ("licenses",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "org_type", "month", "status", "purchase_days"],
                name="trialcohort_key",
            )
        ]


class InstallCohort(RollupRow):
    """Installs per month, and how many of them were uninstalled within 30, 60 and 90 days."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    month = models.DateField(help_text="First day of the month of the install.")
    installs = models.BigIntegerField(default=0)
    gone_30 = models.BigIntegerField(default=0)
    gone_60 = models.BigIntegerField(default=0)
    gone_90 = models.BigIntegerField(default=0)

    KEY = ("package_id", "org_type", "month")
    MEASURES = ("installs", "gone_30", "gone_60", "gone_90")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "org_type", "month"], name="installcohort_key"
            )
        ]


class TrialEndDay(RollupRow):
    """Licenses in trial now, per day (UTC) their trial ends."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    day = models.DateField()
    trials = models.BigIntegerField(default=0)

    KEY = ("package_id", "org_type", "day")
    MEASURES = ("trials",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["package", "org_type", "day"], name="trialendday_key")
        ]


class FeatureTally(RollupRow):
    """Live licenses (trial or active) per package, parameter, org type and value, for the
    yes/no and number parameters: the share of a switch that is on, and the exact
    distribution (so median, 90th percentile and maximum) of a reading. `value` is 1 or 0
    for a switch, the number for a reading, 0 when `reported` is false (no value)."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    parameter = models.ForeignKey(
        "features.FeatureParameter", on_delete=models.CASCADE, related_name="+"
    )
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    reported = models.BooleanField()
    value = models.BigIntegerField()
    licenses = models.BigIntegerField(default=0)

    KEY = ("package_id", "parameter_id", "org_type", "reported", "value")
    MEASURES = ("licenses",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "parameter", "org_type", "reported", "value"],
                name="featuretally_key",
            )
        ]


class FeatureBucket(RollupRow):
    """The same live licenses' readings counted per power-of-two range of the value
    (`bucket`: the number of binary digits of the value, negative for a negative value):
    a few dozen rows per reading, whatever the licenses, from which the page finds the
    range that holds the median, the 90th percentile and the maximum, and then reads only
    those ranges' values from the feature tally."""

    package = models.ForeignKey("packages.Package", on_delete=models.CASCADE, related_name="+")
    parameter = models.ForeignKey(
        "features.FeatureParameter", on_delete=models.CASCADE, related_name="+"
    )
    org_type = models.CharField(max_length=12, choices=OrgType.choices)
    bucket = models.IntegerField()
    licenses = models.BigIntegerField(default=0)

    KEY = ("package_id", "parameter_id", "org_type", "bucket")
    MEASURES = ("licenses",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "parameter", "org_type", "bucket"], name="featurebucket_key"
            )
        ]


ROLLUP_MODELS: tuple[type[models.Model], ...] = (
    LicenseTally,
    LicenseDay,
    TrialCohort,
    InstallCohort,
    TrialEndDay,
    FeatureTally,
    FeatureBucket,
    UninstallMonth,
)
