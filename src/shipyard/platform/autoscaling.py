"""An embedded cluster with Shipyard's node autoscaler: unschedulable pods get nodes.

:class:`AutoscaledCluster` composes, on one store, one clock and one controller
:class:`~shipyard.cluster.runtime.Manager`::

    EmbeddedCluster (scheduler, workloads, kubelets, ...)
      └─ then, in this order:  Provisioner ─ NodeClaimLifecycle ─ NodeClaimGarbageCollector
                               ─ NodePoolStatusController
                               ─ (disruption, unless turned off) NodeClaimExpiration
                                 ─ NodePoolHashController ─ DriftController
                                 ─ InterruptionController ─ ConsolidationMarker
                                 ─ DisruptionController (emptiness → drift → multi → single)
    CloudProvider (SimulatedCloud unless given) ──► NodeJoin (simulated instances become Nodes)

The order matters within a drain: the kube-scheduler marks a pod ``Unschedulable`` before the
provisioner looks at it; the provisioner writes a NodeClaim before the lifecycle launches it.
With a :class:`~shipyard.cloud.simulated.SimulatedCloud` the whole story runs in virtual time:
a pending pod, a batch window later a NodeClaim, ~15 s later a registered node, ~10 s later a
Ready node, and the scheduler binds the pod. Any other
:class:`~shipyard.cloud.provider.CloudProvider` (a FakeCloud in tests) works too; then nothing
joins the cluster by itself, and a test registers nodes through :attr:`AutoscaledCluster.join`.

``AutoscaledCluster.in_memory()`` builds everything on a fresh in-memory store;
``AutoscaledCluster(store, ...)`` runs on a given one (a CLI session's persisted cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.disruption.candidates import ConsolidationMarker
from shipyard.autoscaler.disruption.controller import (
    DisruptionController,
    DisruptionOptions,
    standard_methods,
)
from shipyard.autoscaler.disruption.drift import Drift, DriftController, NodePoolHashController
from shipyard.autoscaler.disruption.expiration import NodeClaimExpiration
from shipyard.autoscaler.interruption import InterruptionController
from shipyard.autoscaler.lifecycle import (
    LifecycleOptions,
    NodeClaimGarbageCollector,
    NodeClaimLifecycle,
)
from shipyard.autoscaler.metrics import AutoscalerMetrics, refresh_gauges
from shipyard.autoscaler.provisioning.batcher import BatchOptions
from shipyard.autoscaler.provisioning.controller import NodePoolStatusController, Provisioner
from shipyard.cloud.provider import CloudProvider
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.cluster.embedded import ClusterOptions, EmbeddedCluster
from shipyard.cluster.events import EventRecorder
from shipyard.cluster.kubelet.simulated import ImageProfile
from shipyard.core.clock import Clock, VirtualClock
from shipyard.platform.nodejoin import NodeJoin
from shipyard.platform.system import ScaledCluster
from shipyard.platform.wiring import memory_cluster
from shipyard.store.store import Store

__all__ = ["AutoscaledCluster", "AutoscalerOptions"]


@dataclass(frozen=True)
class AutoscalerOptions:
    """The autoscaler's knobs: batching, the lifecycle's timeouts, when startup taints go."""

    batch: BatchOptions = field(default_factory=BatchOptions)
    lifecycle: LifecycleOptions = field(default_factory=LifecycleOptions)
    # startup taint key -> seconds after Ready its owner (a CNI agent, ...) removes it
    taint_removal: Mapping[str, float] = field(default_factory=dict)
    nomination_window: float | None = None
    # consolidation, expiration, drift and interruption handling; off: provisioning only
    disruption: bool = True
    disruption_options: DisruptionOptions = field(default_factory=DisruptionOptions)
    drift_poll: float = 300.0


class AutoscaledCluster(ScaledCluster):
    """The embedded cluster plus the node autoscaler on a cloud (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        cloud: CloudProvider | None = None,
        unavailable: UnavailableOfferings | None = None,
        options: AutoscalerOptions | None = None,
        cluster_options: ClusterOptions | None = None,
        profiles: Mapping[str, ImageProfile] | None = None,
    ) -> None:
        opts = options or AutoscalerOptions()
        self.cluster = EmbeddedCluster(store, profiles=profiles, options=cluster_options)
        self.clock: Clock = self.cluster.clock
        self.cloud: CloudProvider = cloud if cloud is not None else SimulatedCloud(self.clock)
        if unavailable is None and isinstance(self.cloud, SimulatedCloud):
            unavailable = self.cloud.unavailable
        self.unavailable = unavailable
        client = self.cluster.client
        self.join = NodeJoin(client, taint_removal=opts.taint_removal)
        if isinstance(self.cloud, SimulatedCloud):
            self.join.attach(self.cloud)
        recorder = EventRecorder(client, "karpenter")
        self.metrics = AutoscalerMetrics()
        self.provisioner = Provisioner(
            client,
            self.cloud,
            recorder=recorder,
            options=opts.batch,
            metrics=self.metrics,
            nomination_window=opts.nomination_window,
        )
        self.lifecycle = NodeClaimLifecycle(
            client, self.cloud, unavailable=unavailable, recorder=recorder, options=opts.lifecycle
        )
        self.garbage = NodeClaimGarbageCollector(client, self.cloud, recorder=recorder)
        self.nodepool_status = NodePoolStatusController(client)
        controllers: list[Any] = [
            self.provisioner,
            self.lifecycle,
            self.garbage,
            self.nodepool_status,
        ]
        self.disruption: DisruptionController | None = None
        if opts.disruption:
            self.disruption = DisruptionController(
                client,
                self.cloud,
                provisioner=self.provisioner,
                recorder=recorder,
                options=opts.disruption_options,
                methods=lambda r: standard_methods(
                    r, drift=Drift(r), spot_to_spot=opts.disruption_options.spot_to_spot
                ),
            )
            controllers += [
                NodeClaimExpiration(client, recorder=recorder),
                NodePoolHashController(client),
                DriftController(client, self.cloud, poll=opts.drift_poll),
                InterruptionController(
                    client, self.cloud, unavailable=unavailable, recorder=recorder
                ),
                ConsolidationMarker(client),
                self.disruption,
            ]
        for controller in controllers:
            self.cluster.manager.add(controller)

    @classmethod
    def in_memory(cls, clock: VirtualClock | None = None, **kwargs: Any) -> AutoscaledCluster:
        """On a fresh in-memory store (the platform scheme: Karpenter's kinds served)."""
        return cls(memory_cluster(clock or VirtualClock()), **kwargs)

    def _close(self) -> None:
        self.lifecycle.close()

    def metrics_snapshot(self) -> dict[str, dict[str, Any]]:
        """Every metric as a dict, the gauges refreshed from the cloud and the cluster."""
        refresh_gauges(self.metrics, self.cloud, self.client)
        return self.metrics.snapshot()
