"""Deleting a NodeClaim (FakeCloud, embedded cluster): cordon, drain through the Eviction API
with disruption budgets, the terminationGracePeriod, pods that stay, instances already gone."""

from __future__ import annotations

from shipyard.cluster.podutil import is_ready
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from tests.autoscaler.test_lifecycle_helpers import (
    KARPENTER,
    Env,
    condition,
    make_claim,
    make_env,
    make_nodepool,
)
from tests.cluster.fixtures import make_pdb, make_pod

CLAIM = "default-x7k2p"
SHUTDOWN = "sim.shipyard.dev/shutdown_seconds"


def running_node(env: Env, claim: Obj | None = None) -> str:
    """A launched, registered, Ready claim; the node's name."""
    env.create_claim(claim)
    name = env.join_node()
    env.ready_node()
    env.run(1)
    assert condition(env.claim(), "Ready") == ("True", "Ready")
    return name


def bind_pods(
    env: Env, node: str, count: int, annotations: dict[str, str] | None = None
) -> list[str]:
    """Bare pods bound to the node, running and Ready; each takes 10 s to stop."""
    names = [f"web-{i}" for i in range(count)]
    metadata = {"annotations": {SHUTDOWN: "10", **(annotations or {})}}
    for name in names:
        env.client.create(make_pod(name, spec={"nodeName": node}, metadata=metadata))
    env.run(20)
    for name in names:
        assert is_ready(env.client.get("v1", "Pod", name, namespace="default")), name
    return names


def pod(env: Env, name: str) -> Obj | None:
    try:
        return env.client.get("v1", "Pod", name, namespace="default")
    except NotFoundError:
        return None


def delete_claim(env: Env) -> None:
    env.client.delete(KARPENTER, "NodeClaim", CLAIM)
    env.run(0)


def test_deletion_cordons_drains_and_terminates() -> None:
    env = make_env()
    node = running_node(env)
    pods = bind_pods(env, node, 2)
    provider_id = env.claim()["status"]["providerID"]  # type: ignore[index]
    delete_claim(env)
    cordoned = env.node(node)
    assert cordoned is not None
    assert cordoned["spec"]["unschedulable"] is True
    assert {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"} in cordoned["spec"]["taints"]
    claim = env.claim()
    assert condition(claim, "Drained") == ("False", "Draining")
    assert env.fake.calls_of("delete") == []  # not before the pods are gone
    for name in pods:
        evicted = pod(env, name)
        assert evicted is not None and evicted["metadata"].get("deletionTimestamp")
    env.run(60)
    assert [pod(env, name) for name in pods] == [None, None]
    assert env.claim() is None
    assert env.node(node) is None
    assert [c.args["provider_id"] for c in env.fake.calls_of("delete")] == [provider_id]
    assert env.cloud.list() == []


def test_a_disruption_budget_holds_the_drain_back() -> None:
    env = make_env()
    node = running_node(env)
    pods = bind_pods(env, node, 3)
    env.client.create(make_pdb("web", min_available=2))
    env.run(1)
    delete_claim(env)
    env.run(60)
    # one eviction fits the budget; the other two are refused and retried
    remaining = [name for name in pods if pod(env, name) is not None]
    assert len(remaining) == 2
    claim = env.claim()
    assert condition(claim, "Drained") == ("False", "Draining")
    assert env.fake.calls_of("delete") == []
    [refused] = env.events("FailedDraining")
    assert refused["type"] == "Warning"
    assert refused["message"].startswith("Failed to drain node, ")
    assert refused["count"] > 1
    env.client.delete("policy/v1", "PodDisruptionBudget", "web", namespace="default")
    env.run(60)
    assert env.claim() is None
    assert env.cloud.list() == []


def terminating(env: Env, name: str) -> bool:
    found = pod(env, name)
    return found is not None and bool(found["metadata"].get("deletionTimestamp"))


def test_the_termination_grace_period_bounds_the_wait() -> None:
    env = make_env()
    node = running_node(env, make_claim(grace="2m"))
    pods = bind_pods(env, node, 3)
    env.client.create(make_pdb("web", min_available=3))  # no eviction is ever allowed
    env.run(1)
    delete_claim(env)
    env.run(89)
    assert not any(terminating(env, name) for name in pods)
    assert env.claim() is not None
    # 90 s in, the pods' 30 s grace no longer fits before the 2m deadline: deleted, past
    # the budget, so that they still get their whole grace
    env.run(2)
    assert all(terminating(env, name) for name in pods)
    env.run(10)  # they stop in 10 s; the node is drained and terminated
    assert env.claim() is None
    assert env.cloud.list() == []


def test_the_node_pool_grace_period_applies_when_the_claim_has_none() -> None:
    pool = make_nodepool(spec={"template": {"spec": {"terminationGracePeriod": "1m"}}})
    env = make_env(nodepool=pool)
    node = running_node(env)
    bind_pods(env, node, 1, {"karpenter.sh/do-not-disrupt": "true"})
    delete_claim(env)
    env.run(29)
    assert pod(env, "web-0") is not None
    assert not terminating(env, "web-0")  # do-not-disrupt: never evicted
    env.run(2)
    assert terminating(env, "web-0")  # 60 s - its 30 s grace
    env.run(10)
    assert env.claim() is None


def test_daemonset_and_tolerating_pods_are_not_evicted() -> None:
    env = make_env()
    node = running_node(env)
    daemonset = env.client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "nodeSelector": {"example.com/none": "true"},
                        "containers": [{"name": "agent", "image": "example/agent:1"}],
                    },
                },
            },
        }
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": "agent",
        "uid": daemonset["metadata"]["uid"],
        "controller": True,
    }
    env.client.create(
        make_pod("agent-x", spec={"nodeName": node}, metadata={"ownerReferences": [owner]})
    )
    env.client.create(
        make_pod(
            "logger",
            spec={
                "nodeName": node,
                "tolerations": [{"key": "karpenter.sh/disrupted", "operator": "Exists"}],
            },
        )
    )
    env.run(20)
    delete_claim(env)
    for name in ("agent-x", "logger"):
        left = pod(env, name)
        assert left is not None
        assert condition(left, "DisruptionTarget") == ("", "")  # never evicted
    assert env.claim() is None  # nothing to wait for: terminated at once
    assert env.cloud.list() == []


def test_an_instance_already_gone_is_not_an_error() -> None:
    env = make_env()
    node = running_node(env)
    instance = env.instance()
    env.cloud.delete(instance.provider_id)  # terminated outside Shipyard
    delete_claim(env)
    assert env.claim() is None
    assert env.node(node) is None


def test_a_claim_that_never_launched_is_released_at_once() -> None:
    env = make_env()
    env.client.delete("karpenter.k8s.aws/v1", "EC2NodeClass", "default")
    env.create_claim()
    delete_claim(env)
    assert env.claim() is None
    assert env.fake.calls_of("delete") == []
