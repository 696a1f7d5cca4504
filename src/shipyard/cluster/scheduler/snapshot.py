"""The scheduler's cache: nodes with the resources their pods use, and indexes over bound pods.

kube-scheduler keeps an incremental cache fed by informers and snapshots it at the start of
every scheduling cycle. Here the :class:`Snapshot` is updated in place from watch events (the
scheduler holds a lock for a whole cycle, so a cycle still sees one consistent state):

- :class:`NodeInfo` holds a node's labels, its taints split by effect, ``spec.unschedulable``,
  allocatable and requested resources as integers (millicores, bytes, counts; the *non-zero*
  requests for scoring alongside the real ones), the pods on it and their host ports. A bound
  pod on a node the cache has not seen yet gets a placeholder NodeInfo, as in Kubernetes.
- **Node conditions become taints**, as the node lifecycle controller's TaintNodesByCondition
  does: ``Ready=False`` → ``node.kubernetes.io/not-ready:NoSchedule``, ``Ready=Unknown`` →
  ``node.kubernetes.io/unreachable:NoSchedule``, and the memory/disk/PID pressure and
  network-unavailable conditions their ``NoSchedule`` taints. A node without a ``Ready``
  condition (one made directly in the store) is taken as ready. So a NotReady node is filtered
  by TaintToleration with Kubernetes' message, ``node(s) had untolerated taint
  {node.kubernetes.io/not-ready: }``.
- **Terminal pods** (Succeeded/Failed) hold nothing and are not in the cache; terminating pods
  still hold their node's resources until they are deleted, as in Kubernetes.
- **Node order** for the filter walk is kube-scheduler's NodeTree: nodes grouped by zone
  (``region``/``zone`` labels), zones in name order, nodes by name within a zone, taken round
  robin across zones, so the adaptive ``percentageOfNodesToScore`` still sees every zone.
- **Memos.** A NodeInfo remembers the fit status and the resource scores it last computed for
  one pod shape (an interned :class:`~.podinfo.Resources`); any change to the node clears them.
  Pods of a Deployment share a shape, so scheduling a burst of them recomputes only the node
  that changed. The results are exactly those of recomputing. The per-shape indexes of
  :mod:`.index` live here too (``shape_indexes``): the snapshot tells them which nodes changed
  and drops them when the node order changes.
- **Indexes over bound pods**: by label pair (``pods_matching`` starts from the smallest
  bucket of a selector's exact pairs), the pods with required anti-affinity, the pods whose
  affinity terms score others, and the pods nominated to each node by preemption.
- **Version.** ``Snapshot.version`` moves with every change a cycle could see (a node, a bound
  pod, a nomination, a namespace, a priority class), so a verdict computed on one version
  holds for as long as the version stays (see :mod:`.equivalence`). Changes go through the
  methods, never through the dictionaries directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from shipyard.cluster.podutil import quantity_units
from shipyard.cluster.scheduler.framework import Status
from shipyard.cluster.scheduler.podinfo import (
    SYSTEM_PRIORITY_CLASSES,
    PodInfo,
    PodKey,
    PriorityClassInfo,
    Resources,
)
from shipyard.core.labels import REGION, ZONE
from shipyard.core.objects import Obj
from shipyard.core.selectors import LabelSelector
from shipyard.core.taints import DO_NOT_SCHEDULE, NO_SCHEDULE, PREFER_NO_SCHEDULE, Taint

__all__ = ["CONDITION_TAINTS", "Memo", "NodeInfo", "Snapshot", "condition_taints", "node_taints"]

CONDITION_TAINTS: dict[tuple[str, str], Taint] = {
    ("Ready", "False"): Taint("node.kubernetes.io/not-ready", "", NO_SCHEDULE),
    ("Ready", "Unknown"): Taint("node.kubernetes.io/unreachable", "", NO_SCHEDULE),
    ("MemoryPressure", "True"): Taint("node.kubernetes.io/memory-pressure", "", NO_SCHEDULE),
    ("DiskPressure", "True"): Taint("node.kubernetes.io/disk-pressure", "", NO_SCHEDULE),
    ("PIDPressure", "True"): Taint("node.kubernetes.io/pid-pressure", "", NO_SCHEDULE),
    ("NetworkUnavailable", "True"): Taint(
        "node.kubernetes.io/network-unavailable", "", NO_SCHEDULE
    ),
}
_CORE = frozenset({"cpu", "memory", "ephemeral-storage", "pods"})


class Dirtiable(Protocol):
    """Something derived from nodes that wants to hear which nodes changed (a shape index)."""

    dirty: set[str]


Memo = tuple[Resources, Status | None, tuple[int, int] | None]
"""A node's remembered (pod shape, fit status, (LeastAllocated, BalancedAllocation))."""


