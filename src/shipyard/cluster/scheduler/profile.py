"""One scheduling cycle for one pod: PreFilter, Filter over a share of the nodes, Score, pick.

:class:`Profile` is kube-scheduler's framework for one profile (the default plugins and
weights); :meth:`Profile.schedule` is ``schedulePod`` and touches nothing outside the
:class:`~.snapshot.Snapshot`, so it is tested with plain manifests:

1. **Nominated node first.** A pod that preemption nominated to a node is tried there alone;
   if it fits, that node is the answer (``evaluateNominatedNode``).
2. **Filter** walks the nodes in NodeTree order from where the previous cycle stopped
   (``nextStartNodeIndex``) and stops once it has found ``numFeasibleNodesToFind`` feasible
   nodes: every node below 100 nodes; else ``percentageOfNodesToScore`` percent of them —
   adaptively ``50 − nodes/125`` percent, at least 5 — but never fewer than 100. Each node
   gets the first rejecting plugin's status. A node with pods nominated to it (of the pod's
   priority or higher) must fit with those pods added too, so a preemptor's room is kept.
3. **Score** the feasible nodes (skipped when only one is feasible) and pick the best; ties go
   to the smallest node name (see :mod:`.scores`).

**Shortcuts with the same answers.** For a pod that only NodeResourcesFit judges and only the
resource scores tell nodes apart (the common Deployment replica), steps 2 and 3 are answered by
the pod shape's :class:`~.index.ShapeIndex` in O(log nodes); when only the resource scores
differ but other filters apply, the walk is plugin by plugin and the choice is made from the
resource scores alone. ``schedule(..., explain=True)`` always takes the plugin-by-plugin path
and records every scored node's total (the property tests compare the paths).

When nothing fits, :class:`ScheduleResult` carries every node's status, and ``message`` is
Kubernetes' ``0/N nodes are available: ...`` text (``no nodes available to schedule pods``
without nodes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shipyard.cluster.scheduler.filters import (
    DEFAULT_FILTERS,
    FilterPlugin,
    FilterState,
    is_fit_only,
)
from shipyard.cluster.scheduler.framework import NO_NODES, Status, fit_error_message
from shipyard.cluster.scheduler.index import ShapeIndex
from shipyard.cluster.scheduler.podinfo import PodInfo, Resources
from shipyard.cluster.scheduler.scores import (
    DEFAULT_SCORES,
    ScorePlugin,
    best_by_resources,
    only_resources_differ,
    select_host,
)
from shipyard.cluster.scheduler.snapshot import NodeInfo, Snapshot

__all__ = [
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "CycleState",
    "Profile",
    "ScheduleResult",
    "num_feasible_nodes_to_find",
]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
MAX_SHAPE_INDEXES = 8


def num_feasible_nodes_to_find(num_nodes: int, percentage: int | None = None) -> int:
    """How many feasible nodes end the filter walk (kube-scheduler's numFeasibleNodesToFind)."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_nodes
    pct = percentage or 0
    if pct <= 0:
        pct = max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, 50 - num_nodes // 125)
    found = num_nodes * pct // 100
    return max(found, MIN_FEASIBLE_NODES_TO_FIND)


class CycleState:
    """The pod's filter states for one cycle (only the plugins that apply to the pod)."""

    __slots__ = ("fns", "pod", "states")

    def __init__(self, pod: PodInfo, states: list[FilterState]) -> None:
        self.pod = pod
        self.states = states
        self.fns = tuple(s.filter for s in states)

    def filter(self, node: NodeInfo) -> Status | None:
        for fn in self.fns:
            status = fn(node)
            if status is not None:
                return status
        return None

    def copy(self) -> CycleState:
        return CycleState(self.pod, [s.copy() for s in self.states])

    def add_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        for s in self.states:
            s.add_pod(pod, node)

    def remove_pod(self, pod: PodInfo, node: NodeInfo) -> None:
        for s in self.states:
            s.remove_pod(pod, node)


@dataclass
class ScheduleResult:
    """The outcome of one cycle: a node, or why none fits."""

    pod: PodInfo
    node: str | None
    num_nodes: int
    statuses: dict[str, Status] = field(default_factory=dict)
    feasible_nodes: list[NodeInfo] = field(default_factory=list)
    scores: dict[str, int] = field(default_factory=dict)
    """Weighted totals per scored node; filled only by ``schedule(..., explain=True)``."""
    cycle: CycleState | None = None
    evaluated: int = 0
    """How many nodes the walk looked at (feasible or not)."""

    @property
    def feasible(self) -> list[str]:
        """Names of the feasible nodes the walk found, in walk order. Empty when a shape index
        answered the walk (it knows the best node, not the list); ``explain=True`` fills it."""
        return [n.name for n in self.feasible_nodes]

    @property
    def message(self) -> str:
        """The FitError text (without a preemption part), or "" when the pod was placed."""
        if self.node is not None:
            return ""
        if self.num_nodes == 0:
            return NO_NODES
        return fit_error_message(self.num_nodes, self.statuses.values())

    @property
    def rejected_by(self) -> set[str]:
        """The plugins that rejected nodes (what the queue waits on before retrying)."""
        return {s.plugin for s in self.statuses.values()}


class Profile:
    """The default profile's plugins, run for one pod at a time."""

    def __init__(
        self,
        *,
        filters: Sequence[FilterPlugin] = DEFAULT_FILTERS,
        scores: Sequence[ScorePlugin] = DEFAULT_SCORES,
        percentage_of_nodes_to_score: int | None = None,
    ) -> None:
        self.filters = tuple(filters)
        self.scores = tuple(scores)
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.next_start_index = 0

    def pre_filter(self, pod: PodInfo, snapshot: Snapshot) -> CycleState:
        states = [s for p in self.filters if (s := p.pre_filter(pod, snapshot)) is not None]
        return CycleState(pod, states)

    def run_filters(self, cycle: CycleState, node: NodeInfo, snapshot: Snapshot) -> Status | None:
        """All filters on one node, first with the pods nominated to it (RunFilterPluginsWith
        NominatedPods), then as it is."""
        nominated = snapshot.nominated.get(node.name)
        if nominated:
            pod = cycle.pod
            extra = [
                p for p in nominated.values() if p.key != pod.key and p.priority >= pod.priority
            ]
            if extra:
                with_them, state = node.copy(), cycle.copy()
                for p in extra:
                    with_them.add_pod(p)
                    state.add_pod(p, with_them)
                status = state.filter(with_them)
                if status is not None:
                    return status
        return cycle.filter(node)

    def schedule(
        self, pod: PodInfo, snapshot: Snapshot, *, explain: bool = False
    ) -> ScheduleResult:
        """One cycle; ``explain`` also records every scored node's total in ``scores``."""
        nodes = snapshot.node_list()
        result = ScheduleResult(pod, None, len(nodes))
        if not nodes:
            return result
        cycle = result.cycle = self.pre_filter(pod, snapshot)
        nominated = snapshot.nodes.get(pod.nominated_node) if pod.nominated_node else None
        if (
            nominated is not None
            and nominated.node is not None
            and self.run_filters(cycle, nominated, snapshot) is None
        ):
            result.node = nominated.name
            result.feasible_nodes = [nominated]
            result.evaluated = 1
            return result
        if (
            not explain
            and not snapshot.nominated
            and is_fit_only(cycle.states)
            and self.scores is DEFAULT_SCORES
            and only_resources_differ(pod, snapshot)
        ):
            best = self._walk_index(pod.resources, nodes, snapshot, result)
            if best is not None:
                result.node = best.name
                return result
        feasible = result.feasible_nodes = self._find_feasible(
            cycle, nodes, snapshot, result.statuses
        )
        result.evaluated = len(feasible) + len(result.statuses)
        if len(feasible) <= 1:
            result.node = feasible[0].name if feasible else None
        elif not explain and self.scores is DEFAULT_SCORES and only_resources_differ(pod, snapshot):
            result.node = best_by_resources(pod.resources, feasible).name
        else:
            totals = self.score(pod, feasible, snapshot)
            if explain:
                result.scores = {n.name: t for n, t in zip(feasible, totals, strict=True)}
            result.node = select_host(feasible, totals).name
        return result

    def _walk_order(self, nodes: list[NodeInfo]) -> tuple[list[NodeInfo], int, int]:
        """The nodes from where the last walk stopped, the start index and how many to find."""
        count = len(nodes)
        want = num_feasible_nodes_to_find(count, self.percentage_of_nodes_to_score)
        start = self.next_start_index % count
        return (nodes[start:] + nodes[:start] if start else nodes), start, want

    def _find_feasible(
        self,
        cycle: CycleState,
        nodes: list[NodeInfo],
        snapshot: Snapshot,
        statuses: dict[str, Status],
    ) -> list[NodeInfo]:
        ordered, start, want = self._walk_order(nodes)
        feasible: list[NodeInfo] = []
        nominated = snapshot.nominated
        for node in ordered:
            if nominated and node.name in nominated:
                status = self.run_filters(cycle, node, snapshot)
            else:
                status = cycle.filter(node)
            if status is None:
                feasible.append(node)
                if len(feasible) >= want:
                    break
            else:
                statuses[node.name] = status
        self.next_start_index = (start + len(feasible) + len(statuses)) % len(nodes)
        return feasible

    def _walk_index(
        self, res: Resources, nodes: list[NodeInfo], snapshot: Snapshot, result: ScheduleResult
    ) -> NodeInfo | None:
        """The walk answered by the shape's index (see :mod:`.index`); None when nothing fits,
        leaving the walk to the general path, which records every node's status."""
        index = snapshot.shape_indexes.pop(res, None)
        if not isinstance(index, ShapeIndex):
            index = ShapeIndex(res, nodes)
        else:
            index.refresh()
        snapshot.shape_indexes[res] = index  # most recently used last
        while len(snapshot.shape_indexes) > MAX_SHAPE_INDEXES:
            del snapshot.shape_indexes[next(iter(snapshot.shape_indexes))]
        start = self.next_start_index % len(nodes)
        want = num_feasible_nodes_to_find(len(nodes), self.percentage_of_nodes_to_score)
        best, length = index.walk(start, want)
        if best is not None:
            self.next_start_index = (start + length) % len(nodes)
            result.evaluated = length
        return best

    def score(self, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot) -> list[int]:
        """Weighted totals of every score plugin, in the order of ``nodes``."""
        totals = [0] * len(nodes)
        for plugin in self.scores:
            scores = plugin.score(pod, nodes, snapshot)
            if scores is None:
                continue
            weight = plugin.weight
            totals = [t + weight * s for t, s in zip(totals, scores, strict=True)]
        return totals
