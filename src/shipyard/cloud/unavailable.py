"""Offerings recently found out of capacity, remembered for a while (Karpenter's ICE cache).

When a launch fails with insufficient capacity, the offerings it tried are marked here and the
catalog reports them ``available=False`` until the mark expires — 3 minutes by default, the TTL
Karpenter's AWS provider uses — so the next scheduling round plans around them instead of
failing again. Time comes from the injected clock. Expiry is lazy: nothing is scheduled on the
clock; :meth:`UnavailableOfferings.generation` drops expired marks and changes whenever the
set does, which is what lets the catalog cache instance types between changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipyard.core.clock import Clock

__all__ = ["DEFAULT_UNAVAILABLE_TTL", "UnavailableOffering", "UnavailableOfferings"]

DEFAULT_UNAVAILABLE_TTL = 180.0


@dataclass(frozen=True)
class UnavailableOffering:
    instance_type: str
    zone: str
    capacity_type: str
    expires: float  # clock seconds
    reason: str = ""


class UnavailableOfferings:
    """A TTL set of (instance type, zone, capacity type)."""

    def __init__(self, clock: Clock, ttl: float = DEFAULT_UNAVAILABLE_TTL) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self._clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[str, str, str], UnavailableOffering] = {}
        self._generation = 0

    def mark(self, instance_type: str, zone: str, capacity_type: str, *, reason: str = "") -> None:
        """Unavailable for ``ttl`` seconds from now (a second mark extends it)."""
        key = (instance_type, zone, capacity_type)
        expires = self._clock.now() + self.ttl
        self._entries[key] = UnavailableOffering(
            instance_type, zone, capacity_type, expires, reason
        )
        self._generation += 1

    def mark_all(self, offerings: Iterable[tuple[str, str, str]], *, reason: str = "") -> None:
        for instance_type, zone, capacity_type in offerings:
            self.mark(instance_type, zone, capacity_type, reason=reason)

    def is_unavailable(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        entry = self._entries.get((instance_type, zone, capacity_type))
        return entry is not None and entry.expires > self._clock.now()

    def delete(self, instance_type: str, zone: str, capacity_type: str) -> None:
        """Forget a mark early (capacity came back)."""
        if self._entries.pop((instance_type, zone, capacity_type), None) is not None:
            self._generation += 1

    def entries(self) -> list[UnavailableOffering]:
        """The marks still in force, by key."""
        self._expire()
        return [self._entries[k] for k in sorted(self._entries)]

    def generation(self) -> int:
        """A number that changes whenever the set of unavailable offerings does."""
        self._expire()
        return self._generation

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def _expire(self) -> None:
        now = self._clock.now()
        expired = [k for k, e in self._entries.items() if e.expires <= now]
        for key in expired:
            del self._entries[key]
        if expired:
            self._generation += 1
