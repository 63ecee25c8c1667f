"""The console's one date format, and "in N days" counted in UTC calendar days."""

import datetime as dt

import pytest
import time_machine
from django import forms
from django.template import Context, Template
from django.utils import formats

from core.dates import (
    UtcDateTimeInput,
    days_until,
    expiry_html,
    format_history_value,
    format_utc,
    relative_days,
)

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@time_machine.travel(at(26, 23, 35), tick=False)
def test_relative_days__expiry_tomorrow_utc_at_2335__is_in_1_day():
    # Given it is 23:35 UTC and the license ends tomorrow (UTC) at 19:06
    expires = at(27, 19, 6)

    # When the console says how far off that is
    label = relative_days(expires)

    # Then it is tomorrow, not "today" (fewer than 24 hours is still one day ahead)
    assert label == "in 1 day"
    assert "(in 1 day)" in expiry_html(expires)
    assert "(today)" not in expiry_html(expires)


@time_machine.travel(at(26, 0, 5), tick=False)
def test_relative_days__later_the_same_utc_day__is_today():
    assert relative_days(at(26, 23, 59)) == "today"


@pytest.mark.parametrize(
    ("expires", "label"),
    [
        (at(28, 0, 1), "in 2 days"),
        (at(26, 1, 0), "today"),
        (at(25, 23, 59), "1 day ago"),
        (at(20, 12, 0), "6 days ago"),
    ],
)
@time_machine.travel(at(26, 23, 35), tick=False)
def test_relative_days__counts_calendar_days_in_utc(expires, label):
    assert relative_days(expires) == label


def test_days_until__takes_both_times_in_utc_whatever_their_zone():
    # 2026-12-27 01:00 at UTC+3 is still 2026-12-26 in UTC: the same day as "now".
    plus_three = dt.timezone(dt.timedelta(hours=3))
    expires = dt.datetime(2026, 12, 27, 1, 0, tzinfo=plus_three)
    assert days_until(expires, now=at(26, 9)) == 0


def test_format_utc__one_format_for_times_and_dates():
    assert format_utc(at(27, 19, 6)) == "2026-12-27 19:06 UTC"
    assert format_utc(
        dt.datetime(2026, 12, 27, 22, 6, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    ) == ("2026-12-27 19:06 UTC")
    assert format_utc(dt.date(2026, 12, 27)) == "2026-12-27"
    assert format_utc(None) == ""


def test_expiry_html__past_and_never():
    now = at(26, 12)
    assert "lmo-late" in expiry_html(at(20, 12), now) and "(6 days ago)" in expiry_html(
        at(20, 12), now
    )
    assert "Does not expire" in expiry_html(None, now)
    compact = expiry_html(at(27, 19, 6), now, compact=True)
    assert ">2026-12-27<" in compact and 'title="2026-12-27 19:06 UTC"' in compact


def test_history_values__iso_times_are_written_the_console_way():
    # History rows store JSON; their ISO times (with microseconds) read like every other date.
    assert format_history_value("2027-02-25T19:06:43.197977+00:00") == "2027-02-25 19:06 UTC"
    assert format_history_value("2027-02-25") == "2027-02-25"
    assert format_history_value(10) == "10"
    assert format_history_value(None) == "-"
    assert format_history_value("trial") == "trial"


def test_template_filters__utc_and_expiry():
    with time_machine.travel(at(26, 23, 35), tick=False):
        rendered = Template("{% load console %}{{ when|utc }} | {{ when|expiry }}").render(
            Context({"when": at(27, 19, 6)})
        )
    assert rendered.startswith("2026-12-27 19:06 UTC | ")
    assert "(in 1 day)" in rendered


def test_django_formats__show_and_read_the_console_format():
    # The admin's own rendering of a time (readonly fields, lists) uses the same format.
    assert formats.date_format(at(27, 19, 6), "DATETIME_FORMAT") == "2026-12-27 19:06 UTC"
    assert formats.localize(at(27, 19, 6)) == "2026-12-27 19:06 UTC"


class _Form(forms.Form):
    until = forms.DateTimeField(widget=UtcDateTimeInput())


@pytest.mark.parametrize("typed", ["2026-12-27 19:06 UTC", "2026-12-27 19:06", "2026-12-27T19:06"])
def test_datetime_fields__take_the_shown_format(typed):
    form = _Form({"until": typed})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["until"] == at(27, 19, 6)


def test_datetime_widget__shows_the_value_in_the_console_format():
    html = _Form(initial={"until": at(27, 19, 6)})["until"].as_widget()
    assert 'value="2026-12-27 19:06 UTC"' in html
    assert 'type="text"' in html
