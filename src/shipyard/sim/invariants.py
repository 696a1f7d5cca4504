"""Invariants a simulation must keep at every step, and a runner that checks them as it goes.

:class:`InvariantChecker` looks at the cluster and the cloud after each step and reports a
:class:`Violation` for each of these (``check()`` raises :class:`InvariantViolation` listing
all of them; ``violations()`` returns them):

- **budget** — a NodePool disrupted more nodes than its budgets allow. When a claim starts a
  voluntary disruption (its ``DisruptionReason`` condition names ``Empty``, ``Underutilized``
  or ``Drifted`` — the reasons budgets limit), the pool's nodes disrupting at that moment
  (claims being deleted, nodes tainted ``karpenter.sh/disrupted``) must not exceed the
  tightest active budget for that reason (``nodes`` a count, or a percentage of the pool's
  claims rounded up; schedules in UTC). Forceful disruptions (``Expired``, ``Interrupted``)
  are not limited, but they count as disrupting.
- **pdb** — a PodDisruptionBudget has fewer healthy pods than it requires after one of its
  pods left a node Karpenter is disrupting (the pod started terminating, or was deleted,
  while bound to a node with the ``karpenter.sh/disrupted`` taint). Departures are caught
  from the change stream as they happen, so none is missed however fast pods terminate, and
  judged at the next check (a loss elsewhere that the check sees at the same time would be
  blamed on them too: steps should be short). Pods deleted because their claim's
  ``terminationGracePeriod`` ran out are exempt: that deadline overrides budgets by design.
- **pod** — a pod with a controller stayed unscheduled longer than ``pending_bound``
  seconds, or a ReplicaSet or StatefulSet had fewer active pods than ``spec.replicas`` for
  longer than that (a pod lost without a replacement).
- **instance** — an instance has been running (billed) without a NodeClaim naming it for
  longer than ``orphan_bound`` seconds (by default the garbage collector's orphan grace plus
  its period: by then it must have been terminated).

Time-based invariants keep "since when" per subject between checks, so a checker must see
every step of one run (:func:`run_checked` does that). Pods and nodes are followed from the
change stream (an informer's index: :meth:`InvariantChecker.close` stops it), so a check
costs the pods that matter rather than every pod; claims, instances and budgets are listed
from the store's shared objects (nothing is copied or changed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.disruption.budgets import budget_active
from shipyard.autoscaler.disruption.controller import DISRUPTION_REASON
from shipyard.autoscaler.disruption.types import DRIFTED, EMPTY, UNDERUTILIZED
from shipyard.autoscaler.lifecycle.garbage import DEFAULT_ORPHAN_AFTER, DEFAULT_PERIOD
from shipyard.autoscaler.lifecycle.model import DISRUPTED_TAINT
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.cluster.disruption import assess
from shipyard.cluster.podutil import condition, controller_ref, is_terminal, is_terminating
from shipyard.core.clock import parse_time
from shipyard.core.durations import parse_duration
from shipyard.core.errors import ShipyardError
from shipyard.core.labels import NODEPOOL
from shipyard.core.objects import Obj, meta
from shipyard.core.selectors import LabelSelector
from shipyard.store.backends import DELETED
from shipyard.store.watch import WatchEvent

__all__ = [
    "DEFAULT_PENDING_BOUND",
    "DISRUPTION_REASON",
    "KINDS",
    "InvariantChecker",
    "InvariantViolation",
    "Steppable",
    "Violation",
    "run_checked",
]

KARPENTER = "karpenter.sh/v1"
BUDGET_REASONS = frozenset({EMPTY, UNDERUTILIZED, DRIFTED})
DEFAULT_PENDING_BOUND = 300.0
KINDS = ("budget", "pdb", "pod", "instance")
_SCALED_KINDS = frozenset({"ReplicaSet", "StatefulSet"})
_SCALED_API = "apps/v1"


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its kind (one of :data:`KINDS`), what it is about, and why."""

    kind: str
    subject: str
    message: str
    at: float  # clock seconds of the check that found it

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.message}"


class InvariantViolation(ShipyardError):
    """Raised by :meth:`InvariantChecker.check`; ``violations`` holds what was found."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        when = violations[0].at if violations else 0.0
        lines = "\n".join(f"  {v}" for v in violations)
        super().__init__(f"{len(violations)} invariant violation(s) at t={when:.0f}:\n{lines}")
        self.violations = tuple(violations)


@dataclass
class _Since:
    """Per-subject first-seen times of conditions that become violations when they last."""

    times: dict[str, float] = field(default_factory=dict)

    def track(self, subjects: Iterable[str], now: float) -> dict[str, float]:
        """Keep only ``subjects``, first seen now unless seen before; subject -> since."""
        kept = {s: self.times.get(s, now) for s in subjects}
        self.times = kept
        return kept


@dataclass(frozen=True)
class _Departure:
    """A pod that left a disrupted node: what a PDB check needs to know about it."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    node: str
    deleted_at: float  # its deletionTimestamp (when its grace ends), else when it vanished


