"""The workers' side of the inbox: batches, failures, order, replays, and what staff see."""

import datetime as dt
import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from features.choices import DataType, Direction
from licenses.models import License
from subscribers.events import parse_event
from subscribers.models import SubscriberEvent
from subscribers.selectors import subscriber_inbox_backlog
from subscribers.services import subscriber_event_accept, subscriber_events_drain
from subscribers.simulator import SimPackage, plan_deliveries
from tests.factories import FeatureParameterFactory, PackageFactory, UserFactory

from .helpers import deliver, drain, install_body, post_event, usage_body

H = dt.timedelta(hours=1)
# One first install through one drain batch: claim, lock, read what the batch needs, register
# the version, one INSERT per table, the inbox outcome, and the look that finds the queue
# empty. SQLite has no advisory locks but writes the dashboards' rollup table by table. The
# dashboards' feature tables counting the new license's default values add one round trip
# on PostgreSQL, one statement per table on SQLite.
QUERIES_FIRST_INSTALL_DRAIN = {"postgresql": 30, "sqlite": 34}


def _org(n: int) -> str:
    return f"00D5g0000{n:06d}"


def test_drain__one_event_fails__the_rest_of_its_batch_is_applied(client, pkg, t0):
    # Given a backlog where one org's usage report names a parameter the package lacks
    for n in range(3):
        post_event(client, install_body(package_id=pkg.package_id, org_id=_org(n), at=t0))
    bad = usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + H, parameters={"X": 1})
    post_event(client, bad, event_id="msg_bad")
    good = usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + 2 * H, used_licenses=7)
    post_event(client, good, event_id="msg_good")

    # When one batch drains it all
    result = drain()

    # Then the bad event is failed with its reason, and every other one applied
    assert result.batches == 1
    assert (result.applied, result.failed) == (4, 1)
    failed = SubscriberEvent.objects.get(event_id="msg_bad")
    assert failed.outcome == "failed" and "data.parameters.X" in failed.error
    assert License.objects.count() == 3
    assert License.objects.get(org_id__startswith=_org(1)).used_licenses == 7


def test_drain__events_of_one_org_arrived_out_of_order__applied_in_event_time_order(
    client, pkg, t0
):
    # Given a usage report that arrived before the install it follows
    post_event(client, usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + H))
    post_event(client, install_body(package_id=pkg.package_id, org_id=_org(1), at=t0))

    drain()

    # Then the install was applied first: the license has the org's details and a lead
    license = License.objects.get()
    assert (license.org_name, license.used_licenses, license.installed_at) == ("Acme Corp", 5, t0)
    assert set(SubscriberEvent.objects.values_list("outcome", flat=True)) == {"applied"}


def test_replay_events_command__failed_events_applied_once_the_cause_is_fixed(client, pkg, t0):
    # Given an event that failed because the package had no such parameter yet
    deliver(client, install_body(package_id=pkg.package_id, org_id=_org(1), at=t0))
    body = usage_body(
        package_id=pkg.package_id, org_id=_org(1), at=t0 + H, parameters={"Seats_Used": 4}
    )
    assert deliver(client, body, event_id="msg_later")["status"] == "failed"

    # When the parameter is added and the failed events are replayed
    FeatureParameterFactory(
        package=pkg,
        developer_name="Seats_Used",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
        default_integer=0,
    )
    out = StringIO()
    call_command("replay_events", status="failed", stdout=out)

    # Then it is applied, and says so
    assert "1 applied" in out.getvalue()
    row = SubscriberEvent.objects.get(event_id="msg_later")
    assert (row.outcome, row.error) == ("applied", "")
    assert row.replayed_at is not None
    license = License.objects.get()
    assert license.feature_values.get(parameter__developer_name="Seats_Used").value == 4


def test_replay_events_command__nothing_failed__says_so(db):
    out = StringIO()

    call_command("replay_events", status="failed", stdout=out)

    assert "No failed events" in out.getvalue()


