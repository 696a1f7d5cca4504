"""The provisioner: pending pods in, NodeClaims out — Karpenter's documented provisioning loop.

::

    Pod PodScheduled=False/Unschedulable ──► Batcher (1 s idle / 10 s max, on the clock)
         (not nominated, not terminating,          │ window closes
          not a DaemonSet pod, not preempting)     ▼
                                   read the cluster once (pools, node classes, nodes, claims,
                                   DaemonSets, bound pods, namespaces)
                                                   │
                                                   ▼
                                   solve()  ──► new claims      ──► NodeClaim created,
                                           │                         pods Nominated to it
                                           ├─► existing capacity ──► pods Nominated there
                                           └─► errors            ──► FailedScheduling on the pod,
                                                                     limits event on the pool

- **Pools** (``Provisioner._pool``): every NodePool not being deleted whose node class exists
  (a missing one: a ``NodeClassNotFound`` event on the pool, which is skipped), with the
  instance types ``cloud.instance_types(pool, node_class)`` offers and what is left of
  ``spec.limits`` after the capacity of the pool's NodeClaims
  (:func:`~.capacity.claim_capacity`); the solver orders them by weight.
- **Existing capacity** (:func:`~.capacity.existing_capacity`): the registered nodes and the
  NodeClaims whose nodes have not registered yet, less the pods bound or nominated to them,
  read from one :class:`~.capacity.Snapshot` of the cluster per batch (see :mod:`.capacity`).
- **NodeClaims** (:func:`nodeclaim_for`): ``generateName: <pool>-``, the pool's template
  labels and annotations, an owner reference to the pool, the plan's requirements (with
  ``node.kubernetes.io/instance-type In`` the candidate types, cheapest first, at most
  :data:`MAX_INSTANCE_TYPES`), the summed requests (pods and DaemonSet overhead), taints,
  startup taints, ``nodeClassRef``, ``expireAfter`` and ``terminationGracePeriod``.
- **Nominations** are remembered in memory, per pod uid: a pod nominated to an in-flight claim
  is not planned again while that claim exists and is not initialized (then for
  ``nomination_window`` seconds more, time for the scheduler to bind it); a pod nominated to an
  existing node for ``nomination_window`` seconds. When a claim with nominated pods is deleted
  — the lifecycle deletes it on insufficient capacity — its pods are planned again at once,
  without waiting for a batch window.

Events (component ``karpenter``): ``Nominated`` on a pod (``Pod should schedule on:
nodeclaim/<name>``), ``FailedScheduling`` (``Failed to schedule pod, <reason>``), and on a
NodePool ``NodeClassNotFound``, ``LimitsExceeded``, and ``FailedCreate`` when a NodeClaim write
is refused.

:class:`NodePoolStatusController` keeps each NodePool's status: ``resources`` (the summed
capacity of its launched claims, plus ``nodes``), ``nodes`` (its claims) and the conditions
``NodeClassReady`` and ``Ready``.

Deliberate differences from Karpenter: Karpenter re-simulates every pending pod each batch and
finds nominated pods a place again on the in-flight claims; Shipyard keeps the nomination and
charges the claim with the pod instead (the same outcome, less work). The pending-time metric
is measured from creation to binding rather than to running.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.apis.fields import restricted_key_problems
from shipyard.autoscaler.apis.hashing import hash_annotations, nodepool_hash
from shipyard.autoscaler.lifecycle import INITIALIZED, LAUNCHED, format_resources
from shipyard.autoscaler.lifecycle.model import condition_status
from shipyard.autoscaler.metrics import AutoscalerMetrics
from shipyard.cloud.provider import CloudProvider, InstanceType, add_resources
from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import (
    condition,
    controller_ref,
    is_terminal,
    is_terminating,
    set_condition,
)
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.workloads.daemonset import add_daemon_tolerations
from shipyard.core.clock import parse_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.labels import CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta
from shipyard.core.requirements import IN

from .batcher import Batcher, BatchOptions
from .capacity import Snapshot, claim_capacity, existing_capacity, units
from .model import BoundPod, PlannedClaim, PoolTemplate, pod_name
from .scheduler import solve

__all__ = [
    "MAX_INSTANCE_TYPES",
    "PROVISION_KEY",
    "NodePoolStatusController",
    "Nomination",
    "Provisioner",
    "is_provisionable",
    "nodeclaim_for",
]

KARPENTER = "karpenter.sh/v1"
NODECLASS_VERSION = "v1"
COMPONENT = "karpenter"
MAX_INSTANCE_TYPES = 60
PROVISION_KEY = ObjectKey("v1", "Pod", "", "*")
_LIMITS = re.compile(r'exceed limits for nodepool: "([^"]+)"')


# --- pure parts -------------------------------------------------------------------------------


def is_provisionable(pod: Mapping[str, Any]) -> bool:
    """Unbound, marked ``PodScheduled=False/Unschedulable`` by the scheduler, not terminating,
    not waiting for a preemption, and not a DaemonSet's (Karpenter's ``IsProvisionable``)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("nodeName") or status.get("nominatedNodeName"):
        return False
    if is_terminating(pod) or is_terminal(pod):
        return False
    scheduled = condition(pod, "PodScheduled") or {}
    if scheduled.get("status") != "False" or scheduled.get("reason") != "Unschedulable":
        return False
    owner = controller_ref(pod) or {}
    return owner.get("kind") != "DaemonSet"