class _Tracker:
    """Pods and nodes, kept current from the change stream: the unscheduled pods with a
    controller (``ns/name`` -> creation time), the active pods of each scaled controller
    ((kind, ns, name) -> count), the nodes tainted ``karpenter.sh/disrupted``, and the pods
    that left such nodes since the last :meth:`take_departures`."""

    def __init__(self, client: Client) -> None:
        self.waiting: dict[str, float] = {}
        self.active: dict[tuple[str, str, str], int] = {}
        self.tainted: set[str] = set()
        self._departures: list[_Departure] = []
        self._seen: dict[str, tuple[str, tuple[str, str, str] | None, bool]] = {}  # uid -> facts
        self._now = client.clock.now
        self._unsubscribe: Callable[[], None] | None = client.add_listener(
            self._on_event, kinds=[("v1", "Pod"), ("v1", "Node")]
        )
        for node in client.list("v1", "Node", copy=False).items:
            self._node(node, deleted=False)
        for pod in client.list("v1", "Pod", copy=False).items:
            self._pod(pod, deleted=False)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def take_departures(self) -> list[_Departure]:
        out, self._departures = self._departures, []
        return out

    def _on_event(self, event: WatchEvent) -> None:
        if event.object.get("kind") == "Node":
            self._node(event.object, deleted=event.type == DELETED)
        else:
            self._pod(event.object, deleted=event.type == DELETED)

    def _node(self, node: Obj, *, deleted: bool) -> None:
        name = str(meta(node).get("name"))
        taints = (node.get("spec") or {}).get("taints") or ()
        if not deleted and any(t.get("key") == DISRUPTED_TAINT.key for t in taints):
            self.tainted.add(name)
        else:
            self.tainted.discard(name)

    def _pod(self, pod: Obj, *, deleted: bool) -> None:
        md = meta(pod)
        uid = str(md.get("uid") or "")
        old = self._seen.pop(uid, None)
        if old is not None:
            self._forget(old)
        leaving = deleted or is_terminating(pod)
        if leaving and not (old is not None and old[2]):
            self._departed(pod)
        if deleted:
            return
        pod_id = f"{md.get('namespace')}/{md.get('name')}"
        ref = controller_ref(pod)
        owner = None
        scaled = ref is not None and ref.get("kind") in _SCALED_KINDS
        if ref is not None and scaled and not leaving and not is_terminal(pod):
            owner = (str(ref.get("kind")), str(md.get("namespace") or ""), str(ref.get("name")))
            self.active[owner] = self.active.get(owner, 0) + 1
        if ref is not None and ref.get("kind") != "DaemonSet" and _waiting(pod):
            created = md.get("creationTimestamp")
            self.waiting[pod_id] = parse_time(str(created)) if created else self._now()
        self._seen[uid] = (pod_id, owner, leaving)

    def _forget(self, old: tuple[str, tuple[str, str, str] | None, bool]) -> None:
        self.waiting.pop(old[0], None)
        owner = old[1]
        if owner is not None:
            self.active[owner] -= 1
            if not self.active[owner]:
                del self.active[owner]

    def _departed(self, pod: Obj) -> None:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node not in self.tainted:
            return
        md = meta(pod)
        deleted = md.get("deletionTimestamp")
        self._departures.append(
            _Departure(
                str(md.get("name")),
                str(md.get("namespace") or ""),
                dict(md.get("labels") or {}),
                node,
                parse_time(str(deleted)) if deleted else self._now(),
            )
        )


