"""Which nodes may be disrupted, and when a NodeClaim becomes Consolidatable.

**Consolidatable** (:class:`ConsolidationMarker`, controller ``nodeclaim.consolidation``):
Karpenter's documented rule — a NodeClaim is consolidatable once its pool's
``consolidateAfter`` has passed since the last *pod event* on its node (a pod bound to it, or
a pod on it finishing or being deleted), or since it initialized if no pod came yet. The
time of the last event is kept in ``status.lastPodEventTime`` and the verdict in the
``Consolidatable`` condition; ``consolidateAfter: Never`` leaves the condition off. A timer
re-checks the claim when ``consolidateAfter`` will have passed.

**Candidates** (:func:`build_candidates`): a NodeClaim of a usable NodePool is a candidate
when its node exists, it is initialized, nothing is deleting or disrupting it already, and
none of these blocks it (the message is what a ``DisruptionBlocked`` event says):

- the node or NodeClaim carries ``karpenter.sh/do-not-disrupt: "true"``, or a duration that has
  not elapsed since the node was created;
- a pod on it carries ``karpenter.sh/do-not-disrupt: "true"``, or a duration (``"5m"``) that
  has not elapsed since the pod started (Karpenter's documented duration form);
- a pod on it is selected by a PodDisruptionBudget that allows no disruption now;
- the provisioner nominated pods to it in the last 20 s (they are about to land there).

A candidate carries its pods (those that would have to move, see
:func:`~.state.reschedulable`), its price and its disruption cost: the sum over its pods of
``1 + deletion cost / 2^27 + priority / 2^25`` (each term clamped to ±10, so many cheap pods
cost more than a few), times the fraction of the node's ``expireAfter`` lifetime that remains
— Karpenter's documented preference for nodes with fewer pods, lower-priority pods, and nodes
that expire soon. A malformed duration in ``do-not-disrupt`` is ignored (as Karpenter ignores
it), never treated as "true".
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.disruption.state import KARPENTER, ClusterState, reschedulable
from shipyard.autoscaler.disruption.types import Candidate
from shipyard.autoscaler.lifecycle import DO_NOT_DISRUPT, INITIALIZED
from shipyard.autoscaler.lifecycle.model import condition_status, set_claim_condition
from shipyard.cluster.client import Client
from shipyard.cluster.podutil import condition, is_terminal, is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import format_time, parse_time
from shipyard.core.durations import DurationError, parse_duration
from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.core.labels import CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta
from shipyard.core.selectors import LabelSelector

__all__ = [
    "CONSOLIDATABLE",
    "DELETION_COST",
    "LAST_POD_EVENT",
    "NOMINATION_WINDOW",
    "ConsolidationMarker",
    "blocking_pdbs",
    "build_candidates",
    "disruption_cost",
    "do_not_disrupt_until",
    "pdb_blocking",
]

CONSOLIDATABLE = "Consolidatable"
LAST_POD_EVENT = "lastPodEventTime"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
NOMINATION_WINDOW = 20.0
_FOREVER = float("inf")


# --- pure parts ---------------------------------------------------------------------------


def do_not_disrupt_until(value: str | None, start: float) -> float | None:
    """When a ``do-not-disrupt`` annotation stops protecting: ``inf`` for ``"true"``, start +
    duration for a duration, None when absent or malformed (no protection)."""
    if value is None:
        return None
    if value == "true":
        return _FOREVER
    try:
        return start + parse_duration(value)
    except DurationError:
        return None


def _protected(obj: Mapping[str, Any], start: Callable[[], float], now: float) -> bool:
    """Whether ``do-not-disrupt`` protects the object now; ``start`` (when a duration's
    protection began) is read only for an annotated object."""
    value = (meta(obj).get("annotations") or {}).get(DO_NOT_DISRUPT)
    if value is None:
        return False
    until = do_not_disrupt_until(str(value), start())
    return until is not None and now < until


def _started(obj: Mapping[str, Any]) -> float:
    stamp = (obj.get("status") or {}).get("startTime") or meta(obj).get("creationTimestamp")
    return parse_time(str(stamp)) if stamp else 0.0


def _clamp(value: float) -> float:
    return max(-10.0, min(10.0, value))


def eviction_cost(pod: Mapping[str, Any]) -> float:
    """Karpenter's per-pod eviction cost (see the module docstring)."""
    cost = 1.0
    text = (meta(pod).get("annotations") or {}).get(DELETION_COST)
    if text is not None:
        with contextlib.suppress(ValueError):
            cost += _clamp(float(text) / 2**27)
    priority = (pod.get("spec") or {}).get("priority")
    if isinstance(priority, int):
        cost += _clamp(priority / 2**25)
    return _clamp(cost)


