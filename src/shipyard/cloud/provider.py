"""The CloudProvider seam: what the node autoscaler asks of a cloud, in Shipyard's own types.

The shapes follow Karpenter's cloud-provider interface:

- an :class:`InstanceType` is a machine shape with the labels it would carry as
  :class:`~shipyard.core.requirements.Requirements` (instance type, family, cpu, memory, arch,
  and the zones and capacity types it is *offered* in), its raw ``capacity``, the
  :class:`Overhead` the kubelet reserves, and its :class:`Offering` list (one per zone ×
  capacity type, each with an hourly price and whether it is available right now);
- ``create`` takes a :class:`LaunchRequest` (the instance types a NodeClaim still allows, in
  any order, and the claim's requirements) and returns the :class:`Instance` it launched: the
  provider picks the offering (cheapest available among the allowed types and the capacity
  type the requirements prefer) and raises :class:`InsufficientCapacityError` when none is
  available;
- an :class:`Interruption` is a message from the cloud's event stream (spot interruption
  warning, rebalance recommendation, scheduled maintenance, instance state change).

Resources are ``dict[str, int]`` in the units the scheduler counts (``cpu`` in millicores,
``memory`` and ``ephemeral-storage`` in bytes, ``pods`` and extended resources in units), the
same convention as :func:`shipyard.cluster.podutil.pod_requests`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from shipyard.core.errors import ShipyardError
from shipyard.core.labels import CAPACITY_RESERVATION_ID, CAPACITY_TYPE, ZONE
from shipyard.core.requirements import IN, Requirement, Requirements

__all__ = [
    "CloudProvider",
    "CreateError",
    "Instance",
    "InstanceType",
    "InsufficientCapacityError",
    "Interruption",
    "LaunchRequest",
    "Offering",
    "Overhead",
    "Resources",
    "add_resources",
    "fits",
    "subtract_resources",
]

Resources = dict[str, int]


def add_resources(*items: Mapping[str, int]) -> Resources:
    total: Resources = {}
    for item in items:
        for name, value in item.items():
            total[name] = total.get(name, 0) + value
    return total


def subtract_resources(a: Mapping[str, int], b: Mapping[str, int]) -> Resources:
    """``a - b`` per resource, never below zero (allocatable cannot be negative)."""
    out = dict(a)
    for name, value in b.items():
        out[name] = max(0, out.get(name, 0) - value)
    return out


def fits(request: Mapping[str, int], available: Mapping[str, int]) -> bool:
    """Every requested resource is at most what is available (a missing resource is zero)."""
    return all(value <= available.get(name, 0) for name, value in request.items() if value > 0)


@dataclass(frozen=True, slots=True)
class Offering:
    """One way to buy an instance type: a zone and a capacity type, at an hourly price."""

    zone: str
    capacity_type: str  # "on-demand" | "spot" | "reserved"
    price: float  # USD per hour
    available: bool = True
    reservation_id: str = ""
    # Instances that can still launch into it, when the cloud says (a reservation's unused
    # count); None means unknown or unlimited, as for spot and on-demand pools.
    remaining: int | None = None

    @property
    def requirements(self) -> Requirements:
        reqs = [
            Requirement.create(ZONE, IN, [self.zone]),
            Requirement.create(CAPACITY_TYPE, IN, [self.capacity_type]),
        ]
        if self.reservation_id:
            reqs.append(Requirement.create(CAPACITY_RESERVATION_ID, IN, [self.reservation_id]))
        return Requirements(reqs)


@dataclass(frozen=True, slots=True)
class Overhead:
    """What the node keeps for itself: kube-reserved, system-reserved, eviction threshold."""

    kube_reserved: Mapping[str, int] = field(default_factory=dict)
    system_reserved: Mapping[str, int] = field(default_factory=dict)
    eviction_threshold: Mapping[str, int] = field(default_factory=dict)

    def total(self) -> Resources:
        return add_resources(self.kube_reserved, self.system_reserved, self.eviction_threshold)


@dataclass(frozen=True)
class InstanceType:
    """A machine shape: its labels as requirements, capacity, overhead and offerings."""

    name: str
    requirements: Requirements
    capacity: Mapping[str, int]
    overhead: Overhead
    offerings: tuple[Offering, ...]

    @cached_property
    def allocatable(self) -> Resources:
        """Capacity minus overhead: what pods may request on a node of this type."""
        return subtract_resources(self.capacity, self.overhead.total())

    def available_offerings(self) -> tuple[Offering, ...]:
        return tuple(o for o in self.offerings if o.available)

    def compatible_offerings(self, requirements: Requirements) -> tuple[Offering, ...]:
        """Available offerings whose zone and capacity type the requirements allow."""
        zone, capacity_type = requirements.get(ZONE), requirements.get(CAPACITY_TYPE)
        found = tuple(
            o
            for o in self.offerings
            if o.available and zone.has(o.zone) and capacity_type.has(o.capacity_type)
        )
        if CAPACITY_RESERVATION_ID not in requirements:
            return found
        # A reservation id requirement: reserved offerings must match it, the others must be
        # allowed to lack the label.
        reservation = requirements.get(CAPACITY_RESERVATION_ID)
        return tuple(
            o
            for o in found
            if (
                reservation.has(o.reservation_id)
                if o.reservation_id
                else reservation.allows_absent()
            )
        )

    def cheapest_price(self, requirements: Requirements) -> float | None:
        prices = [o.price for o in self.compatible_offerings(requirements)]
        return min(prices) if prices else None


@dataclass(frozen=True)
class LaunchRequest:
    """What a NodeClaim asks the cloud for."""

    claim_name: str
    nodepool: str
    instance_types: Sequence[InstanceType]  # the types that still fit the claim's pods
    requirements: Requirements  # zone, capacity type, arch, ... as the claim narrowed them
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()  # taints + startupTaints, as the kubelet registers
    tags: Mapping[str, str] = field(default_factory=dict)
    node_class: Mapping[str, object] | None = None  # the EC2NodeClass object, if any


@dataclass(frozen=True)
class Instance:
    """A launched machine, as the cloud reports it."""

    provider_id: str  # "aws:///us-east-1a/i-0123456789abcdef0"
    instance_id: str
    instance_type: str
    zone: str
    capacity_type: str
    price: float  # USD per hour of the offering it was bought at
    state: str  # "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated"
    launch_time: float  # clock seconds
    capacity: Mapping[str, int] = field(default_factory=dict)
    allocatable: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    image_id: str = ""
    claim_name: str = ""
    subnet_id: str = ""
    security_group_ids: tuple[str, ...] = ()
    reservation_id: str = ""  # the capacity reservation it runs in (capacity type "reserved")
    arch: str = ""  # kubernetes.io/arch of the instance type


@dataclass(frozen=True)
class Interruption:
    """One message from the cloud's interruption stream."""

    kind: str  # "spot-interruption" | "rebalance" | "scheduled-change" | "state-change"
    instance_id: str
    provider_id: str
    time: float  # when the cloud sent it (clock seconds)
    deadline: float | None = None  # spot: when the instance will be reclaimed (time + 120 s)
    state: str = ""  # for state-change: "stopping" | "stopped" | "shutting-down" | "terminated"


