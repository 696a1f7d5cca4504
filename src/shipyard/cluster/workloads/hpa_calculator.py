"""The HorizontalPodAutoscaler's replica calculator: from pod samples to a replica count.

Reproduces ``replica_calculator.go`` of ``pkg/controller/podautoscaler`` (``autoscaling/v2``)
for ``Resource`` ``cpu`` metrics, as pure functions the controller (:mod:`.hpa`) calls:

- **Samples** (:func:`classify_pod`: ``groupPods`` for CPU, plus ``calculatePodRequests``):
  each pod is a :class:`PodSample` with its usage and its request (the sum of its containers'
  CPU requests, in millicores). Pods being deleted and failed pods are *ignored*; pending pods,
  pods whose Ready condition is False (or flipped less than one metrics window, 15 s, ago)
  during their first 5 minutes (``--horizontal-pod-autoscaler-cpu-initialization-period``),
  and pods that were never ready 30 s after starting are *unready*; a running pod without
  metrics is *missing*. A sample is remembered per stored pod (stored objects are never
  changed in place) until one of those windows closes, and a request per containers list.
- **Proposal** (:func:`utilization_replicas` for a ``Utilization`` target: usage / request,
  in whole percent, truncated; :func:`average_value_replicas` for an ``AverageValue`` target
  in millicores): ``desired = ceil(ratio × ready pods)``, unchanged while the ratio is within
  the :class:`Tolerance` (10 %, or ``behavior.scaleUp/scaleDown.tolerance``). Unready pods
  count as using 0 % when the ready pods ask to scale up and are left out otherwise; pods
  without metrics count as 0 % on a scale-up and as 100 % of their request (or the target,
  when above 100 %) on a scale-down; if that correction flips the direction or lands within
  the tolerance, nothing changes. When no count can be proposed (no metrics, a container
  without a CPU request, no ready pod) a :class:`ReplicaCalculationError` carries Kubernetes'
  error text.

A sample may stand for ``count`` pods alike (the grouped reading of :mod:`.hpa_pods`): every
sum weighs it by its count, so one sample per group proposes what one sample per pod does.

Not reproduced: pod-level resources and sidecar requests (a pod's request is its
``containers``' only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shipyard.cluster.podutil import condition
from shipyard.core.clock import parse_time
from shipyard.core.objects import IdentityCache, Obj, meta
from shipyard.core.quantity import Quantity, QuantityError

__all__ = [
    "CPU_INITIALIZATION_PERIOD",
    "INITIAL_READINESS_DELAY",
    "METRICS_WINDOW",
    "NO_METRICS",
    "PodSample",
    "ReplicaCalculationError",
    "Tolerance",
    "average_value_replicas",
    "classify_pod",
    "cpu_request",
    "phase_class",
    "readiness_verdict",
    "utilization_replicas",
]

CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
METRICS_WINDOW = 15.0
NO_METRICS = "no metrics returned from resource metrics API"


class ReplicaCalculationError(Exception):
    """The replica calculator cannot propose a count; the text is Kubernetes' error."""


@dataclass(frozen=True)
class Tolerance:
    """How far the usage ratio may stray from 1.0 before the calculator scales."""

    up: float = 0.1
    down: float = 0.1

    def within(self, ratio: float) -> bool:
        return 1.0 - self.down <= ratio <= 1.0 + self.up


@dataclass(frozen=True)
class PodSample:
    """A pod as the replica calculator sees it, or ``count`` pods that it sees alike.

    ``state`` is ``ready``, ``unready``, ``missing`` (no metrics) or ``ignored`` (deleted or
    failed); ``usage`` and ``request`` are millicores (each pod's); ``missing_request`` names a
    container without a CPU request; ``name`` is the pod's (of several, the first by name).
    """

    name: str
    state: str
    usage: int | None
    request: int
    missing_request: str = ""
    count: int = 1


