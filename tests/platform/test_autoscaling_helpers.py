"""Builders for the autoscaling tests: an :class:`AutoscaledCluster` on a virtual clock with a
SimulatedCloud (or a FakeCloud) over the four burstable types of the acceptance scenario, the
scenario's NodePool, pods and Deployments, and readers (``claims()``, ``events(reason)``).
(No tests live here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.cloud.catalog import Catalog
from shipyard.cloud.fake import FakeCloud
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.client import EmbeddedClient
from shipyard.core.clock import VirtualClock, parse_time
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from shipyard.platform.autoscaling import AutoscaledCluster, AutoscalerOptions
from shipyard.platform.wiring import memory_cluster
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass, requirement
from tests.cluster.fixtures import make_deployment, make_pod, merge

KARPENTER = "karpenter.sh/v1"
ALLOWED = ("t3.medium", "t3.large", "t4g.medium", "t4g.large")
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
ZONE = "topology.kubernetes.io/zone"

__all__ = [
    "ALLOWED",
    "KARPENTER",
    "World",
    "make_deployment",
    "make_pod",
    "nodepool",
    "web",
    "world",
]


def nodepool(
    name: str = "default",
    *,
    types: Sequence[str] = ALLOWED,
    capacity_types: Sequence[str] = ("on-demand",),
    zones: Sequence[str] = ("us-east-1b",),
    **overrides: Any,
) -> Obj:
    """The acceptance scenario's NodePool: four types, one capacity type, one zone."""
    pool: Obj = {
        "apiVersion": KARPENTER,
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "requirements": [
                        requirement(INSTANCE_TYPE, "In", types),
                        requirement(CAPACITY_TYPE, "In", capacity_types),
                        requirement(ZONE, "In", zones),
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
    return merge(pool, overrides)


@dataclass
class World:
    """An autoscaled cluster and what the tests read from it."""

    clock: VirtualClock
    auto: AutoscaledCluster
    start: float

    @property
    def client(self) -> EmbeddedClient:
        return self.auto.client

    def run(self, seconds: float) -> None:
        self.auto.run_for(seconds)

    def run_until(self, t: float) -> None:
        self.auto.run_for(max(0.0, t - self.elapsed()))

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    def create(self, obj: Obj) -> Obj:
        return self.client.create(obj)

    def claims(self) -> list[Obj]:
        return list(self.client.list(KARPENTER, "NodeClaim").items)

    def live_claims(self) -> list[Obj]:
        return [c for c in self.claims() if not c["metadata"].get("deletionTimestamp")]

    def claim_age(self, claim: Obj) -> float:
        """Seconds from the start of the world to the claim's creation."""
        return parse_time(claim["metadata"]["creationTimestamp"]) - self.start

    def nodes(self) -> list[Obj]:
        return list(self.client.list("v1", "Node").items)

    def pod(self, name: str, namespace: str = "default") -> Obj | None:
        try:
            return self.client.get("v1", "Pod", name, namespace=namespace)
        except NotFoundError:
            return None

    def pods(self, namespace: str = "default") -> list[Obj]:
        return list(self.client.list("v1", "Pod", namespace=namespace).items)

    def pool(self, name: str = "default") -> Obj:
        return self.client.get(KARPENTER, "NodePool", name)

    def events(self, reason: str | None = None, *, kind: str | None = None) -> list[Obj]:
        items = self.client.list("v1", "Event").items
        return [
            e
            for e in items
            if (reason is None or e["reason"] == reason)
            and (kind is None or e["involvedObject"]["kind"] == kind)
        ]

    def messages(self, reason: str, *, kind: str | None = None) -> list[str]:
        return [str(e["message"]) for e in self.events(reason, kind=kind)]


def catalog(clock: VirtualClock) -> Catalog:
    return Catalog([spec_by_name(n) for n in ALLOWED], unavailable=UnavailableOfferings(clock))


def world(
    *,
    pool: Obj | None = None,
    fake: bool = False,
    options: AutoscalerOptions | None = None,
    extra: Sequence[Obj] = (),
) -> World:
    """A started autoscaled cluster with the node class, the NodePool and ``extra`` objects."""
    clock = VirtualClock()
    types = catalog(clock)
    cloud: FakeCloud | SimulatedCloud
    cloud = FakeCloud(types, clock) if fake else SimulatedCloud(clock, catalog=types)
    auto = AutoscaledCluster(
        memory_cluster(clock), cloud=cloud, unavailable=types.unavailable, options=options
    )
    w = World(clock, auto, clock.now())
    auto.client.create(make_nodeclass())
    auto.client.create(pool or nodepool())
    for obj in extra:
        auto.client.create(obj)
    auto.start()
    return w


def web(replicas: int = 1, **overrides: Any) -> Obj:
    """The scenario's Deployment: pods of 500m / 512Mi."""
    return make_deployment("web", replicas=replicas, cpu="500m", memory="512Mi", **overrides)
