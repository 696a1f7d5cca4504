"""Which pods a terminating NodeClaim's node must lose, and how — a pure plan per look.

Karpenter's documented drain during termination:

- **Ignored** (neither evicted nor waited for): DaemonSet pods and mirror (static) pods
  (``kubectl drain``'s filters, :func:`shipyard.cluster.drain.plan_drain`), finished pods, and
  pods that tolerate the ``karpenter.sh/disrupted:NoSchedule`` taint (they chose to stay).
- **Order**: non-critical pods first, then critical ones (``system-cluster-critical`` and
  ``system-node-critical``), so the node's own services outlive the workloads they serve; a
  group is evicted only when the one before it is gone.
- **Eviction** goes through the Eviction API, so PodDisruptionBudgets hold a pod back (the
  API answers 429 and the next look tries again). A pod annotated
  ``karpenter.sh/do-not-disrupt: "true"`` is not evicted at all.
- **terminationGracePeriod** bounds the wait: a pod is *deleted* (bypassing budgets and
  ``do-not-disrupt``) once the time left before the deadline is no more than its own
  ``terminationGracePeriodSeconds`` — so it still gets its full grace to stop — and at the
  deadline the node is terminated with whatever is left. Without a terminationGracePeriod
  the drain waits as long as it takes.

A pod already terminating is waited for, never evicted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shipyard.autoscaler.lifecycle.model import DISRUPTED_TAINT, DO_NOT_DISRUPT
from shipyard.cluster.drain import plan_drain
from shipyard.cluster.podutil import is_terminal, is_terminating
from shipyard.core.errors import ShipyardError
from shipyard.core.objects import Obj, meta
from shipyard.core.taints import tolerates, tolerations_from_list

__all__ = [
    "CRITICAL_PRIORITY_CLASSES",
    "DEFAULT_POD_GRACE",
    "NodeDrain",
    "plan_node_drain",
    "pod_grace",
]

CRITICAL_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
DEFAULT_POD_GRACE = 30.0


@dataclass
class NodeDrain:
    """One look at a draining node: what to do now and what is still there."""

    evict: list[Obj] = field(default_factory=list)  # through the Eviction API
    delete: list[Obj] = field(default_factory=list)  # deleted: the deadline is near
    waiting: list[Obj] = field(default_factory=list)  # drainable pods still on the node
    next_deadline: float | None = None  # when a waiting pod must next be deleted

    @property
    def drained(self) -> bool:
        return not self.waiting


def pod_grace(pod: Obj) -> float:
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(value) if isinstance(value, int | float) else DEFAULT_POD_GRACE


def _tolerates_disruption(pod: Obj) -> bool:
    try:
        tolerations = tolerations_from_list((pod.get("spec") or {}).get("tolerations") or [])
    except ShipyardError:
        return False
    return any(tolerates(t, DISRUPTED_TAINT) for t in tolerations)


def _critical(pod: Obj) -> bool:
    return (pod.get("spec") or {}).get("priorityClassName") in CRITICAL_PRIORITY_CLASSES


def _do_not_disrupt(pod: Obj) -> bool:
    return (meta(pod).get("annotations") or {}).get(DO_NOT_DISRUPT) == "true"


def plan_node_drain(
    pods: Sequence[Obj],
    *,
    now: float,
    deadline: float | None,
    daemon_set_exists: Callable[[str, str], bool],
) -> NodeDrain:
    """The plan for the node's pods now (see the module docstring); ``deadline`` is when the
    terminationGracePeriod runs out (None: no limit)."""
    base = plan_drain(list(pods), daemon_set_exists=daemon_set_exists)
    drainable = [p for p in base.evict if not is_terminal(p) and not _tolerates_disruption(p)]
    plan = NodeDrain(waiting=drainable)
    active = [p for p in drainable if not is_terminating(p)]
    if deadline is not None:
        for pod in active:
            due = deadline - pod_grace(pod)
            if now >= due:
                plan.delete.append(pod)
            elif plan.next_deadline is None or due < plan.next_deadline:
                plan.next_deadline = due
    non_critical = [p for p in drainable if not _critical(p)]
    group = {id(p) for p in (non_critical or drainable)} - {id(p) for p in plan.delete}
    plan.evict = [p for p in active if id(p) in group and not _do_not_disrupt(p)]
    return plan
