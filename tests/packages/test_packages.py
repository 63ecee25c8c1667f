import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from packages.exceptions import LicenseManagerAlreadyLinked
from packages.models import Package, PackageVersion, SubscriberApiKey
from tests.factories import PackageFactory, PackageVersionFactory


def test_latest_version__is_highest_released_non_beta_numerically(db):
    package = PackageFactory()
    for number, beta in [("1.9.0", False), ("1.10.0", False), ("2.0.0", True), ("1.10.1", False)]:
        PackageVersionFactory(package=package, version_number=number, is_beta=beta)
    assert package.latest_version().version_number == "1.10.1"


@pytest.mark.parametrize("number", ["1.2", "1.2.3.4", "v1.2.3", "01.2.3", "a.b.c", ""])
def test_version_number__bad_format__is_refused(db, number):
    with pytest.raises(ValidationError, match="version_number"):
        PackageVersionFactory(version_number=number)


def test_version__duplicate_version_id__is_refused_by_database(db):
    version = PackageVersionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PackageVersion.objects.create(
            package=version.package, version_number="9.9.9", version_id=version.version_id
        )


def test_package__id_15_chars__stored_as_18(db):
    package = PackageFactory(package_id="0330X000000AbCd")
    package.refresh_from_db()
    assert len(package.package_id) == 18
    assert Package.objects.get(package_id="0330X000000AbCd") == package


def test_package__wrong_id_prefix__is_refused_naming_the_field(db):
    package = PackageFactory.build(package_id="04t0X000000AbCd")
    with pytest.raises(ValidationError) as excinfo:
        package.full_clean()
    assert "package_id" in excinfo.value.message_dict


@pytest.mark.parametrize("seats", [0, -2, 99_000_001])
def test_package__default_seats_out_of_range__is_refused(db, seats):
    with pytest.raises(ValidationError):
        PackageFactory.build(default_seats=seats).full_clean()


def test_package__trial_days_over_90__refused_by_database(db):
    package = PackageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Package.objects.filter(pk=package.pk).update(trial_days=91)


@pytest.mark.parametrize("days", [0, 36_501, 3_000_000])
def test_package__license_days_out_of_range__refused_by_validation_and_database(db, days):
    with pytest.raises(ValidationError) as excinfo:
        PackageFactory.build(default_status="active", license_days=days).full_clean()
    assert "license_days" in excinfo.value.message_dict
    package = PackageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Package.objects.filter(pk=package.pk).update(license_days=days)


def test_package__license_days_at_the_limit__accepted(db):
    PackageFactory.build(default_status="active", license_days=36_500).full_clean()


def test_package_console__license_days_3_000_000__form_error_and_unchanged(db, client):
    from tests.factories import UserFactory

    package = PackageFactory(default_status="active", license_days=365)
    client.force_login(UserFactory(username="pkgadmin", role="admin"))
    page = client.get(f"/admin/packages/package/{package.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: ("" if value is None else value)
        for name, value in form.initial.items()
        if name in form.fields and not form.fields[name].disabled
    }
    data["license_days"] = 3_000_000
    data = {key: value for key, value in data.items() if value is not False}

    response = client.post(f"/admin/packages/package/{package.pk}/change/", data)

    assert response.status_code == 200
    assert "license_days" in response.context["adminform"].form.errors
    package.refresh_from_db()
    assert package.license_days == 365


def test_link_license_manager__is_set_once(db):
    package = PackageFactory(license_manager_linked=False, linked_at=None)
    package.link_license_manager()
    assert package.license_manager_linked and package.linked_at
    with pytest.raises(LicenseManagerAlreadyLinked):
        package.link_license_manager()


def test_default_expiry(db):
    installed = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    trial = PackageFactory.build(default_status="trial", trial_days=14)
    forever = PackageFactory.build(default_status="active", license_days=None)
    yearly = PackageFactory.build(default_status="active", license_days=365)
    assert trial.default_expiry(installed) == installed + dt.timedelta(days=14)
    assert forever.default_expiry(installed) is None
    assert yearly.default_expiry(installed) == installed + dt.timedelta(days=365)


def test_subscriber_api_key__stored_hashed_and_revocable(db):
    key, raw = SubscriberApiKey.issue(package=PackageFactory(), name="prod")
    assert raw.startswith("lmo_sk_")
    assert raw not in key.key_hash
    assert SubscriberApiKey.objects.active().get(key_hash=SubscriberApiKey.hash_key(raw)) == key
    key.revoke()
    assert not SubscriberApiKey.objects.active().filter(pk=key.pk).exists()
