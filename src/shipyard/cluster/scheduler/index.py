"""A per-pod-shape index that answers a whole filter walk in O(log nodes).

For a pod that only NodeResourcesFit judges and only the resource scores tell nodes apart
(see ``scores.only_resources_differ``), a scheduling cycle's answer depends on each node
through one bit and one number: does the shape fit, and what is its LeastAllocated +
BalancedAllocation total. The walk (from ``start``, in node order, wrapping around, until
``want`` feasible nodes are found) then picks the best total among those nodes, ties going to
the smallest name.

:class:`ShapeIndex` keeps those per-node facts for one :class:`~.podinfo.Resources` shape in a
segment tree over the node order — per segment the number of feasible nodes and the best
``total × n + name rank`` key — so the walk's window (the ``want``-th feasible node from
``start``) and its best node are found by descending the tree instead of visiting hundreds
of nodes. The snapshot marks nodes dirty when their accounting changes, and the index
refreshes only those leaves before answering. Pods of one Deployment share a shape, so a
burst of them costs a few tree updates each. The answers are exactly the walk's (a property
test checks them against the plugin-by-plugin path).
"""

from __future__ import annotations

from shipyard.cluster.scheduler.filters import fit_memoised
from shipyard.cluster.scheduler.podinfo import Resources
from shipyard.cluster.scheduler.scores import resource_scores
from shipyard.cluster.scheduler.snapshot import NodeInfo

__all__ = ["ShapeIndex", "Walk"]

Walk = tuple[NodeInfo | None, int]
"""The best node of the walk's window (None when nothing fits) and how many nodes it spans."""


class ShapeIndex:
    """Feasibility and resource scores of every node for one pod shape (see the docstring)."""

    __slots__ = (
        "_best",
        "_by_rank",
        "_count",
        "_nodes",
        "_position",
        "_rank",
        "_size",
        "dirty",
        "res",
    )

    def __init__(self, res: Resources, nodes: list[NodeInfo]) -> None:
        self.res = res
        self._nodes = nodes
        self._position = {n.name: i for i, n in enumerate(nodes)}
        by_name = sorted(range(len(nodes)), key=lambda i: nodes[i].name)
        self._rank = [0] * len(nodes)
        self._by_rank = [0] * len(nodes)
        for order, i in enumerate(by_name):
            rank = len(nodes) - 1 - order  # the smallest name gets the largest rank
            self._rank[i] = rank
            self._by_rank[rank] = i
        size = 1
        while size < max(1, len(nodes)):
            size *= 2
        self._size = size
        self._count = [0] * (2 * size)
        self._best = [-1] * (2 * size)
        self.dirty: set[str] = set()
        for i in range(len(nodes)):
            self._set_leaf(i)
        for p in range(size - 1, 0, -1):
            self._pull(p)

    def refresh(self) -> None:
        """Re-read the nodes marked dirty."""
        for name in self.dirty:
            i = self._position.get(name)
            if i is not None:
                self._set_leaf(i)
                p = (i + self._size) // 2
                while p:
                    self._pull(p)
                    p //= 2
        self.dirty.clear()

    def walk(self, start: int, want: int) -> Walk:
        """The window from ``start`` holding ``want`` feasible nodes: its best node, its length."""
        n = len(self._nodes)
        before = self._range_count(0, start)
        after = self._count[1] - before
        if after >= want:
            spans = [(start, self._kth(before + want) + 1)]
        elif before >= want - after:
            spans = [(start, n), (0, self._kth(want - after) + 1)]
        else:  # fewer feasible nodes than wanted: the walk goes all the way round
            spans = [(start, n), (0, start)]
        best = max(self._range_best(lo, hi) for lo, hi in spans)
        length = sum(hi - lo for lo, hi in spans)
        if best < 0:
            return None, length
        return self._nodes[self._by_rank[best % n]], length

    # -- the tree ---------------------------------------------------------------------------

    def _set_leaf(self, i: int) -> None:
        node = self._nodes[i]
        leaf = i + self._size
        if fit_memoised(self.res, node) is not None:
            self._count[leaf], self._best[leaf] = 0, -1
            return
        least, balanced = resource_scores(self.res, node)
        self._count[leaf] = 1
        self._best[leaf] = (least + balanced) * len(self._nodes) + self._rank[i]

    def _pull(self, p: int) -> None:
        left, right = 2 * p, 2 * p + 1
        self._count[p] = self._count[left] + self._count[right]
        self._best[p] = max(self._best[left], self._best[right])

    def _range_count(self, lo: int, hi: int) -> int:
        total = 0
        lo += self._size
        hi += self._size
        while lo < hi:
            if lo & 1:
                total += self._count[lo]
                lo += 1
            if hi & 1:
                hi -= 1
                total += self._count[hi]
            lo //= 2
            hi //= 2
        return total

    def _range_best(self, lo: int, hi: int) -> int:
        best = -1
        lo += self._size
        hi += self._size
        while lo < hi:
            if lo & 1:
                best = max(best, self._best[lo])
                lo += 1
            if hi & 1:
                hi -= 1
                best = max(best, self._best[hi])
            lo //= 2
            hi //= 2
        return best

    def _kth(self, k: int) -> int:
        """The position of the k-th feasible node (1-based) in node order."""
        p = 1
        while p < self._size:
            left = 2 * p
            if self._count[left] >= k:
                p = left
            else:
                k -= self._count[left]
                p = left + 1
        return p - self._size
