"""kube-scheduler's score plugins with the default profile's weights, and the host choice.

Every plugin scores the feasible nodes and normalises to 0–100 (``MaxNodeScore``) the way its
Kubernetes counterpart does; the node's total is the weighted sum (weights of the default
profile: TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2,
NodeResourcesFit 1, NodeResourcesBalancedAllocation 1). A plugin with nothing to score for a
pod is skipped and adds nothing.

- **NodeResourcesFit / LeastAllocated**: per resource ``(allocatable − requested) × 100 /
  allocatable`` over cpu and memory (weight 1 each), integer arithmetic, with the *non-zero*
  requests of the node's pods plus the incoming pod's; a resource the node has none of is left
  out.
- **NodeResourcesBalancedAllocation**: ``(1 − std) × 100`` of the cpu and memory request
  fractions (real requests, capped at 1; with two resources ``std = |f₁ − f₂| / 2``); skipped
  for a pod that requests neither (Kubernetes 1.33, issue 129138).
- **TaintToleration**: the count of ``PreferNoSchedule`` taints the pod does not tolerate
  (only tolerations with an empty or ``PreferNoSchedule`` effect count), normalised in reverse:
  ``100 − count × 100 / max``.
- **NodeAffinity**: the sum of the weights of the preferred terms the node matches, normalised
  to the best node (``score × 100 / max``).
- **PodTopologySpread** (``ScheduleAnyway`` constraints): per node ``Σ round(matching pods in
  the node's domain × log(domains + 2) + maxSkew − 1)``, then ``100 × (max + min − score) /
  max``; nodes missing a topology key score 0.
- **InterPodAffinity**: ``+weight`` for every existing pod matching a preferred affinity term,
  ``−weight`` for preferred anti-affinity, the same for the existing pods' preferred terms that
  match the incoming pod, and ``+1`` (``hardPodAffinityWeight``) for their required affinity
  terms; summed per topology domain and min-max normalised.

**Tie-break.** kube-scheduler picks at random among the nodes with the top score (reservoir
sampling). Shipyard picks the node with the smallest name, so a run is reproducible; the
rotating start of the filter walk (``percentageOfNodesToScore``) still spreads equal pods.

ImageLocality (weight 1 in Kubernetes) is not reproduced: nodes report no images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from shipyard.cluster.scheduler.filters import (
    count_matching,
    fit_status,
    has_keys,
    spread_eligible,
)
from shipyard.cluster.scheduler.podinfo import AffinityTerm, PodInfo, Resources, SpreadConstraint
from shipyard.cluster.scheduler.snapshot import NodeInfo, Snapshot
from shipyard.core.labels import HOSTNAME
from shipyard.core.taints import PREFER_NO_SCHEDULE, tolerates

__all__ = [
    "DEFAULT_SCORES",
    "MAX_NODE_SCORE",
    "BalancedAllocation",
    "InterPodAffinityScore",
    "LeastAllocated",
    "NodeAffinityScore",
    "PodTopologySpreadScore",
    "ScorePlugin",
    "TaintTolerationScore",
    "balanced_allocation_score",
    "best_by_resources",
    "default_normalize",
    "least_allocated_score",
    "only_resources_differ",
    "resource_scores",
    "select_host",
]

MAX_NODE_SCORE = 100


class ScorePlugin(Protocol):
    name: str
    weight: int

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        """Normalised scores (0–100) of ``nodes`` in order, or None to skip."""
        ...


def default_normalize(scores: list[int], *, reverse: bool = False) -> list[int]:
    """Kubernetes' ``DefaultNormalizeScore``: scale to the maximum (reverse: 100 − that)."""
    top = max(scores, default=0)
    if top <= 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else [0] * len(scores)
    out = [MAX_NODE_SCORE * s // top for s in scores]
    return [MAX_NODE_SCORE - s for s in out] if reverse else out


# --- resources ----------------------------------------------------------------------------


def least_allocated_score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    """LeastAllocated over resources of weight 1; resources with no allocatable are left out."""
    total = count = 0
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        count += 1
        if req <= alloc:
            total += (alloc - req) * MAX_NODE_SCORE // alloc
    return total // count if count else 0


def balanced_allocation_score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    fractions = [
        min(1.0, req / alloc) for req, alloc in zip(requested, allocatable, strict=True) if alloc
    ]
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)


