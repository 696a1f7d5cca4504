"""``NodeClaimLifecycle``: a NodeClaim from creation to a Ready node, and back to nothing.

One controller, ``nodeclaim.lifecycle``, watching NodeClaims, Nodes (mapped to their claim
by owner reference or provider id) and the Pods of nodes being drained. A reconcile reads the
claim, adds the ``karpenter.sh/termination`` finalizer if it lacks it (its own write, so no
instance can exist for a claim that could vanish without termination), then runs the
sub-steps on that in-memory copy and writes at most twice at the end — metadata (labels,
annotations) and status — as Karpenter's lifecycle controller does:

1. **Liveness**: a claim not launched 5 minutes after its creation, or launched and not
   registered after 15, is deleted (events ``LaunchTimeout`` / ``RegistrationTimeout``);
   termination then removes any instance.
2. **Launch** (no ``status.providerID`` yet): the node class from ``spec.nodeClassRef`` (missing:
   ``Launched=False``, reason ``NodeClassNotFound``), the NodePool named by the claim's
   ``karpenter.sh/nodepool`` label (a claim without one launches too), the cloud's instance
   types narrowed to the claim (:mod:`.launch`), then ``cloud.create``. Success records the
   instance on the claim, ``Launched=True`` and a ``Launched`` event. Insufficient capacity
   marks the offerings the cloud names unavailable (3 minutes, in the shared
   :class:`~shipyard.cloud.unavailable.UnavailableOfferings`) and deletes the claim with an
   ``InsufficientCapacityError`` event naming them, so the provisioner plans the pods again.
   Any other error is ``Launched=False`` (reason ``LaunchFailed``, the error as message),
   retried after ``backoff_base × 2^(n-1)`` seconds up to ``backoff_max``. An instance created
   whose claim write then failed is remembered by the claim's uid and recorded by the next
   reconcile instead of launching a second one (Karpenter keeps the same cache).
3. **Registration** (:func:`~.nodes.register_node`): the Node with the claim's provider id;
   until it appears, ``Registered=Unknown`` (``NodeNotFound``). A node without the
   ``karpenter.sh/unregistered`` taint that was never registered breaks Karpenter's invariant
   (``Registered=False``, ``UnregisteredTaintNotFound``) and is left alone. Otherwise the node is
   synced in one write, then ``status.nodeName``, ``Registered=True``, a ``Registered`` event.
   A registered claim whose node is gone, or being deleted, is deleted too: deleting a node is
   how a user asks for its claim's termination.
4. **Initialization** (:func:`~.nodes.initialization`): Ready, startup taints gone, extended
   resources present → the ``karpenter.sh/initialized=true`` node label, ``Initialized=True``,
   an ``Initialized`` event. The startup taints are removed by whoever owns them (a CNI or
   device-plugin DaemonSet; in simulations :mod:`shipyard.platform.nodejoin`).
5. ``Ready`` rolls the three up (:func:`~.model.roll_up_ready`).

A claim being deleted is handed to :class:`~.termination.Terminator`. Conflicts raise
``ConflictError`` (the runtime re-reads and retries at once); events are recorded only after
the writes they describe succeeded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.apis import NodeClaimView
from shipyard.autoscaler.lifecycle.index import ProviderIndex
from shipyard.autoscaler.lifecycle.launch import (
    apply_instance,
    compatible_instance_types,
    describe_offerings,
    format_price,
    launch_request,
    nodepool_of,
)
from shipyard.autoscaler.lifecycle.model import (
    API_VERSION,
    INITIALIZED,
    KIND,
    LAUNCHED,
    NODECLASS_VERSION,
    REGISTERED,
    TERMINATION_FINALIZER,
    UNREGISTERED_TAINT,
    LifecycleOptions,
    condition_status,
    init_conditions,
    roll_up_ready,
    set_claim_condition,
)
from shipyard.autoscaler.lifecycle.nodes import (
    has_taint,
    initialization,
    mark_initialized,
    register_node,
)
from shipyard.autoscaler.lifecycle.termination import Terminator
from shipyard.cloud.provider import CloudProvider, Instance, InsufficientCapacityError
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import parse_time
from shipyard.core.durations import format_duration
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.core.labels import REGISTERED as REGISTERED_LABEL
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta

__all__ = ["COMPONENT", "NodeClaimLifecycle"]

COMPONENT = "karpenter"
_INVARIANT = (
    "Invariant violated, karpenter.sh/unregistered taint must be present on Karpenter-managed nodes"
)


@dataclass(frozen=True)
class _Outcome:
    """How a sub-step went: go on to the next, or stop (and when to look again)."""

    proceed: bool = True
    requeue_after: float | None = None
    deleted: bool = False


_NEXT = _Outcome()
_STOP = _Outcome(proceed=False)
_DELETED = _Outcome(proceed=False, deleted=True)


@dataclass
class _Work:
    """One reconcile's in-memory claim and what it found."""

    claim: Obj
    view: NodeClaimView
    now: float
    labels: dict[str, Any]
    annotations: dict[str, Any]
    status: dict[str, Any]
    node: Obj | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def uid(self) -> str:
        return str(meta(self.claim).get("uid") or "")

    @property
    def provider_id(self) -> str:
        return str((self.claim.get("status") or {}).get("providerID") or "")

    def condition(self, type_: str, status: str, reason: str, message: str = "") -> None:
        set_claim_condition(self.claim, type_, status, reason, message, now=self.now)

    def is_true(self, type_: str) -> bool:
        return condition_status(self.claim, type_) == "True"


