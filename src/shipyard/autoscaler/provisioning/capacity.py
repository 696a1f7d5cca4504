"""The cluster as a provisioning plan sees it: one read, the capacity already there, limits.

The provisioner reads the cluster once per batch, the disruption controller's simulations
read it for every pass, and both hand the solver the capacity the cluster already has:

- :class:`Snapshot` — one read of everything a plan needs (pods, nodes, NodeClaims,
  NodePools, DaemonSets, namespace labels), with the non-terminal pods bound to each node and
  the nodes by ``providerID`` derived from them, or passed in already derived by a reader
  that keeps them up to date from changes (the disruption informer).
- :func:`existing_capacity` — Karpenter's existing nodes and in-flight NodeClaims, as
  :class:`~.model.ExistingNode`: each registered node is its allocatable minus the requests
  of the pods bound to it; a NodeClaim whose node has not registered yet (found by the
  claim's ``status.nodeName``, else its ``providerID``) is its launched allocatable (or,
  before launch, the smallest of its instance types), labelled with the requirements it pins
  to one value — both less the pods already nominated to them. Nodes of claims not yet
  initialized ignore their startup and ephemeral taints. Cordoned or deleting nodes and
  deleting claims offer nothing. Each comes with the target a pod placed there is nominated
  to: ``("nodeclaim", <claim>)`` or ``("node", <node>)``.
- :func:`claim_capacity` — what a NodeClaim counts against its pool's ``spec.limits``: its
  launched capacity, else the largest capacity among its candidate instance types
  (:func:`candidate_types`, the claim's ``node.kubernetes.io/instance-type In``), as
  Karpenter charges a claim not launched yet.

Every reading sums the requests of every bound pod, so the reading is cached by identity
(stored objects are never changed in place): per pod spec its requests, and per node the
:class:`~.model.ExistingNode` last read, kept while the node, its bound pods, its nominated
pods and its claim's facts are the very same objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

from shipyard.autoscaler.lifecycle import INITIALIZED
from shipyard.autoscaler.lifecycle.model import condition_status
from shipyard.autoscaler.lifecycle.nodes import node_taints
from shipyard.cloud.provider import InstanceType
from shipyard.cluster.podutil import is_terminal, is_terminating, pod_requests, quantity_units
from shipyard.core.labels import INSTANCE_TYPE, NODEPOOL
from shipyard.core.objects import IdentityCache, Obj, meta
from shipyard.core.requirements import IN
from shipyard.core.taints import Taint

from .model import ExistingNode

__all__ = [
    "Snapshot",
    "candidate_types",
    "claim_capacity",
    "existing_capacity",
    "units",
]


def units(resources: Mapping[str, Any] | None) -> dict[str, int]:
    """Kubernetes quantities in the scheduler's units."""
    return {str(k): quantity_units(str(k), v) for k, v in (resources or {}).items()}


def candidate_types(claim: Mapping[str, Any]) -> list[str]:
    """The instance types a claim's ``node.kubernetes.io/instance-type In`` names."""
    for req in (claim.get("spec") or {}).get("requirements") or ():
        if req.get("key") == INSTANCE_TYPE and req.get("operator") == IN:
            return [str(v) for v in req.get("values") or ()]
    return []


def claim_capacity(claim: Mapping[str, Any], types: Mapping[str, InstanceType]) -> dict[str, int]:
    """What a claim counts against its pool's limits: its launched capacity, else the largest
    capacity among its candidate types."""
    launched = (claim.get("status") or {}).get("capacity")
    if launched:
        return units(launched)
    out: dict[str, int] = {}
    for name in candidate_types(claim):
        it = types.get(name)
        for resource, value in (it.capacity if it else {}).items():
            out[resource] = max(out.get(resource, 0), value)
    return out


