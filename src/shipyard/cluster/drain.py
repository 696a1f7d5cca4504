"""Draining a node the way ``kubectl drain`` does, on clock timers.

:class:`Drain` cordons the node (``spec.unschedulable: true``), picks the pods to evict with
kubectl's filters, evicts them through the Eviction API (so disruption budgets are honoured),
and finishes when every evicted pod is gone — or fails at the timeout. It never blocks: each
step is a timer on the clock, so in a simulation a drain advances with virtual time while
the rest of the cluster (replacement pods becoming ready, budgets recomputed) runs.

Which pods (``kubectl drain``'s filters, in its order):

- **mirror pods** (annotation ``kubernetes.io/config.mirror``) are skipped silently: the
  kubelet owns them.
- **DaemonSet pods** are skipped (``--ignore-daemonsets``; the DaemonSet would recreate them
  on the node anyway). With ``ignore_daemonsets=False`` they fail the drain: ``cannot delete
  DaemonSet-managed Pods (use --ignore-daemonsets to ignore)``. A pod whose DaemonSet no
  longer exists is deleted with ``force``; finished pods always are.
- **Pods with emptyDir volumes** are evicted (``--delete-emptydir-data``: their scratch data is
  lost); with ``delete_emptydir_data=False`` they fail the drain: ``cannot delete Pods with
  local storage (use --delete-emptydir-data to override)``.
- **Pods without a controller** are evicted (``--force``: nothing will recreate them); with
  ``force=False`` they fail the drain: ``cannot delete Pods that declare no controller (use
  --force to override)``.

The defaults are ``kubectl drain --ignore-daemonsets --delete-emptydir-data --force``: what a
node autoscaler or an operator removing a node wants. Filter errors fail the drain before
anything is evicted (the node stays cordoned, as with kubectl).

Eviction: each pod is evicted with ``grace_period_seconds`` (None: the pod's own). A 429 (a
disruption budget) is retried every ``retry_seconds`` (kubectl waits 5 s); a pod already gone
counts as evicted; any other error fails the drain. Completion is polled every
``poll_seconds`` (kubectl's 1 s): a pod is gone when it no longer exists or a pod of the same
name has another uid.

Events (component ``drain``): ``NodeNotSchedulable`` on the node when it is cordoned (the
message the kubelet reports), ``Evicted`` (``Evicted pod``) on each pod evicted, and
``FailedDraining`` (``Failed to drain node, N pods are waiting to be evicted``, as Karpenter
reports a drain blocked by budgets) on the node while evictions are refused and when the
drain fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import controller_ref, is_terminal
from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.durations import format_duration
from shipyard.core.errors import NotFoundError, ShipyardError, TooManyRequestsError
from shipyard.core.objects import Obj, meta

__all__ = ["MIRROR_ANNOTATION", "Drain", "DrainPlan", "plan_drain"]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DAEMONSET_FATAL = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
LOCAL_STORAGE_FATAL = (
    "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
)
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"

PodId = tuple[str, str]  # (namespace, name)


@dataclass
class DrainPlan:
    """kubectl's verdict per pod: what to evict, what to leave, what stops the drain."""

    evict: list[Obj]
    skipped: list[Obj]
    errors: dict[str, list[str]]  # message -> ["namespace/name", ...]

    def error_message(self) -> str:
        return "; ".join(f"{msg}: {', '.join(pods)}" for msg, pods in sorted(self.errors.items()))


def _has_local_storage(pod: Mapping[str, Any]) -> bool:
    volumes = (pod.get("spec") or {}).get("volumes") or ()
    return any("emptyDir" in v for v in volumes)


def plan_drain(
    pods: list[Obj],
    *,
    daemon_set_exists: Callable[[str, str], bool],
    ignore_daemonsets: bool = True,
    delete_emptydir_data: bool = True,
    force: bool = True,
) -> DrainPlan:
    """Apply kubectl drain's filters (see the module docstring) to the node's pods."""
    plan = DrainPlan([], [], {})
    for pod in sorted(pods, key=lambda p: (meta(p).get("namespace"), meta(p).get("name"))):
        verdict = _verdict(pod, daemon_set_exists, ignore_daemonsets, delete_emptydir_data, force)
        if verdict is None:
            plan.evict.append(pod)
        elif verdict == "":
            plan.skipped.append(pod)
        else:
            md = meta(pod)
            plan.errors.setdefault(verdict, []).append(f"{md.get('namespace')}/{md.get('name')}")
    return plan


