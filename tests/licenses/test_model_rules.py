"""Database constraints, naming, lookups by either id form, and reinstall carry-over."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from licenses.choices import LicenseStatus
from licenses.models import License, LicenseEvent
from licenses.services import OrgDetails, license_create
from tests.factories import PackageFactory, PackageVersionFactory, make_license

ORG15 = "00D5g000004AbCd"
ORG18 = "00D5g000004AbCdEAK"


def test_license_names__follow_creation_order(db):
    first, second = make_license(), make_license()
    assert first.name == f"L-{first.pk:05d}"
    assert int(second.name[2:]) == int(first.name[2:]) + 1


def test_license__stored_with_18_char_org_id_and_found_by_either(db):
    license = make_license(org_id_value=ORG15)
    license.refresh_from_db()
    assert license.org_id == ORG18
    assert License.objects.filter(org_id=ORG15).get() == license
    assert License.objects.for_org(ORG18).get() == license
    assert License.objects.for_org(ORG15.lower() + "xyz").count() == 0


def test_second_live_license_for_same_org_and_package__is_refused(db):
    license = make_license(org_id_value=ORG18)
    with pytest.raises(ValidationError, match="license_one_live_per_org_package"):
        make_license(package=license.package, version=license.version, org_id_value=ORG15)
    assert License.objects.count() == 1


def test_second_live_license__is_refused_by_the_database_itself(db):
    # Given an uninstalled license and a live one for the same org and package
    old = make_license(org_id_value=ORG18)
    old.mark_uninstalled(timezone.now())
    make_license(package=old.package, version=old.version, org_id_value=ORG18)
    # When a raw write tries to make the old one live again, the unique index refuses
    with pytest.raises(IntegrityError), transaction.atomic():
        License.objects.filter(pk=old.pk).update(status="trial")


def test_uninstalled_license__does_not_block_a_new_one(db):
    license = make_license(org_id_value=ORG18)
    license.mark_uninstalled(timezone.now())
    again = make_license(package=license.package, version=license.version, org_id_value=ORG18)
    assert again.pk != license.pk


@pytest.mark.parametrize(
    "fields",
    [{"status": "bogus"}, {"seats": 0}, {"seats": -5}, {"status": "uninstalled"}],
    ids=["status", "seats-zero", "seats-negative", "uninstalled-without-date"],
)
def test_database_check_constraints__refuse_impossible_rows(db, fields):
    license = make_license()
    with pytest.raises(IntegrityError), transaction.atomic():
        License.objects.filter(pk=license.pk).update(**fields)


def test_license_event__is_append_only(db):
    event = make_license().events.get()
    event.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert LicenseEvent.objects.get(pk=event.pk).reason == ""


class TestInstallDefaults:
    def test_trial_package__trial_days_from_install(self, db):
        package = PackageFactory(default_status="trial", trial_days=14, default_seats=5)
        installed = timezone.now()
        license = make_license(package=package, installed_at=installed)
        assert license.status == LicenseStatus.TRIAL
        assert license.trial_started_at == installed
        assert license.expires_at == installed + dt.timedelta(days=14)
        assert license.seats == 5

    def test_active_package_without_license_days__does_not_expire(self, db):
        package = PackageFactory(default_status="active", license_days=None)
        license = make_license(package=package, status=LicenseStatus.ACTIVE)
        assert license.status == LicenseStatus.ACTIVE
        assert license.expires_at is None
        assert license.activated_at is not None

    def test_active_package_with_license_days(self, db):
        package = PackageFactory(default_status="active", license_days=365)
        installed = timezone.now()
        license = make_license(package=package, status=LicenseStatus.ACTIVE, installed_at=installed)
        assert license.expires_at == installed + dt.timedelta(days=365)

    def test_sandbox__gets_a_site_license(self, db):
        license = make_license(is_sandbox=True)
        assert license.seats == -1
        assert license.org_type == "sandbox"


class TestReinstallCarryOver:
    def _reinstall(self, old: License, at: dt.datetime) -> License:
        return license_create(
            package=old.package,
            version=PackageVersionFactory(package=old.package),
            org=OrgDetails(org_id=old.org_id, name=old.org_name),
            installed_at=at,
            previous_license=old,
        )

    def test_reinstall__carries_status_seats_expiry_no_fresh_trial(self, db, ops_user):
        # Given a trial with 20 seats, uninstalled
        now = timezone.now()
        old = make_license(installed_at=now - dt.timedelta(days=5))
        old.set_seats(by=ops_user, seats=20)
        old.mark_uninstalled(now)
        # When the org installs again
        new = self._reinstall(old, now + dt.timedelta(minutes=5))
        # Then it is the same trial, not a new one
        assert new.previous_license == old
        assert new.status == LicenseStatus.TRIAL
        assert new.seats == 20
        assert new.expires_at == old.expires_at
        assert new.trial_started_at == old.trial_started_at
        assert new.events.get().kind == "reinstalled"

    def test_reinstall_after_trial_ran_out__is_expired(self, db):
        now = timezone.now()
        old = make_license(installed_at=now - dt.timedelta(days=40))
        old.mark_uninstalled(now - dt.timedelta(days=35))
        new = self._reinstall(old, now)
        assert new.status == LicenseStatus.EXPIRED

    def test_reinstall__of_suspended__stays_suspended(self, db, ops_user):
        now = timezone.now()
        old = make_license(status=LicenseStatus.ACTIVE)
        old.suspend(by=ops_user, reason="Unpaid")
        old.mark_uninstalled(now)
        new = self._reinstall(old, now)
        assert new.status == LicenseStatus.SUSPENDED
        new.reinstate(by=ops_user)
        new.refresh_from_db()
        assert new.status == LicenseStatus.ACTIVE
