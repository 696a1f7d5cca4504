"""``karpenter.sh/v1`` NodePool: defaults, admission and the typed view the provisioner reads.

**Defaults** (:func:`default_nodepool`) are Karpenter v1's CRD defaults, applied the way the API
server applies structural defaults (only where a field is absent or null):

- ``spec.disruption`` absent: ``{consolidateAfter: 0s}``; then inside it
  ``consolidationPolicy: WhenEmptyOrUnderutilized`` and ``budgets: [{nodes: "10%"}]``, and
  ``nodes: "10%"`` in a budget that leaves it out;
- ``spec.template.spec.expireAfter: 720h``;
- no weight (the scheduler treats a missing weight as 0).

As with Karpenter, a ``disruption`` block written without ``consolidateAfter`` is *not*
defaulted and is rejected (``spec.disruption.consolidateAfter: Required value``).

**Validation** (:data:`validate_nodepool`) is the CRD's OpenAPI schema and CEL rules (see
:mod:`.fields` for the shared parts): unknown fields are errors; the template's requirements,
labels, taints and startup taints; ``nodeClassRef`` (group and kind immutable on update);
``expireAfter`` and ``consolidateAfter`` (whole h/m/s or ``Never``),
``terminationGracePeriod``; ``consolidationPolicy`` WhenEmpty | WhenEmptyOrUnderutilized; at
most 50 budgets, each with ``nodes`` a count or a percentage up to 100 % (as a string),
``schedule`` and ``duration`` set together, ``reasons`` from Underutilized | Empty | Drifted;
``limits`` any resource name with a quantity; ``weight`` 1..100.

Deliberate differences: a budget ``schedule`` is parsed as a full cron expression
(:mod:`.cron`) instead of the CRD's loose shape check, and negative ``limits`` are rejected
(the CRD's quantity pattern allows a sign; a negative limit can only stop every launch).
Names are limited to 63 characters, because every node the pool launches carries the name
as its ``karpenter.sh/nodepool`` label value (Karpenter does not check this at admission).
The alpha static-capacity fields (``spec.replicas``) and the ``Balanced`` policy of newer
Karpenter releases are not served.

**View**: :meth:`NodePoolView.from_object` defaults, validates and parses a NodePool into the
frozen :class:`NodePoolView`. Its requirements are the template's requirements plus an ``In``
requirement for every template label and for ``karpenter.sh/nodepool=<name>``, the label
Karpenter puts on every node it launches for the pool (so a pod's node selector on that label
is met); limits are in the scheduler's units (cpu millicores, memory bytes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.apis.cron import CronSchedule, parse_cron
from shipyard.autoscaler.apis.fields import (
    BUDGET_DURATION,
    CONSOLIDATE_AFTER,
    EXPIRE_AFTER,
    NODE_CLASS_REF,
    STATUS,
    TAINTS,
    TEMPLATE_META,
    TERMINATION_GRACE_PERIOD,
    Pattern,
    RequirementList,
    label_safe_name,
    node_class_ref_immutable,
    object_rule,
    present,
    unique_items,
)
from shipyard.cluster.podutil import quantity_units
from shipyard.core.durations import parse_duration, parse_duration_or_never
from shipyard.core.errors import InvalidError
from shipyard.core.labels import NODEPOOL
from shipyard.core.objects import json_copy
from shipyard.core.requirements import Requirements
from shipyard.core.taints import Taint
from shipyard.store.validation.meta import object_meta, object_schema
from shipyard.store.validation.schema import (
    Enum,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Qty,
    Schema,
    Validator,
    get_list,
    invalid,
    validator,
)

__all__ = [
    "CONSOLIDATION_POLICIES",
    "DEFAULT_BUDGET_NODES",
    "DEFAULT_CONSOLIDATE_AFTER",
    "DEFAULT_CONSOLIDATION_POLICY",
    "DEFAULT_EXPIRE_AFTER",
    "DISRUPTION_REASONS",
    "Budget",
    "NodeClassRef",
    "NodePoolView",
    "default_nodepool",
    "validate_nodepool",
]

DEFAULT_EXPIRE_AFTER = "720h"
DEFAULT_CONSOLIDATE_AFTER = "0s"
DEFAULT_CONSOLIDATION_POLICY = "WhenEmptyOrUnderutilized"
DEFAULT_BUDGET_NODES = "10%"
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized")
DISRUPTION_REASONS = ("Underutilized", "Empty", "Drifted")
MAX_BUDGETS = 50

# --- defaults -------------------------------------------------------------------------------


def _unset(obj: dict[str, Any], key: str) -> bool:
    return obj.get(key) is None


def default_nodepool(obj: dict[str, Any]) -> None:
    """Karpenter v1's CRD defaults, in place (see the module docstring)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if _unset(spec, "disruption"):
        spec["disruption"] = {"consolidateAfter": DEFAULT_CONSOLIDATE_AFTER}
    disruption = spec["disruption"]
    if isinstance(disruption, dict):
        if _unset(disruption, "consolidationPolicy"):
            disruption["consolidationPolicy"] = DEFAULT_CONSOLIDATION_POLICY
        if _unset(disruption, "budgets"):
            disruption["budgets"] = [{"nodes": DEFAULT_BUDGET_NODES}]
        for budget in get_list(disruption, "budgets"):
            if isinstance(budget, dict) and _unset(budget, "nodes"):
                budget["nodes"] = DEFAULT_BUDGET_NODES
    template = spec.get("template")
    template_spec = template.get("spec") if isinstance(template, dict) else None
    if isinstance(template_spec, dict) and _unset(template_spec, "expireAfter"):
        template_spec["expireAfter"] = DEFAULT_EXPIRE_AFTER


