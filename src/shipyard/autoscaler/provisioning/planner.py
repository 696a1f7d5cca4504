"""Where one pod may go: existing capacity, a planned claim, or a new claim of a pool.

The checks follow Karpenter's ``NodeClaim.Add`` and ``ExistingNode.Add``: taints (every
effect, Karpenter's ``Taints.Tolerates``), host ports, node requirements (a claim allows
undefined well-known labels, an existing node only its labels), topology (which may pin the
claim's domain), then, for a claim, the instance types that still satisfy the narrowed
requirements, have a compatible available offering and hold the summed requests plus the
DaemonSet overhead, and ``minValues``; a claim with a size cap (see :mod:`.scheduler`) also
needs one of its capped types to remain. A success commits: the claim keeps the narrowed
requirements and the surviving types (late binding) and the placement is recorded in every
topology group that counts the pod.

Speed comes from three things: a claim's requirements are interned (:class:`States`), so
merging a pod's requirements into a claim is a memo lookup for every pod of the same shape;
instance types are bitmasks (:mod:`.catalog`); and each failure is classified. A claim only
narrows and fills, so a ``PERMANENT`` failure (taints, ports, requirements, resources) holds
for every later pod with the same requirements, requests, tolerations and ports, and a
``TOPOLOGY_PERMANENT`` one (a hostname anti-affinity or spread already full) for those that
also share the topology rules; ``TEMPORARY`` ones (zonal topology) may change with later
placements. The scheduler drops permanently failed claims from those pods' candidates.

:meth:`Planner.explain` rebuilds the reason a new claim refused a pod, in Karpenter's words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import count
from typing import Any

from shipyard.cloud.provider import fits
from shipyard.cluster.scheduler.podinfo import HostPort
from shipyard.core.labels import HOSTNAME
from shipyard.core.objects import IdentityCache
from shipyard.core.quantity import BINARY_SI, DECIMAL_SI, Quantity
from shipyard.core.requirements import Requirement, Requirements
from shipyard.core.taints import Taint, Toleration, did_not_tolerate

from .catalog import cached_catalog
from .model import ExistingNode, PoolTemplate
from .podspec import PodState, host_ports
from .topology import AFFINITY, ANTI_AFFINITY, SPREAD, Group, Topology

__all__ = [
    "OK",
    "PERMANENT",
    "TEMPORARY",
    "TOPOLOGY_PERMANENT",
    "Claim",
    "Node",
    "Planner",
    "Pool",
    "States",
]

# PERMANENT: for every pod with the same requirements, requests, tolerations and ports;
# TOPOLOGY_PERMANENT: for pods with the same topology rules too.
OK, TEMPORARY, PERMANENT, TOPOLOGY_PERMANENT = 0, 1, 2, 3


def format_resources(resources: Mapping[str, int]) -> str:
    """Karpenter's ``resources.String``: ``{"cpu":"600m","memory":"612Mi","pods":"2"}``."""
    parts = []
    for name in sorted(resources):
        value = resources[name]
        if name == "cpu":
            text = str(Quantity(value * 10**6, DECIMAL_SI))
        elif name in ("memory", "ephemeral-storage") or name.startswith("hugepages-"):
            text = str(Quantity(value * 10**9, BINARY_SI))
        else:
            text = str(Quantity(value * 10**9, DECIMAL_SI))
        parts.append(f'"{name}":"{text}"')
    return "{" + ",".join(parts) + "}"


