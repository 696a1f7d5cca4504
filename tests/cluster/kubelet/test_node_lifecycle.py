"""Silent nodes go Unknown, get the unreachable taints, and their pods are evicted on time."""

from __future__ import annotations

import pytest

from shipyard.cluster.kubelet import ImageProfile
from shipyard.cluster.kubelet.node_lifecycle import toleration_wait
from shipyard.core.clock import parse_time
from shipyard.core.taints import Taint, Toleration
from tests.cluster.fixtures import make_node
from tests.cluster.kubelet.helpers import (
    Cluster,
    bound_pod,
    expect_condition,
    expect_not_deleted,
    expect_terminating,
    start_cluster,
)

INSTANT = {"*": ImageProfile(pull_seconds=0, startup_seconds=0)}
UNREACHABLE = "node.kubernetes.io/unreachable"


def taints_of(cluster: Cluster, node: str = "node-1") -> list[tuple[str, str]]:
    return [(t["key"], t["effect"]) for t in cluster.node(node)["spec"].get("taints") or ()]


def dead_node_cluster() -> Cluster:
    """node-1 (about to die) and node-2, each with running pods; node-1 killed at t=15."""
    cluster = start_cluster(INSTANT, nodes=("node-1", "node-2"), lifecycle=True)
    cluster.create(bound_pod("default-tolerations"))
    cluster.create(
        bound_pod(
            "tolerates-60s",
            spec={
                "tolerations": [
                    {
                        "key": UNREACHABLE,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": 60,
                    }
                ]
            },
        )
    )
    cluster.create(
        bound_pod(
            "tolerates-forever",
            spec={
                "tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
            },
        )
    )
    cluster.create(bound_pod("elsewhere", node="node-2"))
    cluster.advance(15)
    cluster.kubelets.kill("node-1")
    return cluster