def condition_taints(node: Mapping[str, Any]) -> list[Taint]:
    """The NoSchedule taints the node lifecycle controller derives from the node's conditions."""
    out = []
    for cond in (node.get("status") or {}).get("conditions") or ():
        taint = CONDITION_TAINTS.get((str(cond.get("type")), str(cond.get("status"))))
        if taint is not None:
            out.append(taint)
    return out


def node_taints(node: Mapping[str, Any]) -> list[Taint]:
    """The node's own taints, then the condition taints it does not already carry."""
    own = []
    for t in (node.get("spec") or {}).get("taints") or ():
        if isinstance(t, Mapping) and t.get("key"):
            own.append(Taint(str(t["key"]), str(t.get("value") or ""), str(t.get("effect") or "")))
    return own + [c for c in condition_taints(node) if not any(c.matches(t) for t in own)]


class NodeInfo:
    """One node and what its pods use, in integers. ``node`` is None for a placeholder."""

    __slots__ = (
        "alloc_cpu",
        "alloc_ephemeral",
        "alloc_memory",
        "alloc_pods",
        "alloc_scalars",
        "hard_taints",
        "labels",
        "memo",
        "name",
        "node",
        "nonzero_cpu",
        "nonzero_memory",
        "pods",
        "ports",
        "prefer_taints",
        "req_cpu",
        "req_ephemeral",
        "req_memory",
        "req_scalars",
        "taints",
        "unschedulable",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.node: Obj | None = None
        self.labels: Mapping[str, str] = {}
        self.taints: tuple[Taint, ...] = ()
        self.hard_taints: tuple[Taint, ...] = ()
        self.prefer_taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        self.alloc_cpu = self.alloc_memory = self.alloc_ephemeral = self.alloc_pods = 0
        self.alloc_scalars: dict[str, int] = {}
        self.req_cpu = self.req_memory = self.req_ephemeral = 0
        self.nonzero_cpu = self.nonzero_memory = 0
        self.req_scalars: dict[str, int] = {}
        self.pods: dict[PodKey, PodInfo] = {}
        self.ports: dict[tuple[str, int], dict[str, int]] = {}
        self.memo: Memo | None = None

    def set_node(self, node: Obj) -> None:
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.node = node
        self.labels = md.get("labels") or {}
        self.taints = tuple(node_taints(node))
        self.hard_taints = tuple(t for t in self.taints if t.effect in DO_NOT_SCHEDULE)
        self.prefer_taints = tuple(t for t in self.taints if t.effect == PREFER_NO_SCHEDULE)
        self.unschedulable = spec.get("unschedulable") is True
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        self.alloc_cpu = quantity_units("cpu", allocatable.get("cpu", 0))
        self.alloc_memory = quantity_units("memory", allocatable.get("memory", 0))
        self.alloc_ephemeral = quantity_units(
            "ephemeral-storage", allocatable.get("ephemeral-storage", 0)
        )
        self.alloc_pods = quantity_units("pods", allocatable.get("pods", 0))
        self.alloc_scalars = {
            k: quantity_units(k, v) for k, v in allocatable.items() if k not in _CORE
        }

    def touch(self) -> None:
        """Forget the memoised fit and score results (the node changed)."""
        self.memo = None

    def add_pod(self, pod: PodInfo) -> None:
        self.pods[pod.key] = pod
        self._account(pod, 1)

    def remove_pod(self, pod: PodInfo) -> None:
        if self.pods.pop(pod.key, None) is not None:
            self._account(pod, -1)

    def _account(self, pod: PodInfo, sign: int) -> None:
        res = pod.resources
        self.req_cpu += sign * res.cpu
        self.req_memory += sign * res.memory
        self.req_ephemeral += sign * res.ephemeral
        self.nonzero_cpu += sign * res.nonzero_cpu
        self.nonzero_memory += sign * res.nonzero_memory
        for name, value in res.scalars:
            self.req_scalars[name] = self.req_scalars.get(name, 0) + sign * value
        for hp in pod.ports:
            ips = self.ports.setdefault((hp.protocol, hp.port), {})
            count = ips.get(hp.ip, 0) + sign
            if count > 0:
                ips[hp.ip] = count
            else:
                ips.pop(hp.ip, None)
                if not ips:
                    del self.ports[(hp.protocol, hp.port)]
        self.touch()

    def copy(self) -> NodeInfo:
        """An independent copy (for preemption's what-if), with empty memos."""
        clone = NodeInfo(self.name)
        for slot in NodeInfo.__slots__:
            setattr(clone, slot, getattr(self, slot))
        clone.pods = dict(self.pods)
        clone.req_scalars = dict(self.req_scalars)
        clone.ports = {k: dict(v) for k, v in self.ports.items()}
        clone.touch()
        return clone

    @property
    def is_gated(self) -> bool:
        """Has NoSchedule/NoExecute taints or is cordoned: filters beyond fit must look."""
        return bool(self.hard_taints) or self.unschedulable

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"


class Snapshot:
    """Nodes, bound pods, namespaces and priority classes as the scheduler sees them."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[PodKey, PodInfo] = {}
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.priority_classes: dict[str, PriorityClassInfo] = {}
        self.nominated: dict[str, dict[PodKey, PodInfo]] = {}
        self.anti_affinity_pods: dict[PodKey, PodInfo] = {}
        self.affinity_pods: dict[PodKey, PodInfo] = {}
        """Bound pods whose affinity terms score incoming pods (``PodInfo.scores_others``)."""
        self.gated_nodes: set[str] = set()
        self.prefer_tainted_nodes: set[str] = set()
        self.generation = 0
        self.version = 0
        """Moves with every change a scheduling cycle could see (see the module docstring)."""
        self._label_index: dict[tuple[str, str], dict[PodKey, PodInfo]] = {}
        self._priorities: Counter[int] = Counter()  # bound pods by priority
        self._order: list[NodeInfo] | None = None
        self.shape_indexes: dict[Resources, Dirtiable] = {}
        self._topology: dict[str, tuple[int, dict[str, str], tuple[str, ...]]] = {}

    @classmethod
    def from_objects(
        cls,
        nodes: Iterable[Obj] = (),
        pods: Iterable[Obj] = (),
        *,
        namespaces: Iterable[Obj] = (),
        priority_classes: Iterable[Obj] = (),
    ) -> Snapshot:
        """A snapshot of manifests (tests, what-if tools): pods with a nodeName are bound."""
        snap = cls()
        for pc in priority_classes:
            snap.set_priority_class(PriorityClassInfo.from_object(pc))
        for ns in namespaces:
            md = ns.get("metadata") or {}
            snap.set_namespace(str(md.get("name")), md.get("labels") or {})
        for node in nodes:
            snap.set_node(node)
        for pod in pods:
            snap.set_pod(snap.pod_info(pod))
        return snap

    # -- priority classes and namespaces ------------------------------------------------------

    def set_priority_class(self, pc: PriorityClassInfo) -> None:
        self.priority_classes[pc.name] = pc
        self.version += 1

    def remove_priority_class(self, name: str) -> None:
        self.priority_classes.pop(name, None)
        self.version += 1

    def set_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        self.namespaces[name] = labels
        self.version += 1

    def remove_namespace(self, name: str) -> None:
        self.namespaces.pop(name, None)
        self.version += 1

    def priority_class(self, name: str | None) -> PriorityClassInfo | None:
        """A class by name (built-in ``system-`` classes too); ``None``: the global default."""
        if name is None:
            defaults = [p for p in self.priority_classes.values() if p.global_default]
            # Kubernetes allows one global default; with several, the lowest value wins.
            return min(defaults, key=lambda p: (p.value, p.name)) if defaults else None
        return self.priority_classes.get(name) or SYSTEM_PRIORITY_CLASSES.get(name)

    def pod_info(self, pod: Obj, previous: PodInfo | None = None) -> PodInfo:
        if previous is not None and previous.uid == str((pod.get("metadata") or {}).get("uid")):
            return previous.with_object(pod, self.priority_class)
        return PodInfo(pod, self.priority_class)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self.namespaces.get(namespace) or {}

    # -- nodes --------------------------------------------------------------------------------

    def set_node(self, node: Obj) -> bool:
        """Add or update a node; True when anything the filters look at changed."""
        name = str((node.get("metadata") or {}).get("name") or "")
        self.version += 1
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        before = _scheduling_view(info) if info.node is not None else None
        zone_before = _zone(info.labels) if info.node is not None else None
        info.set_node(node)
        after = _scheduling_view(info)
        if zone_before != _zone(info.labels) or before is None:
            self._reorder()
        if before != after:
            info.touch()
            self._dirty(name)
            self.generation += 1
            _flag(self.gated_nodes, name, info.is_gated)
            _flag(self.prefer_tainted_nodes, name, bool(info.prefer_taints))
        return before != after

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        self.version += 1
        if info.pods:
            info.node = None  # keep the pods' accounting until they go (a placeholder)
        else:
            del self.nodes[name]
        self.gated_nodes.discard(name)
        self.prefer_tainted_nodes.discard(name)
        self._reorder()
        self.generation += 1

    def _reorder(self) -> None:
        self._order = None
        self.shape_indexes.clear()

    def _dirty(self, name: str) -> None:
        for index in self.shape_indexes.values():
            index.dirty.add(name)

    def node_list(self) -> list[NodeInfo]:
        """Nodes in NodeTree order (zones round robin); placeholders are left out."""
        if self._order is None:
            zones: dict[str, list[NodeInfo]] = {}
            for info in self.nodes.values():
                if info.node is not None:
                    zones.setdefault(_zone(info.labels), []).append(info)
            columns = [sorted(zones[z], key=lambda n: n.name) for z in sorted(zones)]
            order: list[NodeInfo] = []
            for i in range(max((len(c) for c in columns), default=0)):
                order.extend(c[i] for c in columns if i < len(c))
            self._order = order
        return self._order

    def topology_values(self, key: str) -> dict[str, str]:
        """``node name -> value`` of one label over the nodes that carry it (cached)."""
        return self._topology_of(key)[0]

    def topology_domains(self, key: str) -> tuple[str, ...]:
        """The distinct values of one label over the nodes (cached)."""
        return self._topology_of(key)[1]

    def _topology_of(self, key: str) -> tuple[dict[str, str], tuple[str, ...]]:
        cached = self._topology.get(key)
        if cached is None or cached[0] != self.generation:
            values = {n.name: n.labels[key] for n in self.node_list() if key in n.labels}
            cached = (self.generation, values, tuple(sorted(set(values.values()))))
            self._topology[key] = cached
        return cached[1], cached[2]

    # -- pods ---------------------------------------------------------------------------------

    def set_pod(self, pod: PodInfo) -> None:
        """Account a pod version: bound and not terminal pods are on their node, others not."""
        old = self.pods.get(pod.key)
        self.version += 1
        if old is not None and _same_accounting(old, pod):
            self._replace(old, pod)
            return
        if old is not None:
            self._unlink(old)
        if pod.node_name and not pod.terminal:
            self._link(pod)

    def _replace(self, old: PodInfo, pod: PodInfo) -> None:
        """A new version that changes nothing the cache counts: swap the references only."""
        key = pod.key
        self.pods[key] = pod
        node = self.nodes.get(pod.node_name)
        if node is not None:
            node.pods[key] = pod
        for pair in pod.labels.items():
            bucket = self._label_index.get(pair)
            if bucket is not None:
                bucket[key] = pod
        if key in self.anti_affinity_pods:
            self.anti_affinity_pods[key] = pod
        if key in self.affinity_pods:
            self.affinity_pods[key] = pod

    def remove_pod(self, key: PodKey) -> PodInfo | None:
        old = self.pods.get(key)
        if old is not None:
            self.version += 1
            self._unlink(old)
        return old

    def any_below(self, priority: int) -> bool:
        """Is any bound pod of a lower priority (one preemption could evict)?"""
        return any(p < priority for p in self._priorities)

    def _link(self, pod: PodInfo) -> None:
        self.pods[pod.key] = pod
        self._priorities[pod.priority] += 1
        node = self.nodes.get(pod.node_name)
        if node is None:
            node = self.nodes[pod.node_name] = NodeInfo(pod.node_name)
        node.add_pod(pod)
        self._dirty(node.name)
        for pair in pod.labels.items():
            self._label_index.setdefault(pair, {})[pod.key] = pod
        if pod.required_anti_affinity:
            self.anti_affinity_pods[pod.key] = pod
        if pod.scores_others:
            self.affinity_pods[pod.key] = pod

    def _unlink(self, pod: PodInfo) -> None:
        del self.pods[pod.key]
        self._priorities[pod.priority] -= 1
        if not self._priorities[pod.priority]:
            del self._priorities[pod.priority]
        node = self.nodes.get(pod.node_name)
        if node is not None:
            node.remove_pod(pod)
            self._dirty(node.name)
            if node.node is None and not node.pods:
                del self.nodes[pod.node_name]
        for pair in pod.labels.items():
            bucket = self._label_index.get(pair)
            if bucket is not None:
                bucket.pop(pod.key, None)
                if not bucket:
                    del self._label_index[pair]
        self.anti_affinity_pods.pop(pod.key, None)
        self.affinity_pods.pop(pod.key, None)

    def pods_matching(self, selector: LabelSelector) -> Iterator[PodInfo]:
        """Bound pods whose labels match ``selector`` (any namespace), via the label index."""
        if selector.match_nothing:
            return
        pairs = selector.equality_pairs()
        if pairs:
            buckets = [self._label_index.get(p) or {} for p in pairs.items()]
            candidates: Iterable[PodInfo] = min(buckets, key=len).values()
            exact = len(selector.requirements) == 1
        else:
            candidates, exact = self.pods.values(), selector.is_empty()
        for pod in candidates:
            if exact or selector.matches(pod.labels):
                yield pod

    # -- nominated pods (preemption) --------------------------------------------------------------

    def nominate(self, pod: PodInfo, node_name: str) -> None:
        self.clear_nomination(pod.key)
        if node_name:
            self.nominated.setdefault(node_name, {})[pod.key] = pod
            self.version += 1

    def clear_nomination(self, key: PodKey) -> None:
        for name, pods in list(self.nominated.items()):
            if pods.pop(key, None) is not None:
                self.version += 1
                if not pods:
                    del self.nominated[name]

    def is_nominated(self, key: PodKey) -> bool:
        """Is the pod nominated to some node (its own nomination counts in its cycle)?"""
        return any(key in pods for pods in self.nominated.values())

    def nominated_on(self, node_name: str) -> Iterable[PodInfo]:
        return (self.nominated.get(node_name) or {}).values()


def _same_accounting(old: PodInfo, new: PodInfo) -> bool:
    """Would the cache count ``new`` exactly as ``old`` (same node, requests, ports, labels,
    affinity and state)? True for most status-only updates, which reuse the parse."""
    return (
        old.node_name == new.node_name
        and not new.terminal
        and old.terminating == new.terminating
        and old.resources is new.resources
        and old.ports is new.ports
        and old.required_anti_affinity is new.required_anti_affinity
        and old.scores_others == new.scores_others
        and old.priority == new.priority
        and (old.labels is new.labels or old.labels == new.labels)
    )


def _zone(labels: Mapping[str, str]) -> str:
    return f"{labels.get(REGION, '')}:\x00:{labels.get(ZONE, '')}"


def _scheduling_view(info: NodeInfo) -> tuple[object, ...]:
    return (
        info.labels,
        info.taints,
        info.unschedulable,
        info.alloc_cpu,
        info.alloc_memory,
        info.alloc_ephemeral,
        info.alloc_pods,
        info.alloc_scalars,
    )


def _flag(names: set[str], name: str, on: bool) -> None:
    if on:
        names.add(name)
    else:
        names.discard(name)
