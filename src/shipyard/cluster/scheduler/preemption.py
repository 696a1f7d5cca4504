"""DefaultPreemption (PostFilter): when a pod fits nowhere, find whom to evict, and where.

This module decides; the controller (:mod:`.scheduler`) acts. It follows kube-scheduler's
``Evaluator.Preempt`` and ``DefaultPreemption``:

1. **Eligibility.** ``preemptionPolicy: Never`` → ``not eligible due to preemptionPolicy=Never.``
   A pod already nominated to a node where a lower-priority victim is still terminating waits
   instead of evicting more → ``not eligible due to a terminating pod on the nominated node.``
   (unless that node is now unresolvable for it).
2. **Candidates.** Only nodes rejected with a *resolvable* status (``Unschedulable``) are
   tried, in node order, until ``max(10% of them, 100)`` candidates are found (at least one
   of them without budget violations). On each: remove every pod of lower priority; if the pod
   still does not fit, the node is no candidate (its filter status is kept; a node with no
   lower-priority pods gets ``No preemption victims found for incoming pod``). Otherwise put
   the removed pods back one by one, most important first (higher priority, then longer
   running) — first those whose eviction would violate a PodDisruptionBudget, then the others
   — keeping each one that still lets the pod fit. The pods left out are the victims; the
   budget-violating ones among them are counted.
3. **Choice** among candidates (``pickOneNodeForPreemption``): fewest budget violations, then
   the lowest highest-victim priority, the smallest sum of victim priorities, the fewest
   victims, the latest start among the highest-priority victims, then node order.
4. **No candidate**: the post-filter message is a FitError of its own, ``preemption: 0/N nodes
   are available: ...`` where nodes never tried count as ``Preemption is not helpful for
   scheduling``.

A budget counts against a victim when it is in the victim's namespace, its selector is not
empty and matches the victim, the victim is not already in ``status.disruptedPods``, and
``status.disruptionsAllowed`` is used up (decremented for each victim considered before).
The random offset kube-scheduler starts the candidate search at is 0 here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.scheduler.framework import (
    NO_VICTIMS,
    PREEMPTION_NOT_HELPFUL,
    UNSCHEDULABLE_AND_UNRESOLVABLE,
    Status,
    fit_error_message,
)
from shipyard.cluster.scheduler.podinfo import NEVER, PodInfo
from shipyard.cluster.scheduler.profile import CycleState, Profile, ScheduleResult
from shipyard.cluster.scheduler.snapshot import NodeInfo, Snapshot
from shipyard.core.errors import ShipyardError
from shipyard.core.objects import IdentityCache, Obj
from shipyard.core.selectors import LabelSelector

__all__ = [
    "MIN_CANDIDATE_NODES_ABSOLUTE",
    "MIN_CANDIDATE_NODES_PERCENTAGE",
    "Candidate",
    "DisruptionBudget",
    "Preemption",
    "budgets_of",
    "is_terminating_by_preemption",
    "not_eligible_reason",
    "pick_candidate",
    "preempt",
    "select_victims",
]

MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
_NO_VICTIMS = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, (NO_VICTIMS,), "DefaultPreemption")


@dataclass(frozen=True)
class DisruptionBudget:
    """What preemption reads of a PodDisruptionBudget."""

    namespace: str
    selector: LabelSelector
    disruptions_allowed: int
    disrupted_pods: frozenset[str] = frozenset()

    @classmethod
    def from_object(cls, pdb: Mapping[str, Any]) -> DisruptionBudget:
        md = pdb.get("metadata") or {}
        status = pdb.get("status") or {}
        try:
            selector = LabelSelector.from_dict((pdb.get("spec") or {}).get("selector"))
        except ShipyardError:
            selector = LabelSelector.nothing()
        return cls(
            namespace=str(md.get("namespace") or "default"),
            selector=selector,
            disruptions_allowed=int(status.get("disruptionsAllowed") or 0),
            disrupted_pods=frozenset((status.get("disruptedPods") or {}).keys()),
        )

    def covers(self, pod: PodInfo) -> bool:
        if pod.namespace != self.namespace or self.selector.is_empty():
            return False
        return self.selector.matches(pod.labels) and pod.name not in self.disrupted_pods


@dataclass
class Candidate:
    """A node where evicting ``victims`` (most important first) lets the pod fit."""

    node: str
    victims: list[PodInfo]
    pdb_violations: int = 0


@dataclass
class Preemption:
    """The PostFilter outcome: a candidate to act on, or the message to report."""

    candidate: Candidate | None = None
    message: str = ""
    statuses: dict[str, Status] = field(default_factory=dict)
    keep_nomination: bool = False
    """True when the pod was not eligible: its nomination (if any) stands."""


def is_terminating_by_preemption(pod: PodInfo) -> bool:
    """Deleted, with the DisruptionTarget condition preemption sets (podTerminatingByPreemption)."""
    if not pod.terminating:
        return False
    for cond in (pod.obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget" and cond.get("reason") == PREEMPTION_BY_SCHEDULER:
            return bool(cond.get("status") == "True")
    return False


def not_eligible_reason(pod: PodInfo, snapshot: Snapshot, statuses: Mapping[str, Status]) -> str:
    """Why the pod may not preempt now ("" when it may): PodEligibleToPreemptOthers."""
    if pod.preemption_policy == NEVER:
        return "not eligible due to preemptionPolicy=Never."
    nominated = pod.nominated_node
    if nominated:
        status = statuses.get(nominated)
        if status is not None and status.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
            return ""
        node = snapshot.nodes.get(nominated)
        if node is not None and any(
            p.priority < pod.priority and is_terminating_by_preemption(p)
            for p in node.pods.values()
        ):
            return "not eligible due to a terminating pod on the nominated node."
    return ""


def _importance(pod: PodInfo) -> tuple[int, float]:
    """Sort key: most important first (higher priority, then earlier start)."""
    return (-pod.priority, pod.start_time())


def _split_by_budgets(
    pods: Sequence[PodInfo], budgets: Sequence[DisruptionBudget]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), keeping order (filterPodsWithPDBViolation)."""
    allowed = [b.disruptions_allowed for b in budgets]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for i, budget in enumerate(budgets):
                if budget.covers(pod):
                    allowed[i] -= 1
                    violated = violated or allowed[i] < 0
        (violating if violated else fine).append(pod)
    return violating, fine


