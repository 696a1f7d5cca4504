"""The HorizontalPodAutoscaler controller: resize a workload so its pods' CPU meets a target.

Reproduces ``pkg/controller/podautoscaler`` (``autoscaling/v2``) of current Kubernetes:

- **Loop**: every ``sync_period`` (15 s, ``--horizontal-pod-autoscaler-sync-period``) each
  HPA reads its scale target (a Deployment, ReplicaSet or StatefulSet: ``spec.replicas`` and
  ``spec.selector``), the pods that selector matches and their CPU usage from a
  :class:`~shipyard.cluster.metrics.PodMetrics` (metrics-server). A new HPA is reconciled at
  once (Kubernetes waits one period); its own status writes do not wake it.
- **Reading pods**: with a :class:`~shipyard.cluster.metrics.GroupedPodMetrics` (the
  simulated runtime) each HPA's pods are kept from the Pod change stream in groups of pods
  alike, and a sync reads one sample per group (:mod:`.hpa_pods`); with any other
  ``PodMetrics`` the pods are listed and read one by one. Both give the same samples.
- **Replica calculator** (``replica_calculator.go``), for ``Resource`` ``cpu`` metrics with a
  ``Utilization`` target (usage / request, in whole percent, truncated) or an ``AverageValue``
  target (millicores): ``desired = ceil(ratio × ready pods)``, unchanged while the ratio is
  within the tolerance (10 %, or ``behavior.scaleUp/scaleDown.tolerance``). Pods being deleted
  and failed pods are ignored; pending pods, pods whose Ready condition is False (or flipped
  less than one metrics window, 15 s, ago) during their first 5 minutes
  (``--horizontal-pod-autoscaler-cpu-initialization-period``), and pods that were never ready
  30 s after starting are *unready*. Unready pods count as using 0 % when the ready pods ask
  to scale up and are left out otherwise; pods without metrics count as 0 % on a scale-up and
  as 100 % of their request (or the target, when above 100 %) on a scale-down; if that
  correction flips the direction or lands within the tolerance, nothing changes.
- **Behavior** (``normalizeDesiredReplicasWithBehaviors``): stabilization takes the lowest
  recommendation of the scale-up window (default 0 s) and the highest of the scale-down
  window (default 300 s) from an in-memory recommendation history; then the rate policies
  (``Pods``/``Percent`` per ``periodSeconds``, ``selectPolicy`` ``Max``/``Min``/``Disabled``)
  are applied to the replica count at the start of each period, from the history of scale
  events; then ``minReplicas``/``maxReplicas``. A target outside ``[min, max]`` is moved inside
  first, without looking at metrics.
- **Writes**: the target's ``spec.replicas`` by a merge patch (a GitOps apply that does not
  set ``replicas`` keeps it), then the HPA status once: ``currentReplicas``,
  ``desiredReplicas``, ``currentMetrics``, ``lastScaleTime`` and the conditions
  ``AbleToScale`` (``SucceededGetScale``, ``ReadyForNewScale``, ``ScaleUpStabilized``,
  ``ScaleDownStabilized``, ``SucceededRescale``, ``FailedGetScale``, ``FailedUpdateScale``),
  ``ScalingActive`` (``ValidMetricFound``, ``FailedGetResourceMetric``, ``InvalidSelector``,
  ``ScalingDisabled``) and ``ScalingLimited`` (``DesiredWithinRange``, ``TooManyReplicas``,
  ``TooFewReplicas``, ``ScaleUpLimit``, ``ScaleDownLimit``), with Kubernetes' messages.
  Events: ``SuccessfulRescale`` ("New size: 5; reason: cpu resource utilization (percentage
  of request) above target"), ``FailedRescale``, ``FailedGetScale``,
  ``FailedGetResourceMetric``, ``FailedComputeMetricsReplicas``, ``SelectorRequired``.

Not reproduced: ``Pods``, ``Object``, ``External`` and ``ContainerResource`` metrics (there
is no custom or external metrics API; they fail the way Kubernetes does without an adapter),
memory metrics, pod-level resources and sidecar requests, detection of several HPAs
selecting the same pods (``AmbiguousSelector``), the legacy behavior-less normalisation
(Shipyard's API server always fills ``spec.behavior``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.metrics import GroupedPodMetrics, PodMetrics
from shipyard.cluster.podutil import condition, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.workloads.hpa_pods import PodTrackers
from shipyard.core.clock import format_time, parse_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.objects import (
    IdentityCache,
    Obj,
    ObjectKey,
    api_group,
    json_copy,
    key_of,
    meta,
)
from shipyard.core.quantity import Quantity, QuantityError
from shipyard.core.selectors import LabelSelector
from shipyard.store.validation.autoscaling import default_behavior

__all__ = [
    "CPU_INITIALIZATION_PERIOD",
    "INITIAL_READINESS_DELAY",
    "METRICS_WINDOW",
    "HorizontalPodAutoscalerController",
    "PodSample",
    "ReplicaCalculationError",
    "Tolerance",
    "average_value_replicas",
    "classify_pod",
    "utilization_replicas",
]

CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
METRICS_WINDOW = 15.0
ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED = "AbleToScale", "ScalingActive", "ScalingLimited"
_SCALABLE = frozenset(
    {("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet")}
)
_NO_METRICS = "no metrics returned from resource metrics API"
_UNSUPPORTED = {
    "Pods": ("FailedGetPodsMetric", "pods", "custom"),
    "Object": ("FailedGetObjectMetric", "object", "custom"),
    "External": ("FailedGetExternalMetric", "external", "external"),
}


# --- the replica calculator (pure) ----------------------------------------------------------


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
    request, missing = _cpu_request(pod)
    state = _pod_state(pod, milli, now, initialization_period, readiness_delay)
    sample = PodSample(name, state, milli, request, missing)
    _SAMPLES.put(pod, (windows, _valid_until(pod, milli, windows), sample))
    return sample


# Per stored pod: its last sample, and until when it holds for the same usage (the pod's
# readiness verdict can change only as its windows close).
_SAMPLES: IdentityCache[tuple[tuple[float, float], float, PodSample]] = IdentityCache(100_000)


def _valid_until(pod: Obj, usage: int | None, windows: tuple[float, float]) -> float:
    if _phase_class(pod) is not None or usage is None:
        return math.inf
    found = _READINESS.get(pod)
    return found[2] if found is not None and found[0] == windows else -math.inf


def _phase_class(pod: Obj) -> str | None:
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
    phase = _phase_class(pod)
    if phase is not None:
        return "unready" if phase == "pending" else phase
    if usage is None:
        return "missing"
    return _verdict(pod, now, init_period, readiness_delay)[0]


def _verdict(pod: Obj, now: float, init_period: float, readiness_delay: float) -> tuple[str, float]:
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


def _cpu_request(pod: Obj) -> tuple[int, str]:
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
        raise ReplicaCalculationError(f"unable to get metrics for resource cpu: {_NO_METRICS}")
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


# --- behavior (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    """One direction of ``spec.behavior``."""

    window: float
    select: str
    policies: tuple[tuple[str, int, float], ...]  # (type, value, periodSeconds)
    tolerance: float | None

    @classmethod
    def of(cls, rules: dict[str, Any]) -> _Rules:
        policies = tuple(
            (str(p["type"]), int(p["value"]), float(p["periodSeconds"]))
            for p in rules.get("policies") or ()
        )
        tolerance = None
        if rules.get("tolerance") is not None:
            try:
                tolerance = Quantity.parse(rules["tolerance"]).as_float()
            except QuantityError:
                tolerance = None
        window = float(rules.get("stabilizationWindowSeconds") or 0)
        return cls(window, str(rules.get("selectPolicy") or "Max"), policies, tolerance)


@dataclass
class _ScaleEvent:
    change: int
    at: float
    outdated: bool = False


_STABILIZED = {
    True: ("ScaleUpStabilized", "lower", "lowest"),
    False: ("ScaleDownStabilized", "higher", "highest"),
}


@dataclass
class _History:
    """What Kubernetes keeps in memory per HPA: recommendations and scale events, and the
    behavior arithmetic over them."""

    uid: str
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up: list[_ScaleEvent] = field(default_factory=list)
    scale_down: list[_ScaleEvent] = field(default_factory=list)

    def stabilize(
        self, rules: _Behavior, current: int, desired: int, now: float
    ) -> tuple[int, str]:
        """``stabilizeRecommendationWithBehaviors``: (recommendation, reason) clamped into the
        recent recommendations; this one is recorded (over a sample older than both windows)."""
        up_cutoff, down_cutoff = now - rules.up.window, now - rules.down.window
        up_rec = down_rec = desired
        old_index = None
        for i, (at, replicas) in enumerate(self.recommendations):
            if at > up_cutoff and replicas < up_rec:
                up_rec = replicas
            if at > down_cutoff and replicas > down_rec:
                down_rec = replicas
            if at < up_cutoff and at < down_cutoff:
                old_index = i
        if old_index is not None:
            self.recommendations[old_index] = (now, desired)
        else:
            self.recommendations.append((now, desired))
        return min(max(current, up_rec), down_rec), _STABILIZED[desired >= current][0]

    def rate_limit(self, rules: _Rules, current: int, now: float, *, up: bool) -> int:
        """The most (``up``) or fewest replicas the policies allow now, from the replica count
        at the start of each policy's period (``calculateScale{Up,Down}Limit...``)."""
        if rules.select == "Disabled" or not rules.policies:
            return current
        proposals = []
        for kind, value, period in rules.policies:
            added = sum(e.change for e in self.scale_up if e.at > now - period)
            removed = sum(e.change for e in self.scale_down if e.at > now - period)
            start = current - added + removed
            if kind == "Pods":
                proposals.append(start + value if up else start - value)
            elif up:
                proposals.append(math.ceil(start * (1 + value / 100)))
            else:
                proposals.append(int(start * (1 - value / 100)))
        most_change = max if up else min
        least_change = min if up else max
        return (least_change if rules.select == "Min" else most_change)(proposals)

    def store_event(self, rules: _Rules, before: int, after: int, now: float) -> None:
        """Record a scale event, reusing a slot older than the longest policy period."""
        events = self.scale_up if after > before else self.scale_down
        longest = max((p[2] for p in rules.policies), default=0.0)
        for event in events:
            event.outdated = event.outdated or event.at < now - longest
        new = _ScaleEvent(abs(after - before), now)
        outdated = [i for i, e in enumerate(events) if e.outdated]
        if outdated:
            events[outdated[-1]] = new
        else:
            events.append(new)


