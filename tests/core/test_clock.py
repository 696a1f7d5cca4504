"""The virtual clock fires timers in (time, scheduling order) order and moves only when told."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.clock import DEFAULT_EPOCH, VirtualClock, format_time, parse_time


def test_starts_at_the_default_epoch_and_does_not_move_by_itself() -> None:
    clock = VirtualClock()
    assert clock.now() == DEFAULT_EPOCH
    assert clock.now() == DEFAULT_EPOCH
    assert format_time(clock.now()) == "2026-01-01T00:00:00Z"


def test_timers_fire_in_time_order_and_ties_in_scheduling_order() -> None:
    clock = VirtualClock(start=0)
    fired: list[str] = []
    clock.call_later(5, lambda: fired.append("b@5"))
    clock.call_later(1, lambda: fired.append("a@1"))
    clock.call_later(5, lambda: fired.append("c@5"))
    clock.advance(4)
    assert fired == ["a@1"]
    assert clock.now() == 4
    clock.advance(1)
    assert fired == ["a@1", "b@5", "c@5"]


def test_a_timer_sees_its_own_due_time_as_now() -> None:
    clock = VirtualClock(start=100)
    seen: list[float] = []
    clock.call_later(2.5, lambda: seen.append(clock.now()))
    clock.advance(10)
    assert seen == [102.5]
    assert clock.now() == 110


def test_timers_scheduled_by_timers_run_in_the_same_advance() -> None:
    clock = VirtualClock(start=0)
    fired: list[float] = []

    def tick() -> None:
        fired.append(clock.now())
        if len(fired) < 5:
            clock.call_later(1, tick)

    clock.call_later(1, tick)
    clock.advance(10)
    assert fired == [1, 2, 3, 4, 5]


def test_cancelled_timers_never_fire() -> None:
    clock = VirtualClock(start=0)
    fired: list[int] = []
    handle = clock.call_later(1, lambda: fired.append(1))
    handle.cancel()
    assert clock.pending() == 0
    clock.advance(5)
    assert fired == []


def test_run_until_idle_drains_every_timer_and_respects_a_limit() -> None:
    clock = VirtualClock(start=0)
    fired: list[int] = []
    for i in range(1, 4):
        clock.call_later(i * 10, lambda i=i: fired.append(i))
    assert clock.run_until_idle(limit=15) == 1
    assert clock.now() == 15
    assert clock.run_until_idle() == 2
    assert fired == [1, 2, 3]
    assert clock.now() == 30
    assert clock.next_deadline() is None


def test_sleep_on_a_virtual_clock_advances_it() -> None:
    clock = VirtualClock(start=0)
    clock.sleep(3)
    assert clock.now() == 3


def test_advancing_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        VirtualClock().advance(-1)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=50))
def test_firing_order_is_sorted_by_time_then_order(delays: list[float]) -> None:
    clock = VirtualClock(start=0)
    fired: list[tuple[float, int]] = []
    for i, d in enumerate(delays):
        clock.call_later(d, lambda d=d, i=i: fired.append((d, i)))
    clock.run_until_idle()
    assert fired == sorted(fired)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", DEFAULT_EPOCH),
        ("2026-01-01T01:00:00+01:00", DEFAULT_EPOCH),
        ("2026-01-01T00:00:00.5Z", DEFAULT_EPOCH + 0.5),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text) == expected


def test_parse_time_rejects_garbage_with_the_text() -> None:
    with pytest.raises(ValueError, match="yesterday"):
        parse_time("yesterday")
