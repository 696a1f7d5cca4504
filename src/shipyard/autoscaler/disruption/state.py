"""One read of the cluster per disruption pass: pools, nodes, claims, pods and budgets.

The disruption controller reads everything it needs once (shared, read-only objects, as an
informer cache would hold them) into a :class:`ClusterState`; candidates, budgets and the
scheduling simulation all work from that one snapshot, so a pass sees one consistent cluster.

``pools`` are the NodePools that parse and whose node class exists, each with the instance
types the cloud offers it (:class:`PoolInfo`), which is also what prices a candidate: the
offering of its instance type, capacity type and zone. A :class:`PoolCache` carries each
pool's info from one read to the next while nothing it is derived from changed (the stored
pool and node class, the very instance types the cloud offers, the remaining limits), as an
informer-fed cache would: passes every 10 s mostly see the same pools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.disruption.budgets import PoolCounts
from shipyard.autoscaler.lifecycle import DISRUPTED_TAINT
from shipyard.autoscaler.lifecycle.nodes import has_taint
from shipyard.autoscaler.provisioning import PoolTemplate
from shipyard.autoscaler.provisioning.capacity import Snapshot, claim_capacity
from shipyard.cloud.provider import CloudProvider, InstanceType, add_resources
from shipyard.cluster.client import Client
from shipyard.cluster.drain import MIRROR_ANNOTATION
from shipyard.cluster.podutil import controller_ref, is_ready, is_terminal, is_terminating
from shipyard.core.errors import InvalidError, ShipyardError
from shipyard.core.labels import CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE
from shipyard.core.objects import Obj, meta

__all__ = [
    "KARPENTER",
    "ClusterState",
    "PoolCache",
    "PoolInfo",
    "cluster_state",
    "has_topology_rules",
    "read_state",
    "reschedulable",
]

KARPENTER = "karpenter.sh/v1"
NODECLASS_VERSION = "v1"


@dataclass(frozen=True)
class PoolInfo:
    """A usable NodePool: its view, the stored object and the instance types it may launch."""

    view: NodePoolView
    obj: Obj
    types: Mapping[str, InstanceType]
    template: PoolTemplate


def has_topology_rules(pod: Mapping[str, Any]) -> bool:
    """A topology spread, pod affinity or pod anti-affinity in the pod's spec."""
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    return bool(
        spec.get("topologySpreadConstraints")
        or affinity.get("podAffinity")
        or affinity.get("podAntiAffinity")
    )


def reschedulable(pod: Mapping[str, Any]) -> bool:
    """A pod that would have to move if its node went: bound, active, not a DaemonSet's pod
    (the DaemonSet runs one wherever the pods go) and not a mirror pod."""
    if is_terminal(pod) or is_terminating(pod):
        return False
    if MIRROR_ANNOTATION in (meta(pod).get("annotations") or {}):
        return False
    return (controller_ref(pod) or {}).get("kind") != "DaemonSet"


@dataclass
class ClusterState:
    """The snapshot a pass works from (see the module docstring)."""

    now: float
    snapshot: Snapshot
    pools: dict[str, PoolInfo]
    pdbs: list[Obj]
    claim_by_node: dict[str, str] = field(default_factory=dict)
    node_by_claim: dict[str, Obj] = field(default_factory=dict)
    # Whether any pod has topology rules, when the reader kept count (None: look at the pods).
    topology: bool | None = None

    def any_topology(self) -> bool:
        """Whether any pod has topology rules (then where the other pods are matters to a
        what-if)."""
        if self.topology is None:
            self.topology = any(has_topology_rules(p) for p in self.snapshot.pods)
        return self.topology

    def __post_init__(self) -> None:
        by_provider = self.snapshot.by_provider_id
        for name, claim in self.snapshot.claims.items():
            status = claim.get("status") or {}
            node = self.snapshot.nodes.get(str(status.get("nodeName") or ""))
            if node is None:
                node = by_provider.get(str(status.get("providerID") or ""))
            if node is not None:
                self.node_by_claim[name] = node
                self.claim_by_node[str(meta(node)["name"])] = name

    def pods_on(self, node_name: str) -> list[Obj]:
        """Every non-terminal pod bound to the node."""
        return self.snapshot.bound.get(node_name, [])

    def price(self, pool: str, node: Mapping[str, Any]) -> float | None:
        """USD/hour of the node's offering, from its pool's instance types (None: unknown)."""
        labels = meta(node).get("labels") or {}
        info = self.pools.get(pool)
        it = info.types.get(str(labels.get(INSTANCE_TYPE) or "")) if info else None
        if it is None:
            return None
        for offering in it.offerings:
            if offering.capacity_type == labels.get(CAPACITY_TYPE) and offering.zone == labels.get(
                ZONE
            ):
                return offering.price
        return None

    def disrupting(self, claim_name: str) -> bool:
        """Deleting, marked for disruption (tainted), or its node NotReady or gone."""
        claim = self.snapshot.claims[claim_name]
        node = self.node_by_claim.get(claim_name)
        seen = _DISRUPTING.get(claim_name)
        if seen is not None and seen[0] is claim and seen[1] is node:
            return seen[2]
        found = (
            is_terminating(claim)
            or node is None
            or is_terminating(node)
            or has_taint(node, DISRUPTED_TAINT)
            or not is_ready(node)
        )
        if len(_DISRUPTING) >= _DISRUPTING_MAX:
            _DISRUPTING.clear()
        _DISRUPTING[claim_name] = (claim, node, found)
        return found

    def pool_counts(self) -> dict[str, PoolCounts]:
        """Per pool, its nodes (claims with a node, or deleting) and how many are disrupting;
        a claim still starting is no node yet."""
        total: dict[str, int] = {}
        disrupting: dict[str, int] = {}
        for name, claim in self.snapshot.claims.items():
            pool = str((meta(claim).get("labels") or {}).get(NODEPOOL) or "")
            if not pool or (name not in self.node_by_claim and not is_terminating(claim)):
                continue
            total[pool] = total.get(pool, 0) + 1
            if self.disrupting(name):
                disrupting[pool] = disrupting.get(pool, 0) + 1
        return {pool: PoolCounts(n, disrupting.get(pool, 0)) for pool, n in total.items()}