# --- validation -----------------------------------------------------------------------------


class _Schedule(Schema):
    """A budget schedule: five cron fields or an ``@daily``-style macro."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(invalid(path, value, "must be of type string"))
            return
        try:
            parse_cron(value)
        except ValueError as e:
            errs.append(invalid(path, value, f"must be a cron schedule: {e}"))


class _Reasons(ListOf):
    """Budget reasons: a set (``x-kubernetes-list-type: set``) of disruption reasons."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        if isinstance(value, list):
            unique_items(path, value, errs)


def _schedule_with_duration(budget: dict[str, Any], path: str, errs: Errors) -> None:
    if (budget.get("schedule") is None) != (budget.get("duration") is None):
        errs.append(object_rule(path, "'schedule' must be set with 'duration'"))


class _BudgetNodes(Pattern):
    """A budget's ``nodes``: a string, so ``nodes: 5`` gets a hint to quote it."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if type(value) is int:
            errs.append(invalid(path, value, f'must be of type string: write "{value}"'))
        else:
            super().check(value, path, errs)


_BUDGET_NODES = _BudgetNodes(
    r"^((100|[0-9]{1,2})%|[0-9]+)$",
    'must be a number of nodes or a percentage up to 100%, as a string (such as "5" or "10%")',
)
BUDGET = Obj(
    {
        "nodes": _BUDGET_NODES,
        "schedule": _Schedule(),
        "duration": BUDGET_DURATION,
        "reasons": _Reasons(Enum(*DISRUPTION_REASONS), max_items=50),
    },
    rules=(present("nodes"), _schedule_with_duration),
)
DISRUPTION = Obj(
    {
        "consolidateAfter": CONSOLIDATE_AFTER,
        "consolidationPolicy": Enum(*CONSOLIDATION_POLICIES),
        "budgets": ListOf(BUDGET, max_items=MAX_BUDGETS),
    },
    rules=(present("consolidateAfter"),),
)
TEMPLATE_SPEC = Obj(
    {
        "taints": TAINTS,
        "startupTaints": TAINTS,
        "requirements": RequirementList(nodepool=True),
        "nodeClassRef": NODE_CLASS_REF,
        "terminationGracePeriod": TERMINATION_GRACE_PERIOD,
        "expireAfter": EXPIRE_AFTER,
    },
    rules=(present("nodeClassRef", "requirements"),),
)
TEMPLATE = Obj({"metadata": TEMPLATE_META, "spec": TEMPLATE_SPEC}, rules=(present("spec"),))
SPEC = Obj(
    {
        "template": TEMPLATE,
        "disruption": DISRUPTION,
        "limits": MapOf(Qty()),
        "weight": Int(1, 100),
    },
    rules=(present("template"),),
)
NODEPOOL_SCHEMA = object_schema(
    object_meta(label_safe_name, namespaced=False),
    {"spec": SPEC, "status": STATUS},
    rules=(present("spec"),),
)

validate_nodepool: Validator = validator(
    NODEPOOL_SCHEMA, node_class_ref_immutable("spec", "template", "spec", "nodeClassRef")
)

# --- the view -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeClassRef:
    """Which node class a NodePool or NodeClaim uses (``EC2NodeClass`` ``default``)."""

    group: str
    kind: str
    name: str

    @classmethod
    def from_dict(cls, ref: Mapping[str, Any]) -> NodeClassRef:
        return cls(str(ref["group"]), str(ref["kind"]), str(ref["name"]))


@dataclass(frozen=True)
class Budget:
    """One disruption budget; ``reasons`` empty means every reason."""

    nodes: str
    schedule: str | None = None
    cron: CronSchedule | None = None
    duration: float | None = None  # seconds the budget is active after each schedule hit
    reasons: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, budget: Mapping[str, Any]) -> Budget:
        schedule = budget.get("schedule")
        duration = budget.get("duration")
        return cls(
            nodes=str(budget["nodes"]),
            schedule=schedule,
            cron=parse_cron(schedule) if schedule else None,
            duration=parse_duration(duration) if duration else None,
            reasons=frozenset(budget.get("reasons") or ()),
        )

    def applies_to(self, reason: str) -> bool:
        return not self.reasons or reason in self.reasons

    def allowed_disruptions(self, total_nodes: int) -> int:
        """How many of ``total_nodes`` may be disrupted at once (percentages round up)."""
        if self.nodes.endswith("%"):
            return math.ceil(int(self.nodes[:-1]) * total_nodes / 100)
        return int(self.nodes)


@dataclass(frozen=True)
class NodePoolView:
    """A validated NodePool, parsed for the provisioner and the disruption controllers."""

    name: str
    weight: int
    requirements: Requirements
    labels: dict[str, str]
    annotations: dict[str, str]
    taints: tuple[Taint, ...]
    startup_taints: tuple[Taint, ...]
    node_class_ref: NodeClassRef
    expire_after: float | None  # seconds; None is Never
    termination_grace_period: float | None  # seconds; None waits for pods indefinitely
    consolidation_policy: str
    consolidate_after: float | None  # seconds; None is Never (no consolidation)
    budgets: tuple[Budget, ...]
    limits: dict[str, int] | None  # scheduler units; None when the pool has no limits

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NodePoolView:
        """Default, validate and parse a NodePool; ``InvalidError`` lists every problem."""
        pool: dict[str, Any] = json_copy(dict(obj))
        default_nodepool(pool)
        name = str((pool.get("metadata") or {}).get("name") or "")
        if causes := validate_nodepool(pool, None):
            raise InvalidError(f'NodePool "{name}"', causes)
        spec = pool["spec"]
        template = spec["template"]
        tspec = template["spec"]
        meta = template.get("metadata") or {}
        labels = {**(meta.get("labels") or {}), NODEPOOL: name}
        disruption = spec["disruption"]
        limits = spec.get("limits")
        return cls(
            name=name,
            weight=int(spec.get("weight") or 0),
            requirements=_requirements(tspec, labels),
            labels=labels,
            annotations=dict(meta.get("annotations") or {}),
            taints=_taints(tspec, "taints"),
            startup_taints=_taints(tspec, "startupTaints"),
            node_class_ref=NodeClassRef.from_dict(tspec["nodeClassRef"]),
            expire_after=parse_duration_or_never(tspec["expireAfter"]),
            termination_grace_period=_optional_duration(tspec.get("terminationGracePeriod")),
            consolidation_policy=str(disruption["consolidationPolicy"]),
            consolidate_after=parse_duration_or_never(disruption["consolidateAfter"]),
            budgets=tuple(Budget.from_dict(b) for b in disruption["budgets"]),
            limits=None if limits is None else scheduler_units(limits),
        )


def scheduler_units(resources: Mapping[str, Any]) -> dict[str, int]:
    """Quantities in the scheduler's integer units (cpu millicores, memory bytes, ...)."""
    return {name: quantity_units(name, value) for name, value in resources.items()}


def _requirements(spec: Mapping[str, Any], labels: Mapping[str, str]) -> Requirements:
    items = spec.get("requirements") or []
    declared = Requirements.from_node_selector_requirements(items, path="spec.requirements")
    return declared.intersection(Requirements.from_labels(labels))


def _taints(spec: Mapping[str, Any], key: str) -> tuple[Taint, ...]:
    return tuple(Taint.from_dict(t, path=f"{key}[{i}]") for i, t in enumerate(spec.get(key) or []))


def _optional_duration(text: str | None) -> float | None:
    return None if text is None else parse_duration(text)
