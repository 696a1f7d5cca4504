"""Batches of identical plain pods over a shared Capacity: the fill-in-order shortcut plans
exactly what the scheduler plans pod by pod, for any nodes, taints, labels, limits and
nodes left out; any other batch is planned pod by pod."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.autoscaler.provisioning import Capacity, solve
from shipyard.core.labels import ZONE
from shipyard.core.taints import Taint
from tests.autoscaler.test_provisioning_helpers import (
    GI,
    T3_2XLARGE,
    T3_MEDIUM,
    T3_XLARGE,
    aws_types,
    node,
    pod,
    pool,
    spread,
)
from tests.autoscaler.test_provisioning_scheduler import summary

Obj = dict[str, Any]

TAINT = Taint("dedicated", "batch", "NoSchedule")
ZONES = ["us-east-1a", "us-east-1b"]


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Any], list[tuple[list[Obj], set[str]]], bool]:
    """Nodes, several what-ifs over them (a batch and the nodes left out), pool limits."""
    nodes = []
    for i in range(draw(st.integers(0, 8))):
        cpu = draw(st.sampled_from([1000, 2000, 4000, 8000]))
        memory = draw(st.sampled_from([1, 2, 4, 8])) * GI
        used_cpu = draw(st.integers(0, cpu + 500))  # may be overcommitted
        used_memory = draw(st.integers(0, memory))
        nodes.append(
            node(
                f"n{i}",
                cpu=cpu,
                memory=memory,
                pods=draw(st.integers(1, 12)),
                requested={"cpu": used_cpu, "memory": used_memory, "pods": 1},
                labels={ZONE: draw(st.sampled_from(ZONES))},
                taints=[TAINT] if draw(st.booleans()) and i % 3 == 0 else [],
                initialized=draw(st.booleans()) or i % 2 == 0,
            )
        )
    what_ifs = []
    for w in range(draw(st.integers(1, 4))):
        cpu = draw(st.sampled_from(["250m", "375m", "1", "1500m", "3"]))
        memory = draw(st.sampled_from(["128Mi", "768Mi", "2Gi"]))
        spec: dict[str, Any] = {}
        if draw(st.booleans()):
            spec["nodeSelector"] = {ZONE: draw(st.sampled_from(ZONES))}
        if draw(st.booleans()):
            spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        count = draw(st.integers(1, 30))
        labels = {"app": draw(st.sampled_from("ab"))}
        pods = [pod(f"w{w}-p{k}", cpu, memory, labels=labels, **spec) for k in range(count)]
        if draw(st.integers(0, 4)) == 0:  # sometimes a batch that is not uniform
            odd: dict[str, Any] = {"topologySpreadConstraints": [spread(ZONE, {"app": "a"})]}
            pods.insert(draw(st.integers(0, count)), pod(f"w{w}-odd", cpu, memory, **odd))
        without = {n.name for n in nodes if draw(st.integers(0, 3)) == 0}
        what_ifs.append((pods, without))
    return nodes, what_ifs, draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_plain_batches_over_a_capacity_are_planned_as_pod_by_pod(
    case: tuple[list[Any], list[tuple[list[Obj], set[str]]], bool],
) -> None:
    """Several what-ifs over one Capacity (pods of one kind planned again and again, more or
    fewer of them, with other nodes left out) each equal a fresh pod-by-pod solve."""
    nodes, what_ifs, limited = case
    p = pool(
        aws_types(T3_MEDIUM, T3_XLARGE, T3_2XLARGE),
        limits={"cpu": 16_000} if limited else None,
    )
    daemon = pod("ds", "100m", "100Mi")
    base = Capacity([p], existing_nodes=nodes, daemonset_pods=[daemon])
    for pods, without in what_ifs:
        left = [n for n in nodes if n.name not in without]
        for improve_cost in (False, True):
            fresh = solve(
                pods, [p], existing_nodes=left, daemonset_pods=[daemon], improve_cost=improve_cost
            )
            shared = base.solve(pods, without=without, improve_cost=improve_cost)
            assert summary(shared) == summary(fresh)
            assert shared == fresh  # every field of every claim too
            # The same pods handed over in groups (as a what-if hands them node by node).
            cut = len(pods) // 3
            groups = [tuple(pods[:cut]), (), tuple(pods[cut:])]
            grouped = base.solve(pods, without=without, improve_cost=improve_cost, groups=groups)
            assert grouped == fresh


def test_the_shortcut_is_taken_only_for_identical_plain_pods() -> None:
    """It answers for a batch of identical plain pods, and declines a batch with a pod of
    another size or with topology rules (those are planned pod by pod)."""
    base = Capacity(
        [pool(aws_types(T3_MEDIUM, T3_XLARGE))],
        existing_nodes=[node("a", cpu=2000), node("b", cpu=4000, taints=[TAINT])],
    )
    same = [pod(f"s{k}", "500m", "512Mi") for k in range(12)]
    found = base._solve_plain(same, None, (), False)
    assert found is not None
    assert {n: len(p) for n, p in found.existing.items()} == {"a": 4}  # the rest: new claims
    assert sum(len(c.pods) for c in found.new_claims) == 8
    bigger = [*same, pod("big", "1", "512Mi")]
    assert base._solve_plain(bigger, None, (), False) is None
    spreading = [*same, pod("sp", "500m", "512Mi", topologySpreadConstraints=[spread(ZONE, {})])]
    assert base._solve_plain(spreading, None, (), False) is None


def test_a_node_left_out_or_overcommitted_takes_nothing() -> None:
    base = Capacity(
        [pool(aws_types(T3_MEDIUM, T3_XLARGE))],
        existing_nodes=[
            node("a", cpu=2000, requested={"cpu": 2500}),  # overcommitted
            node("b", cpu=2000),
            node("c", cpu=2000),
        ],
    )
    found = base.solve([pod(f"s{k}", "1", "512Mi") for k in range(3)], without={"b"})
    assert {n: len(p) for n, p in found.existing.items()} == {"c": 2}
    assert sum(len(c.pods) for c in found.new_claims) == 1
