"""Container instance timelines: one start of one container, fixed when it starts.

The :class:`~.simulated.SimulatedRuntime` keeps no timers. Each start of a container is an
:class:`Instance` whose timeline is computed once, from its :class:`~.profiles.ImageProfile`
and the clock at that start, and every question about it is answered for an instant:

::

    start ── pull (pull_seconds) ── create (startup_seconds) ── running ──┬── exit(exit_code)
                                                  ready_after_seconds ──┘   after
                                                  (readiness passes)        crash_after_seconds

Only ``stop`` changes a timeline once fixed: it sets when and with which code SIGTERM or
SIGKILL ends the process (``stop_at``, ``stop_code``). :meth:`Instance.finish` is the earlier
of the natural exit and the stop (the exit wins a tie). :meth:`Instance.state` is ``EXITED``
from then, ``RUNNING`` from ``running_at`` (never, when the pull failed), else ``WAITING``.
:meth:`Instance.status` is what the kubelet reads of it, as a CRI runtime reports a
container: ``ContainerCreating`` while pulling and creating, the pull's error
(``ErrImagePull``, ``ErrImageNeverPull``) for an instance that never runs, ``Completed``
(exit 0) or ``Error`` once exited, ``stopping`` between a stop and the exit, and the instance
before it as ``previous`` (the pod status's ``lastState``); a pull still in progress shows
neither its end nor its error.

:func:`natural_exit` is how a process ends on its own: after ``crash_after_seconds`` with
``exit_code``; an init container whose profile never exits completes (exit 0) as soon as it
runs — init containers run to completion by nature —, and a regular one runs until stopped.

The runtime's metrics read instances too. A running container's CPU usage depends, besides
the load, only on its :data:`Cpu` — (idle, per request/s, CPU limit), fixed at start — and
:func:`container_cpu` is ``idle + per_rps × rps`` capped by that limit (the cgroup quota).
:func:`is_serving` is whether the container can take its share of a Service's traffic:
running, not stopping, not hung, and ready-capable (``ready``, with ``ready_after_seconds``
elapsed). :func:`next_state_change` and :func:`next_serving_change` are the next instants at
which either answer may change, so what is derived from them (a usage key, a routed pod's
capacity) is asked again only then.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.kubelet.profiles import ImageProfile
from shipyard.cluster.kubelet.runtime import ContainerState, ContainerStatus, ImagePull

__all__ = [
    "Cpu",
    "Instance",
    "container_cpu",
    "is_serving",
    "natural_exit",
    "next_serving_change",
    "next_state_change",
]

Cpu = tuple[float, float, int | None]  # a running container's (idle, per rps, limit)


@dataclass
class Instance:
    """One start of one container: a timeline fixed at start, changed only by ``stop``."""

    name: str
    attempt: int
    image: str
    profile: ImageProfile
    container_id: str
    image_id: str
    pull: ImagePull | None
    running_at: float | None  # None: it never runs (the pull failed)
    exit_at: float | None
    exit_code: int
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    limit_millicores: int | None = None
    stop_at: float | None = None
    stop_code: int = 0

    def finish(self) -> tuple[float, int] | None:
        """When and how the process ends, as far as known now."""
        exit_at, stop_at = self.exit_at, self.stop_at
        if exit_at is None:
            return None if stop_at is None else (stop_at, self.stop_code)
        if stop_at is None or exit_at <= stop_at:  # the exit wins a tie
            return exit_at, self.exit_code
        return stop_at, self.stop_code

    def state(self, now: float) -> ContainerState:
        end = self.finish()
        if end is not None and end[0] <= now:
            return ContainerState.EXITED
        if self.running_at is not None and self.running_at <= now:
            return ContainerState.RUNNING
        return ContainerState.WAITING

    @functools.cached_property
    def cpu(self) -> Cpu:
        """What its CPU usage depends on besides the load: (idle, per request/s, limit); the
        profile and the limit are fixed at start."""
        p = self.profile
        return p.cpu_millicores_idle, p.cpu_millicores_per_rps, self.limit_millicores

    def created(self, now: float) -> bool:
        return self.running_at is not None and self.running_at <= now

    def hang_at(self) -> float:
        """When the process stops answering (``math.inf``: never)."""
        after = self.profile.hang_after_seconds
        if after is None or self.running_at is None:
            return math.inf
        return self.running_at + after

    def hung(self, now: float) -> bool:
        return self.hang_at() <= now

    def ready_capable(self, now: float) -> bool:
        p = self.profile
        return (
            p.ready
            and self.running_at is not None
            and self.running_at + p.ready_after_seconds <= now
            and not self.hung(now)
        )

    def status(self, now: float, previous: Instance | None = None) -> ContainerStatus:
        state = self.state(now)
        pull = self.pull
        if pull is not None and pull.finished_at is not None and pull.finished_at > now:
            pull = dataclasses.replace(pull, finished_at=None, error="")
        common: dict[str, Any] = {
            "name": self.name,
            "attempt": self.attempt,
            "image": self.image,
            "state": state,
            "pull": pull,
            "previous": previous.status(now) if previous is not None else None,
        }
        if state is ContainerState.WAITING:
            never = self.running_at is None and (pull is None or bool(pull.error))
            return ContainerStatus(
                **common,
                reason=self.waiting_reason if never else "ContainerCreating",
                message=self.waiting_message if never else "",
            )
        end = self.finish()
        exited = state is ContainerState.EXITED and end is not None
        code = end[1] if exited and end is not None else None
        return ContainerStatus(
            **common,
            container_id=self.container_id,
            image_id=self.image_id,
            started_at=self.running_at,
            finished_at=end[0] if exited and end is not None else None,
            exit_code=code,
            reason=("Completed" if code == 0 else "Error") if exited else "",
            stopping=self.stop_at is not None and not exited,
        )

    def next_change(self, now: float) -> float | None:
        times = [self.running_at, self.exit_at, self.stop_at]
        if self.pull is not None:
            times.append(self.pull.finished_at)
        future = [t for t in times if t is not None and t > now]
        return min(future) if future else None


def natural_exit(
    profile: ImageProfile, running_at: float, *, init: bool
) -> tuple[float | None, int]:
    if profile.crash_after_seconds is not None:
        return running_at + profile.crash_after_seconds, profile.exit_code
    if init:
        return running_at, 0
    return None, profile.exit_code


def container_cpu(cpu: Cpu, rps: float) -> float:
    idle, per_rps, limit = cpu
    usage = idle + per_rps * rps
    if limit is not None:
        usage = min(usage, float(limit))
    return usage


def next_state_change(inst: Instance, now: float) -> float:
    """The next instant after ``now`` at which the instance may start or stop running."""
    end = inst.finish()
    times = (inst.running_at, end[0] if end is not None else None)
    return min((t for t in times if t is not None and t > now), default=math.inf)


def next_serving_change(inst: Instance, now: float) -> float:
    """The next instant after ``now`` at which ``is_serving(inst, ...)`` may change."""
    running_at = inst.running_at
    if running_at is None:
        return math.inf
    end = inst.finish()
    times = (
        running_at,
        running_at + inst.profile.ready_after_seconds,
        inst.hang_at(),
        end[0] if end is not None else None,
    )
    return min((t for t in times if t is not None and t > now), default=math.inf)


def is_serving(inst: Instance | None, now: float) -> bool:
    return (
        inst is not None
        and inst.state(now) is ContainerState.RUNNING
        and inst.stop_at is None
        and inst.ready_capable(now)
    )
