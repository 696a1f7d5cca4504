"""The simulated runtime under traffic: ``route`` and grouped CPU usage against pod-by-pod truth.

``route`` keeps, per Service, the multiset of its pods' capacities and asks a pod again only
when it changed or its timeline says it may have; ``usage_key`` hands out keys valid until a
given instant. Random sequences of starts, stops, removals, clock steps, routes and recorded
loads check both against what asking every pod gives, at every step.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cluster.kubelet import ContainerState, SimulatedRuntime
from shipyard.cluster.metrics import PerPodRouting
from shipyard.core.clock import VirtualClock, format_time

Obj = dict[str, Any]
Source = tuple[str, str]
PodRef = tuple[str, str]
SIM = "sim.shipyard.dev/"

# Capacities, loads and rates are multiples of 1/8: every sum below is exact, so served and
# usage can be compared with ``==`` whatever the order of additions.
PODS: dict[str, dict[str, str]] = {
    "plain": {},
    "slow": {"ready_after_seconds": "7", "capacity_rps": "40"},
    "hangs": {"hang_after_seconds": "30", "capacity_rps": "64"},
    "crashes": {"crash_after_seconds": "20", "ready_after_seconds": "2"},
    "unready": {"ready": "false"},
    "sidecar": {"sidecar.cpu_millicores_idle": "3", "sidecar.ready_after_seconds": "5"},
    "limited": {"cpu_millicores_per_rps": "2"},
    "drains": {"prestop_seconds": "4", "shutdown_seconds": "2"},
}
PER_RPS = {"limited": 2.0}
LIMITS = {"limited": 150.0}
SIDECAR_IDLE = 3.0


def make_pod(name: str, *, uid: str | None = None) -> Obj:
    containers: list[Obj] = [{"name": "main", "image": "example/web:1"}]
    if name == "limited":
        containers[0]["resources"] = {"limits": {"cpu": "150m"}}
    if name == "sidecar":
        containers.append({"name": "sidecar", "image": "example/proxy:1"})
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid or f"uid-{name}",
            "annotations": {SIM + k: v for k, v in PODS[name].items()},
        },
        "spec": {"nodeName": "node-1", "containers": containers},
    }


def expected_cpu(rt: SimulatedRuntime, pod: Obj, rps: float) -> float | None:
    """Pod by pod: each running container's idle + per-rps × load, capped by its limit."""
    name = pod["metadata"]["name"]
    total: float | None = None
    for container, status in rt.status(pod).containers.items():
        if status.state is not ContainerState.RUNNING:
            continue
        if container == "sidecar":
            usage = SIDECAR_IDLE + rps
        else:
            usage = min(5.0 + PER_RPS.get(name, 1.0) * rps, LIMITS.get(name, math.inf))
        total = usage + (total or 0.0)
    return total


