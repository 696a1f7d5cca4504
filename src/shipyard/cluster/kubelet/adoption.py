"""What a pod's status says its node already runs: the input of a runtime's ``adopt``.

A kubelet that restarts finds the containers of its pods still there: containerd kept them,
and the first relist (PLEG) hands them to the new pod workers, which only record what
happens from then on. The simulated runtime keeps its containers in memory, so a new
session over a persisted cluster starts with an empty runtime; what survives is the pod
status the previous kubelet wrote. These pure functions read it back:

- :func:`reported_pod` — the sandbox IP and, per container, the instances the status shows:
  ``state.running`` (running since ``startedAt``) or ``state.terminated`` as the latest
  instance, numbered ``restartCount``, with ``lastState.terminated`` as the one before it.
  A container waiting in ``CrashLoopBackOff`` / ``ImagePullBackOff`` keeps its
  ``containerID``: its latest instance is the exited one (``lastState``). A container
  waiting without one (``ContainerCreating``, a pull) has no created instance; the one that
  exited before it (if any) is the latest, numbered ``restartCount - 1``, so the restart the
  kubelet was making is made again. ``None`` for a pod with nothing to adopt: no sandbox
  (``podIP``), or finished (``Succeeded``/``Failed``).
- :func:`reported_readiness` — per ``containerID`` of a running container, its ``ready``
  and ``started`` as last reported, so a restarted kubelet's probes resume from them instead
  of flapping a ready pod to not-ready until the next readiness probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.clock import parse_time
from shipyard.core.objects import Obj

__all__ = ["ReportedInstance", "ReportedPod", "reported_pod", "reported_readiness"]

_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class ReportedInstance:
    """One created container instance, as the pod status reports it."""

    name: str
    attempt: int
    container_id: str
    image_id: str
    started_at: float
    finished_at: float | None = None  # None: still running
    exit_code: int = 0


@dataclass(frozen=True)
class ReportedPod:
    ip: str
    # per container name, oldest first (at most the latest instance and the one before it)
    containers: Mapping[str, tuple[ReportedInstance, ...]]


def reported_pod(pod: Obj) -> ReportedPod | None:
    """The sandbox and container instances ``pod``'s status reports (module docstring)."""
    status = pod.get("status") or {}
    ip = str(status.get("podIP") or "")
    if not ip or status.get("phase") in _TERMINAL_PHASES:
        return None
    containers: dict[str, tuple[ReportedInstance, ...]] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for entry in status.get(key) or ():
            found = _instances(entry)
            if found:
                containers[str(entry.get("name"))] = found
    return ReportedPod(ip, containers)


def reported_readiness(pod: Obj) -> dict[str, tuple[bool, bool]]:
    """``containerID`` -> (ready, started) of every container reported running."""
    status = pod.get("status") or {}
    out: dict[str, tuple[bool, bool]] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for entry in status.get(key) or ():
            cid = entry.get("containerID")
            if cid and "running" in (entry.get("state") or {}):
                out[str(cid)] = (entry.get("ready") is True, entry.get("started") is True)
    return out


def _instances(entry: Mapping[str, Any]) -> tuple[ReportedInstance, ...]:
    name = str(entry.get("name"))
    restarts = _int(entry.get("restartCount"))
    state = entry.get("state") or {}
    last = (entry.get("lastState") or {}).get("terminated")
    cid = str(entry.get("containerID") or "")
    image_id = str(entry.get("imageID") or "")
    if not cid:  # the latest instance was never created: the exited one before it is latest
        before = _exited(name, restarts - 1, last, image_id)
        return (before,) if before is not None else ()
    if "running" in state or "terminated" in state:
        latest = (
            _running(name, restarts, cid, image_id, state["running"])
            if "running" in state
            else _exited(name, restarts, state["terminated"], image_id, cid)
        )
        previous = _exited(name, restarts - 1, last, image_id)
    else:  # waiting in a back-off with the exited instance as the latest
        latest, previous = _exited(name, restarts, last, image_id, cid), None
    return tuple(i for i in (previous, latest) if i is not None)


def _running(
    name: str, attempt: int, cid: str, image_id: str, running: Mapping[str, Any]
) -> ReportedInstance | None:
    started = _time(running.get("startedAt"))
    if started is None:
        return None
    return ReportedInstance(name, attempt, cid, image_id, started)


def _exited(
    name: str, attempt: int, terminated: Any, image_id: str, cid: str = ""
) -> ReportedInstance | None:
    if attempt < 0 or not isinstance(terminated, Mapping):
        return None
    started, finished = _time(terminated.get("startedAt")), _time(terminated.get("finishedAt"))
    container_id = str(terminated.get("containerID") or cid)
    if started is None or finished is None or not container_id:
        return None
    code = _int(terminated.get("exitCode"))
    return ReportedInstance(name, attempt, container_id, image_id, started, finished, code)


def _time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
