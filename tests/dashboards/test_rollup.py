"""The rollup kept as licenses change agrees with a full recount, whatever the history."""

import datetime as dt
from contextlib import suppress

import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from dashboards.models import LicenseTally
from dashboards.rollup import rollup_contents, rollup_rebuild
from licenses.choices import LicenseStatus
from licenses.exceptions import LicenseError
from licenses.models import License
from licenses.services import OrgDetails, license_create
from licenses.sweeps import licenses_expire_due
from tests.factories import PackageFactory, PackageVersionFactory, UserFactory, org_id

START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


def recount_agrees() -> None:
    kept = rollup_contents()
    rollup_rebuild()
    # Rebuilt for good: the next example (same database) starts from a true count.
    assert kept == rollup_contents()


class LicenseHistories(RuleBasedStateMachine):
    """Installs, purchases, suspensions, sweeps, upgrades, usage, uninstalls and reinstalls
    of a few orgs in any order, the clock moving between them."""

    licenses = Bundle("licenses")

    @initialize()
    def setup(self):
        self.now = START
        self.user = UserFactory(username="rollup-ops", role="ops")
        self.package = PackageFactory(trial_days=14, default_seats=5)
        self.versions = [
            PackageVersionFactory(package=self.package, version_number=f"1.{n}.0") for n in range(3)
        ]

    def _at_now(self, action):
        # A move the rules refuse changes nothing, so the rollup must not change either.
        with time_machine.travel(self.now, tick=False), suppress(LicenseError, ValidationError):
            action()

    @rule(target=licenses, sandbox=st.booleans(), version=st.integers(0, 2))
    def install(self, sandbox, version):
        with time_machine.travel(self.now, tick=False):
            return license_create(
                package=self.package,
                version=self.versions[version],
                org=OrgDetails(org_id=org_id(), is_sandbox=sandbox),
                installed_at=self.now,
            ).pk

    @rule(target=licenses, pk=licenses)
    def reinstall(self, pk):
        old = License.objects.get(pk=pk)
        if old.status != LicenseStatus.UNINSTALLED or hasattr(old, "next_license"):
            return pk
        with time_machine.travel(self.now, tick=False):
            return license_create(
                package=self.package,
                version=old.version,
                org=OrgDetails(org_id=old.org_id, is_sandbox=old.is_sandbox),
                installed_at=self.now,
                previous_license=old,
            ).pk

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
