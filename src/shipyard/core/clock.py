"""Time, injected: the only module in Shipyard that reads the wall clock or sleeps.

Every controller takes a :class:`Clock`. Live mode passes a :class:`RealClock`; simulations
and tests pass a :class:`VirtualClock`, a discrete-event clock whose timers fire in time
order (ties broken by the order they were scheduled, so a run is deterministic) and which
only moves when told to: ``advance(seconds)``, ``run_until(t)`` or ``run_until_idle()``.

Times are float seconds since the Unix epoch (UTC). :func:`format_time` and
:func:`parse_time` convert to and from the RFC 3339 form Kubernetes shows
(``2026-01-01T00:00:00Z``).
"""

from __future__ import annotations

import functools
import heapq
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "DEFAULT_EPOCH",
    "Clock",
    "RealClock",
    "TimerHandle",
    "VirtualClock",
    "format_time",
    "parse_time",
]

# 2026-01-01T00:00:00Z: where virtual time starts unless told otherwise.
DEFAULT_EPOCH = 1767225600.0


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What controllers know of time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; on a virtual clock, run every timer due in the meantime."""
        ...

    def call_later(self, seconds: float, fn: Callable[[], None]) -> TimerHandle:
        """Run ``fn`` once, ``seconds`` from now (at once when ``seconds <= 0``)."""
        ...


class _ThreadTimer:
    def __init__(self, timer: threading.Timer) -> None:
        self._timer = timer

    def cancel(self) -> None:
        self._timer.cancel()


class RealClock:
    """Wall-clock time; timers run on daemon threads."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def call_later(self, seconds: float, fn: Callable[[], None]) -> TimerHandle:
        timer = threading.Timer(max(0.0, seconds), fn)
        timer.daemon = True
        timer.start()
        return _ThreadTimer(timer)

    def monotonic(self) -> float:
        """For measuring durations (benchmarks, timeouts in live mode)."""
        return time.monotonic()


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A discrete-event clock: time moves only when told, timers fire in (time, order) order."""

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self._timers: list[_Timer] = []
        self._seq = 0
        self.fired = 0

    def now(self) -> float:
        return self._now

    def call_later(self, seconds: float, fn: Callable[[], None]) -> TimerHandle:
        self._seq += 1
        timer = _Timer(self._now + max(0.0, seconds), self._seq, fn)
        heapq.heappush(self._timers, timer)
        return timer

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, firing every timer due on the way."""
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by a negative duration ({seconds}s)")
        return self.run_until(self._now + seconds)

    def run_until(self, when: float) -> int:
        """Fire every timer due at or before ``when``, then set the time to ``when``."""
        fired = 0
        while self._timers and self._timers[0].when <= when:
            fired += self._fire_next()
        self._now = max(self._now, when)
        return fired

    def run_until_idle(self, limit: float | None = None, max_events: int = 10_000_000) -> int:
        """Fire timers until none are left (or the next is after ``limit``, absolute time)."""
        fired = 0
        while self._timers and fired < max_events:
            if limit is not None and self._timers[0].when > limit:
                self._now = max(self._now, limit)
                break
            fired += self._fire_next()
        return fired

    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def _fire_next(self) -> int:
        timer = heapq.heappop(self._timers)
        if timer.cancelled:
            return 0
        self._now = max(self._now, timer.when)
        timer.fn()
        self.fired += 1
        return 1


def format_time(ts: float) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes prints timestamps."""
    last = _LAST_FORMATTED[0]
    if last[0] == ts:  # most calls in a burst of writes share one instant
        return last[1]
    text = _format_second(math.floor(round(ts, 6)))
    _LAST_FORMATTED[0] = (ts, text)  # one pair, replaced whole: safe across threads
    return text


_LAST_FORMATTED: list[tuple[float, str]] = [(math.nan, "")]


@functools.lru_cache(maxsize=4096)
def _format_second(second: int) -> str:
    # Many writes share a second: cached, since strftime is among the costliest steps of one.
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_PARSED: dict[str, float] = {}
_PARSED_MAX = 65_536


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp (``Z`` or an offset; fractional seconds allowed).

    Memoized: controllers read the same stamps (a pod's ``startTime``) again and again."""
    found = _PARSED.get(text)
    if found is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        found = _PARSED[text] = _parse_time(text)
    return found


def _parse_time(text: str) -> float:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"invalid RFC 3339 time {text!r}") from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
