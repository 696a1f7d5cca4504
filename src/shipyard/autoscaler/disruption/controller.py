"""The disruption controller: one pass at a time decides, validates and carries out disruption.

::

    every 10 s, or at once after an action
      read the cluster once ─► candidates (do-not-disrupt, PDBs, nominations excluded)
                               budgets per pool and reason (nodes already disrupting count)
      first method with work: emptiness → drift → multi-node → single-node consolidation
         │ command.validate: wait 15 s, re-check (validation.py), abort if anything changed
         ▼
      execute:  taint nodes karpenter.sh/disrupted:NoSchedule, DisruptionReason condition
                ─► create the replacement NodeClaims ─► wait until they are Initialized
                ─► delete the candidate NodeClaims (the lifecycle drains through the
                   Eviction API, bounded by terminationGracePeriod, and terminates)
      failure (a replacement deleted or not initialized in time, a write refused):
                the taint and condition are rolled back; the next pass starts afresh
                (replacements that did start are left as ordinary capacity: if nothing
                needs them, consolidation removes them like any other node)

The methods are given as a list (:func:`standard_methods` builds Karpenter's order, with the
drift method plugged in when given); the controller hands each one the candidates its
``should_disrupt`` keeps and a copy of the budgets, and takes the first command. Methods
that simulate scheduling share :attr:`DisruptionController.rescheduler`, which answers from
the pass in progress.

One command is validated at a time, but several may be executing (waiting for replacements)
while later passes go on; their nodes are tainted, so they count as disrupting against the
budgets and are no longer candidates. When nothing in the cluster changed since a pass that
found nothing (same candidates, same budgets, no pod placed on or gone from a node, no node
or NodeClaim changed — heartbeats and readiness do not count), the methods are not run again
for up to five minutes (Karpenter's consolidation TTL: prices move without objects changing).

Events (component ``karpenter``), Karpenter's names: ``DisruptionBlocked`` on a node that
may not be disrupted (once per reason), ``Unconsolidatable`` (once per reason, from
single-node consolidation), ``DisruptionLaunching`` and ``DisruptionWaitingReadiness`` on a
replacement, ``DisruptionTerminating`` on a candidate when it is deleted,
``DisruptionAborted`` when validation fails and ``DisruptionRolledBack`` on a failure.
The NodeClaims of a command carry the condition ``DisruptionReason=True`` with the reason
(``Empty``, ``Underutilized``, ``Drifted``) until deleted or rolled back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.autoscaler.disruption.budgets import budget_map
from shipyard.autoscaler.disruption.candidates import NOMINATION_WINDOW, build_candidates
from shipyard.autoscaler.disruption.consolidation import (
    MultiNodeConsolidation,
    SingleNodeConsolidation,
)
from shipyard.autoscaler.disruption.emptiness import Emptiness
from shipyard.autoscaler.disruption.informer import ClusterReader
from shipyard.autoscaler.disruption.simulation import CurrentSimulation, SchedulingSimulation
from shipyard.autoscaler.disruption.state import KARPENTER, ClusterState, PoolCache
from shipyard.autoscaler.disruption.types import (
    DISRUPTION_REASON,
    BudgetMap,
    Candidate,
    Command,
    DisruptionMethod,
    Rescheduler,
)
from shipyard.autoscaler.disruption.validation import VALIDATION_PERIOD, PendingCommand, validate
from shipyard.autoscaler.lifecycle import DISRUPTED_TAINT, INITIALIZED
from shipyard.autoscaler.lifecycle.model import condition_status
from shipyard.autoscaler.lifecycle.nodes import has_taint
from shipyard.autoscaler.provisioning.controller import Provisioner, nodeclaim_for
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import is_terminating, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, meta

__all__ = [
    "DISRUPTION_REASON",
    "PASS_KEY",
    "DisruptionController",
    "DisruptionOptions",
    "Execution",
    "standard_methods",
]

PASS_KEY = ObjectKey(KARPENTER, "NodePool", "", "*disruption*")
COMPONENT = "karpenter"

MethodFactory = Callable[[Rescheduler], Sequence[DisruptionMethod]]


@dataclass(frozen=True)
class DisruptionOptions:
    """Periods (seconds) and switches; the defaults are Karpenter's."""

    poll: float = 10.0  # between passes that found nothing
    validation_period: float = VALIDATION_PERIOD
    nomination_window: float = NOMINATION_WINDOW
    replacement_poll: float = 5.0  # re-check replacements still starting
    replacement_timeout: float = 1_200.0  # give up on replacements not initialized by then
    spot_to_spot: bool = False
    # A pass that found nothing is not repeated while nothing changed, for at most this long
    # (prices and offerings move without any object changing).
    consolidation_ttl: float = 300.0

    def __post_init__(self) -> None:
        for name in ("poll", "replacement_poll", "replacement_timeout", "consolidation_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.validation_period < 0 or self.nomination_window < 0:
            raise ValueError("validation_period and nomination_window must not be negative")


def standard_methods(
    rescheduler: Rescheduler,
    *,
    drift: DisruptionMethod | None = None,
    spot_to_spot: bool = False,
) -> list[DisruptionMethod]:
    """Karpenter's order: emptiness → drift (when given) → multi-node → single-node."""
    methods: list[DisruptionMethod] = [Emptiness()]
    if drift is not None:
        methods.append(drift)
    methods.append(MultiNodeConsolidation(rescheduler, spot_to_spot=spot_to_spot))
    methods.append(SingleNodeConsolidation(rescheduler, spot_to_spot=spot_to_spot))
    return methods


@dataclass
class Execution:
    """A command being carried out: its replacements are starting."""

    command: Command
    started: float
    replacements: list[str] = field(default_factory=list)


class DisruptionController:
    """Runs disruption passes and executes their commands (see the module docstring)."""

    name = "disruption"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        methods: MethodFactory | None = None,
        provisioner: Provisioner | None = None,
        recorder: EventRecorder | None = None,
        options: DisruptionOptions | None = None,
    ) -> None:
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._provisioner = provisioner
        self._recorder = recorder or EventRecorder(client, COMPONENT)
        self.options = options or DisruptionOptions()
        self.rescheduler = CurrentSimulation()
        spot = self.options.spot_to_spot
        factory = methods or (lambda r: standard_methods(r, spot_to_spot=spot))
        self.methods: list[DisruptionMethod] = list(factory(self.rescheduler))
        self.pending: PendingCommand | None = None
        self.executing: list[Execution] = []
        self.history: list[Command] = []  # commands carried out (for tests and reports)
        self.aborted: list[str] = []  # why validations or executions failed
        self._changes = 0
        self._pods: dict[str, tuple[object, bool]] = {}  # pod uid -> (node name, finished)
        self._nodes: dict[str, tuple[object, ...]] = {}  # node name -> what simulations read
        self._idle_at: tuple[object, ...] | None = None
        self._idle_since = 0.0
        self._told: dict[tuple[str, str], str] = {}  # (claim, event reason) -> message
        self._generations: dict[str, object] = {}  # NodePool name -> generation seen
        self._pool_cache = PoolCache()
        self._reader: ClusterReader | None = None

    def close(self) -> None:
        """Stop following the cluster's changes (a later pass starts following again)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- watches --------------------------------------------------------------------------------

    def watches(self) -> list[Watches]:
        return [
            Watches(KARPENTER, "NodePool", self._pool_key),
            Watches(KARPENTER, "NodeClaim", self._claim_key),
            Watches("v1", "Node", self._node_changed),
            Watches("v1", "Pod", self._pod_changed),
        ]

    def _pod_changed(self, pod: Obj) -> tuple[ObjectKey, ...]:
        """A change only when a pod lands on a node, leaves one or finishes (not on status
        writes such as readiness): what Karpenter marks the cluster unconsolidated for."""
        md = meta(pod)
        uid = str(md.get("uid") or "")
        gone = bool(md.get("deletionTimestamp")) or (pod.get("status") or {}).get("phase") in (
            "Succeeded",
            "Failed",
        )
        place = ((pod.get("spec") or {}).get("nodeName"), gone)
        if self._pods.get(uid) != place:
            self._changes += 1
            if gone:
                self._pods.pop(uid, None)  # a later event of it counts once more, at worst
            else:
                self._pods[uid] = place
        return ()

    def _node_changed(self, node: Obj) -> tuple[ObjectKey, ...]:
        """A change when what a simulation reads of a node changes (not on heartbeats)."""
        md, spec = meta(node), node.get("spec") or {}
        facts = (
            md.get("labels"),
            md.get("deletionTimestamp"),
            spec.get("taints"),
            spec.get("unschedulable"),
            (node.get("status") or {}).get("allocatable"),
        )
        name = str(md.get("name") or "")
        if self._nodes.get(name) != facts:
            self._changes += 1
            self._nodes[name] = facts
        return ()

    def _pool_key(self, pool: Obj) -> tuple[ObjectKey, ...]:
        """A pass when a NodePool appears or its spec changes (not on status writes)."""
        self._changes += 1
        md = meta(pool)
        name, generation = str(md.get("name")), md.get("generation")
        if self._generations.get(name) == generation:
            return ()
        self._generations[name] = generation
        return (PASS_KEY,)

    def _claim_key(self, claim: Obj) -> tuple[ObjectKey, ...]:
        self._changes += 1
        name = str(meta(claim).get("name"))
        waiting = any(name in e.replacements for e in self.executing)
        return (PASS_KEY,) if waiting else ()

    # -- the pass -------------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        now = self._clock.now()
        state = self._read(now)
        acted = self._advance(state, now)
        if self.pending is not None and now < self.pending.due:
            return Result(requeue_after=self.pending.due - now)
        if acted:
            return Result(requeue_after=0.0)
        if self.pending is not None:
            acted = self._finish_validation(state, now)
        else:
            acted = self._decide(state, now)
        if acted:
            return Result(requeue_after=0.0)
        if self.pending is not None:
            return Result(requeue_after=self.pending.due - now)
        wait = self.options.replacement_poll if self.executing else self.options.poll
        return Result(requeue_after=min(wait, self.options.poll))

    def _read(self, now: float) -> ClusterState:
        if self._reader is None:  # at the first pass: the kinds it reads are served by then
            self._reader = ClusterReader(self._client, self._cloud, pools=self._pool_cache)
        state = self._reader.read(now)
        self.rescheduler.current = SchedulingSimulation(state, nominated=self._nominated(state))
        return state

    def _nominated(self, state: ClusterState) -> dict[tuple[str, str], list[Obj]]:
        if self._provisioner is None or not self._provisioner.nominations:
            return {}
        by_uid = {str(meta(p).get("uid")): p for p in state.snapshot.pods}
        out: dict[tuple[str, str], list[Obj]] = {}
        for uid, nomination in self._provisioner.nominations.items():
            pod = by_uid.get(uid)
            if pod is not None:
                out.setdefault((nomination.kind, nomination.name), []).append(pod)
        return out

    def _recently_nominated(self, now: float) -> Callable[[str, str], bool]:
        window = self.options.nomination_window
        recent: set[tuple[str, str]] = set()
        if self._provisioner is not None:
            recent = {
                (n.kind, n.name)
                for n in self._provisioner.nominations.values()
                if n.at >= now - window
            }
        return lambda claim, node: ("nodeclaim", claim) in recent or ("node", node) in recent

    def _candidates(self, state: ClusterState) -> tuple[list[Candidate], BudgetMap]:
        busy = {c.name for e in self.executing for c in e.command.candidates}
        for told in [k for k in self._told if k[0] not in state.snapshot.claims]:
            del self._told[told]  # forget claims that are gone
        candidates, blocked = build_candidates(
            state, nominated=self._recently_nominated(state.now), exclude=busy
        )
        for claim_name, why in blocked.items():
            self._tell(state, claim_name, "DisruptionBlocked", f"Cannot disrupt Node: {why}")
        return candidates, budget_map(
            [info.view for info in state.pools.values()], state.pool_counts(), state.now
        )

    def _decide(self, state: ClusterState, now: float) -> bool:
        candidates, budgets = self._candidates(state)
        fingerprint = (
            self._changes,
            tuple(c.name for c in candidates),
            tuple(sorted(budgets.allowed.items())),
        )
        if fingerprint == self._idle_at and now - self._idle_since < self.options.consolidation_ttl:
            return False
        for method in self.methods:
            mine = [c for c in candidates if method.should_disrupt(c)]
            if not mine:
                continue
            command = method.compute(mine, budgets.copy())
            if command is None:
                continue
            self._idle_at = None
            if command.validate and self.options.validation_period > 0:
                self.pending = PendingCommand.of(
                    command, method, now, self.options.validation_period
                )
                return False
            return self._execute(command, state, now)
        self._report_unconsolidatable(state)
        self._idle_at, self._idle_since = fingerprint, now
        return False

    def _finish_validation(self, state: ClusterState, now: float) -> bool:
        pending, self.pending = self.pending, None
        assert pending is not None
        candidates, budgets = self._candidates(state)
        found = validate(pending, {c.name: c for c in candidates}, budgets, self.rescheduler)
        if isinstance(found, str):
            self._abort(state, pending.command, found)
            return True
        return self._execute(found, state, now)

    def _abort(self, state: ClusterState, command: Command, why: str) -> None:
        self.aborted.append(why)
        for c in command.candidates:
            claim = state.snapshot.claims.get(c.name)
            if claim is not None:
                self._recorder.event(claim, NORMAL, "DisruptionAborted", why)

    # -- execution ------------------------------------------------------------------------------

    def _execute(self, command: Command, state: ClusterState, now: float) -> bool:
        missing = sorted({r.nodepool for r in command.replacements} - set(state.pools))
        if missing:
            self._abort(state, command, f'nodepool "{missing[0]}" can no longer launch nodes')
            return True
        try:
            for c in command.candidates:
                self._mark(c, command)
            execution = Execution(command, now)
            self.executing.append(execution)
            for planned in command.replacements:
                info = state.pools[planned.nodepool]
                created = self._client.create(
                    nodeclaim_for(planned, info.view, info.obj), handoff=True
                )
                execution.replacements.append(str(meta(created)["name"]))
                message = f"Launching NodeClaim: {command.reason}"
                self._recorder.event(created, NORMAL, "DisruptionLaunching", message)
        except ShipyardError as e:
            self._roll_back(command, f"{command.describe()} failed: {e.message}")
            self.executing = [x for x in self.executing if x.command is not command]
            return True
        if not execution.replacements:
            self._finish(execution)
        return True

    def _mark(self, candidate: Candidate, command: Command) -> None:
        """Taint the node and give the claim its DisruptionReason condition."""
        node = self._client.get("v1", "Node", candidate.node_name)
        if not has_taint(node, DISRUPTED_TAINT):
            node.setdefault("spec", {}).setdefault("taints", []).append(DISRUPTED_TAINT.to_dict())
            self._client.update(node, handoff=True)
        claim = self._client.get(KARPENTER, "NodeClaim", candidate.name)
        set_condition(
            claim,
            DISRUPTION_REASON,
            "True",
            now=self._clock.now(),
            reason=command.reason,
            message=command.describe(),
        )
        self._client.update_status(claim, handoff=True)

    def _advance(self, state: ClusterState, now: float) -> bool:
        """Step every execution waiting for its replacements; True when one finished or failed."""
        acted = False
        for execution in list(self.executing):
            verdict = self._replacements(execution, state, now)
            if verdict == "waiting":
                continue
            acted = True
            self.executing.remove(execution)
            if verdict == "ready":
                self._finish(execution)
            else:
                self._roll_back(execution.command, verdict)
        return acted

    def _replacements(self, execution: Execution, state: ClusterState, now: float) -> str:
        """``ready``, ``waiting``, or why the replacements failed."""
        waiting = False
        for name in execution.replacements:
            claim = state.snapshot.claims.get(name)
            if claim is None or is_terminating(claim):
                return f"replacement nodeclaim {name} was deleted before it initialized"
            if condition_status(claim, INITIALIZED) != "True":
                waiting = True
                key = (name, "DisruptionWaitingReadiness")
                if key not in self._told:
                    self._told[key] = ""
                    message = "Waiting on readiness to continue disruption"
                    self._recorder.event(claim, NORMAL, key[1], message)
        if not waiting:
            return "ready"
        if now >= execution.started + self.options.replacement_timeout:
            return "replacement nodeclaims did not initialize in time"
        return "waiting"

    def _finish(self, execution: Execution) -> None:
        command = execution.command
        for c in command.candidates:
            with contextlib.suppress(NotFoundError):
                claim = self._client.get(KARPENTER, "NodeClaim", c.name, copy=False)
                message = f"Disrupting NodeClaim: {command.reason}"
                self._recorder.event(claim, NORMAL, "DisruptionTerminating", message)
                self._client.delete(KARPENTER, "NodeClaim", c.name)
        if execution in self.executing:
            self.executing.remove(execution)
        self.history.append(command)

    def _roll_back(self, command: Command, why: str) -> None:
        self.aborted.append(why)
        for c in command.candidates:
            with contextlib.suppress(NotFoundError):
                self._unmark(c, why)

    def _unmark(self, candidate: Candidate, why: str) -> None:
        node = self._client.get("v1", "Node", candidate.node_name)
        claim = self._client.get(KARPENTER, "NodeClaim", candidate.name)
        if is_terminating(claim):
            return  # deleted by someone else meanwhile: termination owns the node now
        taints = (node.get("spec") or {}).get("taints") or []
        kept = [t for t in taints if not _is_disrupted(t)]
        if kept != taints:
            node["spec"]["taints"] = kept
            self._client.update(node, handoff=True)
        conditions = (claim.get("status") or {}).get("conditions") or []
        claim.setdefault("status", {})["conditions"] = [
            c for c in conditions if c.get("type") != DISRUPTION_REASON
        ]
        self._client.update_status(claim, handoff=True)
        self._recorder.event(claim, WARNING, "DisruptionRolledBack", why)

    # -- events ---------------------------------------------------------------------------------

    def _tell(self, state: ClusterState, claim_name: str, reason: str, message: str) -> None:
        """An event on the claim and its node, once per (claim, reason, message)."""
        if self._told.get((claim_name, reason)) == message:
            return
        self._told[(claim_name, reason)] = message
        claim = state.snapshot.claims.get(claim_name)
        node = state.node_by_claim.get(claim_name)
        for obj in (claim, node):
            if obj is not None:
                self._recorder.event(obj, NORMAL, reason, message)

    def _report_unconsolidatable(self, state: ClusterState) -> None:
        for method in self.methods:
            if isinstance(method, SingleNodeConsolidation):
                for claim_name, why in method.unconsolidatable.items():
                    self._tell(state, claim_name, "Unconsolidatable", why)


def _is_disrupted(taint: Mapping[str, object]) -> bool:
    return taint.get("key") == DISRUPTED_TAINT.key and taint.get("effect") == DISRUPTED_TAINT.effect