@dataclass
class Model:
    """The runtime under test, and what a pod-by-pod reading should give."""

    clock: VirtualClock = field(default_factory=lambda: VirtualClock(0.0))
    rt: SimulatedRuntime = field(init=False)
    pods: dict[str, Obj] = field(default_factory=dict)
    routes: dict[Source, tuple[tuple[PodRef, ...], float]] = field(default_factory=dict)
    explicit: dict[PodRef, float] = field(default_factory=dict)
    told: set[PodRef] = field(default_factory=set)
    keys: dict[PodRef, tuple[Hashable, float]] = field(default_factory=dict)
    generation: int = 0

    def __post_init__(self) -> None:
        self.rt = SimulatedRuntime(self.clock)
        self.rt.add_usage_listener(lambda ns, name: self.told.add((ns, name)))

    def pod(self, name: str) -> Obj:
        return self.pods.get(name) or make_pod(name)

    def load(self, ref: PodRef) -> float:
        rps = self.explicit.get(ref, 0.0)
        for source in sorted(self.routes):
            pods, each = self.routes[source]
            rps += each * pods.count(ref)
        return rps

    def apply(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        rt = self.rt
        if kind == "start":
            pod = self.pods.setdefault(
                args[0], make_pod(args[0], uid=f"{args[0]}-{self.generation}")
            )
            for container in pod["spec"]["containers"]:
                rt.start(pod, container["name"])
        elif kind == "stop":
            rt.stop(self.pod(args[0]), args[1])
        elif kind == "remove":
            rt.remove(self.pod(args[0]))
            if self.pods.pop(args[0], None) is not None:  # a runtime forgets a removed pod's
                self.explicit.pop(("default", args[0]), None)  # recorded load with it
            self.generation += 1  # a pod of the same name later is a new pod (new uid)
        elif kind == "wait":
            self.clock.advance(args[0])
        elif kind == "route":
            source, names, each = args
            pods = tuple(("default", n) for n in names)
            self.check_route(source, pods, each)
        elif kind == "rate":  # the same pods (the same tuple), another rate
            source, each = args
            pods = self.routes.get(source, ((), 0.0))[0]
            self.check_route(source, pods, each)
        elif kind == "load":
            rt.record_load("default", args[0], args[1])
            self.explicit[("default", args[0])] = args[1]

    def check_route(self, source: Source, pods: tuple[PodRef, ...], each: float) -> None:
        served = self.rt.route(source, pods, each)
        assert served == sum(min(each, self.rt.capacity(*p)) for p in pods)
        if pods:
            self.routes[source] = (pods, each)
        else:
            self.routes.pop(source, None)

    def check(self) -> None:
        for source, (pods, each) in list(self.routes.items()):
            self.check_route(source, pods, each)
        now = self.clock.now()
        for name in PODS:
            ref = ("default", name)
            key, until = self.rt.usage_key(*ref)
            assert until > now
            usage = self.rt.pod_cpu_usage(*ref)
            assert self.rt.usage_of(key) == usage
            if name in self.pods:
                assert usage == expected_cpu(self.rt, self.pods[name], self.load(ref))
            else:
                assert usage is None
            kept = self.keys.get(ref)
            if kept is not None and ref not in self.told and now < kept[1]:
                assert key is kept[0], f"{name}: key changed before {kept[1]} untold"
            self.keys[ref] = (key, until)
        self.told.clear()


NAMES = st.sampled_from(sorted(PODS))
SOURCES = st.sampled_from([("default", "web"), ("default", "api"), ("other", "web")])
RATES = st.sampled_from([0.0, 12.5, 30.0, 50.0, 150.0])
STEP = st.one_of(
    st.tuples(st.just("start"), NAMES),
    st.tuples(st.just("stop"), NAMES, st.sampled_from([0, 3, 30])),
    st.tuples(st.just("remove"), NAMES),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1, 2, 3, 4, 5, 7, 13, 40])),
    st.tuples(st.just("route"), SOURCES, st.lists(NAMES, max_size=5), RATES),
    st.tuples(st.just("rate"), SOURCES, RATES),
    st.tuples(st.just("load"), NAMES, st.sampled_from([0.0, 10.0, 64.0])),
)


@settings(max_examples=400, deadline=None)
@given(
    first=st.sets(NAMES, min_size=3),
    routed=st.lists(NAMES, min_size=2, max_size=8),
    steps=st.lists(STEP, max_size=40),
)
def test_route_and_grouped_usage_agree_with_asking_every_pod(
    first: set[str], routed: list[str], steps: list[tuple[Any, ...]]
) -> None:
    model = Model()
    warm_up = [("start", name) for name in sorted(first)]
    warm_up += [("route", ("default", "web"), routed, 30.0), ("wait", 3)]
    for step in warm_up + steps:
        model.apply(step)
        model.check()


def test_served_counts_each_pod_up_to_its_capacity_as_it_starts_readies_and_stops() -> None:
    model = Model()
    web: Source = ("default", "web")
    pods = (("default", "plain"), ("default", "slow"), ("default", "missing"))
    for name in ("plain", "slow"):
        model.apply(("start", name))
    rt, clock = model.rt, model.clock
    assert rt.route(web, pods, 50.0) == 0.0  # pulling
    clock.advance(3)  # running (pull 2 s + startup 1 s); "slow" ready after 7 more
    assert rt.route(web, pods, 50.0) == 50.0
    clock.advance(7)
    assert rt.route(web, pods, 50.0) == 90.0  # + min(50, 40)
    assert rt.route(web, pods, 30.0) == 60.0
    rt.stop(model.pods["plain"], 30)
    assert rt.route(web, pods, 30.0) == 30.0  # stopping: no capacity at once
    rt.remove(model.pods["slow"])
    assert rt.route(web, pods, 30.0) == 0.0
    assert rt.route(web, (), 30.0) == 0.0


def test_a_hung_pod_stops_serving_when_its_hang_falls_due() -> None:
    model = Model()
    model.apply(("start", "hangs"))
    web = (("default", "hangs"), ("default", "hangs"))  # listed twice: served twice
    assert model.rt.route(("default", "web"), web, 50.0) == 0.0
    model.clock.advance(32.5)  # running at 3, hung at 33
    assert model.rt.route(("default", "web"), web, 50.0) == 100.0
    model.clock.advance(0.5)
    assert model.rt.route(("default", "web"), web, 50.0) == 0.0
    assert model.rt.pod_cpu_usage("default", "hangs") == 5.0 + 100.0  # it still runs


