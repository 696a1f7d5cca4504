"""The HorizontalPodAutoscaler controller: the replica calculator, behavior, limits, status.

A ``FakeMetrics`` gives every pod the CPU usage the test sets, and ``FollowReplicas`` (a
stand-in for the Deployment and ReplicaSet controllers and the kubelet) keeps the target's
pods at ``spec.replicas``, each Running and Ready from the moment it is created. Every
controller test runs twice: with ``FakeMetrics`` the HPA reads each pod at each sync; with
``GroupedFakeMetrics`` (the same usage, offered per group of pods alike) it keeps its pods from
the change stream and reads one sample per group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.runtime import Manager, Result, Watches
from shipyard.cluster.workloads.hpa import HorizontalPodAutoscalerController
from shipyard.cluster.workloads.hpa_calculator import (
    CPU_INITIALIZATION_PERIOD,
    INITIAL_READINESS_DELAY,
    METRICS_WINDOW,
    PodSample,
    ReplicaCalculationError,
    Tolerance,
    average_value_replicas,
    classify_pod,
    utilization_replicas,
)
from shipyard.core.clock import VirtualClock, format_time, parse_time
from shipyard.core.objects import Obj, ObjectKey
from tests.cluster.fixtures import make_deployment, make_pod, merge, new_client

Env = tuple[VirtualClock, EmbeddedClient]
SYNC = 15.0


# --- fakes and helpers ----------------------------------------------------------------------


@dataclass
class FakeMetrics:
    """metrics-server: the same CPU usage (millicores) for every pod, unless overridden."""

    per_pod: float | None = 100.0
    overrides: dict[str, float | None] = field(default_factory=dict)

    def pod_cpu_usage(self, namespace: str, name: str) -> float | None:
        return self.overrides.get(name, self.per_pod)


@dataclass
class GroupedFakeMetrics(FakeMetrics):
    """``FakeMetrics`` as a ``GroupedPodMetrics``: pods without an override share one key."""

    listeners: list[Callable[[str, str], None]] = field(default_factory=list)

    def usage_key(self, namespace: str, name: str) -> tuple[Hashable, float]:
        return (("pod", name) if name in self.overrides else "shared"), math.inf

    def usage_of(self, key: Hashable) -> float | None:
        if isinstance(key, tuple):
            return self.overrides.get(str(key[1]))
        return self.per_pod

    def add_usage_listener(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def override(self, name: str, usage: float | None) -> None:
        """Give one pod its own usage (and tell the HPA its key changed)."""
        self.overrides[name] = usage
        for listener in list(self.listeners):
            listener("default", name)


@dataclass
class FollowReplicas:
    """Keeps a Deployment's pods at ``spec.replicas``, Running and Ready at once."""

    client: EmbeddedClient
    name: str = "test.follow-replicas"
    created: int = 0

    def watches(self) -> list[Watches]:
        return [Watches("apps/v1", "Deployment")]

    def reconcile(self, key: ObjectKey) -> Result | None:
        deployment = self.client.get("apps/v1", "Deployment", key.name, namespace=key.namespace)
        pods = sorted(
            self.client.list("v1", "Pod", namespace=key.namespace, label_selector="app=web").items,
            key=lambda p: p["metadata"]["creationTimestamp"],
        )
        want = deployment["spec"]["replicas"]
        for pod in pods[want:]:
            self.client.delete("v1", "Pod", pod["metadata"]["name"], namespace=key.namespace)
        for _ in range(want - len(pods)):
            self.created += 1
            self.client.create(running_pod(f"web-{self.created}", self.client.clock.now()))
        return None


def running_pod(name: str, now: float, **overrides: Any) -> Obj:
    stamp = format_time(now)
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": stamp}
    status = {"phase": "Running", "startTime": stamp, "conditions": [ready]}
    pod = make_pod(name, cpu="200m", spec={"nodeName": "node-1"}, status=status)
    return merge(pod, overrides)


