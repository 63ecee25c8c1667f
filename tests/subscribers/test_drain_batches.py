"""First installs applied a chunk at a time: the queries of a batch, and a bad event inside a
chunk failing alone."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboards.rollup import rollup_contents, rollup_rebuild
from jobs.models import OutboxMessage
from leads.models import Lead
from licenses.models import License, LicenseEvent
from subscribers.events import parse_event
from subscribers.models import SubscriberEvent
from subscribers.services import subscriber_event_accept, subscriber_events_drain
from tests.factories import PackageFactory, PackageVersionFactory

from .helpers import install_body, usage_body

H = dt.timedelta(hours=1)
# One batch of first installs, whatever their number (up to a chunk), and the look that finds
# the queue empty: claim, lock, read what the batch needs, one INSERT per table, the inbox
# outcomes. SQLite has no advisory locks but writes the dashboards' rollup table by table;
# the feature tables counting the new licenses' default values add one round trip on
# PostgreSQL, one statement per table on SQLite.
QUERIES_FIRST_INSTALLS_BATCH = {"postgresql": 25, "sqlite": 30}


def _org(n: int) -> str:
    return f"00D5g0000{n:06d}"


def _notified() -> list[int]:
    """The history rows the outbox's notifications name, each as often as it is named."""
    return sorted(pk for m in OutboxMessage.objects.all() for pk in m.payload["event_ids"])


def _queue(body: dict, event_id: str) -> None:
    subscriber_event_accept(event=parse_event(event_id, body))


def _queries_to_drain(pkg, t0, orgs: range, tag: str) -> int:
    for n in orgs:
        body = install_body(
            package_id=pkg.package_id, org_id=_org(n), at=t0, email=f"{tag}{n}@acme.example"
        )
        _queue(body, f"msg_{tag}_{n}")
    with CaptureQueriesContext(connection) as queries:
        result = subscriber_events_drain()
    assert result.applied == len(orgs) and result.failed == 0
    return len(queries)


def test_drain__first_installs__queries_do_not_grow_with_the_number_of_events(pkg, t0):
    # Given a version already registered by an earlier install
    _queries_to_drain(pkg, t0, range(0, 1), "first")

    # When one first install is drained, then thirty together
    one = _queries_to_drain(pkg, t0, range(1, 2), "one")
    thirty = _queries_to_drain(pkg, t0, range(100, 130), "thirty")

    # Then thirty cost the queries of one, within the batch budget (SQLite splits an INSERT
    # past 999 parameters: the thirty installs' 120 feature values take two)
    assert one <= thirty <= one + 1
    assert thirty <= QUERIES_FIRST_INSTALLS_BATCH[connection.vendor]
    # And each install wrote its license, history row, notification, lead and values
    assert License.objects.count() == 32
    assert LicenseEvent.objects.filter(kind="installed").count() == 32
    assert _notified() == sorted(LicenseEvent.objects.values_list("pk", flat=True))
    # (one outbox message per drained chunk, naming its rows)
    assert OutboxMessage.objects.count() == 3
    assert Lead.objects.count() == 32
    assert all(license.feature_values.count() == 4 for license in License.objects.all())


def test_drain__bad_install_inside_a_chunk__fails_alone_the_rest_are_applied_once(pkg, t0):
    # Given ten first installs queued together, one naming another package's version
    other = PackageVersionFactory(package=PackageFactory())
    for n in range(10):
        body = install_body(package_id=pkg.package_id, org_id=_org(n), at=t0)
        if n == 4:
            body["data"]["version_id"] = other.version_id
        _queue(body, f"msg_chunk_{n}")

    # When one drain applies them
    result = subscriber_events_drain()

    # Then only that event failed, with its reason, and nothing of it was written
    assert (result.applied, result.failed) == (9, 1)
    failed = SubscriberEvent.objects.get(event_id="msg_chunk_4")
    assert failed.outcome == "failed" and "data.version_id" in failed.error
    assert failed.license is None
    assert not License.objects.filter(org_id=_org(4)).exists()
    # And every other org has exactly one license, with one history row and one notification
    for n in (0, 1, 2, 3, 5, 6, 7, 8, 9):
        license = License.objects.get(org_id=_org(n))
        assert SubscriberEvent.objects.get(event_id=f"msg_chunk_{n}").license == license
        assert license.events.count() == 1
    assert License.objects.count() == 9
    assert _notified() == sorted(LicenseEvent.objects.values_list("pk", flat=True))
    # And the installer (one email for all) got one lead, shared by the nine licenses
    assert Lead.objects.count() == 1
    assert License.objects.filter(lead=Lead.objects.get()).count() == 9
    # And the dashboards' rollup counted each license once, as a recount does
    kept = rollup_contents()
    rollup_rebuild()
    assert kept == rollup_contents()


