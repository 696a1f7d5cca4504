"""Running a scenario: each strategy on the same workloads and events, in virtual time.

::

    for each strategy:   Strategy.build(scenario, VirtualClock(start))  ──►  System
        workloads ──► Deployments (+ Service, HPA, traffic load; PDB)
        stops = every check interval ∪ every sample ∪ every event and schedule time ∪ end
        for each stop:  system.run_for(stop - now) ─► apply the events due ─► invariants
                        ─► sample (every sampleInterval) ─► progress(strategy, t, duration)
        StrategyResult: samples, pod pending times, evictions, disruptions, launches, cost

The runner knows no strategy: a :class:`Strategy` names a ``build`` function returning any
:class:`System` (an autoscaled cluster: its client, its embedded cluster, its cloud, ``start``,
``run_for``, ``stop``); ``shipyard.platform`` and the CLI wire Shipyard's Karpenter-style
autoscaler and the Cluster-Autoscaler baseline to it. Everything measured is read from the
cluster and the cloud as a user would see them, the same way for every strategy:

- **cost** from the :class:`~shipyard.cloud.simulated.SimulatedCloud`'s bill (per second of
  running, 60 s minimum) and its current rate (USD per hour of the running instances);
- **pods** from the change stream: a pod's *pending time* runs from its creation to the moment
  it first reports phase ``Running`` (DaemonSet pods are left out: they follow nodes); pods
  still waiting at the end are counted separately, with their wait so far;
- **evictions**: pods given the ``DisruptionTarget`` condition by the Eviction API;
- **disruptions by reason**: a NodeClaim's ``DisruptionReason`` condition (``Empty``,
  ``Underutilized``, ``Drifted``, ``Expired``, ``Interrupted``) for Karpenter-style
  strategies; for the baseline, a node tainted ``ToBeDeletedByClusterAutoscaler`` counts as
  ``Empty`` when no workload pod is bound to it then, else ``Underutilized``;
- **invariants**: an :class:`~shipyard.sim.invariants.InvariantChecker` over the kinds the
  strategy declares, at every stop; violations are recorded, not raised (a report shows
  them), each broken invariant once (its first finding).

Deterministic: the clock is virtual, the store, the cloud and the cluster are seeded from the
scenario's seed, spot victims are drawn with it, and nothing reads the wall clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shipyard.autoscaler.baseline import ASG_TAG, TO_BE_DELETED_TAINT
from shipyard.autoscaler.disruption.controller import DISRUPTION_REASON
from shipyard.cloud.provider import CloudProvider
from shipyard.cloud.simulated import NODEPOOL_TAG, SimulatedCloud
from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.cluster.podutil import condition, controller_ref
from shipyard.core.clock import VirtualClock, parse_time
from shipyard.core.errors import ShipyardError
from shipyard.core.labels import CAPACITY_TYPE_SPOT
from shipyard.core.objects import Obj, meta
from shipyard.sim.invariants import KINDS, InvariantChecker, Violation
from shipyard.sim.scenario import Event, Release, Scenario, SpotInterruption, Workload
from shipyard.store.backends import DELETED
from shipyard.store.watch import WatchEvent

__all__ = [
    "DEFAULT_CHECK_INTERVAL",
    "Progress",
    "Sample",
    "SimulationResult",
    "Strategy",
    "StrategyResult",
    "System",
    "run_scenario",
    "run_strategy",
    "workload_objects",
]

DEFAULT_CHECK_INTERVAL = 10.0
CONTAINER = "app"
KARPENTER_API = "karpenter.sh/v1"
EVICTED_BY_API = "EvictionByEvictionAPI"

Progress = Callable[[str, float, float], None]  # strategy, seconds simulated, total seconds


class System(Protocol):
    """What a strategy builds: an autoscaled embedded cluster on a simulated cloud."""

    @property
    def client(self) -> EmbeddedClient: ...

    @property
    def cluster(self) -> EmbeddedCluster: ...

    @property
    def cloud(self) -> CloudProvider: ...

    def start(self) -> object: ...

    def run_for(self, seconds: float) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Strategy:
    """A node autoscaling strategy: how to build it for a scenario on a clock, and which
    invariants apply to it (NodePool budgets and NodeClaim-less instances mean nothing to a
    strategy without NodeClaims)."""

    name: str
    title: str
    build: Callable[[Scenario, VirtualClock], System]
    invariants: tuple[str, ...] = KINDS


@dataclass(frozen=True)
class Sample:
    """The cluster and the bill at ``t`` seconds after the start."""

    t: float
    cost: float  # USD billed so far
    cost_per_hour: float  # USD per hour of the instances running now
    nodes: int
    pending: int  # pods in phase Pending (not terminating), DaemonSet pods left out
    running: int


@dataclass
class StrategyResult:
    """Everything measured while one strategy ran the scenario."""

    name: str
    title: str
    duration: float
    samples: list[Sample] = field(default_factory=list)
    pending_times: list[float] = field(default_factory=list)  # seconds, pods that ran
    still_pending: list[float] = field(default_factory=list)  # seconds waited, at the end
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (created, running) t
    evictions: int = 0
    disruptions: dict[str, int] = field(default_factory=dict)
    spot_interruptions: int = 0
    launches: dict[str, int] = field(default_factory=dict)  # "type capacity-type" -> count
    total_cost: float = 0.0
    violations: list[Violation] = field(default_factory=list)
    checks: int = 0


@dataclass
class SimulationResult:
    scenario: Scenario
    results: list[StrategyResult]


def run_scenario(
    scenario: Scenario,
    strategies: Mapping[str, Strategy],
    *,
    progress: Progress | None = None,
    check_interval: float = DEFAULT_CHECK_INTERVAL,
) -> SimulationResult:
    """Run every strategy the scenario names, each on a fresh cluster and cloud."""
    missing = [s for s in scenario.strategies if s not in strategies]
    if missing:
        raise ShipyardError(f"no strategy named {', '.join(missing)}; known: {sorted(strategies)}")
    results = [
        run_strategy(scenario, strategies[name], progress=progress, check_interval=check_interval)
        for name in scenario.strategies
    ]
    return SimulationResult(scenario, results)


def run_strategy(
    scenario: Scenario,
    strategy: Strategy,
    *,
    progress: Progress | None = None,
    check_interval: float = DEFAULT_CHECK_INTERVAL,
) -> StrategyResult:
    """Run one strategy on the scenario (see the module docstring)."""
    if check_interval <= 0:
        raise ValueError(f"check_interval must be positive, got {check_interval}")
    clock = VirtualClock(scenario.start) if scenario.start is not None else VirtualClock()
    system = strategy.build(scenario, clock)
    cloud = system.cloud
    if not isinstance(cloud, SimulatedCloud):
        raise ShipyardError(f"strategy {strategy.name}: a simulation needs a SimulatedCloud")
    run = _Run(scenario, strategy, system, cloud, clock)
    try:
        run.execute(progress, check_interval)
    finally:
        run.close()
    return run.result


class _Run:
    """One strategy's run: the system, its observer, its checker, and the result so far."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy,
        system: System,
        cloud: SimulatedCloud,
        clock: VirtualClock,
    ) -> None:
        self.scenario, self.system, self.cloud, self.clock = scenario, system, cloud, clock
        self.t0 = clock.now()
        self.result = StrategyResult(strategy.name, strategy.title, scenario.duration)
        self.observer = _Observer(system.client)
        self.checker: InvariantChecker | None = None
        self.invariants = strategy.invariants
        self.actions = _timed_actions(scenario)
        self._violated: set[tuple[str, str]] = set()

    def execute(self, progress: Progress | None, check_interval: float) -> None:
        client = self.system.client
        for workload in self.scenario.workloads:
            for obj in workload_objects(workload):
                client.create(obj)
            if workload.traffic is not None:
                rate = workload.traffic.rps
                self.system.cluster.traffic.add_load(workload.namespace, workload.name, rate)
        self.system.start()
        if self.invariants:
            self.checker = InvariantChecker(client, self.cloud, kinds=self.invariants)
        sample_every = self.scenario.sample_interval
        self.system.run_for(0)
        self._apply_due(0.0)
        self._sample(0.0)
        for stop in _stops(self.scenario, check_interval, [t for t, _ in self.actions]):
            self.system.run_for(stop - self.elapsed())
            self._apply_due(stop)
            if self.checker is not None:
                self._record(self.checker.violations())
            if _is_multiple(stop, sample_every) or stop == self.scenario.duration:
                self._sample(stop)
            if progress is not None:
                progress(self.result.name, stop, self.scenario.duration)
        self._finish()

    def elapsed(self) -> float:
        return self.clock.now() - self.t0

    def close(self) -> None:
        self.observer.close()
        if self.checker is not None:
            self.checker.close()
        self.system.stop()

    def _record(self, found: list[Violation]) -> None:
        """Keep the first report of each broken invariant (a lasting one is found at every
        check)."""
        for violation in found:
            key = (violation.kind, violation.subject)
            if key not in self._violated:
                self._violated.add(key)
                self.result.violations.append(violation)

    def _apply_due(self, now: float) -> None:
        while self.actions and self.actions[0][0] <= now + 1e-9:
            _, action = self.actions.pop(0)
            action(self)

    def _sample(self, t: float) -> None:
        o = self.observer
        self.result.samples.append(
            Sample(
                t=t,
                cost=self.cloud.cost(),
                cost_per_hour=self.cloud.hourly_cost(),
                nodes=len(o.nodes),
                pending=o.counts["pending"],
                running=o.counts["running"],
            )
        )

    def _finish(self) -> None:
        r, o = self.result, self.observer
        now = self.clock.now()
        r.pending_times = sorted(started - created for created, started in o.finished)
        r.timeline = sorted((c - self.t0, s - self.t0) for c, s in o.finished)
        r.still_pending = sorted(now - created for created in o.waiting_since())
        r.evictions = o.evictions
        r.disruptions = dict(sorted(o.disruptions.items()))
        r.total_cost = self.cloud.cost()
        launches: dict[str, int] = {}
        for instance in self.cloud.all_instances():
            key = f"{instance.instance_type} {instance.capacity_type}"
            launches[key] = launches.get(key, 0) + 1
        r.launches = dict(sorted(launches.items()))
        r.checks = self.checker.checks if self.checker is not None else 0

    # -- events ---------------------------------------------------------------------------------

    def interrupt(self, event: SpotInterruption, index: int) -> None:
        running = sorted(
            i.instance_id
            for i in self.cloud.list()
            if i.state == "running"
            and i.capacity_type == CAPACITY_TYPE_SPOT
            and (not event.pool or event.pool in (i.tags.get(NODEPOOL_TAG), i.tags.get(ASG_TAG)))
        )
        rng = random.Random(f"shipyard.sim|{self.scenario.seed}|{index}")
        for instance_id in rng.sample(running, min(event.count, len(running))):
            self.cloud.interrupt_spot(instance_id)
            self.result.spot_interruptions += 1

    def release(self, event: Release) -> None:
        workload = next(w for w in self.scenario.workloads if w.name == event.workload)
        patch = {
            "spec": {"template": {"spec": {"containers": [_container(workload, event.image)]}}}
        }
        self.system.client.patch(
            "apps/v1",
            "Deployment",
            workload.name,
            patch,
            namespace=workload.namespace,
            patch_type="strategic",
        )

    def scale(self, workload: Workload, replicas: int) -> None:
        self.system.client.patch(
            "apps/v1",
            "Deployment",
            workload.name,
            {"spec": {"replicas": replicas}},
            namespace=workload.namespace,
        )