def make_hpa(
    target: int = 50, *, min_replicas: int = 1, max_replicas: int = 10, **spec: Any
) -> Obj:
    hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": target},
                    },
                }
            ],
        },
    }
    return merge(hpa, {"spec": spec})


@pytest.fixture
def env() -> Env:
    return new_client()


@pytest.fixture(params=["per-pod", "grouped"])
def metrics(request: pytest.FixtureRequest) -> FakeMetrics:
    return FakeMetrics() if request.param == "per-pod" else GroupedFakeMetrics()


def start(env: Env, metrics: FakeMetrics, hpa: Obj, *, replicas: int = 3) -> Manager:
    """A Deployment whose pods have been up for a minute, then the HPA."""
    clock, client = env
    manager = Manager(client, clock)
    manager.add(FollowReplicas(client))
    manager.add(HorizontalPodAutoscalerController(client, metrics))
    manager.start()
    client.create(make_deployment("web", replicas=replicas, cpu="200m"))
    clock.advance(60)
    client.create(hpa)
    clock.advance(0)
    return manager


def replicas(client: EmbeddedClient) -> int:
    value: int = client.get("apps/v1", "Deployment", "web", namespace="default")["spec"]["replicas"]
    return value


def hpa_status(client: EmbeddedClient) -> dict[str, Any]:
    status: dict[str, Any] = client.get(
        "autoscaling/v2", "HorizontalPodAutoscaler", "web", namespace="default"
    )["status"]
    return status


def conditions(client: EmbeddedClient) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in hpa_status(client)["conditions"]}


def message_of(client: EmbeddedClient, type_: str) -> str:
    return str(next(c["message"] for c in hpa_status(client)["conditions"] if c["type"] == type_))


def events(client: EmbeddedClient, reason: str) -> list[str]:
    return [
        e["message"]
        for e in client.list("v1", "Event", namespace="default").items
        if e["reason"] == reason
    ]


def syncs(env: Env, count: int) -> None:
    env[0].advance(SYNC * count)


# --- the loop -------------------------------------------------------------------------------