def test_drain__install_and_later_events_of_one_org_in_one_batch__applied_in_order(pkg, t0):
    # Given an install and two usage reports of one org, and another org's install, queued
    # together, and a usage report that fails in between
    _queue(install_body(package_id=pkg.package_id, org_id=_org(1), at=t0), "msg_i1")
    _queue(
        usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + H, used_licenses=3),
        "msg_u1",
    )
    bad = usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + 2 * H, parameters={"X": 1})
    _queue(bad, "msg_bad")
    _queue(
        usage_body(package_id=pkg.package_id, org_id=_org(1), at=t0 + 3 * H, used_licenses=7),
        "msg_u2",
    )
    _queue(install_body(package_id=pkg.package_id, org_id=_org(2), at=t0), "msg_i2")

    # When one drain applies them
    result = subscriber_events_drain()

    # Then the reports after the failed one still apply to the license the install created
    assert (result.applied, result.failed) == (4, 1)
    license = License.objects.get(org_id=_org(1))
    assert license.used_licenses == 7
    assert license.last_event_at == t0 + 3 * H
    assert SubscriberEvent.objects.get(event_id="msg_u2").license == license
    assert License.objects.filter(org_id=_org(2)).count() == 1


def test_drain__sandbox_and_its_parent_installed_in_one_batch__sandbox_joins_parent_lead(pkg, t0):
    # Given a production org's install and its sandbox's (installer unknown), queued together
    _queue(install_body(package_id=pkg.package_id, org_id=_org(1), at=t0), "msg_parent")
    sandbox = install_body(
        package_id=pkg.package_id,
        org_id=_org(2),
        at=t0,
        is_sandbox=True,
        parent_org_id=_org(1),
        installer={},
    )
    _queue(sandbox, "msg_sandbox")

    # When one drain applies them
    assert subscriber_events_drain().applied == 2

    # Then the sandbox's license belongs to the parent's lead
    parent = License.objects.get(org_id=_org(1))
    child = License.objects.get(org_id=_org(2))
    assert parent.lead is not None and child.lead == parent.lead
    assert Lead.objects.count() == 1


def test_drain__install_of_an_org_with_an_open_lead__joins_it_without_a_new_one(pkg, t0):
    # Given an open lead for the installer's email (another case) from an earlier install
    _queue(
        install_body(package_id=pkg.package_id, org_id=_org(1), at=t0, email="Ada@Acme.example"),
        "msg_first",
    )
    subscriber_events_drain()

    # When two more orgs installed by that person are drained together
    for n in (2, 3):
        body = install_body(
            package_id=pkg.package_id, org_id=_org(n), at=t0, email="ada@acme.EXAMPLE"
        )
        _queue(body, f"msg_more_{n}")
    subscriber_events_drain()

    # Then all three licenses share the one lead
    lead = Lead.objects.get()
    assert License.objects.filter(lead=lead).count() == 3


def test_drain__full_batches__asks_for_help_while_a_backlog_remains(pkg, t0):
    # Given five orgs' installs queued and batches of two
    for n in range(5):
        _queue(install_body(package_id=pkg.package_id, org_id=_org(n), at=t0), f"msg_b_{n}")
    asked: list[int] = []

    # When a drain applies them, told whom to ask for help
    result = subscriber_events_drain(batch_size=2, on_backlog=lambda: asked.append(1))

    # Then it asked after each full batch (two), not after the last, short one
    assert (result.batches, result.applied) == (3, 5)
    assert len(asked) == 2


