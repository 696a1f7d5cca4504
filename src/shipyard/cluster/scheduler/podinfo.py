"""What the scheduler knows about one version of a pod, computed once when the pod is seen.

kube-scheduler wraps every pod in a ``PodInfo`` holding its parsed affinity terms, and keeps
the pod's resource requests in the node's accounting. :class:`PodInfo` does the same here,
so the per-node filter and score work is integer comparisons and dictionary lookups:

- **Requests** come from :func:`~shipyard.cluster.podutil.pod_requests` (containers summed, the
  largest init container per resource, plus ``spec.overhead``). The *non-zero* requests that
  ``LeastAllocated`` scores with give a container without a cpu or memory request Kubernetes'
  defaults, 100m and 200Mi (``schedutil.GetNonzeroRequests``). Both go into an interned
  :class:`Resources`, so pods of one shape share one object and a node can remember the result
  of the last fit check and score for it (see ``snapshot.NodeInfo``).
- **Priority** is resolved as the Priority admission plugin does at creation: ``spec.priority``
  when set, else the value of ``spec.priorityClassName`` (the two built-in ``system-`` classes
  included; an unknown class, which admission would have refused, counts as 0), else the
  ``globalDefault`` class, else 0. ``preemptionPolicy`` comes from the spec, else from that
  class, else ``PreemptLowerPriority``.
- **Node affinity** (``nodeSelector`` AND any required ``nodeSelectorTerms``) is compiled into a
  :class:`NodeSelector` with Kubernetes' operator semantics (``NotIn``/``DoesNotExist`` match a
  missing label, ``Gt``/``Lt`` compare integers, ``matchFields`` on ``metadata.name``; an empty
  term matches nothing). Keys are not normalised, as kube-scheduler does not normalise them.
- **Pod affinity terms** become :class:`AffinityTerm`: the selector, the topology key and the
  namespaces (the pod's own when neither ``namespaces`` nor ``namespaceSelector`` is given; an
  empty ``namespaceSelector`` means every namespace). ``matchLabelKeys``/``mismatchLabelKeys``
  are merged into the selector as ``key in (value)`` / ``key notin (value)`` with the pod's own
  label values, which the API server does at admission in Kubernetes 1.31+.
- **Topology spread constraints** become :class:`SpreadConstraint` with the defaults of
  ``filterTopologySpreadConstraints``: ``minDomains`` 1, ``nodeAffinityPolicy: Honor``,
  ``nodeTaintsPolicy: Ignore``, and ``matchLabelKeys`` merged into the selector.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipyard.cluster.podutil import is_terminal, is_terminating, pod_requests, quantity_units
from shipyard.core.clock import parse_time
from shipyard.core.errors import ShipyardError
from shipyard.core.objects import Obj
from shipyard.core.selectors import LabelRequirement, LabelSelector, SelectorOperator, parse_int64
from shipyard.core.taints import EQUAL, NO_SCHEDULE, Taint, Toleration, tolerates

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "DEFAULT_SCHEDULER",
    "NEVER",
    "PREEMPT_LOWER_PRIORITY",
    "SYSTEM_PRIORITY_CLASSES",
    "UNSCHEDULABLE_TAINT",
    "AffinityTerm",
    "HostPort",
    "NodeSelector",
    "PodInfo",
    "PriorityClassInfo",
    "Resources",
    "SpreadConstraint",
    "intern_resources",
    "pod_key",
]

DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
NEVER = "Never"
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", NO_SCHEDULE)
_CORE_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pods"})

PodKey = tuple[str, str]


def pod_key(pod: Mapping[str, Any]) -> PodKey:
    md = pod.get("metadata") or {}
    return (str(md.get("namespace") or "default"), str(md.get("name") or ""))


# --- resources ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    """A pod's requests in scheduler units (millicores, bytes, counts) and its non-zero view."""

    cpu: int = 0
    memory: int = 0
    ephemeral: int = 0
    scalars: tuple[tuple[str, int], ...] = ()
    nonzero_cpu: int = 0
    nonzero_memory: int = 0

    def is_empty(self) -> bool:
        return not (self.cpu or self.memory or self.ephemeral or self.scalars)


_INTERNED: dict[Resources, Resources] = {}


def intern_resources(res: Resources) -> Resources:
    """One shared object per distinct value, so nodes can memoise per pod shape by identity."""
    found = _INTERNED.get(res)
    if found is not None:
        return found
    if len(_INTERNED) > 50_000:
        _INTERNED.clear()
    _INTERNED[res] = res
    return res


