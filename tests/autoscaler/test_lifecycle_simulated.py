"""The lifecycle on SimulatedCloud: the documented timeline (running ≈15 s after launch, Ready
≈10 s later), capacity running out, termination taking the cloud's shutdown time, and an
instance reclaimed from under its node."""

from __future__ import annotations

from shipyard.cloud.pricing import Availability
from shipyard.core.clock import parse_time
from shipyard.core.objects import Obj
from tests.autoscaler.test_lifecycle_helpers import (
    KARPENTER,
    condition,
    make_claim,
    make_env,
)

STARTUP = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}


def transitions(claim: Obj | None) -> dict[str, float]:
    """Seconds after the claim's creation at which each condition last changed."""
    assert claim is not None
    created = parse_time(claim["metadata"]["creationTimestamp"])
    return {
        c["type"]: parse_time(c["lastTransitionTime"]) - created
        for c in claim["status"]["conditions"]
    }


def test_launched_registered_initialized_timeline() -> None:
    env = make_env(simulated=True)
    env.create_claim()
    assert condition(env.claim(), "Launched") == ("True", "Launched")
    env.run(14)
    assert condition(env.claim(), "Registered") == ("Unknown", "NodeNotFound")
    env.run(1)  # running: the kubelet registers the node, the lifecycle syncs it
    claim = env.claim()
    assert condition(claim, "Registered") == ("True", "Registered")
    assert condition(claim, "Initialized") == ("Unknown", "NodeNotReady")
    env.run(10)  # 10 s later the node is Ready
    claim = env.claim()
    assert condition(claim, "Ready") == ("True", "Ready")
    assert transitions(claim) == {
        "Launched": 0.0,
        "Registered": 15.0,
        "Initialized": 25.0,
        "Ready": 25.0,
    }
    node = env.node(claim["status"]["nodeName"])  # type: ignore[index]
    assert node is not None
    assert condition(node, "Ready") == ("True", "KubeletReady")
    labels = node["metadata"]["labels"]
    assert labels["karpenter.sh/registered"] == labels["karpenter.sh/initialized"] == "true"
    assert (
        labels["node.kubernetes.io/instance-type"]
        == claim["metadata"]["labels"][  # type: ignore[index]
            "node.kubernetes.io/instance-type"
        ]
    )
    assert not node["spec"].get("taints")


def test_startup_taints_removed_by_their_owner_complete_initialization() -> None:
    env = make_env(simulated=True, taint_removal={STARTUP["key"]: 5.0})
    env.create_claim(make_claim(startup_taints=[STARTUP]))
    env.run(25)
    assert condition(env.claim(), "Initialized") == ("Unknown", "StartupTaintsExist")
    env.run(5)
    assert condition(env.claim(), "Initialized") == ("True", "Initialized")
    assert transitions(env.claim())["Initialized"] == 30.0


def test_exhausted_capacity_deletes_the_claim_and_remembers_the_offerings() -> None:
    availability = Availability(
        limits={("t3.medium", None, "on-demand"): 0, ("t3.large", None, "on-demand"): 0}
    )
    env = make_env(simulated=True, availability=availability)
    env.create_claim()
    assert env.claim() is None
    cloud = env.simulated
    assert cloud.unavailable.is_unavailable("t3.medium", "us-east-1a", "on-demand")
    assert cloud.unavailable.is_unavailable("t3.large", "us-east-1c", "on-demand")
    assert cloud.list() == []
    [event] = env.events("InsufficientCapacityError")
    assert "insufficient on-demand capacity" in event["message"]


def test_exhausted_offerings_are_skipped_for_the_next_cheapest() -> None:
    availability = Availability(limits={("t3.medium", None, "on-demand"): 0})
    env = make_env(simulated=True, availability=availability)
    env.create_claim()
    claim = env.claim()
    assert claim is not None
    assert claim["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "t3.large"
    assert env.simulated.unavailable.is_unavailable("t3.medium", "us-east-1a", "on-demand")


def test_termination_waits_for_the_instance_to_shut_down() -> None:
    env = make_env(simulated=True)
    env.create_claim()
    env.run(30)
    node = env.claim()["status"]["nodeName"]  # type: ignore[index]
    env.client.delete(KARPENTER, "NodeClaim", "default-x7k2p")
    env.run(1)
    claim = env.claim()
    assert condition(claim, "InstanceTerminating") == ("True", "InstanceTerminating")
    assert [i.state for i in env.simulated.all_instances()] == ["shutting-down"]
    assert env.node(node) is not None
    env.run(5)  # the cloud's 5 s shutdown
    assert env.claim() is None
    assert env.node(node) is None
    assert [i.state for i in env.simulated.all_instances()] == ["terminated"]
    assert env.simulated.hourly_cost() == 0.0


def test_a_reclaimed_spot_instance_takes_its_claim_with_it() -> None:
    env = make_env(simulated=True)
    env.create_claim(make_claim(capacity_type="spot"))
    env.run(30)
    instance = env.instance()
    assert instance.capacity_type == "spot"
    env.simulated.interrupt_spot(instance.instance_id)
    env.run(119)
    assert env.claim() is not None
    env.run(10)  # reclaimed at 120 s, terminated 5 s later: the node goes, then the claim
    assert env.claim() is None
    assert env.client.list("v1", "Node").items == []