def test_drain_help__asked_twice__one_helper_task_at_a_time(db, monkeypatch, settings):
    # Given a PostgreSQL database (the helper is for it only) and a broker that records
    from subscribers import services, tasks

    monkeypatch.setattr(services.connection, "vendor", "postgresql")
    sent: list[dict] = []
    monkeypatch.setattr(
        tasks.drain_subscriber_events, "apply_async", lambda **kw: sent.append(kw["kwargs"])
    )

    # When a drain asks for help twice while the first helper is still running
    services.subscriber_events_drain_help()
    services.subscriber_events_drain_help()

    # Then one helper task was sent, marked as the helper
    assert sent == [{"helper": True}]

    # And once helping is switched off, none is sent
    services.cache.delete(services.DRAIN_HELPER_KEY)
    settings.LMO_SUBSCRIBER_DRAIN_HELPER = False
    services.subscriber_events_drain_help()
    assert sent == [{"helper": True}]


class _FakeTime:
    """A monotonic clock the test moves; `sleep` runs what the test wants done meanwhile."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self.during_sleep = lambda: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds / 2
        self.during_sleep()
        self.now += seconds / 2


def test_drain_after_accept__drain_known_pending__asks_once_per_interval(
    pkg, t0, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # Given a web process that remembers a pending drain for 0.25 s
    from subscribers import services

    settings.LMO_SUBSCRIBER_DRAIN_ASK_SECONDS = 0.25
    fake = _FakeTime()
    monkeypatch.setattr(services, "time", fake)
    monkeypatch.setattr(services, "_drain_pending_until", 0.0)
    asked: list[float] = []
    monkeypatch.setattr(
        services, "subscriber_events_drain_soon", lambda: asked.append(round(fake.now, 3))
    )

    # When events are accepted 0.1 s apart
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            _queue(install_body(package_id=pkg.package_id, org_id=_org(n), at=t0), f"msg_a{n}")
        fake.now += 0.1

    # Then it asked for a drain on the first and once the interval had passed, not for each
    assert asked == [1000.0, 1000.3]


def test_drain_task__event_accepted_by_a_process_that_did_not_ask__applied_by_the_last_look(
    pkg, t0, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # Given a web process that saw a drain pending just before the drain cleared its key
    from subscribers import services, tasks

    settings.LMO_SUBSCRIBER_DRAIN_ASK_SECONDS = 0.25
    fake = _FakeTime()
    monkeypatch.setattr(services, "time", fake)
    monkeypatch.setattr(tasks, "time", fake)
    monkeypatch.setattr(services, "_drain_pending_until", fake.now + 0.25)
    published: list[dict] = []
    monkeypatch.setattr(
        tasks.drain_subscriber_events, "apply_async", lambda **kw: published.append(kw)
    )

    # And an event that process accepts while the drain finds the queue empty
    def accept_without_asking():
        with django_capture_on_commit_callbacks(execute=True):
            _queue(install_body(package_id=pkg.package_id, org_id=_org(1), at=t0), "msg_late")

    fake.during_sleep = accept_without_asking

    # When the drain task runs
    result = tasks.drain_subscriber_events()

    # Then the process did not ask for another drain, and this drain's last look applied it
    assert published == []
    assert fake.slept == [0.25]
    assert result["processed"] == 1
    assert SubscriberEvent.objects.get(event_id="msg_late").outcome == "applied"


def test_drain__interval_zero__returns_at_the_first_empty_look(db, monkeypatch):
    # Given a drain told to keep looking until a moment already past
    from subscribers import services

    fake = _FakeTime()
    monkeypatch.setattr(services, "time", fake)

    # When it finds the queue empty
    result = subscriber_events_drain(keep_looking_until=fake.now)

    # Then it returns at once
    assert fake.slept == [] and result.processed == 0
