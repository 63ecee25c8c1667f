"""Feature overrides that lapse: a value until a time, put back by the sweep."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from features.exceptions import WrongDirection
from features.models import FeatureOverride, FeatureParameter, FeatureParameterValue
from features.services import (
    feature_override_bulk_set,
    feature_override_set,
    feature_parameter_update,
    feature_value_set,
)
from licenses.choices import EventKind
from licenses.models import LicenseEvent
from tests.factories import FeatureParameterFactory, make_license
from tests.policies.helpers import sweep_due

from .conftest import REAL, SECOND

UNTIL = REAL + dt.timedelta(days=14)


@pytest.fixture
def premium(graced):
    return FeatureParameter.objects.get(package=graced, developer_name="Premium")


def _value(license, parameter):
    return FeatureParameterValue.objects.get(license=license, parameter=parameter).value


def _override_rows(license):
    return LicenseEvent.objects.filter(
        license=license, kind=EventKind.FEATURE_CHANGED, reason__startswith="override ended"
    )


def test_override__sweep_one_second_before__keeps_it(trial, premium, ops_user):
    feature_override_set(license=trial, parameter=premium, value=True, until=UNTIL, by=ops_user)
    sweep_due(now=UNTIL - SECOND)
    assert _value(trial, premium) is True
    assert not _override_rows(trial).exists()


def test_override__sweep_at_its_end__value_back_with_one_row(trial, premium, ops_user):
    # Given a two-week pilot of Premium
    feature_override_set(
        license=trial, parameter=premium, value=True, until=UNTIL, by=ops_user, reason="pilot"
    )
    assert _value(trial, premium) is True
    # When the sweep runs at its end, and again later
    sweep_due(now=UNTIL)
    sweep_due(now=UNTIL + SECOND)
    # Then Premium is off again, with one history row saying the override ended
    assert _value(trial, premium) is False
    rows = _override_rows(trial)
    assert [(r.before, r.after, r.actor) for r in rows] == [
        ({"Premium": True}, {"Premium": False}, "system")
    ]
    override = FeatureOverride.objects.get()
    assert override.ended_at is not None
    row = FeatureParameterValue.objects.get(license=trial, parameter=premium)
    assert row.override_until is None


def test_override__default_changed_meanwhile__returns_to_the_new_default(trial, premium, ops_user):
    # Given a pilot on a license at the default, then the package's default turned on
    feature_override_set(license=trial, parameter=premium, value=True, until=UNTIL, by=ops_user)
    feature_parameter_update(parameter=premium, default_value=True)
    feature_override_set(license=trial, parameter=premium, value=False, until=UNTIL, by=ops_user)
    # When it lapses
    sweep_due(now=UNTIL)
    # Then the value is the new default
    assert _value(trial, premium) is True


def test_override__replaced_by_a_second__ends_where_the_first_began(trial, ops_user, graced):
    seats = FeatureParameterFactory(
        package=graced,
        developer_name="Max_Seats",
        data_type="integer",
        default_boolean=None,
        default_integer=5,
    )
    feature_value_set(license=trial, parameter=seats, value=7, by=ops_user)
    feature_override_set(license=trial, parameter=seats, value=50, until=UNTIL, by=ops_user)
    feature_override_set(
        license=trial, parameter=seats, value=80, until=UNTIL + dt.timedelta(days=7), by=ops_user
    )
    assert FeatureOverride.objects.filter(ended_at__isnull=True).count() == 1
    sweep_due(now=UNTIL + dt.timedelta(days=7))
    assert _value(trial, seats) == 7


def test_override__value_set_directly__override_dropped_nothing_put_back(trial, premium, ops_user):
    feature_override_set(license=trial, parameter=premium, value=True, until=UNTIL, by=ops_user)
    feature_value_set(license=trial, parameter=premium, value=True, by=ops_user)
    sweep_due(now=UNTIL)
    assert _value(trial, premium) is True
    assert not _override_rows(trial).exists()


def test_override__until_in_the_past__refused_and_nothing_written(trial, premium, ops_user):
    with pytest.raises(ValidationError) as exc:
        feature_override_set(license=trial, parameter=premium, value=True, until=REAL, by=ops_user)
    assert "until" in exc.value.message_dict
    assert FeatureOverride.objects.count() == 0
    assert _value(trial, premium) is False


def test_override__subscriber_parameter__refused(trial, graced, ops_user):
    usage = FeatureParameterFactory(
        package=graced, developer_name="Jobs", direction="subscriber_to_lmo"
    )
    with pytest.raises(WrongDirection):
        feature_override_set(license=trial, parameter=usage, value=True, until=UNTIL, by=ops_user)


def test_override__uninstalled_meanwhile__ends_without_touching_frozen_values(
    trial, premium, ops_user
):
    feature_override_set(license=trial, parameter=premium, value=True, until=UNTIL, by=ops_user)
    trial.mark_uninstalled(REAL + SECOND)
    sweep_due(now=UNTIL)
    assert _value(trial, premium) is True
    assert FeatureOverride.objects.get().ended_at is not None


def test_override_bulk__pilot_for_20_orgs__each_one_until_and_refusals_reported(
    graced, premium, ops_user, real_time
):
    # Given 20 trials and one uninstalled license
    licenses = [make_license(package=graced, installed_at=REAL) for _ in range(20)]
    gone = make_license(package=graced, status="uninstalled")
    # When the pilot is set on all of them
    results = feature_override_bulk_set(
        parameter=premium, licenses=[*licenses, gone], value=True, until=UNTIL, by=ops_user
    )
    # Then 20 changed and the uninstalled one was refused with the reason
    assert [r.outcome for r in results].count("changed") == 20
    assert results[-1].outcome == "refused"
    assert "uninstalled" in results[-1].message
    # And when it lapses all 20 return to off, one history row each
    sweep_due(now=UNTIL)
    assert {_value(lic, premium) for lic in licenses} == {False}
    assert sum(_override_rows(lic).count() for lic in licenses) == 20
