import datetime as dt
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from clock.exceptions import ClockError
from clock.models import ClockChange
from clock.services import clock_advance, clock_reset, clock_set, parse_duration, parse_instant
from lmo import clock
from tests.core.test_settings import PRODUCTION, _import_settings

REAL = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def real_time():
    with time_machine.travel(REAL, tick=False) as traveller:
        yield traveller


def test_now__simulated_clock_off__is_real_time_and_cannot_move(db, real_time):
    # When / Then
    assert clock.now() == REAL
    with pytest.raises(ClockError, match="LMO_SIMULATED_CLOCK"):
        clock_advance(by=None, delta=dt.timedelta(days=1))
    assert ClockChange.objects.count() == 0


def test_advance__moves_now_by_the_duration_and_records_who(
    simulated_clock, admin_user_role, real_time
):
    # When
    clock_advance(by=admin_user_role, delta=parse_duration("30d"))
    # Then
    assert clock.now() == REAL + dt.timedelta(days=30)
    change = ClockChange.objects.get()
    assert change.actor == "administrator"
    assert (change.offset_before, change.offset) == (dt.timedelta(0), dt.timedelta(days=30))
    assert clock.is_simulated()


def test_set__moves_to_the_instant_and_real_time_keeps_running(simulated_clock, real_time):
    # When
    clock_set(by=None, to=parse_instant("2027-03-01T09:00Z"))
    real_time.shift(dt.timedelta(hours=2))
    clock.forget_offset()
    # Then
    assert clock.now() == dt.datetime(2027, 3, 1, 11, 0, tzinfo=dt.UTC)


def test_set__to_a_time_before_the_clock__refused(simulated_clock, real_time):
    # Given
    clock_advance(by=None, delta=dt.timedelta(days=10))
    # When / Then
    with pytest.raises(ClockError, match="only moves forward"):
        clock_set(by=None, to=REAL + dt.timedelta(days=5))
    assert clock.now() == REAL + dt.timedelta(days=10)


def test_reset__back_to_real_time(simulated_clock, real_time):
    # Given
    clock_advance(by=None, delta=dt.timedelta(days=10))
    # When
    clock_reset(by=None)
    # Then
    assert clock.now() == REAL
    assert not clock.is_simulated()
    assert ClockChange.objects.count() == 2


@pytest.mark.parametrize("text", ["", "30", "d30", "-3d", "3y", "1.5d"])
def test_parse_duration__bad_text__refused(text):
    with pytest.raises(ClockError, match="not a duration"):
        parse_duration(text)


def test_offset__moved_by_another_process__seen_at_the_next_request(simulated_clock, real_time):
    # Given: this process has read the offset
    assert clock.now() == REAL
    # When: another process moves the clock (the database row and the shared cache entry)
    ClockChange.objects.create(at=REAL, actor="system", offset=dt.timedelta(days=3))
    from django.core.cache import cache

    cache.delete(clock.CACHE_KEY)
    clock.forget_offset()  # what the middleware does at the start of each request
    # Then
    assert clock.now() == REAL + dt.timedelta(days=3)


def test_clock_command__advance_show_set_reset(
    simulated_clock, real_time, capsys, django_capture_on_commit_callbacks
):
    def call(*args):
        with django_capture_on_commit_callbacks(execute=True):
            call_command(*args)

    # When
    call("clock", "advance", "30d")
    out = capsys.readouterr().out
    # Then
    assert "now:       2026-12-31T09:00:00+00:00" in out
    assert "+30d 00:00:00" in out
    call("clock", "set", "2027-03-01T09:00Z")
    assert "now:       2027-03-01T09:00:00+00:00" in capsys.readouterr().out
    call("clock", "reset")
    assert "real time" in capsys.readouterr().out
    call("clock", "show")
    assert "now:       2026-12-01T09:00:00+00:00" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not a duration"):
        call_command("clock", "advance", "soon")


def test_clock_page__administrator_advances__banner_on_every_page(
    simulated_clock, admin_user_role, client, django_capture_on_commit_callbacks
):
    # Given
    client.force_login(admin_user_role)
    url = reverse("admin:clock_clockchange_changelist")
    assert "lmo-clock-banner" not in client.get(url).content.decode()
    # When
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"verb": "advance", "duration": "30d"})
    # Then
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert 'id="lmo-clock-banner"' in page
    assert "Simulated clock" in page
    assert ClockChange.objects.get().offset == dt.timedelta(days=30)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "lmo-clock-banner" in docs.content.decode()
    index = client.get(reverse("admin:index")).content.decode()
    assert "lmo-clock-banner" in index


def test_clock_page__bad_duration__says_why_and_does_not_move(
    simulated_clock, admin_user_role, client
):
    client.force_login(admin_user_role)
    url = reverse("admin:clock_clockchange_changelist")
    response = client.post(url, {"verb": "advance", "duration": "soon"}, follow=True)
    assert "not a duration" in response.content.decode()
    assert ClockChange.objects.count() == 0


@pytest.mark.parametrize("who", ["ops_user", "support_user", "manager_user"])
def test_clock_page__other_roles__cannot_see_or_move(simulated_clock, client, who, request):
    client.force_login(request.getfixturevalue(who))
    url = reverse("admin:clock_clockchange_changelist")
    assert client.get(url).status_code == 403
    assert client.post(url, {"verb": "advance", "duration": "30d"}).status_code == 403
    assert ClockChange.objects.count() == 0


def test_healthz__reports_the_offset(simulated_clock, admin_user_role, client, real_time):
    # Given
    clock_advance(by=None, delta=dt.timedelta(days=2))
    client.force_login(admin_user_role)
    # When
    body = json.loads(client.get("/healthz").content)
    # Then
    assert body["clock"] == {
        "simulated": True,
        "offset_seconds": 2 * 86400,
        "now": (REAL + dt.timedelta(days=2)).isoformat(),
    }


def test_settings__simulated_clock_without_debug__refused_at_start():
    result = _import_settings(**PRODUCTION, LMO_SIMULATED_CLOCK="1")
    assert result.returncode != 0
    assert "LMO_SIMULATED_CLOCK is on with DEBUG off" in result.stderr


def test_settings__simulated_clock_explicitly_allowed__starts():
    result = _import_settings(
        **PRODUCTION, LMO_SIMULATED_CLOCK="1", LMO_ALLOW_SIMULATED_CLOCK_IN_PRODUCTION="1"
    )
    assert result.returncode == 0, result.stderr


def test_now__real_time_is_timezone_now(db):
    before = timezone.now()
    assert before <= clock.now() <= timezone.now()


def test_advance__publishing_fails_after_commit__the_move_stands_and_nothing_raises(
    simulated_clock, admin_user_role, real_time, monkeypatch, django_capture_on_commit_callbacks
):
    # Given: the cache that carries the offset to other processes refuses the write
    def refuse(offset):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr("clock.services.publish_offset", refuse)
    # When
    with django_capture_on_commit_callbacks(execute=True):
        clock_advance(by=admin_user_role, delta=dt.timedelta(days=3))
    # Then: the change was recorded and the caller got no error
    assert ClockChange.objects.get().offset == dt.timedelta(days=3)