def _verdict(
    pod: Obj,
    daemon_set_exists: Callable[[str, str], bool],
    ignore_daemonsets: bool,
    delete_emptydir_data: bool,
    force: bool,
) -> str | None:
    """None: evict; "": skip; anything else: the error that stops the drain."""
    finished = is_terminal(pod)  # any finished pod can be removed
    ref = controller_ref(pod)
    if ref is not None and ref.get("kind") == "DaemonSet" and not finished:
        namespace = str(meta(pod).get("namespace") or "")
        if daemon_set_exists(namespace, str(ref.get("name"))):
            return "" if ignore_daemonsets else DAEMONSET_FATAL
        if not force:
            return f'daemonsets.apps "{ref.get("name")}" not found'
        # an orphaned DaemonSet pod goes on through the other filters (kubectl --force)
    if MIRROR_ANNOTATION in (meta(pod).get("annotations") or {}):
        return ""
    if finished:
        return None
    if _has_local_storage(pod) and not delete_emptydir_data:
        return LOCAL_STORAGE_FATAL
    if ref is None and not force:
        return UNMANAGED_FATAL
    return None


class Drain:
    """Cordon a node and evict its pods, stepping on clock timers (see the module docstring).

    ``start()`` begins; ``done``/``succeeded``/``error`` tell how it went; ``on_done(drain)``
    is called once at the end.
    """

    def __init__(
        self,
        client: Client,
        clock: Clock,
        node_name: str,
        *,
        timeout: float | None = None,
        grace_period_seconds: int | None = None,
        on_done: Callable[[Drain], None] | None = None,
        recorder: EventRecorder | None = None,
        ignore_daemonsets: bool = True,
        delete_emptydir_data: bool = True,
        force: bool = True,
        retry_seconds: float = 5.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self._client = client
        self._clock = clock
        self.node_name = node_name
        self._timeout = timeout
        self._grace = grace_period_seconds
        self._on_done = on_done
        self._recorder = recorder or EventRecorder(client, "drain")
        self._filters = (ignore_daemonsets, delete_emptydir_data, force)
        self._retry = retry_seconds
        self._poll = poll_seconds
        self._to_evict: dict[PodId, str] = {}  # pod -> uid, not yet accepted by the API
        self._waiting: dict[PodId, str] = {}  # evicted, not yet gone
        self._timers: dict[str, TimerHandle] = {}  # "timeout", "retry", "poll"
        self._started = False
        self.done = False
        self.succeeded = False
        self.error: str | None = None
        self.evicted: list[PodId] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None

    # -- public ------------------------------------------------------------------------------

    def start(self) -> Drain:
        if self._started:
            return self
        self._started = True
        self.started_at = self._clock.now()
        if self._timeout is not None:
            self._later("timeout", self._timeout, self._on_timeout)
        self._later("poll", 0, self._begin)
        return self

    def remaining(self) -> list[str]:
        """``namespace/name`` of the pods not gone yet (to evict or terminating)."""
        return [f"{ns}/{name}" for ns, name in sorted({**self._to_evict, **self._waiting})]

    def cancel(self) -> None:
        """Stop without a verdict (the node stays cordoned)."""
        self._finish(False, "drain cancelled")

    # -- steps -------------------------------------------------------------------------------

    def _begin(self) -> None:
        if self.done:
            return
        try:
            node = self._cordon()
            plan = self._plan()
        except ShipyardError as e:
            self._finish(False, e.message)
            return
        if plan.errors:
            self._fail(
                node,
                f'unable to drain node "{self.node_name}" due to error: {plan.error_message()}',
            )
            return
        for pod in plan.evict:
            md = meta(pod)
            self._to_evict[(str(md["namespace"]), str(md["name"]))] = str(md.get("uid"))
        self._evict_round()
        self._check_gone()

    def _cordon(self) -> Obj:
        node = self._client.get("v1", "Node", self.node_name)
        if (node.get("spec") or {}).get("unschedulable") is True:
            return node
        node = self._client.patch("v1", "Node", self.node_name, {"spec": {"unschedulable": True}})
        self._recorder.event(
            node,
            NORMAL,
            "NodeNotSchedulable",
            f"Node {self.node_name} status is now: NodeNotSchedulable",
        )
        return node

    def _plan(self) -> DrainPlan:
        pods = self._client.list(
            "v1", "Pod", field_selector=f"spec.nodeName={self.node_name}"
        ).items
        ignore_daemonsets, delete_emptydir_data, force = self._filters
        return plan_drain(
            pods,
            daemon_set_exists=self._daemon_set_exists,
            ignore_daemonsets=ignore_daemonsets,
            delete_emptydir_data=delete_emptydir_data,
            force=force,
        )

    def _daemon_set_exists(self, namespace: str, name: str) -> bool:
        try:
            self._client.get("apps/v1", "DaemonSet", name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    def _evict_round(self) -> None:
        if self.done:
            return
        refused = 0
        for pod_id in sorted(self._to_evict):
            outcome = self._evict(pod_id)
            if outcome == "refused":
                refused += 1
            elif outcome == "failed":
                return
        if refused:
            self._event_node(
                WARNING,
                "FailedDraining",
                f"Failed to drain node, {refused} pods are waiting to be evicted",
            )
            self._later("retry", self._retry, self._evict_round)

    def _evict(self, pod_id: PodId) -> str:
        namespace, name = pod_id
        uid = self._to_evict[pod_id]
        try:
            pod = self._client.evict(name, namespace=namespace, grace_period_seconds=self._grace)
        except NotFoundError:
            del self._to_evict[pod_id]
            return "gone"
        except TooManyRequestsError:
            return "refused"
        except ShipyardError as e:
            self._fail(None, f'error when evicting pods/"{name}" -n "{namespace}": {e.message}')
            return "failed"
        del self._to_evict[pod_id]
        self._waiting[pod_id] = uid
        self.evicted.append(pod_id)
        self._recorder.event(pod, NORMAL, "Evicted", "Evicted pod")
        return "evicted"

    def _check_gone(self) -> None:
        if self.done:
            return
        for pod_id in sorted(self._waiting):
            if self._is_gone(pod_id, self._waiting[pod_id]):
                del self._waiting[pod_id]
        if not self._to_evict and not self._waiting:
            self._finish(True, None)
            return
        self._later("poll", self._poll, self._check_gone)

    def _is_gone(self, pod_id: PodId, uid: str) -> bool:
        try:
            pod = self._client.get("v1", "Pod", pod_id[1], namespace=pod_id[0])
        except NotFoundError:
            return True
        return str(meta(pod).get("uid")) != uid

    def _on_timeout(self) -> None:
        if self.done:
            return
        assert self._timeout is not None
        self._fail(None, f"drain did not complete within {format_duration(self._timeout)}")

    # -- the end -----------------------------------------------------------------------------

    def _fail(self, node: Obj | None, message: str) -> None:
        if node is None:
            try:
                node = self._client.get("v1", "Node", self.node_name)
            except NotFoundError:
                node = None
        if node is not None:
            self._recorder.event(
                node, WARNING, "FailedDraining", f"Failed to drain node, {message}"
            )
        self._finish(False, message)

    def _event_node(self, type_: str, reason: str, message: str) -> None:
        try:
            node = self._client.get("v1", "Node", self.node_name)
        except NotFoundError:
            return
        self._recorder.event(node, type_, reason, message)

    def _later(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        self._timers[name] = self._clock.call_later(delay, fn)

    def _finish(self, succeeded: bool, error: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.succeeded = succeeded
        self.error = error
        self.finished_at = self._clock.now()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._on_done is not None:
            self._on_done(self)
