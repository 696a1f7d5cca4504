"""SimulatedCloud: EC2 as the node autoscaler sees it, on an injected clock, deterministic per seed.

::

    create(request) ──► select_offering (cheapest allowed offering; reserved > spot > on-demand)
          │                 │ exhausted offerings ──► UnavailableOfferings (3 min) + ICE error
          ▼
       pending ──(latency.running, 15 s)──► running ──(latency.ready, 10 s)──► on_ready
          │                                   │ on_running(instance)
          │                    delete / reclaim / terminate_externally
          ▼                                   ▼
    shutting-down ──(latency.shutdown, 5 s)──► terminated   (list() and get() forget it)

- **Offerings and capacity.** The :class:`~shipyard.cloud.catalog.Catalog` gives sized types
  and prices; :class:`~shipyard.cloud.pricing.Availability` is the cloud's hidden capacity
  (running instances per offering; reservations). ``create`` refreshes the requested types from
  the catalog by name (so it sees current ICE marks, as Karpenter re-reads its instance types),
  narrows the zones to the node class's subnets and the architectures to its images, then calls
  :func:`~shipyard.cloud.selection.select_offering`. Offerings found exhausted are marked in
  :attr:`SimulatedCloud.unavailable` (the caller may mark them too; marking is idempotent).
- **Instances** get deterministic ids (``i-`` + 17 hex digits of a hash of the seed and a
  counter), provider ids ``aws:///<zone>/<id>``, the offering's labels (every single-valued
  label of the type, narrowed to the zone, zone id, capacity type and reservation) under the
  request's own labels, the request's taints, tags naming the NodePool and NodeClaim, the newest
  selected image for the type's architecture, the first selected subnet of the zone and every
  selected security group.
- **Latency** (:class:`LaunchLatency`): defaults 15 s to running, node Ready 10 s later (the
  :meth:`on_ready` callbacks; the platform registers the Node on :meth:`on_running`), 5 s from
  shutting-down (or stopping) to terminated (or stopped); an optional seeded ± jitter fraction.
- **Cost** is billed as EC2 bills Linux instances: per second from the moment the instance is
  running until it leaves running (delete, stop, reclaim), with a 60-second minimum once it has
  ended (``minimum_billed_seconds``), at the price of the offering it was bought at.
- **Interruptions** are a message stream (:meth:`interruptions` returns each once):
  ``interrupt_spot`` sends a spot interruption warning whose deadline is 120 s later and reclaims
  the instance then; ``rebalance`` and ``scheduled_change`` only send messages; stops and
  terminations from outside (``stop_externally``, ``terminate_externally``, a reclaim) send a
  ``state-change`` message for each state entered. Deletes through :meth:`delete` send none.
  With ``spot_interruption_rate`` > 0, each spot instance is interrupted after a seeded
  exponential time with that rate per instance-hour.
- **AMIs, subnets, security groups** live in :class:`~shipyard.cloud.account.SimulatedAccount`
  (see there for selector terms and drift).
- **State.** Every step waiting on the clock is a named :class:`Scheduled` (``start``,
  ``ready``, ``shut-down``, ...) with its due time, so :meth:`SimulatedCloud.export_state`
  returns the whole cloud as plain values (:class:`CloudState`: instances with their billing
  and pending steps, the launch counter, unread messages) and :meth:`~SimulatedCloud.import_state`
  re-arms the steps on a fresh cloud's clock at their saved times (ties in launch order).
  :meth:`~SimulatedCloud.suspend` hands a cloud over to such a successor within one process.
  :mod:`shipyard.cloud.state` turns the state into JSON.
"""

from __future__ import annotations