def resource_scores(res: Resources, node: NodeInfo) -> tuple[int, int]:
    """(LeastAllocated, BalancedAllocation) of the node for this request, memoised per node."""
    memo = node.memo
    if memo is not None and memo[0] is res and memo[2] is not None:
        return memo[2]
    alloc = (node.alloc_cpu, node.alloc_memory)
    least = least_allocated_score(
        (node.nonzero_cpu + res.nonzero_cpu, node.nonzero_memory + res.nonzero_memory), alloc
    )
    balanced = 0
    if res.cpu or res.memory:
        balanced = balanced_allocation_score(
            (node.req_cpu + res.cpu, node.req_memory + res.memory), alloc
        )
    status = memo[1] if memo is not None and memo[0] is res else fit_status(res, node)
    node.memo = (res, status, (least, balanced))
    return least, balanced


def best_by_resources(res: Resources, nodes: Sequence[NodeInfo]) -> NodeInfo:
    """``select_host`` when only the resource scores tell the nodes apart (the other plugins
    skip or score every node alike; see ``only_resources_differ``): the same choice."""
    best = nodes[0]
    best_total = -1
    for node in nodes:
        least, balanced = resource_scores(res, node)
        total = least + balanced
        if total > best_total or (total == best_total and node.name < best.name):
            best, best_total = node, total
    return best


def only_resources_differ(pod: PodInfo, snapshot: Snapshot) -> bool:
    """Do the default profile's non-resource plugins skip or score all nodes alike here?"""
    return not (
        pod.preferred_node_terms
        or any(not c.hard for c in pod.spread)
        or pod.preferred_affinity
        or pod.preferred_anti_affinity
        or snapshot.affinity_pods
        or snapshot.prefer_tainted_nodes
    )


class LeastAllocated:
    name = "NodeResourcesFit"
    weight = 1

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        res = pod.resources
        return [resource_scores(res, n)[0] for n in nodes]


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"
    weight = 1

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        res = pod.resources
        if not (res.cpu or res.memory):
            return None
        return [resource_scores(res, n)[1] for n in nodes]


# --- taints and node affinity -------------------------------------------------------------


class TaintTolerationScore:
    name = "TaintToleration"
    weight = 3

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        if not snapshot.prefer_tainted_nodes:
            return [MAX_NODE_SCORE] * len(nodes)
        tolerations = [t for t in pod.tolerations if t.effect in ("", PREFER_NO_SCHEDULE)]
        raw = [
            sum(1 for taint in n.prefer_taints if not any(tolerates(t, taint) for t in tolerations))
            for n in nodes
        ]
        return default_normalize(raw, reverse=True)


class NodeAffinityScore:
    name = "NodeAffinity"
    weight = 2

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        terms = pod.preferred_node_terms
        if not terms:
            return None
        raw = [sum(w for w, t in terms if t.matches(n.labels, n.name)) for n in nodes]
        return default_normalize(raw)


# --- PodTopologySpread ----------------------------------------------------------------------


def _spread_counts(
    pod: PodInfo,
    constraints: tuple[SpreadConstraint, ...],
    nodes: Sequence[NodeInfo],
    snapshot: Snapshot,
) -> tuple[list[dict[str, int]], list[dict[str, int]], set[str]]:
    """Per constraint: matching pods per domain (non-hostname) and per node; ignored nodes."""
    ignored = {n.name for n in nodes if not has_keys(n, constraints)}
    domains: list[dict[str, int]] = [{} for _ in constraints]
    for n in nodes:
        if n.name not in ignored:
            for i, c in enumerate(constraints):
                if c.topology_key != HOSTNAME:
                    domains[i].setdefault(n.labels[c.topology_key], 0)
    per_node = [count_matching(snapshot, c, pod.namespace) for c in constraints]
    for node in snapshot.node_list():
        if not has_keys(node, constraints):
            continue
        for i, c in enumerate(constraints):
            value = node.labels[c.topology_key]
            if c.topology_key != HOSTNAME and value in domains[i] and spread_eligible(pod, c, node):
                domains[i][value] += per_node[i].get(node.name, 0)
    return domains, per_node, ignored


