"""The scheduler controller: kube-scheduler's loop over the embedded cluster.

``Scheduler(client)`` follows Pods, Nodes, Namespaces and PriorityClasses through the
client's change stream (``add_listener``, registered when it is built, after one initial
list) and keeps :class:`~.snapshot.Snapshot` and :class:`~.queue.SchedulingQueue` current —
no listing per pod. Pods it schedules: no ``spec.nodeName``, ``spec.schedulerName`` equal to
its ``scheduler_name``, not terminating, not finished, without scheduling gates (a gated pod
gets ``PodScheduled=False``, reason ``SchedulingGated``, once).

As a :class:`~shipyard.cluster.runtime.Controller` it watches Pods and Nodes and maps every
change to one key, the queue (:attr:`Scheduler.queue_key`); ``reconcile`` of that key moves
finished backoffs on, then schedules up to :data:`BATCH` pods in queue order (higher priority
first, then older) and asks to be called again when the next backoff or the unschedulable
fallback (60 s) is due, or at once when pods are left.

For each pod (``scheduleOne``):

- **Bound**: the pod is *assumed* on its node in the cache, then bound through the
  ``pods/binding`` subresource — ``spec.nodeName`` and ``PodScheduled=True`` in one write,
  carrying the resourceVersion the decision was made on (a pod changed meanwhile is a
  conflict, backs off and is decided again, never bound on stale facts) — then the Event
  ``Scheduled`` — ``Successfully assigned <ns>/<pod> to <node>`` — from ``default-scheduler``.
  Write errors are handled per pod (a conflict is not raised to the runtime, which would
  abandon the rest of the batch).
- **Unschedulable**: DefaultPreemption runs (:mod:`.preemption`); victims get the
  ``DisruptionTarget`` condition (reason ``PreemptionByScheduler``), are deleted gracefully
  and get the Event ``Preempted`` (``Preempted by pod <uid> on node <node>``); lower-priority
  pods nominated to that node lose their nomination. The pod's status gets ``PodScheduled=False``,
  reason ``Unschedulable``, with the FitError message, and ``nominatedNodeName`` when
  preemption chose a node (one status write, skipped when nothing changed), plus the Warning
  Event ``FailedScheduling`` with the same message (folded into a count by the recorder). The
  pod waits in the queue for an event that may help it: a node added or changed helps a pod
  that only node-local filters rejected when it now passes them on that node (QueueingHints;
  a node starting up changes several times before it can take pods). The status write is a
  status update of the version the scheduler holds, merged as the patch would be (the patch
  itself when that version is no longer the stored one).
- **Equivalent pods.** When a pod fails without preempting, its verdict (message, rejecting
  plugins) answers the next pods of the same template while the snapshot is unchanged
  (:mod:`.equivalence`): the replicas of a burst write the same statuses and Events, in the
  same order, without each running the filters and PostFilter again.

**Threads.** One lock guards the cache and the queue. A change delivered while another thread
holds it (a batch, in live mode) goes to an inbox the holder empties after each pod, so the
store's event delivery — shared by every controller — never waits on a scheduling batch.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import condition, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.scheduler.equivalence import FailureCache, Verdict
from shipyard.cluster.scheduler.framework import fit_error_message
from shipyard.cluster.scheduler.podinfo import (
    DEFAULT_SCHEDULER,
    PodInfo,
    PodKey,
    PriorityClassInfo,
    pod_key,
)
from shipyard.cluster.scheduler.preemption import (
    PREEMPTION_BY_SCHEDULER,
    Candidate,
    DisruptionBudget,
    budgets_of,
    preempt,
)
from shipyard.cluster.scheduler.profile import Profile, ScheduleResult
from shipyard.cluster.scheduler.queue import QueuedPod, SchedulingQueue
from shipyard.cluster.scheduler.snapshot import Snapshot
from shipyard.cluster.scheduler.status import merge_status
from shipyard.core.clock import format_time
from shipyard.core.errors import ConflictError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, meta
from shipyard.store.backends import DELETED
from shipyard.store.patch import apply_patch
from shipyard.store.watch import WatchEvent

__all__ = ["BATCH", "Scheduler"]

log = logging.getLogger(__name__)

BATCH = 500
"""Pods scheduled per reconcile before yielding to the other controllers."""

GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


class Scheduler:
    """kube-scheduler for one profile; see the module docstring."""

    name = "cluster.scheduler"

    def __init__(
        self,
        client: Client,
        *,
        recorder: EventRecorder | None = None,
        scheduler_name: str = DEFAULT_SCHEDULER,
        percentage_of_nodes_to_score: int | None = None,
    ) -> None:
        self._client = client
        self._clock = client.clock
        self.scheduler_name = scheduler_name
        self._recorder = recorder or EventRecorder(client, scheduler_name)
        self.profile = Profile(percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.snapshot = Snapshot()
        self.queue = SchedulingQueue()
        self.failures = FailureCache()
        self.queue_key = ObjectKey("scheduling.k8s.io/v1", "SchedulingQueue", "", scheduler_name)
        self._gated: dict[PodKey, PodInfo] = {}
        self._stamp: tuple[float, str] = (-1.0, "")
        self._lock = threading.RLock()
        self._inbox: deque[WatchEvent] = deque()
        self._unsubscribe = client.add_listener(self._on_event, kinds=_FOLLOWED_KINDS)
        self._initial_list()

    # -- the controller contract -------------------------------------------------------------

    def watches(self) -> list[Watches]:
        def to_queue(obj: Obj) -> tuple[ObjectKey, ...]:
            return (self.queue_key,)

        return [Watches("v1", "Pod", to_queue), Watches("v1", "Node", to_queue)]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            with self._lock:
                return self._schedule_batch(self._clock.now())
        finally:
            self._take_inbox()  # events other threads left while the batch held the lock

    def _schedule_batch(self, now: float) -> Result | None:
        self._take_inbox()
        self._mark_gated()
        self.queue.flush(now)
        for _ in range(BATCH):
            queued = self.queue.pop()
            if queued is None:
                break
            self._attempt(queued, now)
            self._take_inbox()
        else:
            return Result(requeue_after=0)
        wake = self.queue.next_wakeup()
        return None if wake is None else Result(requeue_after=max(0.0, wake - now))

    def close(self) -> None:
        """Stop following the cluster."""
        self._unsubscribe()

    # -- following the cluster ---------------------------------------------------------------

    def _initial_list(self) -> None:
        with self._lock:
            for kind in (("scheduling.k8s.io/v1", "PriorityClass"), ("v1", "Namespace"),
                         ("v1", "Node"), ("v1", "Pod")):  # fmt: skip
                for obj in self._client.list(*kind).items:
                    self._apply("ADDED", obj)

    def _on_event(self, event: WatchEvent) -> None:
        """A change: applied now, or — while another thread holds the scheduler for a batch —
        left in the inbox for that thread, so the store's event delivery never waits on us."""
        if event.object.get("kind") in _FOLLOWED:
            self._inbox.append(event)
            self._take_inbox()

    def _take_inbox(self) -> None:
        while self._inbox and self._lock.acquire(blocking=False):
            try:
                while self._inbox:
                    event = self._inbox.popleft()
                    self._apply(event.type, event.object)
            finally:
                self._lock.release()

    def _apply(self, type_: str, obj: Obj) -> None:
        kind = obj.get("kind")
        if kind == "Pod":
            self._on_pod(type_, obj)
        elif kind == "Node":
            self._on_node(type_, obj)
        elif kind == "Namespace":
            name = str(meta(obj).get("name"))
            if type_ == DELETED:
                self.snapshot.remove_namespace(name)
            else:
                self.snapshot.set_namespace(name, meta(obj).get("labels") or {})
        elif kind == "PriorityClass":
            if type_ == DELETED:
                self.snapshot.remove_priority_class(str(meta(obj).get("name")))
            else:
                self.snapshot.set_priority_class(PriorityClassInfo.from_object(obj))

    def _on_node(self, type_: str, node: Obj) -> None:
        now = self._clock.now()
        name = str(meta(node).get("name"))
        if type_ == DELETED:
            self.snapshot.remove_node(name)
        elif self.snapshot.set_node(node):
            self.queue.move_all(now, hint=self._node_hint(name))

    def _node_hint(self, name: str) -> Callable[[QueuedPod], bool]:
        """QueueingHint of a node added or changed: does it help this unschedulable pod?

        A pod that only node-local plugins rejected (:data:`NODE_LOCAL`: their verdict on a
        node depends on that node alone) can only become schedulable on a node that changed;
        it is moved when it now passes the filters there. Any other pod is moved. Equivalent
        pods share one answer per event."""
        info = self.snapshot.nodes[name]
        answers: dict[Hashable, bool] = {}

        def helps(qp: QueuedPod) -> bool:
            pod = qp.info
            if not qp.rejected_by <= NODE_LOCAL or pod.nominated_node:
                return True
            key = pod.equivalence_key()
            if key is not None and key in answers:
                return answers[key]
            cycle = self.profile.pre_filter(pod, self.snapshot)
            fits = self.profile.run_filters(cycle, info, self.snapshot) is None
            if key is not None:
                answers[key] = fits
            return fits

        return helps

    def _on_pod(self, type_: str, pod: Obj) -> None:
        now = self._clock.now()
        key = pod_key(pod)
        bound_before = self.snapshot.pods.get(key)
        if type_ == DELETED:
            self._forget_pending(key)
            if self.snapshot.remove_pod(key) is not None:
                self.queue.pod_deleted(now)
            return
        queued = self.queue.get(key)
        previous = bound_before or (queued.info if queued is not None else None)
        if previous is not None and _older(pod, previous.obj):
            return
        info = self.snapshot.pod_info(pod, previous)
        if info.node_name:
            self._forget_pending(key)
            self.snapshot.set_pod(info)
            if bound_before is None and not info.terminal:
                self.queue.pod_added(now)
            elif bound_before is not None and info.terminal:
                self.queue.pod_deleted(now)
            elif bound_before is not None and bound_before.labels != info.labels:
                self.queue.pod_added(now)
            return
        self._on_pending(info, previous, now)

    def _on_pending(self, info: PodInfo, previous: PodInfo | None, now: float) -> None:
        if info.scheduler_name != self.scheduler_name or info.terminating or info.terminal:
            self._forget_pending(info.key)
            return
        if info.gated:
            self.queue.delete(info.key)
            self._gated[info.key] = info
            return
        self._gated.pop(info.key, None)
        relevant = (
            previous is None or previous.spec is not info.spec or previous.labels != info.labels
        )
        self.queue.add(info, now, relevant=relevant)
        if info.nominated_node:
            self.snapshot.nominate(info, info.nominated_node)
        else:
            self.snapshot.clear_nomination(info.key)

    def _forget_pending(self, key: PodKey) -> None:
        self.queue.delete(key)
        self.snapshot.clear_nomination(key)
        self._gated.pop(key, None)

    # -- one scheduling attempt --------------------------------------------------------------

    def _attempt(self, queued: QueuedPod, now: float) -> None:
        try:
            known = self.failures.lookup(queued.info, self.snapshot, self.profile)
            if known is not None:  # an equivalent pod failed on this very snapshot
                self._record_unschedulable(queued.info, known.message, "", now)
                self.queue.failed(queued, now, rejected_by=known.rejected_by)
                return
            result = self.profile.schedule(queued.info, self.snapshot)
            if result.node is not None:
                self._bind(queued, result.node, now)
            else:
                self._unschedulable(queued, result, now)
        except Exception:
            log.exception("scheduling %s/%s failed", queued.info.namespace, queued.info.name)
            self.queue.failed(queued, now, rejected_by=None)

    def _bind(self, queued: QueuedPod, node: str, now: float) -> None:
        info = queued.info
        assumed = info.assumed_on(node)
        self.snapshot.clear_nomination(info.key)
        self.snapshot.set_pod(assumed)
        try:
            # Carries the resourceVersion the decision was made on: a pod changed meanwhile
            # is a conflict and is tried again, never bound on stale facts.
            bound = self._client.bind(
                info.name,
                namespace=info.namespace,
                node=node,
                resource_version=str(meta(info.obj).get("resourceVersion") or "") or None,
                copy=False,
            )
        except ConflictError:  # changed since the decision: back off, then decide again
            self._forget_assumed(assumed)
            self.queue.failed(queued, now, rejected_by=None)
            return
        except NotFoundError:
            self._forget_assumed(assumed)
            self.queue.done(info.key)
            return
        except ShipyardError as e:
            log.warning("binding %s/%s to %s failed: %s", info.namespace, info.name, node, e)
            self._forget_assumed(assumed)
            self.queue.failed(queued, now, rejected_by=None)
            return
        # When the watch event comes later (another thread delivers it), it is then recognised
        # by its resourceVersion and the parse is reused.
        assumed.set_object(bound)
        self.queue.done(info.key)
        self.queue.pod_added(now)
        self._recorder.event(
            info.obj,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {info.namespace}/{info.name} to {node}",
        )

    def _time(self, now: float) -> str:
        if self._stamp[0] != now:
            self._stamp = (now, format_time(now))
        return self._stamp[1]

    def _forget_assumed(self, assumed: PodInfo) -> None:
        current = self.snapshot.pods.get(assumed.key)
        if current is assumed:
            self.snapshot.remove_pod(assumed.key)

    def _unschedulable(self, queued: QueuedPod, result: ScheduleResult, now: float) -> None:
        info = queued.info
        rejected_by = frozenset(result.rejected_by)
        if result.num_nodes:
            message, nominated = self._post_filter(info, result, now)
        else:
            message, nominated = result.message, info.nominated_node
        if not nominated:  # no eviction: the verdict holds for equivalent pods
            verdict = Verdict(message, rejected_by)
            self.failures.remember(info, self.snapshot, self.profile, verdict)
        self._record_unschedulable(info, message, nominated, now)
        self.queue.failed(queued, now, rejected_by=rejected_by)

    def _post_filter(self, info: PodInfo, result: ScheduleResult, now: float) -> tuple[str, str]:
        """Preemption: the full FitError message and the node the pod is nominated to."""
        outcome = preempt(self.profile, result, self.snapshot, self._budgets)
        nominated = info.nominated_node
        if outcome.candidate is not None:
            self._evict(outcome.candidate, info, now)
            nominated = outcome.candidate.node
        elif not outcome.keep_nomination:
            nominated = ""
        message = fit_error_message(
            result.num_nodes, result.statuses.values(), post_filter=outcome.message
        )
        return message, nominated

    def _budgets(self) -> list[DisruptionBudget]:
        pdbs = self._client.list("policy/v1", "PodDisruptionBudget", copy=False).items
        return budgets_of(pdbs, stored=True)

    def _evict(self, candidate: Candidate, preemptor: PodInfo, now: float) -> None:
        reason = f"{self.scheduler_name}: preempting to accommodate a higher priority pod"
        target = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": PREEMPTION_BY_SCHEDULER,
            "message": reason,
            "lastTransitionTime": self._time(now),
        }
        for victim in candidate.victims:
            if victim.terminating:
                continue
            try:
                self._client.patch(
                    "v1", "Pod", victim.name, {"status": {"conditions": [target]}},
                    namespace=victim.namespace, patch_type="strategic", subresource="status",
                )  # fmt: skip
                self._client.delete("v1", "Pod", victim.name, namespace=victim.namespace)
            except NotFoundError:
                continue
            self._recorder.event(
                victim.obj,
                NORMAL,
                "Preempted",
                f"Preempted by pod {preemptor.uid} on node {candidate.node}",
            )
        for other in list(self.snapshot.nominated_on(candidate.node)):
            if other.priority < preemptor.priority and other.key != preemptor.key:
                self.snapshot.clear_nomination(other.key)
                self._patch_status(other, {"nominatedNodeName": None})
        self.snapshot.nominate(preemptor, candidate.node)

    def _record_unschedulable(
        self, info: PodInfo, message: str, nominated: str, now: float
    ) -> None:
        status: dict[str, Any] = {}
        probe: Obj = {"status": {"conditions": [dict(c) for c in _conditions(info.obj)]}}
        if set_condition(
            probe, "PodScheduled", "False", now=now, reason="Unschedulable", message=message
        ):
            status["conditions"] = [condition(probe, "PodScheduled")]
        if nominated != info.nominated_node:
            status["nominatedNodeName"] = nominated or None
            if nominated:
                self.snapshot.nominate(info, nominated)
            else:
                self.snapshot.clear_nomination(info.key)
        if status:
            self._patch_status(info, status)
        self._recorder.event(info.obj, WARNING, "FailedScheduling", message)

    def _mark_gated(self) -> None:
        """PodScheduled=False, reason SchedulingGated, on gated pods that do not show it yet."""
        for info in list(self._gated.values()):
            current = condition(info.obj, "PodScheduled") or {}
            if current.get("reason") != "SchedulingGated":
                probe: Obj = {"status": {"conditions": [dict(c) for c in _conditions(info.obj)]}}
                set_condition(
                    probe, "PodScheduled", "False", now=self._clock.now(),
                    reason="SchedulingGated", message=GATED_MESSAGE,
                )  # fmt: skip
                self._patch_status(info, {"conditions": [condition(probe, "PodScheduled")]})
        self._gated.clear()

    def _patch_status(self, info: PodInfo, status: Mapping[str, Any]) -> None:
        """A strategic merge patch of the pod's status (see :meth:`_update_status`)."""
        try:
            if not self._update_status(info, status):
                self._client.patch(
                    "v1", "Pod", info.name, {"status": dict(status)}, namespace=info.namespace,
                    patch_type="strategic", subresource="status",
                )  # fmt: skip
        except NotFoundError:
            pass
        except ShipyardError as e:
            log.warning("status of %s/%s not written: %s", info.namespace, info.name, e)

    def _update_status(self, info: PodInfo, status: Mapping[str, Any]) -> bool:
        """The patch, written as a status update of the version the scheduler holds, merged
        as the store's strategic merge does (:mod:`.status`, else the store's own merge): the
        very write the patch makes while that version is the stored one, without copying the
        whole pod to merge into and the result back.
        False when it is not the stored version (a conflict: the patch merges into the
        stored one) or carries no resourceVersion to check."""
        obj = info.obj
        if not meta(obj).get("resourceVersion"):
            return False
        merged = merge_status(obj.get("status"), status)  # the scheduler's own patch shapes
        if merged is None:
            base = {"status": obj["status"]} if "status" in obj else {}
            patch = {"status": dict(status)}
            merged = apply_patch(base, patch, "strategic", api_version="v1", kind="Pod")["status"]
        try:
            self._client.update_status({**obj, "status": merged}, handoff=True)
        except ConflictError:
            return False
        return True


_FOLLOWED = frozenset({"Pod", "Node", "Namespace", "PriorityClass"})
NODE_LOCAL = frozenset(
    {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
     "NodeResourcesFit"}
)  # fmt: skip
"""Filter plugins whose verdict on a node depends only on the pod and that node."""
_FOLLOWED_KINDS = (
    ("v1", "Pod"),
    ("v1", "Node"),
    ("v1", "Namespace"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
)


def _older(new: Obj, old: Obj) -> bool:
    """Is ``new`` an older version than ``old`` (a late event)?"""
    try:
        return int(meta(new).get("resourceVersion") or 0) < int(
            meta(old).get("resourceVersion") or 0
        )
    except (TypeError, ValueError):
        return False


def _conditions(pod: Obj) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("conditions") or ())
