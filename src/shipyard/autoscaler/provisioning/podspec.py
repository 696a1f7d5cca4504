"""A pending pod as the provisioning scheduler sees it, and Karpenter's preference relaxation.

:class:`PodState` parses a pod once (through the embedded scheduler's
:class:`~shipyard.cluster.scheduler.podinfo.PodInfo`, so affinity terms, spread constraints
with ``matchLabelKeys`` and tolerations are read exactly as kube-scheduler reads them) and
keeps what relaxation may change:

- **node requirements** — the ``nodeSelector`` AND the *first* required node-affinity term
  still in play (terms are OR-ed; Karpenter tries them in order) AND, while any remain, the
  *heaviest* preferred node-affinity term, which Karpenter treats as required;
- **pod (anti-)affinity** — required terms always, preferred terms until relaxed;
- **topology spread** — ``DoNotSchedule`` always, ``ScheduleAnyway`` until relaxed;
- **tolerations** — plus ``Exists:PreferNoSchedule`` once that relaxation ran.

:meth:`PodState.relax` performs one relaxation step in Karpenter's order and says what it
removed: drop the first required node-affinity term (when more than one is left), then a
preferred pod-affinity term, then a preferred pod-anti-affinity term, then the heaviest
preferred node-affinity term (the next heaviest becomes the requirement), then one
``ScheduleAnyway`` spread, then tolerate ``PreferNoSchedule`` taints (only when some pool has
one). Deliberate difference: among preferred pod-(anti-)affinity terms, which Karpenter all
enforces at once, the *lightest* is dropped first so the heaviest is kept longest (Karpenter
drops the heaviest first).

Requests are the pod's requests as the scheduler charges them plus ``pods: 1``, as Karpenter
counts a pod slot against the instance type's max pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.podutil import pod_requests
from shipyard.cluster.scheduler.podinfo import (
    AffinityTerm,
    HostPort,
    PodInfo,
    Resources,
    SpreadConstraint,
    resources_of,
)
from shipyard.core.errors import ShipyardError
from shipyard.core.labels import HOSTNAME
from shipyard.core.objects import IdentityCache
from shipyard.core.requirements import (
    Requirement,
    Requirements,
    pod_requirement_terms,
    preferred_terms,
)
from shipyard.core.taints import EXISTS, PREFER_NO_SCHEDULE, Toleration

from .topology import Group

__all__ = ["PREFER_NO_SCHEDULE_TOLERATION", "PodState", "host_ports"]

PREFER_NO_SCHEDULE_TOLERATION = Toleration("", EXISTS, "", PREFER_NO_SCHEDULE)
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class _Parsed:
    """What a pod's scheduling constraints parse to; shared by pods written alike."""

    tolerations: tuple[Toleration, ...]
    spreads: tuple[SpreadConstraint, ...]
    affinity: tuple[AffinityTerm, ...]
    anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[AffinityTerm, ...]
    preferred_anti_affinity: tuple[AffinityTerm, ...]
    terms: tuple[Requirements, ...]
    preferred_node: tuple[Requirements, ...]
    error: str | None


_PARSED: dict[object, _Parsed] = {}
_REQUESTS: dict[Resources, dict[str, int]] = {}
_DERIVED: dict[
    tuple[Requirements, Requirements | None], tuple[Requirements, Requirement | None]
] = {}


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


# The parse of the very objects last seen (a stored pod's parts are never changed in place,
# and a disruption simulation's pending copy shares them): no freezing on a repeat.
_BY_PARTS: dict[tuple[object, ...], tuple[tuple[object, ...], _Parsed]] = {}


def _parse(pod: dict[str, Any], namespace: str, labels: Mapping[str, str]) -> _Parsed:
    """Parse through :class:`PodInfo` once per distinct (namespace, labels, constraints)."""
    spec = pod.get("spec") or {}
    parts = (
        labels,
        spec.get("affinity"),
        spec.get("topologySpreadConstraints"),
        spec.get("tolerations"),
        spec.get("nodeSelector"),
    )
    ids = (namespace, *map(id, parts))
    seen = _BY_PARTS.get(ids)
    if seen is not None and all(a is b for a, b in zip(seen[0], parts, strict=True)):
        return seen[1]
    found = _parse_frozen(pod, namespace, labels, spec)
    if len(_BY_PARTS) > _CACHE_LIMIT:
        _BY_PARTS.clear()
    _BY_PARTS[ids] = (parts, found)  # the parts are held: their ids stay theirs
    return found


