"""The Cluster Autoscaler baseline's scan loop: a comparison strategy, not for production.

Every ``scan_interval`` (10 s) :class:`ClusterAutoscaler` reads the cluster once and runs
Cluster Autoscaler's documented loop over its node groups (:mod:`.asg`):

::

    refresh groups (instances the cloud lost are replaced by the ASG)
        │
    scale-up: unschedulable pods ─► drop those that fit existing or upcoming nodes
        │        └─► per group: binpack onto new template nodes (≤ max - desired)
        │            └─► expander chain picks one option ─► desired += n  (TriggeredScaleUp)
        │
    scale-down (no scale-up this scan): nodes of a group above its min, Ready, with
        │   utilization < 50 % and every pod movable (rules of .simulation, PDB budgets,
        │   the scheduler's filters on the other nodes) are *unneeded*; unneeded for 10 min
        │   and outside the cool-downs (10 min after a scale-up, 3 min after a failure) →
        │   empty ones removed at once (up to 10), otherwise one node drained at a time:
        │   taint ToBeDeletedByClusterAutoscaler:NoSchedule, evict through the Eviction API
        │   (PDBs honoured), terminate the instance and lower the group's desired capacity.
        ▼   A failed drain removes the taint and uncordons the node (ScaleDownFailed); the
            node must then be unneeded for another 10 minutes.
    every group converges to its desired capacity (launch latency: .latency)

Upcoming nodes are a group's desired capacity minus its Ready nodes; the simulation counts
them as template nodes so that pending pods waiting for them do not trigger another scale-up.

Events (component ``cluster-autoscaler``): ``TriggeredScaleUp`` and ``NotTriggerScaleUp`` on
pods, ``ScaleDown`` and ``ScaleDownFailed`` on nodes, ``Evicted`` on the evicted pods.

Deliberate differences from Cluster Autoscaler: no status ConfigMap (:attr:`ClusterAutoscaler.
scale_ups` and :attr:`~ClusterAutoscaler.scale_downs` record the decisions instead); unready
nodes are never scaled down (``scale-down-unready-time`` is not modelled); similar groups are
not balanced; a drain's evictions are retried until ``drain_timeout`` (750 s: Cluster
Autoscaler's 2 minutes of eviction retries plus its 600 s graceful termination and headroom)
rather than giving up on refused evictions after 2 minutes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.provisioning.controller import daemonset_pod
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.cluster.drain import Drain
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.scheduler import Profile
from shipyard.cluster.scheduler.podinfo import PodInfo
from shipyard.core.errors import ConflictError, NotFoundError
from shipyard.core.objects import Obj, ObjectKey, labels_of, meta

from .asg import AutoScalingGroup, resolve_groups
from .cache import ClusterCache
from .expanders import DEFAULT_EXPANDERS, Option, check_expanders, choose, compile_priorities
from .groups import GROUP_LABEL, NodeGroup
from .latency import LaunchModel
from .simulation import (
    SCALE_DOWN_DISABLED,
    TO_BE_DELETED_TAINT,
    Budgets,
    Simulator,
    is_node_ready,
    pods_to_move,
    template_node,
    utilization,
)

__all__ = [
    "COMPONENT",
    "SCAN_KEY",
    "BaselineOptions",
    "ClusterAutoscaler",
    "ScaleDown",
    "ScaleUp",
]

COMPONENT = "cluster-autoscaler"
SCAN_KEY = ObjectKey("v1", "ConfigMap", "kube-system", "cluster-autoscaler-status")


@dataclass(frozen=True)
class BaselineOptions:
    """Cluster Autoscaler's flags, with its defaults."""

    scan_interval: float = 10.0
    expanders: tuple[str, ...] = DEFAULT_EXPANDERS
    priorities: Mapping[int, Sequence[str]] = field(default_factory=dict)
    seed: int = 0
    scale_down_enabled: bool = True
    utilization_threshold: float = 0.5
    unneeded_time: float = 600.0
    delay_after_add: float = 600.0
    delay_after_delete: float = 0.0
    delay_after_failure: float = 180.0
    max_empty_bulk_delete: int = 10
    drain_timeout: float = 750.0
    skip_local_storage: bool = True
    backoff: float = 300.0
    launch: LaunchModel = field(default_factory=LaunchModel)


@dataclass(frozen=True)
class ScaleUp:
    """A scale-up: the group's desired capacity ``before`` → ``after``, the pods it was for,
    and every option the expanders weighed."""

    time: float
    group: str
    before: int
    after: int
    pods: tuple[str, ...]
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class ScaleDown:
    """A node removed (``empty``: without a drain), or a drain that failed (``error``)."""

    time: float
    group: str
    node: str
    empty: bool
    succeeded: bool = True
    error: str = ""


