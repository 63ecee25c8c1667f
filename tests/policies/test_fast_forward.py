"""simulate_subscribers --fast-forward: months played forward on the simulated clock."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from clock.models import ClockChange
from licenses.choices import Actor, EventKind, LicenseStatus
from licenses.models import License, LicenseEvent
from tests.factories import PackageFactory, PackageVersionFactory


@pytest.mark.django_db(transaction=True)
def test_fast_forward__60_days__trials_lapse_through_the_sweep(settings, live_server):
    # Given a package whose trials last 10 days with 2 days of grace, on the simulated clock
    settings.LMO_SIMULATED_CLOCK = True
    package = PackageFactory(trial_days=10, grace_days=2)
    PackageVersionFactory(package=package, version_number="1.0.0")
    started = timezone.now()
    out = StringIO()

    # When 60 days are played forward
    call_command(
        "simulate_subscribers",
        url=live_server.url,
        orgs=12,
        seed=11,
        concurrency=1,
        no_progress=True,
        fast_forward="60d",
        settle_timeout=60,
        stdout=out,
    )

    # Then the clock moved 60 days, a day at a time, and the sweep expired lapsed trials
    latest = ClockChange.objects.order_by("-id").first()
    assert dt.timedelta(days=59) < latest.offset <= dt.timedelta(days=60, minutes=5)
    assert ClockChange.objects.count() == 60
    expired = LicenseEvent.objects.filter(
        kind=EventKind.STATUS_CHANGED, actor=Actor.SYSTEM, after__status="expired"
    )
    assert expired.exists()
    assert LicenseEvent.objects.filter(kind=EventKind.GRACE_STARTED).exists()
    # Expiries are dated on the simulated clock, after real time
    assert min(expired.values_list("at", flat=True)) > started + dt.timedelta(days=9)
    assert License.objects.filter(status=LicenseStatus.EXPIRED).exists()
    assert "clock " in out.getvalue()


def test_fast_forward__clock_off__refused(package):
    with pytest.raises(CommandError, match="LMO_SIMULATED_CLOCK"):
        call_command(
            "simulate_subscribers",
            url="http://127.0.0.1:9",
            orgs=2,
            fast_forward="30d",
            no_progress=True,
            stdout=StringIO(),
        )
