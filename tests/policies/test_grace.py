"""Grace: a trial or active license past its end keeps access for its package's grace days."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from licenses.choices import EventKind, LicenseStatus
from licenses.exceptions import InvalidTransition
from licenses.models import License, LicenseEvent, license_access
from licenses.sweeps import licenses_note_grace
from tests.factories import PackageFactory, make_license
from tests.policies.helpers import sweep_due

from .conftest import REAL, SECOND

END = dt.datetime(2026, 12, 31, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("at", "allowed", "code", "grace_ends_at"),
    [
        (END - SECOND, True, "TRIAL", None),
        (END, True, "GRACE", END + dt.timedelta(days=3)),
        (END + SECOND, True, "GRACE", END + dt.timedelta(days=3)),
        (END + dt.timedelta(days=3) - SECOND, True, "GRACE", END + dt.timedelta(days=3)),
        (END + dt.timedelta(days=3), False, "EXPIRED", None),
        (END + dt.timedelta(days=3) + SECOND, False, "EXPIRED", None),
    ],
)
def test_license_access__trial_around_end_and_grace(at, allowed, code, grace_ends_at):
    access = license_access(LicenseStatus.TRIAL, END, at, grace_days=3)
    assert (access.allowed, access.code, access.grace_ends_at) == (allowed, code, grace_ends_at)


def test_license_access__no_grace__expired_at_the_end():
    assert license_access(LicenseStatus.ACTIVE, END, END - SECOND).code == "ACTIVE"
    assert license_access(LicenseStatus.ACTIVE, END, END).code == "EXPIRED"


@pytest.mark.parametrize("status", [LicenseStatus.SUSPENDED, LicenseStatus.UNINSTALLED])
def test_license_access__blocked_statuses__never_in_grace(status):
    access = license_access(status, END, END + SECOND, grace_days=30)
    assert (access.allowed, access.code) == (False, status.upper())


@pytest.mark.parametrize("days", [-1, 31])
def test_package_grace_days__out_of_range__refused(db, days):
    package = PackageFactory.build(grace_days=days)
    with pytest.raises(ValidationError) as exc:
        package.full_clean(exclude=["lead_manager"])
    assert "grace_days" in exc.value.message_dict


def test_expire__within_grace__refused_naming_the_grace(trial):
    with pytest.raises(InvalidTransition, match="grace period until 2027-01-03"):
        trial.expire(now=trial.expires_at + SECOND)
    trial.expire(now=trial.expires_at + dt.timedelta(days=3))
    assert trial.status == LicenseStatus.EXPIRED


def test_sweep__one_second_before_grace_ends__notes_grace_once_keeps_trial(trial):
    # When the sweep runs twice inside the grace period
    grace_ends = trial.expires_at + dt.timedelta(days=3)
    sweep_due(now=trial.expires_at + SECOND)
    sweep_due(now=grace_ends - SECOND)
    # Then the license is still a trial and its history says it entered grace once
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.TRIAL
    rows = LicenseEvent.objects.filter(license=trial, kind=EventKind.GRACE_STARTED)
    assert [(r.before["status"], r.after["grace_ends_at"]) for r in rows] == [
        ("trial", grace_ends.isoformat().replace("+00:00", "Z"))
    ]


def test_sweep__at_grace_end__expires_with_one_row(trial):
    grace_ends = trial.expires_at + dt.timedelta(days=3)
    sweep_due(now=grace_ends)
    trial.refresh_from_db()
    assert trial.status == LicenseStatus.EXPIRED
    assert LicenseEvent.objects.filter(license=trial, kind=EventKind.STATUS_CHANGED).count() == 1


def test_sweep__before_the_end__nothing_noted(trial):
    assert licenses_note_grace(now=trial.expires_at - SECOND).count == 0
    assert not LicenseEvent.objects.filter(kind=EventKind.GRACE_STARTED).exists()


def test_grace__end_moved__a_later_grace_is_noted_again(trial, ops_user):
    # Given a trial noted in grace, then extended
    sweep_due(now=trial.expires_at + SECOND)
    trial.extend_trial(by=ops_user, until=trial.expires_at + dt.timedelta(days=10), now=REAL)
    # When it runs out again
    sweep_due(now=trial.expires_at + SECOND)
    # Then both grace periods are in its history
    assert LicenseEvent.objects.filter(license=trial, kind=EventKind.GRACE_STARTED).count() == 2


def test_sweep__packages_with_different_grace__each_by_its_own(db, real_time):
    # Given two licenses that ended a day ago, one with 3 days of grace and one with none
    no_grace = make_license(package=PackageFactory(grace_days=0), installed_at=REAL)
    graced = make_license(package=PackageFactory(grace_days=3), installed_at=REAL)
    # When the sweep runs a day after both ended
    sweep_due(now=no_grace.expires_at + dt.timedelta(days=1))
    # Then only the license without grace expired
    statuses = dict(License.objects.values_list("pk", "status"))
    assert statuses == {no_grace.pk: LicenseStatus.EXPIRED, graced.pk: LicenseStatus.TRIAL}


def test_reinstate__suspended_within_grace__back_to_trial(trial, ops_user):
    trial.suspend(by=ops_user, reason="billing query")
    trial.reinstate(by=ops_user, now=trial.expires_at + SECOND)
    assert trial.status == LicenseStatus.TRIAL
    trial.suspend(by=ops_user, reason="again")
    trial.reinstate(by=ops_user, now=trial.expires_at + dt.timedelta(days=3))
    assert trial.status == LicenseStatus.EXPIRED


def test_sweep__grace_started__emails_the_lead_manager(trial, mailoutbox, django_user_model):
    # Given a lead manager with an email address on the graced package
    trial.package.lead_manager = django_user_model.objects.create(
        username="lm", email="lm@partner.example"
    )
    trial.package.save()
    # When the sweep notes the grace and the outbox is processed
    from jobs.models import OutboxMessage
    from jobs.outbox import outbox_process

    sweep_due(now=trial.expires_at + SECOND)
    pending = list(OutboxMessage.objects.filter(status="pending").values_list("pk", flat=True))
    outbox_process(message_ids=pending)
    # Then one email says it is in grace until when
    subjects = [m.subject for m in mailoutbox if "grace" in m.subject]
    assert subjects == [f"{trial.name} Acme Corp ({trial.package.name}): in grace until 2027-01-03"]
