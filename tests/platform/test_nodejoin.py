"""NodeJoin: simulated instances registering as Nodes the way a kubelet does, turning Ready
through the embedded kubelet after the cloud's latency, and leaving when terminated."""

from __future__ import annotations

import re

import pytest

from shipyard.cloud.catalog import Catalog
from shipyard.cloud.provider import Instance, LaunchRequest
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from shipyard.core.requirements import IN, Requirement, Requirements
from shipyard.platform.nodejoin import NodeJoin, node_for_instance, node_name_for, remove_taints
from shipyard.platform.wiring import memory_cluster

UNREGISTERED = {"key": "karpenter.sh/unregistered", "effect": "NoExecute"}
STARTUP = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}
NAME = re.compile(r"^ip-10-(\d+)-(\d+)-(\d+)\.ec2\.internal$")


class World:
    def __init__(self, taint_removal: dict[str, float] | None = None) -> None:
        self.clock = VirtualClock()
        self.cluster = EmbeddedCluster(memory_cluster(self.clock)).start()
        catalog = Catalog([spec_by_name("t3.medium")], unavailable=UnavailableOfferings(self.clock))
        self.cloud = SimulatedCloud(self.clock, catalog=catalog)
        self.join = NodeJoin(self.cluster.client, taint_removal=taint_removal).attach(self.cloud)

    def launch(self, taints: tuple[Obj, ...] = (UNREGISTERED, STARTUP)) -> Instance:
        types = self.cloud.instance_types({})
        requirements = Requirements(
            [Requirement.create("karpenter.sh/capacity-type", IN, ["on-demand"])]
        )
        labels = {"karpenter.sh/nodepool": "default", "example.com/team": "web"}
        request = LaunchRequest("default-x7k2p", "default", types, requirements, labels, taints)
        return self.cloud.create(request)

    def node(self, instance: Instance) -> Obj | None:
        try:
            return self.cluster.client.get("v1", "Node", node_name_for(instance))
        except NotFoundError:
            return None

    def run(self, seconds: float) -> None:
        self.cluster.run_for(seconds)


def ready(node: Obj | None) -> str:
    for cond in (node or {}).get("status", {}).get("conditions") or ():
        if cond["type"] == "Ready":
            return str(cond["status"])
    return ""


def taint_keys(node: Obj | None) -> list[str]:
    return [t["key"] for t in (node or {}).get("spec", {}).get("taints") or ()]


@pytest.fixture
def world() -> World:
    return World()


def test_node_names_look_like_ec2_private_dns_names(world: World) -> None:
    instance = world.launch()
    name = node_name_for(instance)
    match = NAME.match(name)
    assert match is not None, name
    assert all(0 <= int(octet) <= 255 for octet in match.groups())
    assert node_name_for(instance) == name  # stable
    assert node_name_for(instance, 1) != name
    other = Instance(
        **{**instance.__dict__, "labels": {"topology.kubernetes.io/region": "eu-west-1"}}
    )
    assert node_name_for(other).endswith(".eu-west-1.compute.internal")


def test_the_node_is_registered_as_its_kubelet_would(world: World) -> None:
    instance = world.launch()
    node = node_for_instance(instance, "ip-10-0-0-1.ec2.internal", world.clock.now())
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "ip-10-0-0-1.ec2.internal"
    assert labels["node.kubernetes.io/instance-type"] == "t3.medium"
    assert labels["topology.kubernetes.io/zone"] == instance.zone
    assert labels["topology.kubernetes.io/region"] == "us-east-1"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["karpenter.sh/capacity-type"] == "on-demand"
    assert labels["karpenter.sh/nodepool"] == "default"
    assert labels["example.com/team"] == "web"
    assert node["spec"]["providerID"] == instance.provider_id
    assert taint_keys(node) == [
        "karpenter.sh/unregistered",
        "node.cilium.io/agent-not-ready",
        "node.kubernetes.io/not-ready",
    ]
    assert node["status"]["capacity"] == {
        "cpu": "2",
        "ephemeral-storage": "20Gi",
        "memory": "3788Mi",
        "pods": "17",
    }
    assert node["status"]["allocatable"]["cpu"] == "1930m"
    assert ready(node) == "False"


def test_the_node_appears_when_running_and_is_ready_ten_seconds_later(world: World) -> None:
    instance = world.launch()
    world.run(14.9)
    assert world.node(instance) is None  # pending
    world.run(0.1)
    node = world.node(instance)
    assert node is not None
    assert ready(node) == "False"
    assert node["metadata"]["annotations"] == {"shipyard.dev/kubelet": "external"}
    assert world.cluster.kubelets.kubelet(node["metadata"]["name"]) is None
    world.run(9.9)
    assert ready(world.node(instance)) == "False"
    world.run(0.1)
    node = world.node(instance)
    assert ready(node) == "True"
    assert world.cluster.kubelets.kubelet(node["metadata"]["name"]) is not None  # type: ignore[index]
    assert "annotations" not in node["metadata"] or not node["metadata"]["annotations"]  # type: ignore[index]
    assert "node.kubernetes.io/not-ready" not in taint_keys(node)
    assert "node.cilium.io/agent-not-ready" in taint_keys(node)  # nobody owns it here


def test_startup_taints_go_when_their_owner_says() -> None:
    world = World(taint_removal={STARTUP["key"]: 3.0})
    instance = world.launch()
    world.run(27.9)
    assert STARTUP["key"] in taint_keys(world.node(instance))
    world.run(0.2)
    assert STARTUP["key"] not in taint_keys(world.node(instance))
    assert remove_taints(world.cluster.client, node_name_for(instance), [STARTUP["key"]]) is None


def test_a_terminated_instance_takes_its_node_away(world: World) -> None:
    instance = world.launch()
    world.run(30)
    assert world.node(instance) is not None
    world.cloud.terminate_externally(instance.instance_id)
    world.run(5)
    assert world.node(instance) is None
    assert world.join.node_of(instance) is None


def test_a_taken_name_moves_to_the_next_address(world: World) -> None:
    instance = world.launch()
    taken = node_name_for(instance)
    world.cluster.client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": taken},
            "spec": {"providerID": "aws:///x/i-other"},
        }
    )
    world.run(15)
    assert world.join.node_of(instance) == node_name_for(instance, 1)
    again = world.join.register(instance)  # registering twice finds the same node
    assert again["metadata"]["name"] == node_name_for(instance, 1)
