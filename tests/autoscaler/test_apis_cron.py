"""Budget schedules: five-field cron and the @-macros, with the day-of-month/day-of-week rule."""

from __future__ import annotations

import pytest

from shipyard.autoscaler.apis import parse_cron

ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS = set(range(1, 32)), set(range(1, 13)), set(range(7))


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("0 9 * * 1-5", ({0}, {9}, ALL_DAYS, ALL_MONTHS, {1, 2, 3, 4, 5})),
        ("*/15 0,12 1 jan,JUL sun", ({0, 15, 30, 45}, {0, 12}, {1}, {1, 7}, {0})),
        ("5-10/5 * ? * mon-wed", ({5, 10}, set(range(24)), ALL_DAYS, ALL_MONTHS, {1, 2, 3})),
        ("30 2/6 * * *", ({30}, {2, 8, 14, 20}, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("@daily", ({0}, {0}, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("@hourly", ({0}, set(range(24)), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("@weekly", ({0}, {0}, ALL_DAYS, ALL_MONTHS, {0})),
        ("@yearly", ({0}, {0}, {1}, {1}, ALL_WEEKDAYS)),
    ],
)
def test_fields_parse_to_their_allowed_values(text: str, fields: tuple[set[int], ...]) -> None:
    cron = parse_cron(text)
    parsed = [cron.minutes, cron.hours, cron.days_of_month, cron.months, cron.days_of_week]
    assert tuple(set(values) for values in parsed) == fields


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("0 0 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field '13'"),
        ("0 0 * * 7", "day-of-week field '7': 7 is out of range 0-6"),
        ("0 0 * * funday", "'funday' is not a number or a name (sun, mon"),
        ("0 0 * * 5-1", "the range 5-1 is backwards"),
        ("*/0 * * * *", "the step must be a positive number"),
        ("? * * * *", "minute field '?'"),
        ("0 9 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("0 9 * * * 2026", "found 6"),
        ("@every 5m", "unknown macro '@every'"),
        ("@sometimes", "unknown macro '@sometimes'"),
        ("TZ=UTC 0 9 * * *", "time zones are not supported"),
    ],
)
def test_bad_schedules_say_which_field_and_why(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cron(text)
    assert words in str(caught.value)


def test_day_fields_match_either_when_both_are_restricted() -> None:
    # "At 00:00 on day 1 of the month and on every Monday", as cron reads it.
    cron = parse_cron("0 0 1 * mon")
    assert cron.matches(0, 0, 1, 5, 3)  # the 1st, a Wednesday
    assert cron.matches(0, 0, 12, 5, 1)  # a Monday
    assert not cron.matches(0, 0, 12, 5, 2)
    # With one day field left as "*", only the other restricts.
    weekdays = parse_cron("0 9 * * mon-fri")
    assert weekdays.matches(0, 9, 12, 5, 1) and not weekdays.matches(0, 9, 13, 5, 6)
    assert not weekdays.matches(1, 9, 12, 5, 1) and not weekdays.matches(0, 10, 12, 5, 1)
    first = parse_cron("0 0 1 * ?")
    assert first.matches(0, 0, 1, 2, 6) and not first.matches(0, 0, 2, 2, 1)
