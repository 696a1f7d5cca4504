"""The traffic model: requests routed to ready endpoints, served up to each pod's capacity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.kubelet.simulated import ImageProfile, SimulatedRuntime
from shipyard.cluster.metrics import PerPodRouting
from shipyard.cluster.runtime import Manager
from shipyard.cluster.services import EndpointsController
from shipyard.cluster.traffic import TrafficModel, routable_pods
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from tests.cluster.fixtures import make_pod, make_service, new_client
from tests.cluster.test_scenarios import (
    images,
    new_cluster,
    pods_of,
    ready_count,
    rolling,
    set_image,
    step_until,
)

Obj = dict[str, Any]


@dataclass
class FakeServing:
    """ServingPods: capacity per pod (absent: not serving), and the load each pod got; routes
    pod by pod."""

    capacities: dict[str, float] = field(default_factory=dict)
    loads: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.router = PerPodRouting(self)

    def route(self, source: tuple[str, str], pods: Sequence[tuple[str, str]], each: float) -> float:
        return self.router.route(source, pods, each)

    def capacity(self, namespace: str, name: str) -> float:
        return self.capacities.get(name, 0.0)

    def record_load(self, namespace: str, name: str, rps: float) -> None:
        self.loads[name] = rps


@dataclass
class Env:
    clock: VirtualClock
    client: EmbeddedClient
    serving: FakeServing
    traffic: TrafficModel


@pytest.fixture
def env() -> Env:
    clock, client = new_client()
    manager = Manager(client, clock)
    manager.add(EndpointsController(client))
    manager.start()
    serving = FakeServing()
    client.create(make_service("web"))
    return Env(clock, client, serving, TrafficModel(client, serving, clock))


def serving_pod(env: Env, name: str, ip: str, *, capacity: float, ready: bool = True) -> None:
    """A running pod in the Service's endpoints that can serve ``capacity`` requests/s."""
    env.client.create(make_pod(name, spec={"nodeName": "node-1"}))
    set_ready(env, name, ip, ready)
    env.serving.capacities[name] = capacity