def disruption_cost(
    pods: Iterable[Mapping[str, Any]], *, age: float, expire_after: float | None
) -> float:
    """The pods' eviction cost scaled by the node's remaining lifetime fraction."""
    total = sum(eviction_cost(p) for p in pods)
    return _lifetime_scaled(total, age=age, expire_after=expire_after)


def _lifetime_scaled(total: float, *, age: float, expire_after: float | None) -> float:
    if expire_after is None or expire_after <= 0:
        return total
    return total * max(0.0, min(1.0, (expire_after - age) / expire_after))


# Per node name: the bound pods last seen (stored objects, never changed in place; and the
# sequence they came in, which a pass's reader hands out again while they are unchanged),
# the ones that would move, their eviction cost and the pods annotated do-not-disrupt — most
# nodes' pods are the same pass after pass.
_MOVING: dict[
    str, tuple[Sequence[Obj], tuple[Obj, ...], tuple[Obj, ...], float, tuple[Obj, ...]]
] = {}
_MOVING_MAX = 50_000


def _node_pods(node: str, bound: Sequence[Obj]) -> tuple[tuple[Obj, ...], float, tuple[Obj, ...]]:
    """(the pods that would move, their eviction cost, the pods with do-not-disrupt)."""
    found = _MOVING.get(node)
    if found is not None and (
        found[0] is bound
        or (
            len(found[1]) == len(bound)
            and all(a is b for a, b in zip(found[1], bound, strict=True))
        )
    ):
        return found[2], found[3], found[4]
    pods = tuple(p for p in bound if reschedulable(p))
    cost = sum(eviction_cost(p) for p in pods)
    annotated = tuple(p for p in bound if DO_NOT_DISRUPT in (meta(p).get("annotations") or {}))
    if len(_MOVING) >= _MOVING_MAX:
        _MOVING.clear()
    _MOVING[node] = (bound, tuple(bound), pods, cost, annotated)
    return pods, cost, annotated


def _moving(node: str, bound: Sequence[Obj]) -> tuple[tuple[Obj, ...], float]:
    pods, cost, _ = _node_pods(node, bound)
    return pods, cost


def pdb_blocking(pods: Iterable[Mapping[str, Any]], pdbs: Iterable[Mapping[str, Any]]) -> str:
    """``namespace/name`` of a PodDisruptionBudget that allows no eviction of one of the pods
    now, or ``""``."""
    return _first_blocked(pods, blocking_pdbs(pdbs))


_Blocking = list[tuple[str, str, LabelSelector]]


def blocking_pdbs(pdbs: Iterable[Mapping[str, Any]]) -> _Blocking:
    """The PodDisruptionBudgets that allow no eviction now: (namespace, name, selector)."""
    return [
        (str(meta(p).get("namespace") or ""), str(meta(p).get("name")), _selector(p))
        for p in pdbs
        if int((p.get("status") or {}).get("disruptionsAllowed") or 0) <= 0
    ]


def _first_blocked(pods: Iterable[Mapping[str, Any]], selectors: _Blocking) -> str:
    if not selectors:
        return ""
    for pod in pods:
        namespace = str(meta(pod).get("namespace") or "")
        labels = meta(pod).get("labels") or {}
        for ns, name, selector in selectors:
            if ns == namespace and selector.matches(labels):
                return f"{ns}/{name}"
    return ""


def _selector(pdb: Mapping[str, Any]) -> LabelSelector:
    try:
        return LabelSelector.of_stored((pdb.get("spec") or {}).get("selector"))
    except InvalidError:
        return LabelSelector.nothing()


# --- candidates ---------------------------------------------------------------------------


def _blocked(claim: Obj, node: Obj, pods: list[Obj], pdbs: _Blocking, now: float) -> str:
    """Why the node may not be disrupted voluntarily now, or ``""`` (``pdbs``: the budgets
    that allow no eviction now)."""
    for obj, kind in ((node, "node"), (claim, "nodeclaim")):
        if _protected(obj, functools.partial(_started, node), now):
            return f'{kind} has "{DO_NOT_DISRUPT}" annotation'
    _, _, annotated = _node_pods(str(meta(node).get("name") or ""), pods)
    for pod in annotated:  # in the node's order, as the pods themselves
        if _protected(pod, functools.partial(_started, pod), now):
            md = meta(pod)
            return f'pod {md.get("namespace")}/{md.get("name")} has "{DO_NOT_DISRUPT}" annotation'
    pdb = _node_blocked(str(meta(node).get("name") or ""), pods, pdbs)
    return f"pdb {pdb} prevents pod evictions" if pdb else ""


# Per node name: the bound pods and blocking budgets last judged, and the budget that blocks.
_BLOCKED: dict[str, tuple[Sequence[Obj], _Blocking, str]] = {}


