"""An embedded cluster scaled by the Cluster-Autoscaler baseline (for comparison only).

:class:`BaselineCluster` mirrors :class:`~shipyard.platform.autoscaling.AutoscaledCluster`'s
API (``in_memory``, ``start``, ``run_for``, ``stop``, ``cloud``, ``client``) and composes, on
one store, one clock and one controller Manager::

    EmbeddedCluster (scheduler, workloads, kubelets, ...)
      └─ then: ClusterAutoscaler (scan every 10 s; node groups as Auto Scaling groups)
    CloudProvider (SimulatedCloud unless given) ──► NodeJoin (simulated instances become Nodes)

The default SimulatedCloud takes its boot and join latencies from the baseline's
:class:`~shipyard.autoscaler.baseline.LaunchModel` (with the ASG reaction the controller adds,
≈ 2-3 minutes from a scale-up to a Ready node); a cloud passed in keeps its own latencies.
``BaselineCluster.in_memory(clock, groups=[NodeGroup(...)])`` builds everything on a fresh
in-memory store; ``start()`` starts the control plane and the scan loop, whose first scan has
every group launch its minimum size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.autoscaler.baseline import (
    SCAN_KEY,
    BaselineOptions,
    ClusterAutoscaler,
    NodeGroup,
)
from shipyard.cloud.provider import CloudProvider
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cluster.embedded import ClusterOptions, EmbeddedCluster
from shipyard.cluster.kubelet.simulated import ImageProfile
from shipyard.core.clock import Clock, VirtualClock
from shipyard.platform.nodejoin import NodeJoin
from shipyard.platform.system import ScaledCluster
from shipyard.platform.wiring import memory_cluster
from shipyard.store.store import Store

__all__ = ["BaselineCluster"]


class BaselineCluster(ScaledCluster):
    """The embedded cluster plus the Cluster-Autoscaler baseline (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        groups: Sequence[NodeGroup],
        *,
        cloud: CloudProvider | None = None,
        options: BaselineOptions | None = None,
        cluster_options: ClusterOptions | None = None,
        profiles: Mapping[str, ImageProfile] | None = None,
    ) -> None:
        opts = options or BaselineOptions()
        self.cluster = EmbeddedCluster(store, profiles=profiles, options=cluster_options)
        self.clock: Clock = self.cluster.clock
        if cloud is None:
            cloud = SimulatedCloud(
                self.clock, latency=opts.launch.cloud_latency(), seed=opts.launch.seed
            )
        self.cloud: CloudProvider = cloud
        client = self.cluster.client
        self.join = NodeJoin(client)
        if isinstance(self.cloud, SimulatedCloud):
            self.join.attach(self.cloud)
        self.autoscaler = ClusterAutoscaler(client, self.cloud, groups, options=opts)
        self.cluster.manager.add(self.autoscaler)

    @classmethod
    def in_memory(cls, clock: VirtualClock | None = None, **kwargs: Any) -> BaselineCluster:
        """On a fresh in-memory store (the platform scheme); ``groups=`` is required."""
        return cls(memory_cluster(clock or VirtualClock()), **kwargs)

    def run_for(self, seconds: float) -> None:
        """Start if not started yet (the scan loop must run), then advance the clock."""
        self.start()
        super().run_for(seconds)

    def _first_start(self) -> None:
        self.cluster.manager.enqueue(self.autoscaler.name, SCAN_KEY)  # the first scan at once

    def _close(self) -> None:
        self.autoscaler.close()
