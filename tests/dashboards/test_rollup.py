"""The rollup kept as licenses change agrees with a full recount, whatever the history."""

import datetime as dt
from contextlib import suppress

import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from dashboards.models import FeatureTally, LicenseTally
from dashboards.rollup import rollup_contents, rollup_rebuild
from features.choices import DataType, Direction
from features.exceptions import FeatureError
from features.models import FeatureParameter, FeatureParameterValue
from features.services import (
    feature_override_set,
    feature_overrides_end_due,
    feature_parameter_create,
    feature_value_set,
    feature_values_create_for_license,
)
from licenses.choices import Actor, LicenseStatus
from licenses.exceptions import LicenseError
from licenses.models import License
from licenses.services import OrgDetails, license_create
from licenses.sweeps import licenses_expire_due
from tests.factories import (
    FeatureParameterFactory,
    PackageFactory,
    PackageVersionFactory,
    UserFactory,
    org_id,
)

START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


def recount_agrees() -> None:
    kept = rollup_contents()
    rollup_rebuild()
    # Rebuilt for good: the next example (same database) starts from a true count.
    assert kept == rollup_contents()


class LicenseHistories(RuleBasedStateMachine):
    """Installs, purchases, suspensions, sweeps, upgrades, usage, uninstalls and reinstalls
    of a few orgs in any order, the clock moving between them; switches set, overrides
    set and ended, readings reported and parameters added between them."""

    licenses = Bundle("licenses")

    @initialize()
    def setup(self):
        self.now = START
        self.user = UserFactory(username="rollup-ops", role="ops")
        self.package = PackageFactory(trial_days=14, default_seats=5)
        self.versions = [
            PackageVersionFactory(package=self.package, version_number=f"1.{n}.0") for n in range(3)
        ]
        FeatureParameterFactory(package=self.package, developer_name="Premium_Sync")
        FeatureParameterFactory(
            package=self.package,
            developer_name="Jobs_Run",
            data_type=DataType.INTEGER,
            direction=Direction.SUBSCRIBER_TO_LMO,
            default_boolean=None,
            default_integer=0,
        )

    def _at_now(self, action):
        # A move the rules refuse changes nothing, so the rollup must not change either.
        with (
            time_machine.travel(self.now, tick=False),
            suppress(LicenseError, FeatureError, ValidationError),
        ):
            action()

    def _parameters(self, data_type):
        return list(
            FeatureParameter.objects.filter(package=self.package, data_type=data_type).order_by(
                "pk"
            )
        )

    @rule(target=licenses, sandbox=st.booleans(), version=st.integers(0, 2))
    def install(self, sandbox, version):
        with time_machine.travel(self.now, tick=False):
            license = license_create(
                package=self.package,
                version=self.versions[version],
                org=OrgDetails(org_id=org_id(), is_sandbox=sandbox),
                installed_at=self.now,
            )
            feature_values_create_for_license(license=license)  # as the install workflow does
            return license.pk

    @rule(target=licenses, pk=licenses)
    def reinstall(self, pk):
        old = License.objects.get(pk=pk)
        if old.status != LicenseStatus.UNINSTALLED or hasattr(old, "next_license"):
            return pk
        with time_machine.travel(self.now, tick=False):
            license = license_create(
                package=self.package,
                version=old.version,
                org=OrgDetails(org_id=old.org_id, is_sandbox=old.is_sandbox),
                installed_at=self.now,
                previous_license=old,
            )
            feature_values_create_for_license(license=license)
            return license.pk

    @rule(hours=st.integers(1, 24 * 20))
    def clock_moves(self, hours):
        self.now += dt.timedelta(hours=hours)

    @rule(pk=licenses, seats=st.sampled_from([None, -1, 3, 20]))
    def activate(self, pk, seats):
        self._at_now(lambda: License.objects.get(pk=pk).activate(by=self.user, seats=seats))

    @rule(pk=licenses)
    def suspend(self, pk):
        self._at_now(lambda: License.objects.get(pk=pk).suspend(by=self.user, reason="churn risk"))

    @rule(pk=licenses)
    def reinstate(self, pk):
        self._at_now(lambda: License.objects.get(pk=pk).reinstate(by=self.user))

    @rule(pk=licenses, days=st.integers(1, 30))
    def extend_trial(self, pk, days):
        until = self.now + dt.timedelta(days=days)
        self._at_now(lambda: License.objects.get(pk=pk).extend_trial(by=self.user, until=until))

    @rule()
    def sweep(self):
        self._at_now(lambda: licenses_expire_due(now=self.now))

    @rule(pk=licenses)
    def expire_one(self, pk):
        self._at_now(lambda: License.objects.get(pk=pk).expire(now=self.now))

    @rule(pk=licenses, seats=st.sampled_from([-1, 1, 5, 50]))
    def set_seats(self, pk, seats):
        self._at_now(lambda: License.objects.get(pk=pk).set_seats(by=self.user, seats=seats))

    @rule(pk=licenses, used=st.one_of(st.none(), st.integers(0, 60)))
    def report_usage(self, pk, used):
        self._at_now(lambda: License.objects.get(pk=pk).report_usage(used, at=self.now))

    @rule(pk=licenses, version=st.integers(0, 2))
    def upgrade(self, pk, version):
        self._at_now(
            lambda: License.objects.get(pk=pk).set_version(self.versions[version], at=self.now)
        )

    @rule(pk=licenses)
    def uninstall(self, pk):
        self._at_now(lambda: License.objects.get(pk=pk).mark_uninstalled(self.now))

    @rule(pk=licenses, which=st.integers(0, 3), on=st.booleans())
    def set_switch(self, pk, which, on):
        switches = self._parameters(DataType.BOOLEAN)
        parameter = switches[which % len(switches)]
        self._at_now(
            lambda: feature_value_set(
                license=License.objects.get(pk=pk), parameter=parameter, value=on, by=self.user
            )
        )

    @rule(pk=licenses, reading=st.one_of(st.none(), st.integers(0, 5), st.integers(-3, 10**6)))
    def report_reading(self, pk, reading):
        (parameter, *_) = self._parameters(DataType.INTEGER)
        self._at_now(
            lambda: feature_value_set(
                license=License.objects.get(pk=pk),
                parameter=parameter,
                value=reading,
                by=Actor.SUBSCRIBER,
                from_subscriber=True,
            )
        )

    @rule(pk=licenses, on=st.booleans(), days=st.integers(1, 10))
    def override_switch(self, pk, on, days):
        (parameter, *_) = self._parameters(DataType.BOOLEAN)
        until = self.now + dt.timedelta(days=days)
        self._at_now(
            lambda: feature_override_set(
                license=License.objects.get(pk=pk),
                parameter=parameter,
                value=on,
                until=until,
                by=self.user,
            )
        )

    @rule()
    def overrides_end(self):
        self._at_now(lambda: feature_overrides_end_due(now=self.now))

    @rule(default=st.booleans())
    def add_switch(self, default):
        count = len(self._parameters(DataType.BOOLEAN))
        if count < 4:
            self._at_now(
                lambda: feature_parameter_create(
                    package=self.package,
                    developer_name=f"Switch_{count}",
                    label=f"Switch {count}",
                    data_type=DataType.BOOLEAN,
                    direction=Direction.LMO_TO_SUBSCRIBER,
                    default_value=default,
                )
            )

    @invariant()
    def feature_tally_counts_every_value_of_a_license_live_by_status(self):
        tallied = sum(FeatureTally.objects.values_list("licenses", flat=True))
        assert (
            tallied
            == FeatureParameterValue.objects.filter(
                license__status__in=[LicenseStatus.TRIAL, LicenseStatus.ACTIVE]
            ).count()
        )

    @invariant()
    def tally_counts_every_license(self):
        tallied = sum(LicenseTally.objects.values_list("licenses", flat=True))
        assert tallied == License.objects.count()

    def teardown(self):
        recount_agrees()


def test_rollup__random_histories__agrees_with_a_full_recount(db):
    LicenseHistories.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    LicenseHistories.TestCase().runTest()


def test_rebuild_rollups__restores_a_rollup_that_drifted(population, capsys):
    # Given a rollup row that no longer matches the licenses
    kept = rollup_contents()
    LicenseTally.objects.filter(status=LicenseStatus.ACTIVE).update(licenses=999)
    assert rollup_contents() != kept

    # When
    call_command("rebuild_rollups")

    # Then
    assert rollup_contents() == kept
    assert "LicenseTally" in capsys.readouterr().out