@lru_cache(maxsize=4096)
def _units(resource: str, value: str) -> int:
    return quantity_units(resource, value)


def _nonzero(spec: Mapping[str, Any], resource: str, default: int) -> int:
    """Kubernetes' non-zero request of one resource: a missing container request counts as the
    default; init containers raise it to their largest; overhead adds."""
    total = 0
    for container in spec.get("containers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        value = requests.get(resource)
        total += default if value is None else _units(resource, str(value))
    for container in spec.get("initContainers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        value = requests.get(resource)
        total = max(total, default if value is None else _units(resource, str(value)))
    overhead = (spec.get("overhead") or {}).get(resource)
    if overhead is not None:
        total += _units(resource, str(overhead))
    return total


def resources_of(pod: Mapping[str, Any]) -> Resources:
    """The pod's :class:`Resources`; pods whose requests are written alike share the result
    without parsing the quantities again."""
    spec = pod.get("spec") or {}
    signature: object = None
    found = None
    try:
        signature = _signature(spec)
        found = _BY_SIGNATURE.get(signature)
    except (TypeError, AttributeError):  # a malformed spec: computed without the cache
        signature = None
    if found is not None:
        return found
    requests = pod_requests(pod)
    scalars = tuple(
        sorted((k, v) for k, v in requests.items() if k not in _CORE_RESOURCES and v > 0)
    )
    res = intern_resources(
        Resources(
            cpu=requests.get("cpu", 0),
            memory=requests.get("memory", 0),
            ephemeral=requests.get("ephemeral-storage", 0),
            scalars=scalars,
            nonzero_cpu=_nonzero(spec, "cpu", DEFAULT_MILLI_CPU_REQUEST),
            nonzero_memory=_nonzero(spec, "memory", DEFAULT_MEMORY_REQUEST),
        )
    )
    if signature is not None:
        if len(_BY_SIGNATURE) > 50_000:
            _BY_SIGNATURE.clear()
        _BY_SIGNATURE[signature] = res
    return res


_BY_SIGNATURE: dict[object, Resources] = {}


def _signature(spec: Mapping[str, Any]) -> object:
    """Everything requests are computed from, as written (hashable when the values are)."""

    def requests(containers: Any) -> tuple[object, ...]:
        return tuple(
            tuple(((c.get("resources") or {}).get("requests") or {}).items())
            for c in containers or ()
        )

    return (
        requests(spec.get("containers")),
        requests(spec.get("initContainers")),
        tuple((spec.get("overhead") or {}).items()),
    )


# --- priority -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriorityClassInfo:
    name: str
    value: int
    global_default: bool = False
    preemption_policy: str = PREEMPT_LOWER_PRIORITY

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> PriorityClassInfo:
        return cls(
            name=str((obj.get("metadata") or {}).get("name") or ""),
            value=int(obj.get("value") or 0),
            global_default=obj.get("globalDefault") is True,
            preemption_policy=str(obj.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY),
        )


SYSTEM_PRIORITY_CLASSES = {
    "system-cluster-critical": PriorityClassInfo("system-cluster-critical", 2_000_000_000),
    "system-node-critical": PriorityClassInfo("system-node-critical", 2_000_001_000),
}

PriorityClasses = Callable[[str | None], PriorityClassInfo | None]
"""Looks up a class by name; ``None`` asks for the ``globalDefault`` class."""


def _priority(spec: Mapping[str, Any], classes: PriorityClasses) -> tuple[int, str]:
    name = spec.get("priorityClassName")
    found = classes(str(name)) if name else classes(None)
    if found is None and name:
        found = SYSTEM_PRIORITY_CLASSES.get(str(name))
    priority = spec.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        priority = found.value if found is not None else 0
    policy = spec.get("preemptionPolicy") or (
        found.preemption_policy if found is not None else PREEMPT_LOWER_PRIORITY
    )
    return priority, str(policy)


def _no_classes(name: str | None) -> PriorityClassInfo | None:
    return SYSTEM_PRIORITY_CLASSES.get(name) if name else None


# --- node selectors -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Expr:
    key: str
    operator: str
    values: frozenset[str]
    number: int | None = None

    def matches(self, value: str | None) -> bool:
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        if op == "DoesNotExist":
            return value is None
        if value is None or self.number is None:
            return False
        have = parse_int64(value)
        if have is None:
            return False
        return have > self.number if op == "Gt" else have < self.number


def _expr(item: Mapping[str, Any]) -> _Expr:
    op = str(item.get("operator") or "")
    values = [str(v) for v in item.get("values") or ()]
    if op not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
        raise ValueError(f"unsupported node selector operator {op!r}")
    number = parse_int64(values[0]) if op in ("Gt", "Lt") and len(values) == 1 else None
    return _Expr(str(item.get("key") or ""), op, frozenset(values), number)


@dataclass(frozen=True, slots=True)
class _Term:
    """One nodeSelectorTerm: its expressions AND-ed; an empty term matches nothing."""

    labels: tuple[_Expr, ...]
    fields: tuple[_Expr, ...]

    @classmethod
    def from_dict(cls, term: Mapping[str, Any]) -> _Term:
        labels = tuple(_expr(e) for e in term.get("matchExpressions") or ())
        fields = tuple(
            _expr(e) for e in term.get("matchFields") or () if e.get("key") == "metadata.name"
        )
        has_fields = bool(term.get("matchFields"))
        if has_fields and not fields:
            # A matchFields key other than metadata.name is invalid: the term matches nothing.
            return cls((), ())
        return cls(labels, fields)

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if not self.labels and not self.fields:
            return False
        return all(e.matches(labels.get(e.key)) for e in self.labels) and all(
            e.matches(name) for e in self.fields
        )


class NodeSelector:
    """The pod's required node placement: ``nodeSelector`` AND (any required term)."""

    __slots__ = ("_labels", "_terms")

    def __init__(self, node_selector: Mapping[str, str], terms: tuple[_Term, ...] | None) -> None:
        self._labels = tuple(node_selector.items())
        self._terms = terms

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> NodeSelector | None:
        """The pod's selector, or ``None`` when it places no constraint."""
        selector = spec.get("nodeSelector") or {}
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        terms: tuple[_Term, ...] | None = None
        if required is not None:
            terms = tuple(_term_or_nothing(t) for t in required.get("nodeSelectorTerms") or ())
        if not selector and terms is None:
            return None
        return cls(selector, terms)

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        for key, value in self._labels:
            if labels.get(key) != value:
                return False
        if self._terms is None:
            return True
        return any(t.matches(labels, name) for t in self._terms)


def _term_or_nothing(term: Any) -> _Term:
    try:
        return _Term.from_dict(term or {})
    except (ValueError, AttributeError, TypeError):
        return _Term((), ())


def _preferred_node_terms(spec: Mapping[str, Any]) -> tuple[tuple[int, _Term], ...]:
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    out = []
    for item in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ():
        weight = int(item.get("weight") or 0)
        if weight:
            out.append((weight, _term_or_nothing(item.get("preference"))))
    return tuple(out)


# --- pod affinity -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A PodAffinityTerm resolved against the pod that carries it."""

    selector: LabelSelector
    topology_key: str
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None = None

    def matches(self, pod: PodInfo, namespace_labels: Callable[[str], Mapping[str, str]]) -> bool:
        """Kubernetes' AffinityTerm.Matches: namespace first, then the label selector."""
        return self.covers_namespace(pod, namespace_labels) and self.selector.matches(pod.labels)

    def covers_namespace(
        self, pod: PodInfo, namespace_labels: Callable[[str], Mapping[str, str]]
    ) -> bool:
        return pod.namespace in self.namespaces or (
            self.namespace_selector is not None
            and self.namespace_selector.matches(namespace_labels(pod.namespace))
        )


def _with_label_keys(
    selector: LabelSelector, labels: Mapping[str, str], match: Any, mismatch: Any = ()
) -> LabelSelector:
    extra = [
        LabelRequirement(str(k), SelectorOperator.IN, (labels[k],))
        for k in match or ()
        if k in labels
    ]
    extra += [
        LabelRequirement(str(k), SelectorOperator.NOT_IN, (labels[k],))
        for k in mismatch or ()
        if k in labels
    ]
    if not extra or selector.match_nothing:
        return selector
    return LabelSelector((*selector.requirements, *extra))


def _affinity_term(
    term: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
) -> AffinityTerm:
    selector = _selector(term.get("labelSelector"))
    selector = _with_label_keys(
        selector, labels, term.get("matchLabelKeys"), term.get("mismatchLabelKeys")
    )
    namespaces = frozenset(str(n) for n in term.get("namespaces") or ())
    ns_selector_raw = term.get("namespaceSelector")
    ns_selector = None if ns_selector_raw is None else _selector(ns_selector_raw)
    if not namespaces and ns_selector is None:
        namespaces = frozenset((namespace,))
    parsed = AffinityTerm(selector, str(term.get("topologyKey") or ""), namespaces, ns_selector)
    found = _TERMS.get(parsed)
    if found is None:
        if len(_TERMS) > 50_000:
            _TERMS.clear()
        found = _TERMS[parsed] = parsed
    return found


_TERMS: dict[AffinityTerm, AffinityTerm] = {}
"""Equal terms of different pods (a Deployment's replicas) share one object."""


def _selector(raw: Any) -> LabelSelector:
    try:
        return LabelSelector.from_dict(raw)
    except ShipyardError:
        return LabelSelector.nothing()


def _affinity_terms(
    section: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
) -> tuple[tuple[AffinityTerm, ...], tuple[tuple[int, AffinityTerm], ...]]:
    required = tuple(
        _affinity_term(t, namespace, labels)
        for t in section.get("requiredDuringSchedulingIgnoredDuringExecution") or ()
    )
    preferred = tuple(
        (
            int(w.get("weight") or 0),
            _affinity_term(w.get("podAffinityTerm") or {}, namespace, labels),
        )
        for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        if int(w.get("weight") or 0)
    )
    return required, preferred


# --- topology spread ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool
    selector: LabelSelector
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_node_taints: bool = False


def _spread_constraints(
    spec: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[SpreadConstraint, ...]:
    out = []
    for c in spec.get("topologySpreadConstraints") or ():
        selector = _with_label_keys(
            _selector(c.get("labelSelector")), labels, c.get("matchLabelKeys")
        )
        out.append(
            SpreadConstraint(
                max_skew=int(c.get("maxSkew") or 1),
                topology_key=str(c.get("topologyKey") or ""),
                hard=c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                selector=selector,
                min_domains=int(c.get("minDomains") or 1),
                honor_node_affinity=c.get("nodeAffinityPolicy", "Honor") != "Ignore",
                honor_node_taints=c.get("nodeTaintsPolicy", "Ignore") == "Honor",
            )
        )
    return tuple(out)


# --- host ports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str
    protocol: str
    port: int


def _host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    containers = list(spec.get("containers") or ())
    # Sidecars (restartable init containers) keep their ports for the pod's lifetime.
    containers += [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    ports = []
    for container in containers:
        for port in container.get("ports") or ():
            number = port.get("hostPort")
            if isinstance(number, int) and number > 0:
                ports.append(
                    HostPort(
                        str(port.get("hostIP") or "0.0.0.0"),
                        str(port.get("protocol") or "TCP"),
                        number,
                    )
                )
    return tuple(ports)


# --- tolerations --------------------------------------------------------------------------


def _tolerations(spec: Mapping[str, Any]) -> tuple[Toleration, ...]:
    out = []
    for t in spec.get("tolerations") or ():
        if isinstance(t, Mapping):
            out.append(
                Toleration(
                    str(t.get("key") or ""),
                    str(t.get("operator") or EQUAL),
                    str(t.get("value") or ""),
                    str(t.get("effect") or ""),
                    t.get("tolerationSeconds"),
                )
            )
    return tuple(out)


@lru_cache(maxsize=8192)
def _timestamp(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError:
        return 0.0


# --- the pod ------------------------------------------------------------------------------


class PodInfo:
    """One pod version, parsed for scheduling. ``obj`` is the (read-only, shared) manifest."""

    # No __slots__: a pod's status updates reach the scheduler as new versions, each a clone
    # of the parse (``with_object``), and copying an instance dict is one C call where
    # copying thirty slots is thirty (about six times slower).

    def __init__(self, pod: Obj, classes: PriorityClasses = _no_classes) -> None:
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.obj = pod
        self.spec = spec
        self.namespace = str(md.get("namespace") or "default")
        self.name = str(md.get("name") or "")
        self.key: PodKey = (self.namespace, self.name)
        self.uid = str(md.get("uid") or "")
        self.labels: Mapping[str, str] = md.get("labels") or {}
        self.created = _timestamp(str(md.get("creationTimestamp") or ""))
        self.node_name = str(spec.get("nodeName") or "")
        self.scheduler_name = str(spec.get("schedulerName") or DEFAULT_SCHEDULER)
        self.terminating = is_terminating(pod)
        self.terminal = is_terminal(pod)
        self.gated = bool(spec.get("schedulingGates"))
        self.nominated_node = str((pod.get("status") or {}).get("nominatedNodeName") or "")
        self.priority, self.preemption_policy = _priority(spec, classes)
        self.resources = resources_of(pod)
        self.ports = _host_ports(spec)
        self.tolerations = _tolerations(spec)
        self.tolerates_unschedulable = any(
            tolerates(t, UNSCHEDULABLE_TAINT) for t in self.tolerations
        )
        self.node_selector = NodeSelector.of(spec)
        self.preferred_node_terms = _preferred_node_terms(spec)
        affinity = spec.get("affinity") or {}
        self.required_affinity, self.preferred_affinity = _affinity_terms(
            affinity.get("podAffinity") or {}, self.namespace, self.labels
        )
        self.required_anti_affinity, self.preferred_anti_affinity = _affinity_terms(
            affinity.get("podAntiAffinity") or {}, self.namespace, self.labels
        )
        # Terms that score *other* pods (InterPodAffinity's score): required affinity (with
        # hardPodAffinityWeight) and the preferred terms; required anti-affinity only filters.
        self.scores_others = bool(
            self.required_affinity or self.preferred_affinity or self.preferred_anti_affinity
        )
        self.spread = _spread_constraints(spec, self.labels)
        self._equivalence: tuple[object, object, Hashable | None] | None = None

    def equivalence_key(self) -> Hashable | None:
        """What every scheduling plugin reads of this pod, as one hashable value: equal keys,
        equal verdicts on the same snapshot (see :mod:`.equivalence`). It is the namespace,
        the labels, the whole spec (by value, in JSON: ``true``, ``1`` and ``1.0`` differ) and
        the resolved priority and preemption policy; None when the spec is not plain JSON.
        Computed once per spec and labels object."""
        cached = self._equivalence
        if cached is not None and cached[0] is self.spec and cached[1] is self.labels:
            return cached[2]
        key = _equivalence_key(self)
        self._equivalence = (self.spec, self.labels, key)
        return key

    def with_object(self, pod: Obj, classes: PriorityClasses = _no_classes) -> PodInfo:
        """This info for another version of the pod. The parse is reused when it is the same
        version, or the spec is the same object (the store shares unchanged parts between
        versions) or differs only in ``nodeName`` (a binding), and the labels are equal."""
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        labels = md.get("labels") or {}
        version = md.get("resourceVersion")
        if not version or version != (self.obj.get("metadata") or {}).get("resourceVersion"):
            same_spec = spec is self.spec or _same_but_node_name(spec, self.spec)
            if not same_spec or (labels is not self.labels and labels != self.labels):
                return PodInfo(pod, classes)
        clone = self._clone(pod)
        clone.terminating = is_terminating(pod)
        clone.terminal = is_terminal(pod)
        clone.nominated_node = str((pod.get("status") or {}).get("nominatedNodeName") or "")
        return clone

    def assumed_on(self, node: str) -> PodInfo:
        """This pod as if bound to ``node`` (the scheduler's assumption until the write)."""
        return self._clone({**self.obj, "spec": {**self.spec, "nodeName": node}})

    def _clone(self, pod: Obj) -> PodInfo:
        clone = object.__new__(PodInfo)
        clone.__dict__.update(self.__dict__)
        clone.set_object(pod)
        return clone

    def set_object(self, pod: Obj) -> None:
        """Point at another version with the same spec and labels (e.g. the stored one)."""
        self.obj = pod
        self.spec = pod.get("spec") or {}
        self.labels = (pod.get("metadata") or {}).get("labels") or {}
        self.node_name = str(self.spec.get("nodeName") or "")

    def start_time(self) -> float:
        """When the pod started (status.startTime), else when it was created."""
        started = (self.obj.get("status") or {}).get("startTime")
        return _timestamp(str(started)) if started else self.created

    def __repr__(self) -> str:
        return f"PodInfo({self.namespace}/{self.name}, node={self.node_name or '-'})"


_KEYS: dict[Hashable, Hashable] = {}
"""Equal keys share one object: pods of a template hold one key, compared by identity."""


def _equivalence_key(pod: PodInfo) -> Hashable | None:
    try:
        labels = json.dumps(pod.labels, separators=(",", ":"), check_circular=False)
        spec = json.dumps(pod.spec, separators=(",", ":"), check_circular=False)
    except (TypeError, ValueError):
        return None
    key = (pod.namespace, pod.priority, pod.preemption_policy, labels, spec)
    if len(_KEYS) >= 4096:
        _KEYS.clear()
    return _KEYS.setdefault(key, key)


def _same_but_node_name(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    if len(new) - ("nodeName" in new) != len(old) - ("nodeName" in old):
        return False
    return all(k == "nodeName" or old.get(k, _MISSING) == v for k, v in new.items())


_MISSING = object()
