"""The pool catalog's bitmasks, Karpenter's filter messages, and the resource formatting."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.provisioning.catalog import Catalog, FilterReport, bits
from shipyard.autoscaler.provisioning.planner import format_resources
from shipyard.autoscaler.provisioning.topology import ANTI_AFFINITY, SPREAD, Group
from shipyard.core.labels import ARCH, CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from shipyard.core.requirements import IN, NOT_IN, Requirement, Requirements
from shipyard.core.selectors import LabelSelector
from tests.autoscaler.test_provisioning_helpers import GI, MI, acceptance_types


def catalog(**kw: Any) -> Catalog:
    return Catalog(acceptance_types(**kw), Requirements())


def type_names(cat: Catalog, mask: int) -> list[str]:
    return [cat.types[i].name for i in bits(mask)]


def test_types_are_ordered_by_price_then_name() -> None:
    cat = catalog()
    assert [t.name for t in cat.types] == ["t4g.medium", "t3.medium", "t4g.large", "t3.large"]
    assert cat.full == 0b1111


def test_template_filters_types_and_offerings() -> None:
    template = Requirements([Requirement.create(ARCH, IN, ["arm64"])])
    cat = Catalog(acceptance_types(), template)
    assert [t.name for t in cat.types] == ["t4g.medium", "t4g.large"]
    gone = Requirements([Requirement.create(ZONE, IN, ["us-east-1a"])])
    cat = Catalog(acceptance_types(unavailable=[("us-east-1a", "on-demand")]), gone)
    assert cat.types == []


def test_key_masks_follow_intersection() -> None:
    cat = catalog()
    assert type_names(cat, cat.key_mask(Requirement.create(ARCH, IN, ["amd64"]))) == [
        "t3.medium",
        "t3.large",
    ]
    not_medium = Requirement.create(INSTANCE_TYPE, NOT_IN, ["t3.medium", "t4g.medium"])
    assert type_names(cat, cat.key_mask(not_medium)) == ["t4g.large", "t3.large"]
    # A key no type defines is no constraint on the types (Karpenter's Intersects).
    assert cat.key_mask(Requirement.create("team", IN, ["x"])) == cat.full


def test_fit_mask_subtracts_each_types_daemon_overhead() -> None:
    arm_only = Requirements([Requirement.create(ARCH, IN, ["arm64"])])
    cat = Catalog(acceptance_types(), Requirements(), [([arm_only], {"cpu": 1000, "pods": 1})])
    assert cat.overheads == [{"cpu": 1000, "pods": 1}, {}, {"cpu": 1000, "pods": 1}, {}]
    assert type_names(cat, cat.fit_mask({"cpu": 1000})) == ["t3.medium", "t3.large"]
    assert cat.room[0]["cpu"] == 930
    nowhere = Requirements([Requirement.create(ARCH, IN, ["s390x"])])
    assert Catalog(acceptance_types(), Requirements(), [([nowhere], {"cpu": 1})]).overheads[0] == {}


def test_fit_mask_uses_allocatable() -> None:
    cat = catalog()
    # t*.medium keep 1930m and ~3.17 GiB; larges keep ~6.67 GiB.
    assert cat.fit_mask({"cpu": 1930, "memory": 3 * GI, "pods": 17}) == cat.full
    assert cat.fit_mask({"cpu": 1931}) == 0
    assert type_names(cat, cat.fit_mask({"memory": 4 * GI})) == ["t4g.large", "t3.large"]
    assert type_names(cat, cat.fit_mask({"pods": 18})) == ["t4g.large", "t3.large"]
    assert cat.fit_mask({"nvidia.com/gpu": 1}) == 0
    assert cat.fit_mask({"nvidia.com/gpu": 0, "cpu": 100}) == cat.full


def test_offering_mask_and_cheapest() -> None:
    cat = catalog(spot_discount=0.6, unavailable=[("us-east-1b", "spot")])
    zone_b = Requirement.create(ZONE, IN, ["us-east-1b"])
    spot = Requirement.create(CAPACITY_TYPE, IN, ["spot"])
    assert cat.offering_mask(zone_b, spot) == 0
    reqs = Requirements([Requirement.create(ZONE, IN, ["us-east-1c"]), spot])
    price, index = cat.cheapest(cat.full, reqs) or (0.0, -1)
    assert cat.types[index].name == "t4g.medium"
    assert price == pytest.approx(0.0336 * 0.4 * 1.1, abs=1e-5)


def test_limits_mask() -> None:
    cat = catalog()
    assert cat.limits_mask(None) == cat.full
    assert cat.limits_mask({"cpu": 1999}) == 0
    assert cat.limits_mask({"cpu": 2000, "memory": 4 * GI}) == 0b0011
    assert cat.limits_mask({"nodes": 0}) == 0
    assert cat.max_capacity(0b0101) == cat.types[2].capacity


def test_min_values_error() -> None:
    cat = catalog()
    reqs = Requirements([Requirement.create(INSTANCE_TYPE, IN, [t.name for t in cat.types], 3)])
    assert cat.min_values_error(reqs, 0b0111) is None
    assert cat.min_values_error(reqs, 0b0011) == (
        "minValues requirement is not met for label(s) "
        "(label(s)=[node.kubernetes.io/instance-type])"
    )


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ((False, False, False), "no instance type met the scheduling requirements or had "
         "enough resources or had a required offering"),
        ((False, False, True), "no instance type met the scheduling requirements or had "
         "enough resources"),
        ((True, False, False), "no instance type had enough resources or had a required offering"),
        ((False, True, True), "no instance type met all requirements"),
        ((True, False, True), "no instance type has enough resources"),
        ((True, True, False), "no instance type has the required offering"),
    ],
)  # fmt: skip
def test_filter_report_reasons(flags: tuple[bool, bool, bool], reason: str) -> None:
    assert FilterReport(*flags, False, False, False).reason() == reason


def test_filter_report_pairs() -> None:
    both = (True, True, True)
    assert (
        FilterReport(*both, True, False, False)
        .reason()
        .startswith(
            "no instance type which met the scheduling requirements and had enough resources"
        )
    )
    assert (
        FilterReport(*both, False, False, True)
        .reason()
        .startswith("no instance type which had enough resources and the required offering")
    )
    assert (
        FilterReport(*both, False, True, False)
        .reason()
        .startswith(
            "no instance type which met the scheduling requirements and the required offering"
        )
    )
    assert FilterReport(*both, False, False, False).reason() == (
        "no instance type met the requirements/resources/offering tuple"
    )


def test_report_finds_which_criterion_failed() -> None:
    cat = catalog()
    amd = Requirements([Requirement.create(ARCH, IN, ["amd64"])])
    report = cat.report(cat.full, amd, {"cpu": 100, "memory": 5 * GI})
    assert (report.requirements, report.fits, report.offering) == (True, True, True)
    assert report.requirements_and_offering  # t3.medium: right arch and offering, too small


def test_format_resources() -> None:
    assert format_resources({"pods": 2, "memory": 612 * MI, "cpu": 600}) == (
        '{"cpu":"600m","memory":"612Mi","pods":"2"}'
    )
    assert format_resources({"cpu": 2000, "memory": 1000}) == '{"cpu":"2","memory":"1k"}'
    assert format_resources({}) == "{}"


# --- topology groups --------------------------------------------------------------------------


def group(kind: str, key: str = ZONE, skew: int = 1, min_domains: int = 1) -> Group:
    g = Group(0, kind, key, selector=LabelSelector.everything(), namespaces=frozenset({"default"}),
              max_skew=skew, min_domains=min_domains)  # fmt: skip
    for domain in ("a", "b", "c"):
        g.register(domain)
    return g


EXISTS = Requirement(ZONE, True)


def test_spread_picks_the_least_populated_allowed_domain() -> None:
    g = group(SPREAD)
    g.record("a")
    allowed = g.next_domains(True, EXISTS, EXISTS)
    assert allowed == Requirement.create(ZONE, IN, ["b"])
    assert g.next_domains(True, EXISTS, Requirement.create(ZONE, IN, ["a"])) is None
    g.record("b")
    g.record("c")
    assert g.next_domains(True, EXISTS, EXISTS) == Requirement.create(ZONE, IN, ["a"])


def test_spread_min_over_the_pods_domains_and_min_domains() -> None:
    g = group(SPREAD)
    for d in ("a", "a", "b"):
        g.record(d)
    only_ab = Requirement.create(ZONE, IN, ["a", "b"])
    assert g.min_count(only_ab) == 1
    assert g.next_domains(True, only_ab, Requirement.create(ZONE, IN, ["b"])) is not None
    strict = group(SPREAD, min_domains=4)
    strict.record("a")
    assert strict.min_count(EXISTS) == 0


def test_anti_affinity_pins_or_excludes() -> None:
    g = group(ANTI_AFFINITY)
    g.record("a")
    assert g.next_domains(False, EXISTS, EXISTS) == Requirement.create(ZONE, IN, ["b"])
    assert g.next_domains(False, EXISTS, EXISTS, pin=False) == Requirement.create(
        ZONE, IN, ["b", "c"]
    )
    fresh = group(ANTI_AFFINITY)
    assert fresh.next_domains(False, EXISTS, EXISTS, pin=False) == EXISTS


def test_hostname_rules_need_no_registration() -> None:
    from shipyard.core.labels import HOSTNAME

    spread = group(SPREAD, HOSTNAME, skew=2)
    spread.record("n1")
    host_any = Requirement(HOSTNAME, True)
    assert spread.host_allows(True, host_any, "n1")
    spread.record("n1")
    assert not spread.host_allows(True, host_any, "n1")
    assert spread.host_allows(True, host_any, "n2")


def test_types_in_price_order_are_the_masks_types_cheapest_first_under_the_offerings() -> None:
    cat = Catalog(acceptance_types(spot_discount=0.65), Requirements())
    on_demand = Requirements([Requirement.create(CAPACITY_TYPE, IN, ["on-demand"])])
    for reqs in (Requirements(), on_demand):
        for mask in range(1, cat.full + 1):
            order, types = cat.in_price_order(mask, reqs)
            expected = [(p, i) for p, _, i in cat.price_order(reqs) if mask >> i & 1]
            assert order == expected
            assert [t.name for t in types] == [cat.types[i].name for _, i in expected]
            assert cat.in_price_order(mask, reqs) == (order, types)  # kept
    spot = cat.in_price_order(cat.full, Requirements())[0]
    assert spot != cat.in_price_order(cat.full, on_demand)[0]  # spot prices first when allowed
