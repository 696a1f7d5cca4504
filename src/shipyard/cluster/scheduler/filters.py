"""kube-scheduler's filter plugins, in the default profile's order.

Each plugin's ``pre_filter(pod, snapshot)`` does the per-pod work once (as PreFilter does) and
returns a state whose ``filter(node)`` judges one node, or ``None`` when the plugin has nothing
to check for this pod (PreFilter's ``Skip``), so the per-node loop runs only the checks that
matter. States that depend on other pods (topology spread, inter-pod affinity) support
``add_pod``/``remove_pod``/``copy`` — PreFilter's AddPod/RemovePod extensions — which
preemption uses to ask "would it fit without these pods?" and the nominated-pods pass uses to
ask "would it still fit with the pods nominated here?".

Plugins, their reasons and codes (U: Unschedulable, UU: UnschedulableAndUnresolvable):

- NodeUnschedulable — ``node(s) were unschedulable``, UU; a pod tolerating
  ``node.kubernetes.io/unschedulable:NoSchedule`` passes.
- NodeName — ``node(s) didn't match the requested node name``, UU.
- TaintToleration — ``node(s) had untolerated taint {key: value}`` for the node's first
  NoSchedule/NoExecute taint no toleration tolerates, UU.
- NodeAffinity — ``node(s) didn't match Pod's node affinity/selector``, UU.
- NodePorts — ``node(s) didn't have free ports for the requested pod ports``, U.
- NodeResourcesFit — every shortage at once: ``Too many pods``, ``Insufficient cpu``,
  ``Insufficient memory``, ``Insufficient ephemeral-storage``, ``Insufficient <extended>``;
  U, or UU when a request exceeds the node's allocatable outright.
- PodTopologySpread — ``node(s) didn't match pod topology spread constraints``, U;
  ``... (missing required label)`` when the node lacks a topology key, UU.
- InterPodAffinity — ``node(s) didn't match pod affinity rules`` (UU), ``node(s) didn't match
  pod anti-affinity rules`` (U), ``node(s) didn't satisfy existing pods anti-affinity rules`` (U).

PodTopologySpread follows ``calPreFilterState``: only nodes that carry every constraint's
topology key and pass the constraint's node inclusion policies count as domains; pods count
when they are in the incoming pod's namespace, match the selector and are not terminating;
``skew = matching in the node's domain + (1 if the pod matches its own selector) − global
minimum`` must not exceed ``maxSkew``, the minimum being 0 while there are fewer domains than
``minDomains``. InterPodAffinity follows its three topology maps; a pod whose required affinity
matches no pod anywhere may still go where it would match itself (the first pod of a group).
System default spreading constraints (for pods of Services/ReplicaSets without their own
constraints) are not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Protocol, Self

from shipyard.cluster.scheduler.framework import (
    ERR_AFFINITY,
    ERR_ANTI_AFFINITY,
    ERR_EXISTING_ANTI_AFFINITY,
    ERR_NODE_AFFINITY,
    ERR_NODE_NAME,
    ERR_NODE_PORTS,
    ERR_SPREAD,
    ERR_SPREAD_LABEL,
    ERR_UNSCHEDULABLE,
    UNSCHEDULABLE,
    UNSCHEDULABLE_AND_UNRESOLVABLE,
    Status,
)
from shipyard.cluster.scheduler.podinfo import (
    AffinityTerm,
    HostPort,
    PodInfo,
    Resources,
    SpreadConstraint,
)
from shipyard.cluster.scheduler.snapshot import NodeInfo, Snapshot
from shipyard.core.taints import Taint, Toleration, tolerates

__all__ = [
    "DEFAULT_FILTERS",
    "FilterPlugin",
    "FilterState",
    "InterPodAffinity",
    "NodeAffinity",
    "NodeName",
    "NodePorts",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "PodTopologySpread",
    "TaintToleration",
    "fit_memoised",
    "fit_status",
    "is_fit_only",
    "untolerated_taint",
]

_UU = UNSCHEDULABLE_AND_UNRESOLVABLE


class FilterState(Protocol):
    """One plugin's per-pod state: judges nodes; updatable for what-if questions."""

    def filter(self, node: NodeInfo) -> Status | None: ...

    def add_pod(self, pod: PodInfo, node: NodeInfo) -> None: ...

    def remove_pod(self, pod: PodInfo, node: NodeInfo) -> None: ...

    def copy(self) -> FilterState: ...


