"""``karpenter.sh/v1`` NodeClaim: defaults, admission and a typed view of its spec.

A NodeClaim is one node Karpenter asked the cloud for: the provisioner writes it (from a
NodePool's template narrowed by the pods it will run), the lifecycle controller moves it
through the status conditions Launched → Registered → Initialized and fills
``status.providerID``, ``nodeName``, ``capacity`` and ``allocatable``.

- **Defaults**: ``spec.expireAfter: 720h`` (Karpenter v1's CRD default).
- **Validation**: the CRD's schema and rules — requirements (as for a NodePool, except that
  ``karpenter.sh/nodepool`` may be named: the provisioner pins it), ``resources.requests``
  quantities, taints and startup taints, ``nodeClassRef`` (group, kind and name), the
  ``expireAfter`` / ``terminationGracePeriod`` patterns; on update the whole ``spec`` is
  immutable (``spec is immutable``), as Karpenter's CEL rule ``self == oldSelf`` says. The
  status is free-form here: controllers own it.
- **View**: :meth:`NodeClaimView.from_object` parses the spec for the lifecycle controllers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.apis.fields import (
    EXPIRE_AFTER,
    NODE_CLASS_REF,
    REQUESTS,
    STATUS,
    TAINTS,
    TERMINATION_GRACE_PERIOD,
    RequirementList,
    object_rule,
    present,
)
from shipyard.autoscaler.apis.nodepool import (
    DEFAULT_EXPIRE_AFTER,
    NodeClassRef,
    scheduler_units,
)
from shipyard.core.durations import parse_duration, parse_duration_or_never
from shipyard.core.errors import InvalidError
from shipyard.core.objects import json_copy
from shipyard.core.requirements import Requirements
from shipyard.core.taints import Taint
from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import object_meta, object_schema
from shipyard.store.validation.schema import Errors, Obj, Validator, validator

__all__ = ["NodeClaimView", "default_nodeclaim", "validate_nodeclaim"]


def default_nodeclaim(obj: dict[str, Any]) -> None:
    """Karpenter v1's CRD default, in place: ``spec.expireAfter: 720h``."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("expireAfter") is None:
        spec["expireAfter"] = DEFAULT_EXPIRE_AFTER


SPEC = Obj(
    {
        "taints": TAINTS,
        "startupTaints": TAINTS,
        "requirements": RequirementList(nodepool=False),
        "resources": REQUESTS,
        "nodeClassRef": NODE_CLASS_REF,
        "terminationGracePeriod": TERMINATION_GRACE_PERIOD,
        "expireAfter": EXPIRE_AFTER,
    },
    rules=(present("nodeClassRef", "requirements"),),
)
NODECLAIM_SCHEMA = object_schema(
    object_meta(dns1123_subdomain, namespaced=False),
    {"spec": SPEC, "status": STATUS},
    rules=(present("spec"),),
)


def _spec_immutable(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    if new.get("spec") != old.get("spec"):
        errs.append(object_rule("spec", "spec is immutable"))


validate_nodeclaim: Validator = validator(NODECLAIM_SCHEMA, _spec_immutable)


@dataclass(frozen=True)
class NodeClaimView:
    """A validated NodeClaim's spec, parsed."""

    name: str
    requirements: Requirements
    requests: dict[str, int]  # scheduler units
    taints: tuple[Taint, ...]
    startup_taints: tuple[Taint, ...]
    node_class_ref: NodeClassRef
    expire_after: float | None  # seconds; None is Never
    termination_grace_period: float | None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NodeClaimView:
        """Default, validate and parse a NodeClaim; ``InvalidError`` lists every problem."""
        claim: dict[str, Any] = json_copy(dict(obj))
        default_nodeclaim(claim)
        name = str((claim.get("metadata") or {}).get("name") or "")
        if causes := validate_nodeclaim(claim, None):
            raise InvalidError(f'NodeClaim "{name}"', causes)
        spec = claim["spec"]
        grace = spec.get("terminationGracePeriod")
        return cls(
            name=name,
            requirements=Requirements.from_node_selector_requirements(
                spec["requirements"], path="spec.requirements"
            ),
            requests=scheduler_units((spec.get("resources") or {}).get("requests") or {}),
            taints=tuple(Taint.from_dict(t) for t in spec.get("taints") or []),
            startup_taints=tuple(Taint.from_dict(t) for t in spec.get("startupTaints") or []),
            node_class_ref=NodeClassRef.from_dict(spec["nodeClassRef"]),
            expire_after=parse_duration_or_never(spec["expireAfter"]),
            termination_grace_period=None if grace is None else parse_duration(grace),
        )
