"""Interruption handling: the cloud's warnings become cordon-and-drain before the machine goes.

The cloud provider's message stream (``cloud.interruptions()``, each message delivered once) is
polled every ``poll`` seconds on the clock by :class:`InterruptionController`
(``interruption``). Each message names an instance; the NodeClaim whose ``status.providerID``
is that instance's is acted on as Karpenter's documented interruption handling says:

=========================================  ==================================================
message                                    action
=========================================  ==================================================
spot interruption warning (2-minute        the offering (instance type, zone, ``spot``) is
notice)                                    marked unavailable for 3 minutes, so the
                                           replacement is planned elsewhere; the claim is
                                           deleted at once
rebalance recommendation                   an event only (Karpenter does not drain on it)
scheduled change (maintenance)             the claim is deleted
state change: stopping, stopped,           the claim is deleted
shutting-down, terminated
=========================================  ==================================================

Deleting the claim is what cordons and drains the node: the lifecycle's termination taints it
``karpenter.sh/disrupted:NoSchedule``, evicts its pods through the Eviction API (budgets
respected, bounded by ``terminationGracePeriod``) and terminates the instance. The evicted
pods' controllers recreate them, the provisioner sees them pending and launches a replacement
in parallel with the drain — for spot, well inside the two minutes a node needs ~25 s to
start. Pods the reclaim kills before they could be evicted are recreated the same way, so no
pod with a controller is lost.

Before deleting, the claim gets the ``DisruptionReason`` condition (reason ``Interrupted``).
Events, on the Node (when there is one) and the claim, use Karpenter's reasons:
``SpotInterrupted``, ``RebalanceRecommendation``, ``InstanceUnhealthy`` (scheduled change),
``InstanceStopping``, ``InstanceTerminating``, then ``TerminatingOnInterruption`` when the
claim is deleted. Messages about instances no claim names are dropped (counted in
:attr:`InterruptionController.unmatched`): the garbage collector owns such instances.

The controller has one key (:data:`POLL_KEY`); the first NodeClaim event (or
``Manager.enqueue``) starts the poll, which then reschedules itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.disruption.expiration import mark_disruption_reason
from shipyard.autoscaler.disruption.types import INTERRUPTED
from shipyard.autoscaler.lifecycle.model import API_VERSION, KIND
from shipyard.cloud.provider import CloudProvider, Interruption
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import ConflictError, NotFoundError, ShipyardError
from shipyard.core.labels import CAPACITY_TYPE, CAPACITY_TYPE_SPOT, INSTANCE_TYPE, ZONE
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta

__all__ = [
    "DEFAULT_POLL",
    "POLL_KEY",
    "SPOT_INTERRUPTION",
    "InterruptionController",
    "Reaction",
    "reaction",
]

log = logging.getLogger(__name__)

DEFAULT_POLL = 2.0
POLL_KEY = ObjectKey(API_VERSION, KIND, "", "*interruption*")
SPOT_INTERRUPTION = "spot-interruption"
REBALANCE = "rebalance"
SCHEDULED_CHANGE = "scheduled-change"
STATE_CHANGE = "state-change"
_CONFLICT_RETRIES = 5
_LEAVING_STATES = frozenset({"stopping", "stopped", "shutting-down", "terminated"})


@dataclass(frozen=True)
class Reaction:
    """What one message calls for: an event, and whether the claim goes."""

    reason: str  # the event's reason
    message: str
    type_: str = WARNING
    delete: bool = False
    mark_spot_unavailable: bool = False


def reaction(message: Interruption) -> Reaction | None:
    """The reaction to a message (module docstring table); None for a state change that
    needs none (``pending``, ``running``) or a kind this controller does not know."""
    match message.kind:
        case "spot-interruption":
            return Reaction(
                "SpotInterrupted",
                "Spot interruption warning was triggered",
                delete=True,
                mark_spot_unavailable=True,
            )
        case "rebalance":
            return Reaction(
                "RebalanceRecommendation", "Rebalance recommendation was triggered", NORMAL
            )
        case "scheduled-change":
            return Reaction(
                "InstanceUnhealthy", "A scheduled maintenance event was triggered", delete=True
            )
        case "state-change" if message.state in _LEAVING_STATES:
            stopping = message.state in ("stopping", "stopped")
            reason = "InstanceStopping" if stopping else "InstanceTerminating"
            return Reaction(reason, f"Instance is {message.state}", delete=True)
    return None


class InterruptionController:
    """Polls the cloud's interruption messages and acts on them (see the module docstring)."""

    name = "interruption"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        unavailable: UnavailableOfferings | None = None,
        recorder: EventRecorder | None = None,
        poll: float = DEFAULT_POLL,
    ) -> None:
        if poll <= 0:
            raise ValueError(f"poll must be positive, got {poll}")
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._unavailable = unavailable
        self._recorder = recorder or EventRecorder(client, "karpenter")
        self._poll = poll
        self._polling = False
        self.handled: list[tuple[str, str]] = []  # (message kind, claim name), in order
        self.unmatched = 0  # messages about instances no claim names

    def watches(self) -> list[Watches]:
        return [Watches(API_VERSION, KIND, self._kick)]

    def _kick(self, _claim: Obj) -> tuple[ObjectKey, ...]:
        return () if self._polling else (POLL_KEY,)

    def reconcile(self, key: ObjectKey) -> Result | None:
        self._polling = True
        messages = self._cloud.interruptions()
        if messages:
            self.handle(messages)
        return Result(requeue_after=self._poll)

    def handle(self, messages: Sequence[Interruption]) -> None:
        """Act on ``messages`` in order (one listing of the claims for the whole batch)."""
        claims = {
            str((c.get("status") or {}).get("providerID") or ""): c
            for c in self._client.list(API_VERSION, KIND, copy=False).items
        }
        for message in messages:
            claim = claims.get(message.provider_id)
            found = reaction(message)
            if claim is None:
                self.unmatched += 1
                log.debug("interruption %s for %s: no NodeClaim", message.kind, message.provider_id)
                continue
            if found is not None:
                self._react(message, claim, found)

    def _react(self, message: Interruption, claim: Obj, found: Reaction) -> None:
        name = str(meta(claim).get("name"))
        node = self._node(claim)
        for obj in (node, claim):
            if obj is not None:
                self._recorder.event(obj, found.type_, found.reason, found.message)
        if found.mark_spot_unavailable:
            self._mark_unavailable(message, claim)
        if found.delete and not is_terminating(claim):
            self._delete(claim, found)
        self.handled.append((message.kind, name))

    def _mark_unavailable(self, message: Interruption, claim: Mapping[str, Any]) -> None:
        if self._unavailable is None:
            return
        labels = meta(claim).get("labels") or {}
        instance_type, zone = labels.get(INSTANCE_TYPE), labels.get(ZONE)
        if not instance_type or not zone:
            with contextlib.suppress(NotFoundError):
                instance = self._cloud.get(message.provider_id)
                instance_type, zone = instance.instance_type, instance.zone
        if instance_type and zone:
            capacity_type = str(labels.get(CAPACITY_TYPE) or CAPACITY_TYPE_SPOT)
            self._unavailable.mark(
                str(instance_type), str(zone), capacity_type, reason="SpotInterruption"
            )

    def _delete(self, claim: Obj, found: Reaction) -> None:
        name = str(meta(claim).get("name"))
        written = self._mark_reason(claim, f"{found.reason}: {found.message}")
        with contextlib.suppress(NotFoundError):
            self._client.delete(API_VERSION, KIND, name)
            self._recorder.event(
                written,
                NORMAL,
                "TerminatingOnInterruption",
                "Interruption triggered termination for the NodeClaim",
            )

    def _mark_reason(self, claim: Obj, why: str) -> Obj:
        """Record ``DisruptionReason=Interrupted`` (re-reading on conflict: the message has
        been consumed, so this pass must not fail); the claim as last seen."""
        for _ in range(_CONFLICT_RETRIES):
            marked = json_copy(claim)
            mark_disruption_reason(marked, INTERRUPTED, why, now=self._clock.now())
            try:
                return self._client.update_status(marked, handoff=True)
            except ConflictError:
                fresh = self._get_claim(str(meta(claim).get("name")))
                if fresh is None:
                    break
                claim = fresh
            except NotFoundError:
                break
        return claim

    def _get_claim(self, name: str) -> Obj | None:
        try:
            return self._client.get(API_VERSION, KIND, name)
        except NotFoundError:
            return None

    def _node(self, claim: Mapping[str, Any]) -> Obj | None:
        node_name = (claim.get("status") or {}).get("nodeName")
        if not node_name:
            return None
        try:
            return self._client.get("v1", "Node", str(node_name), copy=False)
        except ShipyardError:
            return None