def _smallest_allocatable(
    claim: Mapping[str, Any], types: Mapping[str, InstanceType]
) -> dict[str, int]:
    known = [types[n].allocatable for n in candidate_types(claim) if n in types]
    if not known:
        return units(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    names = {r for a in known for r in a}
    return {r: min(a.get(r, 0) for a in known) for r in names}


@dataclass
class Snapshot:
    """One read of everything a plan needs (shared, read-only objects).

    ``bound`` (the non-terminal pods per node name, in the order of ``pods``) and
    ``by_provider_id`` are derived from the pods and nodes, unless ``derive=False`` says the
    caller passes them already derived (a reader that keeps them up to date from changes).
    """

    pods: list[Obj]
    nodes: dict[str, Obj]
    claims: dict[str, Obj]
    pools: list[Obj]
    daemonsets: list[Obj]
    namespaces: dict[str, Mapping[str, str]]
    bound: dict[str, list[Obj]] = field(default_factory=dict)
    by_provider_id: dict[str, Obj] = field(default_factory=dict)
    derive: InitVar[bool] = True

    def __post_init__(self, derive: bool) -> None:
        if not derive:
            return
        for node in self.nodes.values():
            provider_id = (node.get("spec") or {}).get("providerID")
            if provider_id:
                self.by_provider_id[str(provider_id)] = node
        for pod in self.pods:
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name and not is_terminal(pod):
                self.bound.setdefault(str(node_name), []).append(pod)


def _requested(pods: Iterable[Obj]) -> dict[str, int]:
    """What the pods request together, ``pods`` counted (as ``add_resources`` would sum)."""
    total: dict[str, int] = {}
    for pod in pods:
        for name, value in _pod_requests(pod).items():
            total[name] = total.get(name, 0) + value
        total["pods"] = total.get("pods", 0) + 1
    return total


# Per stored pod spec (never changed in place): its requests — every capacity reading (each
# provisioning batch, each disruption pass) sums the requests of every bound pod.
_POD_REQUESTS: IdentityCache[dict[str, int]] = IdentityCache(100_000)


def _pod_requests(pod: Obj) -> dict[str, int]:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod_requests(pod)
    found = _POD_REQUESTS.get(spec)
    return found if found is not None else _POD_REQUESTS.put(spec, pod_requests(pod))


def _claim_node(claim: Obj, snap: Snapshot) -> Obj | None:
    status = claim.get("status") or {}
    node = snap.nodes.get(str(status.get("nodeName") or ""))
    if node is not None:
        return node
    return snap.by_provider_id.get(str(status.get("providerID") or ""))


def _claim_taints(claim: Obj, key: str) -> tuple[Taint, ...]:
    return tuple(Taint.from_dict(t) for t in (claim.get("spec") or {}).get(key) or ())


def existing_capacity(
    snap: Snapshot,
    nominated: Mapping[tuple[str, str], Sequence[Obj]],
    types_by_pool: Mapping[str, Mapping[str, InstanceType]],
) -> tuple[list[ExistingNode], dict[str, tuple[str, str]]]:
    """The cluster's capacity for the solver, and per ExistingNode name the nomination target
    ``(kind, name)`` with the node's name (see the module docstring)."""
    out: list[ExistingNode] = []
    targets: dict[str, tuple[str, str]] = {}
    claimed: set[str] = set()
    for name, claim in sorted(snap.claims.items()):
        node = _claim_node(claim, snap)
        if node is not None:
            claimed.add(str(meta(node).get("name")))
        if is_terminating(claim):
            continue
        pool = str((meta(claim).get("labels") or {}).get(NODEPOOL) or "")
        extra = list(nominated.get(("nodeclaim", name), ()))
        startup = _claim_taints(claim, "startupTaints")
        initialized = condition_status(claim, INITIALIZED) == "True"
        if node is not None:
            found = _node_capacity(
                node, snap, extra, pool=pool, startup=startup, initialized=initialized
            )
        else:
            found = _inflight_capacity(claim, extra, types_by_pool.get(pool) or {}, pool, startup)
        if found is not None:
            out.append(found)
            targets[found.name] = ("nodeclaim", name)
    for name, node in sorted(snap.nodes.items()):
        if name in claimed:
            continue
        extra = list(nominated.get(("node", name), ()))
        found = _node_capacity(node, snap, extra, pool="", startup=(), initialized=True)
        if found is not None:
            out.append(found)
            targets[name] = ("node", name)
    return out, targets


def _node_capacity(
    node: Obj,
    snap: Snapshot,
    nominated: list[Obj],
    *,
    pool: str,
    startup: tuple[Taint, ...],
    initialized: bool,
) -> ExistingNode | None:
    if is_terminating(node) or (node.get("spec") or {}).get("unschedulable"):
        return None
    name = str(meta(node).get("name"))
    bound = snap.bound.get(name, [])
    seen = _CAPACITY.get(name)
    if (
        seen is not None
        and seen[0] is node
        and _same(seen[1], bound)
        and seen[3] == (pool, startup, initialized)
        and _same(seen[2], nominated)
    ):
        return seen[4]
    found = _node_capacity_of(
        node, name, bound, nominated, pool=pool, startup=startup, initialized=initialized
    )
    if len(_CAPACITY) >= _CAPACITY_MAX:
        _CAPACITY.clear()
    _CAPACITY[name] = (node, bound, tuple(nominated), (pool, startup, initialized), found)
    return found


def _same(kept: Sequence[Obj], objs: Sequence[Obj]) -> bool:
    """The same objects (a disruption pass's reader hands out the very same sequence while
    they are unchanged; a fresh read has a new list of the same stored objects)."""
    return kept is objs or (
        len(kept) == len(objs) and all(a is b for a, b in zip(kept, objs, strict=True))
    )


# Per node name: what its capacity was read from last (the stored node, the bound pods, the
# nominated pods, the claim's facts) and the ExistingNode read.
_CAPACITY: dict[
    str,
    tuple[Obj, Sequence[Obj], tuple[Obj, ...], tuple[str, tuple[Taint, ...], bool], ExistingNode],
] = {}
_CAPACITY_MAX = 50_000


def _node_capacity_of(
    node: Obj,
    name: str,
    bound: Sequence[Obj],
    nominated: list[Obj],
    *,
    pool: str,
    startup: tuple[Taint, ...],
    initialized: bool,
) -> ExistingNode:
    return ExistingNode(
        name=name,
        labels=dict(meta(node).get("labels") or {}),
        allocatable=units((node.get("status") or {}).get("allocatable")),
        requested=_requested([*bound, *nominated]),
        taints=tuple(node_taints(node)),
        pods=(*bound, *nominated),
        nodepool=pool,
        startup_taints=startup,
        initialized=initialized,
    )


def _inflight_capacity(
    claim: Obj,
    nominated: list[Obj],
    types: Mapping[str, InstanceType],
    pool: str,
    startup: tuple[Taint, ...],
) -> ExistingNode:
    launched = (claim.get("status") or {}).get("allocatable")
    allocatable = units(launched) if launched else _smallest_allocatable(claim, types)
    pinned = {
        str(r["key"]): str(r["values"][0])
        for r in (claim.get("spec") or {}).get("requirements") or ()
        if r.get("operator") == IN and len(r.get("values") or ()) == 1
    }
    return ExistingNode(
        name=str(meta(claim).get("name")),
        labels={**pinned, **(meta(claim).get("labels") or {})},
        allocatable=allocatable,
        requested=_requested(nominated),
        taints=(*_claim_taints(claim, "taints"), *startup),
        pods=tuple(nominated),
        nodepool=pool,
        startup_taints=startup,
        initialized=False,
    )
