"""The baseline's pure parts: node groups and their validation, the launch latency model, and
the expanders (each a table of options → the group it picks)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shipyard.autoscaler.baseline import LaunchModel, NodeGroup, Option, choose
from shipyard.autoscaler.baseline.expanders import compile_priorities
from shipyard.autoscaler.baseline.groups import node_groups_from_list
from shipyard.core.errors import InvalidError

GIB = 1024**3


def paths(error: InvalidError) -> list[str]:
    return [c.path for c in error.causes]


# --- node groups -----------------------------------------------------------------------------


def test_a_node_group_defaults_to_on_demand_every_zone_and_min_zero() -> None:
    group = NodeGroup("general", "t3.xlarge", max_size=20)
    assert (group.min_size, group.max_size, group.capacity_type, group.zones) == (
        0,
        20,
        "on-demand",
        (),
    )


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"name": "Bad_Name"}, "name"),
        ({"instance_type": ""}, "instanceType"),
        ({"min_size": -1}, "minSize"),
        ({"min_size": 5, "max_size": 2}, "minSize"),
        ({"max_size": True}, "maxSize"),
        ({"capacity_type": "reserved"}, "capacityType"),
        ({"taints": ({"key": "gpu", "effect": "Sometimes"},)}, "taints[0].effect"),
    ],
)
def test_an_invalid_node_group_names_the_field(kwargs: dict[str, Any], path: str) -> None:
    args: dict[str, Any] = {"name": "general", "instance_type": "t3.xlarge", **kwargs}
    with pytest.raises(InvalidError) as e:
        NodeGroup(**args)
    assert path in paths(e.value)


def test_node_groups_from_a_scenario_report_every_problem_at_its_path() -> None:
    with pytest.raises(InvalidError) as e:
        node_groups_from_list(
            [
                {"name": "a", "instanceType": "t3.xlarge", "maxSize": 3},
                {"name": "a", "instanceType": "m5.large"},
                {"name": "c", "instanceType": "m5.large", "minSize": 4, "maxSize": 2},
                {"name": "d", "instanceType": "m5.large", "size": 2},
                "not a group",
            ]
        )
    assert paths(e.value) == [
        "nodeGroups[1].name",
        "nodeGroups[2].minSize",
        "nodeGroups[3].size",
        "nodeGroups[4]",
    ]
    assert "duplicate node group" in e.value.message


def test_node_groups_from_a_scenario_read_every_field() -> None:
    [group] = node_groups_from_list(
        [
            {
                "name": "spot",
                "instanceType": "m5.large",
                "minSize": 1,
                "maxSize": 4,
                "capacityType": "spot",
                "zones": ["us-east-1a"],
                "labels": {"tier": "batch"},
                "taints": [{"key": "batch", "effect": "NoSchedule"}],
            }
        ]
    )
    assert group == NodeGroup(
        "spot",
        "m5.large",
        1,
        4,
        "spot",
        ("us-east-1a",),
        {"tier": "batch"},
        ({"key": "batch", "effect": "NoSchedule"},),
    )


# --- the launch latency model ---------------------------------------------------------------


def test_the_default_launch_model_takes_two_to_three_minutes() -> None:
    model = LaunchModel()
    assert model.nominal == 150.0
    assert model.bounds == pytest.approx((120.0, 180.0))
    cloud = model.cloud_latency()
    assert (cloud.running, cloud.ready, cloud.jitter) == (70.0, 50.0, 0.2)


def test_the_asg_reaction_is_seeded_stable_and_within_the_jitter() -> None:
    model = LaunchModel(seed=7)
    delays = [model.reaction_delay("general", n) for n in range(1, 200)]
    assert delays == [LaunchModel(seed=7).reaction_delay("general", n) for n in range(1, 200)]
    assert all(24.0 <= d <= 36.0 for d in delays)
    assert len(set(delays)) > 150  # jittered, not constant
    assert delays != [LaunchModel(seed=8).reaction_delay("general", n) for n in range(1, 200)]
    assert LaunchModel(jitter=0).reaction_delay("general", 3) == 30.0


@pytest.mark.parametrize("kwargs", [{"boot": -1.0}, {"jitter": 1.0}, {"jitter": -0.1}])
def test_a_launch_model_refuses_impossible_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LaunchModel(**kwargs)


# --- expanders ---------------------------------------------------------------------------------


def option(
    group: str,
    nodes: int,
    pods: int,
    *,
    cpu: int,
    memory_gib: float,
    node_cpu: int = 4000,
    node_gib: float = 16,
    price: float = 0.1,
) -> Option:
    return Option(
        group=group,
        node_count=nodes,
        pods=tuple(f"default/p{i}" for i in range(pods)),
        requested={"cpu": cpu, "memory": int(memory_gib * GIB)},
        node_allocatable={"cpu": node_cpu, "memory": int(node_gib * GIB)},
        price=price,
    )


# c5: 4 cpu / 8 GiB, m5: 4 cpu / 16 GiB, r5: 4 cpu / 32 GiB, big: 16 cpu / 64 GiB; the same
# three 1-cpu / 2 GiB pods.
C5 = option("c5", 1, 3, cpu=3000, memory_gib=6, node_gib=8, price=0.17)
M5 = option("m5", 1, 3, cpu=3000, memory_gib=6, node_gib=16, price=0.192)
R5 = option("r5", 1, 3, cpu=3000, memory_gib=6, node_gib=32, price=0.252)
BIG = option("big", 1, 3, cpu=3000, memory_gib=6, node_cpu=16000, node_gib=64, price=0.768)
# a small group at its max: one node holds only two of the pods
SMALL = option("small", 1, 2, cpu=2000, memory_gib=4, node_cpu=2000, node_gib=4, price=0.05)


@pytest.mark.parametrize(
    ("expanders", "options", "picked"),
    [
        (["least-waste"], [BIG, R5, M5, C5], "c5"),  # same cpu waste, least memory waste
        (["least-waste"], [BIG, SMALL], "small"),  # wastes nothing at all
        (["most-pods"], [SMALL, BIG], "big"),
        (["price"], [R5, M5, C5, BIG], "c5"),  # $0.17 / 3 pods
        (["price"], [C5, SMALL], "small"),  # $0.05 / 2 pods beats $0.17 / 3
        (["most-pods", "least-waste"], [SMALL, BIG, M5, C5], "c5"),
        (["priority"], [C5, M5, R5], "r5"),
        (["priority", "price"], [C5, M5, R5, BIG], "r5"),
    ],
)
def test_each_expander_picks_its_option(
    expanders: list[str], options: list[Option], picked: str
) -> None:
    priorities = compile_priorities({10: ["^m5$", "c5"], 50: ["r5|big"], 60: ["^r"]})
    chosen = choose(options, expanders, rng=random.Random(0), priorities=priorities)
    assert chosen is not None and chosen.group == picked


def test_least_waste_sums_the_idle_cpu_and_memory_fractions() -> None:
    assert C5.waste() == pytest.approx(0.25 + 0.25)
    assert R5.waste() == pytest.approx(0.25 + 26 / 32)
    assert SMALL.waste() == 0.0


def test_priority_keeps_every_option_when_no_pattern_matches() -> None:
    priorities = compile_priorities({10: ["^gpu-"]})
    chosen = choose(
        [R5, C5], ["priority", "least-waste"], rng=random.Random(0), priorities=priorities
    )
    assert chosen is not None and chosen.group == "c5"


def test_random_is_seeded_and_ties_fall_to_a_seeded_pick() -> None:
    options = [C5, M5, R5, BIG]
    picks = [choose(options, ["random"], rng=random.Random(s)) for s in range(30)]
    assert picks == [choose(options, ["random"], rng=random.Random(s)) for s in range(30)]
    assert {p.group for p in picks if p is not None} == {"c5", "m5", "r5", "big"}
    tied = [option(g, 1, 3, cpu=3000, memory_gib=6) for g in ("a", "b", "c")]
    firsts = {choose(tied, ["most-pods"], rng=random.Random(s)).group for s in range(30)}  # type: ignore[union-attr]
    assert firsts == {"a", "b", "c"}


def test_no_option_no_choice_and_unknown_expanders_are_refused() -> None:
    assert choose([], rng=random.Random(0)) is None
    with pytest.raises(InvalidError) as e:
        choose([C5], ["least-waste", "cheapest"], rng=random.Random(0))
    assert paths(e.value) == ["expander[1]"]
    with pytest.raises(InvalidError) as e:
        compile_priorities({10: ["("]})
    assert paths(e.value) == ["priorities[10][0]"]
