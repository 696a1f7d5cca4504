"""A simulated container runtime: containers whose behaviour comes from image profiles.

:class:`SimulatedRuntime` implements :class:`~.runtime.ContainerRuntime` without running
anything. Each container instance is a timeline computed from an :class:`ImageProfile` and
the clock when it is started (pull, create, running, exit; see :mod:`.timeline`), so the
runtime needs no timers of its own and answers every question (state, probe, CPU usage) from
``clock.now()``.

**Profiles** are looked up by image reference: the exact reference (``example/web:2``), then
the repository without tag or digest (``example/web``), then ``"*"``, then the built-in
default ``ImageProfile()``. Any field can be overridden per pod with an annotation; scenario
files use these:

==========================================  ===============================================
annotation (``sim.shipyard.dev/`` + …)      meaning (default)
==========================================  ===============================================
``pull_seconds``                            image pull time on a node without it (2)
``startup_seconds``                         create + start time, until ``running`` (1)
``ready_after_seconds``                     readiness/startup probes pass after this long
                                            running (0)
``ready``                                   readiness ever passes; ``false`` is a bad
                                            release (true)
``crash_after_seconds``                     the process exits after this long running;
                                            ``none`` = never (none)
``exit_code``                               its exit code then (1; 0 = a Job that succeeds)
``hang_after_seconds``                      the process stops answering (liveness and
                                            readiness fail, no capacity) after this long (none)
``prestop_seconds``                         duration of a ``preStop`` hook without a ``sleep``
                                            action of its own (0)
``shutdown_seconds``                        time to exit after SIGTERM (0)
``cpu_millicores_idle``                     CPU used with no traffic (5)
``cpu_millicores_per_rps``                  extra CPU per request/second (1)
``capacity_rps``                            requests/second one pod can serve (100)
``image_size_bytes``                        reported in the ``Pulled`` event (50000000)
``pullable``                                ``false``: the pull fails (ErrImagePull) (true)
==========================================  ===============================================

``sim.shipyard.dev/<field>`` applies to every container of the pod;
``sim.shipyard.dev/<container>.<field>`` to one container and wins. Field names may be
written with ``-`` for ``_`` (``crash-after-seconds``). Numbers are plain decimals, booleans
``true``/``false``, and ``none``/``never``/empty clears an optional field. A value that does
not parse is ignored (and logged).

**Semantics.** Images are cached per node: ``IfNotPresent`` pulls only on a node without the
image (a pod arriving while it is being pulled waits for that pull), ``Always`` always goes
through a pull (instant when the layers are present), ``Never`` fails with
``ErrImageNeverPull`` when absent. An init container whose profile never exits completes
(exit 0) as soon as it runs — init containers run to completion by nature. ``stop`` runs the
``preStop`` hook (``lifecycle.preStop.sleep.seconds``, else ``prestop_seconds``) within the
grace period, then SIGTERM: the process exits 0 after ``shutdown_seconds``, or is SIGKILLed
(exit 137) when the grace period (at least 2 s after the hook, as the kubelet grants) runs
out; a hung process ignores SIGTERM. Probe handlers answer from the profile: startup passes
once ``ready_after_seconds`` have elapsed, readiness too when ``ready``, liveness until the
process hangs; failure messages are the ones kubelet probes print (:mod:`.messages`). Probes
answer at once (a hung process fails the probe without the ``timeoutSeconds`` wait).

**Adoption.** The runtime lives in memory; ``adopt`` rebuilds a pod it does not know from the
pod's status (see :mod:`.adoption`) — the sandbox keeps its ``podIP``, each reported instance
keeps its ``containerID``, attempt and ``startedAt``, and its timeline is the one the pod's
profile gives an instance started then: a ``crash_after_seconds`` that elapsed since
``startedAt`` has the process exited at ``startedAt + crash_after_seconds``, a hang that
elapsed has it hung. The reported image is present on the node. Pods this runtime removed
are never adopted (their containers were stopped). New sandboxes never get an IP an adopted
one holds.

**Metrics.** As :class:`~shipyard.cluster.metrics.PodMetrics`, a pod's CPU usage is the sum
over its running containers of ``idle + per_rps × load``, each capped by that container's CPU
limit (the cgroup quota); ``None`` when nothing runs. The load is the pod's ``record_load``
value plus the ``rps_each`` of every Service that ``route`` sends to it (in Service order).
As :class:`~shipyard.cluster.metrics.ServingPods`, a pod's capacity is its first container's
``capacity_rps`` (the application; sidecars do not limit it) while every regular container is
running, not stopping, not hung and ready-capable (``ready`` and ``ready_after_seconds``
elapsed), else 0. ``route`` works from a :class:`~shipyard.cluster.metrics.RouteTable`: each
routed pod's capacity is kept with the instant its timeline may next change it (running,
ready, hung, exited) and asked again only then or after a start, stop, removal or adoption of
the pod. As :class:`~shipyard.cluster.metrics.GroupedPodMetrics`, a pod's usage key is its
running containers' (idle, per_rps, limit), the Services routing to it and its recorded load
— interned, so pods alike share the very same key — valid until one of those containers
starts or stops running; listeners hear of every start, stop, removal, adoption, change of
the Services routing to a pod and recorded load.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.kubelet.adoption import ReportedInstance, reported_pod
from shipyard.cluster.kubelet.messages import (
    container_of,
    container_spec,
    never_pull_message,
    pull_error,
    refused_message,
    timeout_message,
)
from shipyard.cluster.kubelet.profiles import (
    ANNOTATION_PREFIX,
    ImageProfile,
    image_repository,
    normalized_repository,
    profile_for,
    profile_overrides,
)
from shipyard.cluster.kubelet.runtime import (
    ContainerState,
    ContainerStatus,
    ImagePull,
    PodRuntimeStatus,
    ProbeKind,
    ProbeResult,
)
from shipyard.cluster.kubelet.timeline import (
    Cpu,
    Instance,
    container_cpu,
    is_serving,
    natural_exit,
    next_serving_change,
    next_state_change,
)
from shipyard.cluster.metrics import RouteTable
from shipyard.cluster.podutil import quantity_units
from shipyard.core.clock import Clock
from shipyard.core.objects import Obj, meta

__all__ = [
    "ANNOTATION_PREFIX",
    "ImageProfile",
    "SimulatedRuntime",
    "image_repository",
    "normalized_repository",
    "profile_for",
]


RUNTIME_NAME = "shipyard-sim"
RUNTIME_VERSION = f"{RUNTIME_NAME}://0.1.0"
EXIT_SIGKILL = 137
MIN_GRACE_AFTER_HOOK = 2.0  # kuberuntime's minimumGracePeriodInSeconds

PodRef = tuple[str, str]


# --- usage keys and sandboxes ----------------------------------------------------------


class _UsageKey:
    """A ``usage_key``: interned by the runtime, so it compares and hashes by identity."""

    __slots__ = ("containers", "explicit", "sources")

    def __init__(
        self, containers: tuple[Cpu, ...], sources: tuple[PodRef, ...], explicit: float
    ) -> None:
        self.containers = containers  # the running containers, in the order usage adds them
        self.sources = sources  # the sources routing to the pod (RouteTable.sources)
        self.explicit = explicit  # its record_load value

    def __repr__(self) -> str:
        return f"_UsageKey({self.containers!r}, {self.sources!r}, {self.explicit!r})"


@dataclass
class _Sandbox:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    regular: list[str] = field(default_factory=list)  # the regular containers, in spec order
    instances: dict[str, list[Instance]] = field(default_factory=dict)

    def latest(self, container: str) -> Instance | None:
        found = self.instances.get(container)
        return found[-1] if found else None

    def all_latest(self) -> Iterator[Instance]:
        for found in self.instances.values():
            if found:
                yield found[-1]


# --- the runtime --------------------------------------------------------------------------


class SimulatedRuntime:
    """A :class:`~.runtime.ContainerRuntime`, ``PodMetrics`` and ``ServingPods`` in one."""

    def __init__(
        self,
        clock: Clock,
        profiles: Mapping[str, ImageProfile] | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self._clock = clock
        self._profiles: dict[str, ImageProfile] = dict(profiles or {})
        self._seed = seed
        self._sandboxes: dict[str, _Sandbox] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._images: dict[str, dict[str, float]] = {}
        self._load: dict[tuple[str, str], float] = {}
        self._ips = 0
        self._used_ips: set[str] = set()
        self._removed: set[str] = set()  # uids of removed pods: never adopted again
        self._lock = threading.RLock()
        self._routes = RouteTable(self._capacity_until)
        self._listeners: list[Callable[[str, str], None]] = []
        self._usage_keys: dict[tuple[Any, ...], _UsageKey] = {}
        self._no_usage = _UsageKey((), (), 0.0)

    @property
    def version(self) -> str:
        return RUNTIME_VERSION

    def set_profile(self, image: str, profile: ImageProfile) -> None:
        """Add or replace the profile of an image reference, repository or ``*``."""
        with self._lock:
            self._profiles[image] = profile

    # -- ContainerRuntime ---------------------------------------------------------------------

    def start(self, pod: Obj, container: str) -> None:
        with self._lock:
            if not self._start(pod, container):
                return
            self._routes.invalidate(_ref(pod))
        self._notify(_ref(pod))

    def _start(self, pod: Obj, container: str) -> bool:
        """Start the container unless it runs; False when it did."""
        spec, init = container_spec(pod, container)
        if spec is None:
            raise ValueError(f"pod {_pod_name(pod)} has no container {container!r}")
        sandbox = self._sandbox(pod)
        now = self._clock.now()
        latest = sandbox.latest(container)
        if (
            latest is not None
            and latest.created(now)
            and latest.state(now) is not (ContainerState.EXITED)
        ):
            return False  # already running: starting is idempotent
        instances = sandbox.instances.setdefault(container, [])
        if latest is not None and not latest.created(now):
            instances.pop()  # a failed or abandoned pull is replaced, not counted
        attempt = instances[-1].attempt + 1 if instances else 0
        instances.append(self._new_instance(pod, sandbox, spec, attempt, init=init))
        del instances[:-2]
        return True

    def stop(self, pod: Obj, grace_seconds: float, *, container: str | None = None) -> None:
        with self._lock:
            sandbox = self._sandboxes.get(_uid(pod))
            if sandbox is None:
                return
            now = self._clock.now()
            for name, instances in sandbox.instances.items():
                if instances and container in (None, name):
                    self._stop_instance(pod, instances, grace_seconds, now)
            self._routes.invalidate(_ref(pod))
        self._notify(_ref(pod))

    def status(self, pod: Obj) -> PodRuntimeStatus:
        with self._lock:
            sandbox = self._sandboxes.get(_uid(pod))
            if sandbox is None:
                return PodRuntimeStatus()
            now = self._clock.now()
            containers: dict[str, ContainerStatus] = {}
            changes: list[float] = []
            for name, instances in sandbox.instances.items():
                if not instances:
                    continue
                previous = instances[-2] if len(instances) > 1 else None
                containers[name] = instances[-1].status(now, previous)
                change = instances[-1].next_change(now)
                if change is not None:
                    changes.append(change)
            return PodRuntimeStatus(sandbox.ip, containers, min(changes) if changes else None)

    def probe(
        self, pod: Obj, container: str, kind: ProbeKind, probe: Mapping[str, Any]
    ) -> ProbeResult:
        with self._lock:
            sandbox = self._sandboxes.get(_uid(pod))
            inst = sandbox.latest(container) if sandbox is not None else None
            now = self._clock.now()
            if sandbox is None or inst is None or inst.state(now) is not ContainerState.RUNNING:
                return ProbeResult(False, "container is not running")
            if inst.hung(now):
                return ProbeResult(False, timeout_message(probe, sandbox.ip, pod, container))
            if kind is ProbeKind.LIVENESS or (
                inst.running_at is not None
                and inst.running_at + inst.profile.ready_after_seconds <= now
                and (kind is ProbeKind.STARTUP or inst.profile.ready)
            ):
                return ProbeResult(True, stable_until=inst.hang_at())
            return ProbeResult(False, refused_message(probe, sandbox.ip, pod, container))

    def remove(self, pod: Obj) -> None:
        with self._lock:
            self._removed.add(_uid(pod))
            sandbox = self._sandboxes.pop(_uid(pod), None)
            if sandbox is None:
                return
            self._used_ips.discard(sandbox.ip)
            name = (sandbox.namespace, sandbox.name)
            if self._by_name.get(name) != sandbox.uid:
                return
            del self._by_name[name]
            self._load.pop(name, None)
            self._routes.invalidate(name)
        self._notify(name)

    def adopt(self, pod: Obj) -> bool:
        with self._lock:
            uid = _uid(pod)
            if uid in self._sandboxes or uid in self._removed:
                return False
            reported = reported_pod(pod)
            if reported is None:
                return False
            sandbox = self._sandbox(pod, ip=reported.ip)
            for name, instances in reported.containers.items():
                spec, init = container_spec(pod, name)
                if spec is not None:
                    sandbox.instances[name] = [
                        self._adopted_instance(pod, sandbox, spec, r, init=init) for r in instances
                    ]
            self._routes.invalidate(_ref(pod))
        self._notify(_ref(pod))
        return True

    # -- PodMetrics and ServingPods -------------------------------------------------------------

    def pod_cpu_usage(self, namespace: str, name: str) -> float | None:
        with self._lock:
            sandbox = self._named(namespace, name)
            if sandbox is None:
                return None
            now = self._clock.now()
            pod = (namespace, name)
            rps = self._routes.load(pod, self._load.get(pod, 0.0))
            total: float | None = None
            for inst in sandbox.all_latest():
                if inst.state(now) is ContainerState.RUNNING:
                    total = container_cpu(inst.cpu, rps) + (total or 0.0)
            return total

    def capacity(self, namespace: str, name: str) -> float:
        with self._lock:
            return self._capacity_until((namespace, name), self._clock.now())[0]

    def record_load(self, namespace: str, name: str, rps: float) -> None:
        pod = (namespace, name)
        with self._lock:
            before = self._load.get(pod, 0.0)
            if rps > 0:
                self._load[pod] = float(rps)
            else:  # 0 + the routed load is the routed load: no entry keeps keys shared
                self._load.pop(pod, None)
            if self._load.get(pod, 0.0) == before:
                return
        self._notify(pod)

    def route(self, source: tuple[str, str], pods: Sequence[PodRef], rps_each: float) -> float:
        with self._lock:
            served, changed = self._routes.route(source, pods, rps_each, self._clock.now())
        if changed and self._listeners:
            for pod in changed:
                self._notify(pod)
        return served

    # -- GroupedPodMetrics ----------------------------------------------------------------------

    def usage_key(self, namespace: str, name: str) -> tuple[Hashable, float]:
        with self._lock:
            pod = (namespace, name)
            sandbox = self._named(namespace, name)
            if sandbox is None:
                return self._no_usage, math.inf
            now = self._clock.now()
            until = math.inf
            running: list[Cpu] = []
            for inst in sandbox.all_latest():
                if inst.state(now) is ContainerState.RUNNING:
                    running.append(inst.cpu)
                until = min(until, next_state_change(inst, now))
            if not running:
                return self._no_usage, until
            parts = (tuple(running), self._routes.sources(pod), self._load.get(pod, 0.0))
            key = self._usage_keys.get(parts)
            if key is None:
                key = self._usage_keys[parts] = _UsageKey(*parts)
            return key, until

    def usage_of(self, key: Hashable) -> float | None:
        if not isinstance(key, _UsageKey) or not key.containers:
            return None
        with self._lock:
            rps = key.explicit
            for source in key.sources:
                rps += self._routes.rps_each(source)
        total: float | None = None
        for cpu in key.containers:
            total = container_cpu(cpu, rps) + (total or 0.0)
        return total

    def add_usage_listener(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    # -- internals ------------------------------------------------------------------------------

    def _notify(self, pod: PodRef) -> None:
        """Tell the usage listeners (outside the lock) that ``pod``'s key may have changed."""
        for callback in list(self._listeners):
            callback(pod[0], pod[1])

    def _capacity_until(self, pod: PodRef, now: float) -> tuple[float, float]:
        """``capacity(pod)`` at ``now``, and the instant before which no timeline changes it."""
        sandbox = self._named(*pod)
        if sandbox is None:
            return 0.0, math.inf
        until = math.inf
        serving = True
        first: Instance | None = None
        for container in sandbox.regular:
            inst = sandbox.latest(container)
            if inst is None:
                serving = False
                continue
            until = min(until, next_serving_change(inst, now))
            serving = serving and is_serving(inst, now)
            first = first or inst
        capacity = first.profile.capacity_rps if serving and first is not None else 0.0
        return capacity, until

    def _sandbox(self, pod: Obj, *, ip: str = "") -> _Sandbox:
        uid = _uid(pod)
        sandbox = self._sandboxes.get(uid)
        if sandbox is None:
            md = meta(pod)
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            sandbox = _Sandbox(
                uid,
                str(md.get("namespace") or ""),
                str(md.get("name") or ""),
                node,
                ip or self._ip(),
                _regular_container_names(pod),
            )
            self._used_ips.add(sandbox.ip)
            self._sandboxes[uid] = sandbox
            self._by_name[(sandbox.namespace, sandbox.name)] = uid
        return sandbox

    def _named(self, namespace: str, name: str) -> _Sandbox | None:
        uid = self._by_name.get((namespace, name))
        return self._sandboxes.get(uid) if uid is not None else None

    def _ip(self) -> str:
        """Pod IPs are loopback addresses in 127.128.0.0/9, as live mode gives each pod its own
        (nodes use 127.1.x.y and Services 127.96.0.0/12), so nothing ever points elsewhere.
        An address an adopted sandbox holds is skipped."""
        while True:
            n = self._ips
            self._ips += 1
            rest, last = divmod(n, 254)
            third, second = rest % 256, 128 + (rest // 256) % 128
            ip = f"127.{second}.{third}.{last + 1}"
            if ip not in self._used_ips:
                return ip

    def _new_instance(
        self, pod: Obj, sandbox: _Sandbox, spec: Mapping[str, Any], attempt: int, *, init: bool
    ) -> Instance:
        name = str(spec.get("name"))
        image = str(spec.get("image") or "")
        profile = self._profile(pod, spec)
        now = self._clock.now()
        pull, ready_at, error = self._pull(sandbox.node, image, spec, profile, now)
        inst = Instance(
            name=name,
            attempt=attempt,
            image=image,
            profile=profile,
            container_id=f"{RUNTIME_NAME}://{self._hex(sandbox.uid, name, attempt, now)}",
            image_id=f"{normalized_repository(image)}@sha256:{_sha256(image)}",
            pull=pull,
            running_at=None if error else ready_at + profile.startup_seconds,
            exit_at=None,
            exit_code=profile.exit_code,
            limit_millicores=_cpu_limit(spec),
        )
        if error:
            inst.waiting_reason, inst.waiting_message = error
        elif inst.running_at is not None:
            inst.exit_at, inst.exit_code = natural_exit(profile, inst.running_at, init=init)
        return inst

    def _profile(self, pod: Obj, spec: Mapping[str, Any]) -> ImageProfile:
        annotations = meta(pod).get("annotations") or {}
        return profile_for(self._profiles, str(spec.get("image") or "")).with_overrides(
            profile_overrides(annotations, str(spec.get("name")))
        )

    def _adopted_instance(
        self,
        pod: Obj,
        sandbox: _Sandbox,
        spec: Mapping[str, Any],
        reported: ReportedInstance,
        *,
        init: bool,
    ) -> Instance:
        """An instance rebuilt from the pod status, on the timeline its profile gives it."""
        image = str(spec.get("image") or "")
        profile = self._profile(pod, spec)
        cache = self._images.setdefault(sandbox.node, {})
        now = self._clock.now()
        cache[image] = min(cache.get(image, now), now)  # it ran here: the image is present
        exit_at: float | None
        if reported.finished_at is not None:
            exit_at, exit_code = reported.finished_at, reported.exit_code
        else:
            exit_at, exit_code = natural_exit(profile, reported.started_at, init=init)
        return Instance(
            name=reported.name,
            attempt=reported.attempt,
            image=image,
            profile=profile,
            container_id=reported.container_id,
            image_id=reported.image_id or f"{normalized_repository(image)}@sha256:{_sha256(image)}",
            pull=None,
            running_at=reported.started_at,
            exit_at=exit_at,
            exit_code=exit_code,
            limit_millicores=_cpu_limit(spec),
        )

    def _pull(
        self, node: str, image: str, spec: Mapping[str, Any], profile: ImageProfile, now: float
    ) -> tuple[ImagePull | None, float, tuple[str, str] | None]:
        """(the pull, when the image is usable, an error (reason, message) if it never is)."""
        cache = self._images.setdefault(node, {})
        available = cache.get(image)
        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        present = available is not None and available <= now
        if policy == "Never":
            if present:
                return None, now, None
            return None, now, ("ErrImageNeverPull", never_pull_message(image))
        if present and policy != "Always":
            return None, now, None
        if not profile.pullable:
            done = now + profile.pull_seconds
            error = pull_error(image)
            return ImagePull(now, done, 0, error), done, ("ErrImagePull", error)
        done = now if present else (available or now + profile.pull_seconds)
        if available is None or done < available:
            cache[image] = done
        return ImagePull(now, done, profile.image_size_bytes), done, None

    def _stop_instance(self, pod: Obj, instances: list[Instance], grace: float, now: float) -> None:
        inst = instances[-1]
        if not inst.created(now):
            instances.pop()  # never started: abandon the pull / creation
            return
        if inst.state(now) is ContainerState.EXITED:
            return
        if grace <= 0:
            stop_at, code = now, EXIT_SIGKILL
        else:
            hook = min(_prestop_seconds(pod, inst), grace) if _has_prestop(pod, inst) else 0.0
            kill_at = now + max(grace, hook + MIN_GRACE_AFTER_HOOK) if hook else now + grace
            exits_at = now + hook + inst.profile.shutdown_seconds
            if inst.hung(now) or exits_at > kill_at:
                stop_at, code = kill_at, EXIT_SIGKILL
            else:
                stop_at, code = exits_at, 0
        if inst.stop_at is None or stop_at < inst.stop_at:
            inst.stop_at, inst.stop_code = stop_at, code

    def _hex(self, *parts: object) -> str:
        return _sha256(":".join(str(p) for p in (self._seed, *parts)))


# --- helpers ------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _uid(pod: Obj) -> str:
    md = meta(pod)
    return str(md.get("uid") or f"{md.get('namespace')}/{md.get('name')}")


def _pod_name(pod: Obj) -> str:
    md = meta(pod)
    return f"{md.get('namespace')}/{md.get('name')}"


def _regular_container_names(pod: Obj) -> list[str]:
    return [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]


def _cpu_limit(spec: Mapping[str, Any]) -> int | None:
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("cpu")
    return quantity_units("cpu", limit) if limit is not None else None


def _ref(pod: Obj) -> PodRef:
    md = meta(pod)
    return str(md.get("namespace") or ""), str(md.get("name") or "")


def _has_prestop(pod: Obj, inst: Instance) -> bool:
    return bool((container_of(pod, inst.name).get("lifecycle") or {}).get("preStop"))


def _prestop_seconds(pod: Obj, inst: Instance) -> float:
    hook = (container_of(pod, inst.name).get("lifecycle") or {}).get("preStop") or {}
    sleep = (hook.get("sleep") or {}).get("seconds")
    return float(sleep) if isinstance(sleep, int | float) else inst.profile.prestop_seconds
