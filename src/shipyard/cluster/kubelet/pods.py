"""One pod on one node: the kubelet's pod worker.

:class:`PodWorker` drives a pod bound to the kubelet's node through its life, the way
Kubernetes' ``SyncPod`` / ``SyncTerminatingPod`` do, against a
:class:`~.runtime.ContainerRuntime`. ``sync()`` looks at the runtime, acts (start, restart,
probe, stop), and returns a :class:`SyncOutcome`: the new ``status`` when it differs from
the stored one (the kubelet writes it once), whether the pod is finished terminating and can
be deleted, and when it next needs a look. It never writes to the API itself, except Events.

Reproduced behaviour:

- **Start.** Init containers one at a time, each to completion (exit 0), then every regular
  container. Events ``Pulling`` ("Pulling image \\"x\\""), ``Pulled`` ("Successfully pulled
  image \\"x\\" in 2s (2s including waiting). Image size: N bytes." or "Container image \\"x\\"
  already present on machine"), ``Created`` ("Created container: x"), ``Started``
  ("Started container x").
- **Restarts.** ``restartPolicy`` ``Always`` restarts every exit, ``OnFailure`` non-zero
  exits, ``Never`` none. The first restart is immediate; later ones wait 10 s, 20 s, … up to
  300 s (reset after 10 minutes of running), showing ``waiting: CrashLoopBackOff`` with
  "back-off 20s restarting failed container=x pod=name_ns(uid)" and a ``BackOff`` event.
  Failed image pulls show ``ErrImagePull``, then ``ImagePullBackOff`` ("Back-off pulling image
  \\"x\\"") between retries on the same back-off schedule.
- **Probes** (see :mod:`.probes`). Readiness decides the container's ``ready``; a failed
  liveness or startup probe kills the container ("Container x failed liveness probe, will be
  restarted", with the pod's or the probe's grace period) and the restart policy applies.
  Every failed probe is an ``Unhealthy`` Warning ("Readiness probe failed: ...").
- **activeDeadlineSeconds.** Past it, the pod fails with reason ``DeadlineExceeded`` and its
  containers are stopped.
- **Termination.** Once the pod has a ``deletionTimestamp``: ``Killing`` ("Stopping container
  x") for each running container, a stop within ``deletionGracePeriodSeconds`` (preStop
  first, in the runtime), every container un-ready at once; when all have exited, a final
  status (``Succeeded`` if all exited 0, else ``Failed``) and ``delete``.
- A pod already ``Succeeded`` or ``Failed`` is left alone until it is deleted.
- **Taking over** (a restarted kubelet, or a new session over a persisted cluster). A new
  worker first asks the runtime to ``adopt`` the pod (a runtime without a record of it
  rebuilds it from the pod status, see :mod:`.adoption`), then takes the instances the runtime
  reports as they are: their start Events were recorded already, and for an instance the
  status reports running, ``ready`` and ``started`` are restored (readiness counts as passed,
  the startup probe as done) and its probes resume on the instance's own schedule, the runs
  that fell due while nobody watched not made up. So a pod found running stays running and
  ready, with no write, unless its profile has it exit or hang meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.events import NORMAL, WARNING
from shipyard.cluster.kubelet.adoption import reported_readiness
from shipyard.cluster.kubelet.podstatus import (
    ContainerView,
    container_status,
    pod_conditions,
    pod_phase,
)
from shipyard.cluster.kubelet.probes import EPSILON, BackOff, ProbeSpec, ProbeTracker
from shipyard.cluster.kubelet.runtime import (
    ContainerRuntime,
    ContainerState,
    ContainerStatus,
    PodRuntimeStatus,
    ProbeKind,
)
from shipyard.cluster.podutil import is_terminal, is_terminating
from shipyard.core.clock import format_time, parse_time
from shipyard.core.durations import format_duration
from shipyard.core.objects import Obj, meta

__all__ = ["DEFAULT_GRACE_SECONDS", "PodWorker", "SyncOutcome"]

DEFAULT_GRACE_SECONDS = 30
PULL_RESYNC_SECONDS = 1.0  # the worker's quick resync after a failed pull (ErrImagePull shows)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
# The Events of bringing an instance up, recorded once per instance.
_START_MILESTONES = frozenset(
    {"pulling", "pulled", "present", "neverpull", "pullfailed", "pullerr", "created", "started"}
)
EventSink = Callable[[Obj, str, str, str], None]


@dataclass(frozen=True)
class SyncOutcome:
    status: dict[str, Any] | None  # the status to write, None when unchanged
    delete: bool = False  # terminated: delete the pod now (grace 0)
    wake_at: float | None = None  # when to sync again


@dataclass
class _Container:
    """The kubelet's memory of one container across its instances."""

    spec: Mapping[str, Any]
    init: bool
    backoff: BackOff = field(default_factory=BackOff)
    pull_backoff: BackOff = field(default_factory=BackOff)
    waiting: tuple[str, str] | None = None
    retry_at: float | None = None
    observed: tuple[int, float | None] | None = None  # (attempt, pull start) of events sent
    milestones: set[str] = field(default_factory=set)
    instance: str = ""  # the container ID the probes below belong to
    probes: dict[ProbeKind, ProbeTracker] = field(default_factory=dict)
    started: bool = False  # startup probe passed (or none)
    killing: bool = False  # a probe failure is stopping this instance

    @property
    def name(self) -> str:
        return str(self.spec.get("name"))

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")