class NodeClaimLifecycle:
    """Launch, registration, initialization, timeouts and termination of NodeClaims."""

    name = "nodeclaim.lifecycle"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        unavailable: UnavailableOfferings | None = None,
        recorder: EventRecorder | None = None,
        options: LifecycleOptions | None = None,
    ) -> None:
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._unavailable = unavailable
        self._recorder = recorder or EventRecorder(client, COMPONENT)
        self._options = options or LifecycleOptions()
        self._index = ProviderIndex(client)
        self._terminator = Terminator(
            client,
            cloud,
            recorder=self._recorder,
            options=self._options,
            index=self._index,
            view_of=self._view,
        )
        self._views: dict[str, NodeClaimView] = {}  # uid -> parsed spec (immutable)
        self._launched: dict[str, Instance] = {}  # uid -> created, not yet recorded
        self._failures: dict[str, int] = {}  # uid -> launch failures in a row
        self._retry_at: dict[str, float] = {}  # uid -> when the next launch attempt may run

    def close(self) -> None:
        """Stop following the change stream (with ``Manager.stop``)."""
        self._index.close()

    def watches(self) -> list[Watches]:
        return [
            Watches(API_VERSION, KIND),
            Watches("v1", "Node", self._node_keys),
            Watches("v1", "Pod", self._pod_keys),
        ]

    # -- mappers ------------------------------------------------------------------------------

    def _node_keys(self, node: Obj) -> tuple[ObjectKey, ...]:
        for ref in meta(node).get("ownerReferences") or ():
            if ref.get("kind") == KIND and ref.get("apiVersion") == API_VERSION:
                return (_key(str(ref.get("name"))),)
        claim = self._index.claim(str((node.get("spec") or {}).get("providerID") or ""))
        return (_key(claim),) if claim else ()

    def _pod_keys(self, pod: Obj) -> tuple[ObjectKey, ...]:
        draining = self._terminator.draining
        if not draining:
            return ()
        claim = draining.get(str((pod.get("spec") or {}).get("nodeName") or ""))
        return (_key(claim),) if claim else ()

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            claim = self._client.get(API_VERSION, KIND, key.name)
        except NotFoundError:
            self._forget(key.name)
            raise
        if is_terminating(claim):
            result = self._terminator.finalize(claim)
            if result is None:
                self._forget_uid(str(meta(claim).get("uid") or ""))
            return result
        if TERMINATION_FINALIZER not in (meta(claim).get("finalizers") or ()):
            md = claim["metadata"]
            md["finalizers"] = [*(md.get("finalizers") or ()), TERMINATION_FINALIZER]
            claim = self._client.update(claim)
        return self._advance(self._work(claim))

    def _work(self, claim: Obj) -> _Work:
        md = meta(claim)
        return _Work(
            claim=claim,
            view=self._view(claim),
            now=self._clock.now(),
            labels=json_copy(md.get("labels") or {}),
            annotations=json_copy(md.get("annotations") or {}),
            status=json_copy(claim.get("status") or {}),
        )

    def _view(self, claim: Obj) -> NodeClaimView:
        uid = str(meta(claim).get("uid") or "")
        view = self._views.get(uid)
        if view is None:
            view = self._views[uid] = NodeClaimView.from_object(claim)
        return view

    def _advance(self, work: _Work) -> Result | None:
        init_conditions(work.claim, work.now)
        liveness = self._liveness(work)
        if liveness.deleted:
            return None
        waits = [liveness.requeue_after]
        for step in (self._launch, self._register, self._initialize):
            outcome = step(work)
            if outcome.deleted:
                return None
            waits.append(outcome.requeue_after)
            if not outcome.proceed:
                break
        roll_up_ready(work.claim, work.now)
        self._write(work)
        due = [w for w in waits if w is not None]
        return Result(requeue_after=min(due)) if due else None

    # -- liveness -------------------------------------------------------------------------------

    def _liveness(self, work: _Work) -> _Outcome:
        created = meta(work.claim).get("creationTimestamp")
        if not created or work.is_true(REGISTERED):
            return _NEXT
        age = work.now - parse_time(str(created))
        launched = bool(work.provider_id)
        limit = self._options.registration_timeout if launched else self._options.launch_timeout
        if age < limit:
            return _Outcome(requeue_after=limit - age)
        reason = "RegistrationTimeout" if launched else "LaunchTimeout"
        what = "registered" if launched else "launched"
        self._delete_claim(
            work, reason, f"NodeClaim {work.name} was not {what} within {format_duration(limit)}"
        )
        return _DELETED

    def _delete_claim(self, work: _Work, reason: str, message: str) -> None:
        with contextlib.suppress(NotFoundError):
            self._client.delete(API_VERSION, KIND, work.name)
        self._recorder.event(work.claim, WARNING, reason, message)

    # -- launch -------------------------------------------------------------------------------

    def _launch(self, work: _Work) -> _Outcome:
        if work.provider_id:
            return _NEXT
        instance = self._launched.get(work.uid)
        if instance is None:
            retry_at = self._retry_at.get(work.uid)
            if retry_at is not None and work.now < retry_at:  # backing off: our own write woke us
                return _Outcome(proceed=False, requeue_after=retry_at - work.now)
            try:
                instance = self._create(work)
            except InsufficientCapacityError as e:
                self._insufficient_capacity(work, e)
                return _DELETED
            except _LaunchFailed as e:
                return self._launch_failed(work, e.condition_reason, e.message)
            except ShipyardError as e:
                return self._launch_failed(work, "LaunchFailed", e.message)
            self._launched[work.uid] = instance
        apply_instance(work.claim, instance)
        work.condition(LAUNCHED, "True", LAUNCHED)
        work.events.append((NORMAL, LAUNCHED, _launched_message(instance)))
        return _NEXT

    def _create(self, work: _Work) -> Instance:
        node_class = self._node_class(work.view)
        pool = nodepool_of(work.claim, work.view)
        nodepool = self._get("karpenter.sh/v1", "NodePool", pool) if pool else None
        offered = self._cloud.instance_types(nodepool or {}, node_class)
        types = compatible_instance_types(offered, work.view.requirements, work.view.requests)
        if not types:
            raise InsufficientCapacityError(
                "all requested instance types were unavailable during launch"
            )
        return self._cloud.create(launch_request(work.claim, work.view, types, node_class))

    def _node_class(self, view: NodeClaimView) -> Obj:
        ref = view.node_class_ref
        found = self._get(f"{ref.group}/{NODECLASS_VERSION}", ref.kind, ref.name)
        if found is None:
            raise _LaunchFailed("NodeClassNotFound", f'{ref.kind} "{ref.name}" not found')
        return found

    def _get(self, api_version: str, kind: str, name: str) -> Obj | None:
        try:
            return self._client.get(api_version, kind, name, copy=False)
        except ShipyardError:  # not found, or a kind this cluster does not serve
            return None

    def _insufficient_capacity(self, work: _Work, error: InsufficientCapacityError) -> None:
        message = f"NodeClaim {work.name}: {error.message}"
        if error.offerings:
            if self._unavailable is not None:
                self._unavailable.mark_all(error.offerings, reason="InsufficientInstanceCapacity")
            ttl = self._unavailable.ttl if self._unavailable is not None else None
            marked = f" for {format_duration(ttl)}" if ttl else ""
            message += f"; marked unavailable{marked}: {describe_offerings(error.offerings)}"
        self._delete_claim(work, "InsufficientCapacityError", message)

    def _launch_failed(self, work: _Work, reason: str, message: str) -> _Outcome:
        failures = self._failures[work.uid] = self._failures.get(work.uid, 0) + 1
        delay = self._options.backoff(failures)
        self._retry_at[work.uid] = work.now + delay
        work.condition(LAUNCHED, "False", reason, message)
        return _Outcome(proceed=False, requeue_after=delay)

    # -- registration ---------------------------------------------------------------------------

    def _register(self, work: _Work) -> _Outcome:
        node = self._terminator.node_of(work.claim)
        registered = work.is_true(REGISTERED)
        if node is None:
            if registered:
                self._delete_claim(work, "NodeDeleted", f"Node {_node_name(work)} is gone")
                return _DELETED
            work.condition(
                REGISTERED, "Unknown", "NodeNotFound", "Node not registered with cluster"
            )
            return _STOP
        if is_terminating(node):
            self._delete_claim(
                work, "NodeDeleted", f"Node {meta(node).get('name')} is being deleted"
            )
            return _DELETED
        if registered:
            work.node = node
            return _NEXT
        labels = meta(node).get("labels") or {}
        if not has_taint(node, UNREGISTERED_TAINT) and labels.get(REGISTERED_LABEL) != "true":
            work.condition(REGISTERED, "False", "UnregisteredTaintNotFound", _INVARIANT)
            return _STOP
        work.node = self._client.update(register_node(node, work.claim, work.view), handoff=True)
        node_name = str(meta(node).get("name"))
        work.claim.setdefault("status", {})["nodeName"] = node_name
        work.condition(REGISTERED, "True", REGISTERED)
        work.events.append((NORMAL, REGISTERED, f"Registered node {node_name}"))
        return _NEXT

    # -- initialization -----------------------------------------------------------------------

    def _initialize(self, work: _Work) -> _Outcome:
        node = work.node
        if node is None or work.is_true(INITIALIZED):
            return _NEXT
        status, reason, message = initialization(node, work.claim, work.view)
        if status != "True":
            work.condition(INITIALIZED, status, reason, message)
            return _STOP
        marked = mark_initialized(node)
        if marked is not None:
            work.node = self._client.update(marked, handoff=True)
        work.condition(INITIALIZED, "True", INITIALIZED)
        work.events.append((NORMAL, INITIALIZED, f"Initialized node {meta(node).get('name')}"))
        return _NEXT

    # -- the writes ---------------------------------------------------------------------------

    def _write(self, work: _Work) -> None:
        claim = work.claim
        status = claim.pop("status", None) or {}
        md = meta(claim)
        written: Obj = claim
        if (md.get("labels") or {}) != work.labels or (
            md.get("annotations") or {}
        ) != work.annotations:
            written = self._client.update(claim, handoff=True)
        if status != work.status:
            written = self._client.update_status({**written, "status": status}, handoff=True)
        if status.get("providerID"):
            self._launched.pop(work.uid, None)
            self._failures.pop(work.uid, None)
            self._retry_at.pop(work.uid, None)
        for type_, reason, message in work.events:
            self._recorder.event(written, type_, reason, message)

    def _forget(self, name: str) -> None:
        for uid, view in list(self._views.items()):
            if view.name == name:
                self._forget_uid(uid)

    def _forget_uid(self, uid: str) -> None:
        self._views.pop(uid, None)
        self._launched.pop(uid, None)
        self._failures.pop(uid, None)
        self._retry_at.pop(uid, None)


class _LaunchFailed(ShipyardError):
    """A launch that cannot start (the node class is missing); ``condition_reason`` goes on
    ``Launched=False`` and the launch is retried with back-off."""

    def __init__(self, condition_reason: str, message: str) -> None:
        super().__init__(message)
        self.condition_reason = condition_reason


def _key(name: str) -> ObjectKey:
    return ObjectKey(API_VERSION, KIND, "", name)


def _node_name(work: _Work) -> str:
    return str((work.claim.get("status") or {}).get("nodeName") or "")


def _launched_message(instance: Instance) -> str:
    return (
        f"Launched {instance.instance_type} ({instance.capacity_type}) in {instance.zone} "
        f"at ${format_price(instance.price)}/h as {instance.provider_id}"
    )
