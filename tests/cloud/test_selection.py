"""select_offering: the launch decision SimulatedCloud and FakeCloud share."""

from __future__ import annotations

import pytest

from shipyard.cloud.provider import InstanceType, InsufficientCapacityError, Offering
from shipyard.cloud.selection import MAX_INSTANCE_TYPES, select_offering

from .helpers import both_types, make_type, reqs

ZONE = "topology.kubernetes.io/zone"
CT = "karpenter.sh/capacity-type"


def chosen(types: list[InstanceType], *terms: tuple[str, str, list[str]]) -> tuple[str, str, str]:
    selection = select_offering(types, reqs(*terms))
    return (selection.instance_type.name, selection.offering.zone, selection.offering.capacity_type)


def test_cheapest_spot_offering_when_spot_and_on_demand_are_allowed() -> None:
    types = [
        make_type(
            "a",
            {
                ("us-east-1a", "spot"): 0.05,
                ("us-east-1b", "spot"): 0.03,
                ("us-east-1a", "on-demand"): 0.01,
            },
        ),
        make_type("b", {("us-east-1a", "spot"): 0.04, ("us-east-1c", "on-demand"): 0.02}),
    ]
    # on-demand is cheaper here, but spot comes first when both are allowed
    assert chosen(types) == ("a", "us-east-1b", "spot")
    assert chosen(types, (CT, "In", ["spot", "on-demand"])) == ("a", "us-east-1b", "spot")


def test_on_demand_when_only_on_demand_is_allowed() -> None:
    types = [both_types("a", 0.03, 0.10), both_types("b", 0.02, 0.09)]
    assert chosen(types, (CT, "In", ["on-demand"])) == ("b", "us-east-1a", "on-demand")


def test_on_demand_when_no_spot_offering_is_available() -> None:
    spot_down = [(z, "spot") for z in ("us-east-1a", "us-east-1b", "us-east-1c")]
    types = [
        make_type(
            "a",
            {(z, ct): 0.05 for z, ct in [*spot_down, ("us-east-1b", "on-demand")]},
            unavailable=spot_down,
        )
    ]
    assert chosen(types) == ("a", "us-east-1b", "on-demand")


def test_zone_restriction_is_honoured() -> None:
    types = [
        make_type("a", {("us-east-1a", "spot"): 0.01, ("us-east-1c", "spot"): 0.05}),
        make_type("b", {("us-east-1b", "spot"): 0.02, ("us-east-1c", "spot"): 0.04}),
    ]
    assert chosen(types, (ZONE, "In", ["us-east-1c"])) == ("b", "us-east-1c", "spot")
    assert chosen(types, (ZONE, "NotIn", ["us-east-1a"])) == ("b", "us-east-1b", "spot")


def test_reserved_comes_before_spot() -> None:
    reserved = Offering("us-east-1a", "reserved", 0.00001, reservation_id="cr-1", remaining=1)
    plain = both_types("a", 0.0001, 0.2)
    with_reservation = InstanceType(
        "b",
        both_types("b", 0.03, 0.1).requirements,
        plain.capacity,
        plain.overhead,
        (*both_types("b", 0.03, 0.1).offerings, reserved),
    )
    assert chosen([plain, with_reservation]) == ("b", "us-east-1a", "reserved")
    assert chosen([plain, with_reservation], (CT, "In", ["spot", "on-demand"])) == (
        "a",
        "us-east-1a",
        "spot",
    )
    # a reservation id requirement keeps to that reservation or to offerings without one
    assert chosen(
        [with_reservation], ("karpenter.k8s.aws/capacity-reservation-id", "In", ["cr-1"])
    ) == (
        "b",
        "us-east-1a",
        "reserved",
    )
    with pytest.raises(InsufficientCapacityError):
        chosen([with_reservation], ("karpenter.k8s.aws/capacity-reservation-id", "In", ["cr-2"]))
    assert chosen(
        [with_reservation], ("karpenter.k8s.aws/capacity-reservation-id", "DoesNotExist", [])
    ) == ("b", "us-east-1a", "spot")


