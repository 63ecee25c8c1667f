"""Random sequences of actions and clock moves keep every license invariant."""

import datetime as dt

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from licenses.choices import LIVE_STATUSES, LicenseStatus
from licenses.exceptions import LicenseError
from licenses.models import License
from tests.factories import PackageFactory, UserFactory, make_license

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class LicenseLifecycle(RuleBasedStateMachine):
    @initialize(default_status=st.sampled_from(["trial", "active"]), trial_days=st.integers(1, 90))
    def install(self, default_status, trial_days):
        self.now = START
        self.user = UserFactory(username="stateful-ops", role="ops")
        package = PackageFactory(default_status=default_status, trial_days=trial_days)
        self.license = make_license(
            package=package,
            installed_at=START,
            status=LicenseStatus.TRIAL if default_status == "trial" else LicenseStatus.ACTIVE,
        )
        self.changes = 1  # the install event
        self.was_uninstalled = False

    def _attempt(self, action):
        status_before = self.license.status
        try:
            result = action()
        except (LicenseError, ValidationError):
            self.license.refresh_from_db()
            assert self.license.status == status_before
            return
        if result is not None:
            self.changes += 1

    @rule(hours=st.integers(0, 24 * 40))
    def clock_moves(self, hours):
        self.now += dt.timedelta(hours=hours)

    @rule(
        seats=st.one_of(st.none(), st.sampled_from([-1, 1, 5, 500])),
        days=st.one_of(st.none(), st.integers(-3, 400)),
    )
    def activate(self, seats, days):
        expires = None if days is None else self.now + dt.timedelta(days=days)
        self._attempt(
            lambda: self.license.activate(
                by=self.user, seats=seats, expires_at=expires, now=self.now
            )
        )

    @rule()
    def suspend(self):
        self._attempt(lambda: self.license.suspend(by=self.user, reason="random suspension"))

    @rule()
    def reinstate(self):
        self._attempt(lambda: self.license.reinstate(by=self.user, now=self.now))

    @rule(days=st.integers(-2, 120))
    def extend_trial(self, days):
        until = self.now + dt.timedelta(days=days)
        self._attempt(lambda: self.license.extend_trial(by=self.user, until=until, now=self.now))

    @rule()
    def expire(self):
        self._attempt(lambda: self.license.expire(now=self.now))

    @rule()
    def uninstall(self):
        self._attempt(lambda: self.license.mark_uninstalled(self.now))
        if self.license.status == LicenseStatus.UNINSTALLED:
            self.was_uninstalled = True

    @rule(seats=st.sampled_from([-1, 0, 1, 10, 99_000_000, 99_000_001]))
    def set_seats(self, seats):
        self._attempt(lambda: self.license.set_seats(by=self.user, seats=seats))

    @rule(days=st.one_of(st.none(), st.integers(-10, 200)))
    def set_expiration(self, days):
        expires = None if days is None else self.now + dt.timedelta(days=days)
        self._attempt(lambda: self.license.set_expiration(by=self.user, expires_at=expires))

    @invariant()
    def status_is_legal(self):
        stored = License.objects.get(pk=self.license.pk)
        assert stored.status in LicenseStatus.values
        assert stored.seats == -1 or 1 <= stored.seats <= 99_000_000

    @invariant()
    def uninstalled_is_never_left(self):
        if self.was_uninstalled:
            assert License.objects.get(pk=self.license.pk).status == LicenseStatus.UNINSTALLED

    @invariant()
    def trial_never_longer_than_90_days(self):
        stored = License.objects.get(pk=self.license.pk)
        if stored.status == LicenseStatus.TRIAL:
            assert stored.expires_at <= stored.trial_started_at + dt.timedelta(days=90)
            assert stored.activated_at is None

    @invariant()
    def one_event_per_change(self):
        assert self.license.events.count() == self.changes

    @invariant()
    def access_matches_status_and_expiry(self):
        stored = License.objects.get(pk=self.license.pk)
        allowed = stored.access_allowed(self.now)
        ended = stored.expires_at is not None and stored.expires_at <= self.now
        assert allowed == (stored.status in LIVE_STATUSES and not ended)


def test_license_lifecycle__random_sequences_keep_invariants(db):
    LicenseLifecycle.TestCase.settings = settings(
        max_examples=60,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    LicenseLifecycle.TestCase().runTest()
