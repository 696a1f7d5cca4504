"""NodeClaimLifecycle with FakeCloud on the embedded cluster: launch, insufficient capacity,
launch errors and timeouts, registration, initialization, and a deleted node."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cloud.provider import CreateError
from shipyard.core.errors import ConflictError
from shipyard.core.objects import Obj
from shipyard.platform.nodejoin import remove_taints
from tests.autoscaler.test_lifecycle_helpers import (
    KARPENTER,
    Env,
    condition,
    make_claim,
    make_env,
    make_nodeclass,
)

STARTUP = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}
DEDICATED = {"key": "dedicated", "value": "web", "effect": "NoSchedule"}


@pytest.fixture
def env() -> Env:
    return make_env()


def conditions(claim: Obj | None) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (claim or {})["status"]["conditions"]}


def taint_keys(node: Obj | None) -> list[str]:
    return [t["key"] for t in (node or {}).get("spec", {}).get("taints") or ()]


# --- launch ------------------------------------------------------------------------------------


def test_a_new_claim_is_launched_and_described(env: Env) -> None:
    env.create_claim()
    claim = env.claim()
    assert claim is not None
    assert claim["metadata"]["finalizers"] == ["karpenter.sh/termination"]
    assert conditions(claim) == {
        "Launched": "True",
        "Registered": "Unknown",
        "Initialized": "Unknown",
        "Ready": "Unknown",
    }
    assert condition(claim, "Registered") == ("Unknown", "NodeNotFound")
    labels = claim["metadata"]["labels"]
    assert labels["node.kubernetes.io/instance-type"] == "t3.medium"  # the cheaper of the two
    assert labels["karpenter.sh/capacity-type"] == "on-demand"
    assert labels["topology.kubernetes.io/zone"].startswith("us-east-1")
    assert labels["example.com/team"] == "web"
    assert claim["metadata"]["annotations"]["shipyard.dev/price"] == "0.0416"
    status = claim["status"]
    assert status["providerID"].startswith("aws:///us-east-1")
    assert status["capacity"]["cpu"] == "2"
    assert status["allocatable"]["cpu"] == "1930m"
    [launched] = env.events("Launched")
    assert "t3.medium (on-demand)" in launched["message"]
    assert "$0.0416/h" in launched["message"]


def test_the_launch_request_follows_the_claim(env: Env) -> None:
    env.create_claim(make_claim(taints=[DEDICATED], startup_taints=[STARTUP]))
    [call] = env.fake.calls_of("create")
    request = call.args["request"]
    assert sorted(t.name for t in request.instance_types) == ["t3.large", "t3.medium"]
    assert [t["key"] for t in request.taints] == [
        "dedicated",
        "node.cilium.io/agent-not-ready",
        "karpenter.sh/unregistered",
    ]
    assert request.tags["karpenter.sh/nodeclaim"] == "default-x7k2p"
    assert request.tags["team"] == "platform"  # from the EC2NodeClass
    assert request.node_class["metadata"]["name"] == "default"
    [types_call] = env.fake.calls_of("instance_types")
    assert types_call.args["nodepool"]["metadata"]["name"] == "default"


def test_types_too_small_for_the_requests_are_not_launched(env: Env) -> None:
    env.create_claim(make_claim(requests={"cpu": "1", "memory": "6Gi"}))
    claim = env.claim()
    assert claim is not None
    assert claim["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "t3.large"


def test_insufficient_capacity_marks_offerings_and_deletes_the_claim(env: Env) -> None:
    env.fake.insufficient_capacity("t3.medium")
    env.fake.insufficient_capacity("t3.large")
    env.create_claim()
    assert env.claim() is None
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        assert env.unavailable.is_unavailable("t3.medium", zone, "on-demand")
        assert env.unavailable.is_unavailable("t3.large", zone, "on-demand")
    assert not env.unavailable.is_unavailable("t3.medium", "us-east-1a", "spot")
    [event] = env.events("InsufficientCapacityError")
    assert event["type"] == "Warning"
    assert "marked unavailable for 3m0s" in event["message"]
    assert "t3.medium/us-east-1a/on-demand" in event["message"]
    env.run(180)
    assert not env.unavailable.is_unavailable("t3.medium", "us-east-1a", "on-demand")


def test_no_available_type_deletes_the_claim(env: Env) -> None:
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        env.unavailable.mark("t3.medium", zone, "on-demand")
    env.create_claim(make_claim(types=["t3.medium"]))
    assert env.claim() is None
    assert env.fake.calls_of("create") == []
    [event] = env.events("InsufficientCapacityError")
    assert "all requested instance types were unavailable during launch" in event["message"]


def test_a_launch_error_is_retried_with_backoff(env: Env) -> None:
    env.fake.fail_next("create", CreateError("quota exceeded for standard instances"))
    env.fake.fail_next("create", CreateError("quota exceeded for standard instances"))
    env.create_claim()
    claim = env.claim()
    assert condition(claim, "Launched") == ("False", "LaunchFailed")
    assert "quota exceeded" in claim["status"]["conditions"][0]["message"]  # type: ignore[index]
    env.run(0.9)
    assert len(env.fake.calls_of("create")) == 1
    env.run(0.2)  # the first retry, after 1 s, fails too
    assert len(env.fake.calls_of("create")) == 2
    env.run(1.8)
    assert condition(env.claim(), "Launched") == ("False", "LaunchFailed")
    env.run(0.2)  # the second retry, 2 s later, succeeds
    assert len(env.fake.calls_of("create")) == 3
    assert condition(env.claim(), "Launched") == ("True", "Launched")


def test_a_missing_node_class_waits_for_it(env: Env) -> None:
    env.client.delete("karpenter.k8s.aws/v1", "EC2NodeClass", "default")
    env.create_claim()
    claim = env.claim()
    assert condition(claim, "Launched") == ("False", "NodeClassNotFound")
    assert condition(claim, "Ready") == ("False", "NodeClassNotFound")
    assert env.fake.calls_of("create") == []
    env.client.create(make_nodeclass())
    env.run(2)
    assert condition(env.claim(), "Launched") == ("True", "Launched")


def test_a_claim_not_launched_in_five_minutes_is_deleted(env: Env) -> None:
    for _ in range(20):
        env.fake.fail_next("create", CreateError("quota exceeded"))
    env.create_claim()
    env.run(299)
    assert env.claim() is not None
    env.run(2)
    assert env.claim() is None
    [event] = env.events("LaunchTimeout")
    assert event["message"] == "NodeClaim default-x7k2p was not launched within 5m0s"


def test_a_lost_status_write_does_not_launch_twice(env: Env, monkeypatch: Any) -> None:
    write = env.client.update_status
    failures = [ConflictError("the object has been modified")]

    def flaky(obj: Obj, **kwargs: Any) -> Obj:
        if failures and obj.get("kind") == "NodeClaim":
            raise failures.pop()
        return write(obj, **kwargs)

    monkeypatch.setattr(env.client, "update_status", flaky)
    env.create_claim()
    assert not failures
    assert len(env.fake.calls_of("create")) == 1
    claim = env.claim()
    assert claim is not None
    assert claim["status"]["providerID"] == env.cloud.list()[0].provider_id
    assert len(env.events("Launched")) == 1


# --- registration and initialization -----------------------------------------------------------


def test_registration_syncs_the_node(env: Env) -> None:
    env.create_claim(make_claim(taints=[DEDICATED], startup_taints=[STARTUP]))
    name = env.join_node()
    claim, node = env.claim(), env.node(name)
    assert claim is not None and node is not None
    assert claim["status"]["nodeName"] == name
    assert condition(claim, "Registered") == ("True", "Registered")
    labels = node["metadata"]["labels"]
    assert labels["karpenter.sh/registered"] == "true"
    assert labels["example.com/team"] == "web"
    assert labels["karpenter.sh/nodepool"] == "default"
    assert labels["node.kubernetes.io/instance-type"] == "t3.medium"
    assert node["metadata"]["annotations"]["example.com/owner"] == "web-team"
    assert "karpenter.sh/unregistered" not in taint_keys(node)
    assert {"dedicated", "node.cilium.io/agent-not-ready"} <= set(taint_keys(node))
    assert node["metadata"]["finalizers"] == ["karpenter.sh/termination"]
    [owner] = node["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "NodeClaim",
        "default-x7k2p",
        claim["metadata"]["uid"],
    )
    [event] = env.events("Registered")
    assert event["message"] == f"Registered node {name}"


def test_initialization_waits_for_ready_and_startup_taints(env: Env) -> None:
    env.create_claim(make_claim(startup_taints=[STARTUP]))
    name = env.join_node()
    assert condition(env.claim(), "Initialized") == ("Unknown", "NodeNotReady")
    env.ready_node()
    env.run(1)
    node = env.node(name)
    assert condition(node, "Ready") == ("True", "KubeletReady")
    assert condition(env.claim(), "Initialized") == ("Unknown", "StartupTaintsExist")
    assert condition(env.claim(), "Ready") == ("Unknown", "StartupTaintsExist")
    remove_taints(env.client, name, ["node.cilium.io/agent-not-ready"])
    env.run(0)
    claim = env.claim()
    assert conditions(claim) == {
        "Launched": "True",
        "Registered": "True",
        "Initialized": "True",
        "Ready": "True",
    }
    assert env.node(name)["metadata"]["labels"]["karpenter.sh/initialized"] == "true"  # type: ignore[index]
    assert [e["message"] for e in env.events("Initialized")] == [f"Initialized node {name}"]


def test_a_node_without_the_unregistered_taint_is_not_registered(env: Env) -> None:
    env.create_claim()
    node = env.join.register(env.instance())
    name = node["metadata"]["name"]
    # Something registered the node before the lifecycle could (the taint is gone, but the
    # registered label never came): Karpenter's invariant is broken and the node left alone.
    remove_taints(env.client, name, ["karpenter.sh/unregistered"])
    env.run(0)
    claim = env.claim()
    assert condition(claim, "Registered") == ("False", "UnregisteredTaintNotFound")
    assert "finalizers" not in env.node(name)["metadata"]  # type: ignore[index]


def test_a_claim_not_registered_in_fifteen_minutes_is_deleted(env: Env) -> None:
    env.create_claim()
    provider_id = env.claim()["status"]["providerID"]  # type: ignore[index]
    env.run(899)
    assert env.claim() is not None
    env.run(2)
    assert env.claim() is None
    assert [c.args["provider_id"] for c in env.fake.calls_of("delete")] == [provider_id]
    assert env.cloud.list() == []
    [event] = env.events("RegistrationTimeout")
    assert event["message"] == "NodeClaim default-x7k2p was not registered within 15m0s"


def test_deleting_the_node_terminates_its_claim(env: Env) -> None:
    env.create_claim()
    name = env.join_node()
    env.ready_node()
    env.client.delete("v1", "Node", name)
    env.run(1)
    assert env.claim() is None
    assert env.node(name) is None
    assert env.cloud.list() == []


def test_a_claim_is_never_written_to_when_nothing_changed(env: Env) -> None:
    env.create_claim()
    env.join_node()
    env.ready_node()
    env.run(5)
    before = env.claim()
    env.cluster.manager.enqueue("nodeclaim.lifecycle", _key())
    env.run(1)
    after = env.claim()
    assert before is not None and after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def _key() -> Any:
    from shipyard.core.objects import ObjectKey

    return ObjectKey(KARPENTER, "NodeClaim", "", "default-x7k2p")