def classify_pod(
    pod: Obj,
    usage: float | None,
    now: float,
    *,
    initialization_period: float = CPU_INITIALIZATION_PERIOD,
    readiness_delay: float = INITIAL_READINESS_DELAY,
) -> PodSample:
    """Kubernetes' ``groupPods`` for CPU, plus the pod's request (``calculatePodRequests``)."""
    milli = None if usage is None else round(usage)
    windows = (initialization_period, readiness_delay)
    found = _SAMPLES.get(pod)
    if found is not None and found[0] == windows and found[2].usage == milli and now < found[1]:
        return found[2]
    name = str(meta(pod).get("name") or "")
    request, missing = cpu_request(pod)
    state = _pod_state(pod, milli, now, initialization_period, readiness_delay)
    sample = PodSample(name, state, milli, request, missing)
    _SAMPLES.put(pod, (windows, _valid_until(pod, milli, windows), sample))
    return sample


# Per stored pod: its last sample, and until when it holds for the same usage (the pod's
# readiness verdict can change only as its windows close).
_SAMPLES: IdentityCache[tuple[tuple[float, float], float, PodSample]] = IdentityCache(100_000)


def _valid_until(pod: Obj, usage: int | None, windows: tuple[float, float]) -> float:
    if phase_class(pod) is not None or usage is None:
        return math.inf
    found = _READINESS.get(pod)
    return found[2] if found is not None and found[0] == windows else -math.inf


def phase_class(pod: Obj) -> str | None:
    """``ignored`` (being deleted, or failed), ``pending``, or None for a pod whose class is
    its readiness verdict."""
    status = pod.get("status") or {}
    if meta(pod).get("deletionTimestamp") or status.get("phase") == "Failed":
        return "ignored"
    if status.get("phase") == "Pending":
        return "pending"
    return None


def _pod_state(
    pod: Obj, usage: int | None, now: float, init_period: float, readiness_delay: float
) -> str:
    phase = phase_class(pod)
    if phase is not None:
        return "unready" if phase == "pending" else phase
    if usage is None:
        return "missing"
    return readiness_verdict(pod, now, init_period, readiness_delay)[0]


def readiness_verdict(
    pod: Obj, now: float, init_period: float, readiness_delay: float
) -> tuple[str, float]:
    """``_readiness``, remembered per stored pod while it holds."""
    windows = (init_period, readiness_delay)
    found = _READINESS.get(pod)
    if found is not None and found[0] == windows and now < found[2]:
        return found[1], found[2]
    state, until = _readiness(pod, now, init_period, readiness_delay)
    _READINESS.put(pod, (windows, state, until))
    return state, until


# Per stored pod (never changed in place): its readiness verdict and until when it holds.
_READINESS: IdentityCache[tuple[tuple[float, float], str, float]] = IdentityCache(100_000)


def _readiness(
    pod: Obj, now: float, init_period: float, readiness_delay: float
) -> tuple[str, float]:
    """``ready`` or ``unready`` for a running pod with metrics, and the time until which that
    verdict holds for this version of the pod (it changes only as the windows close)."""
    ready = condition(pod, "Ready")
    started = (pod.get("status") or {}).get("startTime")
    if ready is None or not started or not ready.get("lastTransitionTime"):
        return "unready", math.inf
    start = parse_time(str(started))
    transition = parse_time(str(ready["lastTransitionTime"]))
    if start + init_period > now:
        if ready.get("status") == "False":
            return "unready", start + init_period
        if now < transition + METRICS_WINDOW:
            return "unready", min(start + init_period, transition + METRICS_WINDOW)
        return "ready", start + init_period
    unready = ready.get("status") == "False" and start + readiness_delay > transition
    return ("unready" if unready else "ready"), math.inf


_REQUESTS: IdentityCache[tuple[int, str]] = IdentityCache(4096)


def cpu_request(pod: Obj) -> tuple[int, str]:
    """The pod's cpu request; memoized by its containers list (the pods of one template share
    it, and stored objects are never changed in place)."""
    containers = (pod.get("spec") or {}).get("containers") or ()
    found = _REQUESTS.get(containers)
    return found if found is not None else _REQUESTS.put(containers, _containers_cpu(containers))


def _containers_cpu(containers: Sequence[Obj]) -> tuple[int, str]:
    total = 0
    for container in containers:
        value = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
        if value is None:
            return 0, str(container.get("name") or "")
        try:
            total += Quantity.parse(value).milli_value()
        except QuantityError:
            return 0, str(container.get("name") or "")
    return total, ""