class PodTopologySpreadScore:
    name = "PodTopologySpread"
    weight = 2

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        constraints = tuple(c for c in pod.spread if not c.hard)
        if not constraints:
            return None
        domains, per_node, ignored = _spread_counts(pod, constraints, nodes, snapshot)
        eligible = len(nodes) - len(ignored)
        weights = [
            math.log((eligible if c.topology_key == HOSTNAME else len(domains[i])) + 2)
            for i, c in enumerate(constraints)
        ]
        raw: list[int | None] = []
        for n in nodes:
            if n.name in ignored:
                raw.append(None)
                continue
            total = 0.0
            for i, c in enumerate(constraints):
                value = n.labels[c.topology_key]
                count = (
                    per_node[i].get(n.name, 0) if c.topology_key == HOSTNAME else domains[i][value]
                )
                total += count * weights[i] + (c.max_skew - 1)
            raw.append(_round_half_away(total))
        return _spread_normalize(raw)


def _round_half_away(value: float) -> int:
    """Go's math.Round (halves away from zero), not Python's banker's rounding."""
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def _spread_normalize(raw: list[int | None]) -> list[int]:
    valid = [s for s in raw if s is not None]
    low, high = min(valid, default=0), max(valid, default=0)
    out = []
    for s in raw:
        if s is None:
            out.append(0)
        elif high == 0:
            out.append(MAX_NODE_SCORE)
        else:
            out.append(MAX_NODE_SCORE * (high + low - s) // high)
    return out


# --- InterPodAffinity -------------------------------------------------------------------------

HARD_POD_AFFINITY_WEIGHT = 1


class InterPodAffinityScore:
    name = "InterPodAffinity"
    weight = 2

    def score(
        self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> list[int] | None:
        has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not has_preferred and not snapshot.affinity_pods:
            return None
        topology: dict[tuple[str, str], int] = {}
        for sign, terms in ((1, pod.preferred_affinity), (-1, pod.preferred_anti_affinity)):
            for weight, term in terms:
                for other in snapshot.pods_matching(term.selector):
                    _add(topology, snapshot, other, term, weight=sign * weight, candidate=other)
        for other in snapshot.affinity_pods.values():
            for term in other.required_affinity:
                _add(
                    topology, snapshot, other, term, weight=HARD_POD_AFFINITY_WEIGHT, candidate=pod
                )
            for weight, term in other.preferred_affinity:
                _add(topology, snapshot, other, term, weight=weight, candidate=pod)
            for weight, term in other.preferred_anti_affinity:
                _add(topology, snapshot, other, term, weight=-weight, candidate=pod)
        if not topology:
            return None
        keys = {k for k, _ in topology}
        raw = [sum(topology.get((k, n.labels[k]), 0) for k in keys if k in n.labels) for n in nodes]
        high, low = max([0, *raw]), min([0, *raw])
        spread = high - low
        return [int(MAX_NODE_SCORE * ((s - low) / spread)) if spread > 0 else 0 for s in raw]


def _add(
    topology: dict[tuple[str, str], int],
    snapshot: Snapshot,
    existing: PodInfo,
    term: AffinityTerm,
    *,
    weight: int,
    candidate: PodInfo,
) -> None:
    """Credit ``weight`` to the existing pod's domain when ``candidate`` matches ``term``."""
    node = snapshot.nodes.get(existing.node_name)
    if node is None or node.node is None:
        return
    value = node.labels.get(term.topology_key)
    if value is None or not term.matches(candidate, snapshot.namespace_labels):
        return
    pair = (term.topology_key, value)
    topology[pair] = topology.get(pair, 0) + weight


# --- choosing the host --------------------------------------------------------------------


def select_host(nodes: Sequence[NodeInfo], totals: Sequence[int]) -> NodeInfo:
    """The node with the highest total; ties go to the smallest node name."""
    best = nodes[0]
    best_total = totals[0]
    for node, total in zip(nodes, totals, strict=True):
        if total > best_total or (total == best_total and node.name < best.name):
            best, best_total = node, total
    return best


DEFAULT_SCORES: tuple[ScorePlugin, ...] = (
    TaintTolerationScore(),
    NodeAffinityScore(),
    LeastAllocated(),
    PodTopologySpreadScore(),
    InterPodAffinityScore(),
    BalancedAllocation(),
)