def test_steady_load_keeps_the_size_and_reports_the_metric(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    start(env, metrics, make_hpa(50))

    status = hpa_status(client)
    assert status["currentReplicas"] == 3
    assert status["desiredReplicas"] == 3
    assert status["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageUtilization": 50, "averageValue": "100m"},
            },
        }
    ]
    assert "lastScaleTime" not in status
    assert conditions(client) == {
        "AbleToScale": ("True", "ReadyForNewScale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("False", "DesiredWithinRange"),
    }
    assert message_of(client, "ScalingActive") == (
        "the HPA was able to successfully calculate a replica count from "
        "cpu resource utilization (percentage of request)"
    )


def test_the_hpa_runs_once_per_sync_period_and_not_on_its_own_writes(
    env: Env, metrics: FakeMetrics
) -> None:
    clock, client = env
    manager = Manager(client, clock)
    manager.add(HorizontalPodAutoscalerController(client, metrics))
    manager.start()
    client.create(make_deployment("web", replicas=3, cpu="200m"))
    for i in range(3):
        client.create(running_pod(f"web-{i}", clock.now() - 600))
    client.create(make_hpa(50))
    clock.advance(0)
    assert manager.reconciles == 1

    syncs(env, 10)
    assert manager.reconciles == 11


def test_a_surge_scales_3_to_5_and_back_to_3_only_after_the_stabilization_window(
    env: Env, metrics: FakeMetrics
) -> None:
    _, client = env
    start(env, metrics, make_hpa(50))
    assert replicas(client) == 3

    metrics.per_pod = 160  # 80 % of the 200m request against a 50 % target
    syncs(env, 1)
    assert replicas(client) == 5
    assert events(client, "SuccessfulRescale") == [
        "New size: 5; reason: cpu resource utilization (percentage of request) above target"
    ]
    assert hpa_status(client)["lastScaleTime"] == format_time(env[0].now())
    assert conditions(client)["AbleToScale"] == ("True", "SucceededRescale")

    metrics.per_pod = 96  # the same load over five pods: 48 %, within the tolerance
    syncs(env, 2)
    assert replicas(client) == 5
    assert conditions(client)["AbleToScale"] == ("True", "ReadyForNewScale")

    metrics.per_pod = 60  # 30 %: three pods would do
    syncs(env, 19)  # the recommendation of 5 from just before the drop is 285 s old
    assert replicas(client) == 5
    assert hpa_status(client)["desiredReplicas"] == 5
    assert conditions(client)["AbleToScale"] == ("True", "ScaleDownStabilized")
    assert message_of(client, "AbleToScale") == (
        "recent recommendations were higher than current one, "
        "applying the highest recent recommendation"
    )

    syncs(env, 1)  # 300 s: out of the window
    assert replicas(client) == 3
    assert events(client, "SuccessfulRescale")[-1] == (
        "New size: 3; reason: All metrics below target"
    )


def test_the_tolerance_band_ignores_small_deviations(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    start(env, metrics, make_hpa(50))

    metrics.per_pod = 108  # 54 %: ratio 1.08
    syncs(env, 2)
    assert replicas(client) == 3

    metrics.per_pod = 112  # 56 %: ratio 1.12
    syncs(env, 1)
    assert replicas(client) == 4


def test_a_configured_tolerance_overrides_the_controller_default(
    env: Env, metrics: FakeMetrics
) -> None:
    _, client = env
    behavior = {"scaleUp": {"tolerance": "0.2"}}
    start(env, metrics, make_hpa(50, behavior=behavior))

    metrics.per_pod = 112  # 56 %: within 20 %
    syncs(env, 2)
    assert replicas(client) == 3


def test_a_changed_behavior_applies_from_the_next_sync(env: Env, metrics: FakeMetrics) -> None:
    """The parsed behavior is kept per stored spec: an update is a new spec, read afresh."""
    _, client = env
    start(env, metrics, make_hpa(50, behavior={"scaleUp": {"tolerance": "0.2"}}))
    metrics.per_pod = 112  # 56 %: within 20 %
    syncs(env, 2)
    assert replicas(client) == 3

    hpa = client.get("autoscaling/v2", "HorizontalPodAutoscaler", "web", namespace="default")
    hpa["spec"]["behavior"]["scaleUp"]["tolerance"] = "0.05"
    client.update(hpa)
    env[0].advance(0)  # a changed spec is reconciled at once
    assert replicas(client) == 4


def test_scale_up_policies_limit_the_rate(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    one_pod_a_minute = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    start(env, metrics, make_hpa(50, behavior={"scaleUp": one_pod_a_minute}))

    metrics.per_pod = 200  # 100 %: wants 6
    syncs(env, 1)
    assert replicas(client) == 4
    assert conditions(client)["ScalingLimited"] == ("True", "ScaleUpLimit")
    assert message_of(client, "ScalingLimited") == (
        "the desired replica count is increasing faster than the maximum scale rate"
    )

    syncs(env, 3)  # 45 s: the last minute already added one pod
    assert replicas(client) == 4
    syncs(env, 1)  # 60 s after the first step
    assert replicas(client) == 5


def test_percent_and_pods_policies_with_select_min(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    rules = {
        "selectPolicy": "Min",
        "policies": [
            {"type": "Percent", "value": 50, "periodSeconds": 15},  # 3 -> ceil(4.5) = 5
            {"type": "Pods", "value": 1, "periodSeconds": 15},  # 3 -> 4
        ],
    }
    start(env, metrics, make_hpa(50, behavior={"scaleUp": rules}))
    metrics.per_pod = 400
    syncs(env, 1)
    assert replicas(client) == 4


def test_disabled_scale_down_never_shrinks(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    disabled = {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}
    start(env, metrics, make_hpa(50, behavior={"scaleDown": disabled}))
    metrics.per_pod = 20
    syncs(env, 4)
    assert replicas(client) == 3
    assert conditions(client)["ScalingLimited"] == ("True", "ScaleDownLimit")


def test_max_replicas_caps_the_recommendation(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    start(env, metrics, make_hpa(50, max_replicas=8), replicas=6)
    metrics.per_pod = 400  # 200 %: wants 24
    syncs(env, 1)
    assert replicas(client) == 8
    assert conditions(client)["ScalingLimited"] == ("True", "TooManyReplicas")
    assert message_of(client, "ScalingLimited") == (
        "the desired replica count is more than the maximum replica count"
    )


def test_min_replicas_floors_the_recommendation(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    start(env, metrics, make_hpa(50, min_replicas=2, behavior=behavior), replicas=4)
    metrics.per_pod = 10
    syncs(env, 1)
    assert replicas(client) == 2
    assert conditions(client)["ScalingLimited"] == ("True", "TooFewReplicas")


def test_a_target_outside_min_and_max_is_moved_inside_at_once(
    env: Env, metrics: FakeMetrics
) -> None:
    _, client = env
    metrics.per_pod = None  # no metrics are needed for this
    start(env, metrics, make_hpa(50, min_replicas=2), replicas=1)
    assert replicas(client) == 2
    assert events(client, "SuccessfulRescale") == [
        "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    ]
    assert "currentMetrics" not in hpa_status(client)


def test_a_target_scaled_to_zero_disables_autoscaling(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    start(env, metrics, make_hpa(50), replicas=0)
    assert replicas(client) == 0
    assert conditions(client)["ScalingActive"] == ("False", "ScalingDisabled")
    assert hpa_status(client)["desiredReplicas"] == 0


# --- failures -------------------------------------------------------------------------------


def test_missing_metrics_are_reported_and_nothing_scales(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    metrics.per_pod = None
    start(env, metrics, make_hpa(50))

    assert replicas(client) == 3
    assert conditions(client)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    error = "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
    assert message_of(client, "ScalingActive") == (
        f"the HPA was unable to compute the replica count: failed to get cpu utilization: {error}"
    )
    assert events(client, "FailedGetResourceMetric") == [f"failed to get cpu utilization: {error}"]
    assert events(client, "FailedComputeMetricsReplicas") == [
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
        f"value: failed to get cpu utilization: {error}"
    ]
    assert hpa_status(client)["currentMetrics"] == [{"type": ""}]
    assert hpa_status(client)["currentReplicas"] == 3


def test_a_missing_target_fails_to_get_the_scale(env: Env, metrics: FakeMetrics) -> None:
    clock, client = env
    manager = Manager(client, clock)
    manager.add(HorizontalPodAutoscalerController(client, metrics))
    manager.start()
    client.create(make_hpa(50))
    clock.advance(0)

    assert conditions(client) == {"AbleToScale": ("False", "FailedGetScale")}
    assert message_of(client, "AbleToScale").startswith(
        "the HPA controller was unable to get the target's current scale: "
    )
    assert len(events(client, "FailedGetScale")) == 1


def test_average_value_targets_scale_on_millicores(env: Env, metrics: FakeMetrics) -> None:
    _, client = env
    value_target = {"type": "AverageValue", "averageValue": "100m"}
    metric = {"type": "Resource", "resource": {"name": "cpu", "target": value_target}}
    start(env, metrics, make_hpa(metrics=[metric]))
    metrics.per_pod = 150
    syncs(env, 1)
    assert replicas(client) == 5  # ceil(1.5 * 3)
    assert hpa_status(client)["currentMetrics"][0]["resource"]["current"] == {
        "averageValue": "150m"
    }
    assert events(client, "SuccessfulRescale") == ["New size: 5; reason: cpu resource above target"]


# --- the replica calculator -----------------------------------------------------------------


def sample(
    name: str, state: str = "ready", usage: int | None = 100, request: int = 200
) -> PodSample:
    return PodSample(name, state, usage, request)


TOLERANCE = Tolerance()


def test_unready_pods_count_as_idle_on_a_scale_up() -> None:
    samples = [sample("a", usage=200), sample("b", usage=200), sample("c", "unready", None)]
    # ready pods alone: 100 % / 50 % -> ceil(2 * 2) = 4; with c at 0: 400/600 -> 66 % -> ceil(3.96)
    assert utilization_replicas(3, samples, 50, TOLERANCE) == (4, 100, 200)
    samples.append(sample("d", "unready", None))
    # 400 / 800 = 50 %: within the tolerance -> keep 4
    assert utilization_replicas(4, samples, 50, TOLERANCE)[0] == 4


def test_unready_pods_are_left_out_of_a_scale_down() -> None:
    samples = [sample("a", usage=20), sample("b", usage=20), sample("c", "unready", None)]
    assert utilization_replicas(3, samples, 50, TOLERANCE)[0] == 1  # ceil(0.2 * 2)


def test_missing_pods_count_as_full_on_a_scale_down_and_idle_on_a_scale_up() -> None:
    down = [sample("a", usage=20), sample("b", usage=20), sample("c", "missing", None)]
    # c counts as 100 % of its request: (20+20+200)/600 = 40 % -> 0.8 -> ceil(2.4) = 3
    assert utilization_replicas(3, down, 50, TOLERANCE)[0] == 3
    up = [sample("a", usage=300), sample("b", usage=300), sample("c", "missing", None)]
    # c counts as 0: 600/600 = 100 % -> 2.0 -> ceil(6) = 6
    assert utilization_replicas(3, up, 50, TOLERANCE)[0] == 6


def test_a_correction_that_flips_the_direction_keeps_the_size() -> None:
    samples = [sample("a", usage=120), sample("b", "missing", None), sample("c", "missing", None)]
    # ready: 60 % (up); missing at 0 -> 20 % (down): keep
    assert utilization_replicas(3, samples, 50, TOLERANCE)[0] == 3


def test_ignored_pods_take_no_part() -> None:
    samples = [sample("a", usage=200), sample("b", "ignored", usage=0)]
    assert utilization_replicas(2, samples, 50, TOLERANCE)[0] == 2  # ceil(2.0 * 1)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([sample("a", "missing", None)], "unable to get metrics for resource cpu"),
        ([sample("a", "unready", 100)], "did not receive metrics for targeted pods"),
        ([PodSample("a", "ready", 100, 0, "main")], "missing request for cpu in container main"),
    ],
)
def test_calculator_errors(samples: list[PodSample], message: str) -> None:
    with pytest.raises(ReplicaCalculationError, match=message):
        utilization_replicas(1, samples, 50, TOLERANCE)


def test_average_value_missing_pods_count_as_the_target_on_a_scale_down() -> None:
    samples = [sample("a", usage=20), sample("b", "missing", None)]
    # ready: 20m vs 100m -> down; b at 100m -> 60m average -> ceil(0.6 * 2) = 2: no change
    assert average_value_replicas(2, samples, 100, TOLERANCE) == (2, 20)
    assert average_value_replicas(4, [sample("a", usage=250)], 100, TOLERANCE) == (3, 250)


NOW = 10_000.0


def pod_at(
    *, phase: str = "Running", started: float = -600, ready: str = "True", since: float = -600
) -> Obj:
    status = {
        "phase": phase,
        "startTime": format_time(NOW + started),
        "conditions": [
            {"type": "Ready", "status": ready, "lastTransitionTime": format_time(NOW + since)}
        ],
    }
    return make_pod("p", status=status)


@pytest.mark.parametrize(
    ("pod", "usage", "state"),
    [
        (pod_at(), 100.0, "ready"),
        (pod_at(), None, "missing"),
        (pod_at(phase="Pending"), 100.0, "unready"),
        (pod_at(phase="Failed"), 100.0, "ignored"),
        (
            merge(pod_at(), {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            1,
            "ignored",
        ),
        (pod_at(started=-60, since=-10), 100.0, "unready"),  # ready 10 s ago, still starting
        (pod_at(started=-60, since=-20), 100.0, "ready"),
        (pod_at(started=-60, ready="False", since=-50), 100.0, "unready"),
        (pod_at(started=-600, ready="False", since=-590), 100.0, "unready"),  # never ready
        (pod_at(started=-600, ready="False", since=-100), 100.0, "ready"),  # was ready once
    ],
)
def test_classify_pod(pod: Obj, usage: float | None, state: str) -> None:
    assert classify_pod(pod, usage, NOW).state == state


def _state_uncached(pod: Obj, now: float) -> str:
    """Kubernetes' groupPods readiness rule, evaluated afresh (the reference)."""
    ready = pod["status"]["conditions"][0]
    start = parse_time(pod["status"]["startTime"])
    transition = parse_time(ready["lastTransitionTime"])
    if start + CPU_INITIALIZATION_PERIOD > now:
        unready = ready["status"] == "False" or now < transition + METRICS_WINDOW
    else:
        unready = ready["status"] == "False" and start + INITIAL_READINESS_DELAY > transition
    return "unready" if unready else "ready"


@settings(max_examples=150, deadline=None)
@given(
    started=st.integers(-900, 0),
    since=st.integers(-900, 0),
    ready=st.sampled_from(["True", "False"]),
    steps=st.lists(st.integers(0, 120), min_size=1, max_size=12),
)
def test_a_pod_classified_again_later_gets_the_verdict_of_that_time(
    started: int, since: int, ready: str, steps: list[int]
) -> None:
    # the same stored pod, classified at every sync as time goes on: the remembered verdict
    # must always be the one a fresh evaluation gives
    pod = pod_at(started=started, ready=ready, since=max(since, started))
    now = NOW
    for step in steps:
        now += step
        assert classify_pod(pod, 100.0, now).state == _state_uncached(pod, now)


# --- reading pods per group gives what reading every pod gives ------------------------------

_SAMPLE = st.builds(
    PodSample,
    name=st.sampled_from(["a", "b", "c", "d"]),
    state=st.sampled_from(["ready", "unready", "missing", "ignored"]),
    usage=st.one_of(st.none(), st.integers(0, 900)),
    request=st.sampled_from([0, 100, 200, 250]),
    missing_request=st.sampled_from(["", "", "", "side"]),
)


@settings(max_examples=300, deadline=None)
@given(
    groups=st.lists(st.tuples(_SAMPLE, st.integers(1, 4)), min_size=1, max_size=5),
    current=st.integers(1, 20),
    target=st.sampled_from([30, 50, 100, 150]),
)
def test_a_counted_sample_is_the_same_as_that_many_pods(
    groups: list[tuple[PodSample, int]], current: int, target: int
) -> None:
    counted = [
        PodSample(s.name, s.state, s.usage, s.request, s.missing_request, n) for s, n in groups
    ]
    # Each pod its own sample; the names stay in the same order, the first one keeps its name.
    one_by_one = [
        PodSample(s.name + "~" * i, s.state, s.usage, s.request, s.missing_request)
        for s, n in groups
        for i in range(n)
    ]
    for calculate in (utilization_replicas, average_value_replicas):
        try:
            expected: object = calculate(current, one_by_one, target, TOLERANCE)
        except ReplicaCalculationError as e:
            expected = str(e)
        try:
            got: object = calculate(current, counted, target, TOLERANCE)
        except ReplicaCalculationError as e:
            got = str(e)
        assert got == expected


_POD_STEP = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 7),  # which pod
        st.sampled_from(["Running", "Running", "Pending", "Failed"]),
        st.booleans(),  # ready
        st.integers(0, 400),  # started this many seconds ago
        st.sampled_from(["web", "web", "other"]),
    ),
    st.tuples(st.just("relabel"), st.integers(0, 7), st.sampled_from(["web", "other"])),
    st.tuples(st.just("terminate"), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.integers(0, 7)),
    st.tuples(st.just("override"), st.integers(0, 7), st.sampled_from([None, 40.0, 300.0])),
    st.tuples(st.just("load"), st.sampled_from([None, 20.0, 100.0, 180.0, 400.0])),
    st.tuples(st.just("wait"), st.integers(1, 120)),
)


def _pod_names(client: EmbeddedClient) -> set[str]:
    return {p["metadata"]["name"] for p in client.list("v1", "Pod", namespace="default").items}


def _create(env: Env, index: int, *pod: Any) -> None:
    phase, ready, age, app = pod
    clock, client = env
    now = clock.now()
    name = f"web-{index}"
    if name in _pod_names(client):
        return
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    condition["lastTransitionTime"] = format_time(now - age // 2)
    status: Obj = {"phase": phase, "conditions": [condition]}
    if phase != "Pending":
        status["startTime"] = format_time(now - age)
    pod = make_pod(name, cpu="200m", labels={"app": app}, status=status)
    pod["metadata"]["finalizers"] = ["test/hold"]
    client.create(pod)


def _relabel(env: Env, index: int, app: str) -> None:
    client = env[1]
    if f"web-{index}" in _pod_names(client):
        patch = {"metadata": {"labels": {"app": app}}}
        client.patch("v1", "Pod", f"web-{index}", patch, namespace="default")


def _terminate(env: Env, index: int) -> None:
    if f"web-{index}" in _pod_names(env[1]):
        env[1].delete("v1", "Pod", f"web-{index}", namespace="default")


def _delete(env: Env, index: int) -> None:
    client, name = env[1], f"web-{index}"
    if name in _pod_names(client):
        client.patch("v1", "Pod", name, {"metadata": {"finalizers": None}}, namespace="default")
        if name in _pod_names(client):
            client.delete("v1", "Pod", name, namespace="default")


def _apply(env: Env, metrics: FakeMetrics, step: tuple[Any, ...]) -> None:
    kind, *args = step
    if kind == "override":
        index, usage = args
        if isinstance(metrics, GroupedFakeMetrics):
            metrics.override(f"web-{index}", usage)
        else:
            metrics.overrides[f"web-{index}"] = usage
    elif kind == "load":
        metrics.per_pod = args[0]
    elif kind == "wait":
        env[0].advance(args[0])
    else:
        actions: dict[str, Callable[..., None]] = {
            "create": _create, "relabel": _relabel, "terminate": _terminate, "delete": _delete,
        }  # fmt: skip
        actions[kind](env, *args)


def _view(client: EmbeddedClient) -> tuple[object, ...]:
    status = hpa_status(client)
    return (
        replicas(client),
        status.get("desiredReplicas"),
        status.get("currentMetrics"),
        [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]],
        sorted(e["message"] for e in client.list("v1", "Event", namespace="default").items),
    )


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(_POD_STEP, min_size=1, max_size=25))
def test_grouped_reading_agrees_with_reading_every_pod(steps: list[tuple[Any, ...]]) -> None:
    runs = []
    for metrics in (FakeMetrics(), GroupedFakeMetrics()):
        env = new_client()
        clock, client = env
        manager = Manager(client, clock)
        manager.add(HorizontalPodAutoscalerController(client, metrics))
        manager.start()
        client.create(make_deployment("web", replicas=3, cpu="200m"))
        client.create(make_hpa(50, max_replicas=20))
        runs.append((env, metrics))
    for step in steps:
        views = []
        for env, metrics in runs:
            _apply(env, metrics, step)
            env[0].advance(SYNC)
            views.append(_view(env[1]))
        assert views[0] == views[1], step