import builtins
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shipyard.cloud.account import ARCHITECTURES, ResolvedNodeClass, SimulatedAccount
from shipyard.cloud.catalog import DEFAULT_REGION, DEFAULT_ZONES, Catalog
from shipyard.cloud.pricing import Availability, Pricing, unit_hash
from shipyard.cloud.provider import (
    CreateError,
    Instance,
    InstanceType,
    InsufficientCapacityError,
    Interruption,
    LaunchRequest,
    Offering,
)
from shipyard.cloud.selection import instance_arch, launch_labels, select_offering
from shipyard.cloud.unavailable import DEFAULT_UNAVAILABLE_TTL, UnavailableOfferings
from shipyard.core import labels as wk
from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.errors import BadRequestError, NotFoundError
from shipyard.core.requirements import IN, Requirement, Requirements

__all__ = [
    "ACTIONS",
    "SPOT_INTERRUPTION_WARNING_SECONDS",
    "CloudState",
    "InstanceState",
    "LaunchLatency",
    "Scheduled",
    "SimulatedCloud",
    "provider_id_of",
]

SPOT_INTERRUPTION_WARNING_SECONDS = 120.0
PENDING, RUNNING, STOPPING, STOPPED = "pending", "running", "stopping", "stopped"
SHUTTING_DOWN, TERMINATED = "shutting-down", "terminated"
SPOT_INTERRUPTION, REBALANCE = "spot-interruption", "rebalance"
SCHEDULED_CHANGE, STATE_CHANGE = "scheduled-change", "state-change"
NODEPOOL_TAG, NODECLAIM_TAG = "karpenter.sh/nodepool", "karpenter.sh/nodeclaim"

InstanceCallback = Callable[[Instance], None]

# What a pending step of an instance's life does when its time comes (see SimulatedCloud._perform)
START, READY, SHUT_DOWN, TERMINATE, STOP, STOPPED_STEP = (
    "start",
    "ready",
    "shut-down",
    "terminate",
    "stop",
    "stopped",
)
ACTIONS = (
    START,
    READY,
    SPOT_INTERRUPTION,
    SHUT_DOWN,
    TERMINATE,
    STOP,
    STOPPED_STEP,
    REBALANCE,
    SCHEDULED_CHANGE,
)


def provider_id_of(zone: str, instance_id: str) -> str:
    return f"aws:///{zone}/{instance_id}"


@dataclass(frozen=True)
class LaunchLatency:
    """Seconds between lifecycle states; ``jitter`` scales each by a seeded 1 ± jitter."""

    running: float = 15.0
    ready: float = 10.0
    shutdown: float = 5.0
    stop: float = 5.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if min(self.running, self.ready, self.shutdown, self.stop) < 0:
            raise ValueError("launch latencies must not be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")


@dataclass(frozen=True)
class Scheduled:
    """A step of an instance's life waiting on the clock: one of :data:`ACTIONS`, due at
    ``due`` (clock seconds); ``external`` for steps taken from outside Shipyard (they send
    state-change messages), ``deadline`` for a scheduled-change notice."""

    action: str
    due: float
    external: bool = False
    deadline: float | None = None


@dataclass(frozen=True)
class InstanceState:
    """One instance as the cloud keeps it: billing (``running_since`` … ``billed_until``),
    whether it still holds offering capacity, and its pending steps in the order armed."""

    instance: Instance
    running_since: float | None = None
    billed_until: float | None = None
    holds_capacity: bool = True
    scheduled: tuple[Scheduled, ...] = ()


@dataclass(frozen=True)
class CloudState:
    """What a SimulatedCloud changes as it runs (its configuration is the constructor's)."""

    launched: int = 0  # instances launched so far; the next instance id derives from it
    instances: tuple[InstanceState, ...] = ()  # every instance ever launched, in launch order
    messages: tuple[Interruption, ...] = ()  # interruption messages not yet read


@dataclass(eq=False)
class _Armed:
    step: Scheduled
    handle: TimerHandle | None = None


@dataclass
class _Record:
    instance: Instance
    running_since: float | None = None
    billed_until: float | None = None
    holds_capacity: bool = True
    timers: list[_Armed] = field(default_factory=list)

    def cancel_timers(self) -> None:
        for armed in self.timers:
            if armed.handle is not None:
                armed.handle.cancel()
        self.timers.clear()


