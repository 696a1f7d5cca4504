"""The scheduling simulation behind every replacement decision.

"If these nodes were gone, where would their pods go?" — :class:`SchedulingSimulation`
answers with the provisioning scheduler itself (:func:`~shipyard.autoscaler.provisioning.solve`):
the candidates' pods are planned as if pending, over the rest of the cluster as the
provisioner sees it (registered nodes less what their pods request, in-flight NodeClaims,
capacity the provisioner has nominated to pending pods, DaemonSet overhead on new nodes,
topology of every other bound pod) and the pools' instance types and remaining limits. The
result says which pods fit on existing capacity, which new claims the rest need, and which
pods fit nowhere.

Nodes already disrupting offer nothing: a deleting claim or a cordoned node is skipped by the
provisioner's own capacity reading, and the ``karpenter.sh/disrupted`` taint keeps pods off
the nodes of a command in flight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shipyard.autoscaler.disruption.state import ClusterState
from shipyard.autoscaler.disruption.types import Candidate
from shipyard.autoscaler.provisioning import BoundPod, Results, solve
from shipyard.autoscaler.provisioning.controller import Snapshot, daemonset_pod, existing_capacity
from shipyard.core.objects import Obj, meta

__all__ = ["CurrentSimulation", "SchedulingSimulation", "as_pending"]


def as_pending(pod: Obj) -> Obj:
    """The pod as the scheduler would see it again after an eviction: unbound, no status."""
    spec = {k: v for k, v in (pod.get("spec") or {}).items() if k != "nodeName"}
    return {**pod, "spec": spec, "status": {}}


class SchedulingSimulation:
    """A :class:`~.types.Rescheduler` over one :class:`~.state.ClusterState`."""

    def __init__(
        self,
        state: ClusterState,
        *,
        nominated: Mapping[tuple[str, str], Sequence[Obj]] | None = None,
    ) -> None:
        self._state = state
        self._nominated = dict(nominated or {})
        snap = state.snapshot
        self._daemons = [daemonset_pod(d) for d in snap.daemonsets]
        self._types = {name: info.types for name, info in state.pools.items()}
        self.runs = 0  # simulations made (for tests and reports)

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        self.runs += 1
        snap = self._state.snapshot
        claims = {c.name for c in candidates}
        nodes = {c.node_name for c in candidates}
        rest = Snapshot(
            pods=snap.pods,
            nodes={n: v for n, v in snap.nodes.items() if n not in nodes},
            claims={n: v for n, v in snap.claims.items() if n not in claims},
            pools=snap.pools,
            daemonsets=snap.daemonsets,
            namespaces=snap.namespaces,
        )
        existing, _ = existing_capacity(rest, self._nominated, self._types)
        moving = {id(p) for c in candidates for p in c.pods}
        bound = [
            BoundPod(pod, node_name, dict(meta(node).get("labels") or {}))
            for node_name, node in rest.nodes.items()
            for pod in rest.bound.get(node_name, ())
            if id(pod) not in moving
        ]
        pending = [as_pending(p) for c in candidates for p in c.pods]
        return solve(
            pending,
            [info.template for info in self._state.pools.values()],
            existing_nodes=existing,
            daemonset_pods=self._daemons,
            cluster_pods=bound,
            namespace_labels=snap.namespaces,
        )


class CurrentSimulation:
    """A long-lived :class:`~.types.Rescheduler` for methods built once: it answers from the
    simulation of the pass in progress, which the disruption controller sets each pass."""

    def __init__(self) -> None:
        self.current: SchedulingSimulation | None = None

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        if self.current is None:
            raise RuntimeError("no disruption pass is in progress: nothing to simulate against")
        return self.current.simulate(candidates)
