"""The subscriber simulator, against a live server, with a small population."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from leads.models import Lead
from licenses.models import License
from packages.models import PackageVersion
from subscribers.models import SubscriberEvent
from subscribers.simulator import SimPackage, plan_deliveries


def test_plan__same_seed__same_deliveries_with_faults():
    now = timezone.now()
    packages = [SimPackage("033000000000001AAA", [])]

    first = plan_deliveries(packages=packages, orgs=60, seed=7, now=now)
    again = plan_deliveries(packages=packages, orgs=60, seed=7, now=now)

    assert [d.event_id for d in first] == [d.event_id for d in again]
    assert {d.fault for d in first} == {"", "duplicate", "late"}
    assert {d.body["type"] for d in first} == {
        "package.installed",
        "package.upgraded",
        "package.uninstalled",
        "usage.reported",
    }
    assert all(
        dt.datetime.fromisoformat(d.body["timestamp"].replace("Z", "+00:00")) < now for d in first
    )


@pytest.mark.django_db(transaction=True)
def test_simulate_subscribers__against_live_server__applies_events_no_5xx(live_server, pkg):
    out = StringIO()

    call_command(
        "simulate_subscribers",
        url=live_server.url,
        orgs=15,
        seed=7,
        months=4,
        concurrency=1,
        no_progress=True,
        stdout=out,
    )

    summary = out.getvalue()
    assert "0 5xx" in summary
    assert SubscriberEvent.objects.filter(outcome="applied").exists()
    assert License.objects.filter(package=pkg).exists()
    assert Lead.objects.exists()
    # New versions appeared during the simulated months and were registered by upgrades
    assert PackageVersion.objects.filter(package=pkg).count() > 1
    assert "requests/s" in summary


def test_simulate_subscribers__unreachable_server__command_error(pkg):
    with pytest.raises(CommandError, match="Could not reach"):
        call_command(
            "simulate_subscribers",
            url="http://127.0.0.1:9",
            orgs=2,
            seed=1,
            months=1,
            no_progress=True,
            stdout=StringIO(),
        )
