"""The spot price model, capacity limits and reservations, and the unavailable-offerings cache."""

from __future__ import annotations

import statistics

import pytest

from shipyard.cloud.pricing import (
    Availability,
    CapacityReservation,
    Pricing,
    SpotPriceModel,
    reserved_price,
    unit_hash,
)
from shipyard.cloud.specs import instance_type_specs
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import AlreadyExistsError, NotFoundError

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def discounts(model: SpotPriceModel) -> list[float]:
    out = []
    for spec in instance_type_specs():
        if spec.on_demand_price is None or spec.on_demand_price < 0.5:
            continue  # rounding to 4 decimals blurs cheap types
        for zone in ZONES:
            spot = model.price(spec.name, spec.family, zone, spec.on_demand_price)
            out.append(1 - spot / spec.on_demand_price)
    return out


def test_spot_prices_are_deterministic_for_a_seed() -> None:
    a, b = SpotPriceModel(seed=7), SpotPriceModel(seed=7)
    assert a.price("m5.large", "m5", "us-east-1a", 0.096) == b.price(
        "m5.large", "m5", "us-east-1a", 0.096
    )
    assert unit_hash(1, "x") == unit_hash(1, "x") != unit_hash(2, "x")


def test_default_discount_lies_in_60_to_70_percent_around_65() -> None:
    observed = discounts(SpotPriceModel())
    assert min(observed) >= 0.60 - 1e-3
    assert max(observed) <= 0.70 + 1e-3
    assert statistics.mean(observed) == pytest.approx(0.65, abs=0.01)
    assert statistics.pstdev(observed) > 0.01  # not a constant


def test_seed_changes_prices_and_zones_differ() -> None:
    a, b = SpotPriceModel(seed=1), SpotPriceModel(seed=2)
    assert a.price("c5.xlarge", "c5", "us-east-1a", 0.17) != b.price(
        "c5.xlarge", "c5", "us-east-1a", 0.17
    )
    prices = {a.price("m5.4xlarge", "m5", z, 0.768) for z in ZONES}
    assert len(prices) == 3


def test_mean_and_spread_are_configurable() -> None:
    observed = discounts(SpotPriceModel(mean_discount=0.3, spread=0.1))
    assert min(observed) >= 0.2 - 1e-3 and max(observed) <= 0.4 + 1e-3
    assert statistics.mean(observed) == pytest.approx(0.3, abs=0.015)


def test_overrides_by_type_and_by_type_in_zone() -> None:
    model = SpotPriceModel(overrides={"m5.large": 0.05, "m5.large/us-east-1b": 0.02})
    assert model.price("m5.large", "m5", "us-east-1a", 0.096) == 0.05
    assert model.price("m5.large", "m5", "us-east-1b", 0.096) == 0.02


def test_invalid_discount_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="discount range"):
        SpotPriceModel(mean_discount=0.95, spread=0.1)
    with pytest.raises(ValueError, match="discount range"):
        SpotPriceModel(spread=-0.1)


def test_cheap_spot_prices_never_reach_zero() -> None:
    assert SpotPriceModel().price("t4g.nano", "t4g", "us-east-1a", 0.0001) >= 0.0001


def test_pricing_version_moves_with_every_change() -> None:
    pricing = Pricing()
    before = pricing.spot("m5.large", "m5", "us-east-1a", 0.096)
    pricing.set_spot_model(SpotPriceModel(overrides={"m5.large": 0.01}))
    assert pricing.version == 1
    assert pricing.spot("m5.large", "m5", "us-east-1a", 0.096) == 0.01 != before
    pricing.set_on_demand_price("m5.large", 0.2)
    assert pricing.on_demand("m5.large", 0.096) == 0.2
    pricing.set_on_demand_price("m5.large", None)
    assert pricing.on_demand("m5.large", 0.096) == 0.096
    assert pricing.version == 3


def test_reserved_price_is_below_everything_yet_keeps_order() -> None:
    small = reserved_price(0.096, max_on_demand=400.0, min_spot=0.0015)
    large = reserved_price(4.6, max_on_demand=400.0, min_spot=0.0015)
    assert 0 < small < large < 0.0015


# --- availability --------------------------------------------------------------------------


