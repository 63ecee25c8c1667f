"""Every status x action: the allowed moves, the refused ones, and one event per change."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.dates import format_utc
from licenses.choices import ALLOWED_TRANSITIONS, EventKind, LicenseStatus
from licenses.exceptions import InvalidTransition, LicenseLocked, TrialLimitExceeded
from licenses.models import License
from tests.factories import AccountFactory, PackageFactory, PackageVersionFactory, make_license

S = LicenseStatus
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
INSTALLED = NOW - dt.timedelta(days=10)


def _license(status: str) -> License:
    """A license in `status`, installed 10 days ago as a 30-day trial."""
    fields = {}
    if status == S.ACTIVE:
        fields = {"expires_at": NOW + dt.timedelta(days=365)}
    license = make_license(status=status, installed_at=INSTALLED, **fields)
    return license


def _due(license: License) -> dt.datetime:
    return (license.expires_at or NOW) + dt.timedelta(seconds=1)


ACTIONS = {
    "activate": lambda lic, user: lic.activate(by=user, seats=25, now=NOW),
    "suspend": lambda lic, user: lic.suspend(by=user, reason="Unpaid invoice"),
    "reinstate": lambda lic, user: lic.reinstate(by=user, now=NOW),
    "extend_trial": lambda lic, user: lic.extend_trial(
        by=user, until=NOW + dt.timedelta(days=30), now=NOW
    ),
    "expire": lambda lic, user: lic.expire(now=_due(lic)),
    "mark_uninstalled": lambda lic, user: lic.mark_uninstalled(NOW),
}

# (status, action) -> status afterwards, or the exception the move raises.
EXPECTED = {
    (S.TRIAL, "activate"): S.ACTIVE,
    (S.TRIAL, "suspend"): S.SUSPENDED,
    (S.TRIAL, "reinstate"): InvalidTransition,
    (S.TRIAL, "extend_trial"): S.TRIAL,
    (S.TRIAL, "expire"): S.EXPIRED,
    (S.TRIAL, "mark_uninstalled"): S.UNINSTALLED,
    (S.ACTIVE, "activate"): InvalidTransition,
    (S.ACTIVE, "suspend"): S.SUSPENDED,
    (S.ACTIVE, "reinstate"): InvalidTransition,
    (S.ACTIVE, "extend_trial"): InvalidTransition,
    (S.ACTIVE, "expire"): S.EXPIRED,
    (S.ACTIVE, "mark_uninstalled"): S.UNINSTALLED,
    (S.SUSPENDED, "activate"): S.ACTIVE,
    (S.SUSPENDED, "suspend"): InvalidTransition,
    (S.SUSPENDED, "reinstate"): S.TRIAL,
    (S.SUSPENDED, "extend_trial"): InvalidTransition,
    (S.SUSPENDED, "expire"): InvalidTransition,
    (S.SUSPENDED, "mark_uninstalled"): S.UNINSTALLED,
    (S.EXPIRED, "activate"): S.ACTIVE,
    (S.EXPIRED, "suspend"): S.SUSPENDED,
    (S.EXPIRED, "reinstate"): InvalidTransition,
    (S.EXPIRED, "extend_trial"): S.TRIAL,
    (S.EXPIRED, "expire"): InvalidTransition,
    (S.EXPIRED, "mark_uninstalled"): S.UNINSTALLED,
    **{(S.UNINSTALLED, action): LicenseLocked for action in ACTIONS},
}


@pytest.mark.parametrize(("status", "action"), sorted(EXPECTED))
def test_license_transition_matrix(db, ops_user, status, action):
    # Given
    license = _license(status)
    events_before = license.events.count()
    expected = EXPECTED[(status, action)]

    # When / Then
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected) as excinfo:
            ACTIONS[action](license, ops_user)
        license.refresh_from_db()
        assert license.status == status
        assert license.events.count() == events_before
        if expected is InvalidTransition:
            assert status in str(excinfo.value)
    else:
        ACTIONS[action](license, ops_user)
        license.refresh_from_db()
        assert license.status == expected
        assert license.events.count() == events_before + 1
        assert expected in ALLOWED_TRANSITIONS[status] or expected == status


def test_invalid_transition__message_names_both_statuses(db, ops_user):
    license = _license(S.ACTIVE)
    with pytest.raises(InvalidTransition) as excinfo:
        license.extend_trial(by=ops_user, until=NOW + dt.timedelta(days=5), now=NOW)
    assert "from active to trial" in str(excinfo.value)
    assert "bought" in str(excinfo.value)


def test_activate__writes_one_event_with_before_and_after(db, ops_user):
    # Given
    license = _license(S.TRIAL)
    # When
    event = license.activate(by=ops_user, seats=40, now=NOW)
    # Then
    assert event.kind == EventKind.STATUS_CHANGED
    assert event.actor == ops_user.username
    assert event.before["status"] == "trial" and event.after["status"] == "active"
    assert event.before["seats"] == 10 and event.after["seats"] == 40
    license.refresh_from_db()
    assert license.seats == 40
    assert license.expires_at is None
    assert license.activated_at == NOW


def test_activate__with_expiry_in_the_past__is_refused(db, ops_user):
    license = _license(S.TRIAL)
    with pytest.raises(ValidationError):
        license.activate(by=ops_user, expires_at=NOW - dt.timedelta(days=1), now=NOW)
    license.refresh_from_db()
    assert license.status == S.TRIAL


@pytest.mark.parametrize("seats", [0, -2, 99_000_001])
def test_activate__with_bad_seats__is_refused_and_writes_nothing(db, ops_user, seats):
    license = _license(S.TRIAL)
    with pytest.raises(ValidationError):
        license.activate(by=ops_user, seats=seats, now=NOW)
    assert license.events.count() == 1


def test_suspend__without_reason__is_refused(db, ops_user):
    license = _license(S.TRIAL)
    with pytest.raises(ValidationError):
        license.suspend(by=ops_user, reason="  ")
    license.refresh_from_db()
    assert license.status == S.TRIAL


def test_reinstate__returns_to_active_when_suspended_from_active(db, ops_user):
    license = _license(S.ACTIVE)
    license.suspend(by=ops_user, reason="Terms")
    license.reinstate(by=ops_user, now=NOW)
    license.refresh_from_db()
    assert license.status == S.ACTIVE


def test_reinstate__trial_that_ran_out_meanwhile__becomes_expired(db, ops_user):
    # Given a trial suspended before its end
    license = _license(S.TRIAL)
    license.suspend(by=ops_user, reason="Abuse")
    # When it is reinstated after the end passed
    license.reinstate(by=ops_user, now=license.expires_at + dt.timedelta(minutes=1))
    # Then
    license.refresh_from_db()
    assert license.status == S.EXPIRED


def test_expire__before_expiry__is_refused(db):
    license = _license(S.TRIAL)
    with pytest.raises(InvalidTransition, match="not due"):
        license.expire(now=license.expires_at - dt.timedelta(seconds=1))


def test_expire__exactly_at_expiry__expires(db):
    license = _license(S.TRIAL)
    license.expire(now=license.expires_at)
    license.refresh_from_db()
    assert license.status == S.EXPIRED


def test_expire__active_without_expiry__is_refused(db):
    license = make_license(status=S.ACTIVE)
    with pytest.raises(InvalidTransition):
        license.expire(now=NOW + dt.timedelta(days=10_000))


def test_extend_trial__expired_after_being_bought__is_refused(db, ops_user):
    # Given a license that was bought and then expired
    license = _license(S.ACTIVE)
    license.expire(now=license.expires_at)
    # When / Then
    with pytest.raises(InvalidTransition, match="bought"):
        license.extend_trial(by=ops_user, until=license.expires_at + dt.timedelta(days=1), now=NOW)


def test_extend_trial__to_the_past__is_refused(db, ops_user):
    license = _license(S.TRIAL)
    with pytest.raises(ValidationError):
        license.extend_trial(by=ops_user, until=NOW - dt.timedelta(hours=1), now=NOW)


class TestNinetyDayCap:
    def test_extend_trial__exactly_90_days__is_allowed(self, db, ops_user):
        license = _license(S.TRIAL)
        limit = license.trial_started_at + dt.timedelta(days=90)
        license.extend_trial(by=ops_user, until=limit, now=NOW)
        license.refresh_from_db()
        assert license.expires_at == limit

    def test_extend_trial__one_second_past_90_days__names_the_limit(self, db, ops_user):
        license = _license(S.TRIAL)
        limit = license.trial_started_at + dt.timedelta(days=90)
        with pytest.raises(TrialLimitExceeded) as excinfo:
            license.extend_trial(by=ops_user, until=limit + dt.timedelta(seconds=1), now=NOW)
        assert format_utc(limit) in str(excinfo.value)
        license.refresh_from_db()
        assert license.expires_at == license.installed_at + dt.timedelta(days=30)

    def test_extend_trial__repeated_extensions__never_pass_the_cap(self, db, ops_user):
        license = _license(S.TRIAL)
        limit = license.trial_started_at + dt.timedelta(days=90)
        license.extend_trial(by=ops_user, until=limit - dt.timedelta(days=20), now=NOW)
        license.extend_trial(by=ops_user, until=limit, now=NOW)
        with pytest.raises(TrialLimitExceeded):
            license.extend_trial(by=ops_user, until=limit + dt.timedelta(days=1), now=NOW)

    def test_set_expiration__trial_past_cap__is_refused(self, db, ops_user):
        license = _license(S.TRIAL)
        with pytest.raises(TrialLimitExceeded):
            license.set_expiration(
                by=ops_user, expires_at=license.trial_started_at + dt.timedelta(days=91)
            )

    def test_set_expiration__trial_without_end__is_refused(self, db, ops_user):
        license = _license(S.TRIAL)
        with pytest.raises(ValidationError):
            license.set_expiration(by=ops_user, expires_at=None)

    def test_extend_expired_trial__reopens_within_cap(self, db, ops_user):
        license = _license(S.TRIAL)
        license.expire(now=license.expires_at)
        license.extend_trial(by=ops_user, until=NOW + dt.timedelta(days=5), now=NOW)
        license.refresh_from_db()
        assert license.status == S.TRIAL


class TestUninstalledIsFrozen:
    @pytest.fixture
    def uninstalled(self, db):
        license = _license(S.TRIAL)
        license.mark_uninstalled(NOW)
        return license

    @pytest.mark.parametrize(
        "edit",
        [
            lambda lic, u: lic.set_seats(by=u, seats=50),
            lambda lic, u: lic.set_expiration(by=u, expires_at=NOW + dt.timedelta(days=3)),
            lambda lic, u: lic.assign_account(by=u, account=AccountFactory()),
            lambda lic, u: lic.set_version(PackageVersionFactory(package=lic.package)),
            lambda lic, u: lic.report_usage(3),
            lambda lic, u: lic.mark_uninstalled(NOW),
        ],
        ids=["seats", "expiration", "account", "version", "usage", "uninstall-again"],
    )
    def test_edit__raises_license_locked_and_writes_nothing(self, uninstalled, ops_user, edit):
        events = uninstalled.events.count()
        with pytest.raises(LicenseLocked, match="uninstalled"):
            edit(uninstalled, ops_user)
        assert uninstalled.events.count() == events

    def test_feature_value_edit__raises_license_locked(self, uninstalled, ops_user):
        from features.services import feature_value_set
        from tests.factories import FeatureParameterFactory

        parameter = FeatureParameterFactory(package=uninstalled.package)
        with pytest.raises(LicenseLocked):
            feature_value_set(license=uninstalled, parameter=parameter, value=True, by=ops_user)

    def test_license_locked_is_a_license_error(self):
        from licenses.exceptions import LicenseError

        assert issubclass(LicenseLocked, LicenseError)


class TestEdits:
    def test_set_seats__site_license(self, db, ops_user):
        license = _license(S.ACTIVE)
        event = license.set_seats(by=ops_user, seats=-1)
        license.refresh_from_db()
        assert license.seats == -1
        assert license.seats_display == "Site license"
        assert event.before == {"seats": 10} and event.after == {"seats": -1}

    def test_set_seats__same_value__writes_no_event(self, db, ops_user):
        license = _license(S.ACTIVE)
        assert license.set_seats(by=ops_user, seats=license.seats) is None
        assert license.events.count() == 1

    def test_set_expiration__active_to_never(self, db, ops_user):
        license = _license(S.ACTIVE)
        license.set_expiration(by=ops_user, expires_at=None)
        license.refresh_from_db()
        assert license.expires_at is None

    def test_assign_account__records_account_names(self, db, ops_user):
        license = _license(S.ACTIVE)
        account = AccountFactory(name="Acme Corp")
        event = license.assign_account(by=ops_user, account=account)
        assert event.after == {"account": "Acme Corp"}
        assert event.kind == EventKind.ACCOUNT_CHANGED

    def test_set_version__records_old_and_new_and_keeps_installed_at(self, db):
        license = _license(S.TRIAL)
        installed_at = license.installed_at
        old = license.version.version_number
        newer = PackageVersionFactory(package=license.package, version_number="9.0.0")
        event = license.set_version(newer)
        license.refresh_from_db()
        assert event.before == {"version": old} and event.after == {"version": "9.0.0"}
        assert license.installed_at == installed_at

    def test_set_version__of_another_package__is_refused(self, db):
        license = _license(S.TRIAL)
        other = PackageVersionFactory(package=PackageFactory())
        with pytest.raises(ValidationError):
            license.set_version(other)


class TestAccess:
    @pytest.mark.parametrize(
        ("status", "expires_delta", "allowed", "code"),
        [
            (S.TRIAL, dt.timedelta(days=1), True, "TRIAL"),
            (S.TRIAL, dt.timedelta(seconds=0), False, "EXPIRED"),
            (S.ACTIVE, None, True, "ACTIVE"),
            (S.ACTIVE, dt.timedelta(days=1), True, "ACTIVE"),
            (S.ACTIVE, -dt.timedelta(seconds=1), False, "EXPIRED"),
            (S.SUSPENDED, dt.timedelta(days=1), False, "SUSPENDED"),
            (S.EXPIRED, dt.timedelta(days=1), False, "EXPIRED"),
            (S.UNINSTALLED, dt.timedelta(days=1), False, "UNINSTALLED"),
        ],
    )
    def test_access_allowed(self, db, status, expires_delta, allowed, code):
        now = timezone.now()
        expires_at = now + expires_delta if expires_delta is not None else None
        license = make_license(status=status, expires_at=expires_at)
        assert license.access_allowed(now) is allowed
        assert license.access_code(now) == code