def set_ready(env: Env, name: str, ip: str, ready: bool) -> None:
    status = {
        "phase": "Running",
        "podIP": ip,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    env.client.patch(
        "v1", "Pod", name, {"status": status}, namespace="default", subresource="status"
    )


def test_everything_is_served_when_capacity_suffices(env: Env) -> None:
    for i in (1, 2, 3):
        serving_pod(env, f"web-{i}", f"127.1.0.{i}", capacity=50)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", 90.0)
    env.clock.advance(60)
    stats = env.traffic.stats("default", "web")
    assert stats.sent == pytest.approx(90 * 60)
    assert stats.served == pytest.approx(90 * 60)
    assert stats.failed == 0
    assert stats.min_ready_endpoints == 3
    assert env.serving.loads == {"web-1": 30.0, "web-2": 30.0, "web-3": 30.0}


def test_load_beyond_a_pods_capacity_fails(env: Env) -> None:
    serving_pod(env, "web-1", "127.1.0.1", capacity=40)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", 50.0)
    env.clock.advance(10)
    stats = env.traffic.stats("default", "web")
    assert (stats.served, stats.failed) == (pytest.approx(400), pytest.approx(100))
    assert stats.success_rate == pytest.approx(0.8)


def test_requests_fail_while_endpoints_lag_behind_a_stopped_pod(env: Env) -> None:
    serving_pod(env, "web-1", "127.1.0.1", capacity=100)
    serving_pod(env, "web-2", "127.1.0.2", capacity=100)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", 100.0)
    env.clock.advance(10)

    env.serving.capacities["web-2"] = 0  # the container stopped; endpoints still list it
    env.clock.advance(5)
    set_ready(env, "web-2", "127.1.0.2", False)  # the readiness probe notices
    env.clock.advance(5)

    stats = env.traffic.stats("default", "web")
    assert stats.failed == pytest.approx(50 * 5)
    assert stats.served == pytest.approx(100 * 20 - 50 * 5)
    assert stats.first_failure == pytest.approx(env.clock.now() - 9)
    assert stats.last_failure == pytest.approx(env.clock.now() - 5)
    assert stats.min_ready_endpoints == 1
    assert env.serving.loads["web-2"] == 0.0  # no longer routed to: its load drops
    assert env.serving.loads["web-1"] == 100.0


def test_without_ready_endpoints_everything_fails(env: Env) -> None:
    serving_pod(env, "web-1", "127.1.0.1", capacity=100, ready=False)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", 10.0)
    env.clock.advance(30)
    stats = env.traffic.stats("default", "web")
    assert (stats.sent, stats.served, stats.failed) == (pytest.approx(300), 0, pytest.approx(300))
    assert stats.min_ready_endpoints == 0
    assert stats.failed_ticks == 30


def test_rate_can_follow_virtual_time(env: Env) -> None:
    serving_pod(env, "web-1", "127.1.0.1", capacity=1000)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", lambda t: 10.0 if t <= 5 else 20.0)
    env.clock.advance(10)
    series = env.traffic.series("default", "web")
    assert [s.rps for s in series] == [10.0] * 5 + [20.0] * 5
    assert env.traffic.stats("default", "web").sent == pytest.approx(150)


def test_stop_releases_the_load_and_unknown_services_are_not_found(env: Env) -> None:
    serving_pod(env, "web-1", "127.1.0.1", capacity=1000)
    env.clock.run_until_idle()
    env.traffic.add_load("default", "web", 10.0)
    env.clock.advance(3)
    env.traffic.stop()
    env.clock.advance(3)
    assert env.traffic.stats("default", "web").ticks == 3
    assert env.serving.loads["web-1"] == 0.0
    with pytest.raises(NotFoundError):
        env.traffic.stats("default", "nope")


def endpoint(name: str, *, ready: bool, serving: bool, terminating: bool) -> Obj:
    return {
        "addresses": ["127.1.0.1"],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": name},
    }


def test_kube_proxy_falls_back_to_serving_terminating_endpoints() -> None:
    draining = endpoint("old", ready=False, serving=True, terminating=True)
    stopped = endpoint("gone", ready=False, serving=False, terminating=True)
    fresh = endpoint("new", ready=True, serving=True, terminating=False)
    assert routable_pods([{"endpoints": [draining, stopped, fresh]}]) == [("default", "new")]
    assert routable_pods([{"endpoints": [draining, stopped]}]) == [("default", "old")]
    assert routable_pods([{"endpoints": []}]) == []


class CapacityOnly:
    """The pod-by-pod reference: asks the runtime each routed pod's capacity, records nothing."""

    def __init__(self, runtime: SimulatedRuntime) -> None:
        self.runtime = runtime
        self.router = PerPodRouting(self)

    def capacity(self, namespace: str, name: str) -> float:
        return self.runtime.capacity(namespace, name)

    def record_load(self, namespace: str, name: str, rps: float) -> None:
        pass

    def route(self, source: tuple[str, str], pods: Sequence[tuple[str, str]], each: float) -> float:
        return self.router.route(source, pods, each)


def test_the_runtime_serves_and_loads_what_asking_every_pod_gives_through_a_rollout() -> None:
    cluster = new_cluster()
    cluster.client.create(rolling())
    cluster.client.create(make_service("web", port=80, target_port="http"))
    step_until(cluster, lambda: ready_count(cluster, "web") == 10)
    capacity_only = CapacityOnly(cluster.runtime)
    pod_by_pod_loads = capacity_only.router
    reference = TrafficModel(cluster.client, capacity_only, cluster.clock)

    def rate(t: float) -> float:
        return 400.0 + 150.0 * (t % 7)  # up to 1300: beyond what 10 pods of 100 serve

    cluster.traffic.add_load("default", "web", rate)
    reference.add_load("default", "web", rate)
    cluster.run_for(5)
    # The new release crashes after 12 s: until its readiness probe notices, the endpoints
    # still route to a pod that serves nothing.
    cluster.runtime.set_profile("example/web:2", ImageProfile(crash_after_seconds=12))
    set_image(cluster, "example/web:2")
    step_until(cluster, lambda: images(cluster, "web") == {"example/web:2"})
    cluster.run_for(30)

    ours, pod_by_pod = cluster.traffic.series("default", "web"), reference.series("default", "web")
    assert len(ours) > 20
    assert [(s.time, s.rps, s.ready_endpoints) for s in ours] == [
        (s.time, s.rps, s.ready_endpoints) for s in pod_by_pod
    ]
    assert [s.served_rps for s in ours] == pytest.approx([s.served_rps for s in pod_by_pod])
    assert any(s.failed_rps > 1 for s in ours)
    for name in (p["metadata"]["name"] for p in pods_of(cluster, "web")):
        usage = cluster.runtime.pod_cpu_usage("default", name)
        assert usage in (None, 5.0 + pod_by_pod_loads.load(("default", name)))
    cluster.traffic.stop()
    for name in (p["metadata"]["name"] for p in pods_of(cluster, "web")):
        assert cluster.runtime.pod_cpu_usage("default", name) in (None, 5.0)
