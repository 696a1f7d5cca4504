"""AutoscaledCluster end to end on SimulatedCloud, in virtual time: an unschedulable pod gets the
cheapest node that fits, the node registers ≈15 s after launch and turns Ready ≈10 s later, and
the pod runs; pods that fit capacity already there or on its way get no new node."""

from __future__ import annotations

from shipyard.core.objects import Obj
from tests.platform.test_autoscaling_helpers import (
    INSTANCE_TYPE,
    World,
    make_pod,
    nodepool,
    web,
    world,
)

DAEMON_MEMORY = "2800Mi"  # leaves a t4g.medium (3187Mi allocatable) too little for a 512Mi pod


def label(obj: Obj, key: str) -> str:
    return str((obj["metadata"].get("labels") or {}).get(key, ""))


def the_claim(w: World) -> Obj:
    claims = w.claims()
    assert len(claims) == 1, [c["metadata"]["name"] for c in claims]
    return claims[0]


def phase(pod: Obj | None) -> str:
    return str(((pod or {}).get("status") or {}).get("phase") or "")


def daemonset(memory: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "containers": [
                        {
                            "name": "agent",
                            "image": "example/agent:1",
                            "resources": {"requests": {"cpu": "100m", "memory": memory}},
                        }
                    ]
                },
            },
        },
    }


def test_an_unschedulable_pod_gets_the_cheapest_node_that_fits_and_runs() -> None:
    w = world(extra=[web()])
    w.run(0.9)
    assert w.claims() == []  # the batch window is still open
    w.run(0.1)
    claim = the_claim(w)
    assert w.claim_age(claim) == 1.0
    # t4g.medium is the cheapest of the four that holds 500m / 512Mi after its overhead
    assert label(claim, INSTANCE_TYPE) == "t4g.medium"
    assert label(claim, "karpenter.sh/capacity-type") == "on-demand"
    assert label(claim, "topology.kubernetes.io/zone") == "us-east-1b"
    [types] = [r for r in claim["spec"]["requirements"] if r["key"] == INSTANCE_TYPE]
    assert types["values"] == ["t4g.medium", "t3.medium", "t4g.large", "t3.large"]
    assert claim["spec"]["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi", "pods": "1"}
    assert claim["metadata"]["name"].startswith("default-")
    [owner] = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("NodePool", "default")
    [pod] = w.pods()
    [nominated] = w.messages("Nominated", kind="Pod")
    assert nominated == f"Pod should schedule on: nodeclaim/{claim['metadata']['name']}"
    w.run_until(15.9)
    assert w.nodes() == []
    w.run_until(16)  # running 15 s after the launch: the node registers
    [node] = w.nodes()
    assert label(node, INSTANCE_TYPE) == "t4g.medium"
    assert node["metadata"]["annotations"]["shipyard.dev/price"] == "0.0336"
    w.run_until(26)  # Ready 10 s later; the scheduler binds the pod
    bound = w.pod(pod["metadata"]["name"])
    assert bound is not None
    assert bound["spec"]["nodeName"] == node["metadata"]["name"]
    w.run_until(40)
    assert phase(w.pod(pod["metadata"]["name"])) == "Running"
    assert len(w.claims()) == 1


def test_pending_time_launches_and_cost_are_measured() -> None:
    w = world(extra=[web()])
    w.run_until(40)
    metrics = w.auto.metrics_snapshot()
    pending = metrics["karpenter_pods_pending_duration_seconds"]
    assert pending["count"] == 1
    assert pending["sum"] == 26.0  # created at 0, bound when the node turned Ready at 26 s
    assert pending["buckets"]["20"] == 0 and pending["buckets"]["30"] == 1
    launched = metrics["karpenter_nodeclaims_launched_total"]["values"]
    assert launched == [
        {"labels": ["default", "t4g.medium", "on-demand", "us-east-1b"], "value": 1.0}
    ]
    assert metrics["karpenter_cloudprovider_cost_per_hour"]["values"][0]["value"] == 0.0336
    assert metrics["karpenter_nodes_total"]["values"] == [{"labels": ["default"], "value": 1.0}]


