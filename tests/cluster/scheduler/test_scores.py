"""Score plugins: their formulas, which node wins and why (``data/scores.yaml``), and the
resource-only fast path agreeing with the plugin-by-plugin path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.cluster.scheduler.profile import Profile, num_feasible_nodes_to_find
from shipyard.cluster.scheduler.scores import (
    balanced_allocation_score,
    default_normalize,
    least_allocated_score,
)
from shipyard.cluster.scheduler.snapshot import Snapshot
from tests.cluster.scheduler.helpers import load_cases, node, pod, run

CASES = load_cases("scores.yaml")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_score_table(case: dict[str, Any]) -> None:
    result = run(case)
    if "scores" in case:
        assert result.scores == case["scores"]
    assert result.node == case["winner"], result.scores


@pytest.mark.parametrize(
    ("requested", "allocatable", "least", "balanced"),
    [
        ((3000, 5000), (4000, 10000), 37, 87),  # cpu 25, memory 50; fractions .75 and .5
        ((3000, 5000), (6000, 10000), 50, 100),
        ((5000, 5000), (4000, 10000), 25, 75),  # over capacity: 0 and a fraction capped at 1
        ((100, 200), (0, 1000), 80, 100),  # a resource the node lacks is left out
        ((0, 0), (0, 0), 0, 100),
    ],
)
def test_resource_formulas(
    requested: tuple[int, int], allocatable: tuple[int, int], least: int, balanced: int
) -> None:
    assert least_allocated_score(requested, allocatable) == least
    assert balanced_allocation_score(requested, allocatable) == balanced


def test_default_normalize() -> None:
    assert default_normalize([0, 5, 10]) == [0, 50, 100]
    assert default_normalize([0, 5, 10], reverse=True) == [100, 50, 0]
    assert default_normalize([0, 0]) == [0, 0]
    assert default_normalize([0, 0], reverse=True) == [100, 100]


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [
        (50, None, 50),
        (100, None, 100),
        (500, None, 230),  # 50 - 500/125 = 46 %
        (1000, None, 420),  # 42 %
        (5000, None, 500),  # 10 %
        (6000, None, 300),  # 50 - 48 = 2 %, raised to the 5 % floor
        (1000, 10, 100),
        (1000, 5, 100),  # never fewer than 100
        (1000, 100, 1000),
    ],
)
def test_num_feasible_nodes_to_find(nodes: int, percentage: int | None, expected: int) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == expected


def test_the_walk_resumes_where_the_last_one_stopped() -> None:
    snap = Snapshot.from_objects([node({"name": f"n{i:03d}"}) for i in range(200)])
    profile = Profile()
    first = profile.schedule(snap.pod_info(pod({"name": "a"})), snap, explain=True)
    second = profile.schedule(snap.pod_info(pod({"name": "b"})), snap, explain=True)
    assert first.evaluated == second.evaluated == 100  # 200 nodes: at least 100
    assert set(first.feasible).isdisjoint(second.feasible)
    assert (first.node, second.node) == ("n000", "n100")


_NODE = st.fixed_dictionaries(
    {
        "cpu": st.sampled_from(["1", "2", "4", "8"]),
        "memory": st.sampled_from(["2Gi", "8Gi", "32Gi"]),
        "zone": st.sampled_from(["a", "b", "c"]),
    }
)
_SHAPE = st.tuples(st.sampled_from(["0", "250m", "1", "3"]), st.sampled_from(["0", "512Mi", "4Gi"]))


def _twin_snapshots(
    nodes: list[dict[str, str]], loads: list[tuple[int, tuple[str, str]]]
) -> list[Snapshot]:
    specs = [
        {"name": f"n{i:03d}", "cpu": n["cpu"], "memory": n["memory"],
         "labels": {"topology.kubernetes.io/zone": n["zone"]}}
        for i, n in enumerate(nodes)
    ]  # fmt: skip
    existing = [
        {"name": f"p{j}", "node": specs[i % len(specs)]["name"], "cpu": c, "memory": m}
        for j, (i, (c, m)) in enumerate(loads)
    ]
    return [
        Snapshot.from_objects([node(n) for n in specs], [pod(p) for p in existing])
        for _ in range(2)
    ]


@given(
    nodes=st.lists(_NODE, min_size=1, max_size=130),
    loads=st.lists(st.tuples(st.integers(0, 129), _SHAPE), max_size=60),
    arrivals=st.lists(st.tuples(_SHAPE, st.booleans()), min_size=1, max_size=25),
)
def test_the_shape_index_agrees_with_the_plugins(
    nodes: list[dict[str, str]],
    loads: list[tuple[int, tuple[str, str]]],
    arrivals: list[tuple[tuple[str, str], bool]],
) -> None:
    """Pods arrive one by one (each bound where it was placed, some of the earlier ones
    leaving again); the indexed walk and the plugin-by-plugin walk agree at every step."""
    fast_snap, slow_snap = _twin_snapshots(nodes, loads)
    fast_profile, slow_profile = Profile(), Profile()
    placed: list[str] = []
    for k, ((cpu, memory), leave) in enumerate(arrivals):
        manifest = pod({"name": f"new-{k}", "cpu": cpu, "memory": memory})
        fast = fast_profile.schedule(fast_snap.pod_info(manifest), fast_snap)
        slow = slow_profile.schedule(slow_snap.pod_info(manifest), slow_snap, explain=True)
        assert (fast.node, fast.evaluated, fast.message) == (
            slow.node,
            slow.evaluated,
            slow.message,
        )
        assert fast_profile.next_start_index == slow_profile.next_start_index
        if fast.node is None:
            continue
        for snap in (fast_snap, slow_snap):
            snap.set_pod(snap.pod_info(manifest).assumed_on(fast.node))
        placed.append(f"new-{k}")
        if leave and len(placed) > 1:
            gone = placed.pop(0)
            for snap in (fast_snap, slow_snap):
                snap.remove_pod(("default", gone))