Action = Callable[[_Run], None]


def _timed_actions(scenario: Scenario) -> list[tuple[float, Action]]:
    """Every event and replica change as (time, action), in time order (ties: file order)."""
    out: list[tuple[float, Action]] = []
    for index, event in enumerate(scenario.events):
        out.append((event.at, _event_action(event, index)))
    for workload in scenario.workloads:
        for at, replicas in workload.schedule:
            out.append((at, _scale_action(workload, replicas)))
    return sorted(out, key=lambda item: item[0])


def _event_action(event: Event, index: int) -> Action:
    action = event.action
    if isinstance(action, SpotInterruption):
        return lambda run: run.interrupt(action, index)
    return lambda run: run.release(action)


def _scale_action(workload: Workload, replicas: int) -> Action:
    return lambda run: run.scale(workload, replicas)


def _stops(scenario: Scenario, check_interval: float, times: Sequence[float]) -> list[float]:
    """Where the run pauses: every check, every sample, every action, and the end."""
    duration = scenario.duration
    stops = {
        min(duration, round(k * check_interval, 6))
        for k in range(1, _count(duration, check_interval) + 1)
    }
    stops |= {
        min(duration, round(k * scenario.sample_interval, 6))
        for k in range(1, _count(duration, scenario.sample_interval) + 1)
    }
    stops |= {t for t in times if 0 <= t <= duration}
    stops.add(duration)
    return sorted(stops)


