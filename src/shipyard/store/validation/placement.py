"""Where a pod may run: affinity terms, tolerations and topology spread constraints.

Messages and rules follow ``pkg/apis/core/validation``: node selector requirements need values
for ``In``/``NotIn``, none for ``Exists``/``DoesNotExist`` and one integer for ``Gt``/``Lt``;
a required node affinity needs at least one term; pod affinity terms need a ``topologyKey``;
weights are 1-100; a toleration with an empty key must use ``Exists``, ``Exists`` takes no
value and ``tolerationSeconds`` only goes with ``NoExecute``; a spread constraint has
``maxSkew > 0``, a ``whenUnsatisfiable`` of ``DoNotSchedule``/``ScheduleAnyway`` and
``minDomains`` only with ``DoNotSchedule``. Node taints (for Node objects) live here too.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.formats import (
    dns1123_label,
    label_value,
    qualified_name,
)
from shipyard.store.validation.meta import LABEL_SELECTOR, TIME
from shipyard.store.validation.schema import (
    Enum,
    Errors,
    Int,
    ListOf,
    Obj,
    Str,
    duplicate,
    forbidden,
    get_list,
    get_str,
    invalid,
    is_empty,
    required,
)

# --- scheduling: affinity, tolerations, topology spread -------------------------------------

__all__ = [
    "AFFINITY",
    "NODE_SELECTOR_TERM",
    "TAINT",
    "TAINTS_UNIQUE",
    "TAINT_EFFECTS",
    "TOLERATION",
    "TOPOLOGY_SPREAD_CONSTRAINT",
    "check_unique_taints",
]


def _node_requirement_rule(req: dict[str, Any], path: str, errs: Errors) -> None:
    operator = get_str(req, "operator")
    values = get_list(req, "values")
    if operator in ("In", "NotIn") and not values:
        errs.append(
            required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        )
    elif operator in ("Exists", "DoesNotExist") and values:
        errs.append(
            forbidden(
                f"{path}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        )
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(
                    f"{path}.values",
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )
            )
        elif not _is_integer(values[0]):
            errs.append(invalid(f"{path}.values[0]", values[0], "must be an integer"))


def _is_integer(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip("-").isdigit()


def _field_requirement_rule(req: dict[str, Any], path: str, errs: Errors) -> None:
    key = get_str(req, "key")
    if key and key != "metadata.name":
        errs.append(invalid(f"{path}.key", key, "not a valid field selector key"))
    if get_str(req, "operator") in ("In", "NotIn") and len(get_list(req, "values")) != 1:
        errs.append(
            required(f"{path}.values", "must be only one value when `operator` is 'In' or 'NotIn'")
        )


_NODE_OPERATORS = Enum("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
NODE_SELECTOR_TERM = Obj(
    {
        "matchExpressions": ListOf(
            Obj(
                {"key": Str(qualified_name), "operator": _NODE_OPERATORS, "values": ListOf(Str())},
                required=("key", "operator"),
                rules=(_node_requirement_rule,),
            )
        ),
        "matchFields": ListOf(
            Obj(
                {"key": Str(), "operator": _NODE_OPERATORS, "values": ListOf(Str())},
                required=("key", "operator"),
                rules=(_field_requirement_rule,),
            )
        ),
    }
)


def _node_selector_terms_rule(selector: dict[str, Any], path: str, errs: Errors) -> None:
    if is_empty(selector.get("nodeSelectorTerms")):
        errs.append(
            required(f"{path}.nodeSelectorTerms", "must have at least one node selector term")
        )


WEIGHT = Int(1, 100, message="must be in the range 1-100")
NODE_AFFINITY = Obj(
    {
        "requiredDuringSchedulingIgnoredDuringExecution": Obj(
            {"nodeSelectorTerms": ListOf(NODE_SELECTOR_TERM)},
            rules=(_node_selector_terms_rule,),
        ),
        "preferredDuringSchedulingIgnoredDuringExecution": ListOf(
            Obj(
                {"preference": NODE_SELECTOR_TERM, "weight": WEIGHT},
                required=("preference", "weight"),
            )
        ),
    }
)


def _topology_key_rule(term: dict[str, Any], path: str, errs: Errors) -> None:
    if is_empty(term.get("topologyKey")):
        errs.append(required(f"{path}.topologyKey", "can not be empty"))


POD_AFFINITY_TERM = Obj(
    {
        "labelSelector": LABEL_SELECTOR,
        "matchLabelKeys": ListOf(Str(qualified_name)),
        "mismatchLabelKeys": ListOf(Str(qualified_name)),
        "namespaceSelector": LABEL_SELECTOR,
        "namespaces": ListOf(Str(dns1123_label)),
        "topologyKey": Str(qualified_name),
    },
    rules=(_topology_key_rule,),
)
POD_AFFINITY = Obj(
    {
        "requiredDuringSchedulingIgnoredDuringExecution": ListOf(POD_AFFINITY_TERM),
        "preferredDuringSchedulingIgnoredDuringExecution": ListOf(
            Obj(
                {"podAffinityTerm": POD_AFFINITY_TERM, "weight": WEIGHT},
                required=("podAffinityTerm", "weight"),
            )
        ),
    }
)
AFFINITY = Obj(
    {"nodeAffinity": NODE_AFFINITY, "podAffinity": POD_AFFINITY, "podAntiAffinity": POD_AFFINITY}
)

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _toleration_rule(tol: dict[str, Any], path: str, errs: Errors) -> None:
    key = tol.get("key")
    operator = tol.get("operator")
    if is_empty(key) and operator != "Exists":
        errs.append(
            invalid(
                f"{path}.operator",
                operator if operator is not None else "",
                'operator must be Exists when `key` is empty, which means "match all values '
                'and all keys"',
            )
        )
    if tol.get("tolerationSeconds") is not None and tol.get("effect") != "NoExecute":
        errs.append(
            invalid(
                f"{path}.effect",
                tol.get("effect", ""),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            )
        )
    value = tol.get("value")
    if operator == "Exists" and not is_empty(value):
        errs.append(
            invalid(f"{path}.operator", value, "value must be empty when `operator` is 'Exists'")
        )
    elif isinstance(value, str) and value and operator in (None, "", "Equal"):
        for message in label_value(value):
            errs.append(invalid(f"{path}.value", value, message))


TOLERATION = Obj(
    {
        "effect": Enum(*TAINT_EFFECTS, allow_empty=True),
        "key": Str(qualified_name),
        "operator": Enum("Equal", "Exists", allow_empty=True),
        "tolerationSeconds": Int(),
        "value": Str(),
    },
    rules=(_toleration_rule,),
)


def _spread_rule(tsc: dict[str, Any], path: str, errs: Errors) -> None:
    _topology_key_rule(tsc, path, errs)
    min_domains = tsc.get("minDomains")
    mode = tsc.get("whenUnsatisfiable")
    if min_domains is not None and mode != "DoNotSchedule":
        errs.append(
            invalid(
                f"{path}.minDomains",
                min_domains,
                f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {mode}",
            )
        )
    if tsc.get("matchLabelKeys") and tsc.get("labelSelector") is None:
        errs.append(
            forbidden(
                f"{path}.matchLabelKeys", "must not be specified when labelSelector is not set"
            )
        )


TOPOLOGY_SPREAD_CONSTRAINT = Obj(
    {
        "labelSelector": LABEL_SELECTOR,
        "matchLabelKeys": ListOf(Str(qualified_name)),
        "maxSkew": Int(1, message="must be greater than zero"),
        "minDomains": Int(1, message="must be greater than 0"),
        "nodeAffinityPolicy": Enum("Honor", "Ignore"),
        "nodeTaintsPolicy": Enum("Honor", "Ignore"),
        "topologyKey": Str(qualified_name),
        "whenUnsatisfiable": Enum("DoNotSchedule", "ScheduleAnyway"),
    },
    required=("maxSkew", "whenUnsatisfiable"),
    rules=(_spread_rule,),
)


def _unique_taints(node_spec: dict[str, Any], path: str, errs: Errors) -> None:
    check_unique_taints(get_list(node_spec, "taints"), f"{path}.taints", errs)


def check_unique_taints(taints: list[Any], path: str, errs: Errors) -> None:
    """A list of taints may not hold the same key and effect twice."""
    seen: set[tuple[Any, Any]] = set()
    for i, taint in enumerate(taints):
        if not isinstance(taint, dict):
            continue
        pair = (get_str(taint, "key"), get_str(taint, "effect"))
        if pair in seen:
            errs.append(
                duplicate(
                    f"{path}[{i}]",
                    f"{pair[0]}:{pair[1]}",
                    "taints must be unique by key and effect pair",
                )
            )
        seen.add(pair)


TAINT = Obj(
    {
        "effect": Enum(*TAINT_EFFECTS),
        "key": Str(qualified_name),
        "timeAdded": TIME,
        "value": Str(label_value),
    },
    required=("key", "effect"),
)
TAINTS_UNIQUE = _unique_taints