def _stabilized_message(reason: str) -> str:
    _, than, which = _STABILIZED[reason == "ScaleUpStabilized"]
    return (
        f"recent recommendations were {than} than current one, "
        f"applying the {which} recent recommendation"
    )


@dataclass(frozen=True)
class _Behavior:
    up: _Rules
    down: _Rules


def _limit_rate(
    history: _History,
    rules: _Behavior,
    bounds: tuple[int, int],
    change: tuple[int, int],
    now: float,
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the rate policies, then min/max, for a
    change from ``change[0]`` to ``change[1]`` replicas; (replicas, reason, message)."""
    (low, high), (current, desired) = bounds, change
    if desired > current:
        limit = max(history.rate_limit(rules.up, current, now, up=True), current)
        if high > limit:
            high, why = limit, ("ScaleUpLimit", "increasing faster than the maximum scale rate")
        else:
            why = ("TooManyReplicas", "more than the maximum replica count")
        if desired > high:
            return high, why[0], f"the desired replica count is {why[1]}"
    elif desired < current:
        limit = min(history.rate_limit(rules.down, current, now, up=False), current)
        if low < limit:
            low, why = limit, ("ScaleDownLimit", "decreasing faster than the maximum scale rate")
        else:
            why = ("TooFewReplicas", "less than the minimum replica count")
        if desired < low:
            return low, why[0], f"the desired replica count is {why[1]}"
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


# --- the controller -------------------------------------------------------------------------


class _Failure(Exception):
    """A step that failed: Kubernetes' error text and, for a metric, the ``ScalingActive``
    reason and message it asks for and the metric statuses computed so far."""

    def __init__(
        self, message: str, reason: str = "", condition: str = "", statuses: Any = None
    ) -> None:
        super().__init__(message)
        self.message, self.reason, self.condition, self.statuses = (
            message, reason, condition, statuses,
        )  # fmt: skip


@dataclass(frozen=True)
class _Target:
    replicas: int
    selector: LabelSelector | None


@dataclass(frozen=True)
class _Proposal:
    replicas: int
    metric: str
    status: Obj


class HorizontalPodAutoscalerController:
    """Scales Deployments, ReplicaSets and StatefulSets on CPU (see the module docstring)."""

    name = "cluster.hpa"

    def __init__(
        self,
        client: Client,
        metrics: PodMetrics,
        *,
        recorder: EventRecorder | None = None,
        sync_period: float = 15.0,
        tolerance: float = 0.1,
        cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD,
        initial_readiness_delay: float = INITIAL_READINESS_DELAY,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._recorder = recorder or EventRecorder(client, "horizontal-pod-autoscaler")
        self._sync_period = sync_period
        self._tolerance = tolerance
        self._init_period = cpu_initialization_period
        self._readiness_delay = initial_readiness_delay
        self._histories: dict[ObjectKey, _History] = {}
        self._seen: dict[ObjectKey, tuple[str, int]] = {}
        # With a source that groups equal pods, each HPA's pods are kept from the change
        # stream and read per group (see hpa_pods); otherwise every pod is read at each sync.
        self._grouped = _grouped(metrics)
        self._trackers = (
            PodTrackers(client, self._grouped, self._class_of, _cpu_request)
            if self._grouped is not None
            else None
        )

    def close(self) -> None:
        """Stop following pods (the grouped reading only)."""
        if self._trackers is not None:
            self._trackers.close()

    def watches(self) -> list[Watches]:
        return [Watches("autoscaling/v2", "HorizontalPodAutoscaler", self._new_or_changed)]

    def _new_or_changed(self, hpa: Obj) -> list[ObjectKey]:
        """A new HPA or a changed spec is reconciled now; the rest waits for the period."""
        key, md = key_of(hpa), meta(hpa)
        if self._seen.get(key) == (str(md.get("uid")), int(md.get("generation") or 0)):
            return []
        return [key]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            stored = self._client.get(
                key.api_version, key.kind, key.name, namespace=key.namespace, copy=False
            )
        except NotFoundError:
            self._histories.pop(key, None)
            self._seen.pop(key, None)
            if self._trackers is not None:
                self._trackers.forget(key)
            return None
        md = meta(stored)
        self._seen[key] = (str(md.get("uid")), int(md.get("generation") or 0))
        history = self._histories.get(key)
        if history is None or history.uid != md.get("uid"):
            history = self._histories[key] = _History(str(md.get("uid")))
        # A pass changes only the status: the rest stays the stored (shared, read-only) parts,
        # which also keeps the spec's identity for the parsed-behavior cache.
        # Of the status, only the conditions are changed in place (``set_condition``): a copy
        # of each is all a pass needs; ``_set_status`` builds the rest anew.
        status = {**(stored.get("status") or {})}
        if status.get("conditions"):
            status["conditions"] = [dict(c) for c in status["conditions"]]
        hpa = {**stored, "status": status}
        self._autoscale(hpa, history)
        if hpa.get("status") != stored.get("status"):
            self._client.update_status(hpa, handoff=True)
        return Result(requeue_after=self._sync_period)

    # -- one pass ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self._client.clock.now()

    def _condition(self, hpa: Obj, type_: str, status: str, reason: str, message: str) -> None:
        set_condition(hpa, type_, status, now=self._now(), reason=reason, message=message)

    def _autoscale(self, hpa: Obj, history: _History) -> None:
        """Kubernetes' ``reconcileAutoscaler``, changing ``hpa`` in memory."""
        hpa.setdefault("status", {})
        try:
            target = self._scale_target(hpa)
        except _Failure as e:
            self._recorder.event(hpa, WARNING, "FailedGetScale", str(e))
            message = f"the HPA controller was unable to get the target's current scale: {e}"
            self._condition(hpa, ABLE_TO_SCALE, "False", "FailedGetScale", message)
            return
        message = "the HPA controller was able to get the target's current scale"
        self._condition(hpa, ABLE_TO_SCALE, "True", "SucceededGetScale", message)
        current = target.replicas
        if not history.recommendations:
            history.recommendations.append((self._now(), current))
        try:
            desired, reason, statuses = self._desired(hpa, history, target)
        except _Failure as failure:
            self._set_status(hpa, current, _desired_of(hpa), failure.statuses, rescale=False)
            self._recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas", failure.message)
            return
        if desired is None or desired == current:
            self._set_status(hpa, current, current, statuses, rescale=False)
        elif not self._rescale(hpa, desired, reason):
            self._set_status(hpa, current, _desired_of(hpa), statuses, rescale=False)
        else:
            rules = self._rules(hpa)
            direction = rules.up if desired > current else rules.down
            history.store_event(direction, current, desired, self._now())
            self._set_status(hpa, current, desired, statuses, rescale=True)

    def _desired(
        self, hpa: Obj, history: _History, target: _Target
    ) -> tuple[int | None, str, list[Obj] | None]:
        """(desired replicas or None for no change, rescale reason, metric statuses)."""
        spec = hpa.get("spec") or {}
        current = target.replicas
        low = int(spec["minReplicas"]) if spec.get("minReplicas") is not None else 1
        high = int(spec.get("maxReplicas") or 1)
        if current == 0 and low != 0:
            message = "scaling is disabled since the replica count of the target is zero"
            self._condition(hpa, SCALING_ACTIVE, "False", "ScalingDisabled", message)
            return None, "", None
        if current > high:
            return high, "Current number of replicas above Spec.MaxReplicas", None
        if current < low:
            return low, "Current number of replicas below Spec.MinReplicas", None
        proposal, metric, statuses = self._compute(hpa, target)
        reason = ""
        if proposal > current:
            reason = f"{metric} above target"
        elif proposal < current:
            reason = "All metrics below target"
        return self._normalize(hpa, history, current, proposal, (low, high)), reason, statuses

    def _normalize(
        self, hpa: Obj, history: _History, current: int, desired: int, bounds: tuple[int, int]
    ) -> int:
        """``normalizeDesiredReplicasWithBehaviors``: stabilize, then limit the rate."""
        rules = self._rules(hpa)
        now = self._now()
        stabilized, reason = history.stabilize(rules, current, desired, now)
        if stabilized != desired:
            self._condition(hpa, ABLE_TO_SCALE, "True", reason, _stabilized_message(reason))
        else:
            message = "recommended size matches current size"
            self._condition(hpa, ABLE_TO_SCALE, "True", "ReadyForNewScale", message)
        change = (current, stabilized)
        final, reason, message = _limit_rate(history, rules, bounds, change, now)
        limited = "True" if final != stabilized else "False"
        self._condition(hpa, SCALING_LIMITED, limited, reason, message)
        return final

    def _rules(self, hpa: Obj) -> _Behavior:
        spec = hpa.get("spec")
        found = _BEHAVIORS.get(spec) if isinstance(spec, dict) else None
        if found is None:
            found = _behavior_of(spec or {})
            if isinstance(spec, dict):
                _BEHAVIORS.put(spec, found)
        return found

    def _rescale(self, hpa: Obj, desired: int, reason: str) -> bool:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        try:
            self._client.patch(
                str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""),
                str(ref.get("name") or ""), {"spec": {"replicas": desired}},
                namespace=str(meta(hpa).get("namespace") or ""),
            )  # fmt: skip
        except ShipyardError as e:
            failure = f"New size: {desired}; reason: {reason}; error: {e.message}"
            self._recorder.event(hpa, WARNING, "FailedRescale", failure)
            message = f"the HPA controller was unable to update the target scale: {e.message}"
            self._condition(hpa, ABLE_TO_SCALE, "False", "FailedUpdateScale", message)
            return False
        message = f"the HPA controller was able to update the target scale to {desired}"
        self._condition(hpa, ABLE_TO_SCALE, "True", "SucceededRescale", message)
        success = f"New size: {desired}; reason: {reason}"
        self._recorder.event(hpa, NORMAL, "SuccessfulRescale", success)
        return True

    def _set_status(
        self, hpa: Obj, current: int, desired: int, metrics: list[Obj] | None, *, rescale: bool
    ) -> None:
        """Kubernetes' ``setStatus``: the status is rebuilt from these fields and conditions."""
        old = hpa.get("status") or {}
        status: Obj = {}
        if current:
            status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if metrics:
            status["currentMetrics"] = metrics
        last = format_time(self._now()) if rescale else old.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        hpa["status"] = status

    # -- reading the target and its metrics -------------------------------------------------

    def _scale_target(self, hpa: Obj) -> _Target:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        if (api_version, kind) not in _SCALABLE:
            raise _Failure(f'no matches for kind "{kind}" in group "{api_group(api_version)}"')
        try:
            obj = self._client.get(
                api_version,
                kind,
                str(ref.get("name")),
                namespace=str(meta(hpa)["namespace"]),
                copy=False,
            )
        except NotFoundError as e:
            raise _Failure(e.message) from e
        spec = obj.get("spec") or {}
        replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        try:
            selector: LabelSelector | None = LabelSelector.of_stored(spec.get("selector"))
        except InvalidError:
            selector = None
        if selector is not None and (selector.is_empty() or selector.match_nothing):
            selector = None
        return _Target(replicas, selector)

    def _compute(self, hpa: Obj, target: _Target) -> tuple[int, str, list[Obj]]:
        """``computeReplicasForMetrics``: the largest proposal of the valid metrics."""
        if target.selector is None:
            self._recorder.event(hpa, WARNING, "SelectorRequired", "selector is required")
            message = "the HPA target's scale is missing a selector"
            self._condition(hpa, SCALING_ACTIVE, "False", "InvalidSelector", message)
            raise _Failure("selector is required")
        metrics = (hpa.get("spec") or {}).get("metrics") or []
        samples = self._samples(hpa, target.selector)
        statuses: list[Obj] = [{"type": ""} for _ in metrics]
        replicas, metric, errors = 0, "", []
        for i, spec in enumerate(metrics):
            try:
                proposal = self._proposal(hpa, spec, target.replicas, samples)
            except _Failure as e:
                errors.append(e)
                continue
            statuses[i] = proposal.status
            if replicas == 0 or proposal.replicas > replicas:
                replicas, metric = proposal.replicas, proposal.metric
        if errors and (len(errors) >= len(metrics) or replicas < target.replicas):
            first = errors[0]
            self._condition(hpa, SCALING_ACTIVE, "False", first.reason, first.condition)
            message = (
                f"invalid metrics ({len(errors)} invalid out of {len(metrics)}), "
                f"first error is: {first.message}"
            )
            raise _Failure(message, statuses=statuses)
        message = f"the HPA was able to successfully calculate a replica count from {metric}"
        self._condition(hpa, SCALING_ACTIVE, "True", "ValidMetricFound", message)
        return replicas, metric, statuses

    def _samples(self, hpa: Obj, selector: LabelSelector) -> list[PodSample]:
        namespace = str(meta(hpa)["namespace"])
        now = self._now()
        if self._trackers is not None and self._grouped is not None:
            return self._grouped_samples(hpa, namespace, selector, now)
        pods = self._client.list(
            "v1", "Pod", namespace=namespace, label_selector=selector, copy=False
        ).items
        return [
            classify_pod(
                pod,
                self._metrics.pod_cpu_usage(namespace, str(meta(pod)["name"])),
                now,
                initialization_period=self._init_period,
                readiness_delay=self._readiness_delay,
            )
            for pod in sorted(pods, key=lambda p: str(meta(p)["name"]))
        ]

    def _grouped_samples(
        self, hpa: Obj, namespace: str, selector: LabelSelector, now: float
    ) -> list[PodSample]:
        """One sample per group of pods alike (``hpa_pods``): the samples ``classify_pod``
        gives each pod, counted."""
        assert self._trackers is not None and self._grouped is not None
        tracked = self._trackers.of(key_of(hpa), namespace, selector)
        samples = []
        with self._trackers.lock:
            for group, count in tracked.samples(now):
                kind, request, missing, key = group
                usage = self._grouped.usage_of(key)
                milli = None if usage is None else round(usage)
                if kind == "pending":
                    state = "unready"
                elif kind != "ignored" and milli is None:
                    state = "missing"
                else:
                    state = kind
                name = tracked.first_name(group) if missing else ""
                samples.append(PodSample(name, state, milli, request, missing, count))
        return samples

    def _class_of(self, pod: Obj, now: float) -> tuple[str, float]:
        """The pod's class for grouping (``ignored``, ``pending``, or its readiness verdict)
        and until when it holds: ``_pod_state`` without the usage."""
        phase = _phase_class(pod)
        if phase is not None:
            return phase, math.inf
        return _verdict(pod, now, self._init_period, self._readiness_delay)

    def _tolerance_for(self, hpa: Obj) -> Tolerance:
        return _tolerance(self._rules(hpa), self._tolerance)

    def _proposal(
        self, hpa: Obj, spec: dict[str, Any], current: int, samples: list[PodSample]
    ) -> _Proposal:
        kind = str(spec.get("type") or "")
        if kind != "Resource":
            raise self._unsupported(hpa, kind, spec)
        resource = spec.get("resource") or {}
        name = str(resource.get("name") or "")
        try:
            return self._resource_proposal(
                hpa, name, resource.get("target") or {}, current, samples
            )
        except ReplicaCalculationError as e:
            self._recorder.event(hpa, WARNING, "FailedGetResourceMetric", str(e))
            raise _Failure(
                f"failed to get {name} resource metric value: {e}",
                "FailedGetResourceMetric",
                f"the HPA was unable to compute the replica count: {e}",
            ) from e

    def _resource_proposal(
        self, hpa: Obj, name: str, target: Obj, current: int, samples: list[PodSample]
    ) -> _Proposal:
        tolerance = self._tolerance_for(hpa)
        if name != "cpu":  # metrics-server's memory is not modelled: no samples for it
            what = "usage" if target.get("averageValue") is not None else "utilization"
            raise ReplicaCalculationError(
                f"failed to get {name} {what}: unable to get metrics for resource {name}: "
                f"{_NO_METRICS}"
            )
        if target.get("averageValue") is not None:
            goal = Quantity.parse(target["averageValue"]).milli_value()
            try:
                replicas, average = average_value_replicas(current, samples, goal, tolerance)
            except ReplicaCalculationError as e:
                raise ReplicaCalculationError(f"failed to get {name} usage: {e}") from e
            current_value: Obj = {"averageValue": _milli(average)}
            return _Proposal(replicas, f"{name} resource", _resource_status(name, current_value))
        if target.get("averageUtilization") is None:
            raise ReplicaCalculationError(
                "invalid resource metric source: neither an average utilization target nor an "
                "average value (usage) target was set"
            )
        goal = int(target["averageUtilization"])
        try:
            replicas, utilization, average = utilization_replicas(current, samples, goal, tolerance)
        except ReplicaCalculationError as e:
            raise ReplicaCalculationError(f"failed to get {name} utilization: {e}") from e
        current_value = {"averageUtilization": utilization, "averageValue": _milli(average)}
        metric = f"{name} resource utilization (percentage of request)"
        return _Proposal(replicas, metric, _resource_status(name, current_value))

    def _unsupported(self, hpa: Obj, kind: str, spec: dict[str, Any]) -> _Failure:
        """Pods/Object/External metrics fail as in a cluster without a metrics adapter."""
        reason, source, api = _UNSUPPORTED.get(kind, ("InvalidMetricSourceType", "", ""))
        if not source:
            error = f'unknown metric source type "{kind}"'
            wrapped = error
        else:
            name = str(((spec.get(source) or {}).get("metric") or {}).get("name") or "")
            error = (
                f"unable to get metric {name}: unable to fetch metrics from {api} metrics API: "
                f"no {api} metrics API ({api}.metrics.k8s.io) registered"
            )
            wrapped = f"failed to get {source} metric value: {error}"
        self._recorder.event(hpa, WARNING, reason, error)
        return _Failure(
            wrapped, reason, f"the HPA was unable to compute the replica count: {error}"
        )


