"""NodePool disruption budgets: how many nodes of a pool may be disrupted now, per reason.

Karpenter's documented arithmetic, as pure functions:

- A budget applies to a reason when it lists the reason or lists none.
- A budget without ``schedule`` is always active; with one, it is active for ``duration``
  from each time the cron schedule (UTC, minute resolution) fires: at ``now`` when some
  firing ``t`` has ``t <= now < t + duration``.
- ``nodes`` is a count, or a percentage of the pool's nodes rounded **up**
  (``roundup(total * pct)``).
- The allowed disruptions for a reason are the minimum over the active budgets that apply,
  less the pool's nodes already disrupting (being deleted, marked for disruption, or
  NotReady), never below zero. With no active budget that applies, nothing limits the reason
  beyond the node count.

:func:`budget_map` evaluates every pool at once into a
:class:`~shipyard.autoscaler.disruption.types.BudgetMap` that methods spend from.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shipyard.autoscaler.apis import Budget, NodePoolView
from shipyard.autoscaler.disruption.types import DRIFTED, EMPTY, UNDERUTILIZED, BudgetMap

__all__ = [
    "BUDGET_REASONS",
    "PoolCounts",
    "allowed_disruptions",
    "budget_active",
    "budget_map",
]

BUDGET_REASONS = (EMPTY, UNDERUTILIZED, DRIFTED)
_MINUTE = 60.0
_HOUR = 3_600.0
_DAY = 86_400.0


@dataclass(frozen=True)
class PoolCounts:
    """A pool's nodes: all of them, and those already disrupting (deleting, marked, NotReady)."""

    total: int
    disrupting: int


def _fires_at(budget: Budget, minute_start: float) -> bool:
    assert budget.cron is not None
    t = _dt.datetime.fromtimestamp(minute_start, tz=_dt.UTC)
    weekday = (t.weekday() + 1) % 7  # cron counts from Sunday = 0
    return budget.cron.matches(t.minute, t.hour, t.day, t.month, weekday)


def _day_may_fire(budget: Budget, day_start: float) -> bool:
    """Whether some minute of the UTC day starting at ``day_start`` matches (the day fields
    do not depend on the minute and hour, so one allowed minute and hour decide)."""
    assert budget.cron is not None
    t = _dt.datetime.fromtimestamp(day_start, tz=_dt.UTC)
    weekday = (t.weekday() + 1) % 7
    cron = budget.cron
    return cron.matches(min(cron.minutes), min(cron.hours), t.day, t.month, weekday)


def _previous_candidate(budget: Budget, minute: float) -> float | None:
    """``minute`` if the schedule may fire then, else the latest earlier minute worth
    checking (skipping whole days and hours that cannot match); None to check it."""
    assert budget.cron is not None
    day_start = minute - minute % _DAY
    if not _day_may_fire(budget, day_start):
        return day_start - _MINUTE
    hour = int(minute % _DAY // _HOUR)
    if hour not in budget.cron.hours:
        return minute - minute % _HOUR - _MINUTE
    return None


def budget_active(budget: Budget, now: float) -> bool:
    """Whether the budget is in force at ``now`` (always, without a schedule)."""
    if budget.cron is None or budget.duration is None:
        return True
    if budget.duration <= 0:
        return False
    minute = now - now % _MINUTE
    earliest = now - budget.duration  # a firing at t counts when t > now - duration
    while minute > earliest:
        skip = _previous_candidate(budget, minute)
        if skip is not None:
            minute = skip
            continue
        if _fires_at(budget, minute):
            return True
        minute -= _MINUTE
    return False


def allowed_disruptions(
    budgets: Iterable[Budget], reason: str, counts: PoolCounts, now: float
) -> int:
    """How many more of the pool's nodes may be disrupted for ``reason`` at ``now``."""
    limit = counts.total
    for budget in budgets:
        if budget.applies_to(reason) and budget_active(budget, now):
            limit = min(limit, budget.allowed_disruptions(counts.total))
    return max(0, limit - counts.disrupting)


def budget_map(
    pools: Iterable[NodePoolView], counts: Mapping[str, PoolCounts], now: float
) -> BudgetMap:
    """Every pool's allowance for every budget reason at ``now``."""
    out = BudgetMap()
    for pool in pools:
        found = counts.get(pool.name, PoolCounts(0, 0))
        for reason in BUDGET_REASONS:
            out.allowed[(pool.name, reason)] = allowed_disruptions(pool.budgets, reason, found, now)
    return out