# Per NodeClaim name: the claim and node last judged (stored objects, never changed in place)
# and whether they are disrupting — passes every 10 s mostly see the same objects.
_DISRUPTING: dict[str, tuple[Obj, Obj | None, bool]] = {}
_DISRUPTING_MAX = 50_000


@dataclass(frozen=True)
class _PoolEntry:
    obj: Obj
    node_class: Obj
    offered: Sequence[InstanceType]
    info: PoolInfo


class PoolCache:
    """The :class:`PoolInfo` of each NodePool from the previous read, reused while the pool and
    its node class are the same stored objects, the cloud offers the very same instance types
    and the remaining limits are unchanged — a pass then does not re-parse the pool or re-index
    its instance types."""

    def __init__(self) -> None:
        self._entries: dict[str, _PoolEntry] = {}

    def view(self, obj: Obj) -> NodePoolView:
        """The pool's validated view (InvalidError as :meth:`NodePoolView.from_object`)."""
        found = self._entries.get(str(meta(obj).get("name")))
        if found is not None and found.obj is obj:
            return found.info.view
        return NodePoolView.from_object(obj)

    def info(
        self, view: NodePoolView, obj: Obj, node_class: Obj, offered: Sequence[InstanceType]
    ) -> tuple[PoolInfo | None, Mapping[str, InstanceType]]:
        """The kept info when still valid (remaining limits aside), and the types by name."""
        found = self._entries.get(view.name)
        if (
            found is None
            or found.obj is not obj
            or found.node_class is not node_class
            or len(found.offered) != len(offered)
            or not all(a is b for a, b in zip(found.offered, offered, strict=True))
        ):
            return None, {t.name: t for t in offered}
        return found.info, found.info.types

    def put(
        self, obj: Obj, node_class: Obj, offered: Sequence[InstanceType], info: PoolInfo
    ) -> None:
        self._entries[info.view.name] = _PoolEntry(obj, node_class, offered, info)


def read_state(
    client: Client, cloud: CloudProvider, now: float, *, pools: PoolCache | None = None
) -> ClusterState:
    """Read the cluster once (shared objects; nothing here may be changed); ``pools`` keeps
    the parsed NodePools from one read to the next."""
    snap = Snapshot(
        pods=list(client.list("v1", "Pod", copy=False).items),
        nodes={meta(n)["name"]: n for n in client.list("v1", "Node", copy=False).items},
        claims={meta(c)["name"]: c for c in client.list(KARPENTER, "NodeClaim", copy=False).items},
        pools=list(client.list(KARPENTER, "NodePool", copy=False).items),
        daemonsets=list(client.list("apps/v1", "DaemonSet", copy=False).items),
        namespaces={
            meta(n)["name"]: dict(meta(n).get("labels") or {})
            for n in client.list("v1", "Namespace", copy=False).items
        },
    )
    pdbs = list(client.list("policy/v1", "PodDisruptionBudget", copy=False).items)
    return cluster_state(client, cloud, now, snap, pdbs, pools=pools)


def cluster_state(
    client: Client,
    cloud: CloudProvider,
    now: float,
    snap: Snapshot,
    pdbs: list[Obj],
    *,
    pools: PoolCache | None = None,
    topology: bool | None = None,
) -> ClusterState:
    """The pass's state over a read of the cluster (the usable pools are found here);
    ``topology``: whether any pod has topology rules, when the caller kept count."""
    infos = _pools(client, cloud, snap, pools if pools is not None else PoolCache())
    return ClusterState(now, snap, infos, pdbs, topology=topology)


def _pools(
    client: Client, cloud: CloudProvider, snap: Snapshot, cache: PoolCache
) -> dict[str, PoolInfo]:
    out: dict[str, PoolInfo] = {}
    for obj in snap.pools:
        if is_terminating(obj):
            continue
        try:
            view = cache.view(obj)
        except InvalidError:
            continue  # the provisioner reports invalid pools
        ref = view.node_class_ref
        try:
            node_class = client.get(
                f"{ref.group}/{NODECLASS_VERSION}", ref.kind, ref.name, copy=False
            )
        except ShipyardError:
            continue
        offered = cloud.instance_types(obj, node_class)
        kept, types = cache.info(view, obj, node_class, offered)
        remaining = _remaining(view, snap.claims.values(), types)
        if kept is None or kept.template.remaining_limits != remaining:
            template = PoolTemplate.of(view, offered, remaining)
            kept = PoolInfo(view, obj, types, template)
            cache.put(obj, node_class, offered, kept)
        out[view.name] = kept
    return out


def _remaining(
    view: NodePoolView, claims: Iterable[Obj], types: Mapping[str, InstanceType]
) -> dict[str, int] | None:
    if view.limits is None:
        return None
    mine = [c for c in claims if (meta(c).get("labels") or {}).get(NODEPOOL) == view.name]
    used = add_resources(*(claim_capacity(c, types) for c in mine), {"nodes": len(mine)})
    return {name: limit - used.get(name, 0) for name, limit in view.limits.items()}