def _node_blocked(node: str, pods: Sequence[Obj], pdbs: _Blocking) -> str:
    """``_first_blocked``, again only when the node's pods (the same sequence, as a pass's
    reader hands it out while they are unchanged) or the blocking budgets changed."""
    found = _BLOCKED.get(node)
    if found is not None and found[0] is pods and found[1] == pdbs:
        return found[2]
    blocked = _first_blocked(pods, pdbs)
    if len(_BLOCKED) >= _MOVING_MAX:
        _BLOCKED.clear()
    _BLOCKED[node] = (pods, list(pdbs), blocked)
    return blocked


def build_candidates(
    state: ClusterState,
    *,
    nominated: Callable[[str, str], bool] = lambda claim, node: False,
    exclude: Iterable[str] = (),
) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates of this pass, and per blocked NodeClaim why it is not one.

    ``nominated(claim, node)`` says whether pods were nominated to it recently; ``exclude``
    names claims already part of a command in flight.
    """
    skip = set(exclude)
    out: list[Candidate] = []
    blocked: dict[str, str] = {}
    now = state.now
    pdbs = blocking_pdbs(state.pdbs)
    for name, claim in sorted(state.snapshot.claims.items()):
        pool_name = str((meta(claim).get("labels") or {}).get(NODEPOOL) or "")
        info = state.pools.get(pool_name)
        node = state.node_by_claim.get(name)
        if info is None or node is None or name in skip or state.disrupting(name):
            continue
        verdict = _judged(state, name, claim, node, pool_name=pool_name, pdbs=pdbs)
        if verdict is _NOT_INITIALIZED:
            continue
        if nominated(name, str(meta(node)["name"])):
            blocked[name] = "node is nominated for a pending pod"
        elif isinstance(verdict, str):
            blocked[name] = verdict
        else:
            out.append(verdict.at(now))
    out.sort(key=lambda c: (c.disruption_cost, c.name))
    return out, blocked


class _Judged:
    """A candidate as judged from its claim, node, pods, pool and the blocking budgets, with
    what its disruption cost is scaled from (the clock moves the cost, nothing else)."""

    __slots__ = ("candidate", "cost", "created")

    def __init__(self, candidate: Candidate, cost: float, created: float | None) -> None:
        self.candidate, self.cost, self.created = candidate, cost, created

    def at(self, now: float) -> Candidate:
        age = now - self.created if self.created is not None else 0.0
        scaled = _lifetime_scaled(self.cost, age=age, expire_after=self.candidate.pool.expire_after)
        if scaled == self.candidate.disruption_cost:
            return self.candidate
        self.candidate = self.candidate.with_cost(scaled)
        return self.candidate


_NOT_INITIALIZED = "not initialized"

# Per NodeClaim name: what it was last judged from (claim, node, the node's pods as the
# reader hands them out, the pool's view and types, the blocking budgets) and the verdict.
# A verdict that a do-not-disrupt annotation took part in is not kept: time changes it.
_JUDGED: dict[str, tuple[tuple[object, ...], _Blocking, str | _Judged]] = {}


def _judged(
    state: ClusterState, name: str, claim: Obj, node: Obj, *, pool_name: str, pdbs: _Blocking
) -> str | _Judged:
    """``_NOT_INITIALIZED``, why the claim is blocked, or its candidate (before nomination,
    which changes pass by pass)."""
    info = state.pools[pool_name]
    node_name = str(meta(node)["name"])
    bound = state.pods_on(node_name)
    inputs = (claim, node, bound, info.view, info.types)
    found = _JUDGED.get(name)
    if (
        found is not None
        and all(a is b for a, b in zip(found[0], inputs, strict=True))
        and found[1] == pdbs
    ):
        return found[2]
    now = state.now
    verdict: str | _Judged
    if condition_status(claim, INITIALIZED) != "True":
        verdict = _NOT_INITIALIZED
    elif why := _blocked(claim, node, bound, pdbs, now):
        verdict = why
    elif (price := state.price(pool_name, node)) is None:
        verdict = "node's offering has no known price"
    else:
        verdict = _candidate(claim, node, info.view, bound, price=price)
    annotated = _node_pods(node_name, bound)[2]
    if not annotated and not any(
        DO_NOT_DISRUPT in (meta(obj).get("annotations") or {}) for obj in (claim, node)
    ):
        if len(_JUDGED) >= _MOVING_MAX:
            _JUDGED.clear()
        _JUDGED[name] = (inputs, list(pdbs), verdict)
    return verdict


def _candidate(
    claim: Obj, node: Obj, pool: NodePoolView, bound: list[Obj], *, price: float
) -> _Judged:
    """The candidate, its disruption cost still to be scaled to a time (``_Judged.at``)."""
    labels = meta(node).get("labels") or {}
    pods, cost = _moving(str(meta(node).get("name") or ""), bound)
    created = meta(claim).get("creationTimestamp")
    candidate = Candidate(
        claim=claim,
        node=node,
        pool=pool,
        pods=pods,
        price=price,
        instance_type=str(labels.get(INSTANCE_TYPE) or ""),
        capacity_type=str(labels.get(CAPACITY_TYPE) or ""),
        zone=str(labels.get(ZONE) or ""),
        disruption_cost=cost,
        consolidatable=condition_status(claim, CONSOLIDATABLE) == "True",
    )
    return _Judged(candidate, cost, parse_time(str(created)) if created else None)


# --- the Consolidatable condition ---------------------------------------------------------


class ConsolidationMarker:
    """Keeps ``status.lastPodEventTime`` and the ``Consolidatable`` condition of NodeClaims."""

    name = "nodeclaim.consolidation"

    def __init__(self, client: Client) -> None:
        self._client = client
        self._clock = client.clock
        self._pod_node: dict[str, str] = {}  # pod uid -> the node it is active on
        self._last_event: dict[str, float] = {}  # node name -> time of its last pod event
        self._claim_of: dict[str, str] = {}  # node name -> NodeClaim name

    def watches(self) -> list[Watches]:
        return [
            Watches("v1", "Pod", self._pod_keys),
            Watches(KARPENTER, "NodeClaim", self._claim_keys),
        ]

    def _claim_keys(self, claim: Obj) -> tuple[ObjectKey, ...]:
        name = str(meta(claim).get("name"))
        node = (claim.get("status") or {}).get("nodeName")
        if node:
            self._claim_of[str(node)] = name
        return (ObjectKey(KARPENTER, "NodeClaim", "", name),)

    def _pod_keys(self, pod: Obj) -> tuple[ObjectKey, ...]:
        uid = str(meta(pod).get("uid") or "")
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        active = bool(node) and not is_terminal(pod) and not is_terminating(pod)
        before = self._pod_node.get(uid)
        now_on = node if active else None
        if now_on == before:
            return ()
        if now_on is None:
            del self._pod_node[uid]
        else:
            self._pod_node[uid] = now_on
        touched = {n for n in (before, now_on) if n}
        keys = []
        for node_name in sorted(touched):
            self._last_event[node_name] = self._clock.now()
            claim = self._claim_of.get(node_name)
            if claim:
                keys.append(ObjectKey(KARPENTER, "NodeClaim", "", claim))
        return tuple(keys)

    def reconcile(self, key: ObjectKey) -> Result | None:
        claim = self._client.get(KARPENTER, "NodeClaim", key.name)
        if is_terminating(claim):
            return None
        initialized = condition(claim, INITIALIZED) or {}
        if initialized.get("status") != "True":
            return None
        status = claim.setdefault("status", {})
        before = json_copy(status)
        since = self._since(claim, initialized)
        if since is not None:
            status[LAST_POD_EVENT] = format_time(since)
        due = self._mark(claim, status, since)
        if status != before:
            self._client.update_status(claim, handoff=True)
        return Result(requeue_after=due) if due is not None else None

    def _since(self, claim: Obj, initialized: Mapping[str, Any]) -> float | None:
        status = claim.get("status") or {}
        times = [
            self._last_event.get(str(status.get("nodeName") or "")),
            parse_time(str(status[LAST_POD_EVENT])) if status.get(LAST_POD_EVENT) else None,
        ]
        known = [t for t in times if t is not None]
        if known:
            return max(known)
        stamp = initialized.get("lastTransitionTime")
        return parse_time(str(stamp)) if stamp else None

    def _mark(self, claim: Obj, status: dict[str, Any], since: float | None) -> float | None:
        """Set the condition; the seconds until it should be re-checked (None: never)."""
        now = self._clock.now()
        after = self._consolidate_after(claim)
        if after is None or since is None:
            conditions = status.get("conditions") or []
            status["conditions"] = [c for c in conditions if c.get("type") != CONSOLIDATABLE]
            return None
        if now >= since + after:
            set_claim_condition(claim, CONSOLIDATABLE, "True", CONSOLIDATABLE, "", now=now)
            return None
        conditions = status.get("conditions") or []
        status["conditions"] = [c for c in conditions if c.get("type") != CONSOLIDATABLE]
        return since + after - now

    def _consolidate_after(self, claim: Obj) -> float | None:
        pool = str((meta(claim).get("labels") or {}).get(NODEPOOL) or "")
        try:
            obj = self._client.get(KARPENTER, "NodePool", pool, copy=False)
            return NodePoolView.from_object(obj).consolidate_after
        except (NotFoundError, InvalidError):
            return None