def _count(duration: float, every: float) -> int:
    return int(duration // every) + 1


def _is_multiple(t: float, every: float) -> bool:
    ratio = t / every
    return abs(ratio - round(ratio)) < 1e-9


# --- workload objects ----------------------------------------------------------------------------


def _container(workload: Workload, image: str) -> Obj:
    return {
        "name": CONTAINER,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": workload.cpu, "memory": workload.memory}},
    }


def workload_objects(workload: Workload) -> list[Obj]:
    """The Deployment of a workload, and its Service, HPA and PDB when it has them."""
    labels = {"app": workload.name}
    md = {"name": workload.name, "namespace": workload.namespace}
    template_md: Obj = {"labels": dict(labels)}
    if workload.annotations:
        template_md["annotations"] = dict(workload.annotations)
    replicas = workload.replicas
    if workload.hpa is not None:  # the HPA's bounds hold from the start
        replicas = min(max(replicas, workload.hpa["minReplicas"]), workload.hpa["maxReplicas"])
    out: list[Obj] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**md, "labels": dict(labels)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": template_md,
                    "spec": {"containers": [_container(workload, workload.image)]},
                },
            },
        }
    ]
    if workload.hpa is not None:
        out += [_service(workload, md, labels), _hpa(workload, md)]
    if workload.pdb is not None:
        out.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": dict(md),
                "spec": {"selector": {"matchLabels": dict(labels)}, **workload.pdb},
            }
        )
    return out


