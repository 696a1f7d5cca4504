"""Named helpers for the cloud tests: small catalogs, hand-made instance types, requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.cloud.catalog import Catalog
from shipyard.cloud.pricing import Availability, Pricing
from shipyard.cloud.provider import InstanceType, LaunchRequest, Offering, Overhead
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.core.clock import VirtualClock
from shipyard.core.requirements import IN, Requirement, Requirements

SMALL = ("t3.medium", "t3.large", "t4g.medium", "t4g.large", "m5.large", "m5.xlarge", "c5.large")
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def small_catalog(
    clock: VirtualClock,
    names: Iterable[str] = SMALL,
    *,
    pricing: Pricing | None = None,
    availability: Availability | None = None,
) -> Catalog:
    return Catalog(
        [spec_by_name(n) for n in names],
        pricing=pricing,
        availability=availability,
        unavailable=UnavailableOfferings(clock),
    )


def small_cloud(clock: VirtualClock, names: Iterable[str] = SMALL, **kwargs: Any) -> SimulatedCloud:
    pricing = kwargs.pop("pricing", None)
    availability = kwargs.pop("availability", None)
    catalog = small_catalog(clock, names, pricing=pricing, availability=availability)
    return SimulatedCloud(clock, catalog=catalog, **kwargs)


def reqs(*terms: tuple[str, str, Sequence[str]]) -> Requirements:
    """``reqs(("topology.kubernetes.io/zone", "In", ["us-east-1a"]), ...)``."""
    return Requirements(Requirement.create(k, op, vals) for k, op, vals in terms)


def make_type(
    name: str,
    prices: Mapping[tuple[str, str], float],
    *,
    cpu: int = 2000,
    arch: str = "amd64",
    unavailable: Iterable[tuple[str, str]] = (),
) -> InstanceType:
    """A hand-made type with offerings {(zone, capacity type): price}."""
    down = set(unavailable)
    offerings = tuple(
        Offering(zone, ct, price, available=(zone, ct) not in down)
        for (zone, ct), price in sorted(prices.items())
    )
    live = [o for o in offerings if o.available]
    requirements = Requirements(
        (
            Requirement.create("node.kubernetes.io/instance-type", IN, [name]),
            Requirement.create("kubernetes.io/arch", IN, [arch]),
            Requirement.create("topology.kubernetes.io/zone", IN, sorted({o.zone for o in live})),
            Requirement.create(
                "karpenter.sh/capacity-type", IN, sorted({o.capacity_type for o in live})
            ),
        )
    )
    capacity = {"cpu": cpu, "memory": 4 * 1024**3, "pods": 20}
    return InstanceType(name, requirements, capacity, Overhead(), offerings)


def both_types(
    name: str, spot: float, on_demand: float, zones: Sequence[str] = ZONES
) -> InstanceType:
    prices = {}
    for zone in zones:
        prices[(zone, "spot")] = spot
        prices[(zone, "on-demand")] = on_demand
    return make_type(name, prices)


def request(
    instance_types: Sequence[InstanceType],
    requirements: Requirements | None = None,
    **kwargs: Any,
) -> LaunchRequest:
    return LaunchRequest(
        claim_name=kwargs.pop("claim_name", "default-abcde"),
        nodepool=kwargs.pop("nodepool", "default"),
        instance_types=instance_types,
        requirements=requirements or Requirements(),
        **kwargs,
    )
