"""Simulation scenarios: one YAML file, validated with every problem at its field path.

A scenario describes a cluster's workloads and what happens to them, and the node
autoscaling strategies to compare on it. The schema (``examples/README.md`` shows it with
the shipped examples)::

    name: karpenter-vs-ca              # required, a DNS label
    description: free text
    duration: 1h                       # Go duration, required
    seed: 1                            # default 0; every random choice derives from it
    sampleInterval: 30s                # how often the report samples (default 30s)
    start: "2026-01-05T08:00:00Z"      # virtual start time, UTC (budgets' cron schedules)
    cluster:                           # the embedded control plane's knobs (defaults shown)
      hpaSyncPeriod: 15s               # kube-controller-manager's HPA sync period
      trafficTick: 1s                  # how often the traffic model routes requests
      nodeHeartbeat: 10s               # kubelets renew their Lease (nodes are declared
                                       # unreachable after 5 missed heartbeats)
    strategies: [karpenter, cluster-autoscaler]   # default: every strategy configured
    karpenter:                         # Karpenter-style provisioning and disruption
      nodePools: [<karpenter.sh/v1 NodePool manifest>, ...]
      nodeClasses: [<karpenter.k8s.aws/v1 EC2NodeClass manifest>, ...]  # default: "default"
    clusterAutoscaler:                 # the Cluster-Autoscaler baseline
      expander: least-waste            # least-waste | most-pods | price | priority | random
      nodeGroups: [{name, instanceType, minSize, maxSize, capacityType, zones}, ...]
    workloads:                         # Deployments
      - name: web
        namespace: default
        image: example/web:1
        replicas: 10                   # at the start
        cpu: "2"                       # requests per pod
        memory: 2Gi
        annotations: {}                # pod annotations (sim.shipyard.dev/* profiles, ...)
        schedule: [{at: 10m, replicas: 40}]      # replica changes over time
        pdb: {maxUnavailable: 1}       # or minAvailable: a PodDisruptionBudget
        hpa: {minReplicas: 2, maxReplicas: 50, targetCPUUtilization: 60}
        traffic: {pattern: diurnal, min: 50, max: 900, period: 24h, peakAt: 14h}
    events:
      - {at: 20m, spotInterruption: {count: 2, nodePool: spot}}
      - {at: 30m, release: {workload: web, image: example/web:2}}

A workload with ``hpa`` gets a Service and a HorizontalPodAutoscaler; its ``traffic`` (requests
per second over the scenario's time) loads the pods through the Service, so CPU usage and
the HPA follow it. Traffic patterns: ``constant`` (``rps``), ``diurnal`` (``min``, ``max``,
``period`` default 24h, ``peakAt`` default 14h: a cosine between them) and ``surge``
(``base``, ``peak``, ``at``, ``duration``). ``schedule`` and ``hpa`` exclude each other (the
HPA owns the replica count).

A spot interruption event sends the 2-minute warning to ``count`` running spot instances
(optionally of one NodePool or node group), chosen with the seed; a strategy without spot
instances gets none. A release changes a workload's image (a rolling update).

:func:`load_scenario` reads a file, :func:`parse_scenario` plain data; both raise
:class:`~shipyard.core.errors.InvalidError` listing every problem (``workloads[1].cpu``,
``karpenter.nodePools[0].spec.template.spec.requirements[2].values``). NodePools and
EC2NodeClasses are checked with the same defaulting and validation the cluster admits them
with, node groups with the baseline's own rules.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from shipyard.autoscaler.apis import karpenter_kinds
from shipyard.autoscaler.baseline import EXPANDERS, NodeGroup, node_groups_from_list
from shipyard.core.clock import parse_time
from shipyard.core.durations import parse_duration
from shipyard.core.errors import FieldError, InvalidError, ShipyardError
from shipyard.core.objects import Obj
from shipyard.core.quantity import Quantity

__all__ = [
    "CLUSTER_AUTOSCALER",
    "KARPENTER",
    "STRATEGIES",
    "BaselineSetup",
    "ClusterKnobs",
    "Event",
    "KarpenterSetup",
    "Release",
    "Scenario",
    "SpotInterruption",
    "Traffic",
    "Workload",
    "load_scenario",
    "parse_duration_field",
    "parse_scenario",
]

KARPENTER = "karpenter"
CLUSTER_AUTOSCALER = "cluster-autoscaler"
STRATEGIES = (KARPENTER, CLUSTER_AUTOSCALER)
PATTERNS = ("constant", "diurnal", "surge")
DEFAULT_NODECLASS: Obj = {
    "apiVersion": "karpenter.k8s.aws/v1",
    "kind": "EC2NodeClass",
    "metadata": {"name": "default"},
    "spec": {
        "role": "KarpenterNodeRole-simulation",
        "amiSelectorTerms": [{"alias": "al2023@latest"}],
        "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "simulation"}}],
        "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "simulation"}}],
    },
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TOP = [
    "name",
    "description",
    "duration",
    "seed",
    "sampleInterval",
    "cluster",
    "start",
    "strategies",
    "karpenter",
    "clusterAutoscaler",
    "workloads",
    "events",
]
_WORKLOAD = [
    "name",
    "namespace",
    "image",
    "replicas",
    "cpu",
    "memory",
    "annotations",
    "schedule",
    "pdb",
    "hpa",
    "traffic",
]
_TRAFFIC = {
    "constant": ("pattern", "rps"),
    "diurnal": ("pattern", "min", "max", "period", "peakAt"),
    "surge": ("pattern", "base", "peak", "at", "duration"),
}


@dataclass(frozen=True)
class Traffic:
    """Requests per second over the scenario's time (see the module docstring)."""

    pattern: str
    values: Mapping[str, float]

    def rps(self, t: float) -> float:
        """The rate ``t`` seconds after the scenario started."""
        v = self.values
        if self.pattern == "constant":
            return v["rps"]
        if self.pattern == "diurnal":
            phase = 2 * math.pi * (t - v.get("peakAt", 14 * 3600.0)) / v.get("period", 86400.0)
            return v["min"] + (v["max"] - v["min"]) * (1 + math.cos(phase)) / 2
        inside = v["at"] <= t < v["at"] + v["duration"]
        return v["peak"] if inside else v["base"]


