"""The provisioning scheduler's inputs and outputs, as small frozen dataclasses.

Inputs are plain values the wiring builds from the cluster: a :class:`PoolTemplate` per
NodePool (its template requirements, labels, taints, the instance types the cloud offers it and
what is left of its limits), an :class:`ExistingNode` per registered node or in-flight
NodeClaim, and a :class:`BoundPod` per pod elsewhere in the cluster that topology rules count.
The output is :class:`Results`: a :class:`PlannedClaim` per new NodeClaim, the pods nominated
to existing capacity, and a Karpenter-style reason for every pod that could not be placed.

Resources are ``dict[str, int]`` in the scheduler's units (cpu in millicores, memory in bytes,
``pods`` in units), the convention of :mod:`shipyard.cloud.provider`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.cloud.provider import InstanceType, LaunchRequest, Offering
from shipyard.core.labels import NODEPOOL
from shipyard.core.requirements import IN, Requirement, Requirements
from shipyard.core.taints import Taint

__all__ = [
    "EPHEMERAL_TAINTS",
    "BoundPod",
    "ExistingNode",
    "PlannedClaim",
    "PoolTemplate",
    "Results",
    "pod_name",
]

Obj = dict[str, Any]

# Taints a node carries only until it is ready; Karpenter ignores them on nodes it launched and
# that are not initialized yet, since they will go away.
EPHEMERAL_TAINTS: tuple[Taint, ...] = (
    Taint("node.kubernetes.io/not-ready", "", "NoSchedule"),
    Taint("node.kubernetes.io/unreachable", "", "NoSchedule"),
    Taint("node.cloudprovider.kubernetes.io/uninitialized", "true", "NoSchedule"),
    Taint("karpenter.sh/unregistered", "", "NoExecute"),
)


def pod_name(pod: Mapping[str, Any]) -> str:
    """``namespace/name``, the key errors and nominations are reported under."""
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name') or ''}"


@dataclass(frozen=True)
class PoolTemplate:
    """What the scheduler needs of one NodePool.

    ``requirements`` are the template's requirements (``minValues`` included); ``labels`` are
    the template labels (they become ``In`` requirements too); ``taints`` must be tolerated by
    pods and DaemonSets, ``startup_taints`` need not be. ``remaining_limits`` is what is left
    of ``spec.limits`` after the pool's existing nodes (``None``: unlimited); the key
    ``nodes`` counts NodeClaims.
    """

    name: str
    instance_types: Sequence[InstanceType]
    weight: int = 0
    requirements: Requirements = field(default_factory=Requirements)
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    startup_taints: Sequence[Taint] = ()
    remaining_limits: Mapping[str, int] | None = None

    @classmethod
    def of(
        cls,
        view: NodePoolView,
        instance_types: Sequence[InstanceType],
        remaining_limits: Mapping[str, int] | None,
    ) -> PoolTemplate:
        """The template of a NodePool (its validated view) offering ``instance_types``."""
        return cls(
            name=view.name,
            instance_types=instance_types,
            weight=view.weight,
            requirements=view.requirements,
            labels=view.labels,
            taints=view.taints,
            startup_taints=view.startup_taints,
            remaining_limits=remaining_limits,
        )

    def template_requirements(self) -> Requirements:
        """Requirements, labels as ``In`` and ``karpenter.sh/nodepool In [name]``."""
        return self.requirements.intersection(Requirements.from_labels(self.labels)).add(
            Requirement.create(NODEPOOL, IN, [self.name])
        )


@dataclass(frozen=True)
class ExistingNode:
    """A registered node, or an in-flight NodeClaim (``initialized=False``), as capacity.

    ``requested`` is what pods bound there already request (``pods`` counted); ``pods`` are
    those pods (for topology and for the DaemonSet pods already running). On a node that is not
    initialized, ``startup_taints`` and the ephemeral taints are ignored, as Karpenter does.
    """

    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    requested: Mapping[str, int] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    pods: Sequence[Obj] = ()
    nodepool: str = ""
    startup_taints: Sequence[Taint] = ()
    initialized: bool = True

    def scheduling_taints(self) -> list[Taint]:
        """The taints a pod must tolerate to be placed here now."""
        if self.initialized:
            return list(self.taints)
        ignored = (*self.startup_taints, *EPHEMERAL_TAINTS)
        return [t for t in self.taints if not any(t.matches(i) for i in ignored)]


@dataclass(frozen=True)
class BoundPod:
    """A pod already on some node, counted by topology spread and (anti-)affinity."""

    pod: Obj
    node_name: str
    node_labels: Mapping[str, str]


@dataclass(frozen=True)
class PlannedClaim:
    """A NodeClaim the batch needs: late-bound to any of ``instance_types``.

    ``instance_types`` are sorted by their cheapest offering compatible with ``requirements``
    (then by name); ``price`` is that of the first one, what the cloud will launch.
    ``daemon_overhead`` is what the DaemonSets that would run on that first type request
    (each type counts those whose node affinity its labels allow), and ``requests`` sums it
    with the pods' requests.
    """

    nodepool: str
    requirements: Requirements
    instance_types: tuple[InstanceType, ...]
    pods: tuple[Obj, ...]
    price: float
    requests: Mapping[str, int]
    daemon_overhead: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    startup_taints: tuple[Taint, ...] = ()

    def cheapest(self) -> tuple[InstanceType, Offering]:
        """The instance type and offering a launch picks (cheapest compatible, available)."""
        for it in self.instance_types:
            offerings = sorted(it.compatible_offerings(self.requirements), key=_offering_order)
            if offerings:
                return it, offerings[0]
        raise LookupError("the claim has no compatible offering")  # never: planning ensures one

    def launch_request(self, claim_name: str) -> LaunchRequest:
        """What to ask the cloud for when this claim is created as ``claim_name``."""
        return LaunchRequest(
            claim_name=claim_name,
            nodepool=self.nodepool,
            instance_types=self.instance_types,
            requirements=self.requirements,
            labels=dict(self.labels),
            taints=[t.to_dict() for t in (*self.taints, *self.startup_taints)],
        )


def _offering_order(o: Offering) -> tuple[float, str, str]:
    return (o.price, o.zone, o.capacity_type)


@dataclass(frozen=True)
class Results:
    """One batch's plan: new claims, nominations to existing capacity, and errors.

    ``existing`` maps a node (or in-flight claim) name to the pods planned onto it; ``errors``
    maps ``namespace/name`` to why the pod could not be placed anywhere.
    """

    new_claims: tuple[PlannedClaim, ...]
    existing: Mapping[str, tuple[Obj, ...]]
    errors: Mapping[str, str]

    def total_price(self) -> float:
        """USD per hour of the new claims, each at its cheapest compatible offering."""
        return sum(c.price for c in self.new_claims)

    def placed(self) -> int:
        """How many pods have a place (on a new claim or on existing capacity)."""
        return sum(len(c.pods) for c in self.new_claims) + sum(
            len(p) for p in self.existing.values()
        )
