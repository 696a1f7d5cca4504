"""The ``ContainerRuntime`` seam: what the kubelet asks of whatever runs containers.

Kubernetes' kubelet speaks CRI to containerd or CRI-O; Shipyard's kubelet speaks this
Protocol, in Shipyard's own types, so the simulated runtime (:mod:`.simulated`) and a later
runc-backed one are interchangeable. The shape follows CRI where it matters to a kubelet:

- The runtime is **asynchronous**. ``start`` begins pulling/creating/starting one container
  instance and returns; progress shows in ``status``. A stop runs the ``preStop`` hook, sends
  SIGTERM and, after the grace period, SIGKILL — also in the background.
- ``status(pod)`` is the kubelet's only view (CRI's ``PodSandboxStatus`` + ``ContainerStatus``,
  as PLEG relists them): the sandbox IP and, per container name, the latest instance (with the
  one before it, for ``lastState``). ``next_change`` says when that view changes by itself; a
  simulated runtime knows, a real one answers ``None`` and the kubelet polls.
- Container instances are numbered (``attempt``), as CRI's ``ContainerMetadata.attempt``;
  the kubelet reports the latest attempt as ``restartCount``.
- ``probe`` runs one probe handler (``httpGet``, ``tcpSocket``, ``exec``, ``grpc``) against a
  running container and returns pass/fail with the output Kubernetes puts in its ``Unhealthy``
  events. The kind of probe is passed along: a real runtime ignores it, the simulation decides
  by it — and may promise that a success will hold until some time (``stable_until``), which
  spares a simulated cluster of healthy pods a probe run per container every 10 s.
- ``adopt`` takes over a pod the runtime has no record of from what its status reports
  (see :mod:`.adoption`): a restarted kubelet's relist finds the containers containerd kept,
  but a runtime that lives in memory (the simulation, in a new session over a persisted
  cluster) has to rebuild them, or it would start every running pod again. A runtime whose
  containers outlive the kubelet has nothing to rebuild and answers ``False``.

Methods never raise for a pod or container they do not know: ``stop`` and ``remove`` do
nothing, ``status`` is empty, ``probe`` fails with a message. A real runtime wraps its
transport errors in :class:`~shipyard.core.errors.TemporaryError` (the kubelet retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from shipyard.core.objects import Obj

__all__ = [
    "ContainerRuntime",
    "ContainerState",
    "ContainerStatus",
    "ImagePull",
    "PodRuntimeStatus",
    "ProbeKind",
    "ProbeResult",
]


class ContainerState(StrEnum):
    """CRI's container states, with ``WAITING`` covering image pull and creation."""

    WAITING = "waiting"
    RUNNING = "running"
    EXITED = "exited"


class ProbeKind(StrEnum):
    """The three container probes; the value is the ``Container`` field name."""

    STARTUP = "startupProbe"
    READINESS = "readinessProbe"
    LIVENESS = "livenessProbe"

    @property
    def label(self) -> str:
        """How Kubernetes names it in events: ``Readiness`` in ``Readiness probe failed: ...``."""
        return _PROBE_LABELS[self.value]


_PROBE_LABELS = {
    "startupProbe": "Startup",
    "readinessProbe": "Readiness",
    "livenessProbe": "Liveness",
}


@dataclass(frozen=True)
class ImagePull:
    """An image pull done for one container instance (None in the status: already present)."""

    started_at: float
    finished_at: float | None = None  # None while pulling
    size_bytes: int = 0
    error: str = ""  # set when the pull failed (ErrImagePull)


@dataclass(frozen=True)
class ContainerStatus:
    """One container instance as the runtime sees it."""

    name: str
    attempt: int
    image: str
    state: ContainerState
    container_id: str = ""  # "<runtime>://<id>"; "" until the container is created
    image_id: str = ""  # "<repository>@sha256:<digest>"; "" until the image is present
    reason: str = ""  # waiting: ContainerCreating, ErrImagePull ...; exited: Completed, Error
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    pull: ImagePull | None = None
    stopping: bool = False  # a stop was asked for and the container has not exited yet
    previous: ContainerStatus | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PodRuntimeStatus:
    """The pod sandbox and its containers (latest instance per container name)."""

    ip: str = ""  # "" until the sandbox's network is ready
    containers: Mapping[str, ContainerStatus] = field(default_factory=dict)
    next_change: float | None = None  # when this status changes by itself, if known


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    message: str = ""  # the probe's output on failure, as Kubernetes reports it
    # A promise that a success stays a success until then (``math.inf``: while this instance
    # lives). A real runtime promises nothing (0); the simulation knows, and the kubelet then
    # skips the probe runs whose outcome is already known.
    stable_until: float = 0.0


class ContainerRuntime(Protocol):
    """Runs the containers of the pods bound to a node (see the module docstring)."""

    @property
    def version(self) -> str:
        """``<runtime name>://<version>``, reported as ``nodeInfo.containerRuntimeVersion``."""
        ...

    def start(self, pod: Obj, container: str) -> None:
        """Start a new instance of the named (init or regular) container of ``pod``.

        Creates the pod sandbox on first use and pulls the image when the container's
        ``imagePullPolicy`` asks for it. Returns at once; see ``status``.
        """
        ...

    def stop(self, pod: Obj, grace_seconds: float, *, container: str | None = None) -> None:
        """Stop one container (or all): run ``preStop``, SIGTERM, SIGKILL after the grace.

        A container not created yet is abandoned (its instance disappears).
        """
        ...

    def status(self, pod: Obj) -> PodRuntimeStatus:
        """The sandbox and the latest instance of each container of ``pod``."""
        ...

    def probe(
        self, pod: Obj, container: str, kind: ProbeKind, probe: Mapping[str, Any]
    ) -> ProbeResult:
        """Run one probe handler against the running container."""
        ...

    def remove(self, pod: Obj) -> None:
        """Forget the pod's sandbox and containers (after they were stopped)."""
        ...

    def adopt(self, pod: Obj) -> bool:
        """Take over the sandbox and container instances ``pod``'s status reports.

        Only for a pod this runtime does not know and never removed: the instances are
        rebuilt as reported (running since ``startedAt``, exited ones exited), so nothing
        restarts, and behave from then on as they would have. Returns whether the pod was
        adopted; ``False`` for a known, removed or finished pod, or one with no sandbox.
        """
        ...
