"""The kubelet: node registration and heartbeats, pod lifecycle, probes; container runtimes.

::

    KubeletManager ("cluster.kubelet-manager")      one controller: Nodes and Pods
      └── Kubelet (one per Node)                    Lease heartbeat, node status, pod timers
            └── PodWorker (one per bound Pod)       start, restart, probes, termination
                  └── ContainerRuntime (seam)       SimulatedRuntime: profiles, metrics
    NodeLifecycleController ("cluster.node-lifecycle")  silent nodes, taints, eviction

Modules: :mod:`.runtime` (the seam), :mod:`.simulated` with :mod:`.profiles` (image
profiles), :mod:`.timeline` (container instance timelines) and :mod:`.messages` (probe and
pull failure texts), :mod:`.adoption`, :mod:`.probes`, :mod:`.podstatus` and
:mod:`.nodestatus` (pure status functions), :mod:`.pods`, :mod:`.kubelet`, :mod:`.agents`,
:mod:`.node_lifecycle`.
"""

from shipyard.cluster.kubelet.agents import KubeletManager
from shipyard.cluster.kubelet.kubelet import Kubelet
from shipyard.cluster.kubelet.node_lifecycle import NodeLifecycleController
from shipyard.cluster.kubelet.runtime import (
    ContainerRuntime,
    ContainerState,
    ContainerStatus,
    ImagePull,
    PodRuntimeStatus,
    ProbeKind,
    ProbeResult,
)
from shipyard.cluster.kubelet.simulated import ImageProfile, SimulatedRuntime

__all__ = [
    "ContainerRuntime",
    "ContainerState",
    "ContainerStatus",
    "ImageProfile",
    "ImagePull",
    "Kubelet",
    "KubeletManager",
    "NodeLifecycleController",
    "PodRuntimeStatus",
    "ProbeKind",
    "ProbeResult",
    "SimulatedRuntime",
]