def test_types_whose_labels_conflict_are_skipped() -> None:
    arm = make_type("arm", {("us-east-1a", "spot"): 0.01}, arch="arm64")
    amd = make_type("amd", {("us-east-1a", "spot"): 0.02})
    assert chosen([arm, amd], ("kubernetes.io/arch", "In", ["amd64"])) == (
        "amd",
        "us-east-1a",
        "spot",
    )


def test_only_the_60_cheapest_types_are_considered() -> None:
    # 60 on-demand-only types cheaper than the one type that also has spot: after truncation
    # no spot offering is left, so the launch is on-demand although spot would come first.
    cheap = [
        make_type(f"od-{i:02d}", {("us-east-1a", "on-demand"): 0.10 + i / 1000}) for i in range(60)
    ]
    spot_only_expensive = make_type("spot-61", {("us-east-1a", "spot"): 0.5})
    types = [spot_only_expensive, *cheap]
    assert chosen(types) == ("od-00", "us-east-1a", "on-demand")
    assert len(cheap) == MAX_INSTANCE_TYPES
    wider = select_offering(types, reqs(), max_instance_types=61)
    assert wider.offering.capacity_type == "spot"


def test_truncation_orders_by_cheapest_compatible_offering() -> None:
    # "z" is cheapest only in us-east-1a; with zone b required it ranks by its zone-b price,
    # last, so the 60 kept are the 59 others and the spot type, and spot wins.
    z = make_type("z", {("us-east-1a", "on-demand"): 0.01, ("us-east-1b", "on-demand"): 0.9})
    others = [
        make_type(f"t{i:02d}", {("us-east-1b", "on-demand"): 0.1 + i / 1000}) for i in range(59)
    ]
    spot_in_b = make_type("s", {("us-east-1b", "spot"): 0.5})
    selection = select_offering([z, spot_in_b, *others], reqs((ZONE, "In", ["us-east-1b"])))
    assert selection.instance_type.name == "s"
    # without the zone requirement z's 0.01 ranks first and pushes the spot type out
    assert select_offering([z, spot_in_b, *others], reqs()).instance_type.name == "z"


def test_no_matching_offering_raises_ice_saying_what_was_asked() -> None:
    types = [both_types("a", 0.03, 0.1, zones=["us-east-1a"])]
    with pytest.raises(InsufficientCapacityError) as caught:
        select_offering(types, reqs((ZONE, "In", ["us-east-1b"]), (CT, "In", ["spot"])))
    message = str(caught.value)
    assert (
        "[a]" in message and "zones [us-east-1b]" in message and "capacity types [spot]" in message
    )
    assert caught.value.offerings == ()
    with pytest.raises(InsufficientCapacityError, match="no instance types"):
        select_offering([], reqs())


def test_exhausted_offerings_are_passed_over_and_reported() -> None:
    types = [both_types("a", 0.01, 0.1), both_types("b", 0.02, 0.2)]
    full = {("a", "us-east-1a"), ("a", "us-east-1b")}
    selection = select_offering(
        types, reqs(), has_capacity=lambda it, o: (it.name, o.zone) not in full
    )
    assert (selection.instance_type.name, selection.offering.zone) == ("a", "us-east-1c")
    assert selection.insufficient == (("a", "us-east-1a", "spot"), ("a", "us-east-1b", "spot"))


def test_every_offering_of_the_capacity_type_exhausted_raises_ice_naming_them() -> None:
    types = [both_types("a", 0.01, 0.1, zones=["us-east-1a", "us-east-1b"])]
    with pytest.raises(InsufficientCapacityError) as caught:
        select_offering(types, reqs(), has_capacity=lambda it, o: o.capacity_type != "spot")
    assert caught.value.offerings == (("a", "us-east-1a", "spot"), ("a", "us-east-1b", "spot"))
    assert "insufficient spot capacity" in str(caught.value)
    assert "a in us-east-1a" in str(caught.value)