def test_a_pod_in_two_services_carries_both_loads() -> None:
    model = Model()
    model.apply(("start", "plain"))
    model.clock.advance(3)
    pod = ("default", "plain")
    model.rt.route(("default", "web"), (pod,), 20.0)
    model.rt.route(("default", "api"), (pod,), 12.5)
    assert model.rt.pod_cpu_usage(*pod) == 5.0 + 32.5
    model.rt.record_load(*pod, 10.0)
    assert model.rt.pod_cpu_usage(*pod) == 5.0 + 42.5
    model.rt.route(("default", "api"), (), 0.0)
    assert model.rt.pod_cpu_usage(*pod) == 5.0 + 30.0


def test_pods_alike_share_one_key_whose_usage_follows_the_rate() -> None:
    clock = VirtualClock(0.0)
    rt = SimulatedRuntime(clock)
    told: list[str] = []
    rt.add_usage_listener(lambda ns, name: told.append(name))
    first, second = make_pod("plain"), make_pod("plain", uid="u2")
    second["metadata"]["name"] = "plain-2"
    for pod in (first, second):
        rt.start(pod, "main")
    assert told == ["plain", "plain-2"]
    key, until = rt.usage_key("default", "plain")
    assert (rt.usage_of(key), until) == (None, 3.0)  # nothing runs until pulled and created
    clock.advance(3)
    web = (("default", "plain"), ("default", "plain-2"))
    rt.route(("default", "web"), web, 20.0)
    assert sorted(told) == ["plain", "plain", "plain-2", "plain-2"]  # sources changed
    key, until = rt.usage_key("default", "plain")
    assert rt.usage_key("default", "plain-2") == (key, math.inf)
    assert until == math.inf
    rt.route(("default", "web"), web, 40.0)  # only the rate: no one is told
    assert len(told) == 4
    assert rt.usage_of(key) == 45.0 == rt.pod_cpu_usage("default", "plain-2")
    rt.record_load("default", "plain", 8.0)  # a pod of its own
    assert told[-1] == "plain"
    assert rt.usage_key("default", "plain")[0] is not key


def test_a_key_lasts_until_the_container_exits() -> None:
    model = Model()
    model.apply(("start", "crashes"))
    model.clock.advance(3)
    key, until = model.rt.usage_key("default", "crashes")
    assert (model.rt.usage_of(key), until) == (5.0, 23.0)  # running at 3, crashes 20 s later
    model.clock.advance(20)
    assert model.rt.usage_of(model.rt.usage_key("default", "crashes")[0]) is None


def test_adopting_or_stopping_a_pod_tells_the_listeners() -> None:
    clock = VirtualClock(100.0)
    rt = SimulatedRuntime(clock)
    told: list[str] = []
    unsubscribe = rt.add_usage_listener(lambda ns, name: told.append(name))
    pod = make_pod("crashes")
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.128.9.9",
        "containerStatuses": [
            {
                "name": "main",
                "containerID": "shipyard-sim://abc",
                "restartCount": 0,
                "state": {"running": {"startedAt": format_time(90.0)}},
            }
        ],
    }
    assert rt.adopt(pod)
    assert told == ["crashes"]
    key, until = rt.usage_key("default", "crashes")
    assert (rt.usage_of(key), until) == (5.0, 110.0)
    assert rt.route(("default", "web"), (("default", "crashes"),), 10.0) == 10.0
    clock.advance(10)
    assert rt.route(("default", "web"), (("default", "crashes"),), 10.0) == 0.0  # it crashed
    rt.stop(pod, 5)
    assert told == ["crashes", "crashes", "crashes"]  # adopt, routed, stop
    unsubscribe()
    rt.remove(pod)
    assert len(told) == 3


def test_per_pod_routing_records_each_pods_total_load() -> None:
    @dataclass
    class Pods:
        loads: dict[str, float] = field(default_factory=dict)

        def capacity(self, namespace: str, name: str) -> float:
            return {"a": 10.0, "b": 100.0}.get(name, 0.0)

        def record_load(self, namespace: str, name: str, rps: float) -> None:
            self.loads[name] = rps

    pods = Pods()
    router = PerPodRouting(pods)
    a, b, c = ("x", "a"), ("x", "b"), ("x", "c")
    assert router.route(("x", "web"), (a, b, c), 20.0) == 30.0
    assert router.route(("x", "api"), (b,), 5.0) == 5.0
    assert pods.loads == {"a": 20.0, "b": 25.0, "c": 20.0}
    assert router.route(("x", "web"), (a,), 4.0) == 4.0
    assert pods.loads == {"a": 4.0, "b": 5.0, "c": 0.0}
    router.route(("x", "api"), (), 0.0)
    assert pods.loads["b"] == 0.0
