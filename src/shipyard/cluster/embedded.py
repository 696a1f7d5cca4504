"""The embedded cluster: a store plus every control-plane component, run on one clock.

::

    Store ── EmbeddedClient (+ EvictionAPI) ── Manager ─┬─ Scheduler
                                                        ├─ Deployment, ReplicaSet, DaemonSet,
                                                        │  Job, HPA
                                                        ├─ Endpoints (+ ClusterIPs), Disruption,
                                                        │  PodGC
                                                        ├─ NodeLifecycle
                                                        └─ KubeletManager ── SimulatedRuntime
    TrafficModel ── reads endpoints, loads the runtime (simulation only)

``EmbeddedCluster(store)`` builds the components with Kubernetes' defaults; ``start()``
subscribes them to the store and queues every existing object once; then time moves by the
clock: ``run_for(seconds)`` on a virtual clock. A Node applied to the cluster gets a
simulated kubelet and becomes Ready; pods are scheduled, started, probed and terminated as
Kubernetes does. The same components run on a real clock in live mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.disruption import DisruptionController, EvictionAPI
from shipyard.cluster.kubelet.agents import KubeletManager
from shipyard.cluster.kubelet.node_lifecycle import NodeLifecycleController
from shipyard.cluster.kubelet.simulated import ImageProfile, SimulatedRuntime
from shipyard.cluster.podgc import PodGCController
from shipyard.cluster.runtime import Manager
from shipyard.cluster.scheduler.scheduler import Scheduler
from shipyard.cluster.services import EndpointsController
from shipyard.cluster.traffic import TrafficModel
from shipyard.cluster.workloads.daemonset import DaemonSetController
from shipyard.cluster.workloads.deployment import DeploymentController
from shipyard.cluster.workloads.hpa import HorizontalPodAutoscalerController
from shipyard.cluster.workloads.job import JobController
from shipyard.cluster.workloads.replicaset import ReplicaSetController
from shipyard.core.clock import VirtualClock
from shipyard.store.store import Store

__all__ = ["ClusterOptions", "EmbeddedCluster"]


@dataclass(frozen=True)
class ClusterOptions:
    """Knobs of the embedded control plane (Kubernetes' defaults unless said otherwise)."""

    heartbeat_seconds: float = 10.0
    node_grace_period: float = 50.0
    hpa_sync_period: float = 15.0
    traffic_tick_seconds: float = 1.0
    seed: int = 0


class EmbeddedCluster:
    """Every component of the embedded control plane, wired to one store and one clock."""

    def __init__(
        self,
        store: Store,
        *,
        profiles: Mapping[str, ImageProfile] | None = None,
        options: ClusterOptions | None = None,
    ) -> None:
        opts = self.options = options or ClusterOptions()
        self.store = store
        self.clock = store.clock
        self.client = EmbeddedClient(store)
        self.client.set_evictor(EvictionAPI(self.client))
        self.runtime = SimulatedRuntime(self.clock, profiles, seed=opts.seed)
        self.kubelets = KubeletManager(
            self.client, self.runtime, heartbeat_seconds=opts.heartbeat_seconds
        )
        self.scheduler = Scheduler(self.client)
        self.manager = Manager(self.client, self.clock)
        self.hpa = HorizontalPodAutoscalerController(
            self.client, self.runtime, sync_period=opts.hpa_sync_period
        )
        for controller in (
            self.scheduler,
            DeploymentController(self.client),
            ReplicaSetController(self.client),
            DaemonSetController(self.client),
            JobController(self.client),
            self.hpa,
            EndpointsController(self.client),
            DisruptionController(self.client),
            PodGCController(self.client),
            NodeLifecycleController(self.client, grace_period=opts.node_grace_period),
            self.kubelets,
        ):
            self.manager.add(controller)
        self.traffic = TrafficModel(
            self.client, self.runtime, self.clock, tick_seconds=opts.traffic_tick_seconds
        )
        self._started = False

    def start(self) -> EmbeddedCluster:
        if not self._started:
            self.manager.start()
            self._started = True
        return self

    def run_for(self, seconds: float) -> None:
        """Advance a virtual clock by ``seconds``, running everything that falls due."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("run_for needs a virtual clock; a live cluster runs by itself")
        self.start()
        self.clock.advance(seconds)

    def stop(self) -> None:
        self.traffic.stop()
        self.manager.stop()
        self.kubelets.close()
        self.hpa.close()
        self._started = False