class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None: ...


class _Stateless:
    """A state that other pods do not affect."""

    def add_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        return None

    def remove_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        return None

    def copy(self) -> Self:
        return self


class _Check(_Stateless):
    """A stateless state over a plain function of the node."""

    __slots__ = ("filter",)

    def __init__(self, fn: Callable[[NodeInfo], Status | None]) -> None:
        self.filter = fn


# --- NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts -----------------

_UNSCHEDULABLE_STATUS = Status(_UU, (ERR_UNSCHEDULABLE,), "NodeUnschedulable")
_NODE_NAME_STATUS = Status(_UU, (ERR_NODE_NAME,), "NodeName")
_NODE_AFFINITY_STATUS = Status(_UU, (ERR_NODE_AFFINITY,), "NodeAffinity")
_NODE_PORTS_STATUS = Status(UNSCHEDULABLE, (ERR_NODE_PORTS,), "NodePorts")


def _unschedulable(node: NodeInfo) -> Status | None:
    return _UNSCHEDULABLE_STATUS if node.unschedulable else None


class NodeUnschedulable:
    name = "NodeUnschedulable"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        if pod.tolerates_unschedulable or not snapshot.gated_nodes:
            return None
        return _Check(_unschedulable)


class NodeName:
    name = "NodeName"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        wanted = pod.node_name
        if not wanted:
            return None
        return _Check(lambda node: None if node.name == wanted else _NODE_NAME_STATUS)


def untolerated_taint(
    taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]
) -> Taint | None:
    """The first of ``taints`` no toleration tolerates (FindMatchingUntoleratedTaint)."""
    for taint in taints:
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


@lru_cache(maxsize=1024)
def _taint_status(taint: Taint) -> Status:
    return Status(_UU, (f"node(s) had untolerated taint {taint}",), "TaintToleration")


class TaintToleration:
    name = "TaintToleration"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        if not snapshot.gated_nodes:
            return None
        tolerations = pod.tolerations

        def check(node: NodeInfo) -> Status | None:
            if not node.hard_taints:
                return None
            taint = untolerated_taint(node.hard_taints, tolerations)
            return None if taint is None else _taint_status(taint)

        return _Check(check)


class NodeAffinity:
    name = "NodeAffinity"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        selector = pod.node_selector
        if selector is None:
            return None
        matches = selector.matches
        return _Check(
            lambda node: None if matches(node.labels, node.name) else _NODE_AFFINITY_STATUS
        )


def _port_conflict(want: HostPort, used: Mapping[tuple[str, int], Mapping[str, int]]) -> bool:
    ips = used.get((want.protocol, want.port))
    if not ips:
        return False
    return want.ip == "0.0.0.0" or want.ip in ips or "0.0.0.0" in ips


class NodePorts:
    name = "NodePorts"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        wanted = pod.ports
        if not wanted:
            return None

        def check(node: NodeInfo) -> Status | None:
            used = node.ports
            if used and any(_port_conflict(w, used) for w in wanted):
                return _NODE_PORTS_STATUS
            return None

        return _Check(check)


# --- NodeResourcesFit ---------------------------------------------------------------------


def fit_status(res: Resources, node: NodeInfo) -> Status | None:
    """Every resource the node is short of for this request (``fitsRequest``)."""
    reasons: list[str] = []
    unresolvable = False
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append("Too many pods")
    for request, alloc, used, name in (
        (res.cpu, node.alloc_cpu, node.req_cpu, "cpu"),
        (res.memory, node.alloc_memory, node.req_memory, "memory"),
        (res.ephemeral, node.alloc_ephemeral, node.req_ephemeral, "ephemeral-storage"),
    ):
        if request > 0 and request > alloc - used:
            reasons.append(f"Insufficient {name}")
            unresolvable = unresolvable or request > alloc
    for name, request in res.scalars:
        alloc = node.alloc_scalars.get(name, 0)
        if request > alloc - node.req_scalars.get(name, 0):
            reasons.append(f"Insufficient {name}")
            unresolvable = unresolvable or request > alloc
    if not reasons:
        return None
    return Status(_UU if unresolvable else UNSCHEDULABLE, tuple(reasons), "NodeResourcesFit")