class CreateError(ShipyardError):
    """The cloud refused a launch for a reason other than capacity (bad node class, quota)."""


class InsufficientCapacityError(CreateError):
    """None of the requested offerings had capacity; ``offerings`` names what was tried."""

    def __init__(self, message: str, offerings: Sequence[tuple[str, str, str]] = ()) -> None:
        super().__init__(message)
        # (instance type, zone, capacity type) for each offering that was out of capacity
        self.offerings = tuple(offerings)


class CloudProvider(Protocol):
    """The seam. Implementations: FakeCloud (tests), SimulatedCloud, AwsCloud."""

    name: str

    def instance_types(
        self, nodepool: Mapping[str, object], node_class: Mapping[str, object] | None = None
    ) -> list[InstanceType]:
        """Every instance type the pool could launch, with offerings and current availability;
        sizing honours the node class's kubelet settings (maxPods, reserved, eviction)."""
        ...

    def create(self, request: LaunchRequest) -> Instance:
        """Launch the cheapest available offering allowed; raises InsufficientCapacityError."""
        ...

    def delete(self, provider_id: str) -> None:
        """Terminate; raises NotFoundError when the instance is already gone."""
        ...

    def get(self, provider_id: str) -> Instance:
        """Raises NotFoundError for an unknown or terminated instance."""
        ...

    def list(self) -> list[Instance]:
        """Every instance not yet terminated."""
        ...

    def is_drifted(self, instance: Instance, node_class: Mapping[str, object] | None) -> str:
        """A drift reason (``"AMIDrift"``, ``"SubnetDrift"``, ...) or ``""``."""
        ...

    def interruptions(self) -> builtins.list[Interruption]:
        """Messages received since the last call (each delivered once)."""
        ...