# What the calculator adds up: (usage, request, pods) per sample, in millicores each.
_Usage = list[tuple[int, int, int]]


def _check_samples(samples: Sequence[PodSample]) -> _Usage:
    """The checks both calculators start with; returns the ready pods' usage."""
    if not any(s.usage is not None for s in samples):
        raise ReplicaCalculationError(f"unable to get metrics for resource cpu: {NO_METRICS}")
    lacking = [s for s in samples if s.missing_request]
    if lacking:
        first = min(lacking, key=lambda s: s.name)
        raise ReplicaCalculationError(
            f"missing request for cpu in container {first.missing_request} of Pod {first.name}"
        )
    usage = [
        (s.usage, s.request, s.count)
        for s in samples
        if s.state == "ready" and s.usage is not None and s.count > 0
    ]
    if not usage:
        raise ReplicaCalculationError(
            "did not receive metrics for targeted pods (pods might be unready)"
        )
    return usage


def _pods(usage: _Usage) -> int:
    return sum(n for _, _, n in usage)


def _utilization(usage: _Usage, target: int) -> tuple[float, int, int]:
    """(usage ratio, utilization %, average usage) as ``GetResourceUtilizationRatio``."""
    total_usage = sum(u * n for u, _, n in usage)
    total_requests = sum(r * n for _, r, n in usage)
    if total_requests == 0:
        raise ReplicaCalculationError("no metrics returned matched known pods")
    utilization = total_usage * 100 // total_requests
    return utilization / target, utilization, total_usage // _pods(usage)


def _average(usage: _Usage) -> int:
    return sum(u * n for u, _, n in usage) // _pods(usage)


def _propose(
    current: int,
    samples: Sequence[PodSample],
    usage: _Usage,
    ratio: float,
    tolerance: Tolerance,
    *,
    fill: Callable[[PodSample], int | None],
    ratio_of: Callable[[_Usage], float],
) -> int:
    """The replica count from the ready pods' ``ratio``; with unready or missing pods, a
    second pass fills them in (``fill`` for missing ones, 0 for unready ones on a scale-up)
    and keeps the current count if that lands within the tolerance or flips the direction."""
    unready = [s for s in samples if s.state == "unready" and s.count > 0]
    missing = [s for s in samples if s.state == "missing" and s.count > 0]
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        return current if tolerance.within(ratio) else math.ceil(ratio * _pods(usage))
    filled = list(usage)
    for s in missing:
        value = fill(s)
        if value is not None:
            filled.append((value, s.request, s.count))
    if scale_up_with_unready:
        filled.extend((0, s.request, s.count) for s in unready)
    new_ratio = ratio_of(filled)
    if tolerance.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * _pods(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def utilization_replicas(
    current: int, samples: Sequence[PodSample], target: int, tolerance: Tolerance
) -> tuple[int, int, int]:
    """(replicas, utilization %, average usage in millicores) for a Utilization target.

    Missing pods count as 0 % on a scale-up, as 100 % (or the target, if higher) on a
    scale-down, and not at all at a ratio of exactly 1 (``GetResourceReplicas``)."""
    usage = _check_samples(samples)
    ratio, utilization, average = _utilization(usage, target)

    def fill(s: PodSample) -> int | None:
        if ratio == 1.0:
            return None
        return s.request * max(100, target) // 100 if ratio < 1.0 else 0

    replicas = _propose(
        current, samples, usage, ratio, tolerance,
        fill=fill, ratio_of=lambda filled: _utilization(filled, target)[0],
    )  # fmt: skip
    return replicas, utilization, average


def average_value_replicas(
    current: int, samples: Sequence[PodSample], target: int, tolerance: Tolerance
) -> tuple[int, int]:
    """(replicas, average usage in millicores) for an AverageValue target in millicores;
    missing pods count as using the target on a scale-down, else 0."""
    usage = _check_samples(samples)
    average = _average(usage)
    ratio = average / target
    replicas = _propose(
        current, samples, usage, ratio, tolerance,
        fill=lambda s: target if ratio < 1.0 else 0,
        ratio_of=lambda filled: _average(filled) / target,
    )  # fmt: skip
    return replicas, average
