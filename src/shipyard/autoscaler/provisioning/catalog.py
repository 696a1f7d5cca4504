"""One NodePool's instance types, indexed so a planned claim's options are a bitmask.

A claim keeps the instance types that still fit it as an ``int`` bitmask over the pool's
types (bit ``i`` is ``types[i]``; types are ordered by their cheapest offering under the
pool's template requirements, then name). Everything the scheduler asks becomes a few bit
operations on precomputed masks:

- **requirements** — for a key the types label with finite values, the types whose values
  intersect a requirement are the OR of per-value masks (plus the types that leave the key
  undefined, which Karpenter's ``Intersects`` lets through); rare non-finite type requirements
  are checked one by one. Masks are memoised per :class:`Requirement`.
- **offerings** — types with an *available* offering whose zone and capacity type the
  requirements allow, memoised per (zone, capacity-type) requirement pair.
- **resources** — for each resource, the types' allocatable values sorted once; the types
  with at least ``x`` are a precomputed suffix mask found by bisection, and a request fits
  the AND over its resources.
- **limits** — the types whose capacity fits in a pool's remaining limits;
- **efficient size** — the types up to the price of the one that runs many copies of a pod
  shape cheapest per pod (what a new claim may grow to, see :mod:`.planner`).

Allocatable is computed once per type (``InstanceType.allocatable``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.cloud.provider import InstanceType
from shipyard.core.labels import CAPACITY_TYPE, ZONE
from shipyard.core.requirements import DOES_NOT_EXIST, NOT_IN, Requirement, Requirements

__all__ = ["EFFICIENCY_TOLERANCE", "Catalog", "FilterReport", "bits"]

EFFICIENCY_TOLERANCE = 0.02
_EXCLUDING = (NOT_IN, DOES_NOT_EXIST)


def bits(mask: int) -> Iterable[int]:
    """Indexes of the set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass(frozen=True, slots=True)
class FilterReport:
    """Which of Karpenter's three instance-type criteria some type met (for the message)."""

    requirements: bool
    fits: bool
    offering: bool
    requirements_and_fits: bool
    requirements_and_offering: bool
    fits_and_offering: bool

    def reason(self) -> str:
        """Karpenter's explanation of why no instance type remained."""
        met = (self.requirements, self.fits, self.offering)
        names = (
            "met the scheduling requirements",
            "had enough resources",
            "had a required offering",
        )
        missing = [name for name, ok in zip(names, met, strict=True) if not ok]
        if len(missing) >= 2:
            return "no instance type " + " or ".join(missing)
        single = {
            0: "no instance type met all requirements",
            1: "no instance type has enough resources",
            2: "no instance type has the required offering",
        }
        if len(missing) == 1:
            return single[met.index(False)]
        if self.requirements_and_fits:
            return (
                "no instance type which met the scheduling requirements and had enough "
                "resources, had a required offering"
            )
        if self.fits_and_offering:
            return (
                "no instance type which had enough resources and the required offering met "
                "the scheduling requirements"
            )
        if self.requirements_and_offering:
            return (
                "no instance type which met the scheduling requirements and the required "
                "offering had the required resources"
            )
        return "no instance type met the requirements/resources/offering tuple"


_CACHE: dict[tuple[Any, ...], tuple[Sequence[InstanceType], Catalog]] = {}
_CACHE_MAX = 64
_IN_ORDER_MAX = 4_096


def cached_catalog(
    instance_types: Sequence[InstanceType],
    template: Requirements,
    daemons: Sequence[tuple[Sequence[Requirements], Mapping[str, int]]] = (),
) -> Catalog:
    """A :class:`Catalog`, shared by every solve over the same instance type objects (they are
    immutable: a change of price or availability makes new ones), template and DaemonSets.
    Consolidation solves many what-ifs per pass; building the masks was most of each."""
    key = (
        tuple(map(id, instance_types)),
        template,
        tuple((tuple(terms), tuple(sorted(requests.items()))) for terms, requests in daemons),
    )
    found = _CACHE.get(key)
    if found is not None:
        return found[1]
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    catalog = Catalog(instance_types, template, daemons)
    _CACHE[key] = (tuple(instance_types), catalog)  # the types kept alive: their ids stay theirs
    return catalog