def daemonset_pod(daemonset: Mapping[str, Any]) -> Obj:
    """The pod a DaemonSet would run on a new node (its template, with DaemonSet tolerations)."""
    template = (daemonset.get("spec") or {}).get("template") or {}
    spec: dict[str, Any] = json_copy(template.get("spec") or {})
    add_daemon_tolerations(spec)
    md = meta(daemonset)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{md.get('name')}-daemon",
            "namespace": md.get("namespace") or "default",
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
        },
        "spec": spec,
    }


def nodeclaim_for(
    planned: PlannedClaim,
    pool: NodePoolView,
    pool_obj: Mapping[str, Any],
    *,
    max_instance_types: int = MAX_INSTANCE_TYPES,
) -> Obj:
    """The NodeClaim to create for a planned claim (see the module docstring)."""
    requirements = [
        entry
        for key in sorted(planned.requirements)
        if key != INSTANCE_TYPE and not restricted_key_problems(key, nodepool=False)
        for entry in planned.requirements.get(key).to_node_selector_requirements()
    ]
    types: dict[str, Any] = {
        "key": INSTANCE_TYPE,
        "operator": IN,
        "values": [t.name for t in planned.instance_types[:max_instance_types]],
    }
    min_values = planned.requirements.get(INSTANCE_TYPE).min_values
    if min_values is not None:
        types["minValues"] = min_values
    tspec = ((pool_obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    spec: Obj = {
        "requirements": [types, *requirements],
        "resources": {"requests": format_resources(planned.requests)},
        "nodeClassRef": dict(tspec.get("nodeClassRef") or {}),
        "expireAfter": tspec.get("expireAfter") or "720h",
    }
    if planned.taints:
        spec["taints"] = [t.to_dict() for t in planned.taints]
    if planned.startup_taints:
        spec["startupTaints"] = [t.to_dict() for t in planned.startup_taints]
    if tspec.get("terminationGracePeriod"):
        spec["terminationGracePeriod"] = tspec["terminationGracePeriod"]
    pool_md = meta(pool_obj)
    md: Obj = {
        "generateName": f"{pool.name}-",
        "labels": {**pool.labels, NODEPOOL: pool.name},
        "ownerReferences": [
            {
                "apiVersion": KARPENTER,
                "kind": "NodePool",
                "name": pool.name,
                "uid": pool_md.get("uid"),
                "blockOwnerDeletion": True,
            }
        ],
    }
    # the template it was made from, for drift (the drift controller stamps the node class's)
    md["annotations"] = {**pool.annotations, **hash_annotations(nodepool_hash(pool_obj), None)}
    return {"apiVersion": KARPENTER, "kind": "NodeClaim", "metadata": md, "spec": spec}


@dataclass(frozen=True)
class Nomination:
    """Where a pod was told it will run: ``kind`` is ``nodeclaim`` or ``node``."""

    kind: str
    name: str
    at: float


# --- the controller ---------------------------------------------------------------------------


@dataclass
class _Pool:
    view: NodePoolView
    obj: Obj
    types: dict[str, InstanceType]
    template: PoolTemplate


class Provisioner:
    """Batches pending pods and creates the NodeClaims they need (see the module docstring)."""

    name = "provisioner"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        recorder: EventRecorder | None = None,
        options: BatchOptions | None = None,
        metrics: AutoscalerMetrics | None = None,
        nomination_window: float | None = None,
        max_instance_types: int = MAX_INSTANCE_TYPES,
    ) -> None:
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._recorder = recorder or EventRecorder(client, COMPONENT)
        self.options = options or BatchOptions()
        self._batcher = Batcher(self.options)
        self.metrics = metrics or AutoscalerMetrics()
        # Karpenter's nomination window: twice the longest batch, at least 10 s
        default_window = max(10.0, 2 * self.options.max_seconds)
        self._window = default_window if nomination_window is None else nomination_window
        self._max_types = max_instance_types
        self.nominations: dict[str, Nomination] = {}  # pod uid -> where it should run
        self._pending_since: dict[str, float] = {}  # pod uid -> creation time
        self._launched: set[str] = set()  # claim uids counted as launched
        self._replan_now = False
        self.batches = 0  # plans made (for tests and reports)

    def watches(self) -> list[Watches]:
        return [
            Watches("v1", "Pod", self._pod_keys),
            Watches(KARPENTER, "NodeClaim", self._claim_keys),
        ]

    # -- mappers --------------------------------------------------------------------------------

    def _pod_keys(self, pod: Obj) -> tuple[ObjectKey, ...]:
        uid = str(meta(pod).get("uid") or "")
        if (pod.get("spec") or {}).get("nodeName"):
            self.nominations.pop(uid, None)
            created = self._pending_since.pop(uid, None)
            if created is not None:
                self.metrics.pending_duration.observe(max(0.0, self._clock.now() - created))
            return ()
        if is_terminating(pod) or is_terminal(pod):
            self.nominations.pop(uid, None)
            self._pending_since.pop(uid, None)
            return ()
        if not is_provisionable(pod):
            return ()
        if uid not in self._pending_since:
            stamp = meta(pod).get("creationTimestamp")
            self._pending_since[uid] = parse_time(str(stamp)) if stamp else self._clock.now()
        if uid in self.nominations or not self._batcher.add(uid, self._clock.now()):
            return ()
        return (PROVISION_KEY,)

    def _claim_keys(self, claim: Obj) -> tuple[ObjectKey, ...]:
        md = meta(claim)
        uid = str(md.get("uid") or "")
        if uid not in self._launched and condition_status(claim, LAUNCHED) == "True":
            self._launched.add(uid)
            labels = md.get("labels") or {}
            self.metrics.launched.inc(
                *(str(labels.get(k) or "") for k in (NODEPOOL, INSTANCE_TYPE, CAPACITY_TYPE, ZONE))
            )
        if not is_terminating(claim):
            return ()
        name = str(md.get("name"))
        target = ("nodeclaim", name)
        orphaned = [u for u, n in self.nominations.items() if (n.kind, n.name) == target]
        if not orphaned:
            return ()
        for pod_uid in orphaned:
            del self.nominations[pod_uid]
        self._replan_now = True
        return (PROVISION_KEY,)

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        now = self._clock.now()
        wait = self._batcher.wait(now)
        if not self._replan_now and wait is not None and wait > 0:
            return Result(requeue_after=wait)
        self._replan_now = False
        self._batcher.close()
        self.provision(now)
        return Result(requeue_after=self._window) if self.nominations else None

    def provision(self, now: float) -> None:
        """Plan every provisionable pod that has no nomination, and act on the plan."""
        snap = self._read()
        self._prune(snap, now)
        pending = [
            p
            for p in snap.pods
            if is_provisionable(p) and str(meta(p).get("uid") or "") not in self.nominations
        ]
        if not pending:
            return
        self.batches += 1
        pools = self._pools(snap)
        nominated = self._nominated(snap)
        existing, targets = existing_capacity(
            snap, nominated, {name: p.types for name, p in pools.items()}
        )
        results = solve(
            pending,
            [p.template for p in pools.values()],
            existing_nodes=existing,
            daemonset_pods=[daemonset_pod(d) for d in snap.daemonsets],
            cluster_pods=self._bound_pods(snap),
            namespace_labels=snap.namespaces,
        )
        for planned in results.new_claims:
            self._create(planned, pools[planned.nodepool], now)
        for node_name, pods in results.existing.items():
            kind, name = targets[node_name]
            for pod in pods:
                self._nominate(pod, Nomination(kind, name, now), node_name)
        self._report(results.errors, pending, pools)

    # -- reading ----------------------------------------------------------------------------------

    def _read(self) -> Snapshot:
        client = self._client
        return Snapshot(
            pods=list(client.list("v1", "Pod", copy=False).items),
            nodes={meta(n)["name"]: n for n in client.list("v1", "Node", copy=False).items},
            claims={
                meta(c)["name"]: c for c in client.list(KARPENTER, "NodeClaim", copy=False).items
            },
            pools=list(client.list(KARPENTER, "NodePool", copy=False).items),
            daemonsets=list(client.list("apps/v1", "DaemonSet", copy=False).items),
            namespaces={
                meta(n)["name"]: dict(meta(n).get("labels") or {})
                for n in client.list("v1", "Namespace", copy=False).items
            },
        )

    def _prune(self, snap: Snapshot, now: float) -> None:
        pending = {str(meta(p).get("uid")) for p in snap.pods if is_provisionable(p)}
        for uid, nomination in list(self.nominations.items()):
            if uid not in pending or not self._holds(nomination, snap, now):
                del self.nominations[uid]

    def _holds(self, nomination: Nomination, snap: Snapshot, now: float) -> bool:
        if nomination.kind == "node":
            return nomination.name in snap.nodes and now < nomination.at + self._window
        claim = snap.claims.get(nomination.name)
        if claim is None or is_terminating(claim):
            return False
        initialized = condition(claim, INITIALIZED) or {}
        if initialized.get("status") != "True":
            return True
        since = initialized.get("lastTransitionTime")
        return since is None or now < parse_time(str(since)) + self._window

    def _nominated(self, snap: Snapshot) -> dict[tuple[str, str], list[Obj]]:
        by_uid = {str(meta(p).get("uid")): p for p in snap.pods}
        out: dict[tuple[str, str], list[Obj]] = {}
        for uid, nomination in self.nominations.items():
            pod = by_uid.get(uid)
            if pod is not None:
                out.setdefault((nomination.kind, nomination.name), []).append(pod)
        return out

    def _bound_pods(self, snap: Snapshot) -> list[BoundPod]:
        out: list[BoundPod] = []
        for node_name, pods in snap.bound.items():
            node = snap.nodes.get(node_name)
            labels = dict(meta(node).get("labels") or {}) if node is not None else {}
            out.extend(BoundPod(p, node_name, labels) for p in pods)
        return out

    def _pools(self, snap: Snapshot) -> dict[str, _Pool]:
        out: dict[str, _Pool] = {}
        for obj in snap.pools:
            if is_terminating(obj):
                continue
            found = self._pool(obj, snap)
            if found is not None:
                out[found.view.name] = found
        return out

    def _pool(self, obj: Obj, snap: Snapshot) -> _Pool | None:
        try:
            view = NodePoolView.from_object(obj)
        except InvalidError as e:
            self._recorder.event(obj, WARNING, "InvalidNodePool", e.message)
            return None
        ref = view.node_class_ref
        try:
            node_class = self._client.get(
                f"{ref.group}/{NODECLASS_VERSION}", ref.kind, ref.name, copy=False
            )
        except ShipyardError:
            message = f'{ref.kind} "{ref.name}" not found; NodePool "{view.name}" launches nothing'
            self._recorder.event(obj, WARNING, "NodeClassNotFound", message)
            return None
        offered = self._cloud.instance_types(obj, node_class)
        types = {t.name: t for t in offered}
        template = PoolTemplate.of(view, offered, self._remaining(view, snap, types))
        return _Pool(view, obj, types, template)

    @staticmethod
    def _remaining(
        view: NodePoolView, snap: Snapshot, types: Mapping[str, InstanceType]
    ) -> dict[str, int] | None:
        if view.limits is None:
            return None
        claims = [
            c
            for c in snap.claims.values()
            if (meta(c).get("labels") or {}).get(NODEPOOL) == view.name
        ]
        used = add_resources(*(claim_capacity(c, types) for c in claims), {"nodes": len(claims)})
        return {name: limit - used.get(name, 0) for name, limit in view.limits.items()}

    # -- acting -----------------------------------------------------------------------------------

    def _create(self, planned: PlannedClaim, pool: _Pool, now: float) -> None:
        claim = nodeclaim_for(planned, pool.view, pool.obj, max_instance_types=self._max_types)
        try:
            created = self._client.create(claim, handoff=True)
        except ShipyardError as e:
            message = f"creating a NodeClaim for {len(planned.pods)} pod(s) failed: {e.message}"
            self._recorder.event(pool.obj, WARNING, "FailedCreate", message)
            return
        name = str(meta(created)["name"])
        self.metrics.created.inc(pool.view.name)
        for pod in planned.pods:
            self._nominate(pod, Nomination("nodeclaim", name, now), "")

    def _nominate(self, pod: Obj, nomination: Nomination, node_name: str) -> None:
        self.nominations[str(meta(pod).get("uid") or "")] = nomination
        where = f"{nomination.kind}/{nomination.name}"
        if node_name and nomination.kind == "nodeclaim" and node_name != nomination.name:
            where += f", node/{node_name}"
        self._recorder.event(pod, NORMAL, "Nominated", f"Pod should schedule on: {where}")

    def _report(
        self, errors: Mapping[str, str], pending: list[Obj], pools: dict[str, _Pool]
    ) -> None:
        by_key = {pod_name(p): p for p in pending}
        limited: dict[str, int] = {}
        for key, message in errors.items():
            pod = by_key.get(key)
            if pod is not None:
                self._recorder.event(
                    pod, WARNING, "FailedScheduling", f"Failed to schedule pod, {message}"
                )
            for pool in set(_LIMITS.findall(message)):
                limited[pool] = limited.get(pool, 0) + 1
        for name, count in sorted(limited.items()):
            pool = pools.get(name)
            if pool is not None:
                message = (
                    f'all available instance types exceed limits for nodepool: "{name}" '
                    f"({count} pod(s) could not be planned; limits {_limits_text(pool.obj)})"
                )
                self._recorder.event(pool.obj, WARNING, "LimitsExceeded", message)


def _limits_text(pool: Obj) -> str:
    limits = (pool.get("spec") or {}).get("limits") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(limits.items())) or "none"