# Per stored HPA spec (never changed in place): its behavior, defaulted and parsed.
_BEHAVIORS: IdentityCache[_Behavior] = IdentityCache(4096)


def _behavior_of(spec: Obj) -> _Behavior:
    behavior: dict[str, Any] = json_copy(spec.get("behavior") or {})
    default_behavior(behavior)
    return _Behavior(_Rules.of(behavior["scaleUp"]), _Rules.of(behavior["scaleDown"]))


@functools.lru_cache(maxsize=1024)
def _tolerance(rules: _Behavior, default: float) -> Tolerance:
    """Each direction's own tolerance, else the controller's."""
    return Tolerance(
        default if rules.up.tolerance is None else rules.up.tolerance,
        default if rules.down.tolerance is None else rules.down.tolerance,
    )


def _grouped(metrics: PodMetrics) -> GroupedPodMetrics | None:
    """The metrics source as a ``GroupedPodMetrics`` when it is one."""
    names = ("usage_key", "usage_of", "add_usage_listener")
    if all(callable(getattr(metrics, n, None)) for n in names):
        return cast(GroupedPodMetrics, metrics)
    return None


def _desired_of(hpa: Obj) -> int:
    return int((hpa.get("status") or {}).get("desiredReplicas") or 0)


@functools.lru_cache(maxsize=4096)
def _milli(value: int) -> str:
    return str(Quantity.parse(f"{value}m"))


def _resource_status(name: str, current: dict[str, Any]) -> Obj:
    return {"type": "Resource", "resource": {"name": name, "current": current}}
