"""Garbage collection: instances no NodeClaim names, claims whose instance is gone."""

from __future__ import annotations

from shipyard.autoscaler.lifecycle import GC_KEY, NodeClaimGarbageCollector
from shipyard.cloud.provider import Instance, LaunchRequest
from shipyard.core.requirements import Requirements
from tests.autoscaler.test_lifecycle_helpers import Env, condition, make_env


def launch_outside(env: Env, *, tags: dict[str, str], claim_name: str = "") -> Instance:
    """An instance started without a NodeClaim (a lost write, a crash, another tool)."""
    types = [t for t in env.cloud.instance_types({}) if t.name == "t3.medium"]
    request = LaunchRequest(claim_name, "default", types, Requirements(), tags=tags)
    return env.cloud.create(request)


def start_gc(env: Env) -> None:
    env.cluster.manager.enqueue(NodeClaimGarbageCollector.name, GC_KEY)
    env.run(0)


def live(env: Env) -> set[str]:
    return {i.provider_id for i in env.cloud.list()}


def test_an_orphan_instance_is_terminated_after_thirty_seconds() -> None:
    env = make_env()
    orphan = launch_outside(env, tags={"karpenter.sh/nodepool": "default"}, claim_name="gone-1")
    stranger = launch_outside(env, tags={"owner": "someone-else"})
    start_gc(env)
    env.run(29)
    assert orphan.provider_id in live(env)
    env.run(2)
    assert live(env) == {stranger.provider_id}  # not Karpenter's: left alone
    assert env.gc.terminated == [orphan.provider_id]


def test_an_instance_with_a_claim_is_kept() -> None:
    env = make_env()
    env.create_claim()  # the first claim event starts the collector
    env.run(120)
    claim = env.claim()
    assert claim is not None
    assert live(env) == {claim["status"]["providerID"]}
    assert env.gc.terminated == []
    assert len(env.fake.calls_of("list")) >= 12  # it kept looking, every 10 s


def test_a_claim_whose_instance_is_gone_is_deleted() -> None:
    env = make_env()
    env.create_claim()
    name = env.join_node()
    env.ready_node()
    env.run(1)
    assert condition(env.claim(), "Ready") == ("True", "Ready")
    env.cloud.delete(env.instance().provider_id)  # terminated outside Shipyard
    env.run(10)
    assert env.claim() is None
    assert env.node(name) is None
    [event] = env.events("InstanceTerminated")
    assert event["message"].endswith("no longer exists; deleting NodeClaim default-x7k2p")