class InvariantChecker:
    """Checks the invariants of the module docstring (all of :data:`KINDS` unless narrowed)."""

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        pending_bound: float = DEFAULT_PENDING_BOUND,
        orphan_bound: float = DEFAULT_ORPHAN_AFTER + DEFAULT_PERIOD,
        kinds: Iterable[str] = KINDS,
    ) -> None:
        chosen = tuple(kinds)
        if unknown := set(chosen) - set(KINDS):
            raise ValueError(f"unknown invariant kinds {sorted(unknown)}; known: {KINDS}")
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self.pending_bound = pending_bound
        self.orphan_bound = orphan_bound
        self.kinds = chosen
        self._seen_disruptions: set[str] = set()  # disruptions already judged against budgets
        self._tracker = _Tracker(client)
        self._pending = _Since()
        self._short = _Since()
        self._orphans = _Since()
        self.checks = 0
        self.disruptions = 0  # voluntary disruptions seen starting (each judged against budgets)
        self.departures = 0  # pods seen leaving disrupted nodes (each judged against its PDB)

    def close(self) -> None:
        """Stop following the change stream."""
        self._tracker.close()

    def check(self) -> None:
        """Check now; ``InvariantViolation`` listing every violation found."""
        found = self.violations()
        if found:
            raise InvariantViolation(found)

    def violations(self) -> list[Violation]:
        """Every violation at this moment (and remember what the time-based checks need)."""
        self.checks += 1
        now = self._clock.now()
        out: list[Violation] = []
        if "budget" in self.kinds:
            out += self._budgets(now)
        if "pdb" in self.kinds:
            out += self._pdbs(now)
        if "pod" in self.kinds:
            out += self._pods(now)
        if "instance" in self.kinds:
            out += self._instances(now)
        return out

    # -- NodePool budgets -------------------------------------------------------------------------

    def _budgets(self, now: float) -> list[Violation]:
        claims = self._client.list(KARPENTER, "NodeClaim", copy=False).items
        fresh = [
            c
            for c in claims
            if _budget_reason(c) and _disruption_id(c) not in self._seen_disruptions
        ]
        if not fresh:
            return []
        self._seen_disruptions.update(_disruption_id(c) for c in fresh)
        self.disruptions += len(fresh)
        tainted = self._tracker.tainted
        by_pool: dict[str, list[Obj]] = {}
        for claim in claims:
            by_pool.setdefault(_pool_of(claim), []).append(claim)
        started: dict[tuple[str, str], list[str]] = {}  # (pool, reason) -> claims starting
        for claim in fresh:
            started.setdefault((_pool_of(claim), _budget_reason(claim)), []).append(
                str(meta(claim).get("name"))
            )
        out: list[Violation] = []
        for (pool_name, reason), names in sorted(started.items()):
            view = self._pool(pool_name)
            if view is None:
                continue
            members = by_pool.get(pool_name, [])
            disrupting = sorted(
                str(meta(c).get("name")) for c in members if _disrupting(c, tainted)
            )
            limit, budget = _limit(view, reason, len(members), now)
            if len(disrupting) > limit:
                out.append(
                    Violation(
                        "budget",
                        f"NodePool {pool_name}",
                        f"{len(disrupting)} of {len(members)} nodes disrupting "
                        f"[{', '.join(disrupting)}] when [{', '.join(sorted(names))}] started "
                        f"{reason} disruptions; budget {budget} allows {limit}",
                        now,
                    )
                )
        return out

    def _pool(self, name: str) -> NodePoolView | None:
        try:
            return NodePoolView.from_object(
                self._client.get(KARPENTER, "NodePool", name, copy=False)
            )
        except ShipyardError:
            return None

    # -- PodDisruptionBudgets ---------------------------------------------------------------------

    def _pdbs(self, now: float) -> list[Violation]:
        departures = self._tracker.take_departures()
        self.departures += len(departures)
        if not departures:
            return []
        deadlines = self._grace_deadlines()
        departures = [d for d in departures if d.deleted_at < deadlines.get(d.node, math.inf) - 1]
        out: list[Violation] = []
        for pdb in self._client.list("policy/v1", "PodDisruptionBudget", copy=False).items:
            md = meta(pdb)
            selector = LabelSelector.from_dict((pdb.get("spec") or {}).get("selector"))
            mine = [
                d
                for d in departures
                if d.namespace == md.get("namespace") and selector.matches(d.labels)
            ]
            if not mine or selector.match_nothing:
                continue
            judged = assess(self._client, pdb, now)
            if judged.error is not None or judged.healthy >= judged.desired:
                continue
            names = ", ".join(sorted(d.name for d in mine))
            out.append(
                Violation(
                    "pdb",
                    f"PodDisruptionBudget {md.get('namespace')}/{md.get('name')}",
                    f"{judged.healthy} healthy pods, {judged.desired} required, after "
                    f"[{names}] left disrupted nodes",
                    now,
                )
            )
        return out

    def _grace_deadlines(self) -> dict[str, float]:
        """Node name -> when its claim's terminationGracePeriod runs out (deleting claims)."""
        out: dict[str, float] = {}
        for claim in self._client.list(KARPENTER, "NodeClaim", copy=False).items:
            deleted = meta(claim).get("deletionTimestamp")
            grace = (claim.get("spec") or {}).get("terminationGracePeriod")
            node = (claim.get("status") or {}).get("nodeName")
            if deleted and grace and node:
                out[str(node)] = parse_time(str(deleted)) + parse_duration(str(grace))
        return out

    # -- pods with controllers --------------------------------------------------------------------

    def _pods(self, now: float) -> list[Violation]:
        waiting = self._tracker.waiting
        out: list[Violation] = []
        for subject, since in self._pending.track(waiting, now).items():
            start = min(since, waiting[subject])
            if now - start > self.pending_bound:
                out.append(
                    Violation(
                        "pod",
                        f"Pod {subject}",
                        f"unscheduled for {now - start:.0f}s (bound {self.pending_bound:.0f}s)",
                        now,
                    )
                )
        short = self._short_controllers(self._tracker.active)
        for subject, since in self._short.track(short, now).items():
            if now - since > self.pending_bound:
                have, want = short[subject]
                out.append(
                    Violation(
                        "pod",
                        subject,
                        f"{have} of {want} pods for {now - since:.0f}s: a pod was lost without "
                        f"a replacement (bound {self.pending_bound:.0f}s)",
                        now,
                    )
                )
        return out

    def _short_controllers(
        self, active: Mapping[tuple[str, str, str], int]
    ) -> dict[str, tuple[int, int]]:
        """``Kind ns/name`` -> (active pods, spec.replicas) of each scaled controller short."""
        out: dict[str, tuple[int, int]] = {}
        for kind in sorted(_SCALED_KINDS):
            for owner in self._client.list(_SCALED_API, kind, copy=False).items:
                if is_terminating(owner):
                    continue
                md = meta(owner)
                want = int((owner.get("spec") or {}).get("replicas", 1) or 0)
                have = active.get((kind, str(md.get("namespace") or ""), str(md.get("name"))), 0)
                if have < want:
                    out[f"{kind} {md.get('namespace')}/{md.get('name')}"] = (have, want)
        return out

    # -- instances --------------------------------------------------------------------------------

    def _instances(self, now: float) -> list[Violation]:
        claimed = {
            str((c.get("status") or {}).get("providerID") or "")
            for c in self._client.list(KARPENTER, "NodeClaim", copy=False).items
        }
        billed = {i.provider_id: i for i in self._cloud.list() if i.state == "running"}
        orphans = [p for p in billed if p not in claimed]
        out: list[Violation] = []
        for provider_id, since in self._orphans.track(orphans, now).items():
            if now - since > self.orphan_bound:
                instance = billed[provider_id]
                out.append(
                    Violation(
                        "instance",
                        f"instance {provider_id}",
                        f"{instance.instance_type} billed without a NodeClaim for "
                        f"{now - since:.0f}s (bound {self.orphan_bound:.0f}s)",
                        now,
                    )
                )
        return out


