"""The scheduling simulation behind every replacement decision.

"If these nodes were gone, where would their pods go?" — :class:`SchedulingSimulation`
answers with the provisioning scheduler itself (:func:`~shipyard.autoscaler.provisioning.solve`):
the candidates' pods are planned as if pending, over the rest of the cluster as the
provisioner sees it (registered nodes less what their pods request, in-flight NodeClaims,
capacity the provisioner has nominated to pending pods, DaemonSet overhead on new nodes,
topology of every other bound pod) and the pools' instance types and remaining limits. The
result says which pods fit on existing capacity, which new claims the rest need, and which
pods fit nowhere. The pods are packed exactly as Karpenter's scheduler packs them (no cost
repacking: a consolidation asks for at most one replacement, priced by ``consolidation``).

The cluster's capacity is read and prepared for the solver once a pass (a
:class:`~shipyard.autoscaler.provisioning.Capacity`: the pools' catalogs, the existing nodes'
requirements and DaemonSet overhead) and each simulation leaves the candidates out of it; the
other pods' places are handed to the solver only when some pod has topology rules.

Nodes already disrupting offer nothing: a deleting claim or a cordoned node is skipped by the
provisioner's own capacity reading, and the ``karpenter.sh/disrupted`` taint keeps pods off
the nodes of a command in flight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shipyard.autoscaler.disruption.state import ClusterState
from shipyard.autoscaler.disruption.types import Candidate
from shipyard.autoscaler.provisioning import BoundPod, Capacity, Results
from shipyard.autoscaler.provisioning.capacity import existing_capacity
from shipyard.autoscaler.provisioning.controller import daemonset_pod
from shipyard.core.objects import IdentityCache, Obj, meta

__all__ = ["CurrentSimulation", "SchedulingSimulation", "as_pending", "pending_group"]


def as_pending(pod: Obj) -> Obj:
    """The pod as the scheduler would see it again after an eviction: unbound, no status.

    The same stored pod gives the same copy (shared, read-only) while it is unchanged, so
    what the solver derives from a pod is found again what-if after what-if."""
    found = _PENDING.get(pod)
    if found is None:
        spec = {k: v for k, v in (pod.get("spec") or {}).items() if k != "nodeName"}
        found = _PENDING.put(pod, {**pod, "spec": spec, "status": {}})
    return found


# Per stored pod (never changed in place): its pending copy.
_PENDING: IdentityCache[Obj] = IdentityCache(50_000)


def pending_group(pods: tuple[Obj, ...]) -> tuple[Obj, ...]:
    """``as_pending`` of each pod, the same tuple while ``pods`` is the same tuple (a
    candidate's pods are, pass after pass, while its node's pods are unchanged): the solver
    judges such a group once."""
    found = _PENDING_GROUPS.get(pods)
    if found is None:
        found = _PENDING_GROUPS.put(pods, tuple(as_pending(p) for p in pods))
    return found


_PENDING_GROUPS: IdentityCache[tuple[Obj, ...]] = IdentityCache(5_000)


def _daemon_pod(daemonset: Obj) -> Obj:
    """``daemonset_pod``, the same copy (read-only) while the stored DaemonSet is unchanged:
    what the solver derives from it is found again pass after pass."""
    found = _DAEMON_PODS.get(daemonset)
    return found if found is not None else _DAEMON_PODS.put(daemonset, daemonset_pod(daemonset))


_DAEMON_PODS: IdentityCache[Obj] = IdentityCache(1_000)


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
        self._daemons = [_daemon_pod(d) for d in snap.daemonsets]
        self._types = {name: info.types for name, info in state.pools.items()}
        self._existing: tuple[Capacity, dict[str, list[str]]] | None = None
        self._bound_pods: list[BoundPod] | None = None
        self.runs = 0  # simulations made (for tests and reports)

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        self.runs += 1
        claims = {c.name for c in candidates}
        nodes = {c.node_name for c in candidates}
        base, of_claim = self._capacity()
        without = set(nodes).union(*(of_claim.get(claim, ()) for claim in claims))
        bound: list[BoundPod] = []
        if self._topology():
            moving = {id(p) for c in candidates for p in c.pods}
            bound = [
                b for b in self._bound() if b.node_name not in nodes and id(b.pod) not in moving
            ]
        groups = [pending_group(c.pods) for c in candidates]
        pending = [p for group in groups for p in group]
        return base.solve(
            pending, without=without, cluster_pods=bound, improve_cost=False, groups=groups
        )

    def _capacity(self) -> tuple[Capacity, dict[str, list[str]]]:
        """The capacity of the whole cluster, read and prepared for the solver once a pass,
        and per NodeClaim the entries that are its capacity: a simulation leaves out the
        candidates' entries (their nodes, or their NodeClaims' in-flight capacity)."""
        if self._existing is None:
            snap = self._state.snapshot
            existing, targets = existing_capacity(snap, self._nominated, self._types)
            base = Capacity(
                [info.template for info in self._state.pools.values()],
                existing_nodes=existing,
                daemonset_pods=self._daemons,
                namespace_labels=snap.namespaces,
            )
            of_claim: dict[str, list[str]] = {}
            for name, (kind, target) in targets.items():
                if kind == "nodeclaim":
                    of_claim.setdefault(target, []).append(name)
            self._existing = (base, of_claim)
        return self._existing

    def _bound(self) -> list[BoundPod]:
        if self._bound_pods is None:
            snap = self._state.snapshot
            self._bound_pods = [
                BoundPod(pod, node_name, dict(meta(node).get("labels") or {}))
                for node_name, node in snap.nodes.items()
                for pod in snap.bound.get(node_name, ())
            ]
        return self._bound_pods

    def _topology(self) -> bool:
        """Whether any pod has topology rules (spread, affinity, anti-affinity): only then do
        the other pods' places matter to a simulation."""
        return self._state.any_topology()


class CurrentSimulation:
    """A long-lived :class:`~.types.Rescheduler` for methods built once: it answers from the
    simulation of the pass in progress, which the disruption controller sets each pass."""

    def __init__(self) -> None:
        self.current: SchedulingSimulation | None = None

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        if self.current is None:
            raise RuntimeError("no disruption pass is in progress: nothing to simulate against")
        return self.current.simulate(candidates)