def _service(workload: Workload, md: Obj, labels: Mapping[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(md),
        "spec": {
            "selector": dict(labels),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _hpa(workload: Workload, md: Obj) -> Obj:
    hpa = workload.hpa or {}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": dict(md),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"]},
            "minReplicas": hpa["minReplicas"],
            "maxReplicas": hpa["maxReplicas"],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": hpa["targetCPUUtilization"],
                        },
                    },
                }
            ],
        },
    }


# --- observing the cluster -----------------------------------------------------------------------


@dataclass
class _Pod:
    created: float
    state: str  # pending | running | other
    node: str
    started: bool


class _Observer:
    """Pods, nodes and NodeClaims followed from the change stream (see the module docstring)."""

    def __init__(self, client: EmbeddedClient) -> None:
        self._now = client.clock.now
        self.pods: dict[str, _Pod] = {}
        self.counts = {"pending": 0, "running": 0, "other": 0}
        self.finished: list[tuple[float, float]] = []  # (created, first Running)
        self.nodes: dict[str, str] = {}  # name -> uid
        self.bound: dict[str, set[str]] = {}  # node -> workload pod uids on it
        self.evictions = 0
        self.disruptions: dict[str, int] = {}
        self._evicted: set[str] = set()
        self._disrupted: set[str] = set()
        kinds = [("v1", "Pod"), ("v1", "Node"), (KARPENTER_API, "NodeClaim")]
        self._unsubscribe: Callable[[], None] | None = client.add_listener(self._on, kinds=kinds)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def waiting_since(self) -> list[float]:
        return [p.created for p in self.pods.values() if not p.started and p.state == "pending"]

    def _on(self, event: WatchEvent) -> None:
        kind = event.object.get("kind")
        deleted = event.type == DELETED
        if kind == "Pod":
            self._pod(event.object, deleted)
        elif kind == "Node":
            self._node(event.object, deleted)
        elif not deleted:
            self._claim(event.object)

    def _pod(self, pod: Obj, deleted: bool) -> None:
        md = meta(pod)
        uid = str(md.get("uid"))
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "DaemonSet":
            return
        old = self.pods.pop(uid, None)
        if old is not None:
            self.counts[old.state] -= 1
            self.bound.get(old.node, set()).discard(uid)
        if deleted:
            return
        status = pod.get("status") or {}
        phase = status.get("phase")
        terminating = bool(md.get("deletionTimestamp"))
        state = (
            "other"
            if terminating
            else {"Pending": "pending", "Running": "running"}.get(str(phase), "other")
        )
        created = old.created if old else parse_time(str(md.get("creationTimestamp")))
        started = bool(old and old.started)
        if phase == "Running" and not started:
            started = True
            self.finished.append((created, self._now()))
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        self.pods[uid] = _Pod(created, state, node, started)
        self.counts[state] += 1
        if node and phase in ("Pending", "Running"):
            self.bound.setdefault(node, set()).add(uid)
        self._eviction(uid, pod)

    def _eviction(self, uid: str, pod: Obj) -> None:
        if uid in self._evicted:
            return
        target = condition(pod, "DisruptionTarget") or {}
        if target.get("status") == "True" and target.get("reason") == EVICTED_BY_API:
            self._evicted.add(uid)
            self.evictions += 1

    def _node(self, node: Obj, deleted: bool) -> None:
        md = meta(node)
        name = str(md.get("name"))
        if deleted:
            self.nodes.pop(name, None)
            self.bound.pop(name, None)
            return
        self.nodes[name] = str(md.get("uid"))
        taints = (node.get("spec") or {}).get("taints") or ()
        key = f"node/{md.get('uid')}"
        if key not in self._disrupted and any(t.get("key") == TO_BE_DELETED_TAINT for t in taints):
            self._disrupted.add(key)
            self._count("Underutilized" if self.bound.get(name) else "Empty")

    def _claim(self, claim: Obj) -> None:
        found = condition(claim, DISRUPTION_REASON) or {}
        if found.get("status") != "True":
            return
        key = f"claim/{meta(claim).get('uid')}@{found.get('lastTransitionTime')}"
        if key not in self._disrupted:
            self._disrupted.add(key)
            self._count(str(found.get("reason") or "Unknown"))

    def _count(self, reason: str) -> None:
        self.disruptions[reason] = self.disruptions.get(reason, 0) + 1
