"""Prices and capacity of the simulated EC2 market: a seeded spot model, reservations, limits.

**On-demand** prices are the data's us-east-1 column (``on_demand_overrides`` replace or add
prices by type name); a type without a price has no offerings at all, as in Karpenter, which
only offers what it can price. Every region uses the us-east-1 prices.

**Spot** prices come from :class:`SpotPriceModel`, a pure function of (seed, type, zone)::

    u_pool   = uniform(-1, 1) from a hash of (seed, family, zone)   # the pool's market
    u_type   = uniform(-1, 1) from a hash of (seed, type, zone)     # this type in it
    discount = mean_discount + spread × (u_pool + u_type) / 2
    spot     = round(on_demand × (1 − discount), 4), at least 0.0001

so the discount follows a triangular distribution on ``[mean − spread, mean + spread]`` with
its mode at the mean — by default 65 % ± 5 %, the 60–70 % off on-demand people quote — and
sizes of one family in one zone move together (they share a capacity pool). Hashes are
BLAKE2b of the text, never Python's salted ``hash``, so a seed gives the same prices in every
process. ``overrides`` pin a spot price by ``"type"`` or ``"type/zone"`` (the latter wins).

**Reserved** offerings exist only for the :class:`CapacityReservation` s given by config. As
Karpenter's capacity-reservation design prescribes, their price is "near zero" yet keeps the
on-demand order: ``on_demand / (max on-demand / min spot) / 1,000,000`` over the catalog, which
is below every spot and on-demand price, so reserved capacity is always used first.

**Capacity** is :class:`Availability`, the cloud's own truth, hidden from the catalog as EC2
hides it from Karpenter: how many instances may be running at once in an offering (default
unlimited), set per offering with wildcards (a limit on ``("m5.large", None, "spot")`` applies
to each spot zone separately), and how much of each reservation is in use. The catalog learns
of exhaustion only through insufficient-capacity errors (see
:mod:`shipyard.cloud.unavailable`); reservation counts are the exception — they are visible,
as Karpenter reads them from the reservation itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.core.labels import CAPACITY_TYPE_RESERVED

__all__ = [
    "DEFAULT_MEAN_DISCOUNT",
    "DEFAULT_SPREAD",
    "Availability",
    "CapacityReservation",
    "OfferingKey",
    "Pricing",
    "SpotPriceModel",
    "reserved_price",
    "unit_hash",
]

DEFAULT_MEAN_DISCOUNT = 0.65
DEFAULT_SPREAD = 0.05
MIN_SPOT_PRICE = 0.0001
_RESERVED_SCALE = 1_000_000

# (instance type, zone, capacity type): how offerings are named in errors and caches.
OfferingKey = tuple[str, str, str]


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts' text (BLAKE2b, stable across runs)."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class SpotPriceModel:
    """Spot price per (type, zone); see the module docstring for the distribution."""

    seed: int = 0
    mean_discount: float = DEFAULT_MEAN_DISCOUNT
    spread: float = DEFAULT_SPREAD
    overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        low, high = self.mean_discount - self.spread, self.mean_discount + self.spread
        if self.spread < 0 or low < 0 or high >= 1:
            raise ValueError(
                f"spot discount range [{low:.3f}, {high:.3f}] must lie within [0, 1): "
                "check mean_discount and spread"
            )

    def discount(self, instance_type: str, family: str, zone: str) -> float:
        pool = unit_hash(self.seed, "pool", family, zone) * 2 - 1
        own = unit_hash(self.seed, "type", instance_type, zone) * 2 - 1
        return self.mean_discount + self.spread * (pool + own) / 2

    def price(self, instance_type: str, family: str, zone: str, on_demand: float) -> float:
        pinned = self.overrides.get(f"{instance_type}/{zone}", self.overrides.get(instance_type))
        if pinned is not None:
            return pinned
        spot = round(on_demand * (1 - self.discount(instance_type, family, zone)), 4)
        return max(MIN_SPOT_PRICE, spot)


def reserved_price(on_demand: float, *, max_on_demand: float, min_spot: float) -> float:
    """Karpenter's near-zero reserved price that keeps the on-demand order."""
    return on_demand / (max_on_demand / min_spot) / _RESERVED_SCALE


class Pricing:
    """On-demand and spot prices; ``version`` changes whenever a price does."""

    def __init__(
        self,
        spot: SpotPriceModel | None = None,
        *,
        on_demand_overrides: Mapping[str, float] | None = None,
    ) -> None:
        self._spot = spot or SpotPriceModel()
        self._on_demand_overrides = dict(on_demand_overrides or {})
        self._spot_cache: dict[tuple[str, str, float], float] = {}
        self.version = 0

    @property
    def spot_model(self) -> SpotPriceModel:
        return self._spot

    def on_demand(self, instance_type: str, published: float | None) -> float | None:
        return self._on_demand_overrides.get(instance_type, published)

    def spot(self, instance_type: str, family: str, zone: str, on_demand: float) -> float:
        key = (instance_type, zone, on_demand)
        found = self._spot_cache.get(key)
        if found is None:
            found = self._spot_cache[key] = self._spot.price(instance_type, family, zone, on_demand)
        return found

    def set_spot_model(self, model: SpotPriceModel) -> None:
        self._spot = model
        self._spot_cache.clear()
        self.version += 1

    def set_on_demand_price(self, instance_type: str, price: float | None) -> None:
        """Override (or, with ``None``, restore) the on-demand price of one type."""
        if price is None:
            self._on_demand_overrides.pop(instance_type, None)
        else:
            self._on_demand_overrides[instance_type] = price
        self.version += 1