def fit_memoised(res: Resources, node: NodeInfo) -> Status | None:
    """``fit_status`` through the node's memo (valid until the node changes)."""
    memo = node.memo
    if memo is not None and memo[0] is res:
        return memo[1]
    status = fit_status(res, node)
    node.memo = (res, status, None)
    return status


class _FitState(_Stateless):
    __slots__ = ("_res",)

    def __init__(self, res: Resources) -> None:
        self._res = res

    def filter(self, node: NodeInfo) -> Status | None:
        return fit_memoised(self._res, node)


def is_fit_only(states: list[FilterState]) -> bool:
    return len(states) == 1 and type(states[0]) is _FitState


class NodeResourcesFit:
    name = "NodeResourcesFit"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        return _FitState(pod.resources)


# --- PodTopologySpread --------------------------------------------------------------------

_SPREAD_STATUS = Status(UNSCHEDULABLE, (ERR_SPREAD,), "PodTopologySpread")
_SPREAD_LABEL_STATUS = Status(_UU, (ERR_SPREAD_LABEL,), "PodTopologySpread")


def spread_eligible(pod: PodInfo, c: SpreadConstraint, node: NodeInfo) -> bool:
    """The constraint's node inclusion policies (nodeAffinityPolicy, nodeTaintsPolicy)."""
    selector = pod.node_selector
    if (
        c.honor_node_affinity
        and selector is not None
        and not selector.matches(node.labels, node.name)
    ):
        return False
    return not (
        c.honor_node_taints and untolerated_taint(node.hard_taints, pod.tolerations) is not None
    )