@dataclass
class _Scan:
    """What one scan read."""

    nodes: dict[str, Obj]
    pending: list[PodInfo]
    budgets: Budgets
    sim: Simulator
    ready: dict[str, int]  # group -> Ready nodes


class ClusterAutoscaler:
    """The baseline's controller: one key, scanned every ``scan_interval`` seconds."""

    name = "cluster-autoscaler"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        groups: Sequence[NodeGroup],
        *,
        options: BaselineOptions | None = None,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.options = opts = options or BaselineOptions()
        check_expanders(opts.expanders)
        self._priorities = compile_priorities(opts.priorities)
        self._client = client
        self._clock = client.clock
        self._cloud = cloud
        self._recorder = recorder or EventRecorder(client, COMPONENT)
        self._rng = random.Random(f"cluster-autoscaler|{opts.seed}")
        self._cache = ClusterCache(client)
        self._profile = Profile()
        self.groups: dict[str, AutoScalingGroup] = resolve_groups(
            groups, cloud, self._clock, model=opts.launch, backoff=opts.backoff
        )
        self.scale_ups: list[ScaleUp] = []
        self.scale_downs: list[ScaleDown] = []
        self.unneeded_since: dict[str, float] = {}
        self.draining: dict[str, Drain] = {}
        self._not_triggered: dict[str, str] = {}  # pod uid -> last NotTriggerScaleUp message
        self._last_up = self._last_delete = self._last_failure = float("-inf")

    def watches(self) -> list[Watches]:
        return []

    def reconcile(self, key: ObjectKey) -> Result | None:
        self.scan()
        return Result(requeue_after=self.options.scan_interval)

    def close(self) -> None:
        self._cache.close()
        for group in self.groups.values():
            group.close()
        for drain in list(self.draining.values()):
            drain.cancel()

    # -- the loop ---------------------------------------------------------------------------

    def scan(self) -> None:
        """One iteration (see the module docstring)."""
        alive = {i.provider_id for i in self._cloud.list()}
        for group in self.groups.values():
            group.refresh(alive)
        scan = self._read()
        try:
            scaled = self._scale_up(scan)
            if self.options.scale_down_enabled and not scaled:
                self._scale_down(scan)
        finally:
            scan.sim.revert(0)  # the snapshot mirrors the cluster again
        for group in self.groups.values():
            group.converge()

    def _read(self) -> _Scan:
        self._cache.sync()
        nodes = self._cache.nodes
        ready: dict[str, int] = {}
        for node in nodes.values():
            group = labels_of(node).get(GROUP_LABEL, "")
            if group in self.groups and is_node_ready(node):
                ready[group] = ready.get(group, 0) + 1
        sim = Simulator(self._cache.snapshot, self._profile)
        daemonsets = self._client.list("apps/v1", "DaemonSet", copy=False).items
        sim.daemons = [daemonset_pod(d) for d in daemonsets if not meta(d).get("deletionTimestamp")]
        pdbs = self._client.list("policy/v1", "PodDisruptionBudget", copy=False).items
        pending = sorted(self._cache.pending.values(), key=lambda p: (p.created, p.key))
        uids = {p.uid for p in pending}
        self._not_triggered = {u: m for u, m in self._not_triggered.items() if u in uids}
        return _Scan(dict(nodes), pending, Budgets(pdbs), sim, ready)

    def _pods_on(self, scan: _Scan, name: str) -> list[Obj]:
        info = scan.sim.snapshot.nodes.get(name)
        return [p.obj for p in info.pods.values()] if info is not None else []

    # -- scale-up ---------------------------------------------------------------------------

    def _scale_up(self, scan: _Scan) -> bool:
        if not scan.pending:
            return False
        sim = scan.sim
        still = [info for info in scan.pending if sim.place(info) is None]
        mark = sim.mark()
        try:
            self._add_upcoming(scan)
            still = [info for info in still if sim.place(info) is None]
            if not still:
                return False
            options, reasons = self._options(sim, still)
        finally:
            sim.revert(mark)
        chosen = choose(options, self.options.expanders, rng=self._rng, priorities=self._priorities)
        if chosen is None:
            self._not_triggered_events([i.obj for i in still], reasons)
            return False
        self._apply(chosen, [i.obj for i in still], options)
        return True

    def _add_upcoming(self, scan: _Scan) -> None:
        for group in self.groups.values():
            upcoming = group.desired - scan.ready.get(group.name, 0)
            for i in range(max(0, upcoming)):
                zone = group.zones[i % len(group.zones)]
                name = f"upcoming-{group.name}-{i}"
                scan.sim.open_node(template_node(group.spec, group.instance_type, name, zone))

    def _options(self, sim: Simulator, pods: list[Any]) -> tuple[list[Option], list[str]]:
        options: list[Option] = []
        reasons: list[str] = []
        for group in self.groups.values():
            room = group.spec.max_size - group.desired
            if room <= 0:
                reasons.append(f"{group.name}: max node group size reached")
                continue
            if group.in_backoff():
                reasons.append(f"{group.name}: in backoff after failed scale-up")
                continue
            mark = sim.mark()
            estimate = sim.estimate(pods, self._template(group), room)
            sim.revert(mark)
            if estimate.node_count == 0:
                reasons.append(f"{group.name}: the pods would not fit a new node")
                continue
            options.append(self._option(group, estimate.node_count, estimate.pods))
        return options, reasons

    def _template(self, group: AutoScalingGroup) -> Any:
        def make(i: int) -> Obj:
            zone = group.zones[(group.desired + i) % len(group.zones)]
            name = f"template-{group.name}-{i}"
            return template_node(group.spec, group.instance_type, name, zone)

        return make

    def _option(self, group: AutoScalingGroup, count: int, pods: list[Any]) -> Option:
        requested = {
            "cpu": sum(p.resources.cpu for p in pods),
            "memory": sum(p.resources.memory for p in pods),
        }
        prices = [
            o.price
            for o in group.instance_type.offerings
            if o.capacity_type == group.spec.capacity_type and o.zone in group.zones
        ]
        return Option(
            group=group.name,
            node_count=count,
            pods=tuple(sorted(f"{p.namespace}/{p.name}" for p in pods)),
            requested=requested,
            node_allocatable=dict(group.instance_type.allocatable),
            price=min(prices) if prices else 0.0,
        )

    def _apply(self, chosen: Option, pending: list[Obj], options: list[Option]) -> None:
        group = self.groups[chosen.group]
        before = group.desired
        group.desired += chosen.node_count
        now = self._clock.now()
        self._last_up = now
        record = ScaleUp(now, group.name, before, group.desired, chosen.pods, tuple(options))
        self.scale_ups.append(record)
        message = (
            f"pod triggered scale-up: [{{{group.name} {before}->{group.desired} "
            f"(max: {group.spec.max_size})}}]"
        )
        helped = set(chosen.pods)
        for pod in pending:
            md = meta(pod)
            if f"{md.get('namespace') or 'default'}/{md.get('name')}" in helped:
                self._recorder.event(pod, NORMAL, "TriggeredScaleUp", message)
        group.converge()

    def _not_triggered_events(self, pods: list[Obj], reasons: list[str]) -> None:
        message = "pod didn't trigger scale-up: " + (
            "; ".join(reasons) if reasons else "no node groups"
        )
        for pod in pods:
            uid = str(meta(pod).get("uid"))
            if self._not_triggered.get(uid) != message:
                self._not_triggered[uid] = message
                self._recorder.event(pod, NORMAL, "NotTriggerScaleUp", message)

    # -- scale-down -------------------------------------------------------------------------

    def _scale_down(self, scan: _Scan) -> None:
        unneeded = self._unneeded(scan)
        now = self._clock.now()
        self.unneeded_since = {n: self.unneeded_since.get(n, now) for n in unneeded}
        if self._in_cooldown(now):
            return
        due = [n for n in unneeded if now - self.unneeded_since[n] >= self.options.unneeded_time]
        empty = [n for n in due if not unneeded[n]][: self.options.max_empty_bulk_delete]
        for name in empty:
            self._remove_empty(scan.nodes[name])
        if not empty and not self.draining:
            busy = [n for n in due if unneeded[n]]
            if busy:
                self._start_drain(scan.nodes[busy[0]])

    def _in_cooldown(self, now: float) -> bool:
        o = self.options
        return (
            now < self._last_up + o.delay_after_add
            or now < self._last_delete + o.delay_after_delete
            or now < self._last_failure + o.delay_after_failure
        )

    def _candidates(self, scan: _Scan) -> list[tuple[float, str]]:
        out = []
        for name, node in scan.nodes.items():
            group = labels_of(node).get(GROUP_LABEL, "")
            if group not in self.groups or name in self.draining or not is_node_ready(node):
                continue
            if str((meta(node).get("annotations") or {}).get(SCALE_DOWN_DISABLED)) == "true":
                continue
            if any(t.get("key") == TO_BE_DELETED_TAINT for t in _taints(node)):
                continue
            info = scan.sim.snapshot.nodes.get(name)
            if info is None:
                continue
            used = utilization(info)
            if used < self.options.utilization_threshold:
                out.append((used, name))
        return sorted(out)

    def _unneeded(self, scan: _Scan) -> dict[str, list[Obj]]:
        """Nodes that could go now, each with the pods it would move (checked in turn, so
        that two nodes never count on the same free space or budget)."""
        sizes = {
            g.name: g.desired - sum(1 for n in self.draining if _group_of(scan, n) == g.name)
            for g in self.groups.values()
        }
        out: dict[str, list[Obj]] = {}
        for _used, name in self._candidates(scan):
            group = _group_of(scan, name)
            if sizes[group] <= self.groups[group].spec.min_size:
                continue
            moving, reason = pods_to_move(
                self._pods_on(scan, name),
                has_budget=scan.budgets.has_budget,
                skip_local_storage=self.options.skip_local_storage,
            )
            if reason:
                continue
            mark = scan.sim.mark()
            if scan.sim.try_remove(scan.nodes[name], moving) is None:
                continue
            if scan.budgets.charge(moving):
                scan.sim.revert(mark)
                continue
            sizes[group] -= 1
            out[name] = moving
        return out

    def _remove_empty(self, node: Obj) -> None:
        name = str(meta(node)["name"])
        if not self._taint(name):
            return
        self._recorder.event(node, NORMAL, "ScaleDown", f"removing empty node {name}")
        self._terminate(node, empty=True)

    def _start_drain(self, node: Obj) -> None:
        name = str(meta(node)["name"])
        if not self._taint(name):
            return
        self._recorder.event(
            node, NORMAL, "ScaleDown", "marked the node as toBeDeleted/unschedulable"
        )
        drain = Drain(
            self._client,
            self._clock,
            name,
            timeout=self.options.drain_timeout,
            recorder=self._recorder,
            on_done=self._drained,
        )
        self.draining[name] = drain
        drain.start()

    def _drained(self, drain: Drain) -> None:
        name = drain.node_name
        self.draining.pop(name, None)
        self.unneeded_since.pop(name, None)
        try:
            node = self._client.get("v1", "Node", name, copy=False)
        except NotFoundError:
            return
        if drain.succeeded:
            self._terminate(node, empty=False)
            return
        self._last_failure = self._clock.now()
        self._taint(name, on=False)
        group = labels_of(node).get(GROUP_LABEL, "")
        error = drain.error or "drain failed"
        self.scale_downs.append(ScaleDown(self._clock.now(), group, name, False, False, error))
        self._recorder.event(node, WARNING, "ScaleDownFailed", f"failed to drain the node: {error}")

    def _terminate(self, node: Obj, *, empty: bool) -> None:
        name = str(meta(node)["name"])
        group = self.groups[labels_of(node)[GROUP_LABEL]]
        provider_id = str((node.get("spec") or {}).get("providerID") or "")
        group.terminate(provider_id)
        self._last_delete = self._clock.now()
        self.unneeded_since.pop(name, None)
        self.scale_downs.append(ScaleDown(self._clock.now(), group.name, name, empty))

    def _taint(self, name: str, *, on: bool = True) -> bool:
        """Add (or remove, and uncordon) the ToBeDeleted taint; False if the node is gone."""
        for _attempt in range(5):
            try:
                node = self._client.get("v1", "Node", name)
            except NotFoundError:
                return False
            spec = node.setdefault("spec", {})
            taints = [t for t in _taints(node) if t.get("key") != TO_BE_DELETED_TAINT]
            if on:
                value = str(int(self._clock.now()))
                taints.append({"key": TO_BE_DELETED_TAINT, "value": value, "effect": "NoSchedule"})
            else:
                spec.pop("unschedulable", None)
            spec["taints"] = taints
            try:
                self._client.update(node)
            except ConflictError:
                continue
            return True
        return False


def _taints(node: Obj) -> list[dict[str, Any]]:
    return [dict(t) for t in (node.get("spec") or {}).get("taints") or ()]


def _group_of(scan: _Scan, node_name: str) -> str:
    node = scan.nodes.get(node_name)
    return labels_of(node).get(GROUP_LABEL, "") if node is not None else ""