# --- NodePool status ----------------------------------------------------------------------------


class NodePoolStatusController:
    """Keeps a NodePool's ``status``: resources, nodes and readiness (module docstring)."""

    name = "nodepool.status"

    def __init__(self, client: Client) -> None:
        self._client = client
        self._clock = client.clock

    def watches(self) -> list[Watches]:
        return [
            Watches(KARPENTER, "NodePool"),
            Watches(KARPENTER, "NodeClaim", self._claim_keys),
            Watches("karpenter.k8s.aws/v1", "EC2NodeClass", self._class_keys),
        ]

    def _claim_keys(self, claim: Obj) -> tuple[ObjectKey, ...]:
        pool = (meta(claim).get("labels") or {}).get(NODEPOOL)
        return (ObjectKey(KARPENTER, "NodePool", "", str(pool)),) if pool else ()

    def _class_keys(self, _node_class: Obj) -> tuple[ObjectKey, ...]:
        pools = self._client.list(KARPENTER, "NodePool", copy=False).items
        return tuple(ObjectKey(KARPENTER, "NodePool", "", meta(p)["name"]) for p in pools)

    def reconcile(self, key: ObjectKey) -> Result | None:
        pool = self._client.get(KARPENTER, "NodePool", key.name)
        if is_terminating(pool):
            return None
        claims = [
            c
            for c in self._client.list(KARPENTER, "NodeClaim", copy=False).items
            if (meta(c).get("labels") or {}).get(NODEPOOL) == key.name
        ]
        status: Obj = json_copy(pool.get("status") or {})
        before = json_copy(status)
        resources = add_resources(*(units((c.get("status") or {}).get("capacity")) for c in claims))
        status["resources"] = {**format_resources(resources), "nodes": str(len(claims))}
        status["nodes"] = len(claims)
        pool["status"] = status
        self._conditions(pool)
        if pool["status"] != before:
            with contextlib.suppress(NotFoundError):
                self._client.update_status(pool, handoff=True)
        return None

    def _conditions(self, pool: Obj) -> None:
        now = self._clock.now()
        ref = (((pool.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "nodeClassRef"
        ) or {}
        try:
            self._client.get(
                f"{ref.get('group')}/{NODECLASS_VERSION}",
                str(ref.get("kind")),
                str(ref.get("name")),
                copy=False,
            )
            found, message = True, ""
        except ShipyardError:
            found, message = False, f'{ref.get("kind")} "{ref.get("name")}" not found'
        set_condition(pool, "ValidationSucceeded", "True", now=now, reason="ValidationSucceeded")
        if found:
            set_condition(pool, "NodeClassReady", "True", now=now, reason="NodeClassReady")
            set_condition(pool, "Ready", "True", now=now, reason="Ready")
        else:
            set_condition(
                pool, "NodeClassReady", "False", now=now, reason="NodeClassNotFound",
                message=message,
            )  # fmt: skip
            set_condition(pool, "Ready", "False", now=now, reason="NodeClassNotReady",
                          message=message)  # fmt: skip