def select_victims(
    profile: Profile,
    cycle: CycleState,
    node: NodeInfo,
    snapshot: Snapshot,
    budgets: Sequence[DisruptionBudget],
) -> tuple[list[PodInfo], int, Status | None]:
    """The fewest, least important pods to evict from ``node`` (SelectVictimsOnNode)."""
    pod = cycle.pod
    potential = [p for p in node.pods.values() if p.priority < pod.priority]
    if not potential:  # before the what-if copies: most nodes have nothing to give
        return [], 0, _NO_VICTIMS
    what_if, state = node.copy(), cycle.copy()
    for p in potential:
        what_if.remove_pod(p)
        state.remove_pod(p, what_if)
    status = profile.run_filters(state, what_if, snapshot)
    if status is not None:
        return [], 0, status
    potential.sort(key=_importance)
    violating, fine = _split_by_budgets(potential, budgets)
    victims: list[PodInfo] = []
    violations = 0

    def reprieve(p: PodInfo) -> bool:
        what_if.add_pod(p)
        state.add_pod(p, what_if)
        if profile.run_filters(state, what_if, snapshot) is None:
            return True
        what_if.remove_pod(p)
        state.remove_pod(p, what_if)
        victims.append(p)
        return False

    for p in violating:
        if not reprieve(p):
            violations += 1
    for p in fine:
        reprieve(p)
    victims.sort(key=_importance)
    return victims, violations, None


