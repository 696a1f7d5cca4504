"""Pod garbage collection (``pkg/controller/podgc``): what nobody else will delete.

:class:`PodGCController` (``cluster.podgc``) force-deletes (grace period 0):

- **Orphaned pods**: pods bound to a node that no longer exists. The node must be missing for
  a quarantine (40 s, ``quarantineTime``) before its pods go, so a node that is re-registered
  does not lose them. This is how deleting a node gets its pods replaced: once they are gone,
  their ReplicaSets create new ones and the scheduler places them elsewhere. Before the
  deletion the pod is marked ``Failed`` with the condition ``DisruptionTarget=True``, reason
  ``DeletionByPodGC``, message ``PodGC: node no longer exists`` (there is no kubelet left to
  report a final phase).
- **Unscheduled terminating pods**: a pod marked for deletion that was never bound has no
  kubelet to finish its deletion.
- **Terminating pods on out-of-service nodes**: a node that is not Ready and carries the
  ``node.kubernetes.io/out-of-service`` taint (an operator declared it dead) will never stop
  its pods.
- **Terminated pods beyond a threshold**: when more than ``terminated_pod_threshold`` (12 500,
  ``--terminated-pod-gc-threshold``) pods are ``Succeeded``/``Failed``, the oldest go first
  (pods the kubelet evicted before others, then by creation time, then name).

Pods deleted for any reason other than an orphaned node are marked ``Failed`` first too, as
Kubernetes' ``markFailedAndDeletePod`` does. Kubernetes sweeps every 20 s; here the controller
is driven by Pod and Node changes (a pod is looked at only when it is terminal, terminating,
or bound to a node that is not known to exist), with the quarantine as a requeue. Like
Kubernetes, pod GC records no Events.
"""

from __future__ import annotations

import contextlib

from shipyard.cluster.client import Client
from shipyard.cluster.disruption import delete_pod
from shipyard.cluster.podutil import condition, is_terminal, is_terminating, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj, ObjectKey, key_of, meta

__all__ = ["OUT_OF_SERVICE_TAINT", "PodGCController"]

TERMINATED_POD_THRESHOLD = 12_500
QUARANTINE_SECONDS = 40.0
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
_ORPHANED = {"reason": "DeletionByPodGC", "message": "PodGC: node no longer exists"}