class SimulatedCloud:
    """A CloudProvider over the shipped catalog; see the module docstring."""

    name = "simulated"

    def __init__(
        self,
        clock: Clock,
        *,
        region: str = DEFAULT_REGION,
        zones: Sequence[str] = DEFAULT_ZONES,
        catalog: Catalog | None = None,
        pricing: Pricing | None = None,
        availability: Availability | None = None,
        latency: LaunchLatency | None = None,
        seed: int = 0,
        spot_interruption_rate: float = 0.0,
        minimum_billed_seconds: float = 60.0,
        unavailable_ttl: float = DEFAULT_UNAVAILABLE_TTL,
        account: SimulatedAccount | None = None,
    ) -> None:
        self.clock = clock
        unavailable = UnavailableOfferings(clock, unavailable_ttl)
        if catalog is None:
            catalog = Catalog(
                region=region,
                zones=zones,
                pricing=pricing,
                availability=availability,
                unavailable=unavailable,
            )
        elif catalog.unavailable is None:
            catalog.unavailable = unavailable
        else:
            unavailable = catalog.unavailable
        self.catalog = catalog
        self.unavailable = unavailable
        self.availability = catalog.availability
        self.region, self.zones = catalog.region, catalog.zones
        self.account = account or SimulatedAccount(self.region, self.zones, seed=seed)
        self.latency = latency or LaunchLatency()
        self.seed = seed
        if spot_interruption_rate < 0:
            raise ValueError("spot_interruption_rate must not be negative")
        self.spot_interruption_rate = spot_interruption_rate
        self.minimum_billed_seconds = minimum_billed_seconds
        self._records: dict[str, _Record] = {}
        self._launched = 0
        self._messages: list[Interruption] = []
        self._on_running: list[InstanceCallback] = []
        self._on_ready: list[InstanceCallback] = []
        self._on_terminated: list[InstanceCallback] = []

    # --- subscriptions ---------------------------------------------------------------------

    def on_running(self, callback: InstanceCallback) -> None:
        """Call ``callback(instance)`` each time an instance starts running."""
        self._on_running.append(callback)

    def on_ready(self, callback: InstanceCallback) -> None:
        """Call ``callback(instance)`` when a running instance's node would report Ready."""
        self._on_ready.append(callback)

    def on_terminated(self, callback: InstanceCallback) -> None:
        self._on_terminated.append(callback)

    # --- CloudProvider ---------------------------------------------------------------------

    def instance_types(
        self, nodepool: Mapping[str, object], node_class: Mapping[str, object] | None = None
    ) -> list[InstanceType]:
        """The catalog sized for the node class, offered in the zones of its subnets.

        ``nodepool`` is not consulted: the pool's requirements are the scheduler's business.
        """
        zones = self._zones(self.account.resolve(node_class).zones)
        return self.catalog.instance_types(node_class, zones=zones)

    def create(self, request: LaunchRequest) -> Instance:
        """Launch the cheapest allowed offering; ``InsufficientCapacityError`` if none has room.

        ``CreateError`` when the node class selects no subnet in this region's zones or no
        image at all.
        """
        resolved = self.account.resolve(request.node_class)
        zones, requirements = self._launch_scope(request, resolved)
        types = self._refresh(request, zones)
        try:
            selection = select_offering(types, requirements, has_capacity=self._has_capacity)
        except InsufficientCapacityError as e:
            self.unavailable.mark_all(e.offerings, reason="InsufficientInstanceCapacity")
            raise
        self.unavailable.mark_all(selection.insufficient, reason="InsufficientInstanceCapacity")
        instance_type, offering = selection.instance_type, selection.offering
        arch = instance_arch(instance_type)
        image = resolved.image_for(arch)
        subnet = resolved.subnet_for(offering.zone)
        if image is None or subnet is None:  # excluded by the launch scope
            raise CreateError(f"NodeClaim {request.claim_name}: no image or subnet for {arch}")
        instance = replace(
            self._new_instance(request, instance_type, offering, arch),
            image_id=image.id,
            subnet_id=subnet.id,
            security_group_ids=tuple(g.id for g in resolved.security_groups),
        )
        self.availability.acquire(
            instance_type.name, offering.zone, offering.capacity_type, offering.reservation_id
        )
        record = _Record(instance)
        self._records[instance.instance_id] = record
        delay = self._jittered(self.latency.running, instance.instance_id, "running")
        self._schedule(record, delay, START)
        return instance

    def delete(self, provider_id: str) -> None:
        """Begin termination; NotFoundError for an unknown or terminated instance.

        Deleting an instance already shutting down does nothing more.
        """
        record = self._record(provider_id)
        if record.instance.state != SHUTTING_DOWN:
            self._shut_down(record, external=False)

    def get(self, provider_id: str) -> Instance:
        return self._record(provider_id).instance

    def list(self) -> list[Instance]:
        return [r.instance for r in self._records.values() if r.instance.state != TERMINATED]

    def is_drifted(self, instance: Instance, node_class: Mapping[str, object] | None) -> str:
        return self.account.drift(instance, node_class)

    def interruptions(self) -> builtins.list[Interruption]:
        messages, self._messages = self._messages, []
        return messages

    # --- cost ------------------------------------------------------------------------------

    def cost(self, now: float | None = None, *, instance_id: str | None = None) -> float:
        """USD billed up to ``now`` (default: the clock), for one instance or all of them."""
        at = self.clock.now() if now is None else now
        if instance_id is not None:
            return self._billed(self._find(instance_id), at)
        return sum(self._billed(r, at) for r in self._records.values())

    def cost_by_instance(self, now: float | None = None) -> dict[str, float]:
        at = self.clock.now() if now is None else now
        return {i: self._billed(r, at) for i, r in self._records.items()}

    def hourly_cost(self) -> float:
        """USD per hour of the instances running now."""
        return sum(r.instance.price for r in self._records.values() if r.instance.state == RUNNING)

    def all_instances(self) -> builtins.list[Instance]:
        """Every instance ever launched, terminated ones included, in launch order."""
        return [r.instance for r in self._records.values()]

    # --- state -----------------------------------------------------------------------------

    def export_state(self) -> CloudState:
        """Its instances, launch counter and unread messages, as plain values (the account's
        images, subnets and groups are :attr:`account`'s; :mod:`shipyard.cloud.state` saves
        both)."""
        return CloudState(
            launched=self._launched,
            instances=tuple(
                InstanceState(
                    r.instance,
                    r.running_since,
                    r.billed_until,
                    r.holds_capacity,
                    tuple(armed.step for armed in r.timers),
                )
                for r in self._records.values()
            ),
            messages=tuple(self._messages),
        )

    def import_state(self, state: CloudState) -> None:
        """Take over ``state`` (from :meth:`export_state`) on a cloud that has launched nothing:
        the instances come back, those holding capacity take it again, and every pending step
        is armed on this cloud's clock at its saved time (due already: it runs at the clock's
        next step). ``BadRequestError`` when this cloud is not fresh or the state names an
        unknown step or an instance twice."""
        if self._records or self._launched:
            raise BadRequestError("only a cloud that has launched nothing can import a state")
        ids = [s.instance.instance_id for s in state.instances]
        if len(set(ids)) != len(ids):
            raise BadRequestError("the state lists an instance more than once")
        unknown = {step.action for s in state.instances for step in s.scheduled} - set(ACTIONS)
        if unknown:
            raise BadRequestError(f"unknown instance steps {sorted(unknown)}; known: {ACTIONS}")
        self._launched = state.launched
        self._messages = list(state.messages)
        pending: builtins.list[tuple[_Record, _Armed]] = []
        for saved in state.instances:
            i = saved.instance
            record = _Record(i, saved.running_since, saved.billed_until, saved.holds_capacity)
            self._records[i.instance_id] = record
            if record.holds_capacity:
                self.availability.acquire(
                    i.instance_type, i.zone, i.capacity_type, i.reservation_id
                )
            record.timers = [_Armed(step) for step in saved.scheduled]
            pending.extend((record, armed) for armed in record.timers)
        for record, armed in sorted(pending, key=lambda p: p[1].step.due):  # ties: launch order
            self._set_timer(record, armed)

    def suspend(self) -> CloudState:
        """Hand this cloud over to a successor: its state, with every pending step cancelled
        and the capacity it holds given back, so that a new SimulatedCloud on the same catalog
        (same availability) and clock can :meth:`import_state` it. Do not use this cloud
        afterwards."""
        state = self.export_state()
        for record in self._records.values():
            for armed in record.timers:
                if armed.handle is not None:
                    armed.handle.cancel()
            if record.holds_capacity:
                i = record.instance
                self.availability.release(
                    i.instance_type, i.zone, i.capacity_type, i.reservation_id
                )
        return state

    # --- events from outside ---------------------------------------------------------------

    def interrupt_spot(self, instance_id: str, at: float | None = None) -> None:
        """Send a spot interruption warning at ``at`` (default now); reclaim 120 s later."""
        record = self._find(instance_id)
        if record.instance.capacity_type != wk.CAPACITY_TYPE_SPOT:
            raise BadRequestError(
                f"instance {record.instance.instance_id} is {record.instance.capacity_type}; "
                "only spot instances receive spot interruption warnings"
            )
        self._at(record, at, SPOT_INTERRUPTION)

    def rebalance(self, instance_id: str, at: float | None = None) -> None:
        """Send a rebalance recommendation (the instance keeps running)."""
        record = self._find(instance_id)
        self._at(record, at, REBALANCE)

    def scheduled_change(
        self, instance_id: str, at: float | None = None, *, deadline: float | None = None
    ) -> None:
        """Send a scheduled-maintenance notice (the instance keeps running)."""
        record = self._find(instance_id)
        self._at(record, at, SCHEDULED_CHANGE, deadline=deadline)

    def terminate_externally(self, instance_id: str, at: float | None = None) -> None:
        """Someone terminates the instance outside Shipyard (console, another tool)."""
        record = self._find(instance_id)
        self._at(record, at, SHUT_DOWN, external=True)

    def stop_externally(self, instance_id: str, at: float | None = None) -> None:
        """Someone stops the instance outside Shipyard: stopping, then stopped."""
        record = self._find(instance_id)
        self._at(record, at, STOP)

    # --- internals: lookup -----------------------------------------------------------------

    def _zones(self, subnet_zones: Sequence[str]) -> builtins.list[str]:
        return [z for z in self.zones if z in subnet_zones]

    def _find(self, ref: str) -> _Record:
        instance_id = ref.rsplit("/", 1)[-1]
        record = self._records.get(instance_id)
        if record is None:
            raise NotFoundError(f'instance "{ref}" not found')
        return record

    def _record(self, ref: str) -> _Record:
        record = self._find(ref)
        if record.instance.state == TERMINATED:
            raise NotFoundError(f'instance "{ref}" is terminated')
        return record

    def _launch_scope(
        self, request: LaunchRequest, resolved: ResolvedNodeClass
    ) -> tuple[builtins.list[str], Requirements]:
        """The zones with a subnet, and the request's requirements narrowed to them and to the
        architectures the node class has images for."""
        zones = self._zones(resolved.zones)
        if not zones:
            raise CreateError(
                f"NodeClaim {request.claim_name}: the node class selects no subnet in zones "
                f"{', '.join(self.zones)}"
            )
        archs = [a for a in ARCHITECTURES if resolved.image_for(a) is not None]
        if not archs:
            raise CreateError(f"NodeClaim {request.claim_name}: the node class selects no image")
        wanted = request.requirements.get(wk.ZONE)
        if not any(wanted.has(z) for z in zones):
            raise InsufficientCapacityError(
                f"NodeClaim {request.claim_name}: its requirements allow no zone with a subnet "
                f"(subnets in [{', '.join(zones)}]; requirement {wanted})"
            )
        requirements = request.requirements.add(
            Requirement.create(wk.ZONE, IN, zones), Requirement.create(wk.ARCH, IN, archs)
        )
        return zones, requirements

    def _refresh(self, request: LaunchRequest, zones: Sequence[str]) -> builtins.list[InstanceType]:
        current = {t.name: t for t in self.catalog.instance_types(request.node_class, zones=zones)}
        return [current.get(t.name, t) for t in request.instance_types]

    def _has_capacity(self, instance_type: InstanceType, offering: Offering) -> bool:
        return self.availability.has_capacity(
            instance_type.name, offering.zone, offering.capacity_type, offering.reservation_id
        )

    # --- internals: lifecycle --------------------------------------------------------------

    def _new_instance(
        self, request: LaunchRequest, instance_type: InstanceType, offering: Offering, arch: str
    ) -> Instance:
        self._launched += 1
        digest = hashlib.blake2b(
            f"{self.seed}|{self.region}|{self._launched}".encode(), digest_size=9
        ).hexdigest()
        instance_id = f"i-{digest[:17]}"
        tags = {**request.tags, NODEPOOL_TAG: request.nodepool, NODECLAIM_TAG: request.claim_name}
        return Instance(
            provider_id=provider_id_of(offering.zone, instance_id),
            instance_id=instance_id,
            instance_type=instance_type.name,
            zone=offering.zone,
            capacity_type=offering.capacity_type,
            price=offering.price,
            state=PENDING,
            launch_time=self.clock.now(),
            capacity=dict(instance_type.capacity),
            allocatable=dict(instance_type.allocatable),
            labels=launch_labels(request.labels, instance_type, offering, self.region),
            taints=tuple(dict(t) for t in request.taints),
            tags=tags,
            claim_name=request.claim_name,
            reservation_id=offering.reservation_id,
            arch=arch,
        )

    def _jittered(self, seconds: float, instance_id: str, what: str) -> float:
        if not self.latency.jitter:
            return seconds
        factor = 1 + self.latency.jitter * (2 * unit_hash(self.seed, instance_id, what) - 1)
        return seconds * factor

    def _set_state(self, record: _Record, state: str, *, external: bool = False) -> None:
        record.instance = replace(record.instance, state=state)
        if external:
            self._send(record, STATE_CHANGE, state=state)

    def _start(self, record: _Record) -> None:
        self._set_state(record, RUNNING)
        record.running_since = self.clock.now()
        instance = record.instance
        for callback in list(self._on_running):
            callback(instance)
        ready = self._jittered(self.latency.ready, instance.instance_id, "ready")
        self._schedule(record, ready, READY)
        if instance.capacity_type == wk.CAPACITY_TYPE_SPOT and self.spot_interruption_rate > 0:
            rng = random.Random(f"{self.seed}|{instance.instance_id}|interrupt")
            after = rng.expovariate(self.spot_interruption_rate / 3600.0)
            self._schedule(record, after, SPOT_INTERRUPTION)

    def _ready(self, record: _Record) -> None:
        if record.instance.state == RUNNING:
            for callback in list(self._on_ready):
                callback(record.instance)

    def _stop_billing(self, record: _Record) -> None:
        if record.running_since is not None and record.billed_until is None:
            record.billed_until = self.clock.now()

    def _release(self, record: _Record) -> None:
        if record.holds_capacity:
            record.holds_capacity = False
            i = record.instance
            self.availability.release(i.instance_type, i.zone, i.capacity_type, i.reservation_id)

    def _shut_down(self, record: _Record, *, external: bool) -> None:
        if record.instance.state in (SHUTTING_DOWN, TERMINATED):
            return
        record.cancel_timers()
        self._stop_billing(record)
        self._set_state(record, SHUTTING_DOWN, external=external)
        delay = self._jittered(self.latency.shutdown, record.instance.instance_id, "shutdown")
        self._schedule(record, delay, TERMINATE, external=external)

    def _terminate(self, record: _Record, *, external: bool) -> None:
        self._release(record)
        self._set_state(record, TERMINATED, external=external)
        for callback in list(self._on_terminated):
            callback(record.instance)

    def _stop(self, record: _Record) -> None:
        if record.instance.state not in (PENDING, RUNNING):
            return
        record.cancel_timers()
        self._stop_billing(record)
        self._set_state(record, STOPPING, external=True)
        delay = self._jittered(self.latency.stop, record.instance.instance_id, "stop")
        self._schedule(record, delay, STOPPED_STEP)

    def _stopped(self, record: _Record) -> None:
        self._release(record)
        self._set_state(record, STOPPED, external=True)

    # --- internals: pending steps ----------------------------------------------------------

    def _schedule(
        self,
        record: _Record,
        delay: float,
        action: str,
        *,
        external: bool = False,
        deadline: float | None = None,
    ) -> None:
        due = self.clock.now() + max(0.0, delay)
        self._arm(record, Scheduled(action, due, external, deadline))

    def _arm(self, record: _Record, step: Scheduled) -> None:
        armed = _Armed(step)
        record.timers.append(armed)
        self._set_timer(record, armed)

    def _set_timer(self, record: _Record, armed: _Armed) -> None:
        def fire() -> None:
            if armed in record.timers:
                record.timers.remove(armed)
            self._perform(record, armed.step)

        armed.handle = self.clock.call_later(armed.step.due - self.clock.now(), fire)

    def _perform(self, record: _Record, step: Scheduled) -> None:
        match step.action:
            case "start":
                self._start(record)
            case "ready":
                self._ready(record)
            case "spot-interruption":
                self._send_spot_interruption(record)
            case "shut-down":
                self._shut_down(record, external=step.external)
            case "terminate":
                self._terminate(record, external=step.external)
            case "stop":
                self._stop(record)
            case "stopped":
                self._stopped(record)
            case "rebalance" | "scheduled-change":
                self._send(record, step.action, deadline=step.deadline)
            case _:
                raise BadRequestError(f"unknown instance step {step.action!r}")

    # --- internals: messages ---------------------------------------------------------------

    def _at(
        self,
        record: _Record,
        at: float | None,
        action: str,
        *,
        external: bool = False,
        deadline: float | None = None,
    ) -> None:
        if record.instance.state == TERMINATED:
            raise NotFoundError(f'instance "{record.instance.instance_id}" is terminated')
        step = Scheduled(action, self.clock.now() if at is None else at, external, deadline)
        if step.due <= self.clock.now():
            self._perform(record, step)
        else:
            self._arm(record, step)

    def _send(
        self,
        record: _Record,
        kind: str,
        *,
        deadline: float | None = None,
        state: str = "",
    ) -> None:
        instance = record.instance
        self._messages.append(
            Interruption(
                kind, instance.instance_id, instance.provider_id, self.clock.now(), deadline, state
            )
        )

    def _send_spot_interruption(self, record: _Record) -> None:
        if record.instance.state not in (PENDING, RUNNING):
            return
        deadline = self.clock.now() + SPOT_INTERRUPTION_WARNING_SECONDS
        self._send(record, SPOT_INTERRUPTION, deadline=deadline)
        self._schedule(record, SPOT_INTERRUPTION_WARNING_SECONDS, SHUT_DOWN, external=True)

    def _billed(self, record: _Record, at: float) -> float:
        start = record.running_since
        if start is None or at <= start:
            return 0.0
        end = record.billed_until
        seconds = (min(end, at) if end is not None else at) - start
        if end is not None and end <= at:
            seconds = max(seconds, self.minimum_billed_seconds)
        return record.instance.price * seconds / 3600.0