@dataclass(frozen=True)
class Workload:
    """A Deployment of identical pods, with its replica schedule or its HPA and traffic."""

    name: str
    namespace: str = "default"
    image: str = "example/app:1"
    replicas: int = 1
    cpu: str = "100m"
    memory: str = "128Mi"
    annotations: Mapping[str, str] = field(default_factory=dict)
    schedule: tuple[tuple[float, int], ...] = ()  # (seconds, replicas)
    pdb: Mapping[str, Any] | None = None
    hpa: Mapping[str, int] | None = None
    traffic: Traffic | None = None


@dataclass(frozen=True)
class SpotInterruption:
    count: int = 1
    pool: str = ""  # a NodePool or node group name; empty: any


@dataclass(frozen=True)
class Release:
    workload: str
    image: str


@dataclass(frozen=True)
class Event:
    """Something that happens at ``at`` seconds after the start."""

    at: float
    action: SpotInterruption | Release


@dataclass(frozen=True)
class KarpenterSetup:
    node_pools: tuple[Obj, ...]
    node_classes: tuple[Obj, ...]


@dataclass(frozen=True)
class BaselineSetup:
    node_groups: tuple[NodeGroup, ...]
    expander: str = "least-waste"


@dataclass(frozen=True)
class ClusterKnobs:
    """The embedded control plane's timing knobs a scenario may set (Kubernetes' defaults):
    a day-long simulation of thousands of nodes and pods routes traffic every few seconds
    rather than every second (the HPA sees nothing in between) and lets kubelets renew their
    Leases less often, as a large cluster's longer lease duration does."""

    hpa_sync_period: float = 15.0
    traffic_tick: float = 1.0
    node_heartbeat: float = 10.0


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring for the file format)."""

    name: str
    duration: float
    description: str = ""
    seed: int = 0
    sample_interval: float = 30.0
    start: float | None = None
    strategies: tuple[str, ...] = ()
    karpenter: KarpenterSetup | None = None
    cluster_autoscaler: BaselineSetup | None = None
    workloads: tuple[Workload, ...] = ()
    events: tuple[Event, ...] = ()
    cluster: ClusterKnobs = field(default_factory=ClusterKnobs)

    def with_seed(self, seed: int) -> Scenario:
        return _replace(self, seed=seed)

    def with_strategies(self, strategies: Sequence[str]) -> Scenario:
        """Only ``strategies``; ``InvalidError`` for one the scenario does not configure."""
        problems = [_strategy_problem(s, self, "strategies") for s in strategies]
        if found := [p for p in problems if p is not None]:
            raise InvalidError(f'scenario "{self.name}"', found)
        return _replace(self, strategies=tuple(strategies))


def _replace(scenario: Scenario, **changes: Any) -> Scenario:
    return replace(scenario, **changes)


# --- reading ---------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ``InvalidError`` with every problem found."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise ShipyardError(f"cannot read scenario {source}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ShipyardError(f"scenario {source} is not valid YAML{where}: {e}") from e
    return parse_scenario(data, source=str(source))


def parse_scenario(data: Any, *, source: str = "scenario") -> Scenario:
    """A :class:`Scenario` from plain data; ``InvalidError`` naming every problem's path."""
    p = _Problems()
    if not isinstance(data, Mapping):
        raise InvalidError(source, [FieldError("", "a scenario must be a mapping of fields")])
    p.unknown(data, _TOP, "")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        p.add("name", "is required: a DNS label such as 'karpenter-vs-ca'")
    duration = p.duration(data.get("duration"), "duration", required=True)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        p.add("seed", f"must be a non-negative integer, got {seed!r}")
    sample = p.duration(data.get("sampleInterval", "30s"), "sampleInterval", required=True)
    start = _start(data.get("start"), p)
    knobs = _cluster(data.get("cluster"), p)
    karpenter = _karpenter(data.get("karpenter"), p)
    baseline = _baseline(data.get("clusterAutoscaler"), p)
    workloads = _workloads(data.get("workloads"), p)
    events = _events(data.get("events"), {w.name for w in workloads}, p)
    scenario = Scenario(
        name=str(name),
        description=str(data.get("description") or ""),
        duration=duration,
        seed=seed if isinstance(seed, int) else 0,
        sample_interval=sample,
        start=start,
        karpenter=karpenter,
        cluster_autoscaler=baseline,
        workloads=tuple(workloads),
        events=tuple(sorted(events, key=lambda e: e.at)),
        cluster=knobs,
    )
    strategies = _strategies(data.get("strategies"), scenario, p)
    if not p.found and duration > 0 and sample > duration:
        p.add("sampleInterval", "must not be longer than duration")
    for i, event in enumerate(events):
        if event.at > duration:
            p.add(f"events[{i}].at", "is after the end of the scenario (duration)")
    if p.found:
        raise InvalidError(source, p.found)
    return _replace(scenario, strategies=strategies)


