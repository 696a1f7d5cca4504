"""Node registration, Lease heartbeats, status reports and the kubelet's lifecycle."""

from __future__ import annotations

from shipyard.cluster.kubelet import ImageProfile
from shipyard.cluster.kubelet.agents import loopback_address
from shipyard.core.clock import parse_time
from tests.cluster.fixtures import make_node
from tests.cluster.kubelet.helpers import Cluster, bound_pod, expect_condition, start_cluster

FAST = {"*": ImageProfile(pull_seconds=0, startup_seconds=0)}


def node_writes(cluster: Cluster, name: str = "node-1") -> int:
    return int(cluster.node(name)["metadata"]["resourceVersion"])


def test_a_node_gets_a_kubelet_that_makes_it_ready() -> None:
    cluster = start_cluster()
    node = cluster.node()
    ready = expect_condition(node, "Ready", "True", "KubeletReady")
    assert ready["message"] == "kubelet is posting ready status"
    for type_, reason in (
        ("MemoryPressure", "KubeletHasSufficientMemory"),
        ("DiskPressure", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "KubeletHasSufficientPID"),
    ):
        expect_condition(node, type_, "False", reason)
    status = node["status"]
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "127.1.1.1"},
        {"type": "Hostname", "address": "node-1"},
    ]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["capacity"]["cpu"] == "4" and status["allocatable"]["pods"] == "110"
    info = status["nodeInfo"]
    assert (info["kubeletVersion"], info["operatingSystem"], info["architecture"]) == (
        "v1.31.0",
        "linux",
        "amd64",
    )
    assert info["containerRuntimeVersion"] == "shipyard-sim://0.1.0"
    assert cluster.reasons("node-1") == [
        "Starting",
        "NodeHasSufficientMemory",
        "NodeHasNoDiskPressure",
        "NodeHasSufficientPID",
        "NodeReady",
    ]


def test_capacity_is_kept_as_given_or_defaulted() -> None:
    cluster = start_cluster(nodes=())
    cluster.create(make_node("big", cpu="64", memory="256Gi"))
    bare = make_node("bare")
    del bare["status"]
    cluster.create(bare)
    assert cluster.node("big")["status"]["allocatable"]["cpu"] == "64"
    assert cluster.node("bare")["status"]["capacity"] == {
        "cpu": "4",
        "memory": "16Gi",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }
    assert (
        cluster.node("bare")["status"]["allocatable"] == cluster.node("bare")["status"]["capacity"]
    )


def test_nodes_get_distinct_loopback_addresses() -> None:
    cluster = start_cluster(nodes=("a", "b"))
    assert [cluster.node(n)["status"]["addresses"][0]["address"] for n in ("a", "b")] == [
        "127.1.1.1",
        "127.1.1.2",
    ]
    assert loopback_address(253) == "127.1.1.254"
    assert loopback_address(254) == "127.1.2.1"


def test_the_not_ready_taint_is_removed() -> None:
    cluster = start_cluster(nodes=())
    taints = [
        {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
    ]
    cluster.create(make_node("node-1", taints=taints))
    assert cluster.node()["spec"]["taints"] == [taints[1]]


def test_the_lease_is_renewed_every_ten_seconds_without_writing_the_node() -> None:
    cluster = start_cluster()
    lease = cluster.lease()
    assert lease["spec"]["holderIdentity"] == "node-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    registered = node_writes(cluster)
    cluster.advance(35)
    renewed = cluster.lease()["spec"]["renewTime"]
    assert renewed == "2026-01-01T00:00:30.000000Z"
    assert node_writes(cluster) == registered


def test_the_node_status_is_reported_again_every_five_minutes() -> None:
    cluster = start_cluster()
    first = expect_condition(cluster.node(), "Ready", "True")["lastHeartbeatTime"]
    cluster.advance(299)
    assert expect_condition(cluster.node(), "Ready", "True")["lastHeartbeatTime"] == first
    cluster.advance(1)
    ready = expect_condition(cluster.node(), "Ready", "True")
    assert parse_time(ready["lastHeartbeatTime"]) - cluster.t0 == 300
    assert ready["lastTransitionTime"] == first


def test_a_node_marked_external_gets_no_kubelet() -> None:
    cluster = start_cluster(nodes=())
    cluster.create(
        make_node("real", metadata={"annotations": {"shipyard.dev/kubelet": "external"}})
    )
    cluster.advance(30)
    assert "conditions" not in cluster.node("real")["status"]
    assert cluster.kubelets.kubelet("real") is None


def test_deleting_the_node_stops_its_kubelet_and_containers() -> None:
    cluster = start_cluster(FAST)
    cluster.create(bound_pod())
    cluster.advance(1)
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is not None
    pending_before = cluster.clock.pending()
    cluster.client.delete("v1", "Node", "node-1")
    cluster.advance(0)
    assert cluster.kubelets.kubelet("node-1") is None
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is None
    assert cluster.clock.pending() < pending_before
    assert not cluster.client.list(
        "coordination.k8s.io/v1", "Lease", namespace="kube-node-lease"
    ).items


def test_a_killed_kubelet_stops_renewing_and_a_revived_one_resumes() -> None:
    cluster = start_cluster()
    cluster.advance(10)
    cluster.kubelets.kill("node-1")
    cluster.advance(60)
    assert cluster.lease()["spec"]["renewTime"] == "2026-01-01T00:00:10.000000Z"
    cluster.kubelets.revive("node-1")
    assert cluster.lease()["spec"]["renewTime"] == "2026-01-01T00:01:10.000000Z"
    (starting,) = cluster.events("node-1", reason="Starting")
    assert starting["count"] == 2


def test_a_thousand_nodes_cost_one_timer_and_one_lease_write_per_heartbeat() -> None:
    cluster = start_cluster(nodes=tuple(f"n-{i}" for i in range(1000)))
    assert cluster.clock.pending() <= 1000 + 5
    store_version = int(cluster.client.store.resource_version)
    cluster.advance(10)
    assert int(cluster.client.store.resource_version) - store_version == 1000
    assert all(
        n["status"]["conditions"][-1]["status"] == "True" for n in cluster.client.list("v1", "Node")
    )


def test_a_dead_kubelet_leaves_its_pods_alone_until_it_comes_back() -> None:
    crashing = ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=30)
    cluster = start_cluster({"*": crashing})
    cluster.create(bound_pod())
    cluster.advance(10)
    cluster.kubelets.kill("node-1")
    cluster.advance(60)  # the container exited at 30 and nobody noticed
    status = cluster.pod()["status"]["containerStatuses"][0]
    assert (status["restartCount"], list(status["state"])) == (0, ["running"])
    cluster.kubelets.revive("node-1")
    cluster.advance(0)
    status = cluster.pod()["status"]["containerStatuses"][0]
    assert (status["restartCount"], list(status["state"])) == (1, ["running"])


def test_closing_the_manager_stops_every_heartbeat() -> None:
    cluster = start_cluster(nodes=("a", "b"))
    cluster.manager.stop()
    cluster.kubelets.close()
    renewed = cluster.lease("a")["spec"]["renewTime"]
    cluster.advance(60)
    assert cluster.lease("a")["spec"]["renewTime"] == renewed
    assert cluster.clock.pending() == 0
