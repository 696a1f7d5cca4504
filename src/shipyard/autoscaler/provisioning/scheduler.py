"""The provisioning scheduler: bin-pack a batch of pending pods onto existing capacity and new
NodeClaims, following Karpenter's documented scheduling behaviour.

::

    pods ─ sort by cpu, then memory (descending; input order breaks ties)
      │
      ├─ 1. existing nodes and in-flight claims (initialized first, then by name)
      ├─ 2. claims already planned in this batch (in the order they were created)
      ├─ 3. a new claim of the first pool that accepts it (weight descending, then name),
      │     within the pool's remaining limits
      └─ none: relax one preference (see :mod:`.podspec`) and requeue; stop when a whole
         pass over the queue places nothing and relaxes nothing
    then: cost improvement (:mod:`.repack`), then each claim lists its instance types
    cheapest first

A claim is late-bound: it keeps the requirements of its pool AND its pods (narrowed by
topology) and every instance type that still fits their summed requests plus the DaemonSet
overhead and has a compatible available offering (:mod:`.planner`). A new claim charges its
pool's remaining limits with the largest capacity among its types, as Karpenter does, and
a pool whose limits no type fits any more refuses with ``all available instance types exceed
limits for nodepool: "<name>"``. DaemonSet overhead of a pool is the requests of the
DaemonSet pods that tolerate its taints and whose required node affinity its template allows;
an existing node reserves the DaemonSet pods it should run but does not run yet.

Topology counts start from the cluster's bound pods (pods of the batch excluded) and every
domain the pools' instance types allow (:mod:`.topology`).

Deliberate differences from Karpenter, all for cost or speed, none changing where a pod *may*
go:

- planned claims are tried in creation order (first fit) rather than fewest-pods first, which
  packs tighter and lets a pod shape skip every claim it can never fit again;
- a new claim takes further pods only while an instance type up to the *most cost-efficient
  size for its first pod* still holds them all (``Catalog.efficient_cap``: the type that runs
  the most copies of that pod per dollar, after DaemonSet overhead). Karpenter lets a claim
  grow to the largest type, so 500 generic pods on the AWS catalog become one 96-vCPU node
  where small burstable nodes cost less than half as much. The claim still lists every type
  that fits, so a launch can fall back past an unavailable offering;
- the repack pass after packing (:mod:`.repack`).

``improve_cost=False`` turns the last two off: Karpenter's packing alone. Determinism: no
map-order or random choice anywhere — the same input gives the same plan.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from shipyard.cluster.podutil import is_terminal, is_terminating, pod_requests
from shipyard.cluster.scheduler.podinfo import PodInfo, SpreadConstraint
from shipyard.core.errors import ShipyardError
from shipyard.core.objects import IdentityCache
from shipyard.core.requirements import Requirements, pod_requirement_terms
from shipyard.core.taints import PREFER_NO_SCHEDULE, did_not_tolerate

from .model import BoundPod, ExistingNode, PlannedClaim, PoolTemplate, Results, pod_name
from .planner import (
    OK,
    PERMANENT,
    TEMPORARY,
    Claim,
    Node,
    Planner,
    Pool,
    States,
    add_requests,
    node_facts,
    plain_slots,
    required_anti_affinity,
)
from .podspec import PodState
from .repack import improve
from .topology import AFFINITY, ANTI_AFFINITY, Group, Topology, domain_of

__all__ = ["Capacity", "Scheduler", "solve"]

Obj = dict[str, Any]


def solve(
    pods: Sequence[Obj],
    pools: Sequence[PoolTemplate],
    *,
    existing_nodes: Sequence[ExistingNode] = (),
    daemonset_pods: Sequence[Obj] = (),
    cluster_pods: Sequence[BoundPod] = (),
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    improve_cost: bool = True,
) -> Results:
    """Plan where ``pods`` go; see the module docstring. Pure: inputs are not modified.

    ``improve_cost=False`` packs exactly as Karpenter does (no claim size limit, no repack).
    """
    scheduler = Scheduler(
        pools,
        existing_nodes=existing_nodes,
        daemonset_pods=daemonset_pods,
        cluster_pods=cluster_pods,
        namespace_labels=namespace_labels,
    )
    return scheduler.solve(pods, improve_cost=improve_cost)


_LABEL_REQUIREMENTS: dict[tuple[tuple[str, str], ...], Requirements] = {}
_LABEL_REQUIREMENTS_MAX = 20_000


def _label_requirements(labels: Mapping[str, str]) -> Requirements:
    """``Requirements.from_labels``, memoized: the same nodes are read batch after batch and
    requirements are immutable (first by the labels' identity: a disruption pass hands the
    same ExistingNodes to every simulation)."""
    seen = _LABELS_SEEN.get(labels)
    if seen is not None:
        return seen
    return _LABELS_SEEN.put(labels, _label_requirements_by_content(labels))


_LABELS_SEEN: IdentityCache[Requirements] = IdentityCache(_LABEL_REQUIREMENTS_MAX)


def _label_requirements_by_content(labels: Mapping[str, str]) -> Requirements:
    key = tuple(sorted(labels.items()))
    found = _LABEL_REQUIREMENTS.get(key)
    if found is None:
        if len(_LABEL_REQUIREMENTS) >= _LABEL_REQUIREMENTS_MAX:
            _LABEL_REQUIREMENTS.clear()
        found = _LABEL_REQUIREMENTS[key] = Requirements.from_labels(labels)
    return found


class _Static:
    """Claims not yet ruled out for pods with one static signature (requirements, requests,
    tolerations, ports): shared by their shapes, whatever their topology rules."""

    __slots__ = ("claims", "dead", "seen")

    def __init__(self) -> None:
        self.claims: list[Claim] = []
        self.dead: set[Claim] = set()
        self.seen = 0

    def candidates(self, claims: list[Claim]) -> list[Claim]:
        """Every claim planned so far that no pod of this signature has ruled out."""
        if self.dead:
            self.claims = [c for c in self.claims if c not in self.dead]
            self.dead.clear()
        self.claims.extend(claims[self.seen :])
        self.seen = len(claims)
        return list(self.claims)


class _Shape:
    """Candidates still possible for one pod signature (permanent failures dropped)."""

    __slots__ = ("claims", "nodes", "seen", "static")

    def __init__(self, nodes: list[int], static: _Static, claims: list[Claim]) -> None:
        self.nodes = nodes
        self.static = static
        self.claims = static.candidates(claims)
        self.seen = static.seen


class Capacity:
    """What every solve over the same pools, existing capacity and DaemonSets shares, built
    once: the pools' catalogs and DaemonSet overhead, the existing nodes' requirements and
    remaining DaemonSet overhead, and the interned requirement sets (merges memoised). A
    disruption pass asks many what-ifs of one cluster, each without a node or two:
    :meth:`solve` leaves them out of a fresh :class:`Scheduler` instead of rebuilding the
    rest. Nothing here changes while solving (each solve gets its own mutable copies)."""

    def __init__(
        self,
        pools: Sequence[PoolTemplate],
        *,
        existing_nodes: Sequence[ExistingNode] = (),
        daemonset_pods: Sequence[Obj] = (),
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.states = States()
        ordered = sorted(pools, key=lambda p: (-p.weight, p.name))
        daemons = [_daemon(d) for d in daemonset_pods]
        self.pools = [Pool(p, self.states, _pool_daemons(p, daemons)) for p in ordered]
        nodes = sorted(existing_nodes, key=lambda n: (not n.initialized, n.name))
        self.nodes = [
            Node(
                n,
                self.states.intern(_label_requirements(n.labels)),
                _node_overhead(n, daemons),
            )
            for n in nodes
        ]
        self.namespace_labels = namespace_labels or {}
        self.prefer_no_schedule = any(
            t.effect == PREFER_NO_SCHEDULE for p in ordered for t in p.taints
        )
        # Batches of identical plain pods fill existing nodes in order (see _solve_plain),
        # unless a bound pod's required anti-affinity or a PreferNoSchedule relaxation
        # could make their places depend on more than the node.
        self._plain = not self.prefer_no_schedule and not any(
            node_facts(n.node).anti_affinity for n in self.nodes
        )
        self._slots: dict[tuple[object, ...], list[tuple[str, int]]] = {}
        self._claim_runs: dict[tuple[object, ...], _PlainRun] = {}

    def solve(
        self,
        pods: Sequence[Obj],
        *,
        without: Collection[str] = (),
        cluster_pods: Sequence[BoundPod] = (),
        improve_cost: bool = True,
        groups: Sequence[tuple[Obj, ...]] | None = None,
    ) -> Results:
        """:func:`solve` over this capacity less the existing nodes named in ``without``.

        ``groups``, when given, are tuples whose concatenation is ``pods`` (a what-if's
        pods node by node, the same tuples what-if after what-if): whether a group's pods are
        all of one plain kind is then worked out once per tuple."""
        if self._plain and pods and not cluster_pods:
            found = self._solve_plain(pods, groups, without, improve_cost)
            if found is not None:
                return found
        return Scheduler.over(self, without=without, cluster_pods=cluster_pods).solve(
            pods, improve_cost=improve_cost
        )

    def _solve_plain(
        self,
        pods: Sequence[Obj],
        groups: Sequence[tuple[Obj, ...]] | None,
        without: Collection[str],
        improve_cost: bool,
    ) -> Results | None:
        """The plan of a batch of identical plain pods (:meth:`PodState.is_plain`, one
        requests shape, tolerations and requirements), or ``None`` for any other batch.

        The scheduler would try them in input order (equal sizes) and put each on the first
        existing node with room; a pod that finds none, and every pod after it, goes to new
        claims. So the first ones fill the nodes in order, as many on each as fit (counted
        once per node and pod kind for every what-if over this capacity), and only the rest
        are planned one by one, over no existing node."""
        kinds = [plain_kind(g) for g in groups if g] if groups else [_plain_kind(pods)]
        kind = kinds[0] if kinds else None
        if kind is None or any(k is None or not k.same(kind) for k in kinds):
            return None
        first, key = kind.state, kind.key
        slots = self._slots.get(key)
        if slots is None:
            req_id = self.states.intern(first.requirements)
            slots = self._slots[key] = [
                (n.node.name, k)
                for n in self.nodes
                if (k := plain_slots(self.states, n, req_id, first)) > 0
            ]
        existing: dict[str, tuple[Obj, ...]] = {}
        placed, total = 0, len(pods)
        for name, room in slots:
            if name in without:
                continue
            take = min(room, total - placed)
            existing[name] = tuple(pods[placed : placed + take])
            placed += take
            if placed == total:
                return Results((), existing, {})
        if improve_cost:  # the repack looks at the whole batch: plan the rest as one
            rest = Scheduler.over(self, nodes=False).solve(pods[placed:], improve_cost=True)
            return Results(rest.new_claims, existing, rest.errors)
        run = self._claim_runs.get(key)
        if run is None:
            run = self._claim_runs[key] = _PlainRun(self, pods[0])
        claims, errors = run.plan(pods[placed:])
        return Results(claims, existing, errors)


class _PlainKind:
    """What makes pods the same to the plain shortcut: their requirements, requests and
    tolerations (``state``: the parsed state of the first of them)."""

    __slots__ = ("key", "state")

    def __init__(self, state: PodState) -> None:
        self.state = state
        self.key = (state.requirements, state.shape, state.tolerations)

    def same(self, other: _PlainKind) -> bool:
        a, b = self.key, other.key
        return (a[0] is b[0] or a[0] == b[0]) and a[1] == b[1] and a[2] == b[2]


def plain_kind(group: tuple[Obj, ...]) -> _PlainKind | None:
    """The one plain kind of every pod of ``group``, or ``None`` (not all plain, or not all
    alike, or empty). Remembered per group tuple (its pods are never changed in place)."""
    found = _KINDS.get(group)
    if found is None:
        found = _KINDS.put(group, (_plain_kind(group),))
    return found[0]


def _plain_kind(group: Sequence[Obj]) -> _PlainKind | None:
    kind: _PlainKind | None = None
    for pod in group:
        state = PodState.prototype(pod)
        if not state.is_plain():
            return None
        if kind is None:
            kind = _PlainKind(state)
        elif state is not kind.state and not _PlainKind(state).same(kind):
            return None
    return kind


_KINDS: IdentityCache[tuple[_PlainKind | None]] = IdentityCache(20_000)


class _PlainRun:
    """Identical plain pods planned one after another onto new claims, as the scheduler
    plans those that found no existing node (without the repack): which claim the j-th pod
    joins, and that claim as planned once it has joined. Each pod's place depends only on
    the pods before it, so a batch of ``m`` such pods is planned by the first ``m`` steps,
    and the steps are made once for every what-if over one capacity (extended as needed)."""

    def __init__(self, base: Capacity, pod: Obj) -> None:
        self._scheduler = Scheduler.over(base, nodes=False)
        self._scheduler.planner.cap_claims = False
        self._pod = pod  # any pod of the kind: their parsed states are equal
        self.joined: list[int] = []  # step -> index of the claim the pod joined
        self.planned: list[PlannedClaim] = []  # step -> that claim, as planned after it
        self.error: str | None = None  # why the next pod fits nowhere (and no pod after it)

    def plan(self, pods: Sequence[Obj]) -> tuple[tuple[PlannedClaim, ...], dict[str, str]]:
        """The new claims and errors for ``pods``."""
        self._extend(len(pods))
        steps = min(len(pods), len(self.joined))
        members: dict[int, list[Obj]] = {}
        last: dict[int, int] = {}
        for step in range(steps):
            index = self.joined[step]
            members.setdefault(index, []).append(pods[step])
            last[index] = step
        claims = tuple(
            dataclasses.replace(self.planned[last[i]], pods=tuple(members[i]))
            for i in sorted(members)
        )
        errors = {PodState.prototype(p).key: str(self.error) for p in pods[steps:]}
        return claims, dict(sorted(errors.items()))

    def _extend(self, count: int) -> None:
        scheduler = self._scheduler
        claims = scheduler.planner.claims
        while len(self.joined) < count and self.error is None:
            pod = PodState.of(self._pod, len(self.joined))
            scheduler._prepare_topology([pod])
            self.error = scheduler._add(pod)
            if self.error is None:
                index = next(i for i, c in enumerate(claims) if c.pods and c.pods[-1] is pod)
                self.joined.append(index)
                self.planned.append(scheduler._planned(claims[index]))


class Scheduler:
    """One batch's scheduler; build it, call :meth:`solve` once."""

    def __init__(
        self,
        pools: Sequence[PoolTemplate],
        *,
        existing_nodes: Sequence[ExistingNode] = (),
        daemonset_pods: Sequence[Obj] = (),
        cluster_pods: Sequence[BoundPod] = (),
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        base = Capacity(
            pools,
            existing_nodes=existing_nodes,
            daemonset_pods=daemonset_pods,
            namespace_labels=namespace_labels,
        )
        self._start(base, (), cluster_pods)

    @classmethod
    def over(
        cls,
        base: Capacity,
        *,
        without: Collection[str] = (),
        cluster_pods: Sequence[BoundPod] = (),
        nodes: bool = True,
    ) -> Scheduler:
        """A scheduler over ``base`` less the existing nodes named in ``without`` (over none
        of them when ``nodes`` is false)."""
        scheduler = cls.__new__(cls)
        scheduler._start(base, without, cluster_pods, nodes)
        return scheduler

    def _start(
        self,
        base: Capacity,
        without: Collection[str],
        cluster_pods: Sequence[BoundPod],
        nodes: bool = True,
    ) -> None:
        self.states = base.states
        self.pools = [p.fork() for p in base.pools]
        # The base's nodes, shared until a pod is placed on one (then this solve's copy).
        self.nodes = [n for n in base.nodes if n.node.name not in without] if nodes else []
        self._forked = [False] * len(self.nodes)
        labels = base.namespace_labels
        self.topology = Topology(self._universe, lambda ns: labels.get(ns) or {})
        self.planner = Planner(self.states, self.topology)
        self.prefer_no_schedule = base.prefer_no_schedule
        self._cluster_pods = list(cluster_pods)
        self._shapes: dict[tuple[object, ...], _Shape] = {}
        self._statics: dict[object, _Static] = {}
        self._spread_groups: dict[tuple[Any, ...], Group] = {}
        self._views: dict[
            tuple[str, tuple[tuple[str, str], ...]], tuple[list[Group], list[Group]]
        ] = {}

    def _universe(self, key: str) -> set[str]:
        """Every value of ``key`` a pool can launch with, and those of existing nodes."""
        values: set[str] = set()
        for pool in self.pools:
            allowed = pool.template_reqs.get(key)
            by_value = pool.catalog.value_masks.get(key)
            if by_value is not None:
                values.update(v for v, mask in by_value.items() if mask and allowed.has(v))
            elif allowed.is_finite():
                values.update(allowed.value_set)
        values.update(n.labels[key] for n in self.nodes if key in n.labels)
        return values

    # --- the batch --------------------------------------------------------------------------

    def solve(self, pods: Sequence[Obj], *, improve_cost: bool = True) -> Results:
        states = [PodState.of(p, i) for i, p in enumerate(pods)]
        errors: dict[str, str] = {}
        ready = []
        for pod in states:
            if pod.error is not None:
                errors[pod.key] = pod.error
            else:
                ready.append(pod)
        self._prepare_topology(ready)
        self.planner.cap_claims = improve_cost
        self._run_queue(ready, errors)
        if improve_cost:
            improve(self.planner, self.pools)
        return self._results(errors)

    def _run_queue(self, pods: list[PodState], errors: dict[str, str]) -> None:
        queue = deque(sorted(pods, key=lambda p: (-p.cpu, -p.memory, p.index)))
        stale: dict[int, int] = {}
        while queue:
            pod = queue[0]
            if stale.get(pod.index) == len(queue):
                break
            queue.popleft()
            error = self._add(pod)
            if error is None:
                errors.pop(pod.key, None)
                continue
            errors[pod.key] = error
            queue.append(pod)
            if pod.relax(self.prefer_no_schedule) is not None:
                stale.clear()
                self._refresh(pod)
            else:
                stale[pod.index] = len(queue)

    def _add(self, pod: PodState) -> str | None:
        shape = self._shapes.get(pod.signature)
        if shape is None:
            static = self._statics.setdefault(pod.signature[0], _Static())
            nodes = list(range(len(self.nodes)))
            shape = self._shapes[pod.signature] = _Shape(nodes, static, self.planner.claims)
        if shape.nodes and self._place_on_nodes(shape, pod):
            return None
        if self._place_on_claims(shape, pod):
            return None
        errors = []
        for pool in self.pools:
            claim = self.planner.new_claim(pool, pod)
            if isinstance(claim, Claim):
                return None
            errors.append(claim)
        return "; ".join(errors) or "no nodepool is available"

    def _place_on_nodes(self, shape: _Shape, pod: PodState) -> bool:
        keep: list[int] = []
        for i, index in enumerate(shape.nodes):
            own = None if self._forked[index] else functools.partial(self._own, index)
            code = self.planner.try_node(self.nodes[index], index, pod, own)
            if code == OK:
                keep.append(index)
                keep.extend(shape.nodes[i + 1 :])
                shape.nodes = keep
                return True
            if code == TEMPORARY:
                keep.append(index)
        shape.nodes = keep
        return False

    def _own(self, index: int) -> Node:
        """This solve's own copy of a node, to place pods on."""
        node = self.nodes[index] = self.nodes[index].fork()
        self._forked[index] = True
        return node

    def _place_on_claims(self, shape: _Shape, pod: PodState) -> bool:
        try_claim = self.planner.try_claim
        dead = shape.static.dead
        alive = shape.claims
        keep: list[Claim] = []
        for i, claim in enumerate(alive):
            code = try_claim(claim, pod)
            if code == OK:
                keep.append(claim)
                keep.extend(alive[i + 1 :])
                shape.claims = keep
                return True
            if code == TEMPORARY:
                keep.append(claim)
            elif code == PERMANENT:
                dead.add(claim)
        shape.claims = keep
        claims = self.planner.claims
        while shape.seen < len(claims):
            claim = claims[shape.seen]
            shape.seen += 1
            code = try_claim(claim, pod)
            if code in (OK, TEMPORARY):
                keep.append(claim)
            elif code == PERMANENT:
                dead.add(claim)
            if code == OK:
                return True
        return False

    # --- topology ---------------------------------------------------------------------------

    def _prepare_topology(self, pods: list[PodState]) -> None:
        batch = {p.key for p in pods}
        # Bound pods are counted for the batch's own groups; without topology rules in the
        # batch only their required anti-affinity matters (it keeps the batch out).
        counted = any(_has_rules(p) for p in pods)
        for namespace, labels, node, node_labels, bound in self._bound(batch, counted):
            if counted:
                self.topology.add_bound(namespace, labels, node, node_labels)
            if required_anti_affinity(bound):
                for term in PodInfo(bound).required_anti_affinity:
                    group = self.topology.inverse_group(term)
                    domain = domain_of(group.key, node, node_labels)
                    if domain is not None:
                        group.record(domain)
        for pod in pods:
            self._owned(pod)  # creates the groups, so that every pod sees all of them below
            pod.inverse_owned = [self.topology.inverse_group(t) for t in pod.anti_affinity]
        for pod in pods:
            pod.counted_by, pod.inverse_match = self._view(pod)
            self._refresh(pod)

    def _bound(
        self, batch: set[str], every: bool
    ) -> Iterable[tuple[str, Mapping[str, str], str, Mapping[str, str], Obj]]:
        """The bound pods that count (not in the batch, not terminal or terminating); only
        those with required anti-affinity unless ``every``."""
        seen: set[str] = set()
        sources: list[tuple[Obj, str, Mapping[str, str]]] = [
            (p, n.node.name, n.labels)
            for n in self.nodes
            for p in (n.node.pods if every else node_facts(n.node).anti_affinity)
        ]
        sources += [(b.pod, b.node_name, b.node_labels) for b in self._cluster_pods]
        for pod, node, node_labels in sources:
            if not every and not required_anti_affinity(pod):
                continue
            key = pod_name(pod)
            if key in batch or key in seen or is_terminal(pod) or is_terminating(pod):
                continue
            seen.add(key)
            md = pod.get("metadata") or {}
            yield (
                str(md.get("namespace") or "default"),
                md.get("labels") or {},
                node,
                node_labels,
                pod,
            )

    def _owned(self, pod: PodState) -> list[tuple[Group, bool]]:
        groups = [self._spread_group(pod, c) for c in pod.spreads]
        groups += [self.topology.affinity_group(AFFINITY, t) for t in pod.active_affinity()]
        groups += [
            self.topology.affinity_group(ANTI_AFFINITY, t) for t in pod.active_anti_affinity()
        ]
        ns_labels = self.topology.namespace_labels
        return [(g, g.selects(pod.namespace, pod.labels, ns_labels)) for g in groups]

    def _spread_group(self, pod: PodState, constraint: SpreadConstraint) -> Group:
        key = (constraint, pod.namespace, pod.node_filter)
        found = self._spread_groups.get(key)
        if found is None:
            found = self.topology.spread_group(constraint, pod.namespace, pod.node_filter)
            self._spread_groups[key] = found
        return found

    def _view(self, pod: PodState) -> tuple[list[Group], list[Group]]:
        if not self.topology.groups and not self.topology.inverse:
            return [], []  # no group to select the pod (most batches, most what-ifs)
        key = (pod.namespace, tuple(sorted(pod.labels.items())))
        found = self._views.get(key)
        if found is None:
            topology = self.topology
            counted = topology.selecting(topology.groups.values(), pod.namespace, pod.labels)
            inverse = topology.selecting(topology.inverse.values(), pod.namespace, pod.labels)
            found = self._views[key] = (counted, inverse)
        return found

    def _refresh(self, pod: PodState) -> None:
        """Recompute what depends on the pod's current relaxation."""
        pod.req_id = self.states.intern(pod.requirements)
        pod.strict_id = self.states.intern(pod.strict)
        pod.owned = self._owned(pod)
        pod.rules = [(g, s, True) for g, s in pod.owned]
        pod.rules += [(g, False, False) for g in pod.inverse_match]
        static = (pod.req_id, pod.host_req, pod.shape, pod.tolerations, pod.ports)
        pod.signature = (
            static,
            pod.strict_id,
            tuple((g.id, s, p) for g, s, p in pod.rules),
            tuple(g.id for g in pod.counted_by),
            tuple(g.id for g in pod.inverse_owned),
        )

    # --- results ----------------------------------------------------------------------------

    def _results(self, errors: dict[str, str]) -> Results:
        claims = [self._planned(c) for c in self.planner.claims if c.pods]
        existing = {n.node.name: tuple(p.obj for p in n.pods) for n in self.nodes if n.pods}
        return Results(tuple(claims), existing, dict(sorted(errors.items())))

    def _planned(self, claim: Claim) -> PlannedClaim:
        pool = claim.pool
        reqs = self.states.reqs[claim.state]
        order, types = pool.catalog.in_price_order(claim.mask, reqs)
        template = pool.template
        overhead = pool.catalog.overheads[order[0][1]]
        return PlannedClaim(
            nodepool=pool.name,
            requirements=reqs,
            instance_types=types,
            pods=tuple(p.obj for p in claim.pods),
            price=order[0][0],
            requests=add_requests(claim.requests, overhead),
            daemon_overhead=dict(overhead),
            labels=dict(template.labels),
            taints=tuple(template.taints),
            startup_taints=tuple(template.startup_taints),
        )


# --- DaemonSet overhead -----------------------------------------------------------------------

_Daemon = tuple[Obj, list[Requirements], dict[str, int]]


def _daemon(pod: Obj) -> _Daemon:
    found = _DAEMONS.get(pod)
    return found if found is not None else _DAEMONS.put(pod, _daemon_parsed(pod))


# Per DaemonSet pod object (read-only; a disruption pass hands the same ones to every what-if,
# and passes keep them while the DaemonSet is unchanged): its parsed affinity and requests.
_DAEMONS: IdentityCache[_Daemon] = IdentityCache(1_000)


def _daemon_parsed(pod: Obj) -> _Daemon:
    try:
        terms = pod_requirement_terms(pod)
    except ShipyardError:
        terms = []  # a DaemonSet pod with malformed node affinity runs nowhere
    return pod, terms, _daemon_requests(pod)


def _daemon_requests(pod: Obj) -> dict[str, int]:
    requests = {k: v for k, v in pod_requests(pod).items() if v > 0}
    requests["pods"] = requests.get("pods", 0) + 1
    return requests


def _tolerations(pod: Obj) -> list[Any]:
    return list(PodInfo(pod).tolerations)


def _pool_daemons(
    pool: PoolTemplate, daemons: list[_Daemon]
) -> list[tuple[Sequence[Requirements], Mapping[str, int]]]:
    """The DaemonSet pods that tolerate the pool's taints and whose required node affinity its
    template allows (each instance type then checks the affinity against its own labels)."""
    template = pool.template_requirements()
    out: list[tuple[Sequence[Requirements], Mapping[str, int]]] = []
    for pod, terms, requests in daemons:
        if did_not_tolerate(pool.taints, _tolerations(pod)) is not None:
            continue
        if any(template.compatible(t) is None for t in terms):
            out.append((terms, requests))
    return out


def _has_rules(pod: PodState) -> bool:
    return bool(
        pod.spreads
        or pod.affinity
        or pod.anti_affinity
        or pod.preferred_affinity
        or pod.preferred_anti_affinity
    )


def _node_overhead(node: ExistingNode, daemons: list[_Daemon]) -> dict[str, int]:
    """DaemonSet pods the node should run but does not yet (Karpenter's remaining overhead);
    kept per ExistingNode (immutable) for the same DaemonSet pods."""
    if not daemons:
        return {}
    seen = _OVERHEADS.get(node)
    if (
        seen is not None
        and len(seen[0]) == len(daemons)
        and all(a is b[0] for a, b in zip(seen[0], daemons, strict=True))
    ):
        return seen[1]
    found = _node_overhead_of(node, daemons)
    _OVERHEADS.put(node, (tuple(d[0] for d in daemons), found))
    return found


_OVERHEADS: IdentityCache[tuple[tuple[Obj, ...], dict[str, int]]] = IdentityCache(50_000)


def _node_overhead_of(node: ExistingNode, daemons: list[_Daemon]) -> dict[str, int]:
    labels = _label_requirements(node.labels)
    taints = node.scheduling_taints()
    total: dict[str, int] = {}
    for pod, terms, requests in daemons:
        if did_not_tolerate(taints, _tolerations(pod)) is not None:
            continue
        if not any(labels.compatible(t, allow_undefined=frozenset()) is None for t in terms):
            continue
        total = add_requests(total, requests)
    running: dict[str, int] = {}
    for pod in node.pods:
        owner = next(
            (
                r
                for r in (pod.get("metadata") or {}).get("ownerReferences") or ()
                if r.get("controller")
            ),
            None,
        )
        if owner is not None and owner.get("kind") == "DaemonSet":
            running = add_requests(running, _daemon_requests(pod))
    return {k: max(0, v - running.get(k, 0)) for k, v in total.items()}
