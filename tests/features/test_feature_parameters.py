import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from features.choices import DataType, Direction
from features.exceptions import ParameterImmutable, ParameterLimitReached, WrongDirection
from features.models import FeatureParameter, FeatureParameterValue
from features.services import (
    feature_parameter_create,
    feature_parameter_update,
    feature_value_bulk_set,
    feature_value_set,
    license_feature_map,
)
from licenses.choices import EventKind, LicenseStatus
from tests.factories import FeatureParameterFactory, PackageFactory, make_license


def _create(package, name="Premium", data_type=DataType.BOOLEAN, direction=None, default=False):
    return feature_parameter_create(
        package=package,
        developer_name=name,
        label=name,
        data_type=data_type,
        direction=direction or Direction.LMO_TO_SUBSCRIBER,
        default_value=default,
    )


def test_new_license__gets_one_value_per_parameter_at_its_default(db):
    package = PackageFactory()
    _create(package, "Premium", DataType.BOOLEAN, default=True)
    _create(package, "Max_Users", DataType.INTEGER, default=50)
    _create(package, "Trial_Ends", DataType.DATE, default="2027-01-31")
    license = make_license(package=package)
    assert license_feature_map(license) == {
        "Premium": True,
        "Max_Users": 50,
        "Trial_Ends": "2027-01-31",
    }


def test_parameter_created_later__existing_live_licenses_get_the_default(db):
    package = PackageFactory()
    live = make_license(package=package)
    gone = make_license(package=package, status=LicenseStatus.UNINSTALLED)
    _create(package, "Late", DataType.INTEGER, default=7)
    assert license_feature_map(live) == {"Late": 7}
    assert license_feature_map(gone) == {}


@pytest.mark.parametrize(
    ("data_type", "raw"),
    [
        (DataType.BOOLEAN, "true"),
        (DataType.BOOLEAN, 1),
        (DataType.INTEGER, "12"),
        (DataType.INTEGER, 1.5),
        (DataType.INTEGER, True),
        (DataType.INTEGER, 2**31),
        (DataType.DATE, "tomorrow"),
        (DataType.DATE, "2026-13-01"),
        (DataType.DATE, 20260101),
    ],
)
def test_feature_value_set__wrong_type__is_refused_and_writes_nothing(db, ops_user, data_type, raw):
    package = PackageFactory()
    parameter = _create(package, "Param", data_type, default=None)
    license = make_license(package=package)
    with pytest.raises(ValidationError):
        feature_value_set(license=license, parameter=parameter, value=raw, by=ops_user)
    assert license.events.filter(kind=EventKind.FEATURE_CHANGED).count() == 0


def test_feature_value_set__writes_history_with_before_and_after(db, ops_user):
    package = PackageFactory()
    parameter = _create(package, "Premium")
    license = make_license(package=package)
    assert feature_value_set(license=license, parameter=parameter, value=True, by=ops_user)
    event = license.events.get(kind=EventKind.FEATURE_CHANGED)
    assert event.before == {"Premium": False} and event.after == {"Premium": True}
    assert event.actor == ops_user.username
    # Setting the same value again is not a change
    assert not feature_value_set(license=license, parameter=parameter, value=True, by=ops_user)
    assert license.events.filter(kind=EventKind.FEATURE_CHANGED).count() == 1


def test_feature_value_set__subscriber_to_lmo_by_staff__is_refused(db, ops_user):
    package = PackageFactory()
    parameter = _create(package, "Usage", DataType.INTEGER, Direction.SUBSCRIBER_TO_LMO, 0)
    license = make_license(package=package)
    with pytest.raises(WrongDirection, match="read-only"):
        feature_value_set(license=license, parameter=parameter, value=5, by=ops_user)
    assert feature_value_set(
        license=license, parameter=parameter, value=5, by="subscriber", from_subscriber=True
    )


def test_database__refuses_a_value_in_the_wrong_typed_column(db):
    package = PackageFactory()
    _create(package, "Premium")
    license = make_license(package=package)
    row = FeatureParameterValue.objects.get(license=license)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeatureParameterValue.objects.filter(pk=row.pk).update(value_integer=3)


def test_parameter__type_direction_and_name_cannot_change(db):
    parameter = _create(PackageFactory())
    for field, value in [
        ("data_type", DataType.INTEGER),
        ("direction", Direction.SUBSCRIBER_TO_LMO),
        ("developer_name", "Renamed"),
    ]:
        with pytest.raises(ParameterImmutable):
            feature_parameter_update(parameter=parameter, **{field: value})
    updated = feature_parameter_update(
        parameter=parameter, label="Premium tier", default_value=True
    )
    assert updated.label == "Premium tier" and updated.default_value is True


@pytest.mark.parametrize("name", ["1abc", "has space", "dash-ed", "", "_lead"])
def test_parameter__bad_developer_name__is_refused(db, name):
    with pytest.raises(ValidationError):
        _create(PackageFactory(), name)


def test_parameter__duplicate_name_in_same_package__is_refused(db):
    package = PackageFactory()
    _create(package, "Premium")
    with pytest.raises(ValidationError):
        _create(package, "Premium")
    _create(PackageFactory(), "Premium")


def test_parameter__201st_is_refused(db):
    package = PackageFactory()
    FeatureParameter.objects.bulk_create(
        FeatureParameterFactory.build(package=package, developer_name=f"P{i}") for i in range(200)
    )
    with pytest.raises(ParameterLimitReached):
        _create(package, "OneTooMany")


def test_bulk_set__refuses_uninstalled_and_applies_the_rest(db, ops_user):
    package = PackageFactory()
    parameter = _create(package, "Premium")
    live = [make_license(package=package) for _ in range(3)]
    frozen = make_license(package=package)
    frozen.mark_uninstalled(frozen.installed_at + dt.timedelta(days=1))
    results = feature_value_bulk_set(
        parameter=parameter, licenses=[*live, frozen], value=True, by=ops_user
    )
    outcomes = {r.license_id: r.outcome for r in results}
    assert [outcomes[lic.pk] for lic in live] == ["changed"] * 3
    assert outcomes[frozen.pk] == "refused"
    assert all(license_feature_map(lic)["Premium"] is True for lic in live)


def test_parameter_created_later__drops_cached_license_checks_after_commit(
    db, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from licenses.cache import license_check_cache_key

    # Given a live license whose license check is cached
    package = PackageFactory()
    license = make_license(package=package)
    key = license_check_cache_key(package.pk, license.org_id)
    cache.set(key, "cached")

    # When a parameter is added to its package
    with django_capture_on_commit_callbacks(execute=True):
        _create(package, "Late", DataType.BOOLEAN, default=True)

    # Then the next check reads the license again, with the new parameter
    assert cache.get(key) is None
