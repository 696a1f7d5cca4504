"""What-if scheduling for the baseline: bin-packing pending pods onto template nodes, placing
pods on existing nodes, taking a node away, and the rules for which pods may move."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.baseline import (
    GROUP_LABEL,
    TO_BE_DELETED_TAINT,
    Budgets,
    NodeGroup,
    Simulator,
    pods_to_move,
    template_node,
    utilization,
)
from shipyard.autoscaler.baseline.cache import ClusterCache
from shipyard.cloud.catalog import Catalog
from shipyard.cloud.specs import spec_by_name
from shipyard.core.objects import Obj
from tests.cluster.fixtures import make_node, make_pdb, make_pod, merge, new_client

OWNER = {
    "ownerReferences": [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-1",
            "uid": "rs-1",
            "controller": True,
        }
    ]
}


def owned(
    name: str, *, cpu: str = "1500m", memory: str = "1Gi", node: str = "", **extra: Any
) -> Obj:
    pod = make_pod(name, cpu=cpu, memory=memory, metadata={**OWNER, "uid": f"uid-{name}"})
    if node:
        pod["spec"]["nodeName"] = node
    return merge(pod, extra)


def template(i: int, *, taints: list[Obj] | None = None) -> Obj:
    return make_node(f"template-{i}", cpu="4", memory="16Gi", taints=taints)


def pending_infos(sim: Simulator, pods: list[Obj]) -> list[Any]:
    return [sim.unbound(p) for p in pods]


def test_pending_pods_are_binpacked_onto_as_few_template_nodes_as_fit() -> None:
    sim = Simulator.of([], [])
    pods = [owned(f"p{i}") for i in range(5)]  # 5 × 1500m: two per 4-cpu node
    estimate = sim.estimate(pending_infos(sim, pods), template, limit=10)
    assert estimate.node_count == 3
    assert len(estimate.pods) == 5


def test_the_estimate_stops_at_the_limit_and_reverts_cleanly() -> None:
    sim = Simulator.of([make_node("n1")], [])
    mark = sim.mark()
    pods = [owned(f"p{i}") for i in range(5)]
    estimate = sim.estimate(pending_infos(sim, pods), template, limit=2)
    assert (estimate.node_count, len(estimate.pods)) == (2, 4)
    sim.revert(mark)
    assert sorted(sim.snapshot.nodes) == ["n1"]
    assert sim.snapshot.pods == {}


def test_a_pod_that_does_not_tolerate_the_groups_taint_needs_no_node() -> None:
    sim = Simulator.of([], [])
    taint = [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    estimate = sim.estimate(
        pending_infos(sim, [owned("p0")]), lambda i: template(i, taints=taint), limit=5
    )
    assert estimate.node_count == 0
    assert sim.snapshot.nodes == {}


def test_daemonset_pods_take_their_share_of_every_template_node() -> None:
    sim = Simulator.of([], [])
    sim.daemons = [make_pod("agent", cpu="1", memory="1Gi")]
    pods = [owned(f"p{i}") for i in range(4)]  # 3 cpu left per node: two pods each still
    assert sim.estimate(pending_infos(sim, pods), template, limit=10).node_count == 2
    sim = Simulator.of([], [])
    sim.daemons = [make_pod("agent", cpu="1500m", memory="1Gi")]  # 2.5 cpu left: one each
    assert sim.estimate(pending_infos(sim, pods), template, limit=10).node_count == 4


def test_a_pending_pod_is_placed_on_an_existing_node_with_room() -> None:
    nodes = [make_node("full", cpu="2"), make_node("roomy", cpu="4")]
    sim = Simulator.of(nodes, [owned("a", node="full")])
    assert sim.place(sim.unbound(owned("b"))) == "roomy"
    assert sim.place(sim.unbound(owned("c"))) == "roomy"
    assert sim.place(sim.unbound(owned("d"))) is None  # 3 cpu used on roomy, 1.5 on full


def test_removing_a_node_moves_its_pods_to_the_others_or_changes_nothing() -> None:
    nodes = [make_node("a"), make_node("b")]
    pods = [owned("x", node="a"), owned("y", node="b")]
    sim = Simulator.of(nodes, pods)
    assert sim.try_remove(nodes[0], [pods[0]]) == {"default/x": "b"}
    node_a = sim.snapshot.nodes["a"]
    assert any(t.key == TO_BE_DELETED_TAINT for t in node_a.taints)
    mark = sim.mark()
    assert sim.try_remove(nodes[1], [pods[1]]) is None  # a is going, nothing else has room
    assert sim.mark() == mark
    assert sorted(p.node_name for p in sim.snapshot.pods.values()) == ["b", "b"]


def test_utilization_is_the_larger_of_cpu_and_memory() -> None:
    sim = Simulator.of(
        [make_node("a", cpu="4", memory="16Gi")], [owned("x", cpu="1", memory="12Gi", node="a")]
    )
    assert utilization(sim.snapshot.nodes["a"]) == 0.75


def no_budget(_pod: Obj) -> bool:
    return False


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (owned("x"), ""),
        (make_pod("bare"), "pod default/bare is not replicated (it has no controller)"),
        (
            owned(
                "x",
                metadata={
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
                },
            ),
            'pod default/x is annotated cluster-autoscaler.kubernetes.io/safe-to-evict: "false"',
        ),
        (
            make_pod(
                "bare",
                metadata={
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
                },
            ),
            "",
        ),
        (
            owned("dns", metadata={"namespace": "kube-system"}),
            "pod kube-system/dns is a kube-system pod without a PodDisruptionBudget",
        ),
        (
            owned("cache", spec={"volumes": [{"name": "tmp", "emptyDir": {}}]}),
            "pod default/cache has local storage",
        ),
    ],
)
def test_which_pods_keep_their_node(pod: Obj, reason: str) -> None:
    moving, why = pods_to_move([pod], has_budget=no_budget)
    assert why == reason
    assert len(moving) == (0 if reason else 1)


def test_daemonset_mirror_and_finished_pods_go_with_the_node() -> None:
    daemon = make_pod(
        "agent",
        metadata={
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "a",
                    "uid": "d",
                    "controller": True,
                }
            ]
        },
    )
    mirror = make_pod("etcd", metadata={"annotations": {"kubernetes.io/config.mirror": "x"}})
    done = make_pod("job", status={"phase": "Succeeded"})
    assert pods_to_move([daemon, mirror, done], has_budget=no_budget) == ([], "")


def test_budgets_are_spent_across_nodes_in_one_scan() -> None:
    pdb = merge(make_pdb("web", max_unavailable=1), {"status": {"disruptionsAllowed": 1}})
    budgets = Budgets([pdb])
    web = [owned("w1", labels={"app": "web"}), owned("w2", labels={"app": "web"})]
    assert budgets.has_budget(web[0]) and not budgets.has_budget(
        owned("other", metadata={"labels": {"app": "db"}})
    )
    assert "allows 1 disruption(s), 2 needed" in budgets.charge(web)
    assert budgets.charge(web[:1]) == ""
    assert "allows 0 disruption(s), 1 needed" in budgets.charge(web[1:])


def test_a_template_node_carries_the_groups_labels_taints_and_allocatable() -> None:
    catalog = Catalog([spec_by_name("t3.xlarge")])
    [itype] = catalog.instance_types(None)
    group = NodeGroup(
        "general",
        "t3.xlarge",
        labels={"tier": "web"},
        taints=({"key": "web", "effect": "NoSchedule"},),
    )
    node = template_node(group, itype, "template-general-0", "us-east-1b")
    labels = node["metadata"]["labels"]
    assert labels[GROUP_LABEL] == "general"
    assert labels["node.kubernetes.io/instance-type"] == "t3.xlarge"
    assert labels["topology.kubernetes.io/zone"] == "us-east-1b"
    assert labels["tier"] == "web"
    assert node["spec"]["taints"] == [{"key": "web", "effect": "NoSchedule"}]
    assert node["status"]["allocatable"]["cpu"] == "3920m"


def test_the_cache_applies_changes_only_when_a_scan_syncs() -> None:
    _clock, client = new_client()
    client.create(make_node("n1"))
    cache = ClusterCache(client)
    assert sorted(cache.snapshot.nodes) == ["n1"]  # what existed is listed at once
    client.create(make_node("n2"))
    client.create(owned("x", node="n1"))
    pending = client.create(owned("y"))
    client.update_status(
        merge(
            pending,
            {
                "status": {
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                    ]
                }
            },
        )
    )
    assert sorted(cache.snapshot.nodes) == ["n1"] and cache.pending == {}
    cache.sync()
    assert sorted(cache.snapshot.nodes) == ["n1", "n2"]
    assert [p.name for p in cache.snapshot.nodes["n1"].pods.values()] == ["x"]
    assert list(cache.pending) == [("default", "y")]
    client.delete("v1", "Pod", "x", namespace="default", grace_period_seconds=0)
    client.delete("v1", "Node", "n2")
    cache.sync()
    assert sorted(cache.snapshot.nodes) == ["n1"] and cache.snapshot.pods == {}
    cache.close()
