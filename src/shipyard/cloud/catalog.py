"""The instance-type catalog: shipped EC2 data → :class:`InstanceType` s with labels and offerings.

:class:`Catalog` joins three things:

- **sizing** (:mod:`shipyard.cloud.sizing`): capacity and overhead under a node class's kubelet
  and block-device settings;
- **labels as requirements**, the set Karpenter's AWS provider computes: instance type, arch,
  ``kubernetes.io/os=linux``, region, ``node.kubernetes.io/windows-build`` DoesNotExist, and the
  ``karpenter.k8s.aws/instance-*`` facts (family, category, generation, size, cpu, memory in
  MiB, cpu manufacturer, sustained clock speed, hypervisor — ``""`` on bare metal —, network
  and EBS bandwidth in Mbps, local NVMe in GB, GPU name/manufacturer/count/memory, accelerator
  name/manufacturer/count). A fact the type lacks is ``DoesNotExist``, so ``instance-gpu-count
  Exists`` never matches a CPU type. Numbers are plain integer strings, so ``Gt``/``Lt``/
  ``Gte``/``Lte`` work on them. Zone, zone id, capacity type and capacity-reservation id are
  ``In`` the values of the type's *available* offerings, as in Karpenter (none available:
  ``DoesNotExist``, so nothing matches);
- **offerings** (:mod:`shipyard.cloud.pricing`): zone × {spot, on-demand} for every priced
  type, plus one reserved offering per configured capacity reservation; an offering is
  unavailable while :class:`~shipyard.cloud.unavailable.UnavailableOfferings` holds it (or a
  reservation is used up). Types without any price have no offerings and are left out of
  :meth:`Catalog.instance_types` (they remain visible through :meth:`Catalog.spec`).

``instance_types`` is called by the provisioner every batch, so it is cached: sizing per node
class (by the hashable :class:`~shipyard.cloud.sizing.NodeClassSizing`), and the built list per
(sizing, zones, region) until a price, a limit or the unavailable set changes. An
:class:`InstanceType` whose offerings did not change is reused as is, keeping its cached
``allocatable``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipyard.cloud.pricing import Availability, Pricing, reserved_price
from shipyard.cloud.provider import InstanceType, Offering, Overhead, Resources
from shipyard.cloud.sizing import NodeClassSizing, SizingOptions, size
from shipyard.cloud.specs import InstanceTypeSpec, instance_type_specs
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.core import labels as wk
from shipyard.core.errors import NotFoundError
from shipyard.core.requirements import DOES_NOT_EXIST, IN, Requirement, Requirements

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_ZONES",
    "Catalog",
    "accelerator_manufacturer",
    "instance_requirements",
    "zone_id",
]

DEFAULT_REGION = "us-east-1"
DEFAULT_ZONES: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c")
_CACHE_ENTRIES = 32
_DIRECTIONS = (("north", "n"), ("south", "s"), ("east", "e"), ("west", "w"), ("central", "c"))
_ACCELERATOR_MAKERS = (
    ("inferentia", "aws"),
    ("trainium", "aws"),
    ("qualcomm", "qualcomm"),
    ("gaudi", "habana"),
)


def zone_id(region: str, zone: str) -> str:
    """A simulated AZ id: ``us-east-1b`` → ``use1-az2`` (letters map to numbers in order)."""
    parts = region.split("-")
    if len(parts) == 3:
        middle = parts[1]
        short = ""
        for word, letter in _DIRECTIONS:
            if middle.startswith(word):
                short += letter
                middle = middle[len(word) :]
        prefix = f"{parts[0]}{short}{parts[2]}"
    else:
        prefix = region.replace("-", "")
    letter = zone[len(region) :] if zone.startswith(region) else zone[-1:]
    number = ord(letter[:1]) - ord("a") + 1 if letter[:1].isalpha() else 0
    return f"{prefix}-az{number}"


def accelerator_manufacturer(name: str) -> str:
    return next((maker for prefix, maker in _ACCELERATOR_MAKERS if name.startswith(prefix)), "")


@lru_cache(maxsize=8192)
def _requirement(key: str, operator: str, values: tuple[str, ...]) -> Requirement:
    # Requirements are immutable, so equal ones are shared: most label values repeat.
    return Requirement.create(key, operator, values)


def _in(key: str, *values: object) -> Requirement:
    return _requirement(key, IN, tuple(str(v) for v in values))


def _optional(key: str, value: object) -> Requirement:
    if value is None or value == "":
        return _requirement(key, DOES_NOT_EXIST, ())
    return _in(key, value)


def instance_requirements(spec: InstanceTypeSpec, region: str) -> Requirements:
    """The labels a node of this type carries that do not depend on offerings."""
    has_gpu = bool(spec.gpu_name)
    has_accelerator = bool(spec.accelerator_name)
    return Requirements(
        (
            _in(wk.INSTANCE_TYPE, spec.name),
            _in(wk.ARCH, spec.arch),
            _in(wk.OS, "linux"),
            _in(wk.REGION, region),
            _requirement(wk.WINDOWS_BUILD, DOES_NOT_EXIST, ()),
            _in(wk.INSTANCE_FAMILY, spec.family),
            _in(wk.INSTANCE_CATEGORY, spec.category),
            _in(wk.INSTANCE_GENERATION, spec.generation),
            _in(wk.INSTANCE_SIZE, spec.size),
            _in(wk.INSTANCE_CPU, spec.vcpu),
            _in(wk.INSTANCE_MEMORY, spec.memory_mib),
            _optional(wk.INSTANCE_CPU_MANUFACTURER, spec.cpu_manufacturer),
            _optional(wk.INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ, spec.cpu_clock_mhz),
            _in(wk.INSTANCE_HYPERVISOR, spec.hypervisor),
            _optional(wk.INSTANCE_NETWORK_BANDWIDTH, spec.network_bandwidth_mbps),
            _optional(wk.INSTANCE_EBS_BANDWIDTH, spec.ebs_bandwidth_mbps),
            _optional(wk.INSTANCE_LOCAL_NVME, spec.local_nvme_gb),
            _optional(wk.INSTANCE_GPU_NAME, spec.gpu_name),
            _optional(wk.INSTANCE_GPU_MANUFACTURER, spec.gpu_manufacturer if has_gpu else ""),
            _optional(wk.INSTANCE_GPU_COUNT, spec.gpu_count if has_gpu else None),
            _optional(wk.INSTANCE_GPU_MEMORY, spec.gpu_memory_mib if has_gpu else None),
            _optional(wk.INSTANCE_ACCELERATOR_NAME, spec.accelerator_name),
            _optional(
                wk.INSTANCE_ACCELERATOR_MANUFACTURER,
                accelerator_manufacturer(spec.accelerator_name),
            ),
            _optional(
                wk.INSTANCE_ACCELERATOR_COUNT,
                spec.accelerator_count if has_accelerator else None,
            ),
        )
    )


def offering_requirements(offerings: Iterable[Offering], region: str) -> tuple[Requirement, ...]:
    """Zone, zone id, capacity type and reservation id ``In`` the available offerings' values."""
    available = [o for o in offerings if o.available]
    zones = sorted({o.zone for o in available})
    reservations = sorted({o.reservation_id for o in available if o.reservation_id})
    return (
        _in(wk.ZONE, *zones),
        _in(wk.ZONE_ID, *(zone_id(region, z) for z in zones)),
        _in(wk.CAPACITY_TYPE, *sorted({o.capacity_type for o in available})),
        _in(wk.CAPACITY_RESERVATION_ID, *reservations),
    )


