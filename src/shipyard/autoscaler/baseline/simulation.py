"""What-if scheduling for the baseline: kube-scheduler's filters on a copy of the cluster.

Cluster Autoscaler decides by simulating the scheduler on a snapshot of the cluster; Shipyard's
baseline does the same with the embedded scheduler's own :class:`~shipyard.cluster.scheduler.
Profile` (every filter: resources, taints, node affinity, ports, topology spread, inter-pod
affinity) over a :class:`~shipyard.cluster.scheduler.Snapshot` built once per scan.

- :class:`Simulator` changes the snapshot through an undo log: :meth:`~Simulator.place` puts a
  pod on the node the scheduler would pick, :meth:`~Simulator.estimate` bin-packs pending pods
  onto new template nodes of one group (first fit, largest pods first, at most ``limit``
  nodes — Cluster Autoscaler's binpacking estimator), :meth:`~Simulator.try_remove` takes a
  node away (tainted ``ToBeDeletedByClusterAutoscaler``) and re-places its pods elsewhere;
  :meth:`~Simulator.revert` undoes everything after a :meth:`~Simulator.mark`.
- :func:`template_node` is the Node a group's next instance would register as.
- :func:`pods_to_move` applies Cluster Autoscaler's documented rules for the pods on a node
  being scaled down: DaemonSet and mirror pods stay (they go with the node); a pod annotated
  ``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"``, a pod without a controller, a
  ``kube-system`` pod without a PodDisruptionBudget and a pod with local storage (``emptyDir``)
  block the node, unless annotated ``safe-to-evict: "true"``.
- :class:`Budgets` charges the pods to move against their PodDisruptionBudgets'
  ``disruptionsAllowed`` across one scan, so two nodes never both count on the same budget.
- :func:`utilization`: requests over allocatable, the larger of cpu and memory (DaemonSet pods
  count, as with Cluster Autoscaler's defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.lifecycle import format_resources
from shipyard.cloud.provider import InstanceType
from shipyard.cluster.drain import MIRROR_ANNOTATION
from shipyard.cluster.podutil import condition, controller_ref, is_terminal
from shipyard.cluster.scheduler import NodeInfo, Profile, Snapshot
from shipyard.cluster.scheduler.podinfo import PodInfo, PodKey
from shipyard.core.labels import CAPACITY_TYPE, HOSTNAME, OS, ZONE
from shipyard.core.objects import Obj, meta
from shipyard.core.selectors import LabelSelector

from .groups import GROUP_LABEL, NodeGroup

__all__ = [
    "SAFE_TO_EVICT",
    "SCALE_DOWN_DISABLED",
    "TO_BE_DELETED_TAINT",
    "Budgets",
    "Estimate",
    "Simulator",
    "is_node_ready",
    "pods_to_move",
    "template_node",
    "utilization",
]

TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"


_NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def is_node_ready(node: Mapping[str, Any]) -> bool:
    """Ready, and its kubelet has taken the not-ready taint off (until then no pod lands on
    it, so it still counts as upcoming)."""
    if (condition(node, "Ready") or {}).get("status") != "True":
        return False
    taints = (node.get("spec") or {}).get("taints") or ()
    return not any(t.get("key") in _NOT_READY_TAINTS for t in taints)


def template_node(group: NodeGroup, instance_type: InstanceType, name: str, zone: str) -> Obj:
    """The Node the group's next instance would register as, already Ready."""
    labels = {
        OS: "linux",
        **instance_type.requirements.labels(),
        ZONE: zone,
        CAPACITY_TYPE: group.capacity_type,
        **group.labels,
        GROUP_LABEL: group.name,
        HOSTNAME: name,
    }
    resources = format_resources(instance_type.allocatable)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": [dict(t) for t in group.taints]},
        "status": {
            "capacity": format_resources(instance_type.capacity),
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def utilization(info: NodeInfo) -> float:
    """max(cpu requested / allocatable, memory requested / allocatable); 1.0 without either."""
    if info.alloc_cpu <= 0 or info.alloc_memory <= 0:
        return 1.0
    return max(info.req_cpu / info.alloc_cpu, info.req_memory / info.alloc_memory)


def _name(pod: Mapping[str, Any]) -> str:
    md = meta(pod)
    return f"{md.get('namespace') or 'default'}/{md.get('name')}"


def _stays(pod: Mapping[str, Any]) -> bool:
    """Goes away with the node: DaemonSet, mirror and finished pods."""
    if is_terminal(pod) or MIRROR_ANNOTATION in (meta(pod).get("annotations") or {}):
        return True
    return (controller_ref(pod) or {}).get("kind") == "DaemonSet"


def _blocker(pod: Mapping[str, Any], has_budget: Callable[[Obj], bool], local: bool) -> str:
    """Why this pod keeps its node, or ""."""
    safe = str((meta(pod).get("annotations") or {}).get(SAFE_TO_EVICT, "")).lower()
    if safe == "false":
        return f'pod {_name(pod)} is annotated {SAFE_TO_EVICT}: "false"'
    if safe == "true":
        return ""
    if controller_ref(pod) is None:
        return f"pod {_name(pod)} is not replicated (it has no controller)"
    if meta(pod).get("namespace") == "kube-system" and not has_budget(dict(pod)):
        return f"pod {_name(pod)} is a kube-system pod without a PodDisruptionBudget"
    volumes = (pod.get("spec") or {}).get("volumes") or ()
    if local and any("emptyDir" in v for v in volumes):
        return f"pod {_name(pod)} has local storage"
    return ""


def pods_to_move(
    pods: Iterable[Obj],
    *,
    has_budget: Callable[[Obj], bool],
    skip_local_storage: bool = True,
) -> tuple[list[Obj], str]:
    """The pods that must find another node, and why the node cannot go ("" if it can)."""
    moving: list[Obj] = []
    for pod in pods:
        if _stays(pod):
            continue
        reason = _blocker(pod, has_budget, skip_local_storage)
        if reason:
            return [], reason
        moving.append(pod)
    return moving, ""


@dataclass
class _Budget:
    name: str
    namespace: str
    selector: LabelSelector
    allowed: int


class Budgets:
    """PodDisruptionBudgets and what is left of them in this scan."""

    def __init__(self, pdbs: Iterable[Obj]) -> None:
        self._budgets = [
            _Budget(
                str(meta(p).get("name")),
                str(meta(p).get("namespace") or "default"),
                LabelSelector.from_dict((p.get("spec") or {}).get("selector") or None),
                int((p.get("status") or {}).get("disruptionsAllowed") or 0),
            )
            for p in pdbs
        ]

    def of(self, pod: Mapping[str, Any]) -> list[_Budget]:
        md = meta(pod)
        namespace, labels = md.get("namespace") or "default", md.get("labels") or {}
        return [b for b in self._budgets if b.namespace == namespace and b.selector.matches(labels)]

    def has_budget(self, pod: Obj) -> bool:
        return bool(self.of(pod))

    def charge(self, pods: Sequence[Obj]) -> str:
        """Spend the budgets for evicting ``pods``; the blocking budget's message, or ""."""
        need: dict[int, int] = {}
        found: dict[int, _Budget] = {}
        for pod in pods:
            budgets = self.of(pod)
            if len(budgets) > 1:
                return f"pod {_name(pod)} has more than one PodDisruptionBudget"
            for b in budgets:
                need[id(b)] = need.get(id(b), 0) + 1
                found[id(b)] = b
        for key, count in need.items():
            b = found[key]
            if count > b.allowed:
                return (
                    f"PodDisruptionBudget {b.namespace}/{b.name} allows {b.allowed} "
                    f"disruption(s), {count} needed"
                )
        for key, count in need.items():
            found[key].allowed -= count
        return ""


@dataclass
class Estimate:
    """How many new nodes of a group the pods need, and the pods they would take."""

    node_count: int
    pods: list[PodInfo] = field(default_factory=list)


_LogEntry = tuple[str, Any, Any]  # ("pod", key, previous PodInfo | None) | ("node", name, obj)


class Simulator:
    """A scheduler snapshot changed through an undo log (see the module docstring)."""

    def __init__(self, snapshot: Snapshot, profile: Profile | None = None) -> None:
        self.snapshot = snapshot
        self.profile = profile or Profile()
        self.daemons: list[Obj] = []  # the pods DaemonSets would run on a new node
        self._log: list[_LogEntry] = []
        self._hints: dict[object, str] = {}  # pod shape -> the node that last took one
        self._hopeless: set[object] = set()  # shapes that fit no node (until a revert)
        self._order: list[NodeInfo] | None = None
        self._index: dict[str, int] = {}

    @classmethod
    def of(
        cls, nodes: Iterable[Obj], pods: Iterable[Obj], *, namespaces: Iterable[Obj] = ()
    ) -> Simulator:
        """From manifests: pods with a ``nodeName`` are on their node."""
        bound = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
        return cls(Snapshot.from_objects(nodes, bound, namespaces=namespaces))

    # -- the undo log -----------------------------------------------------------------------

    def mark(self) -> int:
        return len(self._log)

    def revert(self, mark: int) -> None:
        if len(self._log) > mark:
            self._hopeless.clear()
        while len(self._log) > mark:
            what, key, previous = self._log.pop()
            if what == "pod":
                if previous is None:
                    self.snapshot.remove_pod(key)
                else:
                    self.snapshot.set_pod(previous)
            elif previous is None:
                self.snapshot.remove_node(key)
            else:
                self.snapshot.set_node(previous)

    def set_pod(self, info: PodInfo) -> None:
        self._log.append(("pod", info.key, self.snapshot.pods.get(info.key)))
        self.snapshot.set_pod(info)

    def remove_pod(self, key: PodKey) -> None:
        self._hopeless.clear()
        self._log.append(("pod", key, self.snapshot.pods.get(key)))
        self.snapshot.remove_pod(key)

    def set_node(self, node: Obj) -> None:
        name = str(meta(node).get("name"))
        info = self.snapshot.nodes.get(name)
        self._hopeless.clear()
        self._log.append(("node", name, info.node if info is not None else None))
        self.snapshot.set_node(node)

    # -- what-ifs ---------------------------------------------------------------------------

    def unbound(self, pod: Obj) -> PodInfo:
        """The pod as the scheduler sees it before binding."""
        return self.snapshot.pod_info(pod).assumed_on("")

    def place(self, info: PodInfo) -> str | None:
        """Put the pod on the first node that passes every filter, starting from the node
        that last took a pod of its shape; None when no node fits it. (First fit with hints,
        as Cluster Autoscaler simulates; a shape that fits nowhere is not tried again until
        a revert gives capacity back.)"""
        shape = _shape(info)
        if shape in self._hopeless:
            return None
        nodes = self.snapshot.node_list()
        if nodes is not self._order:
            self._order, self._index = nodes, {n.name: i for i, n in enumerate(nodes)}
        start = self._index.get(self._hints.get(shape, ""), 0)
        cycle = self.profile.pre_filter(info, self.snapshot)
        for i in range(len(nodes)):
            node = nodes[(start + i) % len(nodes)]
            if node.node is not None and cycle.filter(node) is None:
                self._hints[shape] = node.name
                self.set_pod(info.assumed_on(node.name))
                return node.name
        if not info.required_affinity:  # more pods placed could make affinity match later
            self._hopeless.add(shape)
        return None

    def fits(self, info: PodInfo, node: str) -> bool:
        target = self.snapshot.nodes.get(node)
        if target is None or target.node is None:
            return False
        return self.profile.pre_filter(info, self.snapshot).filter(target) is None

    def estimate(
        self, pods: Sequence[PodInfo], template: Callable[[int], Obj], limit: int
    ) -> Estimate:
        """Bin-pack ``pods`` onto at most ``limit`` new nodes made by ``template(i)``, first
        fit from the node that last took the pod's shape; the snapshot keeps them (revert to
        a mark taken before)."""
        out = Estimate(0)
        new: list[str] = []
        hints: dict[object, int] = {}
        hopeless: set[object] = set()
        for info in sorted(pods, key=_largest_first):
            shape = _shape(info)
            if shape in hopeless:
                continue
            at = self._first_fit(info, new, hints.get(shape, 0))
            if at is None and len(new) < limit:
                name = self._open(info, template(len(new)))
                if name is None:
                    hopeless.add(shape)
                else:
                    new.append(name)
                    at = len(new) - 1
            if at is not None:
                hints[shape] = at
                self.set_pod(info.assumed_on(new[at]))
                out.pods.append(info)
        out.node_count = len(new)
        return out

    def _first_fit(self, info: PodInfo, names: list[str], start: int) -> int | None:
        if not names:
            return None
        cycle = self.profile.pre_filter(info, self.snapshot)
        for i in range(len(names)):
            at = (start + i) % len(names)
            if cycle.filter(self.snapshot.nodes[names[at]]) is None:
                return at
        return None

    def open_node(self, node: Obj) -> str:
        """Add a new node with the DaemonSet pods that would run on it; its name."""
        self.set_node(node)
        name = str(meta(node).get("name"))
        for daemon in self.daemons:
            md = meta(daemon)
            pod = {**daemon, "metadata": {**md, "name": f"{md.get('name')}-{name}"}}
            info = self.unbound(pod)
            if self.fits(info, name):
                self.set_pod(info.assumed_on(name))
        return name

    def _open(self, info: PodInfo, node: Obj) -> str | None:
        mark = self.mark()
        name = self.open_node(node)
        if self.fits(info, name):
            return name
        self.revert(mark)
        return None

    def try_remove(self, node: Obj, pods: Sequence[Obj]) -> dict[str, str] | None:
        """Take ``node`` away and re-place ``pods`` on the other nodes: ``{pod: node}``, or
        None (the snapshot unchanged) when one of them fits nowhere."""
        mark = self.mark()
        for pod in pods:
            self.remove_pod(self.snapshot.pod_info(pod).key)
        self.set_node(tainted(node))
        moved: dict[str, str] = {}
        for pod in pods:
            target = self.place(self.unbound(pod))
            if target is None:
                self.revert(mark)
                return None
            moved[_name(pod)] = target
        return moved


def tainted(node: Obj) -> Obj:
    """The node with the ``ToBeDeletedByClusterAutoscaler:NoSchedule`` taint (a new dict)."""
    spec = dict(node.get("spec") or {})
    taints = [t for t in spec.get("taints") or () if t.get("key") != TO_BE_DELETED_TAINT]
    spec["taints"] = [*taints, {"key": TO_BE_DELETED_TAINT, "effect": "NoSchedule"}]
    return {**node, "spec": spec}


def _largest_first(info: PodInfo) -> tuple[int, int, str]:
    return (-info.resources.cpu, -info.resources.memory, f"{info.namespace}/{info.name}")


def _shape(info: PodInfo) -> object:
    """Pods of one controller with the same requests fit the same templates."""
    owner = controller_ref(info.obj) or {}
    return (owner.get("uid") or info.key, info.resources)
