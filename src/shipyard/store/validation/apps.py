"""The ``apps/v1`` kinds: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision.

Validation reproduces ``pkg/apis/apps/validation``: the selector is required, not empty and
must select the template's labels (```selector` does not match template `labels```); pod
templates only allow ``restartPolicy: Always``; replica counts, ``minReadySeconds`` and
``revisionHistoryLimit`` are non-negative; ``maxSurge``/``maxUnavailable`` are an integer or a
percentage, ``maxUnavailable`` at most 100% and not both zero; a Deployment's
``progressDeadlineSeconds`` exceeds ``minReadySeconds``. On update the selector of every
apps/v1 workload is immutable, and a StatefulSet may only change ``replicas``, ``ordinals``,
``template``, ``updateStrategy``, ``persistentVolumeClaimRetentionPolicy`` and
``minReadySeconds``.

Defaults are ``pkg/apis/apps/v1/defaults.go``: Deployment ``replicas: 1``, ``RollingUpdate``
25%/25%, ``revisionHistoryLimit: 10``, ``progressDeadlineSeconds: 600``; ReplicaSet
``replicas: 1``; DaemonSet ``RollingUpdate`` with ``maxUnavailable: 1``, ``maxSurge: 0``;
StatefulSet ``OrderedReady``, ``RollingUpdate`` with ``partition: 0`` and the ``Retain``
claim retention policy — plus the PodSpec defaults on every template.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.containers import NON_NEGATIVE
from shipyard.store.validation.formats import dns1123_subdomain, over_100_percent, percent
from shipyard.store.validation.meta import (
    LABEL_SELECTOR,
    check_selector_matches_template,
    object_meta,
    object_schema,
    template_meta,
)
from shipyard.store.validation.pod_defaults import (
    default_pod_template,
    default_pvc_spec,
    dict_field,
    set_default,
)
from shipyard.store.validation.pods import check_volume_mounts, pod_spec, pod_template
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    IntOrStr,
    ListOf,
    Obj,
    Rule,
    Str,
    Validator,
    forbidden,
    get_dict,
    get_int,
    get_list,
    immutable,
    invalid,
    required,
    validator,
)
from shipyard.store.validation.volumes import PVC_SPEC

__all__ = [
    "INT_OR_PERCENT",
    "WORKLOAD_TEMPLATE",
    "default_daemon_set",
    "default_deployment",
    "default_replica_set",
    "default_stateful_set",
    "validate_controller_revision",
    "validate_daemon_set",
    "validate_deployment",
    "validate_replica_set",
    "validate_stateful_set",
]

STATUS = AnyValue(object_only=True)
INT_OR_PERCENT = IntOrStr(Int(0), percent)
WORKLOAD_TEMPLATE = pod_template(pod_spec(("Always",)))


def _is_zero(value: Any) -> bool:
    return value in (0, "0%")


def _rolling_update_rule(surge_allowed_with_unavailable: bool) -> Rule:
    """maxUnavailable <= 100%, not both zero; DaemonSets also forbid both non-zero."""

    def rule(update: dict[str, Any], path: str, errs: Errors) -> None:
        surge = update.get("maxSurge")
        unavailable = update.get("maxUnavailable")
        if over_100_percent(unavailable):
            errs.append(
                invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%")
            )
        if surge is not None and unavailable is not None:
            if _is_zero(surge) and _is_zero(unavailable):
                errs.append(
                    invalid(
                        f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"
                    )
                )
            elif not surge_allowed_with_unavailable and not (
                _is_zero(surge) or _is_zero(unavailable)
            ):
                errs.append(
                    invalid(
                        f"{path}.maxSurge", surge, "may not be set when maxUnavailable is non-zero"
                    )
                )

    return rule


def _strategy_rule(recreate: str, key: str = "rollingUpdate") -> Rule:
    def rule(strategy: dict[str, Any], path: str, errs: Errors) -> None:
        if strategy.get("type") == recreate and strategy.get(key) is not None:
            errs.append(
                forbidden(
                    f"{path}.{key}", f"may not be specified when strategy `type` is '{recreate}'"
                )
            )

    return rule


def _selector_rule(kind: str) -> Rule:
    def rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
        check_selector_matches_template(spec, path, errs, kind=kind)

    return rule


def _progress_deadline_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    deadline = get_int(spec, "progressDeadlineSeconds")
    min_ready = get_int(spec, "minReadySeconds") or 0
    if deadline is not None and deadline <= min_ready:
        errs.append(
            invalid(
                f"{path}.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
            )
        )


def _workload(spec_fields: dict[str, Any], kind: str, *rules: Rule) -> Obj:
    spec = Obj(
        {
            "minReadySeconds": NON_NEGATIVE,
            "selector": LABEL_SELECTOR,
            "template": WORKLOAD_TEMPLATE,
            **spec_fields,
        },
        required=("template",),
        rules=(_selector_rule(kind), *rules),
    )
    return object_schema(
        object_meta(dns1123_subdomain, namespaced=True),
        {"spec": spec, "status": STATUS},
        required=("spec",),
    )


# --- Deployment -----------------------------------------------------------------------------

DEPLOYMENT = _workload(
    {
        "paused": Bool(),
        "progressDeadlineSeconds": NON_NEGATIVE,
        "replicas": NON_NEGATIVE,
        "revisionHistoryLimit": NON_NEGATIVE,
        "strategy": Obj(
            {
                "rollingUpdate": Obj(
                    {"maxSurge": INT_OR_PERCENT, "maxUnavailable": INT_OR_PERCENT},
                    rules=(_rolling_update_rule(True),),
                ),
                "type": Enum("Recreate", "RollingUpdate"),
            },
            rules=(_strategy_rule("Recreate"),),
        ),
    },
    "deployment",
    _progress_deadline_rule,
)


def default_deployment(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    set_default(spec, "replicas", 1)
    strategy = dict_field(spec, "strategy")
    if strategy is not None:
        set_default(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = dict_field(strategy, "rollingUpdate")
            if rolling is not None:
                set_default(rolling, "maxUnavailable", "25%")
                set_default(rolling, "maxSurge", "25%")
    set_default(spec, "revisionHistoryLimit", 10)
    set_default(spec, "progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


validate_deployment: Validator = validator(DEPLOYMENT, immutable("spec", "selector"))


# --- ReplicaSet -----------------------------------------------------------------------------

REPLICA_SET = _workload({"replicas": NON_NEGATIVE}, "replicaset")


def default_replica_set(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is not None:
        set_default(spec, "replicas", 1)
        default_pod_template(spec.get("template"))


validate_replica_set: Validator = validator(REPLICA_SET, immutable("spec", "selector"))


# --- DaemonSet ------------------------------------------------------------------------------

DAEMON_SET = _workload(
    {
        "revisionHistoryLimit": NON_NEGATIVE,
        "updateStrategy": Obj(
            {
                "rollingUpdate": Obj(
                    {"maxSurge": INT_OR_PERCENT, "maxUnavailable": INT_OR_PERCENT},
                    rules=(_rolling_update_rule(False),),
                ),
                "type": Enum("OnDelete", "RollingUpdate"),
            },
            rules=(_strategy_rule("OnDelete"),),
        ),
    },
    "daemonset",
)


def default_daemon_set(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    strategy = dict_field(spec, "updateStrategy")
    if strategy is not None:
        set_default(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = dict_field(strategy, "rollingUpdate")
            if rolling is not None:
                set_default(rolling, "maxUnavailable", 1)
                set_default(rolling, "maxSurge", 0)
    set_default(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))


validate_daemon_set: Validator = validator(DAEMON_SET, immutable("spec", "selector"))


# --- StatefulSet ----------------------------------------------------------------------------


def _stateful_template_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    pod = get_dict(get_dict(spec, "template"), "spec")
    claims = {
        str(get_dict(claim, "metadata").get("name"))
        for claim in get_list(spec, "volumeClaimTemplates")
        if type(claim) is dict
    }
    check_volume_mounts(pod, f"{path}.template.spec", errs, claims)
    if pod.get("activeDeadlineSeconds") is not None:
        errs.append(
            invalid(
                f"{path}.template.spec.activeDeadlineSeconds",
                pod["activeDeadlineSeconds"],
                "must not be specified",
            )
        )


def _on_delete_rule(strategy: dict[str, Any], path: str, errs: Errors) -> None:
    if strategy.get("type") == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(
            invalid(
                f"{path}.rollingUpdate",
                strategy["rollingUpdate"],
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )


_RETENTION = Enum("Retain", "Delete")
VOLUME_CLAIM_TEMPLATE = Obj(
    {
        "apiVersion": Str(),
        "kind": Str(),
        "metadata": template_meta(),
        "spec": PVC_SPEC,
        "status": STATUS,
    },
    required=("spec",),
)
STATEFUL_SET = _workload(
    {
        "ordinals": Obj({"start": NON_NEGATIVE}),
        "persistentVolumeClaimRetentionPolicy": Obj(
            {"whenDeleted": _RETENTION, "whenScaled": _RETENTION}
        ),
        "podManagementPolicy": Enum("OrderedReady", "Parallel"),
        "replicas": NON_NEGATIVE,
        "revisionHistoryLimit": NON_NEGATIVE,
        "serviceName": Str(),
        "updateStrategy": Obj(
            {
                "rollingUpdate": Obj(
                    {"maxUnavailable": IntOrStr(Int(1), percent), "partition": NON_NEGATIVE}
                ),
                "type": Enum("OnDelete", "RollingUpdate"),
            },
            rules=(_on_delete_rule,),
        ),
        "volumeClaimTemplates": ListOf(VOLUME_CLAIM_TEMPLATE),
        "template": pod_template(pod_spec(("Always",), check_mounts=False)),
    },
    "statefulset",
    _stateful_template_rule,
)


def default_stateful_set(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    set_default(spec, "replicas", 1)
    set_default(spec, "podManagementPolicy", "OrderedReady")
    strategy = dict_field(spec, "updateStrategy")
    if strategy is not None:
        set_default(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = dict_field(strategy, "rollingUpdate")
            if rolling is not None:
                set_default(rolling, "partition", 0)
    set_default(spec, "revisionHistoryLimit", 10)
    retention = dict_field(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        set_default(retention, "whenDeleted", "Retain")
        set_default(retention, "whenScaled", "Retain")
    for claim in get_list(spec, "volumeClaimTemplates"):
        claim_spec = claim.get("spec") if isinstance(claim, dict) else None
        if isinstance(claim_spec, dict):
            default_pvc_spec(claim_spec)
    default_pod_template(spec.get("template"))


_STATEFUL_SET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _stateful_set_update(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    def fixed(obj: dict[str, Any]) -> dict[str, Any]:
        spec = get_dict(obj, "spec")
        return {k: v for k, v in spec.items() if k not in _STATEFUL_SET_MUTABLE}

    if fixed(new) != fixed(old):
        errs.append(
            forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                "'minReadySeconds' are forbidden",
            )
        )


validate_stateful_set: Validator = validator(STATEFUL_SET, _stateful_set_update)


# --- ControllerRevision ---------------------------------------------------------------------


def _revision_data_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))


CONTROLLER_REVISION = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {"data": AnyValue(), "revision": Int(0)},
    required=("revision",),
    rules=(_revision_data_rule,),
)
validate_controller_revision: Validator = validator(CONTROLLER_REVISION, immutable("data"))
