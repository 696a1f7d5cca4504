"""``policy/v1`` PodDisruptionBudget.

Exactly one of ``minAvailable`` and ``maxUnavailable`` is set, each a non-negative integer or
a percentage of at most 100%; the selector is a valid label selector (``{}`` selects every pod
in the namespace, as in Kubernetes); ``unhealthyPodEvictionPolicy`` is ``IfHealthyBudget`` or
``AlwaysAllow``. Nothing is defaulted.

Deliberate difference: Kubernetes accepts a budget with neither field set (it then behaves as
``maxUnavailable: 0``); Shipyard asks for one, because such a budget is almost always a
mistake that silently blocks every eviction.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.formats import dns1123_subdomain, over_100_percent, percent
from shipyard.store.validation.meta import LABEL_SELECTOR, object_meta, object_schema
from shipyard.store.validation.schema import (
    AnyValue,
    Enum,
    Errors,
    Int,
    IntOrStr,
    Obj,
    Validator,
    invalid,
    required,
    validator,
)

__all__ = ["validate_pdb"]

INT_OR_PERCENT = IntOrStr(Int(0), percent)


def _budget_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        shown = f"minAvailable: {min_available}, maxUnavailable: {max_unavailable}"
        errs.append(invalid(path, shown, "minAvailable and maxUnavailable cannot be both set"))
    elif min_available is None and max_unavailable is None:
        errs.append(required(path, "one of minAvailable or maxUnavailable must be set"))
    for key in ("minAvailable", "maxUnavailable"):
        value = spec.get(key)
        if over_100_percent(value):
            errs.append(invalid(f"{path}.{key}", value, "must not be greater than 100%"))


PDB = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "spec": Obj(
            {
                "maxUnavailable": INT_OR_PERCENT,
                "minAvailable": INT_OR_PERCENT,
                "selector": LABEL_SELECTOR,
                "unhealthyPodEvictionPolicy": Enum("IfHealthyBudget", "AlwaysAllow"),
            },
            rules=(_budget_rule,),
        ),
        "status": AnyValue(object_only=True),
    },
    required=("spec",),
)

validate_pdb: Validator = validator(PDB)