def add_requests(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for name, value in b.items():
        out[name] = out.get(name, 0) + value
    return out


class _Interned:
    """A requirement set as a dict key whose hash is computed once per set: the same sets
    (an existing node's labels, a pod's constraints) are interned by every solve."""

    __slots__ = ("_hash", "reqs")

    def __init__(self, reqs: Requirements, hash_: int) -> None:
        self.reqs = reqs
        self._hash = hash_

    @classmethod
    def of(cls, reqs: Requirements) -> _Interned:
        found = _INTERNED.get(reqs)
        return found if found is not None else _INTERNED.put(reqs, cls(reqs, hash(reqs)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Interned) and (self.reqs is other.reqs or self.reqs == other.reqs)


# Per Requirements object (immutable): its key.
_INTERNED: IdentityCache[_Interned] = IdentityCache(50_000)


class States:
    """Interned requirement sets; merges and narrowings memoised by id."""

    def __init__(self) -> None:
        self.reqs: list[Requirements] = []
        self._ids: dict[_Interned, int] = {}
        self._merged: dict[tuple[int, int, bool], int | str] = {}
        self._narrowed: dict[tuple[int, Requirement], int] = {}

    def intern(self, reqs: Requirements) -> int:
        key = _Interned.of(reqs)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.reqs)
            self.reqs.append(reqs)
        return found

    def merge(self, state: int, pod: int, strict: bool) -> int | str:
        """The claim's requirements with the pod's, or why they are incompatible.

        ``strict`` (an existing node) lets no label be undefined, as Karpenter does for nodes.
        """
        key = (state, pod, strict)
        found = self._merged.get(key)
        if found is None:
            have, want = self.reqs[state], self.reqs[pod]
            if strict:
                error = have.compatible(want, allow_undefined=frozenset())
            else:
                error = have.compatible(want)
            found = error if error is not None else self.intern(have.intersection(want))
            self._merged[key] = found
        return found

    def narrow(self, state: int, req: Requirement) -> int:
        key = (state, req)
        found = self._narrowed.get(key)
        if found is None:
            found = self._narrowed[key] = self.intern(self.reqs[state].add(req))
        return found


class Pool:
    """A NodePool as planned: its catalog, DaemonSet overhead and what is left of its limits."""

    __slots__ = (
        "caps",
        "catalog",
        "daemon",
        "masks",
        "min_values",
        "name",
        "remaining",
        "taint_errors",
        "taints",
        "template",
        "template_reqs",
        "template_state",
    )

    def __init__(
        self,
        template: PoolTemplate,
        states: States,
        daemons: Sequence[tuple[Sequence[Requirements], Mapping[str, int]]],
    ) -> None:
        self.template = template
        self.name = template.name
        self.template_reqs = template.template_requirements()
        self.template_state = states.intern(self.template_reqs)
        self.catalog = cached_catalog(template.instance_types, self.template_reqs, daemons)
        # What Karpenter reports as the pool's overhead: every DaemonSet that would run on it.
        self.daemon: dict[str, int] = {}
        for _, requests in daemons:
            self.daemon = add_requests(self.daemon, requests)
        self.remaining = (
            None if template.remaining_limits is None else dict(template.remaining_limits)
        )
        self.taints: tuple[Taint, ...] = tuple(template.taints)
        self.min_values = self.template_reqs.has_min_values()
        self.masks: dict[int, int] = {}
        self.caps: dict[tuple[int, tuple[tuple[str, int], ...]], int] = {}
        self.taint_errors: dict[tuple[Toleration, ...], str | None] = {}

    def fork(self) -> Pool:
        """A copy for one solve: its own remaining limits; the memos (pure, over the same
        interned states) are shared."""
        copy = Pool.__new__(Pool)
        for name in Pool.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.remaining = None if self.remaining is None else dict(self.remaining)
        return copy

    def mask_for(self, state: int, states: States) -> int:
        found = self.masks.get(state)
        if found is None:
            found = self.masks[state] = self.catalog.requirements_mask(states.reqs[state])
        return found

    def efficient_cap(self, pod: PodState, states: States) -> int:
        """Types a new claim for the pod may use: up to the most cost-efficient size for the
        pod's shape among the types its requirements allow (see ``Catalog.efficient_cap``)."""
        key = (pod.req_id, pod.shape)
        found = self.caps.get(key)
        if found is None:
            merged = states.merge(self.template_state, pod.req_id, False)
            mask = self.catalog.full if isinstance(merged, str) else self.mask_for(merged, states)
            found = self.catalog.efficient_cap(mask, pod.requests)
            self.caps[key] = found
        return found

    def taint_error(self, tolerations: tuple[Toleration, ...]) -> str | None:
        if tolerations not in self.taint_errors:
            self.taint_errors[tolerations] = did_not_tolerate(self.taints, tolerations)
        return self.taint_errors[tolerations]


class Claim:
    """A NodeClaim being planned."""

    __slots__ = ("cap", "host", "index", "mask", "pods", "pool", "ports", "requests", "state")

    def __init__(self, pool: Pool, host: str, state: int, mask: int, cap: int) -> None:
        self.pool = pool
        self.host = host
        self.state = state
        self.mask = mask
        # Packing limit: the claim keeps every type that fits (for the launch to fall back
        # on), but takes a pod only while one of these still fits.
        self.cap = cap
        self.requests: dict[str, int] = {}  # the pods'; each type adds its own DaemonSets
        self.pods: list[PodState] = []
        self.ports: list[HostPort] = []
        self.index = -1


class Node:
    """Existing capacity: a registered node or an in-flight claim."""

    __slots__ = (
        "available",
        "host",
        "labels",
        "node",
        "pods",
        "ports",
        "requests",
        "state",
        "taints",
    )

    def __init__(self, node: ExistingNode, state: int, daemon: Mapping[str, int]) -> None:
        self.node = node
        self.labels = dict(node.labels)
        self.host = node.labels.get(HOSTNAME) or node.name
        self.state = state
        self.taints = tuple(node.scheduling_taints())
        self.available = dict(node.allocatable)
        for name, value in node.requested.items():
            self.available[name] = self.available.get(name, 0) - value
        self.requests: dict[str, int] = dict(daemon)
        self.pods: list[PodState] = []
        self.ports: list[HostPort] = list(node_facts(node).ports)

    def fork(self) -> Node:
        """A copy for one solve, empty of planned pods (what never changes is shared)."""
        copy = Node.__new__(Node)
        copy.node, copy.labels, copy.host = self.node, self.labels, self.host
        copy.state, copy.taints, copy.available = self.state, self.taints, self.available
        copy.requests = dict(self.requests)
        copy.pods = list(self.pods)
        copy.ports = list(self.ports)
        return copy


class NodeFacts:
    """What an ExistingNode's pods imply and a solve only reads: their host ports and the pods
    with required anti-affinity. Kept per ExistingNode (immutable; a disruption pass hands the
    same ones to every simulation)."""

    __slots__ = ("anti_affinity", "ports")

    def __init__(self, node: ExistingNode) -> None:
        facts = [_pod_facts(pod) for pod in node.pods]
        self.ports = tuple(p for ports, _ in facts for p in ports)
        pairs = zip(node.pods, facts, strict=True)
        self.anti_affinity = tuple(pod for pod, (_, anti) in pairs if anti)


_FACTS: IdentityCache[NodeFacts] = IdentityCache(50_000)


def _pod_facts(pod: Mapping[str, Any]) -> tuple[tuple[HostPort, ...], bool]:
    """A pod's host ports and whether it has required anti-affinity — both read from its
    spec alone, so kept per spec (a stored pod's spec is shared, unchanged, by its versions:
    a node whose pods changed finds the others' facts again)."""
    spec = pod.get("spec")
    if type(spec) is not dict:
        return host_ports(pod), required_anti_affinity(pod)
    found = _POD_FACTS.get(spec)
    if found is None:
        found = _POD_FACTS.put(spec, (host_ports(pod), required_anti_affinity(pod)))
    return found


_POD_FACTS: IdentityCache[tuple[tuple[HostPort, ...], bool]] = IdentityCache(100_000)


def node_facts(node: ExistingNode) -> NodeFacts:
    found = _FACTS.get(node)
    return found if found is not None else _FACTS.put(node, NodeFacts(node))


def required_anti_affinity(pod: Mapping[str, Any]) -> bool:
    anti = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity")
    return bool(anti and anti.get("requiredDuringSchedulingIgnoredDuringExecution"))


def plain_slots(states: States, node: Node, req_id: int, pod: PodState) -> int:
    """How many copies of ``pod`` (a plain pod, :meth:`PodState.is_plain`, its requirements
    interned as ``req_id``) :meth:`Planner.try_node` would place on ``node`` one after
    another: 0 when a check that does not depend on the node's load refuses it (taints,
    requirements), else as many as its requests fit. For such pods those are try_node's
    only checks, and each refusal is permanent."""
    if did_not_tolerate(node.taints, pod.tolerations) is not None:
        return 0
    if not fits(add_requests(node.requests, pod.requests), node.available):
        return 0
    if isinstance(states.merge(node.state, req_id, True), str):
        return 0
    used, available = node.requests, node.available
    return min(
        (available.get(name, 0) - used.get(name, 0)) // value
        for name, value in pod.requests.items()
        if value > 0
    )


def _port_conflict(used: Iterable[HostPort], wanted: Iterable[HostPort]) -> HostPort | None:
    for want in wanted:
        for have in used:
            if (
                have.port == want.port
                and have.protocol == want.protocol
                and (have.ip == want.ip or "0.0.0.0" in (have.ip, want.ip))
            ):
                return want
    return None


class Planner:
    """The mutable plan of one batch: claims, existing capacity and topology."""

    def __init__(self, states: States, topology: Topology) -> None:
        self.states = states
        self.topology = topology
        self.claims: list[Claim] = []
        self._hosts = count(1)
        self._filters: dict[tuple[int, int], bool] = {}
        self._node_taints: dict[tuple[int, tuple[Toleration, ...]], str | None] = {}
        self.probe: tuple[int, int, dict[str, int]] = (-1, 0, {})
        self.cap_claims = True

    # --- planned claims ---------------------------------------------------------------------

    def try_claim(self, claim: Claim, pod: PodState, *, commit: bool = True) -> int:
        """Add the pod to the claim if it fits; else how it failed.

        With ``commit=False`` nothing changes and :attr:`probe` holds the claim's would-be
        (state, types mask, requests).
        """
        code, state, mask, requests = self._claim_static(claim, pod)
        if code != OK:
            return code
        pool = claim.pool
        if pod.rules:
            merged = state
            code, state = self.claim_topology(claim, pod, merged, mask)
            if code != OK:
                return code
            if state != merged:
                mask &= pool.mask_for(state, self.states)
                if not mask & claim.cap:
                    return TEMPORARY
                reqs = self.states.reqs[state]
                if pool.min_values and pool.catalog.min_values_error(reqs, mask):
                    return TEMPORARY
        if not commit:
            self.probe = (state, mask, requests)
            return OK
        claim.state, claim.mask, claim.requests = state, mask, requests
        claim.pods.append(pod)
        if pod.ports:
            claim.ports.extend(pod.ports)
        self.record(pod, state, claim.host, None)
        return OK

    def _claim_static(self, claim: Claim, pod: PodState) -> tuple[int, int, int, dict[str, int]]:
        """Every check that only gets stricter as the claim fills (failures are permanent)."""
        pool = claim.pool
        failed = (PERMANENT, -1, 0, claim.requests)
        if pool.taint_error(pod.tolerations) is not None:
            return failed
        if pod.host_req is not None and not pod.host_req.has(claim.host):
            return failed
        if pod.ports and _port_conflict(claim.ports, pod.ports) is not None:
            return failed
        merged = self.states.merge(claim.state, pod.req_id, False)
        if isinstance(merged, str):
            return failed
        mask = claim.mask & pool.mask_for(merged, self.states)
        if not mask:
            return failed
        mask &= pool.catalog.fit_more(claim.requests, pod.requests)
        if not mask & claim.cap:
            return failed
        if pool.min_values and pool.catalog.min_values_error(self.states.reqs[merged], mask):
            return failed
        return OK, merged, mask, add_requests(claim.requests, pod.requests)

    def claim_topology(self, claim: Claim, pod: PodState, state: int, mask: int) -> tuple[int, int]:
        """Narrow the claim's requirements by the pod's topology rules, or say it cannot."""
        for rule in pod.rules:
            code, state = self.claim_rule(claim, pod, rule, state, mask)
            if code != OK:
                return code, state
        return OK, state

    def claim_rule(
        self, claim: Claim, pod: PodState, rule: tuple[Group, bool, bool], state: int, mask: int
    ) -> tuple[int, int]:
        """One topology rule on a claim: OK with the (maybe narrowed) state, or a failure.

        The claim's domains are those its requirements allow *and* some of its remaining
        instance types are offered in, so a spread never pins a claim where it cannot launch.
        """
        group, self_selecting, pin = rule
        pod_domains = pod.domains(group.key)
        if group.key == HOSTNAME:
            if group.host_allows(self_selecting, pod_domains, claim.host):
                return OK, state
            return (TEMPORARY if group.kind == AFFINITY else TOPOLOGY_PERMANENT), state
        reqs = self.states.reqs[state]
        node_domains = reqs.get(group.key)
        if node_domains.complement or len(node_domains.value_set) > 1:
            offered = claim.pool.catalog.offered(group.key, mask, reqs)
            if offered is not None:
                node_domains = node_domains.intersection(
                    Requirement(group.key, False, frozenset(offered))
                )
        allowed = group.next_domains(self_selecting, pod_domains, node_domains, pin=pin)
        if allowed is None:
            return TEMPORARY, state
        if allowed != reqs.get(group.key):
            state = self.states.narrow(state, allowed)
        return OK, state

    def new_claim(self, pool: Pool, pod: PodState) -> Claim | str:
        """A claim of ``pool`` for the pod, committed; else Karpenter's error for the pool."""
        limits = pool.catalog.limits_mask(pool.remaining)
        if not limits:
            return f'all available instance types exceed limits for nodepool: "{pool.name}"'
        claim = None
        if self.cap_claims:
            capped = self.fresh_claim(pool, limits, cap=pool.efficient_cap(pod, self.states))
            claim = capped if self.try_claim(capped, pod) == OK else None
        if claim is None:
            claim = self.fresh_claim(pool, limits)
        if not claim.pods and self.try_claim(claim, pod) != OK:
            reason = self.explain(claim, pod)
            return (
                f'incompatible with nodepool "{pool.name}", daemonset overhead='
                f"{format_resources(pool.daemon)}, {reason}"
            )
        claim.index = len(self.claims)
        self.claims.append(claim)
        if pool.remaining is not None:
            self.charge(pool, claim.mask)
        return claim

    def fresh_claim(self, pool: Pool, mask: int, *, cap: int | None = None) -> Claim:
        """An empty claim of the pool limited to the types in ``mask`` (not yet planned);
        pods may join it only while a type in ``cap`` still holds them all."""
        host = f"hostname-placeholder-{next(self._hosts):04d}"
        return Claim(
            pool, host, pool.template_state, mask, pool.catalog.full if cap is None else cap
        )

    def price(self, claim: Claim) -> float:
        """What the claim costs per hour: its cheapest compatible offering."""
        found = claim.pool.catalog.cheapest(claim.mask, self.states.reqs[claim.state])
        return found[0] if found is not None else float("inf")

    @staticmethod
    def charge(pool: Pool, mask: int) -> None:
        """Count the largest type the claim may become against the pool's limits."""
        if pool.remaining is None:
            return
        largest = pool.catalog.max_capacity(mask)
        for name in pool.remaining:
            pool.remaining[name] -= 1 if name == "nodes" else largest.get(name, 0)

    def explain(self, claim: Claim, pod: PodState) -> str:
        """Why a (fresh) claim refused the pod, in Karpenter's words and order."""
        pool = claim.pool
        error = pool.taint_error(pod.tolerations)
        if error is not None:
            return error
        if pod.ports and (port := _port_conflict(claim.ports, pod.ports)) is not None:
            return f"checking host port usage, {port.ip}:{port.port}/{port.protocol} is in use"
        if pod.host_req is not None and not pod.host_req.has(claim.host):
            return (
                f"incompatible requirements, key {HOSTNAME}, {pod.host_req} not in "
                f"{HOSTNAME} In [{claim.host}]"
            )
        merged = self.states.merge(claim.state, pod.req_id, False)
        if isinstance(merged, str):
            return f"incompatible requirements, {merged}"
        state = merged
        for rule in pod.rules:
            group = rule[0]
            code, narrowed = self.claim_rule(claim, pod, rule, state, claim.mask)
            if code != OK:
                node_domains = self.states.reqs[state].get(group.key)
                if group.key == HOSTNAME:
                    node_domains = Requirement(HOSTNAME, False, frozenset((claim.host,)))
                return group.describe(pod.domains(group.key), node_domains)
            state = narrowed
        reqs = self.states.reqs[state]
        requests = add_requests(claim.requests, pod.requests)
        mask = claim.mask & pool.mask_for(state, self.states) & pool.catalog.fit_mask(requests)
        if not mask:
            report = pool.catalog.report(claim.mask, reqs, requests)
            return (
                f"no instance type satisfied resources "
                f"{format_resources(add_requests(pool.daemon, pod.requests))} and requirements "
                f"{reqs} ({report.reason()})"
            )
        error = pool.catalog.min_values_error(reqs, mask)
        return error if error is not None else "no instance type satisfied the pod"

    # --- existing capacity ------------------------------------------------------------------

    def try_node(
        self, node: Node, index: int, pod: PodState, own: Callable[[], Node] | None = None
    ) -> int:
        """Add the pod to existing capacity if it fits (commits); else how it failed.

        ``own``, when given, returns the node to commit to (a solve's own copy of a node
        shared by several solves, made on its first placement)."""
        key = (index, pod.tolerations)
        if key not in self._node_taints:
            self._node_taints[key] = did_not_tolerate(node.taints, pod.tolerations)
        if self._node_taints[key] is not None:
            return PERMANENT
        if pod.ports and _port_conflict(node.ports, pod.ports) is not None:
            return PERMANENT
        requests = add_requests(node.requests, pod.requests)
        if not fits(requests, node.available):
            return PERMANENT
        if pod.host_req is not None and not pod.host_req.has(node.host):
            return PERMANENT
        if isinstance(self.states.merge(node.state, pod.req_id, True), str):
            return PERMANENT
        for group, self_selecting, pin in pod.rules:
            code = self._node_rule(group, self_selecting, pin, pod, node)
            if code != OK:
                return code
        if own is not None:
            node = own()
        node.requests = requests
        node.pods.append(pod)
        if pod.ports:
            node.ports.extend(pod.ports)
        self.record(pod, node.state, node.host, node.labels)
        return OK

    @staticmethod
    def _node_rule(group: Group, self_selecting: bool, pin: bool, pod: PodState, node: Node) -> int:
        pod_domains = pod.domains(group.key)
        if group.key == HOSTNAME:
            if group.host_allows(self_selecting, pod_domains, node.host):
                return OK
            return TEMPORARY if group.kind == AFFINITY else TOPOLOGY_PERMANENT
        value = node.labels.get(group.key)
        if value is None:
            # A node outside every domain cannot help a spread or an affinity; anti-affinity
            # does not apply to it (kube-scheduler's rule).
            return OK if group.kind == ANTI_AFFINITY else TOPOLOGY_PERMANENT
        here = Requirement(group.key, False, frozenset((value,)))
        allowed = group.next_domains(self_selecting, pod_domains, here, pin=pin)
        return OK if allowed is not None else TEMPORARY

    # --- recording --------------------------------------------------------------------------

    def record(
        self, pod: PodState, state: int, host: str, labels: Mapping[str, str] | None
    ) -> None:
        """Count the placed pod in every group that selects it (and its inverse groups)."""
        for group in pod.counted_by:
            filtered = group.kind == SPREAD and group.node_filter is not None
            if filtered and not self._filter_matches(group, state, labels):
                continue
            self._record_in(group, state, host, labels)
        for group in pod.inverse_owned:
            self._record_in(group, state, host, labels)

    def _filter_matches(self, group: Group, state: int, labels: Mapping[str, str] | None) -> bool:
        if labels is not None:
            return group.filter_matches_labels(labels)
        key = (group.id, state)
        found = self._filters.get(key)
        if found is None:
            found = self._filters[key] = group.filter_matches(self.states.reqs[state])
        return found

    def _record_in(
        self, group: Group, state: int, host: str, labels: Mapping[str, str] | None
    ) -> None:
        if group.key == HOSTNAME:
            group.record(host)
            return
        if labels is not None:
            value = labels.get(group.key)
            if value is not None:
                group.record(value)
            return
        req = self.states.reqs[state].get(group.key)
        values = req.value_set if req.is_finite() else [d for d in group.counts if req.has(d)]
        if len(values) == 1:
            group.record(next(iter(values)))
        elif group.kind == ANTI_AFFINITY:
            for value in sorted(values):
                group.record(value)
