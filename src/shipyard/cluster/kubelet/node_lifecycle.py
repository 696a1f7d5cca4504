"""``NodeLifecycleController``: nodes whose kubelet went silent, and NoExecute taint eviction.

Reproduces kube-controller-manager's node lifecycle controller (``monitorNodeHealth``) and the
taint eviction controller, for the embedded cluster:

- **Health.** A node is heard from when its Lease in ``kube-node-lease`` gets a new
  ``renewTime``, or its ``Ready`` condition a new ``lastHeartbeatTime`` — measured on this
  controller's clock when it sees the change, as Kubernetes does (so a controller that starts
  gives every node a full grace period). When nothing was heard for ``grace_period``
  (``--node-monitor-grace-period``, 50 s), ``Ready``, ``MemoryPressure``, ``DiskPressure`` and
  ``PIDPressure`` become ``Unknown`` with reason ``NodeStatusUnknown``, "Kubelet stopped
  posting node status." (``NodeStatusNeverUpdated``, "Kubelet never posted node status." for
  a node whose kubelet never reported), and the node gets a ``NodeNotReady`` Event. Each node
  is looked at when its grace runs out (never sooner than ``check_period`` after the previous
  look) rather than all nodes every 5 s, so silent-node detection costs nothing per heartbeat.
- **Taints.** ``Ready: Unknown`` → ``node.kubernetes.io/unreachable`` ``NoSchedule`` and
  ``NoExecute``; ``Ready: False`` → ``node.kubernetes.io/not-ready`` likewise (``NoExecute``
  taints carry ``timeAdded``); ``Ready: True`` removes all four. The kubelet posts
  ``Ready: True`` again when it comes back; the taints then go.
- **Pods on a node that is not Ready** get ``Ready: False`` (``MarkPodsNotReady``) and a
  ``NodeNotReady`` Warning ("Node is not ready"), so endpoints drop them.
- **NoExecute eviction.** A pod that does not tolerate every NoExecute taint of its node is
  deleted at once; one that does is deleted after the smallest ``tolerationSeconds`` among
  the tolerations used (admission gives every pod 300 s for not-ready and unreachable),
  counted from when the controller first found it needing eviction; a toleration without
  ``tolerationSeconds`` tolerates forever. Before the delete the pod gets the
  ``DisruptionTarget`` condition (``DeletionByTaintManager``, "Taint manager: deleting due to
  NoExecute taint") and a ``TaintManagerEviction`` Event ("Marking for deletion Pod ns/name");
  a pending eviction whose taint went away is cancelled ("Cancelling deletion of Pod ns/name").
  The delete is graceful: on a dead node the pod stays ``Terminating`` (no kubelet finishes
  it) until the node is deleted and the pod garbage collector removes it, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.kubelet.kubelet import LEASE_NAMESPACE, NOT_READY_TAINT
from shipyard.cluster.kubelet.probes import EPSILON
from shipyard.cluster.podutil import condition, is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import format_time
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj, ObjectKey, meta
from shipyard.core.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    Taint,
    Toleration,
    tolerates,
    tolerations_from_list,
)

__all__ = ["UNREACHABLE_TAINT", "NodeLifecycleController", "toleration_wait"]

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
_CONTROLLER_TAINTS = frozenset({UNREACHABLE_TAINT, NOT_READY_TAINT})
_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_STOPPED = ("NodeStatusUnknown", "Kubelet stopped posting node status.")
_NEVER = ("NodeStatusNeverUpdated", "Kubelet never posted node status.")


def toleration_wait(taints: Sequence[Taint], tolerations: Sequence[Toleration]) -> float | None:
    """Seconds a pod may stay on a node with these NoExecute taints; None = forever.

    0 when a taint is not tolerated; otherwise the smallest ``tolerationSeconds`` of the
    tolerations used (the first that tolerates each taint), negative counting as 0.
    """
    used = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return 0.0
        used.append(match)
    seconds = [t.toleration_seconds for t in used if t.toleration_seconds is not None]
    return max(0.0, float(min(seconds))) if seconds else None


class NodeLifecycleController:
    """Node health from heartbeats, node taints, taint-based eviction (module docstring)."""

    name = "cluster.node-lifecycle"

    def __init__(
        self,
        client: Client,
        *,
        recorder: EventRecorder | None = None,
        grace_period: float = 50.0,
        check_period: float = 5.0,
    ) -> None:
        self._client = client
        self._clock = client.clock
        self._recorder = recorder or EventRecorder(client, "node-controller")
        self._evictor = recorder or EventRecorder(client, "taint-eviction-controller")
        self._grace = grace_period
        self._check = check_period
        self._heard: dict[str, dict[str, tuple[str, float]]] = {}
        self._first_seen: dict[str, float] = {}
        self._unhealthy: set[str] = set()
        self._no_execute: set[str] = set()
        self._pending: dict[str, dict[str, float]] = {}

    def watches(self) -> list[Watches]:
        return [
            Watches("v1", "Node"),
            Watches("coordination.k8s.io/v1", "Lease", self._lease_seen),
            Watches("v1", "Pod", self._pod_node),
        ]

    # -- mappers: cheap, they run for every heartbeat and pod change ---------------------------

    def _lease_seen(self, lease: Obj) -> tuple[ObjectKey, ...]:
        md = meta(lease)
        if md.get("namespace") != LEASE_NAMESPACE:
            return ()
        node = str(md.get("name"))
        self._hear(node, "lease", str((lease.get("spec") or {}).get("renewTime") or ""))
        return (_node_key(node),) if node in self._unhealthy else ()

    def _pod_node(self, pod: Obj) -> tuple[ObjectKey, ...]:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node and (node in self._unhealthy or node in self._no_execute):
            return (_node_key(node),)
        return ()

    def _hear(self, node: str, source: str, stamp: str) -> None:
        """Record when a heartbeat value last changed, on this controller's clock."""
        if not stamp:
            return
        heard = self._heard.setdefault(node, {})
        previous = heard.get(source)
        if previous is None or previous[0] != stamp:
            heard[source] = (stamp, self._clock.now())

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            node = self._client.get("v1", "Node", key.name, copy=False)  # written as copies
        except NotFoundError:
            self._forget(key.name)
            return None
        now = self._clock.now()
        name = key.name
        ready = condition(node, "Ready")
        if ready is not None and ready.get("lastHeartbeatTime"):
            self._hear(name, "status", str(ready["lastHeartbeatTime"]))
        silent_until = self._last_heard(name, now) + self._grace
        if now + EPSILON >= silent_until:
            node = self._mark_unknown(node, now)
        ready_status = str((condition(node, "Ready") or {}).get("status") or "")
        node = self._set_taints(node, ready_status, now)
        unhealthy = bool(ready_status) and ready_status != "True"
        # A healthy node without NoExecute taints or pending evictions has nothing for pods.
        busy = unhealthy or name in self._no_execute or bool(self._pending.get(name))
        pods = self._pods_on(name) if busy else []
        if unhealthy:
            self._unhealthy.add(name)
            self._mark_pods_not_ready(pods, now)
        else:
            self._unhealthy.discard(name)
        next_eviction = self._evict(node, pods, now)
        return self._requeue(name, now, silent_until, next_eviction)

    def _requeue(
        self, name: str, now: float, silent_until: float, next_eviction: float | None
    ) -> Result | None:
        times = [] if name in self._unhealthy else [max(silent_until, now + self._check)]
        if next_eviction is not None:
            times.append(next_eviction)
        return Result(requeue_after=min(times) - now) if times else None

    def _last_heard(self, name: str, now: float) -> float:
        first = self._first_seen.setdefault(name, now)
        heard = [t for _, t in (self._heard.get(name) or {}).values()]
        return max([first, *heard])

    def _forget(self, name: str) -> None:
        for table in (self._heard, self._first_seen, self._pending):
            table.pop(name, None)
        self._unhealthy.discard(name)
        self._no_execute.discard(name)

    # -- node status and taints ---------------------------------------------------------------

    def _mark_unknown(self, node: Obj, now: float) -> Obj:
        status = dict(node.get("status") or {})
        conditions = [dict(c) for c in status.get("conditions") or ()]
        by_type = {c.get("type"): c for c in conditions}
        stamp = format_time(now)
        changed = False
        for type_ in _CONDITION_TYPES:
            cond = by_type.get(type_)
            if cond is None:
                created = meta(node).get("creationTimestamp") or stamp
                conditions.append(_unknown(type_, *_NEVER, heartbeat=created, now=stamp))
                changed = True
            elif cond.get("status") != "Unknown":
                cond.update(status="Unknown", reason=_STOPPED[0], message=_STOPPED[1])
                cond["lastTransitionTime"] = stamp
                changed = True
        if not changed:
            return node
        status["conditions"] = conditions
        written = self._client.update_status({**node, "status": status})
        name = meta(node).get("name")
        self._recorder.event(
            written, NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady"
        )
        return written

    def _set_taints(self, node: Obj, ready_status: str, now: float) -> Obj:
        spec = node.get("spec") or {}
        taints = [dict(t) for t in spec.get("taints") or ()]
        wanted = _wanted_taints(ready_status)
        if wanted is None:  # no Ready condition yet: nothing to say
            return node
        kept = [t for t in taints if t.get("key") not in _CONTROLLER_TAINTS]
        current = {(t.get("key"), t.get("effect")): t for t in taints}
        for key, effect in wanted:
            taint = current.get((key, effect)) or {"key": key, "effect": effect}
            if effect == NO_EXECUTE and "timeAdded" not in taint:
                taint["timeAdded"] = format_time(now)
            kept.append(taint)
        name = str(meta(node).get("name"))
        if any(t.get("effect") == NO_EXECUTE for t in kept):
            self._no_execute.add(name)
        else:
            self._no_execute.discard(name)
        if kept == taints:
            return node
        return self._client.update({**node, "spec": {**spec, "taints": kept}})

    # -- pods ---------------------------------------------------------------------------------

    def _pods_on(self, node: str) -> list[Obj]:
        return self._client.list("v1", "Pod", field_selector=f"spec.nodeName={node}").items

    def _mark_pods_not_ready(self, pods: list[Obj], now: float) -> None:
        for pod in pods:
            conditions = [dict(c) for c in (pod.get("status") or {}).get("conditions") or ()]
            ready = next((c for c in conditions if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") == "False":
                continue
            ready["status"], ready["lastTransitionTime"] = "False", format_time(now)
            written = self._client.update_status(
                {**pod, "status": {**pod.get("status", {}), "conditions": conditions}}
            )
            pod.update(written)
            self._recorder.event(written, WARNING, "NodeNotReady", "Node is not ready")

    def _evict(self, node: Obj, pods: list[Obj], now: float) -> float | None:
        """Delete the pods whose toleration ran out; when the next one is due."""
        name = str(meta(node).get("name"))
        taints = [
            Taint.from_dict(t)
            for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("effect") == NO_EXECUTE
        ]
        pending = self._pending.setdefault(name, {})
        live = {str(meta(p).get("uid")): p for p in pods if not is_terminating(p)}
        next_due: float | None = None
        for uid, pod in live.items():
            wait = toleration_wait(taints, _tolerations(pod)) if taints else None
            if wait is None:
                if pending.pop(uid, None) is not None:
                    self._evictor.event(pod, NORMAL, "TaintManagerEviction", _cancel_msg(pod))
                continue
            due = pending.setdefault(uid, now) + wait
            if due <= now + EPSILON:
                self._delete(pod, now)
                pending.pop(uid, None)
            elif next_due is None or due < next_due:
                next_due = due
        for uid in [u for u in pending if u not in live]:
            del pending[uid]
        return next_due

    def _delete(self, pod: Obj, now: float) -> None:
        md = meta(pod)
        namespace, pod_name = str(md.get("namespace")), str(md.get("name"))
        self._evictor.event(
            pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{pod_name}"
        )
        status = dict(pod.get("status") or {})
        conditions = [
            c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"
        ]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": format_time(now),
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        )
        try:
            self._client.update_status({**pod, "status": {**status, "conditions": conditions}})
            self._client.delete("v1", "Pod", pod_name, namespace=namespace)
        except NotFoundError:
            pass


def _node_key(name: str) -> ObjectKey:
    return ObjectKey("v1", "Node", "", name)


def _unknown(type_: str, reason: str, message: str, *, heartbeat: str, now: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "Unknown",
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _wanted_taints(ready_status: str) -> list[tuple[str, str]] | None:
    if ready_status == "True":
        return []
    if ready_status == "False":
        return [(NOT_READY_TAINT, NO_SCHEDULE), (NOT_READY_TAINT, NO_EXECUTE)]
    if ready_status == "Unknown":
        return [(UNREACHABLE_TAINT, NO_SCHEDULE), (UNREACHABLE_TAINT, NO_EXECUTE)]
    return None


def _tolerations(pod: Mapping[str, Any]) -> list[Toleration]:
    return tolerations_from_list((pod.get("spec") or {}).get("tolerations") or [])


def _cancel_msg(pod: Obj) -> str:
    md = meta(pod)
    return f"Cancelling deletion of Pod {md.get('namespace')}/{md.get('name')}"