def _parse_frozen(
    pod: dict[str, Any], namespace: str, labels: Mapping[str, str], spec: Mapping[str, Any]
) -> _Parsed:
    key = (
        namespace,
        _freeze(labels),
        _freeze(spec.get("affinity")),
        _freeze(spec.get("topologySpreadConstraints")),
        _freeze(spec.get("tolerations")),
        _freeze(spec.get("nodeSelector")),
    )
    found = _PARSED.get(key)
    if found is not None:
        return found
    info = PodInfo(pod)
    error = None
    terms: list[Requirements] = []
    preferred: list[Requirements] = []
    try:
        terms = pod_requirement_terms(pod)
        preferred = [reqs for _, reqs in preferred_terms(pod)]
    except ShipyardError as e:
        error = str(e)
    if not terms and error is None:
        error = "no node selector term of the pod's required node affinity can match"
    found = _Parsed(
        tolerations=info.tolerations,
        spreads=info.spread,
        affinity=info.required_affinity,
        anti_affinity=info.required_anti_affinity,
        preferred_affinity=tuple(_heaviest_first(info.preferred_affinity)),
        preferred_anti_affinity=tuple(_heaviest_first(info.preferred_anti_affinity)),
        terms=tuple(terms),
        preferred_node=tuple(preferred),
        error=error,
    )
    if len(_PARSED) > _CACHE_LIMIT:
        _PARSED.clear()
    _PARSED[key] = found
    return found


_REQUESTS_BY_PARTS: dict[tuple[int, ...], tuple[tuple[object, ...], dict[str, int]]] = {}


def _requests(pod: dict[str, Any]) -> dict[str, int]:
    """The requests the solver charges (no zeros, ``pods`` counted); by the identity of the
    parts they are computed from first, then by their content."""
    spec = pod.get("spec") or {}
    parts = (spec.get("containers"), spec.get("initContainers"), spec.get("overhead"))
    ids = tuple(map(id, parts))
    seen = _REQUESTS_BY_PARTS.get(ids)
    if seen is not None and all(a is b for a, b in zip(seen[0], parts, strict=True)):
        return seen[1]
    found = _requests_by_content(pod)
    if len(_REQUESTS_BY_PARTS) > _CACHE_LIMIT:
        _REQUESTS_BY_PARTS.clear()
    _REQUESTS_BY_PARTS[ids] = (parts, found)
    return found


def _requests_by_content(pod: dict[str, Any]) -> dict[str, int]:
    resources = resources_of(pod)
    found = _REQUESTS.get(resources)
    if found is None:
        found = {k: v for k, v in pod_requests(pod).items() if v > 0}
        found["pods"] = found.get("pods", 0) + 1
        if len(_REQUESTS) > _CACHE_LIMIT:
            _REQUESTS.clear()
        _REQUESTS[resources] = found
    return found