def has_keys(node: NodeInfo, constraints: tuple[SpreadConstraint, ...]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def count_matching(snapshot: Snapshot, c: SpreadConstraint, namespace: str) -> dict[str, int]:
    """Pods per node that count for a spread constraint (same namespace, not terminating)."""
    per_node: dict[str, int] = {}
    if c.selector.is_empty() or c.selector.match_nothing:
        return per_node  # countPodsMatchSelector: an empty selector counts nothing
    for p in snapshot.pods_matching(c.selector):
        if p.namespace == namespace and not p.terminating:
            per_node[p.node_name] = per_node.get(p.node_name, 0) + 1
    return per_node


class _SpreadState:
    def __init__(self, pod: PodInfo, constraints: tuple[SpreadConstraint, ...]) -> None:
        self.pod = pod
        self.constraints = constraints
        self.self_match = tuple(1 if c.selector.matches(pod.labels) else 0 for c in constraints)
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.limits: list[int] = []

    def fill(self, snapshot: Snapshot) -> None:
        per_node = [count_matching(snapshot, c, self.pod.namespace) for c in self.constraints]
        if self._every_node_counts():
            self._fill_from_topology(snapshot, per_node[0])
        else:
            self._fill_node_by_node(snapshot, per_node)
        self._set_limits()

    def _fill_node_by_node(self, snapshot: Snapshot, per_node: list[dict[str, int]]) -> None:
        for node in snapshot.node_list():
            if not has_keys(node, self.constraints):
                continue
            for i, c in enumerate(self.constraints):
                if spread_eligible(self.pod, c, node):
                    value = node.labels[c.topology_key]
                    counts = self.counts[i]
                    counts[value] = counts.get(value, 0) + per_node[i].get(node.name, 0)

    def _every_node_counts(self) -> bool:
        """One constraint whose inclusion policies exclude no node carrying its key."""
        if len(self.constraints) != 1:
            return False
        c = self.constraints[0]
        return not c.honor_node_taints and not (c.honor_node_affinity and self.pod.node_selector)

    def _fill_from_topology(self, snapshot: Snapshot, per_node: dict[str, int]) -> None:
        """The same counts from the snapshot's cached ``node -> domain`` map, visiting only the
        nodes with matching pods instead of every node."""
        key = self.constraints[0].topology_key
        values = snapshot.topology_values(key)
        counts = self.counts[0] = dict.fromkeys(snapshot.topology_domains(key), 0)
        for name, count in per_node.items():
            domain = values.get(name)
            if domain is not None:
                counts[domain] += count

    def _min_match(self, i: int) -> int:
        """The global minimum; 0 while there are fewer domains than ``minDomains``."""
        counts = self.counts[i]
        if len(counts) < self.constraints[i].min_domains:
            return 0
        return min(counts.values()) if counts else 2**31 - 1

    def _set_limits(self) -> None:
        """Per constraint, the most matching pods a domain may hold for the pod to go there:
        ``count + selfMatch − min ≤ maxSkew``."""
        self.limits = [
            c.max_skew - self.self_match[i] + self._min_match(i)
            for i, c in enumerate(self.constraints)
        ]

    def filter(self, node: NodeInfo) -> Status | None:
        labels = node.labels
        for i, c in enumerate(self.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                return _SPREAD_LABEL_STATUS
            if self.counts[i].get(value, 0) > self.limits[i]:
                return _SPREAD_STATUS
        return None

    def _update(self, pod: PodInfo, node: NodeInfo, delta: int) -> None:
        if pod.namespace != self.pod.namespace or not has_keys(node, self.constraints):
            return
        for i, c in enumerate(self.constraints):
            if c.selector.matches(pod.labels) and spread_eligible(self.pod, c, node):
                value = node.labels[c.topology_key]
                self.counts[i][value] = self.counts[i].get(value, 0) + delta
        self._set_limits()

    def add_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        self._update(pod, node, 1)

    def remove_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        self._update(pod, node, -1)

    def copy(self) -> FilterState:
        clone = object.__new__(_SpreadState)
        clone.pod, clone.constraints, clone.self_match = self.pod, self.constraints, self.self_match
        clone.counts = [dict(c) for c in self.counts]
        clone.limits = list(self.limits)
        return clone


class PodTopologySpread:
    name = "PodTopologySpread"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        hard = tuple(c for c in pod.spread if c.hard)
        if not hard:
            return None
        state = _SpreadState(pod, hard)
        state.fill(snapshot)
        return state


# --- InterPodAffinity ---------------------------------------------------------------------

_AFFINITY_STATUS = Status(_UU, (ERR_AFFINITY,), "InterPodAffinity")
_ANTI_AFFINITY_STATUS = Status(UNSCHEDULABLE, (ERR_ANTI_AFFINITY,), "InterPodAffinity")
_EXISTING_ANTI_STATUS = Status(UNSCHEDULABLE, (ERR_EXISTING_ANTI_AFFINITY,), "InterPodAffinity")

Pair = tuple[str, str]
Namespaces = Callable[[str], Mapping[str, str]]


def _bump(counts: dict[Pair, int], pair: Pair, delta: int) -> None:
    value = counts.get(pair, 0) + delta
    if value:
        counts[pair] = value
    else:
        counts.pop(pair, None)


class _AffinityState:
    """The three maps of InterPodAffinity's PreFilter, by (topology key, value)."""

    def __init__(self, pod: PodInfo, namespaces: Namespaces) -> None:
        self.pod = pod
        self.namespaces = namespaces
        self.existing_anti: dict[Pair, int] = {}
        self.affinity: dict[Pair, int] = {}
        self.anti: dict[Pair, int] = {}
        self.matches_own_terms = all(t.matches(pod, namespaces) for t in pod.required_affinity)
        # Whether existing pods' anti-affinity terms match this pod, by term (terms are
        # shared between the replicas that carry them, so this is asked once per distinct term).
        self._matched: dict[int, tuple[AffinityTerm, bool]] = {}
        self._existing_keys: frozenset[str] = frozenset()

    def fill(self, snapshot: Snapshot) -> None:
        for other in snapshot.anti_affinity_pods.values():
            node = snapshot.nodes.get(other.node_name)
            if node is not None and node.node is not None:
                self._existing(other, node, 1)
        terms = self.pod.required_affinity
        if terms:
            for other in snapshot.pods_matching(terms[0].selector):
                node = snapshot.nodes.get(other.node_name)
                if node is not None and node.node is not None:
                    self._incoming_affinity(other, node, 1)
        for term in self.pod.required_anti_affinity:
            for other in snapshot.pods_matching(term.selector):
                node = snapshot.nodes.get(other.node_name)
                if node is not None and node.node is not None:
                    self._incoming_anti(term, other, node, 1, selected=True)
        self._existing_keys = frozenset(k for k, _ in self.existing_anti)

    def _existing(self, other: PodInfo, node: NodeInfo, delta: int) -> None:
        for term in other.required_anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is not None and self._matches_me(term):
                _bump(self.existing_anti, (term.topology_key, value), delta)

    def _matches_me(self, term: AffinityTerm) -> bool:
        known = self._matched.get(id(term))
        if known is None or known[0] is not term:
            known = self._matched[id(term)] = (term, term.matches(self.pod, self.namespaces))
        return known[1]

    def _incoming_affinity(self, other: PodInfo, node: NodeInfo, delta: int) -> None:
        terms = self.pod.required_affinity
        if not all(t.matches(other, self.namespaces) for t in terms):
            return
        for term in terms:
            value = node.labels.get(term.topology_key)
            if value is not None:
                _bump(self.affinity, (term.topology_key, value), delta)

    def _incoming_anti(
        self,
        term: AffinityTerm,
        other: PodInfo,
        node: NodeInfo,
        delta: int,
        *,
        selected: bool = False,
    ) -> None:
        """``selected``: ``other`` came from the term's own label selector."""
        value = node.labels.get(term.topology_key)
        if value is None:
            return
        if selected:
            if not term.covers_namespace(other, self.namespaces):
                return
        elif not term.matches(other, self.namespaces):
            return
        _bump(self.anti, (term.topology_key, value), delta)

    def filter(self, node: NodeInfo) -> Status | None:
        labels = node.labels
        if self.pod.required_affinity and not self._affinity_ok(labels):
            return _AFFINITY_STATUS
        for term in self.pod.required_anti_affinity:
            value = labels.get(term.topology_key)
            if value is not None and self.anti.get((term.topology_key, value), 0) > 0:
                return _ANTI_AFFINITY_STATUS
        existing = self.existing_anti
        if existing:
            for key in self._existing_keys:
                value = labels.get(key)
                if value is not None and (key, value) in existing:
                    return _EXISTING_ANTI_STATUS
        return None

    def _affinity_ok(self, labels: Mapping[str, str]) -> bool:
        pods_exist = True
        for term in self.pod.required_affinity:
            value = labels.get(term.topology_key)
            if value is None:
                return False  # every topology key must exist on the node
            if self.affinity.get((term.topology_key, value), 0) <= 0:
                pods_exist = False
        # The first pod of a group that has affinity to itself may go anywhere it would match.
        return pods_exist or (not self.affinity and self.matches_own_terms)

    def _update(self, other: PodInfo, node: NodeInfo, delta: int) -> None:
        self._existing(other, node, delta)
        self._existing_keys = frozenset(k for k, _ in self.existing_anti)
        if self.pod.required_affinity:
            self._incoming_affinity(other, node, delta)
        for term in self.pod.required_anti_affinity:
            self._incoming_anti(term, other, node, delta)

    def add_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        self._update(pod, node, 1)

    def remove_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        self._update(pod, node, -1)

    def copy(self) -> FilterState:
        clone = object.__new__(_AffinityState)
        clone.pod, clone.namespaces = self.pod, self.namespaces
        clone.matches_own_terms = self.matches_own_terms
        clone._matched = self._matched
        clone._existing_keys = self._existing_keys
        clone.existing_anti = dict(self.existing_anti)
        clone.affinity = dict(self.affinity)
        clone.anti = dict(self.anti)
        return clone


class InterPodAffinity:
    name = "InterPodAffinity"

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> FilterState | None:
        if not (pod.required_affinity or pod.required_anti_affinity or snapshot.anti_affinity_pods):
            return None
        state = _AffinityState(pod, snapshot.namespace_labels)
        state.fill(snapshot)
        if not (pod.required_affinity or pod.required_anti_affinity or state.existing_anti):
            return None
        return state


DEFAULT_FILTERS: tuple[FilterPlugin, ...] = (
    NodeUnschedulable(),
    NodeName(),
    TaintToleration(),
    NodeAffinity(),
    NodePorts(),
    NodeResourcesFit(),
    PodTopologySpread(),
    InterPodAffinity(),
)
