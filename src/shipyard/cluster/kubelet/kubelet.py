"""The kubelet of one node: registration, heartbeats, node status and the pod workers.

A :class:`Kubelet` is started by :class:`~.agents.KubeletManager` for each Node object. Like
Kubernetes' kubelet it:

- **Registers** the node: posts its status (see :mod:`.nodestatus`: Ready, pressures,
  addresses, nodeInfo, capacity), removes the ``node.kubernetes.io/not-ready`` taint and
  records ``Starting`` ("Starting kubelet.") and the condition Events.
- **Heart-beats** through a ``coordination.k8s.io/v1`` Lease named after the node in
  ``kube-node-lease`` (``holderIdentity``, ``leaseDurationSeconds: 40``, an owner reference
  to the Node so it goes with it): every ``heartbeat_seconds`` (10) it writes only the Lease's
  ``renewTime``. The node status is posted only when it changed, or every
  ``status_report_seconds`` (300, ``nodeStatusReportFrequency``). One clock timer per kubelet
  does all of this, so a thousand nodes cost a thousand small Lease writes per 10 s and
  nothing else.
- **Runs pods** bound to it (``spec.nodeName``): one :class:`~.pods.PodWorker` each. Pod
  work is driven by the manager's reconciles (the controller runtime's queue and timers, one
  reconcile at a time): ``sync_pod`` syncs the worker, writes its status with the
  resourceVersion it was computed from (a conflict is raised and the runtime re-reads), deletes
  the pod with ``grace_period_seconds=0`` once terminated, and remembers when the worker next
  wants a look (``wake_of``). The kubelet's only timer is the heartbeat, which touches nothing
  but the Lease and the Node, so it never waits on the reconcile loop.

``kill()`` makes the kubelet stop heart-beating and syncing (a dead kubelet, or a node cut
off the network): its containers keep the state they had; ``revive()`` registers again and
re-lists its pods, as a restarted kubelet does. ``stop()`` is for a deleted Node: containers
are stopped and forgotten, while the pods themselves are left to the pod garbage collector.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, EventRecorder
from shipyard.cluster.kubelet.nodestatus import NodeFacts, condition_events, node_status
from shipyard.cluster.kubelet.pods import PodWorker, SyncOutcome
from shipyard.cluster.kubelet.probes import EPSILON
from shipyard.cluster.kubelet.runtime import ContainerRuntime
from shipyard.core.clock import TimerHandle, format_time
from shipyard.core.errors import ConflictError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, key_of, meta

__all__ = [
    "LEASE_DURATION_SECONDS",
    "LEASE_NAMESPACE",
    "NOT_READY_TAINT",
    "Kubelet",
    "delete_pod_now",
    "micro_time",
]

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def micro_time(ts: float) -> str:
    """RFC 3339 with microseconds, as a Lease's ``renewTime`` (``MicroTime``) is written."""
    whole = math.floor(ts)
    micros = min(999_999, round((ts - whole) * 1_000_000))
    return f"{format_time(whole)[:-1]}.{micros:06d}Z"


def delete_pod_now(client: Client, pod: Obj) -> None:
    """Delete a pod the kubelet finished with: ``grace_period_seconds=0``, this uid only."""
    md = meta(pod)
    # NotFound: gone already; Conflict: a new pod of the same name, not ours to delete.
    with contextlib.suppress(NotFoundError, ConflictError):
        client.delete(
            "v1",
            "Pod",
            str(md.get("name")),
            namespace=str(md.get("namespace") or ""),
            preconditions={"uid": md.get("uid")},
            grace_period_seconds=0,
        )


