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
- **Replica calculator** (``replica_calculator.go``, :mod:`.hpa_calculator`): each metric's
  proposal from the pods' samples, for ``Resource`` ``cpu`` metrics with a ``Utilization``
  or an ``AverageValue`` target; the largest proposal of the valid metrics wins
  (``computeReplicasForMetrics``).
- **Behavior** (``normalizeDesiredReplicasWithBehaviors``, :mod:`.hpa_behavior`):
  stabilization over the recent recommendations, then the rate policies, then
  ``minReplicas``/``maxReplicas``. A target outside ``[min, max]`` is moved inside first,
  without looking at metrics.
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
memory metrics, detection of several HPAs selecting the same pods (``AmbiguousSelector``),
the legacy behavior-less normalisation (Shipyard's API server always fills
``spec.behavior``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, cast

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.metrics import GroupedPodMetrics, PodMetrics
from shipyard.cluster.podutil import set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.workloads.hpa_behavior import (
    Behavior,
    History,
    behavior_of,
    limit_rate,
    stabilized_message,
)
from shipyard.cluster.workloads.hpa_calculator import (
    CPU_INITIALIZATION_PERIOD,
    INITIAL_READINESS_DELAY,
    NO_METRICS,
    PodSample,
    ReplicaCalculationError,
    Tolerance,
    average_value_replicas,
    classify_pod,
    cpu_request,
    phase_class,
    readiness_verdict,
    utilization_replicas,
)
from shipyard.cluster.workloads.hpa_pods import PodTrackers
from shipyard.core.clock import format_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.objects import IdentityCache, Obj, ObjectKey, api_group, key_of, meta
from shipyard.core.quantity import Quantity
from shipyard.core.selectors import LabelSelector

__all__ = ["HorizontalPodAutoscalerController"]

ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED = "AbleToScale", "ScalingActive", "ScalingLimited"
_SCALABLE = frozenset(
    {("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet")}
)
_UNSUPPORTED = {
    "Pods": ("FailedGetPodsMetric", "pods", "custom"),
    "Object": ("FailedGetObjectMetric", "object", "custom"),
    "External": ("FailedGetExternalMetric", "external", "external"),
}


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
        self._histories: dict[ObjectKey, History] = {}
        self._seen: dict[ObjectKey, tuple[str, int]] = {}
        # With a source that groups equal pods, each HPA's pods are kept from the change
        # stream and read per group (see hpa_pods); otherwise every pod is read at each sync.
        self._grouped = _grouped(metrics)
        self._trackers = (
            PodTrackers(client, self._grouped, self._class_of, cpu_request)
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
            history = self._histories[key] = History(str(md.get("uid")))
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

    def _autoscale(self, hpa: Obj, history: History) -> None:
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
        self, hpa: Obj, history: History, target: _Target
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
        self, hpa: Obj, history: History, current: int, desired: int, bounds: tuple[int, int]
    ) -> int:
        """``normalizeDesiredReplicasWithBehaviors``: stabilize, then limit the rate."""
        rules = self._rules(hpa)
        now = self._now()
        stabilized, reason = history.stabilize(rules, current, desired, now)
        if stabilized != desired:
            self._condition(hpa, ABLE_TO_SCALE, "True", reason, stabilized_message(reason))
        else:
            message = "recommended size matches current size"
            self._condition(hpa, ABLE_TO_SCALE, "True", "ReadyForNewScale", message)
        change = (current, stabilized)
        final, reason, message = limit_rate(history, rules, bounds, change, now)
        limited = "True" if final != stabilized else "False"
        self._condition(hpa, SCALING_LIMITED, limited, reason, message)
        return final

    def _rules(self, hpa: Obj) -> Behavior:
        spec = hpa.get("spec")
        found = _BEHAVIORS.get(spec) if isinstance(spec, dict) else None
        if found is None:
            found = behavior_of(spec or {})
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
        and until when it holds: the calculator's ``_pod_state`` without the usage."""
        phase = phase_class(pod)
        if phase is not None:
            return phase, math.inf
        return readiness_verdict(pod, now, self._init_period, self._readiness_delay)

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
                f"{NO_METRICS}"
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
_BEHAVIORS: IdentityCache[Behavior] = IdentityCache(4096)


@functools.lru_cache(maxsize=1024)
def _tolerance(rules: Behavior, default: float) -> Tolerance:
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