def _candidate_count(potential: int) -> int:
    wanted = potential * MIN_CANDIDATE_NODES_PERCENTAGE // 100
    return min(max(wanted, MIN_CANDIDATE_NODES_ABSOLUTE), potential)


def _find_candidates(
    profile: Profile,
    result: ScheduleResult,
    snapshot: Snapshot,
    read_budgets: Callable[[], Iterable[DisruptionBudget]],
) -> tuple[list[Candidate], dict[str, Status]]:
    cycle = result.cycle
    assert cycle is not None
    potential = [
        n for n in snapshot.node_list() if (s := result.statuses.get(n.name)) and s.resolvable
    ]
    if not snapshot.any_below(cycle.pod.priority):
        # no bound pod anywhere is less important: every node answers "no victims"
        return [], {node.name: _NO_VICTIMS for node in potential}
    budgets = list(read_budgets())  # read only when victims are searched
    statuses: dict[str, Status] = {}
    clean: list[Candidate] = []
    violating: list[Candidate] = []
    wanted = _candidate_count(len(potential))
    for node in potential:
        victims, violations, status = select_victims(profile, cycle, node, snapshot, budgets)
        if status is not None:
            statuses[node.name] = status
            continue
        (violating if violations else clean).append(Candidate(node.name, victims, violations))
        if clean and len(clean) + len(violating) >= wanted:
            break
    return clean + violating, statuses


def pick_candidate(candidates: Sequence[Candidate]) -> Candidate:
    """pickOneNodeForPreemption: each criterion in turn narrows the ties."""

    def earliest_start(c: Candidate) -> float:
        top = c.victims[0].priority
        return min(v.start_time() for v in c.victims if v.priority == top)

    criteria = (
        lambda c: -c.pdb_violations,
        lambda c: -c.victims[0].priority,
        lambda c: -sum(v.priority + 2**31 for v in c.victims),
        lambda c: -len(c.victims),
        earliest_start,
    )
    remaining = list(candidates)
    for criterion in criteria:
        best = max(criterion(c) for c in remaining)
        remaining = [c for c in remaining if criterion(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


def preempt(
    profile: Profile,
    result: ScheduleResult,
    snapshot: Snapshot,
    budgets: Iterable[DisruptionBudget] | Callable[[], Iterable[DisruptionBudget]] = (),
) -> Preemption:
    """PostFilter for a pod that fits nowhere (``result`` is its failed cycle). ``budgets``
    may be a function, called only when some node's pods are searched for victims."""
    pod = result.pod
    reason = not_eligible_reason(pod, snapshot, result.statuses)
    if reason:
        return Preemption(message=f"preemption: {reason}", keep_nomination=True)
    read_budgets = budgets if callable(budgets) else lambda: budgets
    candidates, statuses = _find_candidates(profile, result, snapshot, read_budgets)
    if not candidates:
        message = fit_error_message(
            result.num_nodes,
            statuses.values(),
            absent=(PREEMPTION_NOT_HELPFUL,),
            num_absent=result.num_nodes - len(statuses),
        )
        return Preemption(message=f"preemption: {message}", statuses=statuses)
    return Preemption(candidate=pick_candidate(candidates), statuses=statuses)


# Budgets of stored (read-only) PodDisruptionBudgets, by the object's identity: a busy
# scheduler reads every budget at each preemption attempt.
_BUDGETS: IdentityCache[DisruptionBudget] = IdentityCache(4096)


def budgets_of(objects: Iterable[Obj], *, stored: bool = False) -> list[DisruptionBudget]:
    """The budgets of these PodDisruptionBudgets; ``stored``: they are stored objects,
    shared read-only, whose parse is remembered."""
    if not stored:
        return [DisruptionBudget.from_object(o) for o in objects]
    found = []
    for o in objects:
        budget = _BUDGETS.get(o)
        found.append(
            budget if budget is not None else _BUDGETS.put(o, DisruptionBudget.from_object(o))
        )
    return found