@dataclass(frozen=True)
class CapacityReservation:
    """An on-demand capacity reservation: ``count`` instances of one type in one zone."""

    id: str
    instance_type: str
    zone: str
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"capacity reservation {self.id}: count must be >= 0")


class Availability:
    """How many instances each offering can hold at once, and what is running in it."""

    def __init__(
        self,
        *,
        reservations: Iterable[CapacityReservation] = (),
        limits: Mapping[tuple[str, str | None, str | None], int | None] | None = None,
    ) -> None:
        self._limits: dict[tuple[str, str | None, str | None], int] = {}
        self._reservations: dict[str, CapacityReservation] = {}
        self._in_use: dict[str, int] = {}  # offering or reservation key -> running instances
        self.version = 0
        for reservation in reservations:
            self.add_reservation(reservation)
        for (instance_type, zone, capacity_type), count in (limits or {}).items():
            self.set_capacity(instance_type, zone, capacity_type, count)

    # --- configuration ---------------------------------------------------------------------

    def set_capacity(
        self,
        instance_type: str,
        zone: str | None = None,
        capacity_type: str | None = None,
        count: int | None = None,
    ) -> None:
        """Allow at most ``count`` running instances per matching offering (``None``: no limit).

        ``zone`` / ``capacity_type`` ``None`` match every zone / capacity type; the most
        specific limit applies.
        """
        key = (instance_type, zone, capacity_type)
        if count is None:
            self._limits.pop(key, None)
        else:
            if count < 0:
                raise ValueError(f"capacity of {key} must be >= 0, got {count}")
            self._limits[key] = count
        self.version += 1

    def mark_unavailable(
        self, instance_type: str, zone: str | None = None, capacity_type: str | None = None
    ) -> None:
        """The cloud has no capacity for these offerings now (launches raise ICE)."""
        self.set_capacity(instance_type, zone, capacity_type, 0)

    def mark_available(
        self, instance_type: str, zone: str | None = None, capacity_type: str | None = None
    ) -> None:
        self.set_capacity(instance_type, zone, capacity_type, None)

    def add_reservation(self, reservation: CapacityReservation) -> None:
        if reservation.id in self._reservations:
            raise AlreadyExistsError(f'capacity reservation "{reservation.id}" already exists')
        self._reservations[reservation.id] = reservation
        self.version += 1

    def remove_reservation(self, reservation_id: str) -> None:
        if self._reservations.pop(reservation_id, None) is None:
            raise NotFoundError(f'capacity reservation "{reservation_id}" not found')
        self.version += 1

    @property
    def reservations(self) -> tuple[CapacityReservation, ...]:
        return tuple(self._reservations[k] for k in sorted(self._reservations))

    # --- queries ---------------------------------------------------------------------------

    def limit(self, instance_type: str, zone: str, capacity_type: str) -> int | None:
        for key in (
            (instance_type, zone, capacity_type),
            (instance_type, zone, None),
            (instance_type, None, capacity_type),
            (instance_type, None, None),
        ):
            if key in self._limits:
                return self._limits[key]
        return None

    def remaining(
        self, instance_type: str, zone: str, capacity_type: str, reservation_id: str = ""
    ) -> int | None:
        """Instances that can still launch into the offering (``None``: unlimited)."""
        if capacity_type == CAPACITY_TYPE_RESERVED:
            reservation = self._reservations.get(reservation_id)
            if reservation is None:
                return 0
            return max(0, reservation.count - self._in_use.get(reservation_id, 0))
        limit = self.limit(instance_type, zone, capacity_type)
        if limit is None:
            return None
        return max(0, limit - self._in_use.get(_pool(instance_type, zone, capacity_type), 0))

    def has_capacity(
        self, instance_type: str, zone: str, capacity_type: str, reservation_id: str = ""
    ) -> bool:
        remaining = self.remaining(instance_type, zone, capacity_type, reservation_id)
        return remaining is None or remaining > 0

    # --- usage -----------------------------------------------------------------------------

    def acquire(
        self, instance_type: str, zone: str, capacity_type: str, reservation_id: str = ""
    ) -> None:
        """Count one more running instance in the offering (the caller checked capacity)."""
        key = self._usage_key(instance_type, zone, capacity_type, reservation_id)
        self._in_use[key] = self._in_use.get(key, 0) + 1
        if capacity_type == CAPACITY_TYPE_RESERVED:
            self.version += 1

    def release(
        self, instance_type: str, zone: str, capacity_type: str, reservation_id: str = ""
    ) -> None:
        key = self._usage_key(instance_type, zone, capacity_type, reservation_id)
        self._in_use[key] = max(0, self._in_use.get(key, 0) - 1)
        if capacity_type == CAPACITY_TYPE_RESERVED:
            self.version += 1

    def in_use(
        self, instance_type: str, zone: str, capacity_type: str, reservation_id: str = ""
    ) -> int:
        return self._in_use.get(
            self._usage_key(instance_type, zone, capacity_type, reservation_id), 0
        )

    @staticmethod
    def _usage_key(instance_type: str, zone: str, capacity_type: str, reservation_id: str) -> str:
        if capacity_type == CAPACITY_TYPE_RESERVED:
            return reservation_id
        return _pool(instance_type, zone, capacity_type)


def _pool(instance_type: str, zone: str, capacity_type: str) -> str:
    return f"{instance_type}/{zone}/{capacity_type}"
