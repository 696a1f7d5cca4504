"""``autoscaling/v2`` HorizontalPodAutoscaler.

Validation follows ``pkg/apis/autoscaling/validation``: ``scaleTargetRef`` names a kind and a
name; ``minReplicas >= 1`` and ``maxReplicas >= minReplicas``; each metric has a ``type`` and
exactly the matching source (``resource``, ``containerResource``, ``pods``, ``object``,
``external``); a Resource target is ``Utilization`` (with ``averageUtilization``) or
``AverageValue``; Pods targets are ``AverageValue``; values are positive; behavior policies are
``Pods``/``Percent`` with a positive value over 1-1800 seconds, and stabilization windows are
0-3600 seconds.

Defaults: ``minReplicas: 1``; no metrics means 80% average CPU utilization; and the scaling
behavior is always filled in — scale up with no stabilization and the larger of 4 pods or 100%
per 15 s, scale down after a 300 s stabilization window by up to 100% per 15 s, selecting the
policy that allows the most change (``Max``). Kubernetes only fills in the behavior when the
manifest has one (the controller assumes the same values otherwise); Shipyard always stores
it, so every reader sees the policy in force.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import LABEL_SELECTOR, object_meta, object_schema
from shipyard.store.validation.pod_defaults import dict_field, set_default
from shipyard.store.validation.schema import (
    AnyValue,
    Enum,
    Errors,
    Int,
    ListOf,
    Obj,
    Qty,
    Rule,
    Str,
    Validator,
    forbidden,
    get_int,
    get_str,
    invalid,
    parse_quantity,
    required,
    validator,
)

__all__ = ["DEFAULT_CPU_UTILIZATION", "default_behavior", "default_hpa", "validate_hpa"]

DEFAULT_CPU_UTILIZATION = 80
_SOURCES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _target_rule(allowed: tuple[str, ...]) -> Rule:
    def rule(target: dict[str, Any], path: str, errs: Errors) -> None:
        target_type = get_str(target, "type")
        if target_type and target_type not in allowed:
            listed = " or ".join(allowed)
            errs.append(invalid(f"{path}.type", target_type, f"must be {listed}"))
        for key in ("value", "averageValue"):
            quantity = parse_quantity(target.get(key))
            if quantity is not None and not quantity > 0:
                errs.append(invalid(f"{path}.{key}", target[key], "must be positive"))
        if target_type == "Utilization" and target.get("averageUtilization") is None:
            errs.append(
                required(
                    f"{path}.averageUtilization",
                    "must set either a target raw value or a target utilization",
                )
            )

    return rule


def _target(*allowed: str) -> Obj:
    return Obj(
        {
            "averageUtilization": Int(1, message="must be greater than 0"),
            "averageValue": Qty(),
            "type": Enum("Utilization", "Value", "AverageValue"),
            "value": Qty(),
        },
        required=("type",),
        rules=(_target_rule(allowed),),
    )


_METRIC_ID = Obj({"name": Str(), "selector": LABEL_SELECTOR}, required=("name",))
_OBJECT_REF = Obj({"apiVersion": Str(), "kind": Str(), "name": Str()}, required=("kind", "name"))
_RESOURCE_TARGET = _target("Utilization", "AverageValue")


def _metric_rule(metric: dict[str, Any], path: str, errs: Errors) -> None:
    metric_type = get_str(metric, "type")
    expected = _SOURCES.get(metric_type or "")
    if expected is not None and metric.get(expected) is None:
        errs.append(
            required(f"{path}.{expected}", "must populate information for the given metric source")
        )
    for source in _SOURCES.values():
        if source != expected and metric.get(source) is not None:
            errs.append(
                forbidden(
                    f"{path}.{source}",
                    "must populate the given metric source only (it does not match `type`)",
                )
            )


METRIC = Obj(
    {
        "type": Enum(*_SOURCES),
        "resource": Obj({"name": Str(), "target": _RESOURCE_TARGET}, required=("name", "target")),
        "containerResource": Obj(
            {"container": Str(), "name": Str(), "target": _RESOURCE_TARGET},
            required=("container", "name", "target"),
        ),
        "pods": Obj(
            {"metric": _METRIC_ID, "target": _target("AverageValue")},
            required=("metric", "target"),
        ),
        "object": Obj(
            {
                "describedObject": _OBJECT_REF,
                "metric": _METRIC_ID,
                "target": _target("Value", "AverageValue"),
            },
            required=("describedObject", "metric", "target"),
        ),
        "external": Obj(
            {"metric": _METRIC_ID, "target": _target("Value", "AverageValue")},
            required=("metric", "target"),
        ),
    },
    required=("type",),
    rules=(_metric_rule,),
)

_SCALING_RULES = Obj(
    {
        "policies": ListOf(
            Obj(
                {
                    "periodSeconds": Int(1, 1800),
                    "type": Enum("Pods", "Percent"),
                    "value": Int(1, message="must be greater than zero"),
                },
                required=("type", "value", "periodSeconds"),
            )
        ),
        "selectPolicy": Enum("Max", "Min", "Disabled"),
        "stabilizationWindowSeconds": Int(0, 3600),
        "tolerance": Qty(),
    }
)


def _replicas_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    min_replicas = get_int(spec, "minReplicas")
    max_replicas = get_int(spec, "maxReplicas")
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        errs.append(
            invalid(
                f"{path}.maxReplicas",
                max_replicas,
                "must be greater than or equal to `minReplicas`",
            )
        )


HPA = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "spec": Obj(
            {
                "behavior": Obj({"scaleDown": _SCALING_RULES, "scaleUp": _SCALING_RULES}),
                "maxReplicas": Int(1, message="must be greater than 0"),
                "metrics": ListOf(METRIC),
                "minReplicas": Int(1),
                "scaleTargetRef": _OBJECT_REF,
            },
            required=("scaleTargetRef", "maxReplicas"),
            rules=(_replicas_rule,),
        ),
        "status": AnyValue(object_only=True),
    },
    required=("spec",),
)


def _policy(kind: str, value: int) -> dict[str, Any]:
    return {"type": kind, "value": value, "periodSeconds": 15}


def default_behavior(behavior: dict[str, Any]) -> None:
    """Fill what is unset of Kubernetes' default scale-up and scale-down rules."""
    scale_up = dict_field(behavior, "scaleUp")
    if scale_up is not None:
        set_default(scale_up, "stabilizationWindowSeconds", 0)
        set_default(scale_up, "selectPolicy", "Max")
        set_default(scale_up, "policies", [_policy("Pods", 4), _policy("Percent", 100)])
    scale_down = dict_field(behavior, "scaleDown")
    if scale_down is not None:
        set_default(scale_down, "stabilizationWindowSeconds", 300)
        set_default(scale_down, "selectPolicy", "Max")
        set_default(scale_down, "policies", [_policy("Percent", 100)])


def default_hpa(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    set_default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        target = {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    behavior = dict_field(spec, "behavior")
    if behavior is not None:
        default_behavior(behavior)


validate_hpa: Validator = validator(HPA)