class PodWorker:
    """Syncs one pod against the runtime (see the module docstring)."""

    def __init__(
        self,
        pod: Obj,
        *,
        runtime: ContainerRuntime,
        events: EventSink,
        now: Callable[[], float],
        host_ip: str,
    ) -> None:
        self.pod = pod
        self._runtime = runtime
        self._event = events
        self._now = now
        self._host_ip = host_ip
        self._stop_grace: float | None = None  # the grace the pod's containers were stopped with
        self._deadline_exceeded = False
        self._memo: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._actions = 0  # runtime calls that change state (a fresh status is needed after)
        started = (pod.get("status") or {}).get("startTime")
        self._start_time = parse_time(str(started)) if started else None
        spec = pod.get("spec") or {}
        self._containers = [_Container(c, True) for c in spec.get("initContainers") or ()]
        self._containers += [_Container(c, False) for c in spec.get("containers") or ()]
        runtime.adopt(pod)
        self._adopt(runtime.status(pod))

    @property
    def uid(self) -> str:
        return str(meta(self.pod).get("uid") or "")

    def sync(self) -> SyncOutcome:
        now = self._now()
        if is_terminating(self.pod):
            return self._sync_terminating(now)
        if is_terminal(self.pod):
            return SyncOutcome(None)
        if self._start_time is None:
            self._start_time = now  # the kubelet accepted the pod
        self._check_deadline(now)
        before = self._runtime.status(self.pod)
        self._observe(before, now)
        acted = self._actions
        if not self._deadline_exceeded and self._run_init(before, now):
            self._run_containers(before, now)
        rt = before
        if self._actions != acted:
            rt = self._runtime.status(self.pod)
            self._observe(rt, now)
        if self._probe_all(rt, now):
            rt = self._runtime.status(self.pod)
        # Something changed under this very sync (a start that was instant, an exit at
        # once): look again at the same instant rather than wait for the next event.
        again = _states(rt) != _states(before)
        wake = now if again else self._wake(rt, now)
        return SyncOutcome(self._changed(self._status(rt, now)), wake_at=wake)

    def stop_all(self) -> None:
        """The pod is gone from the API: kill what still runs, without grace."""
        self._runtime.stop(self.pod, 0)
        self._runtime.remove(self.pod)

    # -- running ----------------------------------------------------------------------------

    def _inits(self) -> Iterator[_Container]:
        return (c for c in self._containers if c.init)

    def _regular(self) -> Iterator[_Container]:
        return (c for c in self._containers if not c.init)

    def _run_init(self, rt: PodRuntimeStatus, now: float) -> bool:
        """Advance the init containers; True when all have completed."""
        for c in self._inits():
            cs = rt.containers.get(c.name)
            if cs is None:
                self._start(c)
                return False
            if cs.state is ContainerState.WAITING:
                self._retry_pull(c, cs, now)
                return False
            if cs.state is ContainerState.RUNNING:
                return False
            if cs.exit_code == 0:
                continue
            if self._restart_policy() != "Never":
                self._restart(c, cs, now)
            return False
        return True

    def _run_containers(self, rt: PodRuntimeStatus, now: float) -> None:
        for c in self._regular():
            cs = rt.containers.get(c.name)
            if cs is None:
                self._start(c)
            elif cs.state is ContainerState.WAITING:
                self._retry_pull(c, cs, now)
            elif cs.state is ContainerState.EXITED and self._restarts(cs):
                self._restart(c, cs, now)

    def _restart_policy(self) -> str:
        return str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")

    def _restarts(self, cs: ContainerStatus) -> bool:
        policy = self._restart_policy()
        return policy == "Always" or (policy == "OnFailure" and cs.exit_code != 0)

    def _start(self, c: _Container) -> None:
        c.waiting, c.retry_at = None, None
        self._actions += 1
        self._runtime.start(self.pod, c.name)

    def _restart(self, c: _Container, cs: ContainerStatus, now: float) -> None:
        """Restart an exited container unless it is in CrashLoopBackOff."""
        finished = cs.finished_at if cs.finished_at is not None else now
        if not c.backoff.in_backoff_since(finished, now):
            c.backoff.next(finished, now)
            self._start(c)
            return
        delay = format_duration(c.backoff.delay)
        c.waiting = (
            "CrashLoopBackOff",
            f"back-off {delay} restarting failed container={c.name} pod={self._pod_id()}",
        )
        c.retry_at = finished + c.backoff.delay
        self._once(
            c,
            f"backoff:{cs.container_id}",
            WARNING,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {self._pod_id()}",
        )

    def _retry_pull(self, c: _Container, cs: ContainerStatus, now: float) -> None:
        """A failed image pull: ErrImagePull, then ImagePullBackOff, then pull again.

        (``ErrImageNeverPull`` is not retried: only putting the image there would help.)
        """
        if not _pull_failed(cs):
            return
        key = f"pullfail:{c.observed}"
        if key not in c.milestones:
            c.milestones.add(key)
            c.pull_backoff.next(now, now)
        shown_until = c.pull_backoff.updated + PULL_RESYNC_SECONDS
        if now < shown_until - EPSILON:  # the failure is new: ErrImagePull shows for a moment
            c.waiting, c.retry_at = None, shown_until
            return
        if c.pull_backoff.in_backoff_since(c.pull_backoff.updated, now):
            c.waiting = ("ImagePullBackOff", f'Back-off pulling image "{c.image}"')
            c.retry_at = c.pull_backoff.updated + c.pull_backoff.delay
            self._once(c, f"pullbackoff:{c.observed}", NORMAL, "BackOff", c.waiting[1])
            self._once(
                c, f"pullbackofferr:{c.observed}", WARNING, "Failed", "Error: ImagePullBackOff"
            )
            return
        self._actions += 1
        self._runtime.start(self.pod, c.name)
        c.retry_at = None  # keep showing ImagePullBackOff until this pull resolves

    # -- observing: events and probe workers ---------------------------------------------------

    def _observe(self, rt: PodRuntimeStatus, now: float) -> None:
        for c in self._containers:
            cs = rt.containers.get(c.name)
            if cs is None:
                continue
            identity = (cs.attempt, cs.pull.started_at if cs.pull is not None else None)
            if identity != c.observed:
                c.observed, c.milestones = identity, set()
            self._pull_events(c, cs)
            if cs.started_at is not None:
                self._once(c, "created", NORMAL, "Created", f"Created container: {c.name}")
                self._once(c, "started", NORMAL, "Started", f"Started container {c.name}")
            if cs.state is ContainerState.RUNNING:
                c.waiting = None
                if c.instance != cs.container_id:
                    self._new_instance(c, cs)

    def _adopt(self, rt: PodRuntimeStatus) -> None:
        """Instances that started before this worker existed (a restarted kubelet) had their
        start Events already: only what happens to them from now on is recorded. One the
        status reports running keeps its reported readiness (see the module docstring)."""
        reported = reported_readiness(self.pod)
        for c in self._containers:
            cs = rt.containers.get(c.name)
            if cs is None:
                continue
            c.observed = (cs.attempt, cs.pull.started_at if cs.pull is not None else None)
            c.milestones = set(_START_MILESTONES)
            was = reported.get(cs.container_id)
            if was is not None and cs.state is ContainerState.RUNNING:
                self._resume_instance(c, cs, ready=was[0], started=was[1])

    def _resume_instance(
        self, c: _Container, cs: ContainerStatus, *, ready: bool, started: bool
    ) -> None:
        self._new_instance(c, cs)
        now = self._now()
        for tracker in c.probes.values():
            tracker.resume(now)
        c.started = c.started or started
        readiness = c.probes.get(ProbeKind.READINESS)
        if readiness is not None and ready:
            readiness.restore(True)

    def _pull_events(self, c: _Container, cs: ContainerStatus) -> None:
        pull, image = cs.pull, c.image
        if pull is None:
            if cs.reason == "ErrImageNeverPull":
                self._once(c, "neverpull", WARNING, "ErrImageNeverPull", cs.message)
            else:
                msg = f'Container image "{image}" already present on machine'
                self._once(c, "present", NORMAL, "Pulled", msg)
            return
        self._once(c, "pulling", NORMAL, "Pulling", f'Pulling image "{image}"')
        if pull.finished_at is None:
            return
        if pull.error:
            msg = f'Failed to pull image "{image}": {pull.error}'
            self._once(c, "pullfailed", WARNING, "Failed", msg)
            self._once(c, "pullerr", WARNING, "Failed", "Error: ErrImagePull")
            return
        if "pulled" in c.milestones:
            return
        took = format_duration(pull.finished_at - pull.started_at)
        msg = (
            f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
            f"Image size: {pull.size_bytes} bytes."
        )
        self._once(c, "pulled", NORMAL, "Pulled", msg)

    def _new_instance(self, c: _Container, cs: ContainerStatus) -> None:
        started = cs.started_at if cs.started_at is not None else self._now()
        c.instance, c.killing = cs.container_id, False
        c.probes = {}
        if not c.init:
            for kind in ProbeKind:
                spec = ProbeSpec.of(c.spec, kind)
                if spec is not None:
                    c.probes[kind] = ProbeTracker(spec, started)
        c.started = ProbeKind.STARTUP not in c.probes

    def _once(self, c: _Container, milestone: str, type_: str, reason: str, msg: str) -> None:
        if milestone not in c.milestones:
            c.milestones.add(milestone)
            self._event(self.pod, type_, reason, msg)

    # -- probes --------------------------------------------------------------------------------

    def _probe_all(self, rt: PodRuntimeStatus, now: float) -> bool:
        """Run the probes that are due; True when a failed probe stopped a container."""
        killed = False
        for c in self._containers:
            cs = rt.containers.get(c.name)
            if cs is None or cs.state is not ContainerState.RUNNING or not c.probes:
                continue
            if c.killing or cs.stopping or c.instance != cs.container_id:
                continue
            killed |= self._probe_container(c, now)
        return killed

    def _probe_container(self, c: _Container, now: float) -> bool:
        startup = c.probes.get(ProbeKind.STARTUP)
        if not c.started and startup is not None:
            for kind in (ProbeKind.READINESS, ProbeKind.LIVENESS):
                if kind in c.probes and c.probes[kind].due(now):
                    c.probes[kind].skip(now)
            if not startup.due(now):
                return False
            self._probe(c, startup, now)
            if startup.result:
                c.started = True
                return False
            return startup.failures >= startup.spec.failure_threshold and self._kill(c, startup)
        readiness = c.probes.get(ProbeKind.READINESS)
        if readiness is not None and readiness.due(now):
            self._probe(c, readiness, now)
        liveness = c.probes.get(ProbeKind.LIVENESS)
        if liveness is not None and liveness.due(now) and not self._probe(c, liveness, now):
            return not liveness.result and self._kill(c, liveness)
        return False

    def _probe(self, c: _Container, tracker: ProbeTracker, now: float) -> bool:
        spec = tracker.spec
        result = self._runtime.probe(self.pod, c.name, spec.kind, spec.handler)
        tracker.record(result.success, now)
        if tracker.result and result.success:
            tracker.hold_until(result.stable_until)
        if not result.success:
            self._event(
                self.pod, WARNING, "Unhealthy", f"{spec.kind.label} probe failed: {result.message}"
            )
        return result.success

    def _kill(self, c: _Container, tracker: ProbeTracker) -> bool:
        spec = tracker.spec
        message = f"Container {c.name} failed {spec.kind.label.lower()} probe"
        if self._restart_policy() != "Never":
            message += ", will be restarted"
        self._event(self.pod, NORMAL, "Killing", message)
        grace = spec.termination_grace
        self._runtime.stop(
            self.pod, grace if grace is not None else self._pod_grace(), container=c.name
        )
        c.killing = True
        return True

    # -- deadline and termination -----------------------------------------------------------

    def _check_deadline(self, now: float) -> None:
        due = self._deadline()
        if self._deadline_exceeded or due is None or now + EPSILON < due:
            return
        self._deadline_exceeded = True
        self._actions += 1
        self._event(self.pod, NORMAL, "DeadlineExceeded", DEADLINE_MESSAGE)
        self._runtime.stop(self.pod, self._pod_grace())

    def _deadline(self) -> float | None:
        seconds = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if not isinstance(seconds, int) or self._start_time is None:
            return None
        return self._start_time + seconds

    def _pod_grace(self) -> float:
        grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return float(grace) if isinstance(grace, int | float) else DEFAULT_GRACE_SECONDS

    def _deletion_grace(self) -> float:
        grace = meta(self.pod).get("deletionGracePeriodSeconds")
        return float(grace) if isinstance(grace, int | float) else self._pod_grace()

    def _sync_terminating(self, now: float) -> SyncOutcome:
        rt = self._runtime.status(self.pod)
        self._observe(rt, now)
        grace = self._deletion_grace()
        if self._stop_grace is None or grace < self._stop_grace:  # a second delete may shorten it
            if self._stop_grace is None:
                for c in self._containers:
                    cs = rt.containers.get(c.name)
                    if cs is not None and cs.state is ContainerState.RUNNING:
                        self._event(self.pod, NORMAL, "Killing", f"Stopping container {c.name}")
            self._stop_grace = grace
            self._runtime.stop(self.pod, grace)
            rt = self._runtime.status(self.pod)
        done = all(cs.state is ContainerState.EXITED for cs in rt.containers.values())
        if is_terminal(self.pod):
            return SyncOutcome(None, delete=True)
        status = self._status(rt, now, terminal=done)
        return SyncOutcome(self._changed(status), delete=done, wake_at=rt.next_change)

    # -- status --------------------------------------------------------------------------------

    def _views(self, rt: PodRuntimeStatus, *, init: bool) -> list[ContainerView]:
        views = []
        for c in self._containers:
            if c.init != init:
                continue
            cs = rt.containers.get(c.name)
            running = cs is not None and cs.state is ContainerState.RUNNING
            started = running and c.started and c.instance == (cs.container_id if cs else "")
            ready = (
                started
                and self._stop_grace is None
                and not c.killing
                and not (cs is not None and cs.stopping)
            )
            readiness = c.probes.get(ProbeKind.READINESS)
            if readiness is not None:
                ready = ready and readiness.result
            if init:  # an init container counts as ready once it has completed
                ready = cs is not None and cs.state is ContainerState.EXITED and cs.exit_code == 0
            views.append(ContainerView(c.name, c.image, cs, ready, started, c.waiting))
        return views

    def _status(
        self, rt: PodRuntimeStatus, now: float, *, terminal: bool = False
    ) -> dict[str, Any]:
        spec = self.pod.get("spec") or {}
        old = self.pod.get("status") or {}
        inits, regular = self._views(rt, init=True), self._views(rt, init=False)
        # The status is a function of these (and of ``now`` only where they change): when
        # they did not change and the stored status is the one built from them, reuse it.
        inputs = (tuple(inits), tuple(regular), rt.ip, terminal, self._deadline_exceeded)
        if self._memo is not None and self._memo[0] == inputs and self._memo[1] == old:
            return self._memo[1]
        status = self._build_status(
            old, spec, rt, now, inits=inits, regular=regular, terminal=terminal
        )
        self._memo = (inputs, status)
        return status

    def _build_status(
        self,
        old: dict[str, Any],
        spec: dict[str, Any],
        rt: PodRuntimeStatus,
        now: float,
        *,
        inits: list[ContainerView],
        regular: list[ContainerView],
        terminal: bool,
    ) -> dict[str, Any]:
        phase = pod_phase(self._restart_policy(), inits, regular, terminal=terminal)
        if self._deadline_exceeded:
            phase = "Failed"
        gates = [str(g.get("conditionType")) for g in spec.get("readinessGates") or ()]
        status: dict[str, Any] = {
            k: v for k, v in old.items() if k not in ("reason", "message", "conditions")
        }
        status["phase"] = phase
        status["conditions"] = pod_conditions(
            old.get("conditions") or (),
            now=now,
            sandbox_ready=bool(rt.ip),
            inits=inits,
            containers=regular,
            phase=phase,
            readiness_gates=gates,
        )
        if self._deadline_exceeded:
            status["reason"], status["message"] = "DeadlineExceeded", DEADLINE_MESSAGE
        if self._host_ip:
            status["hostIP"], status["hostIPs"] = self._host_ip, [{"ip": self._host_ip}]
        if rt.ip:
            status["podIP"], status["podIPs"] = rt.ip, [{"ip": rt.ip}]
        status.setdefault("startTime", format_time(self._start_time or now))
        default = "PodInitializing" if inits else "ContainerCreating"
        if inits:
            status["initContainerStatuses"] = [container_status(v, default) for v in inits]
        by_name = sorted(regular, key=lambda v: v.name)
        status["containerStatuses"] = [container_status(v, default) for v in by_name]
        return status

    def _changed(self, status: dict[str, Any]) -> dict[str, Any] | None:
        return None if status == (self.pod.get("status") or {}) else status

    def _wake(self, rt: PodRuntimeStatus, now: float) -> float | None:
        """The next moment something is due; everything due now was done by this sync."""
        times = [rt.next_change, self._deadline() if not self._deadline_exceeded else None]
        for c in self._containers:
            times.append(c.retry_at)
            cs = rt.containers.get(c.name)
            if cs is None or cs.state is not ContainerState.RUNNING or cs.stopping:
                continue
            if not c.killing and c.instance == cs.container_id:
                times.extend(
                    t.next_at
                    for kind, t in c.probes.items()
                    if not (kind is ProbeKind.STARTUP and c.started)
                )
        future = [t for t in times if t is not None and now + EPSILON < t < math.inf]
        return min(future) if future else None

    def _pod_id(self) -> str:
        md = meta(self.pod)
        return f"{md.get('name')}_{md.get('namespace')}({md.get('uid')})"


def _pull_failed(cs: ContainerStatus) -> bool:
    return cs.pull is not None and bool(cs.pull.error) and cs.pull.finished_at is not None


def _states(rt: PodRuntimeStatus) -> dict[str, tuple[int, ContainerState, str]]:
    return {n: (cs.attempt, cs.state, cs.container_id) for n, cs in rt.containers.items()}
