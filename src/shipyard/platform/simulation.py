"""The strategies ``shipyard simulate`` compares, wired on the platform's clusters.

``karpenter`` is Shipyard's Karpenter-style autoscaler
(:class:`~shipyard.platform.autoscaling.AutoscaledCluster`, with the scenario's NodePools and
EC2NodeClasses); ``cluster-autoscaler`` is the baseline
(:class:`~shipyard.platform.baseline.BaselineCluster`, with the scenario's node groups). Both
get a SimulatedCloud and an embedded cluster seeded from the scenario's seed. (The runner in
:mod:`shipyard.sim` sits below the platform, so the composition lives here.)
"""

from __future__ import annotations

from shipyard.autoscaler.baseline import BaselineOptions, LaunchModel
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cluster.embedded import ClusterOptions
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import ShipyardError
from shipyard.platform.autoscaling import AutoscaledCluster
from shipyard.platform.baseline import BaselineCluster
from shipyard.platform.wiring import memory_cluster
from shipyard.sim.runner import Strategy, System
from shipyard.sim.scenario import CLUSTER_AUTOSCALER, KARPENTER, Scenario

__all__ = ["simulation_strategies"]


def _karpenter(scenario: Scenario, clock: VirtualClock) -> System:
    setup = scenario.karpenter
    if setup is None:
        raise ShipyardError(f'scenario "{scenario.name}" has no karpenter section')
    system = AutoscaledCluster(
        memory_cluster(clock),
        cloud=SimulatedCloud(clock, seed=scenario.seed),
        cluster_options=_cluster_options(scenario),
    )
    for obj in (*setup.node_classes, *setup.node_pools):
        system.client.create(obj)
    return system


def _baseline(scenario: Scenario, clock: VirtualClock) -> System:
    setup = scenario.cluster_autoscaler
    if setup is None:
        raise ShipyardError(f'scenario "{scenario.name}" has no clusterAutoscaler section')
    options = BaselineOptions(
        expanders=(setup.expander,), seed=scenario.seed, launch=LaunchModel(seed=scenario.seed)
    )
    return BaselineCluster(
        memory_cluster(clock),
        groups=setup.node_groups,
        options=options,
        cluster_options=_cluster_options(scenario),
    )


def _cluster_options(scenario: Scenario) -> ClusterOptions:
    knobs = scenario.cluster
    return ClusterOptions(
        seed=scenario.seed,
        hpa_sync_period=knobs.hpa_sync_period,
        traffic_tick_seconds=knobs.traffic_tick,
        heartbeat_seconds=knobs.node_heartbeat,
        node_grace_period=5 * knobs.node_heartbeat,
    )


def simulation_strategies() -> dict[str, Strategy]:
    """The strategies ``shipyard simulate`` compares, by name."""
    return {
        KARPENTER: Strategy(KARPENTER, "Karpenter-style (Shipyard autoscaler)", _karpenter),
        CLUSTER_AUTOSCALER: Strategy(
            CLUSTER_AUTOSCALER,
            "Cluster Autoscaler (baseline)",
            _baseline,
            invariants=("pdb", "pod"),  # no NodePools, no NodeClaims
        ),
    }
