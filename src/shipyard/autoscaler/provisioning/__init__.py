"""Provisioning: plan NodeClaims for pending pods, as Karpenter's scheduler does.

:func:`solve` takes a batch of pending pods, the pools (:class:`PoolTemplate`) with their
instance types, existing nodes and in-flight claims (:class:`ExistingNode`), DaemonSet pods
and the cluster's bound pods (:class:`BoundPod`), and returns :class:`Results`: new claims
(:class:`PlannedClaim`, late-bound to every instance type that still fits), pods nominated to
existing capacity, and a Karpenter-style error per pod that fits nowhere.

Modules (private; the names below are the API):

- :mod:`.scheduler` — the batch: order, queue, relaxation, results;
- :mod:`.planner` — the fit checks of a claim or node and the error messages;
- :mod:`.catalog` — a pool's instance types as bitmasks;
- :mod:`.topology` — spread and (anti-)affinity groups;
- :mod:`.podspec` — a pod's constraints and its relaxation;
- :mod:`.repack` — the cost improvement after packing;
- :mod:`.model` — inputs and outputs.

The controllers that watch pods, batch them and launch the claims are built on this API
elsewhere; this package reads nothing and writes nothing.
"""

from .model import BoundPod, ExistingNode, PlannedClaim, PoolTemplate, Results, pod_name
from .scheduler import Capacity, Scheduler, solve

__all__ = [
    "BoundPod",
    "Capacity",
    "ExistingNode",
    "PlannedClaim",
    "PoolTemplate",
    "Results",
    "Scheduler",
    "pod_name",
    "solve",
]
