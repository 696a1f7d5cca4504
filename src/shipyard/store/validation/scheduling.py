"""``scheduling.k8s.io/v1`` PriorityClass (cluster-scoped; fields at the top level, no spec).

As ``pkg/apis/scheduling/validation``: names starting with ``system-`` are reserved for the
two built-in classes; a user-defined ``value`` is at most 1,000,000,000; ``preemptionPolicy``
is ``PreemptLowerPriority`` (the default) or ``Never``; ``value`` and ``preemptionPolicy``
cannot change on update.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import object_meta, object_schema
from shipyard.store.validation.pod_defaults import set_default
from shipyard.store.validation.schema import (
    Bool,
    Enum,
    Errors,
    Int,
    Str,
    UpdateRule,
    Validator,
    forbidden,
    get_dict,
    get_int,
    get_str,
    validator,
)

__all__ = ["HIGHEST_USER_DEFINABLE_PRIORITY", "default_priority_class", "validate_priority_class"]

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})


def _priority_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    name = get_str(get_dict(obj, "metadata"), "name") or ""
    if name in SYSTEM_PRIORITY_CLASSES:
        return
    if name.startswith("system-"):
        errs.append(
            forbidden("metadata.name", "priority class names with 'system-' prefix are reserved")
        )
    value = get_int(obj, "value")
    if value is not None and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(
            forbidden(
                "value",
                f"maximum allowed value of a user defined priority is "
                f"{HIGHEST_USER_DEFINABLE_PRIORITY}",
            )
        )


PRIORITY_CLASS = object_schema(
    object_meta(dns1123_subdomain, namespaced=False),
    {
        "description": Str(),
        "globalDefault": Bool(),
        "preemptionPolicy": Enum("PreemptLowerPriority", "Never"),
        "value": Int(-(2**31), 2**31 - 1),
    },
    rules=(_priority_rule,),
)


def default_priority_class(obj: dict[str, Any]) -> None:
    set_default(obj, "preemptionPolicy", "PreemptLowerPriority")


def _unchanged(*keys: str) -> UpdateRule:
    def rule(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
        for key in keys:
            if new.get(key) != old.get(key):
                errs.append(forbidden(key, "may not be changed in an update."))

    return rule


validate_priority_class: Validator = validator(
    PRIORITY_CLASS, _unchanged("value", "preemptionPolicy")
)
