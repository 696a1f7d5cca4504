"""The scheduling queue: kube-scheduler's PriorityQueue with its three places for a pod.

- **activeQ**: pods to try now, highest priority first, then the oldest (creation time, then
  namespace/name — the PrioritySort plugin orders by queue time; creation time is what a user
  can see and it is deterministic).
- **backoffQ**: pods that failed recently wait ``1s × 2^(attempts−1)``, at most 10 s
  (``podInitialBackoffSeconds``, ``podMaxBackoffSeconds``).
- **unschedulable pods**: pods no node fits wait for a cluster event that may help them, as
  QueueingHints decide it: a node added or changed helps the pods the caller's hint says it
  helps (the scheduler asks whether the pod now passes the filters on that node — see
  :meth:`SchedulingQueue.move_all`); a bound pod deleted helps
  pods rejected by NodeResourcesFit, NodePorts, PodTopologySpread or InterPodAffinity; a bound
  pod added, or its labels changed, helps pods rejected by PodTopologySpread or
  InterPodAffinity. A moved pod still inside its backoff goes to backoffQ. As a fallback every
  unschedulable pod is retried after :data:`UNSCHEDULABLE_RETRY_SECONDS`: 60 s, where
  kube-scheduler waits 5 minutes (``podMaxInUnschedulablePodsDuration``) — a simulation should
  not sit on a stale verdict for long, and the events above cover the common cases anyway.

A pod that failed while an event arrived during its attempt goes to backoffQ rather than the
unschedulable pods (kube's ``moveRequestCycle``), so the event is not lost. Times are passed in
by the caller; the queue reads no clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from shipyard.cluster.scheduler.podinfo import PodInfo, PodKey

__all__ = [
    "ACTIVE",
    "BACKOFF",
    "INITIAL_BACKOFF_SECONDS",
    "MAX_BACKOFF_SECONDS",
    "UNSCHEDULABLE",
    "UNSCHEDULABLE_RETRY_SECONDS",
    "QueuedPod",
    "SchedulingQueue",
    "backoff_seconds",
]

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
UNSCHEDULABLE_RETRY_SECONDS = 60.0
ACTIVE = "active"
BACKOFF = "backoff"
UNSCHEDULABLE = "unschedulable"
IN_FLIGHT = "in-flight"

# Plugins whose rejection a freed (deleted) pod may resolve, and a new or relabelled one.
POD_DELETE_HELPS = frozenset(
    {"NodeResourcesFit", "NodePorts", "PodTopologySpread", "InterPodAffinity"}
)
POD_ADD_HELPS = frozenset({"PodTopologySpread", "InterPodAffinity"})


def backoff_seconds(attempts: int) -> float:
    if attempts <= 0:
        return 0.0
    return min(MAX_BACKOFF_SECONDS, INITIAL_BACKOFF_SECONDS * (1 << min(attempts - 1, 16)))


@dataclass
class QueuedPod:
    info: PodInfo
    attempts: int = 0
    last_failure: float = 0.0
    rejected_by: frozenset[str] = frozenset()
    unschedulable_since: float = 0.0
    place: str = ACTIVE
    seq: int = 0
    moves_at_pop: int = 0
    message: str = field(default="", compare=False)

    @property
    def backoff_until(self) -> float:
        return self.last_failure + backoff_seconds(self.attempts)


class SchedulingQueue:
    """Pending pods by place; see the module docstring."""

    def __init__(self) -> None:
        self._pods: dict[PodKey, QueuedPod] = {}
        self._active: list[tuple[int, float, str, str, int]] = []
        self._backoff: list[tuple[float, int, PodKey]] = []
        self._unschedulable: dict[PodKey, QueuedPod] = {}
        self._seq = 0
        self._moves = 0

    def __len__(self) -> int:
        return len(self._pods)

    def __contains__(self, key: object) -> bool:
        return key in self._pods

    def get(self, key: PodKey) -> QueuedPod | None:
        return self._pods.get(key)

    def place_of(self, key: PodKey) -> str | None:
        qp = self._pods.get(key)
        return None if qp is None else qp.place

    def pending(self, place: str) -> list[PodKey]:
        return sorted(k for k, qp in self._pods.items() if qp.place == place)

    # -- arrivals and departures -------------------------------------------------------------

    def add(self, info: PodInfo, now: float, *, relevant: bool = True) -> None:
        """A pending pod (new or updated). An update that may help an unschedulable pod moves
        it on; other updates only refresh what the queue holds."""
        qp = self._pods.get(info.key)
        if qp is None:
            qp = self._pods[info.key] = QueuedPod(info)
            self._to_active(qp)
            return
        priority_changed = qp.info.priority != info.priority
        qp.info = info
        if qp.place == UNSCHEDULABLE and relevant:
            self._move(qp, now)
        elif qp.place == ACTIVE and priority_changed:
            self._to_active(qp)

    def delete(self, key: PodKey) -> None:
        qp = self._pods.pop(key, None)
        if qp is not None:
            self._unschedulable.pop(key, None)
            qp.place = ""

    # -- the scheduling loop ----------------------------------------------------------------

    def pop(self) -> QueuedPod | None:
        """The next pod to try, marked in flight."""
        while self._active:
            _, _, ns, name, seq = heapq.heappop(self._active)
            qp = self._pods.get((ns, name))
            if qp is not None and qp.place == ACTIVE and qp.seq == seq:
                qp.place = IN_FLIGHT
                qp.moves_at_pop = self._moves
                return qp
        return None

    def done(self, key: PodKey) -> None:
        """The pod was bound (or handed elsewhere): forget it."""
        self.delete(key)

    def failed(self, qp: QueuedPod, now: float, *, rejected_by: frozenset[str] | None) -> None:
        """An attempt failed: unschedulable (``rejected_by`` the plugins), or an error (None)."""
        if self._pods.get(qp.info.key) is not qp:
            return
        qp.attempts += 1
        qp.last_failure = now
        if rejected_by is None or self._moves != qp.moves_at_pop:
            self._to_backoff(qp)
            return
        qp.rejected_by = rejected_by
        qp.unschedulable_since = now
        qp.place = UNSCHEDULABLE
        self._unschedulable[qp.info.key] = qp

    # -- cluster events ---------------------------------------------------------------------

    def move_all(
        self,
        now: float,
        helps: frozenset[str] | None = None,
        *,
        hint: Callable[[QueuedPod], bool] | None = None,
    ) -> None:
        """A cluster event: move the unschedulable pods it may help — rejected by one of the
        plugins in ``helps`` (None: any), and for which ``hint`` (when given) says yes."""
        self._moves += 1
        for qp in list(self._unschedulable.values()):
            if (helps is None or qp.rejected_by & helps) and (hint is None or hint(qp)):
                self._move(qp, now)

    def pod_deleted(self, now: float) -> None:
        self.move_all(now, POD_DELETE_HELPS)

    def pod_added(self, now: float) -> None:
        self.move_all(now, POD_ADD_HELPS)

    def flush(self, now: float) -> None:
        """Backoffs that ended go active; unschedulable pods past the fallback are retried."""
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qp = self._pods.get(key)
            if qp is not None and qp.place == BACKOFF and qp.seq == seq:
                self._to_active(qp)
        for qp in list(self._unschedulable.values()):
            if qp.unschedulable_since + UNSCHEDULABLE_RETRY_SECONDS <= now:
                self._move(qp, now)

    def next_wakeup(self) -> float | None:
        """When :meth:`flush` next has something to do, if ever."""
        times = [
            qp.unschedulable_since + UNSCHEDULABLE_RETRY_SECONDS
            for qp in self._unschedulable.values()
        ]
        while self._backoff:
            ready, seq, key = self._backoff[0]
            qp = self._pods.get(key)
            if qp is not None and qp.place == BACKOFF and qp.seq == seq:
                times.append(ready)
                break
            heapq.heappop(self._backoff)
        return min(times, default=None)

    # -- plumbing ---------------------------------------------------------------------------

    def _move(self, qp: QueuedPod, now: float) -> None:
        self._unschedulable.pop(qp.info.key, None)
        if qp.backoff_until > now:
            self._to_backoff(qp)
        else:
            self._to_active(qp)

    def _to_active(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.info.key, None)
        self._seq += 1
        qp.seq, qp.place = self._seq, ACTIVE
        info = qp.info
        heapq.heappush(
            self._active, (-info.priority, info.created, info.namespace, info.name, self._seq)
        )

    def _to_backoff(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.info.key, None)
        self._seq += 1
        qp.seq, qp.place = self._seq, BACKOFF
        heapq.heappush(self._backoff, (qp.backoff_until, self._seq, qp.info.key))