class _Problems:
    def __init__(self) -> None:
        self.found: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.found.append(FieldError(path, message))

    def unknown(self, data: Mapping[str, Any], known: Sequence[str], path: str) -> None:
        for key in data:
            if key not in known:
                at = f"{path}.{key}" if path else str(key)
                self.add(at, f"unknown field; known: {', '.join(known)}")

    def duration(self, value: Any, path: str, *, required: bool = False) -> float:
        if value is None and not required:
            return 0.0
        try:
            seconds = parse_duration_field(value)
        except ShipyardError as e:
            self.add(path, e.message)
            return 0.0
        if seconds <= 0 and required:
            self.add(path, "must be positive")
        return seconds

    def count(self, value: Any, path: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.add(path, f"must be an integer of at least {minimum}, got {value!r}")
            return minimum
        return value

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.add(path, f"must be a non-negative number, got {value!r}")
            return 0.0
        return float(value)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.add(path, "must be a mapping")
            return None
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "must be a list")
            return []
        return value


def parse_duration_field(value: Any) -> float:
    """Seconds from a Go duration string (``90s``, ``1h30m``) or a plain number of seconds."""
    if isinstance(value, bool):
        raise ShipyardError(f"must be a duration such as '10m', got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_duration(value)
    except (ShipyardError, ValueError) as e:
        raise ShipyardError(f"must be a duration such as '10m' or '1h30m', got {value!r}") from e


def _cluster(value: Any, p: _Problems) -> ClusterKnobs:
    if value is None:
        return ClusterKnobs()
    if not isinstance(value, Mapping):
        p.add("cluster", "must be a mapping (hpaSyncPeriod, trafficTick, nodeHeartbeat)")
        return ClusterKnobs()
    p.unknown(value, ["hpaSyncPeriod", "trafficTick", "nodeHeartbeat"], "cluster")
    default = ClusterKnobs()
    hpa = p.duration(value.get("hpaSyncPeriod", "15s"), "cluster.hpaSyncPeriod", required=True)
    tick = p.duration(value.get("trafficTick", "1s"), "cluster.trafficTick", required=True)
    beat = p.duration(value.get("nodeHeartbeat", "10s"), "cluster.nodeHeartbeat", required=True)
    return ClusterKnobs(
        hpa or default.hpa_sync_period,
        tick or default.traffic_tick,
        beat or default.node_heartbeat,
    )


def _start(value: Any, p: _Problems) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(str(value))
    except (ShipyardError, ValueError):
        p.add("start", f"must be an RFC 3339 time such as 2026-01-05T08:00:00Z, got {value!r}")
        return None


def _strategy_problem(name: Any, scenario: Scenario, path: str) -> FieldError | None:
    if name not in STRATEGIES:
        return FieldError(path, f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    if name == KARPENTER and scenario.karpenter is None:
        return FieldError(path, "strategy 'karpenter' needs a 'karpenter' section (nodePools)")
    if name == CLUSTER_AUTOSCALER and scenario.cluster_autoscaler is None:
        return FieldError(path, "strategy 'cluster-autoscaler' needs a 'clusterAutoscaler' section")
    return None


def _strategies(value: Any, scenario: Scenario, p: _Problems) -> tuple[str, ...]:
    if value is None:
        configured = {
            KARPENTER: scenario.karpenter,
            CLUSTER_AUTOSCALER: scenario.cluster_autoscaler,
        }
        chosen = tuple(s for s in STRATEGIES if configured[s] is not None)
        if not chosen:
            p.add(
                "", "configure at least one strategy: a 'karpenter' or 'clusterAutoscaler' section"
            )
        return chosen
    names = p.items(value, "strategies")
    for i, name in enumerate(names):
        if problem := _strategy_problem(name, scenario, f"strategies[{i}]"):
            p.found.append(problem)
    if not names:
        p.add("strategies", "must name at least one strategy")
    return tuple(str(n) for n in names)


# --- strategies' sections --------------------------------------------------------------------


def _karpenter(value: Any, p: _Problems) -> KarpenterSetup | None:
    if value is None:
        return None
    data = p.mapping(value, "karpenter")
    if data is None:
        return None
    p.unknown(data, ("nodePools", "nodeClasses"), "karpenter")
    kinds = {info.kind: info for info in karpenter_kinds()}
    pools = _manifests(data.get("nodePools"), "karpenter.nodePools", kinds["NodePool"], p)
    classes = _manifests(data.get("nodeClasses"), "karpenter.nodeClasses", kinds["EC2NodeClass"], p)
    if not pools:
        p.add("karpenter.nodePools", "must hold at least one NodePool")
    if "nodeClasses" not in data:
        classes = [copy.deepcopy(DEFAULT_NODECLASS)]
    names = {str(c["metadata"].get("name")) for c in classes}
    for i, pool in enumerate(pools):
        ref = ((pool.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeClassRef")
        wanted = str((ref or {}).get("name", ""))
        if wanted not in names:
            p.add(
                f"karpenter.nodePools[{i}].spec.template.spec.nodeClassRef.name",
                f'EC2NodeClass "{wanted}" is not among karpenter.nodeClasses',
            )
    return KarpenterSetup(tuple(pools), tuple(classes))


def _manifests(value: Any, path: str, info: Any, p: _Problems) -> list[Obj]:
    out: list[Obj] = []
    for i, item in enumerate(p.items(value, path)):
        at = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            p.add(at, f"must be a {info.kind} manifest")
            continue
        if item.get("apiVersion") != info.api_version or item.get("kind") != info.kind:
            p.add(at, f"must be apiVersion {info.api_version}, kind {info.kind}")
            continue
        obj = copy.deepcopy(dict(item))
        name = (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            p.add(f"{at}.metadata.name", "is required")
            continue
        info.default(obj)
        for cause in info.validate(obj, None):
            p.add(f"{at}.{cause.path}" if cause.path else at, cause.message)
        out.append(obj)
    return out


def _baseline(value: Any, p: _Problems) -> BaselineSetup | None:
    if value is None:
        return None
    data = p.mapping(value, "clusterAutoscaler")
    if data is None:
        return None
    p.unknown(data, ("nodeGroups", "expander"), "clusterAutoscaler")
    expander = data.get("expander", "least-waste")
    if expander not in EXPANDERS:
        p.add("clusterAutoscaler.expander", f"must be one of {', '.join(sorted(EXPANDERS))}")
    groups: list[NodeGroup] = []
    try:
        groups = node_groups_from_list(data.get("nodeGroups"), path="clusterAutoscaler.nodeGroups")
    except InvalidError as e:
        p.found.extend(e.causes)
    if not groups and "nodeGroups" in data and not p.found:
        p.add("clusterAutoscaler.nodeGroups", "must hold at least one node group")
    return BaselineSetup(tuple(groups), str(expander))


# --- workloads -------------------------------------------------------------------------------


def _workloads(value: Any, p: _Problems) -> list[Workload]:
    out: list[Workload] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(p.items(value, "workloads")):
        at = f"workloads[{i}]"
        data = p.mapping(item, at)
        if data is None:
            continue
        workload = _workload(data, at, p)
        key = (workload.namespace, workload.name)
        if key in seen:
            p.add(f"{at}.name", f'duplicate workload "{workload.name}"')
        seen.add(key)
        out.append(workload)
    return out


def _workload(data: Mapping[str, Any], at: str, p: _Problems) -> Workload:
    p.unknown(data, _WORKLOAD, at)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        p.add(f"{at}.name", "is required: a DNS label such as 'web'")
    namespace = data.get("namespace", "default")
    if not isinstance(namespace, str) or not _NAME.match(namespace):
        p.add(f"{at}.namespace", "must be a DNS label")
    image = data.get("image", "example/app:1")
    if not isinstance(image, str) or not image:
        p.add(f"{at}.image", "must be an image reference such as 'example/web:1'")
    for key, default in (("cpu", "100m"), ("memory", "128Mi")):
        _quantity(data.get(key, default), f"{at}.{key}", p)
    hpa = _hpa(data.get("hpa"), f"{at}.hpa", p)
    traffic = _traffic(data.get("traffic"), f"{at}.traffic", p)
    if "schedule" in data and hpa is not None:
        p.add(f"{at}.schedule", "cannot be combined with hpa (the HPA sets the replicas)")
    if traffic is not None and hpa is None:
        p.add(f"{at}.traffic", "needs hpa: traffic drives a HorizontalPodAutoscaler")
    return Workload(
        name=str(name),
        namespace=str(namespace),
        image=str(image),
        replicas=p.count(data.get("replicas", 1), f"{at}.replicas"),
        cpu=str(data.get("cpu", "100m")),
        memory=str(data.get("memory", "128Mi")),
        annotations=_annotations(data.get("annotations"), f"{at}.annotations", p),
        schedule=_schedule(data.get("schedule"), f"{at}.schedule", p),
        pdb=_pdb(data.get("pdb"), f"{at}.pdb", p),
        hpa=hpa,
        traffic=traffic,
    )


def _quantity(value: Any, path: str, p: _Problems) -> None:
    try:
        if isinstance(value, bool) or Quantity.parse(str(value)).as_fraction() <= 0:
            p.add(path, f"must be a positive quantity such as '500m' or '2Gi', got {value!r}")
    except (ShipyardError, ValueError):
        p.add(path, f"must be a quantity such as '500m' or '2Gi', got {value!r}")


def _annotations(value: Any, path: str, p: _Problems) -> dict[str, str]:
    if value is None:
        return {}
    data = p.mapping(value, path)
    if data is None:
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _schedule(value: Any, path: str, p: _Problems) -> tuple[tuple[float, int], ...]:
    out: list[tuple[float, int]] = []
    for i, item in enumerate(p.items(value, path)):
        at = f"{path}[{i}]"
        data = p.mapping(item, at)
        if data is None:
            continue
        p.unknown(data, ("at", "replicas"), at)
        out.append(
            (
                p.duration(data.get("at"), f"{at}.at"),
                p.count(data.get("replicas"), f"{at}.replicas"),
            )
        )
    return tuple(sorted(out, key=lambda s: s[0]))


def _pdb(value: Any, path: str, p: _Problems) -> Mapping[str, Any] | None:
    if value is None:
        return None
    data = p.mapping(value, path)
    if data is None:
        return None
    p.unknown(data, ("minAvailable", "maxUnavailable"), path)
    if len([k for k in ("minAvailable", "maxUnavailable") if k in data]) != 1:
        p.add(path, "needs exactly one of minAvailable or maxUnavailable")
    for key, v in data.items():
        if isinstance(v, bool) or not isinstance(v, int | str):
            p.add(f"{path}.{key}", "must be a count or a percentage such as '20%'")
    return dict(data)


def _hpa(value: Any, path: str, p: _Problems) -> dict[str, int] | None:
    if value is None:
        return None
    data = p.mapping(value, path)
    if data is None:
        return None
    keys = ("minReplicas", "maxReplicas", "targetCPUUtilization")
    p.unknown(data, keys, path)
    out = {k: p.count(data.get(k), f"{path}.{k}", minimum=1) for k in keys}
    if out["minReplicas"] > out["maxReplicas"]:
        p.add(f"{path}.minReplicas", "must not exceed maxReplicas")
    return out


def _traffic(value: Any, path: str, p: _Problems) -> Traffic | None:
    if value is None:
        return None
    data = p.mapping(value, path)
    if data is None:
        return None
    pattern = data.get("pattern")
    if pattern not in _TRAFFIC:
        p.add(f"{path}.pattern", f"must be one of {', '.join(PATTERNS)}, got {pattern!r}")
        return None
    keys = _TRAFFIC[str(pattern)]
    p.unknown(data, keys, path)
    durations = {"period", "peakAt", "at", "duration"}
    values: dict[str, float] = {}
    for key in keys[1:]:
        if key not in data:
            if key not in ("period", "peakAt"):
                p.add(f"{path}.{key}", f"is required for the {pattern} pattern")
            continue
        read: Callable[[Any, str], float] = p.duration if key in durations else p.number
        values[key] = read(data[key], f"{path}.{key}")
    if pattern == "diurnal" and values.get("min", 0.0) > values.get("max", 0.0):
        p.add(f"{path}.min", "must not exceed max")
    return Traffic(str(pattern), values)


# --- events ----------------------------------------------------------------------------------


def _events(value: Any, workloads: set[str], p: _Problems) -> list[Event]:
    out: list[Event] = []
    actions = ("spotInterruption", "release")
    for i, item in enumerate(p.items(value, "events")):
        at = f"events[{i}]"
        data = p.mapping(item, at)
        if data is None:
            continue
        p.unknown(data, ("at", *actions), at)
        when = p.duration(data.get("at"), f"{at}.at", required=False)
        chosen = [a for a in actions if a in data]
        if len(chosen) != 1:
            p.add(at, f"needs exactly one of {', '.join(actions)}")
            continue
        action = _action(chosen[0], data[chosen[0]], f"{at}.{chosen[0]}", workloads, p)
        if action is not None:
            out.append(Event(when, action))
    return out


def _action(
    kind: str, value: Any, path: str, workloads: set[str], p: _Problems
) -> SpotInterruption | Release | None:
    data = p.mapping(value if value is not None else {}, path)
    if data is None:
        return None
    if kind == "spotInterruption":
        p.unknown(data, ("count", "nodePool"), path)
        pool = data.get("nodePool", "")
        if not isinstance(pool, str):
            p.add(f"{path}.nodePool", "must be a NodePool or node group name")
        return SpotInterruption(
            p.count(data.get("count", 1), f"{path}.count", minimum=1), str(pool)
        )
    p.unknown(data, ("workload", "image"), path)
    workload, image = data.get("workload"), data.get("image")
    if workload not in workloads:
        p.add(f"{path}.workload", f"must name a workload of this scenario, got {workload!r}")
    if not isinstance(image, str) or not image:
        p.add(f"{path}.image", "is required: the new image, such as 'example/web:2'")
    return Release(str(workload), str(image))
