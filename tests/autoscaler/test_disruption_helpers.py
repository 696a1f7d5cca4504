"""Builders for the disruption scenario tests: an autoscaled cluster on a SimulatedCloud (the
four burstable types of the issue-4 scenario unless told otherwise) with the consolidation
marker and the disruption controller added, and readers. (No tests live here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.disruption.candidates import ConsolidationMarker
from shipyard.autoscaler.disruption.controller import DisruptionController, DisruptionOptions
from shipyard.autoscaler.lifecycle import DISRUPTED_TAINT
from shipyard.cloud.catalog import Catalog
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.core.clock import VirtualClock
from shipyard.core.objects import Obj
from shipyard.platform.autoscaling import AutoscaledCluster, AutoscalerOptions
from shipyard.platform.wiring import memory_cluster
from shipyard.sim.invariants import InvariantChecker, run_checked
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass
from tests.platform.test_autoscaling_helpers import ALLOWED, World, nodepool

__all__ = ["DWorld", "dworld", "pdb", "pool_with", "tainted"]

# 2025-01-06 is a Monday; worlds start there at 00:00 UTC unless told otherwise
MONDAY = 1_736_121_600.0

MANUAL = AutoscalerOptions(disruption=False)


@dataclass
class DWorld(World):
    """A World with the disruption controller; time moves in 2 s steps with every invariant
    checked after each (budgets, PDBs, no pod of a controller lost, no unowned instance)."""

    disruption: DisruptionController
    checker: InvariantChecker

    def run(self, seconds: float) -> None:
        if seconds > 0:
            run_checked(self.auto, self.checker, seconds, step=2.0)

    def run_until(self, t: float) -> None:
        self.run(max(0.0, t - self.elapsed()))

    def live_nodes(self) -> list[Obj]:
        return [n for n in self.nodes() if not n["metadata"].get("deletionTimestamp")]

    def claim_names(self) -> list[str]:
        return sorted(c["metadata"]["name"] for c in self.live_claims())

    def running(self, namespace: str = "default") -> list[Obj]:
        return [
            p
            for p in self.pods(namespace)
            if p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
        ]

    def scale(self, name: str, replicas: int) -> None:
        dep = self.client.get("apps/v1", "Deployment", name, namespace="default")
        dep["spec"]["replicas"] = replicas
        self.client.update(dep)

    def instance_types(self) -> list[str]:
        return sorted(
            c["metadata"]["labels"]["node.kubernetes.io/instance-type"] for c in self.live_claims()
        )


def pool_with(
    *,
    budgets: Sequence[Obj] | None = None,
    consolidate_after: str = "0s",
    policy: str = "WhenEmptyOrUnderutilized",
    **kwargs: Any,
) -> Obj:
    disruption: Obj = {"consolidateAfter": consolidate_after, "consolidationPolicy": policy}
    if budgets is not None:
        disruption["budgets"] = list(budgets)
    return nodepool(spec={"disruption": disruption}, **kwargs)


def dworld(
    *,
    pool: Obj | None = None,
    extra: Sequence[Obj] = (),
    types: Sequence[str] = ALLOWED,
    options: DisruptionOptions | None = None,
    start: float = MONDAY,
) -> DWorld:
    """A started cluster with the node class, the pool, ``extra`` and disruption wired in."""
    clock = VirtualClock(start)
    catalog = Catalog([spec_by_name(n) for n in types], unavailable=UnavailableOfferings(clock))
    cloud = SimulatedCloud(clock, catalog=catalog)
    # these tests add the disruption controllers themselves, with their own settings
    auto = AutoscaledCluster(
        memory_cluster(clock), cloud=cloud, unavailable=catalog.unavailable, options=MANUAL
    )
    manager = auto.cluster.manager
    manager.add(ConsolidationMarker(auto.client))
    controller = DisruptionController(
        auto.client, auto.cloud, provisioner=auto.provisioner, options=options
    )
    manager.add(controller)
    w = DWorld(clock, auto, clock.now(), controller, InvariantChecker(auto.client, auto.cloud))
    auto.client.create(make_nodeclass())
    auto.client.create(pool or pool_with())
    for obj in extra:
        auto.client.create(obj)
    auto.start()
    return w


def pdb(name: str, app: str, *, max_unavailable: int = 0) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": app}}},
    }


def tainted(node: Obj) -> bool:
    return any(
        t.get("key") == DISRUPTED_TAINT.key for t in (node.get("spec") or {}).get("taints") or ()
    )
