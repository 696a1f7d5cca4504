"""Which NodeClaims are disruption candidates, from a hand-made cluster snapshot: initialized
and undisturbed ones are; claims starting, deleting or already tainted are not; nominated,
do-not-disrupt (claim, node, pod, duration form) and PDB-protected ones are blocked with a
reason; a candidate carries its movable pods, its price and its disruption cost."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.disruption.budgets import PoolCounts
from shipyard.autoscaler.disruption.candidates import build_candidates
from shipyard.autoscaler.disruption.state import ClusterState, PoolInfo, reschedulable
from shipyard.autoscaler.lifecycle import DISRUPTED_TAINT, DO_NOT_DISRUPT
from shipyard.autoscaler.provisioning import PoolTemplate
from shipyard.autoscaler.provisioning.capacity import Snapshot
from shipyard.core.clock import format_time
from tests.autoscaler.test_provisioning_helpers import instance_type
from tests.platform.test_autoscaling_helpers import nodepool

Obj = dict[str, Any]
NOW = 1_736_121_600.0 + 3600
LARGE = instance_type("m5.large", 2, 8, 29, 0.096, zones=("us-east-1b",), spot_discount=0.6)


def claim(name: str, *, initialized: bool = True, **meta: Any) -> Obj:
    status = "True" if initialized else "Unknown"
    return {
        "metadata": {
            "name": name,
            "labels": {"karpenter.sh/nodepool": "default"},
            "creationTimestamp": format_time(NOW - 1800),
            **meta,
        },
        "status": {
            "nodeName": f"node-{name}",
            "conditions": [{"type": "Initialized", "status": status}],
        },
    }


def node(name: str, *, capacity_type: str = "on-demand", taints: Any = (), **meta: Any) -> Obj:
    return {
        "metadata": {
            "name": f"node-{name}",
            "labels": {
                "node.kubernetes.io/instance-type": "m5.large",
                "karpenter.sh/capacity-type": capacity_type,
                "topology.kubernetes.io/zone": "us-east-1b",
            },
            "creationTimestamp": format_time(NOW - 1800),
            **meta,
        },
        "spec": {"taints": list(taints)},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(name: str, on: str, *, annotations: Any = None, owner: str = "ReplicaSet") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "labels": {"app": name.split("-", maxsplit=1)[0]},
            "annotations": dict(annotations or {}),
            "ownerReferences": [{"kind": owner, "name": "x", "controller": True}],
            "creationTimestamp": format_time(NOW - 600),
        },
        "spec": {"nodeName": f"node-{on}"},
        "status": {"phase": "Running", "startTime": format_time(NOW - 600)},
    }


def state(claims: list[Obj], nodes: list[Obj], pods: list[Obj], pdbs: Any = ()) -> ClusterState:
    obj = nodepool("default", types=["m5.large"])
    view = NodePoolView.from_object(obj)
    template = PoolTemplate("default", [LARGE], requirements=view.requirements)
    snap = Snapshot(
        pods=pods,
        nodes={n["metadata"]["name"]: n for n in nodes},
        claims={c["metadata"]["name"]: c for c in claims},
        pools=[obj],
        daemonsets=[],
        namespaces={},
    )
    info = PoolInfo(view, obj, {"m5.large": LARGE}, template)
    return ClusterState(NOW, snap, {"default": info}, list(pdbs))


def test_initialized_undisturbed_claims_are_candidates_with_pods_price_and_cost() -> None:
    pods = [pod("web-1", "a"), pod("web-2", "a"), pod("agent-1", "a", owner="DaemonSet")]
    found, blocked = build_candidates(
        state([claim("a"), claim("b")], [node("a"), node("b", capacity_type="spot")], pods)
    )
    assert blocked == {}
    assert [c.name for c in found] == ["b", "a"]  # the empty node is cheaper to disrupt
    b, a = found
    assert [p["metadata"]["name"] for p in a.pods] == ["web-1", "web-2"]  # no DaemonSet pod
    assert a.price == 0.096 and a.capacity_type == "on-demand" and a.zone == "us-east-1b"
    assert b.price == pytest.approx(0.096 * 0.4)  # its spot offering
    assert a.disruption_cost > b.disruption_cost == 0.0
    assert not reschedulable(pods[2])


def test_starting_deleting_and_already_disrupted_claims_are_not_candidates() -> None:
    claims = [
        claim("starting", initialized=False),
        claim("deleting", deletionTimestamp=format_time(NOW)),
        claim("tainted"),
        claim("unready"),
        claim("nodeless"),
    ]
    nodes = [
        node("starting"),
        node("deleting"),
        node("tainted", taints=[DISRUPTED_TAINT.to_dict()]),
        {**node("unready"), "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
    ]
    st = state(claims, nodes, [])
    found, blocked = build_candidates(st)
    assert found == [] and blocked == {}
    # for budgets: every launched claim is a node; all but the initializing one disrupt
    assert st.pool_counts() == {"default": PoolCounts(total=4, disrupting=3)}


def test_blocked_claims_say_why() -> None:
    dnd = {DO_NOT_DISRUPT: "true"}
    claims = [claim(n) for n in ("nominated", "claim-dnd", "node-dnd", "pod-dnd", "pdb", "soon")]
    claims[1]["metadata"]["annotations"] = dnd
    nodes = [node(c["metadata"]["name"]) for c in claims]
    nodes[2]["metadata"]["annotations"] = dnd
    pods = [
        pod("keep-1", "pod-dnd", annotations=dnd),
        pod("db-1", "pdb"),
        pod("batch-1", "soon", annotations={DO_NOT_DISRUPT: "15m"}),  # started 10 min ago
        pod("late-1", "nominated", annotations={DO_NOT_DISRUPT: "5m"}),  # expired
    ]
    budget = {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}},
        "status": {"disruptionsAllowed": 0},
    }
    found, blocked = build_candidates(
        state(claims, nodes, pods, [budget]), nominated=lambda c, n: c == "nominated"
    )
    assert found == []
    assert blocked == {
        "nominated": "node is nominated for a pending pod",
        "claim-dnd": f'nodeclaim has "{DO_NOT_DISRUPT}" annotation',
        "node-dnd": f'node has "{DO_NOT_DISRUPT}" annotation',
        "pod-dnd": f'pod default/keep-1 has "{DO_NOT_DISRUPT}" annotation',
        "pdb": "pdb default/db prevents pod evictions",
        "soon": f'pod default/batch-1 has "{DO_NOT_DISRUPT}" annotation',
    }
    found, blocked = build_candidates(state(claims[:1], nodes[:1], pods[3:]))
    assert [c.name for c in found] == ["nominated"]  # the 5m protection has run out


def test_claims_of_a_command_in_flight_are_excluded() -> None:
    found, _ = build_candidates(
        state([claim("a"), claim("b")], [node("a"), node("b")], []), exclude=["a"]
    )
    assert [c.name for c in found] == ["b"]


def test_a_new_version_of_the_same_claim_or_node_is_judged_again() -> None:
    a_claim, a_node = claim("a"), node("a")
    assert [c.name for c in build_candidates(state([a_claim], [a_node], []))[0]] == ["a"]
    unready = {**a_node, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert build_candidates(state([a_claim], [unready], []))[0] == []
    tainted = {**a_node, "spec": {"taints": [DISRUPTED_TAINT.to_dict()]}}
    assert build_candidates(state([a_claim], [tainted], []))[0] == []
    deleting = {**a_claim, "metadata": {**a_claim["metadata"], "deletionTimestamp": "x"}}
    assert state([deleting], [a_node], []).disrupting("a")
    assert [c.name for c in build_candidates(state([a_claim], [a_node], []))[0]] == ["a"]


def _later(st: ClusterState, seconds: float, pdbs: Any = None) -> ClusterState:
    """The same snapshot and pools (the same objects, as a pass's reader hands them out while
    nothing changed), ``seconds`` later."""
    return ClusterState(st.now + seconds, st.snapshot, st.pools, st.pdbs if pdbs is None else pdbs)


def test_the_same_objects_later_are_judged_for_the_time_that_passed() -> None:
    """A verdict is kept while the claim, node, pods, pool and budgets are the same objects,
    but what time changes is not: a do-not-disrupt duration runs out, the lifetime-scaled
    disruption cost moves, and a budget that stops allowing evictions blocks."""
    pods = [pod("batch-1", "a", annotations={DO_NOT_DISRUPT: "15m"}), pod("web-1", "b")]
    st = state([claim("a"), claim("b")], [node("a"), node("b")], pods)
    found, blocked = build_candidates(st)
    assert [c.name for c in found] == ["b"] and set(blocked) == {"a"}
    first = found[0].disruption_cost
    found, blocked = build_candidates(_later(st, 600))  # the 15 minutes have passed
    assert [c.name for c in found] == ["a", "b"] and blocked == {}
    b = next(c for c in found if c.name == "b")
    assert b.pool.expire_after is not None
    assert b.disruption_cost < first  # less of its lifetime remains
    budget = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 0},
    }
    found, blocked = build_candidates(_later(st, 600, [budget]))
    assert [c.name for c in found] == ["a"]
    assert blocked == {"b": "pdb default/web prevents pod evictions"}
    found, blocked = build_candidates(_later(st, 620))  # the budget allows evictions again
    assert [c.name for c in found] == ["a", "b"] and blocked == {}