def test_console_replay_action__requeues_and_applies_failed_events(client, pkg, t0):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    body = usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0, parameters={"New": 1})
    deliver(client, body, event_id="msg_fail")
    FeatureParameterFactory(
        package=pkg,
        developer_name="New",
        data_type=DataType.INTEGER,
        direction=Direction.SUBSCRIBER_TO_LMO,
        default_boolean=None,
        default_integer=0,
    )
    client.force_login(admin)
    row = SubscriberEvent.objects.get()

    response = client.post(
        "/admin/subscribers/subscriberevent/",
        {"action": "replay_events", "_selected_action": [row.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 applied" in response.content.decode()
    assert SubscriberEvent.objects.get().outcome == "applied"


def _nested(depth: int) -> object:
    value: object = {"leaf": 1}
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [900, 3])
def test_console_inbox__stored_payload_of_any_depth__pages_render(client, db, depth):
    # Given an inbox row holding a payload nested 900 levels (stored before the limit)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    row = SubscriberEvent.objects.create(
        event_id="msg_deep",
        type="usage.reported",
        occurred_at=timezone.now(),
        package_id="033000000000001AAA",
        org_id="00D000000000001AAA",
        payload={"type": "usage.reported", "deep": _nested(depth)},
        outcome="failed",
        error="Refused.",
    )
    client.force_login(admin)

    # When staff open the inbox and the event
    listing = client.get("/admin/subscribers/subscriberevent/")
    page = client.get(f"/admin/subscribers/subscriberevent/{row.pk}/change/")

    # Then both pages render, the event shows its status, age and payload
    assert listing.status_code == 200
    assert "msg_deep" in listing.content.decode()
    assert page.status_code == 200
    content = page.content.decode()
    assert "leaf" in content and "Failed" in content


def test_backlog__queued_count_and_oldest_age(client, pkg, t0):
    assert subscriber_inbox_backlog()["queued"] == 0
    post_event(client, install_body(package_id=pkg.package_id, org_id=_org(1), at=t0))
    post_event(client, install_body(package_id=pkg.package_id, org_id=_org(2), at=t0))
    SubscriberEvent.objects.update(received_at=timezone.now() - dt.timedelta(seconds=90))

    backlog = subscriber_inbox_backlog()

    assert backlog["queued"] == 2
    assert 89 <= backlog["oldest_queued_age_seconds"] < 120
    drain()
    assert subscriber_inbox_backlog()["queued"] == 0


def test_health_report__includes_the_inbox_backlog(client, pkg, t0):
    from jobs.health import health_report

    post_event(client, install_body(package_id=pkg.package_id, org_id=_org(1), at=t0))

    _, report = health_report()

    assert report["subscriber_inbox"]["queued"] == 1


def _snapshot(package) -> list[tuple]:
    return sorted(
        License.objects.filter(package=package).values_list(
            "org_id",
            "status",
            "seats",
            "version__version_number",
            "used_licenses",
            "installed_at",
            "expires_at",
            "uninstalled_at",
            "last_event_at",
            "org_name",
            "previous_license__installed_at",
        )
    )


def _play(package, *, shuffle: bool, now: dt.datetime) -> tuple[int, int]:
    simulated = SimPackage(package.package_id, [])
    deliveries = plan_deliveries(
        packages=[simulated],
        orgs=200,
        seed=11,
        months=6,
        usage_interval_days=(5, 10),
        now=now,
        duplicate_rate=0.2 if shuffle else 0.0,
        late_rate=0.0,
        event_prefix=f"msg_{package.namespace}_",
    )
    if shuffle:
        random.Random(5).shuffle(deliveries)
    for delivery in deliveries:
        subscriber_event_accept(event=parse_event(delivery.event_id, delivery.body))
    subscriber_events_drain()
    return len(deliveries), sum(1 for d in deliveries if d.fault == "duplicate")


def test_drain__2000_events_200_orgs_shuffled_with_duplicates__same_state_as_in_order(db):
    # Given two identical packages: one gets its events in order, once each; the other
    # gets them shuffled, a fifth of them twice
    lead_manager = UserFactory(username="lm")
    in_order, shuffled = (
        PackageFactory(lead_manager=lead_manager, namespace=name) for name in ("ord", "shuf")
    )

    now = timezone.now()
    sent, _ = _play(in_order, shuffle=False, now=now)
    sent_shuffled, duplicates = _play(shuffled, shuffle=True, now=now)

    # Then the inbox holds each event once and the licenses end in the same state
    assert sent >= 2000 and duplicates >= sent * 0.15
    assert sent_shuffled == sent + duplicates
    assert SubscriberEvent.objects.filter(outcome="queued").count() == 0
    assert SubscriberEvent.objects.count() == 2 * sent
    assert len(_snapshot(in_order)) >= 200
    assert _snapshot(shuffled) == _snapshot(in_order)


def test_drain__one_first_install__bounded_query_count(
    client, pkg, t0, django_assert_max_num_queries
):
    # Given one queued first install of an org the LMO has never seen (a lead is created)
    post_event(client, install_body(package_id=pkg.package_id, org_id=_org(1), at=t0))

    # When a worker drains it, its queries stay within the budget of one batch
    with django_assert_max_num_queries(QUERIES_FIRST_INSTALL_DRAIN[connection.vendor]):
        result = drain()

    # Then the license, its history row and the inbox outcome are written
    assert result.applied == 1
    license = License.objects.get()
    assert license.events.count() == 1
    assert SubscriberEvent.objects.get().outcome == "applied"
