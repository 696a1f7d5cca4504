"""The ``schedule`` event: which ``on.schedule`` crons are due at a minute (UTC), and the
trigger decision for a schedule event (the cron that fired must be one of the workflow's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shipyard.ci.cron import cron_matches, due_crons
from shipyard.ci.filters import Event, evaluate_trigger, schedule_crons
from shipyard.core.errors import InvalidError

# 2026-03-02 is a Monday.
MONDAY_0530 = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "at", "due"),
    [
        ("30 5 * * *", MONDAY_0530, True),
        ("30 5 * * *", MONDAY_0530 + timedelta(minutes=1), False),
        ("30 5 * * *", MONDAY_0530 + timedelta(seconds=59), True),  # the whole minute
        ("*/15 * * * *", MONDAY_0530, True),
        ("*/15 * * * *", MONDAY_0530 + timedelta(minutes=5), False),
        ("0-59/20 * * * *", MONDAY_0530 + timedelta(minutes=10), True),
        ("10/20 * * * *", MONDAY_0530, True),  # 10/20 is 10-59/20: 10, 30, 50
        ("10/20 * * * *", MONDAY_0530 - timedelta(minutes=30), False),
        ("30 5 * * 1", MONDAY_0530, True),
        ("30 5 * * MON-FRI", MONDAY_0530, True),
        ("30 5 * * SUN,SAT", MONDAY_0530, False),
        ("30 5 * * 0", MONDAY_0530 + timedelta(days=6), True),  # Sunday is 0
        ("30 5 * MAR *", MONDAY_0530, True),
        ("30 5 * 4-12 *", MONDAY_0530, False),
        ("30 5 2 * *", MONDAY_0530, True),
        # day of month and day of week both restricted: either one matches
        ("30 5 15 * 1", MONDAY_0530, True),
        ("30 5 2 * 5", MONDAY_0530, True),
        ("30 5 15 * 5", MONDAY_0530, False),
        # one of them is *: both must match
        ("30 5 15 * *", MONDAY_0530, False),
        ("30 5 */2 * 1", MONDAY_0530, False),  # */2 counts as *: day 2 is not odd-numbered
        ("30 5 */2 * 1", MONDAY_0530 - timedelta(days=1), False),
    ],
)
def test_cron_matches(cron: str, at: datetime, due: bool) -> None:
    assert cron_matches(cron, at) is due


def test_cron_is_read_in_utc() -> None:
    """05:30 UTC is 07:30 in UTC+2: a cron is due on the UTC clock, whatever the zone given."""
    local = MONDAY_0530.astimezone(timezone(timedelta(hours=2)))
    assert local.hour == 7
    assert cron_matches("30 5 * * *", local)
    assert not cron_matches("30 7 * * *", local)


def test_due_crons_keeps_the_workflow_order() -> None:
    crons = ["0 0 * * *", "30 5 * * 1", "*/10 * * * *"]
    assert due_crons(crons, MONDAY_0530) == ("30 5 * * 1", "*/10 * * * *")
    assert due_crons(crons, MONDAY_0530 + timedelta(minutes=1)) == ()


def test_invalid_cron_and_naive_time_are_refused() -> None:
    with pytest.raises(InvalidError, match="5 fields"):
        cron_matches("30 5 * *", MONDAY_0530)
    with pytest.raises(InvalidError, match="time zone"):
        cron_matches("30 5 * * *", MONDAY_0530.replace(tzinfo=None))


ON = {"push": None, "schedule": [{"cron": "30 5 * * 1"}, {"cron": "0 0 * * *"}]}


def test_a_schedule_event_runs_the_workflow_whose_cron_fired() -> None:
    assert evaluate_trigger(ON, Event("schedule", schedule="0 0 * * *")).triggers
    decision = evaluate_trigger(ON, Event("schedule", schedule="15 * * * *"))
    assert not decision.triggers
    assert "'15 * * * *' is not one of on.schedule's crons" in decision.reason
    other = evaluate_trigger({"push": None}, Event("schedule", schedule="0 0 * * *"))
    assert other.reason == "the workflow does not listen to schedule"
    with pytest.raises(InvalidError, match="needs the cron that fired it"):
        evaluate_trigger(ON, Event("schedule"))


def test_schedule_crons_reads_both_forms() -> None:
    assert schedule_crons(ON) == ("30 5 * * 1", "0 0 * * *")
    assert schedule_crons({"schedule": {"crons": ["1 2 3 4 5"]}}) == ("1 2 3 4 5",)
    assert schedule_crons({"push": None}) is None
    with pytest.raises(InvalidError, match=r"on\.schedule\[0\]\.cron"):
        schedule_crons({"schedule": [{"corn": "x"}]})