def host_ports(pod: Mapping[str, Any]) -> tuple[HostPort, ...]:
    """Host ports the pod binds (containers and restartable init containers)."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    containers += [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    out = []
    for container in containers:
        for port in container.get("ports") or ():
            number = port.get("hostPort")
            if isinstance(number, int) and number > 0:
                ip, protocol = (
                    str(port.get("hostIP") or "0.0.0.0"),
                    str(port.get("protocol") or "TCP"),
                )
                out.append(HostPort(ip, protocol, number))
    return tuple(out)


class PodState:
    """One pending pod: parsed constraints, current relaxation, and its topology view.

    ``error`` is set when the pod's node affinity cannot be parsed; such a pod is never placed.
    The topology fields (``owned``, ``counted_by``, ...) are filled in by the scheduler.
    """

    __slots__ = (
        "_domains",
        "affinity",
        "anti_affinity",
        "counted_by",
        "cpu",
        "error",
        "host_req",
        "index",
        "inverse_match",
        "inverse_owned",
        "key",
        "labels",
        "memory",
        "namespace",
        "node_filter",
        "obj",
        "owned",
        "ports",
        "preferred_affinity",
        "preferred_anti_affinity",
        "preferred_node",
        "req_id",
        "requests",
        "requirements",
        "rules",
        "shape",
        "signature",
        "spreads",
        "strict",
        "strict_id",
        "terms",
        "tolerations",
    )

    def __init__(self, pod: dict[str, Any], index: int) -> None:
        md = pod.get("metadata") or {}
        self.obj = pod
        self.index = index
        self.namespace = str(md.get("namespace") or "default")
        self.key = f"{self.namespace}/{md.get('name') or ''}"
        self.labels: Mapping[str, str] = md.get("labels") or {}
        self.requests = _requests(pod)
        self.cpu = self.requests.get("cpu", 0)
        self.memory = self.requests.get("memory", 0)
        self.shape = tuple(sorted(self.requests.items()))
        self.ports = host_ports(pod)
        parsed = _parse(pod, self.namespace, self.labels)
        self.tolerations: tuple[Toleration, ...] = parsed.tolerations
        self.spreads: list[SpreadConstraint] = list(parsed.spreads)
        self.affinity = parsed.affinity
        self.anti_affinity = parsed.anti_affinity
        # Heaviest first: relaxation pops the lightest from the end.
        self.preferred_affinity = list(parsed.preferred_affinity)
        self.preferred_anti_affinity = list(parsed.preferred_anti_affinity)
        self.terms = list(parsed.terms)
        self.preferred_node = list(parsed.preferred_node)
        self.error = parsed.error
        self.node_filter: tuple[Requirements, ...] = parsed.terms
        # Set by the scheduler: interned requirement ids and the topology view.
        self.req_id = self.strict_id = -1
        self.signature: tuple[object, ...] = ()
        self.owned: list[tuple[Group, bool]] = []  # (group, self-selecting)
        self.inverse_match: list[Group] = []
        self.counted_by: list[Group] = []
        self.inverse_owned: list[Group] = []
        self.rules: list[tuple[Group, bool, bool]] = []  # (group, self-selecting, pin)
        self.requirements = Requirements()
        self.strict = Requirements()
        self.host_req: Requirement | None = None
        self._domains: dict[str, Requirement] = {}
        self._derive()

    @classmethod
    def of(cls, pod: dict[str, Any], index: int) -> PodState:
        """``PodState(pod, index)``, copied from the state of the same pod object parsed
        before when none of the parts it is read from was replaced (pods are never changed in
        place: the same stored or pending pod comes back batch after batch, what-if after
        what-if)."""
        return cls.prototype(pod)._copy(index)

    @classmethod
    def prototype(cls, pod: dict[str, Any]) -> PodState:
        """The parsed state of ``pod`` that :meth:`of` copies: shared, to read only (a
        solve may check a batch with it before deciding to plan the pods one by one)."""
        parts = _state_parts(pod)
        found = _PROTOTYPES.get(pod)
        if found is None or not all(a is b for a, b in zip(found[0], parts, strict=True)):
            found = _PROTOTYPES.put(pod, (parts, cls(pod, 0)))
        return found[1]

    def is_plain(self) -> bool:
        """Nothing but requests, tolerations and at most one required node-affinity term: no
        parse error, host ports, host name, pod (anti-)affinity, spread or preference. Such a
        pod's placement on existing capacity depends on the node alone, and nothing about it
        can be relaxed."""
        return (
            self.error is None
            and not self.ports
            and self.host_req is None
            and not self.spreads
            and not self.affinity
            and not self.anti_affinity
            and not self.preferred_affinity
            and not self.preferred_anti_affinity
            and len(self.terms) <= 1
            and not self.preferred_node
        )

    def _copy(self, index: int) -> PodState:
        """A fresh copy (as constructed: nothing relaxed, no topology view yet)."""
        copy = PodState.__new__(PodState)
        copy.obj, copy.index, copy.namespace, copy.key = self.obj, index, self.namespace, self.key
        copy.labels, copy.requests, copy.cpu = self.labels, self.requests, self.cpu
        copy.memory, copy.shape, copy.ports = self.memory, self.shape, self.ports
        copy.tolerations, copy.affinity = self.tolerations, self.affinity
        copy.anti_affinity, copy.error = self.anti_affinity, self.error
        copy.node_filter, copy.req_id, copy.strict_id = self.node_filter, -1, -1
        copy.signature, copy.requirements = self.signature, self.requirements
        copy.strict, copy.host_req = self.strict, self.host_req
        copy.spreads = list(self.spreads)
        copy.preferred_affinity = list(self.preferred_affinity)
        copy.preferred_anti_affinity = list(self.preferred_anti_affinity)
        copy.terms = list(self.terms)
        copy.preferred_node = list(self.preferred_node)
        copy.owned, copy.inverse_match, copy.counted_by = [], [], []
        copy.inverse_owned, copy.rules = [], []
        copy._domains = {}
        return copy

    def _derive(self) -> None:
        strict = self.terms[0] if self.terms else Requirements()
        preferred = self.preferred_node[0] if self.preferred_node else None
        found = _DERIVED.get((strict, preferred))
        if found is None:
            full = strict if preferred is None else strict.intersection(preferred)
            host = full.get(HOSTNAME) if HOSTNAME in full else None
            found = (Requirements(r for r in full.values() if r.key != HOSTNAME), host)
            if len(_DERIVED) > _CACHE_LIMIT:
                _DERIVED.clear()
            _DERIVED[(strict, preferred)] = found
        self.strict = strict
        self.requirements, self.host_req = found
        self._domains = {}

    def domains(self, key: str) -> Requirement:
        """The domains of ``key`` the pod's required node affinity allows (topology)."""
        found = self._domains.get(key)
        if found is None:
            found = self._domains[key] = self.strict.get(key)
        return found

    def active_affinity(self) -> list[AffinityTerm]:
        return [*self.affinity, *self.preferred_affinity]

    def active_anti_affinity(self) -> list[AffinityTerm]:
        return [*self.anti_affinity, *self.preferred_anti_affinity]

    def relax(self, prefer_no_schedule: bool) -> str | None:
        """Drop one preference in Karpenter's order; what was removed, or ``None``."""
        if len(self.terms) > 1:
            self.terms.pop(0)
            self._derive()
            return "removing: spec.affinity.nodeAffinity.requiredDuringScheduling[0]"
        if self.preferred_affinity:
            self.preferred_affinity.pop()
            return "removing: a preferred pod affinity term"
        if self.preferred_anti_affinity:
            self.preferred_anti_affinity.pop()
            return "removing: a preferred pod anti-affinity term"
        if self.preferred_node:
            self.preferred_node.pop(0)
            self._derive()
            return "removing: the heaviest preferred node affinity term"
        for i, spread in enumerate(self.spreads):
            if not spread.hard:
                self.spreads.pop(i)
                return f"removing: topology spread on {spread.topology_key} (ScheduleAnyway)"
        if prefer_no_schedule and PREFER_NO_SCHEDULE_TOLERATION not in self.tolerations:
            self.tolerations = (*self.tolerations, PREFER_NO_SCHEDULE_TOLERATION)
            return "adding: toleration for PreferNoSchedule taints"
        return None

    def is_free(self) -> bool:
        """No topology rule involves this pod: it may move between claims freely."""
        return not (self.owned or self.counted_by or self.inverse_match or self.inverse_owned)

    def __repr__(self) -> str:
        return f"PodState({self.key})"


# Per pod object: the parts its state was read from, and that state (see ``PodState.of``).
_PROTOTYPES: IdentityCache[tuple[tuple[object, ...], PodState]] = IdentityCache(50_000)


def _state_parts(pod: dict[str, Any]) -> tuple[object, ...]:
    md = pod.get("metadata")
    spec = pod.get("spec")
    m: Mapping[str, Any] = md if isinstance(md, dict) else {}
    sp: Mapping[str, Any] = spec if isinstance(spec, dict) else {}
    return (
        md,
        m.get("namespace"),
        m.get("name"),
        m.get("labels"),
        spec,
        sp.get("affinity"),
        sp.get("topologySpreadConstraints"),
        sp.get("tolerations"),
        sp.get("nodeSelector"),
        sp.get("containers"),
        sp.get("initContainers"),
        sp.get("overhead"),
    )


def _heaviest_first(terms: tuple[tuple[int, AffinityTerm], ...]) -> list[AffinityTerm]:
    ordered = sorted(enumerate(terms), key=lambda pair: (-pair[1][0], pair[0]))
    return [term for _, (_, term) in ordered]