def _node_name(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _out_of_service(node: Obj) -> bool:
    ready = condition(node, "Ready")
    if ready is not None and ready.get("status") == "True":
        return False
    taints = (node.get("spec") or {}).get("taints") or ()
    return any(t.get("key") == OUT_OF_SERVICE_TAINT for t in taints)


def _gc_order(pod: Obj) -> tuple[bool, str, str]:
    evicted = (pod.get("status") or {}).get("reason") == "Evicted"
    md = meta(pod)
    return (not evicted, str(md.get("creationTimestamp") or ""), str(md.get("name") or ""))


class PodGCController:
    """Deletes orphaned, stuck and surplus terminated pods (see the module docstring)."""

    name = "cluster.podgc"

    def __init__(
        self,
        client: Client,
        *,
        terminated_pod_threshold: int = TERMINATED_POD_THRESHOLD,
        quarantine_seconds: float = QUARANTINE_SECONDS,
    ) -> None:
        self._client = client
        self._threshold = terminated_pod_threshold
        self._quarantine = quarantine_seconds
        self._nodes: set[str] = set()  # nodes seen to exist
        self._missing: dict[str, float] = {}  # node -> when first found missing
        self._terminated: set[ObjectKey] = set()

    def watches(self) -> list[Watches]:
        return [Watches("v1", "Node", self._node_keys), Watches("v1", "Pod", self._pod_keys)]

    def _node_keys(self, node: Obj) -> tuple[ObjectKey, ...]:
        self._nodes.add(str(meta(node).get("name")))
        return (key_of(node),)

    def _pod_keys(self, pod: Obj) -> tuple[ObjectKey, ...]:
        key = key_of(pod)
        node = _node_name(pod)
        interesting = (
            is_terminal(pod)
            or is_terminating(pod)
            or key in self._terminated
            or (node and node not in self._nodes)
        )
        return (key,) if interesting else ()

    # -- reconcile ---------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        if key.kind == "Node":
            return self._reconcile_node(key.name)
        return self._reconcile_pod(key)

    def _reconcile_node(self, name: str) -> Result | None:
        try:
            node = self._client.get("v1", "Node", name, copy=False)  # read only
        except NotFoundError:
            self._nodes.discard(name)
            wait = self._quarantine_left(name)
            if wait > 0:
                return Result(requeue_after=wait)
            for pod in self._pods_on(name):
                self._mark_failed_and_delete(pod, orphaned=True)
            return None
        self._nodes.add(name)
        self._missing.pop(name, None)
        if _out_of_service(node):
            for pod in self._pods_on(name):
                if is_terminating(pod):
                    self._mark_failed_and_delete(pod)
        return None

    def _reconcile_pod(self, key: ObjectKey) -> Result | None:
        try:
            pod = self._client.get("v1", "Pod", key.name, namespace=key.namespace, copy=False)
        except NotFoundError:
            self._terminated.discard(key)
            return None
        if is_terminal(pod):
            self._terminated.add(key)
            if len(self._terminated) > self._threshold:
                self._collect_terminated()
        else:
            self._terminated.discard(key)
        node_name = _node_name(pod)
        if not node_name:
            if is_terminating(pod):
                self._mark_failed_and_delete(pod)
            return None
        return self._check_node_of(pod, node_name)

    def _check_node_of(self, pod: Obj, node_name: str) -> Result | None:
        try:
            node = self._client.get("v1", "Node", node_name, copy=False)
        except NotFoundError:
            self._nodes.discard(node_name)
            wait = self._quarantine_left(node_name)
            if wait > 0:
                return Result(requeue_after=wait)
            self._mark_failed_and_delete(pod, orphaned=True)
            return None
        self._nodes.add(node_name)
        self._missing.pop(node_name, None)
        if is_terminating(pod) and _out_of_service(node):
            self._mark_failed_and_delete(pod)
        return None

    def _quarantine_left(self, node_name: str) -> float:
        now = self._client.clock.now()
        since = self._missing.setdefault(node_name, now)
        return since + self._quarantine - now

    def _pods_on(self, node_name: str) -> list[Obj]:
        return self._client.list("v1", "Pod", field_selector=f"spec.nodeName={node_name}").items

    def _collect_terminated(self) -> None:
        terminated = [p for p in self._client.list("v1", "Pod").items if is_terminal(p)]
        self._terminated = {key_of(p) for p in terminated}
        excess = len(terminated) - self._threshold
        if excess <= 0:
            return
        for pod in sorted(terminated, key=_gc_order)[:excess]:
            self._mark_failed_and_delete(pod)

    def _mark_failed_and_delete(self, pod: Obj, *, orphaned: bool = False) -> None:
        """``markFailedAndDeletePodWithCondition``: phase Failed first, then delete at once."""
        if not is_terminal(pod):
            # a new status (the pod read is shared): phase, and conditions of our own to change
            status = {**(pod.get("status") or {}), "phase": "Failed"}
            if orphaned:
                status["conditions"] = [dict(c) for c in status.get("conditions") or ()]
            pod = {**pod, "status": status}
            if orphaned:
                set_condition(
                    pod, "DisruptionTarget", "True", now=self._client.clock.now(), **_ORPHANED
                )
            pod = self._client.update_status(pod)
        md = meta(pod)
        with contextlib.suppress(NotFoundError):
            delete_pod(
                self._client,
                str(md["name"]),
                namespace=str(md["namespace"]),
                grace_period_seconds=0,
            )
        self._terminated.discard(key_of(pod))
