"""Terminating a NodeClaim: cordon, drain, terminate the instance, release the finalizers.

A claim being deleted keeps the ``karpenter.sh/termination`` finalizer until its machine is
really gone. Each look (:meth:`Terminator.finalize`, run by the lifecycle controller's
reconcile) moves as far as it can and asks to be looked at again:

1. **Cordon** the node: ``spec.unschedulable`` and the ``karpenter.sh/disrupted:NoSchedule``
   taint, so nothing new lands there.
2. **Drain** it (:mod:`.drain`): evict through the Eviction API (budgets hold pods back; a
   refusal is a ``FailedDraining`` event on the claim and a retry), delete what the
   terminationGracePeriod no longer leaves time for, and wait until every drainable pod is
   gone (condition ``Drained``). Pods leaving the node wake the claim; a poll
   (``drain_poll``) backs that up. At the terminationGracePeriod deadline the drain ends
   whatever is left.
3. **Terminate** the instance: ``cloud.delete`` until the cloud says it does not know it
   (``NotFoundError`` from ``delete`` or ``get``); meanwhile ``InstanceTerminating=True`` and
   a look every ``termination_poll`` seconds. An instance already gone is not an error.
4. **Release**: the Node is deleted and loses its finalizer, then the claim loses its own,
   and the store removes it.

The terminationGracePeriod is the claim's ``spec.terminationGracePeriod``, else its NodePool
template's. A claim that never launched (no ``status.providerID``) has nothing to drain or
terminate and is released at once; an instance a lost write left behind is the garbage
collector's.

Deliberate difference from Karpenter: Karpenter deletes the Node object first and a separate
node-termination controller drains it; here one controller drains the claim's node and the
Node is deleted last, after the instance is gone — the same order of effects on pods and on
the cloud, with one less hand-off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.autoscaler.apis import NodeClaimView, NodePoolView
from shipyard.autoscaler.lifecycle.drain import NodeDrain, plan_node_drain
from shipyard.autoscaler.lifecycle.index import ProviderIndex
from shipyard.autoscaler.lifecycle.launch import nodepool_of
from shipyard.autoscaler.lifecycle.model import (
    DRAINED,
    INSTANCE_TERMINATING,
    TERMINATION_FINALIZER,
    LifecycleOptions,
    set_claim_condition,
)
from shipyard.autoscaler.lifecycle.nodes import cordon, without_finalizer
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.cluster.events import WARNING, EventRecorder
from shipyard.cluster.runtime import Result
from shipyard.core.clock import parse_time
from shipyard.core.errors import (
    ConflictError,
    NotFoundError,
    ShipyardError,
    TooManyRequestsError,
)
from shipyard.core.objects import Obj, json_copy, meta

__all__ = ["Terminator"]


class Terminator:
    """The deletion half of the lifecycle (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        recorder: EventRecorder,
        options: LifecycleOptions,
        index: ProviderIndex,
        view_of: Callable[[Obj], NodeClaimView] = NodeClaimView.from_object,
    ) -> None:
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._recorder = recorder
        self._options = options
        self._index = index
        self._view_of = view_of
        self.draining: dict[str, str] = {}  # node name -> claim name

    def finalize(self, claim: Obj) -> Result | None:
        """One look at a claim being deleted; the claim is this reconcile's own copy."""
        if TERMINATION_FINALIZER not in (meta(claim).get("finalizers") or ()):
            return None
        before = json_copy(claim.get("status") or {})
        node = self.node_of(claim)
        if node is not None:
            wait = self._drain(claim, node)
            if wait is not None:
                self._write_status(claim, before)
                return Result(requeue_after=wait)
        provider_id = str((claim.get("status") or {}).get("providerID") or "")
        if provider_id and not self._instance_gone(provider_id):
            set_claim_condition(
                claim, INSTANCE_TERMINATING, "True", INSTANCE_TERMINATING,
                "Instance is terminating", now=self._clock.now(),
            )  # fmt: skip
            self._write_status(claim, before)
            return Result(requeue_after=self._options.termination_poll)
        if node is not None:
            self._release_node(str(meta(node).get("name")))
        claim_name = meta(claim).get("name")
        self.draining = {n: c for n, c in self.draining.items() if c != claim_name}
        released = without_finalizer(claim)
        if released is not None:
            self._client.update(released, handoff=True)
        return None

    def node_of(self, claim: Mapping[str, Any]) -> Obj | None:
        """The claim's Node (by ``status.nodeName``, else by provider id), as stored: shared,
        read-only (the functions of :mod:`.nodes` return changed copies)."""
        status = claim.get("status") or {}
        provider_id = str(status.get("providerID") or "")
        name = status.get("nodeName") or self._index.node(provider_id)
        if not name or not provider_id:
            return None
        try:
            node = self._client.get("v1", "Node", str(name), copy=False)
        except NotFoundError:
            return None
        return node if (node.get("spec") or {}).get("providerID") == provider_id else None

    # -- drain ------------------------------------------------------------------------------

    def _drain(self, claim: Obj, node: Obj) -> float | None:
        """Cordon and drain; None when the node is drained (or out of time), else the wait."""
        now = self._clock.now()
        name = str(meta(node).get("name"))
        cordoned = cordon(node)
        if cordoned is not None:
            self._client.update(cordoned, handoff=True)
        self.draining[name] = str(meta(claim).get("name"))
        deadline = self._deadline(claim)
        pods = self._client.list("v1", "Pod", field_selector=f"spec.nodeName={name}", copy=False)
        plan = plan_node_drain(
            pods.items, now=now, deadline=deadline, daemon_set_exists=self._daemon_set_exists
        )
        self._act(claim, plan)
        if plan.drained or (deadline is not None and now >= deadline):
            self.draining.pop(name, None)
            message = "" if plan.drained else "terminationGracePeriod elapsed"
            set_claim_condition(claim, DRAINED, "True", DRAINED, message, now=now)
            return None
        waiting = len(plan.waiting)
        set_claim_condition(
            claim,
            DRAINED,
            "False",
            "Draining",
            f"{waiting} pods are waiting to be evicted",
            now=now,
        )
        candidates = [self._options.drain_poll]
        for at in (plan.next_deadline, deadline):
            if at is not None:
                candidates.append(at - now)
        return max(0.0, min(candidates))

    def _act(self, claim: Obj, plan: NodeDrain) -> None:
        for pod in plan.delete:
            md = meta(pod)
            with contextlib.suppress(NotFoundError, ConflictError):
                self._client.delete(
                    "v1", "Pod", str(md.get("name")), namespace=str(md.get("namespace") or ""),
                    preconditions={"uid": md.get("uid")},
                )  # fmt: skip
        refused = 0
        for pod in plan.evict:
            md = meta(pod)
            try:
                self._client.evict(str(md.get("name")), namespace=str(md.get("namespace") or ""))
            except NotFoundError:
                continue
            except TooManyRequestsError:
                refused += 1
        if refused:
            self._recorder.event(
                claim, WARNING, "FailedDraining",
                f"Failed to drain node, {refused} pods are waiting to be evicted",
            )  # fmt: skip

    def _daemon_set_exists(self, namespace: str, name: str) -> bool:
        try:
            self._client.get("apps/v1", "DaemonSet", name, namespace=namespace, copy=False)
        except NotFoundError:
            return False
        return True

    def _deadline(self, claim: Obj) -> float | None:
        """When the terminationGracePeriod runs out, counted from the deletion."""
        deleted = meta(claim).get("deletionTimestamp")
        grace = self._grace_period(claim)
        if grace is None or not deleted:
            return None
        return parse_time(str(deleted)) + grace

    def _grace_period(self, claim: Obj) -> float | None:
        try:
            view = self._view_of(claim)
        except ShipyardError:
            return None
        if view.termination_grace_period is not None:
            return view.termination_grace_period
        pool = nodepool_of(claim, view)
        if not pool:
            return None
        try:
            nodepool = self._client.get("karpenter.sh/v1", "NodePool", pool, copy=False)
            return NodePoolView.from_object(nodepool).termination_grace_period
        except ShipyardError:
            return None

    # -- the instance and the finalizers ------------------------------------------------------

    def _instance_gone(self, provider_id: str) -> bool:
        try:
            self._cloud.delete(provider_id)
            self._cloud.get(provider_id)
        except NotFoundError:
            return True
        return False

    def _release_node(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            self._client.delete("v1", "Node", name)
            node = self._client.get("v1", "Node", name)
            released = without_finalizer(node)
            if released is not None:
                self._client.update(released, handoff=True)

    def _write_status(self, claim: Obj, before: Mapping[str, Any]) -> None:
        if (claim.get("status") or {}) != before:
            self._client.update_status(claim, handoff=True)