def test_daemonset_overhead_makes_the_next_size_up_the_cheapest_fit() -> None:
    w = world(extra=[daemonset(DAEMON_MEMORY), web()])
    w.run(1)
    claim = the_claim(w)
    assert label(claim, INSTANCE_TYPE) == "t4g.large"
    # the claim asks for the pod and the DaemonSet pod together
    assert claim["spec"]["resources"]["requests"] == {
        "cpu": "600m",
        "memory": "3312Mi",
        "pods": "2",
    }
    w.run_until(40)
    assert [phase(p) for p in w.pods()] == ["Running"]
    assert [phase(p) for p in w.pods("kube-system")] == ["Running"]


def test_a_pod_that_fits_the_claim_on_its_way_gets_no_new_node() -> None:
    w = world(extra=[web()])
    w.run(5)
    [first] = w.claims()
    w.create(make_pod("late", cpu="500m", memory="512Mi"))
    w.run(2)
    assert [c["metadata"]["name"] for c in w.claims()] == [first["metadata"]["name"]]
    late = w.messages("Nominated", kind="Pod")
    assert f"Pod should schedule on: nodeclaim/{first['metadata']['name']}" in late
    assert len(late) == 2
    w.run_until(40)
    assert len(w.claims()) == 1
    assert phase(w.pod("late")) == "Running"


def test_a_pod_that_fits_a_registered_node_not_ready_yet_gets_no_new_node() -> None:
    w = world(extra=[web()])
    w.run_until(20)  # registered at 16 s, Ready at 26 s: the scheduler cannot use it yet
    [node] = w.nodes()
    [claim] = w.claims()
    w.create(make_pod("late", cpu="500m", memory="512Mi"))
    w.run(2)
    assert len(w.claims()) == 1
    where = f"nodeclaim/{claim['metadata']['name']}, node/{node['metadata']['name']}"
    assert f"Pod should schedule on: {where}" in w.messages("Nominated", kind="Pod")
    w.run_until(40)
    assert (w.pod("late") or {})["spec"]["nodeName"] == node["metadata"]["name"]


def test_pods_too_big_together_for_one_node_get_two() -> None:
    w = world(extra=[web(replicas=3, spec={"template": {"spec": {"containers": [
        {"name": "main", "image": "example/web:1",
         "resources": {"requests": {"cpu": "900m", "memory": "512Mi"}}},
    ]}}})])  # fmt: skip
    w.run(1)
    claims = w.claims()
    # 1930m allocatable per type: two 900m pods share a node, the third needs another
    assert sorted(c["spec"]["resources"]["requests"]["cpu"] for c in claims) == ["1800m", "900m"]
    w.run_until(45)
    assert [phase(p) for p in w.pods()] == ["Running"] * 3


def test_nodepool_status_counts_its_nodes_and_resources() -> None:
    w = world(extra=[web()])
    w.run_until(30)
    status = w.pool()["status"]
    assert status["nodes"] == 1
    assert status["resources"]["cpu"] == "2"
    assert status["resources"]["pods"] == "17"
    assert status["resources"]["nodes"] == "1"
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready == {"ValidationSucceeded": "True", "NodeClassReady": "True", "Ready": "True"}


def test_spot_allowed_the_cheapest_spot_offering_is_launched() -> None:
    pool = nodepool(capacity_types=["spot", "on-demand"], zones=["us-east-1a", "us-east-1c"])
    w = world(pool=pool, extra=[web()])
    w.run(1)
    claim = the_claim(w)
    assert label(claim, "karpenter.sh/capacity-type") == "spot"
    assert label(claim, "topology.kubernetes.io/zone") in ("us-east-1a", "us-east-1c")
    instance = w.auto.cloud.get(claim["status"]["providerID"])
    offered = [
        o
        for t in w.auto.cloud.instance_types(w.pool())
        for o in t.offerings
        if t.name in ("t3.medium", "t4g.medium", "t3.large", "t4g.large")
        and o.zone in ("us-east-1a", "us-east-1c")
    ]
    assert instance.price == min(o.price for o in offered)


def test_a_stopped_cluster_reconciles_nothing_more() -> None:
    w = world(extra=[web()])
    w.run(5)
    w.auto.stop()
    w.clock.advance(60)
    # the machine still boots and its kubelet registers the Node (that is the cloud's doing),
    # but no controller runs: the claim never learns of it, the pod is never bound
    assert len(w.nodes()) == 1
    conditions = {c["type"]: c["status"] for c in the_claim(w)["status"]["conditions"]}
    assert conditions["Registered"] == "Unknown"
    assert [p["spec"].get("nodeName") for p in w.pods()] == [None]
