"""Which offering a launch takes: one function shared by SimulatedCloud and FakeCloud.

Given the instance types a NodeClaim still allows and the claim's requirements,
:func:`select_offering` follows what Karpenter's AWS provider does before it calls EC2 Fleet:

1. keep the types whose labels intersect the requirements and that have an *available*
   offering the requirements allow (zone, capacity type, capacity-reservation id);
2. order them by their cheapest such offering (ties by name) and keep the first 60 —
   Karpenter's limit on the overrides of one fleet request;
3. pick the capacity type: ``reserved`` if any kept type has an allowed reserved offering,
   else ``spot`` if any has a spot one, else ``on-demand``;
4. walk that capacity type's offerings of the kept types from the cheapest (ties by type name,
   then zone) and take the first the cloud has capacity for (``has_capacity``, the cloud's own
   truth). The ones passed over are reported in :attr:`Selection.insufficient` so the caller
   can remember them as unavailable.

Nothing available → :class:`InsufficientCapacityError` saying what was asked; every offering of
the chosen capacity type out of capacity → the same error naming each of them. Like EC2 Fleet,
one request does not fall back to another capacity type: the next attempt, with the exhausted
offerings marked unavailable, does.

:func:`launch_labels` gives the labels of the launched instance (the same for both providers):
the request's labels, overlaid with every single-valued label of the type, narrowed to the
offering's zone, zone id, capacity type and — for reserved capacity only — reservation id.

Deliberate differences from Karpenter: the fleet's allocation strategy is exactly
"cheapest first" for spot too (EC2 uses price-capacity-optimized, which weighs pool depth we do
not model), and Karpenter's filter that drops spot types dearer than the cheapest on-demand
type is not applied: the spot model never prices spot above on-demand unless told to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shipyard.cloud.catalog import zone_id
from shipyard.cloud.provider import InstanceType, InsufficientCapacityError, Offering
from shipyard.core.labels import (
    ARCH,
    CAPACITY_RESERVATION_ID,
    CAPACITY_TYPE,
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_RESERVED,
    CAPACITY_TYPE_SPOT,
    ZONE,
    ZONE_ID,
)
from shipyard.core.requirements import Requirements

__all__ = [
    "CAPACITY_TYPE_ORDER",
    "MAX_INSTANCE_TYPES",
    "HasCapacity",
    "Selection",
    "instance_arch",
    "launch_labels",
    "order_by_price",
    "select_offering",
]

MAX_INSTANCE_TYPES = 60
CAPACITY_TYPE_ORDER = (CAPACITY_TYPE_RESERVED, CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND)

# (instance type, offering) -> whether the cloud can launch one more instance there now.
HasCapacity = Callable[[InstanceType, Offering], bool]


def _always(_instance_type: InstanceType, _offering: Offering) -> bool:
    return True


@dataclass(frozen=True)
class Selection:
    """The offering to launch, and the cheaper ones of its capacity type found exhausted."""

    instance_type: InstanceType
    offering: Offering
    insufficient: tuple[tuple[str, str, str], ...] = ()


def _candidates(
    instance_types: Sequence[InstanceType], requirements: Requirements
) -> list[tuple[InstanceType, tuple[Offering, ...]]]:
    out = []
    for instance_type in instance_types:
        if instance_type.requirements.intersects(requirements) is not None:
            continue
        offerings = instance_type.compatible_offerings(requirements)
        if offerings:
            out.append((instance_type, offerings))
    return out


def order_by_price(
    candidates: Sequence[tuple[InstanceType, tuple[Offering, ...]]],
) -> list[tuple[InstanceType, tuple[Offering, ...]]]:
    """Cheapest compatible offering first; ties by type name."""
    return sorted(candidates, key=lambda c: (min(o.price for o in c[1]), c[0].name))


def _describe(instance_types: Sequence[InstanceType], requirements: Requirements) -> str:
    names = sorted(t.name for t in instance_types)
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    zone, capacity_type = requirements.get(ZONE), requirements.get(CAPACITY_TYPE)
    where = []
    if not zone.complement:
        where.append(f"zones [{', '.join(sorted(zone.value_set))}]")
    if not capacity_type.complement:
        where.append(f"capacity types [{', '.join(sorted(capacity_type.value_set))}]")
    return f"[{shown}]" + (f" in {' and '.join(where)}" if where else "")


def select_offering(
    instance_types: Sequence[InstanceType],
    requirements: Requirements,
    *,
    has_capacity: HasCapacity = _always,
    max_instance_types: int = MAX_INSTANCE_TYPES,
) -> Selection:
    """The offering to launch; see the module docstring. Raises InsufficientCapacityError."""
    if not instance_types:
        raise InsufficientCapacityError("no instance types were requested")
    candidates = order_by_price(_candidates(instance_types, requirements))[:max_instance_types]
    if not candidates:
        raise InsufficientCapacityError(
            "no available offering matches the requirements for instance types "
            + _describe(instance_types, requirements)
        )
    by_type = {
        capacity_type: sorted(
            (
                (offering.price, instance_type.name, offering.zone, instance_type, offering)
                for instance_type, offerings in candidates
                for offering in offerings
                if offering.capacity_type == capacity_type
            ),
            key=lambda entry: entry[:3],
        )
        for capacity_type in CAPACITY_TYPE_ORDER
    }
    capacity_type = next((ct for ct in CAPACITY_TYPE_ORDER if by_type[ct]), None)
    if capacity_type is None:
        raise InsufficientCapacityError(
            "no reserved, spot or on-demand offering for instance types "
            + _describe(instance_types, requirements)
        )
    exhausted: list[tuple[str, str, str]] = []
    for _price, name, zone, instance_type, offering in by_type[capacity_type]:
        if has_capacity(instance_type, offering):
            return Selection(instance_type, offering, tuple(exhausted))
        exhausted.append((name, zone, capacity_type))
    tried = ", ".join(f"{name} in {zone}" for name, zone, _ in exhausted[:10])
    more = f" and {len(exhausted) - 10} more" if len(exhausted) > 10 else ""
    raise InsufficientCapacityError(
        f"insufficient {capacity_type} capacity for every offering tried: {tried}{more}",
        exhausted,
    )


def instance_arch(instance_type: InstanceType) -> str:
    """The type's ``kubernetes.io/arch`` (``""`` when it has none or several)."""
    arch = instance_type.requirements.get(ARCH)
    return next(iter(arch.value_set)) if not arch.complement and len(arch.value_set) == 1 else ""


def launch_labels(
    request_labels: Mapping[str, str],
    instance_type: InstanceType,
    offering: Offering,
    region: str,
) -> dict[str, str]:
    """The labels of an instance launched into ``offering`` (see the module docstring)."""
    labels = dict(request_labels)
    labels.update(instance_type.requirements.labels())
    labels[ZONE] = offering.zone
    labels[ZONE_ID] = zone_id(region, offering.zone)
    labels[CAPACITY_TYPE] = offering.capacity_type
    labels.pop(CAPACITY_RESERVATION_ID, None)
    if offering.reservation_id:
        labels[CAPACITY_RESERVATION_ID] = offering.reservation_id
    return labels
