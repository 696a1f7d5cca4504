"""The pod status the kubelet reports, as pure functions of what it observed.

This is ``generateAPIPodStatus`` of the kubelet, reproduced from Kubernetes' documented
behaviour and the shapes real clusters show (the Argo CD health fixtures):

- **containerStatuses** sorted by name, **initContainerStatuses** in spec order, each with
  ``name``, ``image``, ``imageID``, ``containerID`` (once created), ``ready``, ``started``,
  ``restartCount``, ``state`` (``waiting{reason, message}``, ``running{startedAt}`` or
  ``terminated{containerID, exitCode, reason, startedAt, finishedAt}``) and ``lastState``
  (the previous instance's ``terminated``, else ``{}``). A container without an instance
  waits with ``ContainerCreating``, or ``PodInitializing`` in a pod with init containers.
- **phase** (``getPhase``): ``Failed`` when an init container failed under
  ``restartPolicy: Never``; ``Pending`` while initialising or while a container has never
  started; ``Running`` while any runs, or all stopped but will restart (``Always``, or
  ``OnFailure`` with a failure); ``Succeeded`` when all exited 0; ``Failed`` when all
  stopped with a failure under ``Never`` — and a terminating pod whose containers all
  stopped ends ``Succeeded`` or ``Failed`` whatever its restart policy.
- **conditions** in the order kubectl shows them: ``PodReadyToStartContainers`` (the
  sandbox has its network), ``Initialized`` (``ContainersNotInitialized``, "containers with
  incomplete status: [a b]"), ``Ready`` and ``ContainersReady`` (``ContainersNotReady``,
  "containers with unready status: [a b]"; ``PodCompleted`` once succeeded; readiness gates
  via ``ReadinessGatesNotReady``), then ``PodScheduled`` (kept, or added as ``True``) and any
  condition another component owns (``DisruptionTarget`` …). ``lastTransitionTime`` moves
  only when a condition's status changes; ``lastProbeTime`` is ``null`` as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.kubelet.runtime import ContainerState, ContainerStatus
from shipyard.core.clock import format_time

__all__ = [
    "KUBELET_CONDITIONS",
    "ContainerView",
    "container_status",
    "pod_conditions",
    "pod_phase",
]

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet knows of one container: the runtime's instance and its judgement."""

    name: str
    image: str
    runtime: ContainerStatus | None = None
    ready: bool = False
    started: bool = False
    waiting: tuple[str, str] | None = None  # the kubelet's own: CrashLoopBackOff, ...

    @property
    def completed(self) -> bool:
        """Exited 0 and not about to restart (an init container that is done)."""
        rt = self.runtime
        return (
            self.waiting is None
            and rt is not None
            and rt.state is ContainerState.EXITED
            and rt.exit_code == 0
        )

    @property
    def has_run(self) -> bool:
        rt = self.runtime
        return rt is not None and (rt.started_at is not None or rt.previous is not None)


# --- containerStatuses -------------------------------------------------------------------


def _terminated(rt: ContainerStatus) -> dict[str, Any]:
    out: dict[str, Any] = {
        "containerID": rt.container_id,
        "exitCode": rt.exit_code if rt.exit_code is not None else 0,
        "finishedAt": format_time(rt.finished_at) if rt.finished_at is not None else None,
        "reason": rt.reason or ("Completed" if rt.exit_code == 0 else "Error"),
        "startedAt": format_time(rt.started_at) if rt.started_at is not None else None,
    }
    if rt.message:
        out["message"] = rt.message
    return out


def _waiting(reason: str, message: str = "") -> dict[str, Any]:
    out = {"reason": reason}
    if message:
        out["message"] = message
    return {"waiting": out}


