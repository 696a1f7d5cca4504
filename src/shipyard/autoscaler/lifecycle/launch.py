"""Launch as pure functions: a NodeClaim to a LaunchRequest, a launched Instance onto the claim.

- :func:`compatible_instance_types`: of the types the cloud offers for the pool and node
  class, those the claim may become — named by its ``node.kubernetes.io/instance-type``
  requirement, labels compatible with every requirement, an available offering the
  requirements allow (zone, capacity type), and allocatable that fits
  ``spec.resources.requests``. Karpenter's launch filters the same way.
- :func:`launch_request`: the request carries the claim's labels (plus each label its
  requirements pin to one value, outside the restricted domains), its taints, startup taints
  and the ``karpenter.sh/unregistered:NoExecute`` taint — what Karpenter writes into the
  kubelet's ``--register-with-taints`` so that no pod lands before registration — and tags
  naming the pool, the claim and the node class (over the node class's own ``spec.tags``).
- :func:`apply_instance`: the claim learns what it became — ``status.providerID``,
  ``imageID``, ``capacity`` and ``allocatable`` as Kubernetes quantities, the instance's
  labels (type, zone, capacity type, arch, os, region, ...) and the hourly price in the
  ``shipyard.dev/price`` annotation.

Deliberate difference: Karpenter also labels a claim with an invented value for a requirement
that allows many values (``Exists``); Shipyard only writes labels whose value is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.autoscaler.apis import PRICE_ANNOTATION, NodeClaimView
from shipyard.autoscaler.lifecycle.model import UNREGISTERED_TAINT
from shipyard.cloud.provider import Instance, InstanceType, LaunchRequest, fits
from shipyard.core.labels import INSTANCE_TYPE, NODEPOOL, is_restricted_node_label
from shipyard.core.objects import Obj, meta
from shipyard.core.quantity import BINARY_SI, DECIMAL_SI, Quantity
from shipyard.core.requirements import Requirements

__all__ = [
    "NODECLAIM_TAG",
    "NODECLASS_TAG",
    "NODEPOOL_TAG",
    "apply_instance",
    "compatible_instance_types",
    "describe_offerings",
    "format_price",
    "format_resources",
    "launch_request",
    "nodepool_of",
]

NODEPOOL_TAG = "karpenter.sh/nodepool"
NODECLAIM_TAG = "karpenter.sh/nodeclaim"
NODECLASS_TAG = "karpenter.k8s.aws/ec2nodeclass"
_BINARY_RESOURCES = ("memory", "ephemeral-storage")


def compatible_instance_types(
    instance_types: Iterable[InstanceType],
    requirements: Requirements,
    requests: Mapping[str, int],
) -> list[InstanceType]:
    """The types the claim may launch as (see the module docstring)."""
    names = requirements.get(INSTANCE_TYPE)
    return [
        t
        for t in instance_types
        if names.has(t.name)
        and t.requirements.intersects(requirements) is None
        and t.compatible_offerings(requirements)
        and fits(requests, t.allocatable)
    ]


def nodepool_of(claim: Mapping[str, Any], view: NodeClaimView) -> str:
    """The claim's NodePool: its ``karpenter.sh/nodepool`` label or requirement, or ``""``."""
    label = (meta(claim).get("labels") or {}).get(NODEPOOL)
    if label:
        return str(label)
    return view.requirements.labels().get(NODEPOOL, "")


def request_labels(claim: Mapping[str, Any], view: NodeClaimView) -> dict[str, str]:
    pinned = {
        k: v for k, v in view.requirements.labels().items() if not is_restricted_node_label(k)
    }
    return {**pinned, **(meta(claim).get("labels") or {})}


def launch_request(
    claim: Mapping[str, Any],
    view: NodeClaimView,
    instance_types: Sequence[InstanceType],
    node_class: Mapping[str, Any] | None,
) -> LaunchRequest:
    """What to ask the cloud for (see the module docstring)."""
    pool = nodepool_of(claim, view)
    class_tags = ((node_class or {}).get("spec") or {}).get("tags") or {}
    tags = {
        **{str(k): str(v) for k, v in class_tags.items()},
        NODEPOOL_TAG: pool,
        NODECLAIM_TAG: view.name,
        NODECLASS_TAG: view.node_class_ref.name,
    }
    taints = [*view.taints, *view.startup_taints, UNREGISTERED_TAINT]
    return LaunchRequest(
        claim_name=view.name,
        nodepool=pool,
        instance_types=list(instance_types),
        requirements=view.requirements,
        labels=request_labels(claim, view),
        taints=[t.to_dict() for t in taints],
        tags=tags,
        node_class=node_class,
    )


def format_resources(units: Mapping[str, int]) -> dict[str, str]:
    """Scheduler units back to Kubernetes quantities (``1930m``, ``3246Mi``, ``17``)."""
    out = {}
    for name, value in sorted(units.items()):
        if name == "cpu":
            quantity = Quantity(value * 10**6, DECIMAL_SI)
        elif name in _BINARY_RESOURCES or name.startswith("hugepages-"):
            quantity = Quantity(value * 10**9, BINARY_SI)
        else:
            quantity = Quantity(value * 10**9, DECIMAL_SI)
        out[name] = str(quantity)
    return out


def format_price(price: float) -> str:
    """USD per hour as a short decimal string (``0.0416``)."""
    text = f"{price:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def apply_instance(claim: Obj, instance: Instance) -> None:
    """Record the launched instance on the claim, in place (see the module docstring)."""
    md = claim.setdefault("metadata", {})
    md["labels"] = {**(md.get("labels") or {}), **instance.labels}
    md["annotations"] = {
        **(md.get("annotations") or {}),
        PRICE_ANNOTATION: format_price(instance.price),
    }
    status = claim.setdefault("status", {})
    status["providerID"] = instance.provider_id
    if instance.image_id:
        status["imageID"] = instance.image_id
    status["capacity"] = format_resources(instance.capacity)
    status["allocatable"] = format_resources(instance.allocatable)


def describe_offerings(offerings: Sequence[tuple[str, str, str]]) -> str:
    """``t3.medium/us-east-1a/spot, ...`` (the first ten, then a count)."""
    shown = ", ".join("/".join(o) for o in offerings[:10])
    more = f" and {len(offerings) - 10} more" if len(offerings) > 10 else ""
    return shown + more