class Catalog:
    """The pool's usable instance types with the masks described in the module docstring."""

    def __init__(
        self,
        instance_types: Iterable[InstanceType],
        template: Requirements,
        daemons: Sequence[tuple[Sequence[Requirements], Mapping[str, int]]] = (),
    ) -> None:
        """``daemons`` are the pool's DaemonSet pods (their required node-affinity terms and
        requests); each type's overhead is the requests of those whose affinity its labels
        allow, and is subtracted from its allocatable once."""
        zone, ctype = template.get(ZONE), template.get(CAPACITY_TYPE)
        priced = []
        for it in instance_types:
            prices = [
                o.price
                for o in it.offerings
                if o.available and zone.has(o.zone) and ctype.has(o.capacity_type)
            ]
            if prices and _intersects(it.requirements, template):
                priced.append((min(prices), it.name, it))
        priced.sort(key=lambda entry: entry[:2])
        self.types: list[InstanceType] = [it for _, _, it in priced]
        self.base_prices: list[float] = [price for price, _, _ in priced]
        usable = self.types
        self.overheads: list[dict[str, int]] = [_overhead(it, template, daemons) for it in usable]
        self.full: int = (1 << len(usable)) - 1
        self._key_masks: dict[Requirement, int] = {}
        self._offer_masks: dict[tuple[Requirement, Requirement], int] = {}
        self._prices: dict[tuple[Requirement, Requirement], list[tuple[float, str, int]]] = {}
        self._in_order: dict[
            tuple[int, int], tuple[list[tuple[float, int]], tuple[InstanceType, ...]]
        ] = {}
        self._index_labels()
        self._index_resources()
        self._index_offerings()
        self.base_offer_mask = self.offering_mask(zone, ctype)

    # --- indexes ----------------------------------------------------------------------------

    def _index_labels(self) -> None:
        values: dict[str, dict[str, int]] = {}
        defined: dict[str, int] = {}
        odd: dict[str, list[int]] = {}  # types whose requirement on the key is not "In values"
        for i, it in enumerate(self.types):
            bit = 1 << i
            for key in it.requirements:
                req = it.requirements.get(key)
                defined[key] = defined.get(key, 0) | bit
                if req.complement or not req.value_set:
                    odd.setdefault(key, []).append(i)
                    continue
                per_value = values.setdefault(key, {})
                for v in req.value_set:
                    per_value[v] = per_value.get(v, 0) | bit
        self.value_masks = values
        self._defined = defined
        self._odd = odd

    def _index_resources(self) -> None:
        self.room: list[dict[str, int]] = [
            {k: v - overhead.get(k, 0) for k, v in it.allocatable.items()}
            for it, overhead in zip(self.types, self.overheads, strict=True)
        ]
        names = sorted({r for room in self.room for r in room})
        self._thresholds: dict[str, list[int]] = {}
        self._suffix: dict[str, list[int]] = {}
        for name in names:
            pairs = sorted((room.get(name, 0), i) for i, room in enumerate(self.room))
            values = [v for v, _ in pairs]
            suffix = [0] * (len(pairs) + 1)
            for j in range(len(pairs) - 1, -1, -1):
                suffix[j] = suffix[j + 1] | (1 << pairs[j][1])
            self._thresholds[name] = values
            self._suffix[name] = suffix

    def _index_offerings(self) -> None:
        by_offer: dict[tuple[str, str], int] = {}
        for i, it in enumerate(self.types):
            for o in it.offerings:
                if o.available:
                    key = (o.zone, o.capacity_type)
                    by_offer[key] = by_offer.get(key, 0) | (1 << i)
        self._by_offer = by_offer

    # --- queries ----------------------------------------------------------------------------

    def key_mask(self, req: Requirement) -> int:
        """Types whose label requirement on ``req.key`` intersects ``req`` (undefined: yes)."""
        found = self._key_masks.get(req)
        if found is not None:
            return found
        defined = self._defined.get(req.key, 0)
        mask = self.full & ~defined
        for value, value_mask in self.value_masks.get(req.key, {}).items():
            if req.has(value):
                mask |= value_mask
        for i in self._odd.get(req.key, ()):
            if _pair_intersects(self.types[i].requirements.get(req.key), req):
                mask |= 1 << i
        self._key_masks[req] = mask
        return mask

    def offering_mask(self, zone: Requirement, capacity_type: Requirement) -> int:
        """Types with an available offering in an allowed zone and capacity type."""
        key = (zone, capacity_type)
        found = self._offer_masks.get(key)
        if found is None:
            found = 0
            for (z, ct), mask in self._by_offer.items():
                if zone.has(z) and capacity_type.has(ct):
                    found |= mask
            self._offer_masks[key] = found
        return found

    def offered(self, key: str, mask: int, reqs: Requirements) -> set[str] | None:
        """Values of ``key`` some type in ``mask`` has (zones and capacity types: with an
        available offering the requirements allow); ``None`` when no type labels the key."""
        if key == ZONE:
            ctype = reqs.get(CAPACITY_TYPE)
            return {z for (z, c), m in self._by_offer.items() if m & mask and ctype.has(c)}
        if key == CAPACITY_TYPE:
            zone = reqs.get(ZONE)
            return {c for (z, c), m in self._by_offer.items() if m & mask and zone.has(z)}
        values = self.value_masks.get(key)
        if values is None:
            return None
        return {v for v, m in values.items() if m & mask}

    def label_mask(self, reqs: Requirements) -> int:
        """Types compatible with every requirement (labels only, not offerings)."""
        mask = self.full
        for key in reqs:
            mask &= self.key_mask(reqs.get(key))
            if not mask:
                break
        return mask

    def requirements_mask(self, reqs: Requirements) -> int:
        """Types compatible with the requirements that also have a compatible offering."""
        return self.label_mask(reqs) & self.offering_mask(reqs.get(ZONE), reqs.get(CAPACITY_TYPE))

    def fit_mask(self, requests: Mapping[str, int]) -> int:
        """Types whose allocatable, after their DaemonSet overhead, holds ``requests`` (zero
        requests are ignored)."""
        mask = self.full
        for name, value in requests.items():
            if value <= 0:
                continue
            values = self._thresholds.get(name)
            if values is None:
                return 0
            mask &= self._suffix[name][bisect_left(values, value)]
            if not mask:
                return 0
        return mask

    def fit_more(self, held: Mapping[str, int], more: Mapping[str, int]) -> int:
        """Types that hold ``held`` plus ``more``, *assuming they already hold* ``held``: only
        the resources ``more`` asks for are checked (a claim's types always fit its pods)."""
        mask = self.full
        for name, value in more.items():
            if value <= 0:
                continue
            values = self._thresholds.get(name)
            if values is None:
                return 0
            mask &= self._suffix[name][bisect_left(values, value + held.get(name, 0))]
            if not mask:
                return 0
        return mask

    def limits_mask(self, remaining: Mapping[str, int] | None) -> int:
        """Types that, launched, stay within the remaining limits (``None``: all of them)."""
        if remaining is None:
            return self.full
        if remaining.get("nodes", 1) < 1:
            return 0
        mask = 0
        for i, it in enumerate(self.types):
            if all(
                it.capacity.get(name, 0) <= left
                for name, left in remaining.items()
                if name != "nodes"
            ):
                mask |= 1 << i
        return mask

    def efficient_cap(self, mask: int, requests: Mapping[str, int]) -> int:
        """The types priced up to the most cost-efficient one for many copies of a pod.

        A type's cost per pod is its price over how many copies of ``requests`` fit beside its
        DaemonSet overhead; among the types in ``mask`` within :data:`EFFICIENCY_TOLERANCE` of
        the best, the priciest (largest) wins, so fewer nodes cost next to nothing more.
        Returns a mask of every type at most that price (the full mask when nothing fits).
        """
        best: list[tuple[float, float]] = []  # (price per pod, price)
        for i in bits(mask):
            room, copies = self.room[i], None
            for name, value in requests.items():
                if value > 0:
                    fit = room.get(name, 0) // value
                    copies = fit if copies is None else min(copies, fit)
            if copies is not None and copies >= 1:
                best.append((self.base_prices[i] / copies, self.base_prices[i]))
        if not best:
            return self.full
        lowest = min(per_pod for per_pod, _ in best)
        ceiling = max(p for per_pod, p in best if per_pod <= lowest * (1 + EFFICIENCY_TOLERANCE))
        return (1 << bisect_right(self.base_prices, ceiling)) - 1

    def max_capacity(self, mask: int) -> dict[str, int]:
        """Per resource, the largest capacity among the types (what a claim may grow to)."""
        out: dict[str, int] = {}
        for i in bits(mask):
            for name, value in self.types[i].capacity.items():
                if value > out.get(name, 0):
                    out[name] = value
        return out

    def price_order(self, reqs: Requirements) -> list[tuple[float, str, int]]:
        """(cheapest compatible offering price, name, index) of every type, cheapest first."""
        key = (reqs.get(ZONE), reqs.get(CAPACITY_TYPE))
        found = self._prices.get(key)
        if found is None:
            found = []
            for i, it in enumerate(self.types):
                prices = [
                    o.price
                    for o in it.offerings
                    if o.available and key[0].has(o.zone) and key[1].has(o.capacity_type)
                ]
                if prices:
                    found.append((min(prices), it.name, i))
            found.sort()
            self._prices[key] = found
        return found

    def in_price_order(
        self, mask: int, reqs: Requirements
    ) -> tuple[list[tuple[float, int]], tuple[InstanceType, ...]]:
        """(price, index) of the types in ``mask``, cheapest first under ``reqs``' offerings,
        and the types in that order; kept per (offerings allowed, mask), since what-ifs plan
        the same claims again and again. Shared: not to be changed."""
        order = self.price_order(reqs)
        key = (id(order), mask)  # the order lists live as long as the catalog
        found = self._in_order.get(key)
        if found is None:
            bits = bin(mask)[:1:-1]  # bit i at index i: one pass over a mask of every type
            chosen = [(price, i) for price, _, i in order if i < len(bits) and bits[i] == "1"]
            if len(self._in_order) >= _IN_ORDER_MAX:
                self._in_order.clear()
            found = self._in_order[key] = (chosen, tuple(self.types[i] for _, i in chosen))
        return found

    def cheapest(self, mask: int, reqs: Requirements) -> tuple[float, int] | None:
        """The price and index of the cheapest type in ``mask`` under ``reqs``' offerings."""
        for price, _, i in self.price_order(reqs):
            if mask >> i & 1:
                return price, i
        return None

    def min_values_error(self, reqs: Requirements, mask: int) -> str | None:
        """Karpenter's message when the types left offer too few values for a minValues key."""
        short = []
        for key in reqs:
            req = reqs.get(key)
            if req.min_values is None:
                continue
            seen = sum(
                1 for v, m in self.value_masks.get(key, {}).items() if m & mask and req.has(v)
            )
            if seen < req.min_values:
                short.append(key)
        if not short:
            return None
        return f"minValues requirement is not met for label(s) (label(s)=[{' '.join(short)}])"

    def report(self, mask: int, reqs: Requirements, requests: Mapping[str, int]) -> FilterReport:
        """Which criteria some type among ``mask`` met, for the error message."""
        compat = self.label_mask(reqs) & mask
        fit = self.fit_mask(requests) & mask
        offer = self.offering_mask(reqs.get(ZONE), reqs.get(CAPACITY_TYPE)) & mask
        return FilterReport(
            requirements=bool(compat),
            fits=bool(fit),
            offering=bool(offer),
            requirements_and_fits=bool(compat & fit & ~offer),
            requirements_and_offering=bool(compat & offer & ~fit),
            fits_and_offering=bool(fit & offer & ~compat),
        )


def _pair_intersects(existing: Requirement, incoming: Requirement) -> bool:
    if existing.intersects(incoming):
        return True
    return existing.operator() in _EXCLUDING and incoming.operator() in _EXCLUDING


def _overhead(
    it: InstanceType,
    template: Requirements,
    daemons: Sequence[tuple[Sequence[Requirements], Mapping[str, int]]],
) -> dict[str, int]:
    total: dict[str, int] = {}
    labels: Requirements | None = None
    for terms, requests in daemons:
        if not all(len(t) for t in terms):
            runs = bool(terms)  # a term without expressions: the DaemonSet runs everywhere
        else:
            labels = labels if labels is not None else template.intersection(it.requirements)
            runs = any(labels.compatible(t) is None for t in terms)
        if runs:
            for name, value in requests.items():
                total[name] = total.get(name, 0) + value
    return total


def _intersects(type_reqs: Requirements, reqs: Requirements) -> bool:
    return all(_pair_intersects(type_reqs.get(k), reqs.get(k)) for k in type_reqs if k in reqs)
