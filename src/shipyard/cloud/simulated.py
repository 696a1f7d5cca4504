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
    "SPOT_INTERRUPTION_WARNING_SECONDS",
    "LaunchLatency",
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


@dataclass
class _Record:
    instance: Instance
    running_since: float | None = None
    billed_until: float | None = None
    holds_capacity: bool = True
    timers: list[TimerHandle] = field(default_factory=list)

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
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
        record.timers.append(self.clock.call_later(delay, lambda: self._start(record)))
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

    # --- events from outside ---------------------------------------------------------------

    def interrupt_spot(self, instance_id: str, at: float | None = None) -> None:
        """Send a spot interruption warning at ``at`` (default now); reclaim 120 s later."""
        record = self._find(instance_id)
        if record.instance.capacity_type != wk.CAPACITY_TYPE_SPOT:
            raise BadRequestError(
                f"instance {record.instance.instance_id} is {record.instance.capacity_type}; "
                "only spot instances receive spot interruption warnings"
            )
        self._at(record, at, lambda: self._send_spot_interruption(record))

    def rebalance(self, instance_id: str, at: float | None = None) -> None:
        """Send a rebalance recommendation (the instance keeps running)."""
        record = self._find(instance_id)
        self._at(record, at, lambda: self._send(record, REBALANCE))

    def scheduled_change(
        self, instance_id: str, at: float | None = None, *, deadline: float | None = None
    ) -> None:
        """Send a scheduled-maintenance notice (the instance keeps running)."""
        record = self._find(instance_id)
        self._at(record, at, lambda: self._send(record, SCHEDULED_CHANGE, deadline=deadline))

    def terminate_externally(self, instance_id: str, at: float | None = None) -> None:
        """Someone terminates the instance outside Shipyard (console, another tool)."""
        record = self._find(instance_id)
        self._at(record, at, lambda: self._shut_down(record, external=True))

    def stop_externally(self, instance_id: str, at: float | None = None) -> None:
        """Someone stops the instance outside Shipyard: stopping, then stopped."""
        record = self._find(instance_id)
        self._at(record, at, lambda: self._stop(record))

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
        record.timers.append(self.clock.call_later(ready, lambda: self._ready(record)))
        if instance.capacity_type == wk.CAPACITY_TYPE_SPOT and self.spot_interruption_rate > 0:
            rng = random.Random(f"{self.seed}|{instance.instance_id}|interrupt")
            after = rng.expovariate(self.spot_interruption_rate / 3600.0)
            record.timers.append(
                self.clock.call_later(after, lambda: self._send_spot_interruption(record))
            )

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
        record.timers.append(
            self.clock.call_later(delay, lambda: self._terminate(record, external=external))
        )

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
        record.timers.append(self.clock.call_later(delay, lambda: self._stopped(record)))

    def _stopped(self, record: _Record) -> None:
        self._release(record)
        self._set_state(record, STOPPED, external=True)

    # --- internals: messages ---------------------------------------------------------------

    def _at(self, record: _Record, at: float | None, action: Callable[[], None]) -> None:
        if record.instance.state == TERMINATED:
            raise NotFoundError(f'instance "{record.instance.instance_id}" is terminated')
        delay = 0.0 if at is None else at - self.clock.now()
        if delay <= 0:
            action()
        else:
            record.timers.append(self.clock.call_later(delay, action))

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
        record.timers.append(
            self.clock.call_later(
                SPOT_INTERRUPTION_WARNING_SECONDS, lambda: self._shut_down(record, external=True)
            )
        )

    def _billed(self, record: _Record, at: float) -> float:
        start = record.running_since
        if start is None or at <= start:
            return 0.0
        end = record.billed_until
        seconds = (min(end, at) if end is not None else at) - start
        if end is not None and end <= at:
            seconds = max(seconds, self.minimum_billed_seconds)
        return record.instance.price * seconds / 3600.0
