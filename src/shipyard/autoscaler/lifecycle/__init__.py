"""The NodeClaim lifecycle: launch, registration, initialization, termination, garbage.

The provisioner writes NodeClaims; from there these controllers follow Karpenter's documented
lifecycle on a :class:`~shipyard.cloud.provider.CloudProvider` and a
:class:`~shipyard.cluster.client.Client`, on the client's clock::

    NodeClaim created ──► Launched ──► Registered ──► Initialized ──► Ready
         │  (cloud.create)   │ (Node with its      │ (Ready, startup taints gone,
         │                   │  providerID synced) │  extended resources present)
         │ ICE: offerings marked unavailable 3 min, claim deleted
         │ not launched in 5 min / not registered in 15 min: claim deleted
         ▼
    NodeClaim deleted ──► cordon ──► drain (Eviction API, PDBs, terminationGracePeriod)
                     ──► cloud.delete until gone ──► Node and claim finalizers released

    garbage collection: instances no claim names for 30 s are terminated; launched claims
    whose instance is gone are deleted

- :class:`NodeClaimLifecycle` (``nodeclaim.lifecycle``, :mod:`.controller`) — everything on one
  claim, its Node and, while it drains, that node's pods;
- :class:`NodeClaimGarbageCollector` (``nodeclaim.garbagecollection``, :mod:`.garbage`);
- pure parts, tested on their own: :mod:`.launch` (claim → LaunchRequest, Instance → claim),
  :mod:`.nodes` (registration sync, the initialization verdict, cordon), :mod:`.drain` (which
  pods to evict, delete or wait for), :mod:`.model` (names, options, conditions);
- :mod:`.termination` (the deletion half) and :mod:`.index` (nodes and claims by provider id).

How the machine itself joins the cluster is not the autoscaler's business: a real kubelet
registers the Node; in simulations :mod:`shipyard.platform.nodejoin` does, from the simulated
cloud's events.
"""

from shipyard.autoscaler.lifecycle.controller import COMPONENT, NodeClaimLifecycle
from shipyard.autoscaler.lifecycle.drain import NodeDrain, plan_node_drain
from shipyard.autoscaler.lifecycle.garbage import GC_KEY, NodeClaimGarbageCollector
from shipyard.autoscaler.lifecycle.launch import (
    apply_instance,
    compatible_instance_types,
    format_resources,
    launch_request,
)
from shipyard.autoscaler.lifecycle.model import (
    DISRUPTED_TAINT,
    DO_NOT_DISRUPT,
    DRAINED,
    INITIALIZED,
    INSTANCE_TERMINATING,
    LAUNCHED,
    READY,
    REGISTERED,
    TERMINATION_FINALIZER,
    UNREGISTERED_TAINT,
    LifecycleOptions,
)
from shipyard.autoscaler.lifecycle.nodes import cordon, initialization, register_node

__all__ = [
    "COMPONENT",
    "DISRUPTED_TAINT",
    "DO_NOT_DISRUPT",
    "DRAINED",
    "GC_KEY",
    "INITIALIZED",
    "INSTANCE_TERMINATING",
    "LAUNCHED",
    "READY",
    "REGISTERED",
    "TERMINATION_FINALIZER",
    "UNREGISTERED_TAINT",
    "LifecycleOptions",
    "NodeClaimGarbageCollector",
    "NodeClaimLifecycle",
    "NodeDrain",
    "apply_instance",
    "compatible_instance_types",
    "cordon",
    "format_resources",
    "initialization",
    "launch_request",
    "plan_node_drain",
    "register_node",
]
