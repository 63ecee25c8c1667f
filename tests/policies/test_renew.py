"""Renewal: a term added from the right date, to licenses that were bought."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from licenses.choices import EventKind, LicenseStatus
from licenses.exceptions import InvalidTransition, LicenseLocked
from licenses.models import LicenseEvent
from tests.factories import PackageFactory, make_license
from tests.subscribers.helpers import iso

from .conftest import REAL, SECOND

END = REAL + dt.timedelta(days=10)


@pytest.fixture
def bought(db, real_time):
    package = PackageFactory(default_status="active", license_days=365, grace_days=0)
    return make_license(package=package, status=LicenseStatus.ACTIVE, expires_at=END)


def test_renew__before_the_end__term_added_from_the_old_end(bought, ops_user):
    # When renewed one second before its end
    bought.renew(by=ops_user, days=30, now=END - SECOND)
    # Then the new end is 30 days after the old end, and one history row says so
    assert bought.expires_at == END + dt.timedelta(days=30)
    assert bought.status == LicenseStatus.ACTIVE
    event = LicenseEvent.objects.get(license=bought, kind=EventKind.RENEWED)
    assert event.before == {"status": "active", "expires_at": iso(END)}
    assert event.after["expires_at"] == iso(END + dt.timedelta(days=30))


def test_renew__after_the_end__term_added_from_now(bought, ops_user):
    now = END + SECOND
    bought.renew(by=ops_user, days=30, now=now)
    assert bought.expires_at == now + dt.timedelta(days=30)


def test_renew__expired__active_again_from_now_with_package_term(bought, ops_user):
    # Given the license expired by the sweep
    bought.expire(now=END)
    now = END + dt.timedelta(days=5)
    # When renewed without a term
    bought.renew(by=ops_user, now=now)
    # Then it is active for the package's license_days from now
    bought.refresh_from_db()
    assert bought.status == LicenseStatus.ACTIVE
    assert bought.expires_at == now + dt.timedelta(days=365)
    event = LicenseEvent.objects.filter(license=bought, kind=EventKind.RENEWED).get()
    assert (event.before["status"], event.after["status"]) == ("expired", "active")


def test_renew__trial__refused_activate_instead(db, real_time, ops_user):
    trial = make_license(installed_at=REAL)
    with pytest.raises(InvalidTransition, match="a trial cannot be renewed; activate it"):
        trial.renew(by=ops_user, days=30)
    trial.expire(now=trial.expires_at)
    with pytest.raises(InvalidTransition, match="a trial cannot be renewed"):
        trial.renew(by=ops_user, days=30)
    assert not LicenseEvent.objects.filter(kind=EventKind.RENEWED).exists()


def test_renew__suspended__refused(bought, ops_user):
    bought.suspend(by=ops_user, reason="unpaid")
    with pytest.raises(InvalidTransition, match="from suspended to active"):
        bought.renew(by=ops_user, days=30)


def test_renew__uninstalled__locked(bought, ops_user):
    bought.mark_uninstalled(REAL)
    with pytest.raises(LicenseLocked):
        bought.renew(by=ops_user, days=30)


def test_renew__no_term_and_no_package_default__asks_for_days(db, real_time, ops_user):
    package = PackageFactory(default_status="active", license_days=None)
    license = make_license(package=package, status=LicenseStatus.ACTIVE, expires_at=END)
    with pytest.raises(ValidationError) as exc:
        license.renew(by=ops_user)
    assert "days" in exc.value.message_dict
    with pytest.raises(ValidationError):
        license.renew(by=ops_user, days=0)


def test_renew__does_not_expire__refused(db, real_time, ops_user):
    license = make_license(status=LicenseStatus.ACTIVE, expires_at=None)
    with pytest.raises(InvalidTransition, match="does not expire"):
        license.renew(by=ops_user, days=30)


def test_renew__by_is_keyword_only(bought, ops_user):
    with pytest.raises(TypeError):
        bought.renew(ops_user, 30)