def test_a_node_that_stops_heart_beating_goes_unknown_after_the_grace_period() -> None:
    cluster = dead_node_cluster()
    cluster.advance_to(59)  # last renewal at 10: unknown at 60
    expect_condition(cluster.node(), "Ready", "True")
    cluster.advance_to(60)
    node = cluster.node()
    ready = expect_condition(node, "Ready", "Unknown", "NodeStatusUnknown")
    assert ready["message"] == "Kubelet stopped posting node status."
    assert parse_time(ready["lastTransitionTime"]) - cluster.t0 == 60
    for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        expect_condition(node, type_, "Unknown", "NodeStatusUnknown")
    assert taints_of(cluster) == [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
    no_execute = cluster.node()["spec"]["taints"][1]
    assert no_execute["timeAdded"] == "2026-01-01T00:01:00Z"
    (event,) = cluster.events("node-1", reason="NodeNotReady")
    assert event["message"] == "Node node-1 status is now: NodeNotReady"
    expect_condition(cluster.node("node-2"), "Ready", "True")
    assert taints_of(cluster, "node-2") == []


def test_pods_on_an_unknown_node_become_unready() -> None:
    cluster = dead_node_cluster()
    cluster.advance_to(60)
    for name in ("default-tolerations", "tolerates-forever"):
        expect_condition(cluster.pod(name), "Ready", "False")
        (event,) = cluster.events(name, reason="NodeNotReady")
        assert (event["type"], event["message"]) == ("Warning", "Node is not ready")
    expect_condition(cluster.pod("elsewhere"), "Ready", "True")


def test_pods_are_evicted_when_their_toleration_runs_out() -> None:
    cluster = dead_node_cluster()
    cluster.advance_to(119)
    expect_not_deleted(cluster, "tolerates-60s")
    cluster.advance_to(120)
    expect_terminating(cluster, "tolerates-60s")  # no kubelet to finish it: it stays
    (event,) = cluster.events("tolerates-60s", reason="TaintManagerEviction")
    assert event["message"] == "Marking for deletion Pod default/tolerates-60s"
    cluster.advance_to(359)
    expect_not_deleted(cluster, "default-tolerations")
    cluster.advance_to(360)  # admission's default: 300 s for unreachable
    expect_terminating(cluster, "default-tolerations")
    cluster.advance(3600)
    expect_not_deleted(cluster, "tolerates-forever")
    expect_not_deleted(cluster, "elsewhere")


def test_a_pod_not_tolerating_a_no_execute_taint_is_evicted_at_once() -> None:
    cluster = start_cluster(INSTANT, lifecycle=True)
    maintenance = {"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}
    cluster.create(bound_pod("intolerant"))
    cluster.create(bound_pod("tolerant", spec={"tolerations": [maintenance]}))
    zero = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
    cluster.create(bound_pod("impatient", spec={"tolerations": [maintenance, zero]}))
    node = cluster.node()
    node["spec"]["taints"] = [{"key": "maintenance", "effect": "NoExecute"}]
    cluster.client.update(node)
    cluster.advance(0)
    assert not cluster.pod_exists("intolerant")  # the live kubelet finished it at once
    expect_not_deleted(cluster, "tolerant")
    cluster.kubelets.kill("node-1")
    cluster.advance(60)  # unreachable as well: tolerated for 0 s
    expect_terminating(cluster, "impatient")
    expect_not_deleted(cluster, "tolerant")  # 300 s default


def test_evicted_pods_carry_the_disruption_target_condition() -> None:
    cluster = dead_node_cluster()
    seen: list[dict[str, object]] = []
    cluster.client.add_listener(
        lambda event: seen.extend(
            c
            for c in (event.object.get("status") or {}).get("conditions") or ()
            if c.get("type") == "DisruptionTarget"
        )
    )
    cluster.advance_to(120)
    assert seen and seen[0]["reason"] == "DeletionByTaintManager"
    assert seen[0]["message"] == "Taint manager: deleting due to NoExecute taint"


def test_a_node_that_comes_back_is_ready_again_and_pending_evictions_are_cancelled() -> None:
    cluster = dead_node_cluster()
    cluster.advance_to(100)
    cluster.kubelets.revive("node-1")
    cluster.advance(0)
    node = cluster.node()
    expect_condition(node, "Ready", "True", "KubeletReady")
    assert taints_of(cluster) == []
    cluster.advance_to(400)
    for name in ("tolerates-60s", "default-tolerations"):
        expect_not_deleted(cluster, name)
        expect_condition(cluster.pod(name), "Ready", "True")
    cancelled = [e["message"] for e in cluster.events(reason="TaintManagerEviction")]
    assert cancelled == [
        "Cancelling deletion of Pod default/default-tolerations",
        "Cancelling deletion of Pod default/tolerates-60s",
    ]


def test_pods_evicted_from_a_dead_node_are_finished_when_its_kubelet_returns() -> None:
    cluster = dead_node_cluster()
    cluster.advance_to(400)
    terminating = expect_terminating(cluster, "default-tolerations")
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    cluster.kubelets.revive("node-1")
    cluster.advance(0)
    assert not cluster.pod_exists("default-tolerations")
    assert not cluster.pod_exists("tolerates-60s")
    expect_not_deleted(cluster, "tolerates-forever")


def test_a_node_whose_kubelet_never_reports_is_marked_never_updated() -> None:
    cluster = start_cluster(nodes=(), lifecycle=True)
    cluster.create(
        make_node("silent", metadata={"annotations": {"shipyard.dev/kubelet": "external"}})
    )
    cluster.advance(50)
    ready = expect_condition(cluster.node("silent"), "Ready", "Unknown", "NodeStatusNeverUpdated")
    assert ready["message"] == "Kubelet never posted node status."
    assert ready["lastHeartbeatTime"] == cluster.node("silent")["metadata"]["creationTimestamp"]


def test_healthy_nodes_cost_no_reconcile_per_heartbeat() -> None:
    cluster = start_cluster(nodes=tuple(f"n-{i}" for i in range(50)), lifecycle=True)
    before = cluster.manager.reconciles
    cluster.advance(600)
    # one look per node per grace period (~50 s), not one per 10 s heartbeat
    assert cluster.manager.reconciles - before <= 50 * (600 // 40 + 1)


NO_EXECUTE = [Taint(UNREACHABLE, effect="NoExecute")]


@pytest.mark.parametrize(
    ("tolerations", "wait"),
    [
        ([], 0.0),
        ([Toleration("other", "Exists")], 0.0),
        ([Toleration(UNREACHABLE, "Exists", effect="NoExecute", toleration_seconds=300)], 300.0),
        ([Toleration(UNREACHABLE, "Exists", effect="NoExecute")], None),
        ([Toleration(operator="Exists")], None),
        ([Toleration(UNREACHABLE, "Exists", toleration_seconds=-5)], 0.0),
        (
            [
                Toleration(UNREACHABLE, "Exists", effect="NoExecute", toleration_seconds=600),
                Toleration(operator="Exists", toleration_seconds=30),
            ],
            600.0,  # the first toleration that matches a taint is the one used
        ),
    ],
)
def test_toleration_wait(tolerations: list[Toleration], wait: float | None) -> None:
    assert toleration_wait(NO_EXECUTE, tolerations) == wait
