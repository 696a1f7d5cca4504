"""Expiration: a NodeClaim older than its ``expireAfter`` is deleted, whatever else holds.

Karpenter's documented expiration is a *forceful* method: as soon as a claim has lived for
``spec.expireAfter`` (copied from its NodePool's template when the claim was made; ``720h`` by
default, ``Never`` to switch it off) it is deleted — NodePool disruption budgets and
consolidation settings do not hold it back, and no replacement is launched first. Deletion
hands the claim to the lifecycle's termination (cordon, drain through the Eviction API so
PodDisruptionBudgets are respected, bounded by ``terminationGracePeriod``): pods annotated
``karpenter.sh/do-not-disrupt`` do not stop the expiry, they hold the drain back until that
deadline, as Karpenter v1 documents. The evicted pods' controllers recreate them, the new pods
are pending, and the provisioner launches what they need as for any pending pod.

:class:`NodeClaimExpiration` (``nodeclaim.expiration``) reconciles a claim when it changes and
asks to look again when it will expire, so an expiry is acted on at the second it falls due.
Before deleting it records why on the claim — the ``DisruptionReason`` status condition with
reason ``Expired``, as Karpenter v1 marks claims it disrupts — and an ``Expired`` event.
:func:`expires_at` is the arithmetic, on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from shipyard.autoscaler.apis import NodeClaimView
from shipyard.autoscaler.disruption.types import DISRUPTION_REASON, EXPIRED
from shipyard.autoscaler.lifecycle.model import API_VERSION, KIND
from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, EventRecorder
from shipyard.cluster.podutil import is_terminating, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import parse_time
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta

__all__ = ["DISRUPTION_REASON", "NodeClaimExpiration", "expires_at", "mark_disruption_reason"]


def expires_at(claim: Mapping[str, Any]) -> float | None:
    """When the claim expires (clock seconds), or ``None`` (``Never``, or not created yet).

    ``ShipyardError`` when the claim's spec is invalid (``spec.expireAfter`` unparsable).
    """
    created = meta(claim).get("creationTimestamp")
    if not created:
        return None
    expire_after = NodeClaimView.from_object(claim).expire_after
    if expire_after is None:
        return None
    return parse_time(str(created)) + expire_after


def mark_disruption_reason(claim: Obj, reason: str, message: str, *, now: float) -> None:
    """Set the ``DisruptionReason`` condition in place (``True``, ``reason``)."""
    set_condition(claim, DISRUPTION_REASON, "True", now=now, reason=reason, message=message)


class NodeClaimExpiration:
    """Deletes NodeClaims that outlived ``expireAfter`` (see the module docstring)."""

    name = "nodeclaim.expiration"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._clock = client.clock
        self._recorder = recorder or EventRecorder(client, "karpenter")
        # claim name -> (uid, expires_at); a claim's spec is immutable, so this never goes stale
        self._expiry: dict[str, tuple[str, float | None]] = {}
        self.expired: list[str] = []  # names of the claims expired, in order (for reports)

    def watches(self) -> list[Watches]:
        return [Watches(API_VERSION, KIND)]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            claim = self._client.get(API_VERSION, KIND, key.name, copy=False)
        except NotFoundError:
            self._expiry.pop(key.name, None)
            raise
        if is_terminating(claim):
            self._expiry.pop(key.name, None)
            return None
        at = self._expires_at(claim)
        now = self._clock.now()
        if at is None:
            return None
        if now < at:
            return Result(requeue_after=at - now)
        self._expire(claim, now)
        self._expiry.pop(key.name, None)
        return None

    def _expires_at(self, claim: Obj) -> float | None:
        md = meta(claim)
        name, uid = str(md.get("name")), str(md.get("uid") or "")
        cached = self._expiry.get(name)
        if cached is not None and cached[0] == uid:
            return cached[1]
        try:
            at = expires_at(claim)
        except ShipyardError:
            at = None  # admission keeps such claims out; nothing to judge
        self._expiry[name] = (uid, at)
        return at

    def _expire(self, claim: Obj, now: float) -> None:
        name = str(meta(claim).get("name"))
        lived = (claim.get("spec") or {}).get("expireAfter")
        message = f"NodeClaim {name} expired after {lived} (expireAfter)"
        marked = json_copy(claim)
        mark_disruption_reason(marked, EXPIRED, message, now=now)
        with contextlib.suppress(NotFoundError):
            written = self._client.update_status(marked, handoff=True)
            self._client.delete(API_VERSION, KIND, name)
            self.expired.append(name)
            self._recorder.event(written, NORMAL, EXPIRED, message)