def test_capacity_is_unlimited_by_default_and_limits_count_running_instances() -> None:
    availability = Availability()
    assert availability.remaining("m5.large", "us-east-1a", "spot") is None
    availability.set_capacity("m5.large", "us-east-1a", "spot", 1)
    assert availability.has_capacity("m5.large", "us-east-1a", "spot")
    availability.acquire("m5.large", "us-east-1a", "spot")
    assert not availability.has_capacity("m5.large", "us-east-1a", "spot")
    assert availability.has_capacity("m5.large", "us-east-1b", "spot")
    availability.release("m5.large", "us-east-1a", "spot")
    assert availability.remaining("m5.large", "us-east-1a", "spot") == 1


def test_wildcard_limits_apply_per_offering_and_the_most_specific_wins() -> None:
    availability = Availability(limits={("m5.large", None, "spot"): 0})
    assert not availability.has_capacity("m5.large", "us-east-1a", "spot")
    assert not availability.has_capacity("m5.large", "us-east-1c", "spot")
    assert availability.has_capacity("m5.large", "us-east-1a", "on-demand")
    availability.set_capacity("m5.large", "us-east-1c", "spot", 3)
    assert availability.remaining("m5.large", "us-east-1c", "spot") == 3
    availability.mark_available("m5.large", None, "spot")
    assert availability.has_capacity("m5.large", "us-east-1a", "spot")
    availability.mark_unavailable("c5.large")
    assert not availability.has_capacity("c5.large", "us-east-1b", "on-demand")


def test_reservations_count_their_own_use() -> None:
    availability = Availability(
        reservations=[CapacityReservation("cr-1", "m5.large", "us-east-1a", 1)]
    )
    assert availability.remaining("m5.large", "us-east-1a", "reserved", "cr-1") == 1
    assert availability.remaining("m5.large", "us-east-1a", "reserved", "cr-unknown") == 0
    availability.acquire("m5.large", "us-east-1a", "reserved", "cr-1")
    assert not availability.has_capacity("m5.large", "us-east-1a", "reserved", "cr-1")
    assert availability.in_use("m5.large", "us-east-1a", "reserved", "cr-1") == 1
    with pytest.raises(AlreadyExistsError):
        availability.add_reservation(CapacityReservation("cr-1", "c5.large", "us-east-1a", 1))
    availability.remove_reservation("cr-1")
    with pytest.raises(NotFoundError):
        availability.remove_reservation("cr-1")
    with pytest.raises(ValueError):
        CapacityReservation("cr-2", "m5.large", "us-east-1a", -1)


# --- unavailable offerings -----------------------------------------------------------------


def test_unavailable_offerings_expire_after_three_minutes() -> None:
    clock = VirtualClock()
    cache = UnavailableOfferings(clock)
    generation = cache.generation()
    cache.mark("m5.large", "us-east-1a", "spot", reason="InsufficientInstanceCapacity")
    assert cache.is_unavailable("m5.large", "us-east-1a", "spot")
    assert not cache.is_unavailable("m5.large", "us-east-1b", "spot")
    assert cache.generation() != generation
    marked = cache.generation()
    clock.advance(179.9)
    assert cache.is_unavailable("m5.large", "us-east-1a", "spot")
    assert cache.generation() == marked
    clock.advance(0.1)
    assert not cache.is_unavailable("m5.large", "us-east-1a", "spot")
    assert cache.generation() != marked
    assert len(cache) == 0 and clock.pending() == 0  # nothing left on the clock


def test_marking_again_extends_and_delete_forgets() -> None:
    clock = VirtualClock()
    cache = UnavailableOfferings(clock, ttl=60)
    cache.mark_all([("m5.large", "us-east-1a", "spot"), ("c5.large", "us-east-1a", "spot")])
    clock.advance(50)
    cache.mark("m5.large", "us-east-1a", "spot")
    clock.advance(20)
    assert [e.instance_type for e in cache.entries()] == ["m5.large"]
    cache.delete("m5.large", "us-east-1a", "spot")
    assert not cache.is_unavailable("m5.large", "us-east-1a", "spot")
    with pytest.raises(ValueError):
        UnavailableOfferings(clock, ttl=0)
