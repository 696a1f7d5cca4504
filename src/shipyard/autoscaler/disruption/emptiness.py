"""Emptiness: consolidatable nodes with no pods to move are deleted together.

Karpenter's documented empty-node consolidation: a candidate is empty when no pod would have
to move (DaemonSet and mirror pods do not count, nor finished or terminating pods), and its
NodeClaim is ``Consolidatable`` — ``consolidateAfter`` has passed since the last pod event —
under either consolidation policy (``WhenEmpty`` or ``WhenEmptyOrUnderutilized``). Every empty
candidate the pools' ``Empty`` budgets allow is deleted in one command, without replacements;
the decision is validated after the validation period like any consolidation, since a pod may
land on the node meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.autoscaler.disruption.types import EMPTY, BudgetMap, Candidate, Command

__all__ = ["Emptiness"]


class Emptiness:
    """The ``emptiness`` method (see the module docstring)."""

    name = "emptiness"
    reason = EMPTY

    def should_disrupt(self, candidate: Candidate) -> bool:
        return (
            not candidate.pods
            and candidate.consolidatable
            and candidate.pool.consolidate_after is not None
        )

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        ordered = sorted(candidates, key=lambda c: (c.disruption_cost, c.name))
        chosen = tuple(c for c in ordered if budgets.take(c.nodepool, self.reason))
        if not chosen:
            return None
        savings = sum(c.price for c in chosen)
        return Command(chosen, self.reason, self.name, validate=True, savings=savings)