class Kubelet:
    """One node's agent (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        node_name: str,
        runtime: ContainerRuntime,
        *,
        facts: NodeFacts,
        recorder: EventRecorder | None = None,
        heartbeat_seconds: float = 10.0,
        status_report_seconds: float = 300.0,
    ) -> None:
        self.node_name = node_name
        self._client = client
        self._clock = client.clock
        self._runtime = runtime
        self._facts = facts
        self._recorder = recorder or EventRecorder(client, "kubelet", host=node_name)
        self._heartbeat = heartbeat_seconds
        self._report_every = status_report_seconds
        self._node: Obj | None = None
        self._alive = False
        self._resync = False
        self._last_report = -math.inf
        self._beat: TimerHandle | None = None
        self._lease: Obj | None = None  # the Lease as last written by this kubelet
        # the Node version (and facts) whose status was last found to be what this kubelet
        # would post: the same shared version need not be recomputed at every heartbeat
        self._unchanged: tuple[Obj, NodeFacts] | None = None
        self._workers: dict[ObjectKey, PodWorker] = {}
        self._synced: dict[ObjectKey, str] = {}  # the pod version each worker last synced
        self._wakes: dict[ObjectKey, float] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def internal_ip(self) -> str:
        return self._facts.internal_ip

    def start(self, node: Obj) -> None:
        """Register the node, take the Lease, and ask for the pods bound here."""
        self._node = node
        self._alive = True
        self._resync = True
        self._event(node, "Starting", "Starting kubelet.")
        self._guard(lambda: self._report_status(force=True))
        self._guard(self._remove_not_ready_taint)
        self._guard(self._renew_lease)
        self._arm_beat()

    def kill(self) -> None:
        """Stop heart-beating and syncing pods, leaving containers as they are."""
        self._alive = False
        self._cancel_beat()

    def revive(self) -> None:
        """Come back after ``kill``: register again and re-list the pods (a new boot ID)."""
        if self._alive:
            return
        self._facts = replace(self._facts, boot=self._facts.boot + 1)
        node = self._guard(self._fresh_node) or self._node
        if node is not None:
            self.start(node)

    def stop(self) -> None:
        """The Node is gone: stop and forget every container of its pods."""
        self._alive = False
        self._cancel_beat()
        for key in list(self._workers):
            self.forget_pod(key)

    def _cancel_beat(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None

    # -- the node ---------------------------------------------------------------------------

    def observe_node(self, node: Obj) -> None:
        """The Node changed (somebody else wrote it): remember it for the next status check."""
        self._node = node

    def _arm_beat(self) -> None:
        self._beat = self._clock.call_later(self._heartbeat, self._on_beat)

    def _on_beat(self) -> None:
        if not self._alive:
            return
        self._guard(self._renew_lease)
        self._guard(lambda: self._report_status(force=False))
        self._guard(self._remove_not_ready_taint)
        self._arm_beat()

    def _renew_lease(self) -> None:
        """Update the Lease from the copy this kubelet last wrote (as the kubelet does: one
        write, read again only on a conflict), or create it."""
        now = micro_time(self._clock.now())
        lease = self._lease
        if lease is not None:
            spec = {**(lease.get("spec") or {}), "holderIdentity": self.node_name}
            try:
                self._lease = self._client.update(
                    {**lease, "spec": {**spec, "renewTime": now}}, handoff=True
                )
                return
            except (ConflictError, NotFoundError):
                self._lease = None
        try:
            self._lease = self._client.patch(
                "coordination.k8s.io/v1",
                "Lease",
                self.node_name,
                {"spec": {"holderIdentity": self.node_name, "renewTime": now}},
                namespace=LEASE_NAMESPACE,
            )
        except NotFoundError:
            self._lease = self._client.create(self._new_lease(now))

    def _new_lease(self, renew: str) -> Obj:
        md: dict[str, Any] = {"name": self.node_name, "namespace": LEASE_NAMESPACE}
        node_md = meta(self._node or {})
        if node_md.get("uid"):
            md["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": node_md["uid"]}
            ]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": md,
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": renew,
            },
        }

    def _report_status(self, *, force: bool) -> None:
        """Post the node status if it changed, or the report period is over, or ``force``."""
        node = self._node
        if node is None:
            return
        now = self._clock.now()
        old = node.get("status") or {}
        due = force or now - self._last_report >= self._report_every - EPSILON
        if not due:
            checked = self._unchanged
            if checked is not None and checked[0] is node and checked[1] is self._facts:
                return
            if node_status(node, self._facts, now=now, heartbeat=False) == old:
                self._unchanged = (node, self._facts)
                return
        try:
            written = self._post_status(node, now)
        except ConflictError:
            written = self._post_status(self._fresh_node(), now)
        self._node, self._last_report = written, now
        for reason, message in condition_events(old, written.get("status") or {}, self.node_name):
            self._event(written, reason, message)

    def _post_status(self, node: Obj, now: float) -> Obj:
        status = node_status(node, self._facts, now=now, heartbeat=True)
        return self._client.update_status({**node, "status": status}, handoff=True)

    def _fresh_node(self) -> Obj:
        return self._client.get("v1", "Node", self.node_name)

    def _remove_not_ready_taint(self) -> None:
        node = self._node
        taints = ((node or {}).get("spec") or {}).get("taints") or []
        kept = [t for t in taints if t.get("key") != NOT_READY_TAINT]
        if node is None or len(kept) == len(taints):
            return
        fresh = self._fresh_node()
        fresh_taints = (fresh.get("spec") or {}).get("taints") or []
        fresh.setdefault("spec", {})["taints"] = [
            t for t in fresh_taints if t.get("key") != NOT_READY_TAINT
        ]
        self._node = self._client.update(fresh)

    def _event(self, obj: Obj, reason: str, message: str, type_: str = NORMAL) -> None:
        self._recorder.event(obj, type_, reason, message)

    # -- pods (run by the manager's reconciles, one at a time) -----------------------------

    def take_resync(self) -> bool:
        """Whether the kubelet (re)started and wants every pod bound here synced; asks once."""
        wanted, self._resync = self._resync, False
        return wanted and self._alive

    def up_to_date(self, pod: Obj) -> bool:
        """This version of the pod was synced already (or written by this kubelet), and
        nothing is due yet."""
        key = key_of(pod)
        rv = meta(pod).get("resourceVersion")
        if rv is None or self._synced.get(key) != rv:
            return False
        wake = self._wakes.get(key)
        return wake is None or wake > self._clock.now() + EPSILON

    def wake_of(self, key: ObjectKey) -> float | None:
        """When the pod's worker next needs a sync (absolute time)."""
        return self._wakes.get(key)

    def sync_pod(self, pod: Obj) -> None:
        """Sync the worker of a pod bound here; write its status, or delete it when finished
        terminating. Conflicts are raised (the caller re-reads and tries again)."""
        if not self._alive:
            return
        key = key_of(pod)
        worker = self._workers.get(key)
        if worker is not None and worker.uid != str(meta(pod).get("uid") or ""):
            self.forget_pod(key)
            worker = None
        if worker is None:
            worker = self._new_worker(pod)
            self._workers[key] = worker
        else:
            worker.pod = pod
        self._wakes.pop(key, None)
        self._apply(key, worker, worker.sync())

    def forget_pod(self, key: ObjectKey) -> None:
        """The pod is gone from the API (or left this node): kill and forget its containers."""
        worker = self._workers.pop(key, None)
        self._synced.pop(key, None)
        self._wakes.pop(key, None)
        if worker is not None:
            worker.stop_all()

    def pod_keys(self) -> list[ObjectKey]:
        return list(self._workers)

    def _new_worker(self, pod: Obj) -> PodWorker:
        return PodWorker(
            pod,
            runtime=self._runtime,
            events=self._recorder.event,
            now=self._clock.now,
            host_ip=self._facts.internal_ip,
        )

    def _apply(self, key: ObjectKey, worker: PodWorker, outcome: SyncOutcome) -> None:
        if outcome.status is not None:
            worker.pod = self._client.update_status(
                {**worker.pod, "status": outcome.status}, handoff=True
            )
        self._synced[key] = str(meta(worker.pod).get("resourceVersion"))
        if outcome.delete:
            delete_pod_now(self._client, worker.pod)
            self.forget_pod(key)
        elif outcome.wake_at is not None:
            self._wakes[key] = outcome.wake_at

    def _guard(self, step: Callable[[], Any]) -> Any:
        """Run a node-level step; a failure is logged and retried at the next heartbeat."""
        try:
            return step()
        except ShipyardError as e:
            log.warning("kubelet %s: %s", self.node_name, e)
            return None
