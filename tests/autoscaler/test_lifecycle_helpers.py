"""Builders for the NodeClaim lifecycle tests: an embedded cluster serving Karpenter's kinds, a
cloud (FakeCloud or SimulatedCloud over a few real instance types), the lifecycle and garbage
collection controllers, and manifests (``make_claim(**overrides)``, ``make_nodepool``,
``make_nodeclass``). (No tests live here.)

With FakeCloud an instance runs as soon as it is created and nothing joins the cluster by
itself: a test calls ``env.join_node()`` (the kubelet registering) and ``env.ready_node()``
(the node turning Ready) when its story needs them. With SimulatedCloud, :class:`NodeJoin`
follows the cloud's own timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.lifecycle import (
    LifecycleOptions,
    NodeClaimGarbageCollector,
    NodeClaimLifecycle,
)
from shipyard.cloud.catalog import Catalog
from shipyard.cloud.fake import FakeCloud
from shipyard.cloud.pricing import Availability
from shipyard.cloud.provider import Instance
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from shipyard.platform.nodejoin import NodeJoin
from shipyard.platform.wiring import memory_cluster
from tests.cluster.fixtures import merge

KARPENTER = "karpenter.sh/v1"
TYPES = ("t3.medium", "t3.large", "m5.large", "c5.large")
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
ZONE = "topology.kubernetes.io/zone"


def make_nodeclass(name: str = "default", **overrides: Any) -> Obj:
    nodeclass: Obj = {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": name},
        "spec": {
            "role": "KarpenterNodeRole-test",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "test"}}],
            "tags": {"team": "platform"},
        },
    }
    return merge(nodeclass, overrides)


def make_nodepool(name: str = "default", **overrides: Any) -> Obj:
    nodepool: Obj = {
        "apiVersion": KARPENTER,
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "requirements": [
                        {"key": INSTANCE_TYPE, "operator": "In", "values": list(TYPES)}
                    ],
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                }
            }
        },
    }
    return merge(nodepool, overrides)


def requirement(key: str, operator: str, values: Sequence[str]) -> Obj:
    return {"key": key, "operator": operator, "values": list(values)}


def make_claim(
    name: str = "default-x7k2p",
    *,
    types: Sequence[str] = ("t3.medium", "t3.large"),
    capacity_type: str = "on-demand",
    requests: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    startup_taints: list[Obj] | None = None,
    grace: str | None = None,
    **overrides: Any,
) -> Obj:
    """A NodeClaim as the provisioner writes one for the ``default`` NodePool."""
    spec: Obj = {
        "requirements": [
            requirement(INSTANCE_TYPE, "In", types),
            requirement("karpenter.sh/nodepool", "In", ["default"]),
            requirement(CAPACITY_TYPE, "In", [capacity_type]),
        ],
        "resources": {"requests": requests or {"cpu": "500m", "memory": "512Mi", "pods": "1"}},
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
    }
    if taints:
        spec["taints"] = taints
    if startup_taints:
        spec["startupTaints"] = startup_taints
    if grace is not None:
        spec["terminationGracePeriod"] = grace
    claim: Obj = {
        "apiVersion": KARPENTER,
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {"karpenter.sh/nodepool": "default", "example.com/team": "web"},
            "annotations": {"example.com/owner": "web-team"},
        },
        "spec": spec,
    }
    return merge(claim, overrides)


def small_catalog(clock: VirtualClock, availability: Availability | None = None) -> Catalog:
    return Catalog(
        [spec_by_name(n) for n in TYPES],
        availability=availability,
        unavailable=UnavailableOfferings(clock),
    )


@dataclass
class Env:
    clock: VirtualClock
    cluster: EmbeddedCluster
    cloud: FakeCloud | SimulatedCloud
    lifecycle: NodeClaimLifecycle
    gc: NodeClaimGarbageCollector
    join: NodeJoin
    unavailable: UnavailableOfferings

    @property
    def client(self) -> EmbeddedClient:
        return self.cluster.client

    @property
    def fake(self) -> FakeCloud:
        assert isinstance(self.cloud, FakeCloud)
        return self.cloud

    @property
    def simulated(self) -> SimulatedCloud:
        assert isinstance(self.cloud, SimulatedCloud)
        return self.cloud

    def run(self, seconds: float) -> None:
        self.cluster.run_for(seconds)

    def create_claim(self, claim: Obj | None = None) -> Obj:
        created = self.client.create(claim or make_claim())
        self.run(0)
        return created

    def claim(self, name: str = "default-x7k2p") -> Obj | None:
        try:
            return self.client.get(KARPENTER, "NodeClaim", name)
        except NotFoundError:
            return None

    def node(self, name: str) -> Obj | None:
        try:
            return self.client.get("v1", "Node", name)
        except NotFoundError:
            return None

    def instance(self, name: str = "default-x7k2p") -> Instance:
        claim = self.claim(name)
        assert claim is not None, f"NodeClaim {name} is gone"
        return self.cloud.get(claim["status"]["providerID"])

    def join_node(self, name: str = "default-x7k2p") -> str:
        """The claim's instance registers its Node (what its kubelet does on boot)."""
        node = self.join.register(self.instance(name))
        self.run(0)
        return str(node["metadata"]["name"])

    def ready_node(self, name: str = "default-x7k2p") -> None:
        """The claim's node turns Ready (the embedded kubelet takes it over)."""
        self.join.ready(self.instance(name))
        self.run(0)

    def events(self, reason: str | None = None) -> list[Obj]:
        items = self.client.list("v1", "Event", namespace="default").items
        return [e for e in items if reason is None or e["reason"] == reason]


def condition(obj: Obj | None, type_: str) -> tuple[str, str]:
    """(status, reason) of a status condition; ("", "") when absent."""
    for cond in (obj or {}).get("status", {}).get("conditions") or ():
        if cond["type"] == type_:
            return cond["status"], cond.get("reason", "")
    return "", ""


def make_env(
    *,
    simulated: bool = False,
    availability: Availability | None = None,
    options: LifecycleOptions | None = None,
    taint_removal: dict[str, float] | None = None,
    nodepool: Obj | None = None,
) -> Env:
    clock = VirtualClock()
    cluster = EmbeddedCluster(memory_cluster(clock))  # the platform scheme: Karpenter's kinds too
    catalog = small_catalog(clock, availability)
    cloud: FakeCloud | SimulatedCloud
    if simulated:
        cloud = SimulatedCloud(clock, catalog=catalog)
        unavailable = cloud.unavailable
    else:
        cloud = FakeCloud(catalog, clock)
        assert catalog.unavailable is not None
        unavailable = catalog.unavailable
    client = cluster.client
    lifecycle = NodeClaimLifecycle(client, cloud, unavailable=unavailable, options=options)
    gc = NodeClaimGarbageCollector(client, cloud)
    cluster.manager.add(lifecycle)
    cluster.manager.add(gc)
    join = NodeJoin(client, taint_removal=taint_removal)
    if isinstance(cloud, SimulatedCloud):
        join.attach(cloud)
    client.create(make_nodeclass())
    client.create(nodepool or make_nodepool())
    cluster.start()
    return Env(clock, cluster, cloud, lifecycle, gc, join, unavailable)
