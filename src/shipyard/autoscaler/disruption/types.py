"""The disruption vocabulary every method shares: candidates, commands, budgets, methods.

A disruption *method* (emptiness, drift, expiration, multi- and single-node consolidation)
looks at :class:`Candidate` nodes and proposes one :class:`Command`: which candidates to
delete and which replacement NodeClaims (:class:`~shipyard.autoscaler.provisioning.PlannedClaim`)
to launch first. The disruption controller owns everything around it — building candidates,
budgets, validation and execution — so a method is a small object with a ``reason`` and
``compute``::

    controller pass ─► candidates (eligible nodes) ─► for method in methods:
                          budgets (per pool, per reason)    cmd = method.compute(
                                                                [c for c in candidates
                                                                 if method.should_disrupt(c)],
                                                                budgets)
                                                            first cmd wins ─► validate ─► execute

Methods never write: they read the candidates, the budgets and (for replacements) a
:class:`Rescheduler` that answers "where would these candidates' pods go if the candidates
were gone?" by running the provisioning scheduler on a copy of the cluster without them.

Reasons are Karpenter's ``karpenter.sh/v1`` disruption reasons: ``Empty``, ``Underutilized``,
``Drifted`` (budget reasons), plus ``Expired`` and ``Interrupted`` that budgets do not limit
(Karpenter's forceful methods ignore budgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.provisioning import PlannedClaim, Results

__all__ = [
    "DISRUPTION_REASON",
    "DRIFTED",
    "EMPTY",
    "EXPIRED",
    "FORCEFUL_REASONS",
    "INTERRUPTED",
    "UNDERUTILIZED",
    "BudgetMap",
    "Candidate",
    "Command",
    "DisruptionMethod",
    "Rescheduler",
]

Obj = dict[str, Any]

# The NodeClaim condition naming why it is being disrupted (reason: one of the below).
DISRUPTION_REASON = "DisruptionReason"
EMPTY = "Empty"
UNDERUTILIZED = "Underutilized"
DRIFTED = "Drifted"
EXPIRED = "Expired"
INTERRUPTED = "Interrupted"
# Reasons whose nodes go whatever the budgets say (Karpenter's forceful disruption).
FORCEFUL_REASONS = frozenset({EXPIRED, INTERRUPTED})


@dataclass(frozen=True)
class Candidate:
    """An initialized node of a NodePool that a method may disrupt.

    ``claim`` and ``node`` are the stored objects (read-only). ``pods`` are the pods that
    would have to move (bound, not terminal, not DaemonSet pods, not mirror pods);
    ``price`` is USD/hour of its offering (instance type, capacity type, zone);
    ``disruption_cost`` orders candidates, cheapest to disrupt first (Karpenter: the pods'
    eviction cost, scaled by the fraction of the node's lifetime that remains).
    """

    claim: Obj
    node: Obj
    pool: NodePoolView
    pods: tuple[Obj, ...]
    price: float
    instance_type: str
    capacity_type: str
    zone: str
    disruption_cost: float = 0.0
    consolidatable: bool = False  # the claim's Consolidatable condition is True

    @property
    def name(self) -> str:
        """The NodeClaim's name (what events, commands and logs name)."""
        return str((self.claim.get("metadata") or {}).get("name") or "")

    @property
    def node_name(self) -> str:
        return str((self.node.get("metadata") or {}).get("name") or "")

    @property
    def nodepool(self) -> str:
        return self.pool.name

    def with_cost(self, cost: float) -> Candidate:
        """This candidate with another disruption cost. (Every pass rescales every
        candidate's cost as time moves; ``dataclasses.replace`` would rebuild each field.)"""
        clone = object.__new__(Candidate)
        clone.__dict__.update(self.__dict__)
        object.__setattr__(clone, "disruption_cost", cost)
        return clone


@dataclass(frozen=True)
class Command:
    """What a method decided: delete ``candidates`` after launching ``replacements``.

    ``reason`` is the disruption reason written on the NodeClaims and counted by budgets;
    ``method`` names the method (``emptiness``, ``multi-node-consolidation``, ...) for events
    and reports. ``validate`` asks the controller to re-check the decision after the
    validation period (15 s) before acting — consolidation and emptiness do, drift and
    expiration need not.
    """

    candidates: tuple[Candidate, ...]
    reason: str
    method: str
    replacements: tuple[PlannedClaim, ...] = ()
    validate: bool = False
    savings: float = 0.0  # USD/hour: candidates' price minus the replacements'

    def decision(self) -> str:
        """``delete`` or ``replace`` (Karpenter's consolidation decisions)."""
        return "replace" if self.replacements else "delete"

    def describe(self) -> str:
        """One line for events and logs."""
        names = ", ".join(c.name for c in self.candidates)
        text = f"{self.method}: {self.decision()} {len(self.candidates)} node(s) [{names}]"
        if self.replacements:
            types = ", ".join(r.instance_types[0].name for r in self.replacements)
            text += f" with {len(self.replacements)} replacement(s) [{types}]"
        return f"{text} ({self.reason})"


@dataclass
class BudgetMap:
    """How many more nodes each NodePool may disrupt now, per reason.

    Built by :func:`shipyard.autoscaler.disruption.budgets.budget_map`; methods ``take`` from
    it as they choose candidates so one command never exceeds a budget. Forceful reasons
    (``Expired``, ``Interrupted``) are never limited.
    """

    allowed: dict[tuple[str, str], int] = field(default_factory=dict)

    def remaining(self, pool: str, reason: str) -> int:
        if reason in FORCEFUL_REASONS:
            return 1 << 30
        return self.allowed.get((pool, reason), 0)

    def take(self, pool: str, reason: str, count: int = 1) -> bool:
        """Spend ``count`` of the pool's budget for ``reason``; False (nothing spent) if short."""
        if reason in FORCEFUL_REASONS:
            return True
        left = self.allowed.get((pool, reason), 0)
        if left < count:
            return False
        self.allowed[(pool, reason)] = left - count
        return True

    def copy(self) -> BudgetMap:
        return BudgetMap(dict(self.allowed))


class Rescheduler(Protocol):
    """Where the pods of ``candidates`` would go if those nodes were gone.

    The answer is a provisioning plan over the rest of the cluster (existing nodes minus the
    candidates, in-flight claims, the pools' instance types): pods placed on existing capacity,
    new claims for the rest, and errors for pods that fit nowhere.
    """

    def simulate(self, candidates: Sequence[Candidate]) -> Results: ...


class DisruptionMethod(Protocol):
    """One way of choosing nodes to disrupt (see the module docstring).

    ``reason`` is the disruption reason of the commands it makes (what budgets count);
    ``should_disrupt`` filters the controller's candidates; ``compute`` proposes one command
    (or None), taking from ``budgets`` what it uses.
    """

    name: str
    reason: str

    def should_disrupt(self, candidate: Candidate) -> bool: ...

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None: ...
