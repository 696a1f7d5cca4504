"""Validation: a consolidation decision is re-checked after 15 s before anything is done.

Karpenter waits a validation period (15 s) between deciding a consolidation and acting on it,
because pods may arrive or leave meanwhile (a Deployment scaling, a pod the provisioner just
nominated). :func:`validate` repeats the judgement on the cluster as it is then and aborts
when any of these no longer holds:

- every candidate is still a candidate (not deleted, not blocked by ``do-not-disrupt``, a
  PodDisruptionBudget or a fresh nomination) and the method still wants it (still
  ``Consolidatable``, still empty for emptiness);
- the pods on every candidate are the same pods (by uid) as when the decision was made;
- the pools' budgets still allow this many disruptions for the reason;
- the scheduling simulation still says the same: a delete still needs no new node, a replace
  still needs exactly one, no pricier than the one decided.

It returns the command rebuilt on the fresh candidates (the decided replacements kept) or the
reason for aborting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.autoscaler.disruption.consolidation import evaluate
from shipyard.autoscaler.disruption.types import (
    BudgetMap,
    Candidate,
    Command,
    DisruptionMethod,
    Rescheduler,
)
from shipyard.core.objects import meta

__all__ = ["VALIDATION_PERIOD", "PendingCommand", "pod_uids", "validate"]

VALIDATION_PERIOD = 15.0


def pod_uids(candidate: Candidate) -> frozenset[str]:
    return frozenset(str(meta(p).get("uid") or meta(p).get("name")) for p in candidate.pods)


@dataclass(frozen=True)
class PendingCommand:
    """A decision waiting for its validation: what was decided, by which method, and when."""

    command: Command
    method: DisruptionMethod
    decided_at: float
    due: float
    pods: Mapping[str, frozenset[str]]  # claim name -> pod uids when decided

    @classmethod
    def of(
        cls, command: Command, method: DisruptionMethod, now: float, period: float
    ) -> PendingCommand:
        pods = {c.name: pod_uids(c) for c in command.candidates}
        return cls(command, method, now, now + period, pods)


def validate(
    pending: PendingCommand,
    candidates: Mapping[str, Candidate],
    budgets: BudgetMap,
    rescheduler: Rescheduler,
) -> Command | str:
    """The command on today's candidates, or why it must be abandoned (module docstring)."""
    command, method = pending.command, pending.method
    fresh: list[Candidate] = []
    for old in command.candidates:
        now = candidates.get(old.name)
        if now is None:
            return f"nodeclaim {old.name} is no longer a disruption candidate"
        if pod_uids(now) != pending.pods[old.name]:
            return f"pods on nodeclaim {old.name} changed during validation"
        if not method.should_disrupt(now):
            return f"nodeclaim {old.name} no longer qualifies for {method.name}"
        fresh.append(now)
    for pool, count in sorted(Counter(c.nodepool for c in fresh).items()):
        if budgets.remaining(pool, command.reason) < count:
            return f'the disruption budget of nodepool "{pool}" no longer allows {count} node(s)'
    again = evaluate(
        fresh,
        rescheduler,
        method=command.method,
        spot_to_spot=bool(getattr(method, "spot_to_spot", False)),
        single=len(fresh) == 1 and bool(command.replacements),
    )
    if isinstance(again, str):
        return again
    if again.decision() != command.decision():
        return f"the decision changed from {command.decision()} to {again.decision()}"
    if command.replacements and again.replacements[0].price > command.replacements[0].price:
        return "the replacement would now cost more than decided"
    return Command(
        tuple(fresh),
        command.reason,
        command.method,
        replacements=command.replacements,
        validate=True,
        savings=command.savings,
    )