def _state(view: ContainerView, default_reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, lastState) of one container."""
    rt = view.runtime
    if rt is None:
        return _waiting(default_reason), {}
    previous = {"terminated": _terminated(rt.previous)} if rt.previous is not None else {}
    if view.waiting is not None:
        if rt.state is ContainerState.EXITED:
            previous = {"terminated": _terminated(rt)}
        return _waiting(*view.waiting), previous
    if rt.state is ContainerState.WAITING:
        return _waiting(rt.reason or default_reason, rt.message), previous
    if rt.state is ContainerState.RUNNING:
        started = format_time(rt.started_at) if rt.started_at is not None else None
        return {"running": {"startedAt": started}}, previous
    return {"terminated": _terminated(rt)}, previous


def container_status(view: ContainerView, default_reason: str) -> dict[str, Any]:
    """One entry of ``containerStatuses`` / ``initContainerStatuses``."""
    rt = view.runtime
    state, last = _state(view, default_reason)
    out: dict[str, Any] = {"name": view.name, "image": view.image}
    created = rt is not None and bool(rt.container_id) and rt.state is not ContainerState.WAITING
    if created and rt is not None:
        out["containerID"] = rt.container_id
    out["imageID"] = rt.image_id if created and rt is not None else ""
    out.update(
        lastState=last,
        ready=view.ready,
        restartCount=rt.attempt if rt is not None else 0,
        started=view.started,
        state=state,
    )
    return out


# --- phase -------------------------------------------------------------------------------


def _init_counts(inits: Sequence[ContainerView]) -> tuple[int, int]:
    """(pending, failed) init containers."""
    pending = failed = 0
    for view in inits:
        rt = view.runtime
        if view.completed:
            continue
        if rt is not None and rt.state is not ContainerState.RUNNING and _last_exit(rt):
            failed += 1  # exited non-zero, or waiting to restart after doing so
        else:
            pending += 1
    return pending, failed


def _last_exit(rt: ContainerStatus) -> int | None:
    """The exit code of the instance a waiting container will replace, if any."""
    if rt.state is ContainerState.EXITED:
        return rt.exit_code
    return rt.previous.exit_code if rt.previous is not None else None


def pod_phase(
    restart_policy: str,
    inits: Sequence[ContainerView],
    containers: Sequence[ContainerView],
    *,
    terminal: bool = False,
) -> str:
    """Kubernetes' ``getPhase`` (see the module docstring)."""
    pending_init, failed_init = _init_counts(inits)
    running = waiting = stopped = succeeded = 0
    for view in containers:
        rt = view.runtime
        if rt is not None and rt.state is ContainerState.RUNNING and view.waiting is None:
            running += 1
        elif rt is not None and rt.state is ContainerState.EXITED and view.waiting is None:
            stopped += 1
            succeeded += rt.exit_code == 0
        elif rt is not None and _last_exit(rt) is not None:
            stopped += 1  # waiting to restart after a previous instance ended
        else:
            waiting += 1
    if failed_init and restart_policy == "Never":
        return FAILED
    if (pending_init and not any(v.has_run for v in containers)) or waiting:
        return PENDING
    if running:
        return RUNNING
    if not stopped:
        return PENDING
    if terminal:
        return SUCCEEDED if stopped == succeeded else FAILED
    if restart_policy == "Always":
        return RUNNING
    if stopped == succeeded:
        return SUCCEEDED
    return FAILED if restart_policy == "Never" else RUNNING


# --- conditions --------------------------------------------------------------------------


def _names(views: Sequence[ContainerView]) -> str:
    return "[" + " ".join(v.name for v in views) + "]"


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "status": "True" if ok else "False"}
    if not ok or reason:
        if reason:
            out["reason"] = reason
        if message:
            out["message"] = message
    return out


def _ready_conditions(
    containers: Sequence[ContainerView],
    phase: str,
    gates: Sequence[str],
    existing: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Ready, ContainersReady)."""
    if phase == SUCCEEDED:
        return _condition("Ready", False, "PodCompleted"), _condition(
            "ContainersReady", False, "PodCompleted"
        )
    unready = [v for v in containers if not v.ready]
    if unready:
        message = f"containers with unready status: {_names(unready)}"
        return _condition("Ready", False, "ContainersNotReady", message), _condition(
            "ContainersReady", False, "ContainersNotReady", message
        )
    containers_ready = _condition("ContainersReady", True)
    for gate in gates:
        cond = existing.get(gate)
        if cond is None:
            msg = f'corresponding condition of pod readiness gate "{gate}" does not exist.'
            return _condition("Ready", False, "ReadinessGatesNotReady", msg), containers_ready
        if cond.get("status") != "True":
            msg = (
                f'the status of pod readiness gate "{gate}" is not "True", but {cond.get("status")}'
            )
            return _condition("Ready", False, "ReadinessGatesNotReady", msg), containers_ready
    return _condition("Ready", True), containers_ready


def pod_conditions(
    existing: Sequence[Mapping[str, Any]],
    *,
    now: float,
    sandbox_ready: bool,
    inits: Sequence[ContainerView],
    containers: Sequence[ContainerView],
    phase: str,
    readiness_gates: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The pod's conditions (see the module docstring), keeping transition times."""
    by_type = {str(c.get("type")): c for c in existing}
    incomplete = [v for v in inits if not v.completed]
    initialized = _condition(
        "Initialized",
        not incomplete,
        "ContainersNotInitialized" if incomplete else "",
        f"containers with incomplete status: {_names(incomplete)}" if incomplete else "",
    )
    ready, containers_ready = _ready_conditions(containers, phase, readiness_gates, by_type)
    scheduled = dict(by_type.get("PodScheduled") or {"type": "PodScheduled", "status": "True"})
    fresh = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        initialized,
        ready,
        containers_ready,
        scheduled,
    ]
    out = [_stamped(c, by_type.get(c["type"]), now) for c in fresh]
    out += [dict(c) for c in existing if c.get("type") not in KUBELET_CONDITIONS]
    return out


def _stamped(new: dict[str, Any], old: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    keep = old is not None and old.get("status") == new["status"]
    when = old.get("lastTransitionTime") if keep and old is not None else None
    out: dict[str, Any] = {
        "type": new["type"],
        "status": new["status"],
        "lastProbeTime": None,
        "lastTransitionTime": when or format_time(now),
    }
    for key in ("reason", "message"):
        if new.get(key):
            out[key] = new[key]
    return out
