"""Consolidation: delete nodes whose pods fit elsewhere, or replace them with one cheaper node.

Karpenter's documented consolidation, as two disruption methods over the candidates whose
NodeClaim is ``Consolidatable`` and whose pool's policy is ``WhenEmptyOrUnderutilized``:

- :class:`MultiNodeConsolidation` — takes at most :data:`MAX_MULTI_CANDIDATES` (100)
  candidates, cheapest to disrupt first and within each pool's ``Underutilized`` budget, and
  binary-searches the longest prefix (of at least two nodes) that :func:`evaluate` accepts.
- :class:`SingleNodeConsolidation` — tries each candidate alone, in the same order, and takes
  the first one :func:`evaluate` accepts.

:func:`evaluate` is the judgement both share (and validation repeats): the candidates' pods are
re-planned without them (:class:`~.types.Rescheduler`); the decision is

- **delete** when every pod fits on existing capacity;
- **replace** when they need exactly one new node whose instance types, filtered to those
  *cheaper* than the candidates together, are not empty — never several new nodes, never a
  node that costs as much;
- nothing otherwise, with the reason Karpenter reports in ``Unconsolidatable`` events.

Spot: when every candidate is spot and the replacement may be spot, that is spot-to-spot
consolidation, off by default (``spot_to_spot=False``: "SpotToSpotConsolidation is
disabled"). When on, a single-node replacement needs at least :data:`MIN_SPOT_TYPES` (15)
cheaper instance types and is launched with the cheapest 15, so consolidation does not race
to the most-interrupted cheapest type; multi-node spot-to-spot has no such floor. A
replacement for on-demand nodes that may be spot or on-demand is pinned to spot, since the
price filter assumed the spot price (a failed spot launch must not become a pricier
on-demand node).

Deliberate difference: Karpenter bounds each method by wall-clock timeouts (multi-node 1
minute, single-node 3 minutes); Shipyard bounds the work instead (one simulation per
binary-search step, one per single-node candidate) since the clock is virtual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shipyard.autoscaler.disruption.types import (
    UNDERUTILIZED,
    BudgetMap,
    Candidate,
    Command,
    Rescheduler,
)
from shipyard.autoscaler.provisioning import PlannedClaim
from shipyard.core.labels import CAPACITY_TYPE, CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_SPOT
from shipyard.core.requirements import IN, Requirement

__all__ = [
    "MAX_MULTI_CANDIDATES",
    "MIN_SPOT_TYPES",
    "WHEN_EMPTY_OR_UNDERUTILIZED",
    "MultiNodeConsolidation",
    "SingleNodeConsolidation",
    "evaluate",
    "within_budget",
]

MAX_MULTI_CANDIDATES = 100
MIN_SPOT_TYPES = 15
WHEN_EMPTY_OR_UNDERUTILIZED = "WhenEmptyOrUnderutilized"


def within_budget(
    candidates: Sequence[Candidate], budgets: BudgetMap, reason: str
) -> list[Candidate]:
    """The candidates, in order, that the pools' budgets for ``reason`` allow (spent from a
    copy: the caller spends for what it finally uses)."""
    left = budgets.copy()
    return [c for c in candidates if left.take(c.nodepool, reason)]


def evaluate(
    candidates: Sequence[Candidate],
    rescheduler: Rescheduler,
    *,
    method: str,
    spot_to_spot: bool = False,
    single: bool = False,
) -> Command | str:
    """A consolidation command for exactly these candidates, or why there is none."""
    results = rescheduler.simulate(candidates)
    if results.errors:
        key, message = sorted(results.errors.items())[0]
        return f"not all pods would schedule, {key} => {message}"
    total = sum(c.price for c in candidates)
    if not results.new_claims:
        return Command(tuple(candidates), UNDERUTILIZED, method, validate=True, savings=total)
    if len(results.new_claims) > 1:
        return f"can't replace with {len(results.new_claims)} nodes, only with one"
    replacement = _cheaper(results.new_claims[0], candidates, total, spot_to_spot, single)
    if isinstance(replacement, str):
        return replacement
    return Command(
        tuple(candidates),
        UNDERUTILIZED,
        method,
        replacements=(replacement,),
        validate=True,
        savings=total - replacement.price,
    )


def _cheaper(
    planned: PlannedClaim,
    candidates: Sequence[Candidate],
    total: float,
    spot_to_spot: bool,
    single: bool,
) -> PlannedClaim | str:
    """The replacement restricted to instance types cheaper than ``total``, or why not."""
    capacity = planned.requirements.get(CAPACITY_TYPE)
    all_spot = all(c.capacity_type == CAPACITY_TYPE_SPOT for c in candidates)
    requirements = planned.requirements
    if all_spot and capacity.has(CAPACITY_TYPE_SPOT):
        if not spot_to_spot:
            return "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node"
        requirements = requirements.add(Requirement.create(CAPACITY_TYPE, IN, [CAPACITY_TYPE_SPOT]))
    elif capacity.has(CAPACITY_TYPE_SPOT) and capacity.has(CAPACITY_TYPE_ON_DEMAND):
        requirements = requirements.add(Requirement.create(CAPACITY_TYPE, IN, [CAPACITY_TYPE_SPOT]))
    priced = [(it.cheapest_price(requirements), it) for it in planned.instance_types]
    cheaper = sorted(
        ((p, it) for p, it in priced if p is not None and p < total),
        key=lambda x: (x[0], x[1].name),
    )
    if not cheaper:
        return "can't replace with a lower-priced node"
    if all_spot and single:
        if len(cheaper) < MIN_SPOT_TYPES:
            return (
                f"SpotToSpotConsolidation requires {MIN_SPOT_TYPES} cheaper instance type "
                f"options than the current candidate to consolidate, got {len(cheaper)}"
            )
        cheaper = cheaper[:MIN_SPOT_TYPES]
    return dataclasses.replace(
        planned,
        requirements=requirements,
        instance_types=tuple(it for _, it in cheaper),
        price=cheaper[0][0],
    )


def _consolidatable(candidate: Candidate) -> bool:
    return (
        candidate.consolidatable
        and candidate.pool.consolidation_policy == WHEN_EMPTY_OR_UNDERUTILIZED
        and candidate.pool.consolidate_after is not None
    )


class MultiNodeConsolidation:
    """The ``multi-node-consolidation`` method (see the module docstring)."""

    name = "multi-node-consolidation"
    reason = UNDERUTILIZED

    def __init__(self, rescheduler: Rescheduler, *, spot_to_spot: bool = False) -> None:
        self._rescheduler = rescheduler
        self.spot_to_spot = spot_to_spot
        self.last_reason = ""  # why the last compute found nothing (for events and tests)

    def should_disrupt(self, candidate: Candidate) -> bool:
        return _consolidatable(candidate)

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        ordered = sorted(candidates, key=lambda c: (c.disruption_cost, c.name))
        allowed = within_budget(ordered, budgets, self.reason)[:MAX_MULTI_CANDIDATES]
        best: Command | None = None
        low, high = 2, len(allowed)
        while low <= high:
            mid = (low + high) // 2
            found = evaluate(
                allowed[:mid], self._rescheduler, method=self.name, spot_to_spot=self.spot_to_spot
            )
            if isinstance(found, Command):
                best, low = found, mid + 1
            else:
                self.last_reason, high = found, mid - 1
        if best is not None:
            for c in best.candidates:
                budgets.take(c.nodepool, self.reason)
        return best


class SingleNodeConsolidation:
    """The ``single-node-consolidation`` method (see the module docstring)."""

    name = "single-node-consolidation"
    reason = UNDERUTILIZED

    def __init__(self, rescheduler: Rescheduler, *, spot_to_spot: bool = False) -> None:
        self._rescheduler = rescheduler
        self.spot_to_spot = spot_to_spot
        self.unconsolidatable: dict[str, str] = {}  # claim name -> why, from the last compute

    def should_disrupt(self, candidate: Candidate) -> bool:
        return _consolidatable(candidate)

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        self.unconsolidatable = {}
        ordered = sorted(candidates, key=lambda c: (c.disruption_cost, c.name))
        for candidate in ordered:
            if budgets.remaining(candidate.nodepool, self.reason) < 1:
                continue
            found = evaluate(
                [candidate],
                self._rescheduler,
                method=self.name,
                spot_to_spot=self.spot_to_spot,
                single=True,
            )
            if isinstance(found, Command):
                budgets.take(candidate.nodepool, self.reason)
                return found
            self.unconsolidatable[candidate.name] = found
        return None