# --- helpers -------------------------------------------------------------------------------------


def _disruption_id(claim: Mapping[str, Any]) -> str:
    """One disruption of one claim (a claim rolled back and disrupted again is judged again)."""
    since = (condition(claim, DISRUPTION_REASON) or {}).get("lastTransitionTime")
    return f"{meta(claim).get('uid') or meta(claim).get('name')}@{since}"


def _pool_of(claim: Mapping[str, Any]) -> str:
    return str((meta(claim).get("labels") or {}).get(NODEPOOL) or "")


def _budget_reason(claim: Mapping[str, Any]) -> str:
    found = condition(claim, DISRUPTION_REASON) or {}
    reason = str(found.get("reason") or "")
    return reason if found.get("status") == "True" and reason in BUDGET_REASONS else ""


def _disrupting(claim: Mapping[str, Any], tainted: set[str]) -> bool:
    node = str((claim.get("status") or {}).get("nodeName") or "")
    return is_terminating(claim) or (bool(node) and node in tainted)


def _limit(pool: NodePoolView, reason: str, total: int, now: float) -> tuple[int, str]:
    """The tightest active budget's allowance for ``reason``, and how it reads."""
    active = [
        (b.allowed_disruptions(total), b.nodes)
        for b in pool.budgets
        if b.applies_to(reason) and budget_active(b, now)
    ]
    if not active:
        return total, "(none active)"
    allowed, nodes = min(active)
    return min(total, allowed), f'nodes "{nodes}"'


def _waiting(pod: Mapping[str, Any]) -> bool:
    if (pod.get("spec") or {}).get("nodeName") or is_terminating(pod) or is_terminal(pod):
        return False
    return controller_ref(pod) is not None


def _pod_id(pod: Mapping[str, Any]) -> str:
    md = meta(pod)
    return f"{md.get('namespace')}/{md.get('name')}"


class Steppable(Protocol):
    """Anything that advances a simulation (an AutoscaledCluster)."""

    def run_for(self, seconds: float) -> None: ...


def run_checked(
    system: Steppable, checker: InvariantChecker, seconds: float, *, step: float = 1.0
) -> int:
    """Advance ``system`` by ``seconds`` in steps of ``step``, checking after each step;
    ``InvariantViolation`` at the first step that breaks one. The number of steps run."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    steps = max(1, math.ceil(seconds / step - 1e-9))
    done = 0.0
    for _ in range(steps):
        chunk = min(step, seconds - done)
        system.run_for(chunk)
        done += chunk
        checker.check()
    return steps