@dataclass
class _Built:
    generation: tuple[int, ...]
    types: tuple[InstanceType, ...]
    by_name: dict[str, InstanceType]


class Catalog:
    """Instance types with sizing, labels and offerings; see the module docstring."""

    def __init__(
        self,
        specs: Iterable[InstanceTypeSpec] | None = None,
        *,
        region: str = DEFAULT_REGION,
        zones: Sequence[str] = DEFAULT_ZONES,
        pricing: Pricing | None = None,
        availability: Availability | None = None,
        unavailable: UnavailableOfferings | None = None,
        options: SizingOptions | None = None,
    ) -> None:
        self.specs: tuple[InstanceTypeSpec, ...] = tuple(
            instance_type_specs() if specs is None else specs
        )
        self._by_name = {spec.name: spec for spec in self.specs}
        self.region = region
        self.zones: tuple[str, ...] = tuple(zones)
        if not self.zones:
            raise ValueError("a catalog needs at least one zone")
        self.pricing = pricing or Pricing()
        self.availability = availability or Availability()
        self.unavailable = unavailable
        self.options = options or SizingOptions()
        self._static: dict[tuple[str, str], Requirements] = {}
        self._sized: OrderedDict[NodeClassSizing, dict[str, tuple[Resources, Overhead]]] = (
            OrderedDict()
        )
        self._built: OrderedDict[tuple[Any, ...], _Built] = OrderedDict()

    # --- lookups ---------------------------------------------------------------------------

    def spec(self, name: str) -> InstanceTypeSpec:
        found = self._by_name.get(name)
        if found is None:
            raise NotFoundError(f'instance type "{name}" is not in the catalog')
        return found

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def get(
        self,
        name: str,
        node_class: Mapping[str, Any] | None = None,
        *,
        zones: Sequence[str] | None = None,
        region: str | None = None,
    ) -> InstanceType:
        """One offered type; ``NotFoundError`` for an unknown or unpriced name."""
        built = self._build(node_class, zones, region)
        found = built.by_name.get(name)
        if found is None:
            self.spec(name)  # unknown names get that message
            raise NotFoundError(f'instance type "{name}" has no price, so it is not offered')
        return found

    # --- the list --------------------------------------------------------------------------

    def instance_types(
        self,
        node_class: Mapping[str, Any] | None = None,
        *,
        zones: Sequence[str] | None = None,
        region: str | None = None,
    ) -> list[InstanceType]:
        """Every offered type sized for ``node_class``, with offerings in ``zones``."""
        return list(self._build(node_class, zones, region).types)

    def generation(self) -> tuple[int, ...]:
        """Changes whenever a price, a capacity limit, a reservation or an ICE mark does."""
        marks = self.unavailable.generation() if self.unavailable is not None else 0
        return (self.pricing.version, self.availability.version, marks)

    def _build(
        self,
        node_class: Mapping[str, Any] | None,
        zones: Sequence[str] | None,
        region: str | None,
    ) -> _Built:
        sizing = NodeClassSizing.from_node_class(node_class)
        zone_key = tuple(sorted(set(self.zones if zones is None else zones)))
        region = region or self.region
        key = (sizing, zone_key, region)
        generation = self.generation()
        previous = self._built.get(key)
        if previous is not None and previous.generation == generation:
            self._built.move_to_end(key)
            return previous
        reuse = previous.by_name if previous is not None else {}
        sized = self._sizes(sizing)
        types = []
        max_on_demand, min_spot = self._price_bounds(zone_key)
        for spec in self.specs:
            offerings = self._offerings(spec, zone_key, max_on_demand, min_spot)
            if not offerings:
                continue
            old = reuse.get(spec.name)
            if old is not None and old.offerings == offerings:
                types.append(old)
                continue
            node_capacity, node_overhead = sized[spec.name]
            requirements = self._static_requirements(spec, region).add(
                *offering_requirements(offerings, region)
            )
            types.append(
                InstanceType(spec.name, requirements, node_capacity, node_overhead, offerings)
            )
        built = _Built(generation, tuple(types), {t.name: t for t in types})
        self._built[key] = built
        self._built.move_to_end(key)
        while len(self._built) > _CACHE_ENTRIES:
            self._built.popitem(last=False)
        return built

    def _sizes(self, sizing: NodeClassSizing) -> dict[str, tuple[Resources, Overhead]]:
        found = self._sized.get(sizing)
        if found is None:
            found = {spec.name: size(spec, sizing, self.options) for spec in self.specs}
            self._sized[sizing] = found
            while len(self._sized) > _CACHE_ENTRIES:
                self._sized.popitem(last=False)
        self._sized.move_to_end(sizing)
        return found

    def _static_requirements(self, spec: InstanceTypeSpec, region: str) -> Requirements:
        key = (spec.name, region)
        found = self._static.get(key)
        if found is None:
            found = self._static[key] = instance_requirements(spec, region)
        return found

    def _price_bounds(self, zones: tuple[str, ...]) -> tuple[float, float]:
        """(max on-demand, min spot) over the catalog: the scale of reserved prices."""
        if not self.availability.reservations:
            return (1.0, 1.0)
        max_on_demand, min_spot = 0.0, float("inf")
        for spec in self.specs:
            price = self.pricing.on_demand(spec.name, spec.on_demand_price)
            if price is None:
                continue
            max_on_demand = max(max_on_demand, price)
            for zone in zones:
                min_spot = min(min_spot, self.pricing.spot(spec.name, spec.family, zone, price))
        return (max_on_demand, min_spot) if max_on_demand > 0 else (1.0, 1.0)

    def _offerings(
        self, spec: InstanceTypeSpec, zones: tuple[str, ...], max_on_demand: float, min_spot: float
    ) -> tuple[Offering, ...]:
        on_demand = self.pricing.on_demand(spec.name, spec.on_demand_price)
        if on_demand is None:
            return ()
        offerings = []
        for zone in zones:
            spot = self.pricing.spot(spec.name, spec.family, zone, on_demand)
            for capacity_type, price in (
                (wk.CAPACITY_TYPE_SPOT, spot),
                (wk.CAPACITY_TYPE_ON_DEMAND, on_demand),
            ):
                offerings.append(
                    Offering(
                        zone, capacity_type, price, self._available(spec.name, zone, capacity_type)
                    )
                )
        for reservation in self.availability.reservations:
            if reservation.instance_type != spec.name or reservation.zone not in zones:
                continue
            remaining = self.availability.remaining(
                spec.name, reservation.zone, wk.CAPACITY_TYPE_RESERVED, reservation.id
            )
            price = reserved_price(on_demand, max_on_demand=max_on_demand, min_spot=min_spot)
            available = bool(remaining) and self._available(
                spec.name, reservation.zone, wk.CAPACITY_TYPE_RESERVED
            )
            offerings.append(
                Offering(
                    reservation.zone,
                    wk.CAPACITY_TYPE_RESERVED,
                    price,
                    available,
                    reservation_id=reservation.id,
                    remaining=remaining,
                )
            )
        return tuple(offerings)

    def _available(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        if self.unavailable is None:
            return True
        return not self.unavailable.is_unavailable(instance_type, zone, capacity_type)
