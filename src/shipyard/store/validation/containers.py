"""Containers: ports, environment, resources, probes, lifecycle hooks and security contexts.

Reproduces ``pkg/apis/core/validation`` for one container: the name is a DNS-1123 label and
the image is required (no surrounding whitespace); port names are IANA service names unique
within the container; each env var has a valid name and either ``value`` or exactly one
``valueFrom`` source; resource names are standard or fully qualified, quantities valid and
non-negative, and every request at most its limit (extended resources: equal to it); probes
and lifecycle handlers name exactly one handler, and liveness/startup probes need
``successThreshold: 1``. Regular containers may not set ``restartPolicy``; init containers
may only set ``Always`` (sidecars), and only sidecars may have probes and lifecycle hooks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shipyard.store.validation.formats import (
    config_map_key,
    dns1123_label,
    env_var_name,
    ip_address,
    port_name,
    qualified_name,
)
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    IntOrStr,
    ListOf,
    MapOf,
    Obj,
    Qty,
    Rule,
    Schema,
    Str,
    duplicate,
    forbidden,
    get_str,
    invalid,
    parse_quantity,
    required,
)

INT32_MAX = 2**31 - 1
STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage"})

PORT_NUMBER = Int(1, 65535)
PORT = IntOrStr(PORT_NUMBER, port_name)
MODE = Int(0, 0o777, message="must be a number between 0 and 0777 (octal), both inclusive")
NON_NEGATIVE = Int(0)
LOCAL_REF = Obj({"name": Str()})
TYPED_LOCAL_REF = Obj({"apiGroup": Str(), "kind": Str(), "name": Str()}, required=("kind", "name"))

__all__ = [
    "CONTAINER",
    "EPHEMERAL_CONTAINER",
    "INIT_CONTAINER",
    "INT32_MAX",
    "LOCAL_REF",
    "MODE",
    "NON_NEGATIVE",
    "OBJECT_FIELD_SELECTOR",
    "POD_SECURITY_CONTEXT",
    "PORT",
    "PORT_NUMBER",
    "RESOURCE_FIELD_SELECTOR",
    "RESOURCE_LIST",
    "RESOURCE_REQUIREMENTS",
    "TYPED_LOCAL_REF",
]


def _resource_name(name: str) -> list[str]:
    if name in STANDARD_RESOURCES or name.startswith(("hugepages-", "requests.", "limits.")):
        return []
    problems = list(qualified_name(name))
    if not problems and "/" not in name:
        problems.append("must be a standard resource type or fully qualified")
    return problems


def _is_extended(name: str) -> bool:
    return "/" in name and "kubernetes.io/" not in name


@lru_cache(maxsize=4096)
def _request_problem(name: str, request: str | int | float, limit: str | int | float) -> str:
    """Why ``request`` may not go with ``limit`` ("" when it may); cached per triple."""
    req, lim = parse_quantity(request), parse_quantity(limit)
    if req is None or lim is None:
        return ""  # the quantity itself is reported by the schema walk
    if _is_extended(name) and req != lim:
        return f"must be equal to {name} limit of {limit}"
    if req > lim:
        return f"must be less than or equal to {name} limit of {limit}"
    return ""


_SCALAR = (str, int, float)


def _requests_within_limits(res: dict[str, Any], path: str, errs: Errors) -> None:
    limits, requests = res.get("limits"), res.get("requests")
    if type(limits) is not dict or type(requests) is not dict:
        return
    for name, value in requests.items():
        limit = limits.get(name)
        if type(value) in _SCALAR and type(limit) in _SCALAR and type(name) is str:
            problem = _request_problem(name, value, limit)
            if problem:
                errs.append(invalid(f"{path}.requests.{name}", value, problem))


RESOURCE_LIST = MapOf(Qty(), key_syntax=_resource_name)
RESOURCE_REQUIREMENTS = Obj(
    {
        "limits": RESOURCE_LIST,
        "requests": RESOURCE_LIST,
        "claims": ListOf(Obj({"name": Str(), "request": Str()}, required=("name",))),
    },
    rules=(_requests_within_limits,),
)


# --- probes and lifecycle handlers ----------------------------------------------------------


def _exactly_one_handler(kinds: tuple[str, ...]) -> Rule:
    def rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
        present = [k for k in kinds if obj.get(k) is not None]
        if not present:
            errs.append(required(path, "must specify a handler type"))
        for extra in present[1:]:
            errs.append(forbidden(f"{path}.{extra}", "may not specify more than 1 handler type"))

    return rule


_HANDLER_FIELDS: dict[str, Schema] = {
    "exec": Obj({"command": ListOf(Str())}),
    "httpGet": Obj(
        {
            "host": Str(),
            "httpHeaders": ListOf(Obj({"name": Str(), "value": Str()}, required=("name",))),
            "path": Str(),
            "port": PORT,
            "scheme": Enum("HTTP", "HTTPS"),
        },
        required=("port",),
    ),
    "tcpSocket": Obj({"host": Str(), "port": PORT}, required=("port",)),
}

PROBE = Obj(
    {
        **_HANDLER_FIELDS,
        "grpc": Obj({"port": PORT_NUMBER, "service": Str()}, required=("port",)),
        "initialDelaySeconds": NON_NEGATIVE,
        "timeoutSeconds": NON_NEGATIVE,
        "periodSeconds": NON_NEGATIVE,
        "successThreshold": NON_NEGATIVE,
        "failureThreshold": NON_NEGATIVE,
        "terminationGracePeriodSeconds": Int(1, message="must be greater than 0"),
    },
    rules=(_exactly_one_handler(("exec", "httpGet", "tcpSocket", "grpc")),),
)

LIFECYCLE_HANDLER = Obj(
    {**_HANDLER_FIELDS, "sleep": Obj({"seconds": NON_NEGATIVE}, required=("seconds",))},
    rules=(_exactly_one_handler(("exec", "httpGet", "tcpSocket", "sleep")),),
)

LIFECYCLE = Obj({"postStart": LIFECYCLE_HANDLER, "preStop": LIFECYCLE_HANDLER, "stopSignal": Str()})


# --- environment ----------------------------------------------------------------------------

FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
RESOURCE_FIELDS = tuple(
    f"{kind}.{res}"
    for kind in ("limits", "requests")
    for res in ("cpu", "memory", "ephemeral-storage")
)


def _field_path_rule(ref: dict[str, Any], path: str, errs: Errors) -> None:
    value = get_str(ref, "fieldPath")
    if not value or value in FIELD_PATHS:
        return
    if value.startswith(("metadata.labels['", "metadata.annotations['")) and value.endswith("']"):
        return
    listed = ", ".join(f'"{p}"' for p in FIELD_PATHS)
    errs.append(invalid(f"{path}.fieldPath", value, f"supported values: {listed}"))


def _resource_field_rule(ref: dict[str, Any], path: str, errs: Errors) -> None:
    value = get_str(ref, "resource")
    if value and value not in RESOURCE_FIELDS and "hugepages-" not in value:
        listed = ", ".join(f'"{p}"' for p in RESOURCE_FIELDS)
        errs.append(invalid(f"{path}.resource", value, f"supported values: {listed}"))


OBJECT_FIELD_SELECTOR = Obj(
    {"apiVersion": Str(), "fieldPath": Str()}, required=("fieldPath",), rules=(_field_path_rule,)
)
RESOURCE_FIELD_SELECTOR = Obj(
    {"containerName": Str(), "divisor": Qty(), "resource": Str()},
    required=("resource",),
    rules=(_resource_field_rule,),
)
KEY_SELECTOR = Obj(
    {"key": Str(config_map_key), "name": Str(), "optional": Bool()}, required=("key",)
)
_ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")


def _one_env_source(src: dict[str, Any], path: str, errs: Errors) -> None:
    present = [k for k in _ENV_SOURCES if src.get(k) is not None]
    if len(present) != 1:
        message = (
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
            "`secretKeyRef`"
            if not present
            else "may not have more than one field specified at a time"
        )
        errs.append(invalid(path, ", ".join(present), message))


def _env_value_rule(env: dict[str, Any], path: str, errs: Errors) -> None:
    if env.get("valueFrom") is not None and get_str(env, "value"):
        errs.append(
            invalid(f"{path}.valueFrom", "", "may not be specified when `value` is not empty")
        )


ENV_VAR = Obj(
    {
        "name": Str(env_var_name, cached=True),
        "value": Str(),
        "valueFrom": Obj(
            {
                "fieldRef": OBJECT_FIELD_SELECTOR,
                "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
                "configMapKeyRef": KEY_SELECTOR,
                "secretKeyRef": KEY_SELECTOR,
                "fileKeyRef": AnyValue(object_only=True),
            },
            rules=(_one_env_source,),
        ),
    },
    required=("name",),
    rules=(_env_value_rule,),
)


def _one_env_from(src: dict[str, Any], path: str, errs: Errors) -> None:
    if (src.get("configMapRef") is None) == (src.get("secretRef") is None):
        errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))


_OPTIONAL_REF = Obj({"name": Str(), "optional": Bool()})
ENV_FROM = Obj(
    {"configMapRef": _OPTIONAL_REF, "prefix": Str(), "secretRef": _OPTIONAL_REF},
    rules=(_one_env_from,),
)


# --- security contexts ----------------------------------------------------------------------

_PROFILE_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")
_PROFILE = Obj({"localhostProfile": Str(), "type": Enum(*_PROFILE_TYPES)}, required=("type",))
_SE_LINUX = Obj({"level": Str(), "role": Str(), "type": Str(), "user": Str()})
_WINDOWS = Obj(
    {
        "gmsaCredentialSpec": Str(),
        "gmsaCredentialSpecName": Str(),
        "hostProcess": Bool(),
        "runAsUserName": Str(),
    }
)
_ID = Int(0, INT32_MAX)
_COMMON_SECURITY: dict[str, Schema] = {
    "appArmorProfile": _PROFILE,
    "runAsGroup": _ID,
    "runAsNonRoot": Bool(),
    "runAsUser": _ID,
    "seLinuxOptions": _SE_LINUX,
    "seccompProfile": _PROFILE,
    "windowsOptions": _WINDOWS,
}
SECURITY_CONTEXT = Obj(
    {
        **_COMMON_SECURITY,
        "allowPrivilegeEscalation": Bool(),
        "capabilities": Obj({"add": ListOf(Str()), "drop": ListOf(Str())}),
        "privileged": Bool(),
        "procMount": Enum("Default", "Unmasked"),
        "readOnlyRootFilesystem": Bool(),
    }
)
POD_SECURITY_CONTEXT = Obj(
    {
        **_COMMON_SECURITY,
        "fsGroup": _ID,
        "fsGroupChangePolicy": Enum("OnRootMismatch", "Always"),
        "seLinuxChangePolicy": Enum("MountOption", "Recursive"),
        "supplementalGroups": ListOf(_ID),
        "supplementalGroupsPolicy": Enum("Merge", "Strict"),
        "sysctls": ListOf(Obj({"name": Str(), "value": Str()}, required=("name",))),
    }
)


# --- containers -----------------------------------------------------------------------------


def _image(value: str) -> list[str]:
    if value != value.strip():
        return ["must not have leading or trailing whitespace"]
    return []


CONTAINER_PORT = Obj(
    {
        "containerPort": PORT_NUMBER,
        "hostIP": Str(ip_address),
        "hostPort": Int(0, 65535, message="must be between 1 and 65535, inclusive"),
        "name": Str(port_name, cached=True),
        "protocol": Enum("SCTP", "TCP", "UDP"),
    },
    required=("containerPort",),
)


def _unique_names(items: Any, key: str, path: str, errs: Errors, detail: str = "") -> None:
    """Items of a list (ports, mounts) whose ``key`` repeats an earlier one."""
    if type(items) is not list or len(items) < 2:
        return
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = item.get(key) if type(item) is dict else None
        if type(value) is str and value:
            if value in seen:
                where = f"{path}[{i}].{key}"
                errs.append(invalid(where, value, detail) if detail else duplicate(where, value))
            seen.add(value)


def _container_lists_rule(container: dict[str, Any], path: str, errs: Errors) -> None:
    _unique_names(container.get("ports"), "name", f"{path}.ports", errs)
    _unique_names(
        container.get("volumeMounts"), "mountPath", f"{path}.volumeMounts", errs, "must be unique"
    )


def _probe_rules(container: dict[str, Any], path: str, errs: Errors) -> None:
    for probe_name in ("livenessProbe", "startupProbe"):
        probe = container.get(probe_name)
        threshold = probe.get("successThreshold") if type(probe) is dict else None
        if type(threshold) is int and threshold != 1:
            errs.append(invalid(f"{path}.{probe_name}.successThreshold", threshold, "must be 1"))
    readiness = container.get("readinessProbe")
    grace = readiness.get("terminationGracePeriodSeconds") if type(readiness) is dict else None
    if grace is not None:
        errs.append(
            invalid(
                f"{path}.readinessProbe.terminationGracePeriodSeconds",
                grace,
                "must not be set for readinessProbes",
            )
        )


def _no_restart_policy(container: dict[str, Any], path: str, errs: Errors) -> None:
    if container.get("restartPolicy") is not None:
        errs.append(forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))


def _init_container_rule(container: dict[str, Any], path: str, errs: Errors) -> None:
    if container.get("restartPolicy") == "Always":
        return  # a sidecar: it may have probes and lifecycle hooks
    for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(key) is not None:
            errs.append(
                forbidden(
                    f"{path}.{key}",
                    "may not be set for init containers without restartPolicy=Always",
                )
            )


_CONTAINER_FIELDS: dict[str, Schema] = {
    "args": ListOf(Str()),
    "command": ListOf(Str()),
    "env": ListOf(ENV_VAR),
    "envFrom": ListOf(ENV_FROM),
    "image": Str(_image, cached=True),
    "imagePullPolicy": Enum("Always", "IfNotPresent", "Never"),
    "lifecycle": LIFECYCLE,
    "livenessProbe": PROBE,
    "name": Str(dns1123_label, cached=True),
    "ports": ListOf(CONTAINER_PORT),
    "readinessProbe": PROBE,
    "resizePolicy": ListOf(
        Obj(
            {"resourceName": Str(), "restartPolicy": Enum("NotRequired", "RestartContainer")},
            required=("resourceName", "restartPolicy"),
        )
    ),
    "resources": RESOURCE_REQUIREMENTS,
    "restartPolicy": Enum("Always"),
    "restartPolicyRules": ListOf(AnyValue(object_only=True)),
    "securityContext": SECURITY_CONTEXT,
    "startupProbe": PROBE,
    "stdin": Bool(),
    "stdinOnce": Bool(),
    "terminationMessagePath": Str(),
    "terminationMessagePolicy": Enum("File", "FallbackToLogsOnError"),
    "tty": Bool(),
    "volumeDevices": ListOf(
        Obj({"devicePath": Str(), "name": Str()}, required=("devicePath", "name"))
    ),
    "volumeMounts": ListOf(
        Obj(
            {
                "mountPath": Str(),
                "mountPropagation": Enum("None", "HostToContainer", "Bidirectional"),
                "name": Str(),
                "readOnly": Bool(),
                "recursiveReadOnly": Enum("Disabled", "IfPossible", "Enabled"),
                "subPath": Str(),
                "subPathExpr": Str(),
            },
            required=("mountPath", "name"),
        )
    ),
    "workingDir": Str(),
}
_CONTAINER_RULES = (_container_lists_rule, _probe_rules)

CONTAINER = Obj(
    _CONTAINER_FIELDS,
    required=("name", "image"),
    rules=(*_CONTAINER_RULES, _no_restart_policy),
)
INIT_CONTAINER = Obj(
    _CONTAINER_FIELDS,
    required=("name", "image"),
    rules=(*_CONTAINER_RULES, _init_container_rule),
)
EPHEMERAL_CONTAINER = Obj(
    {**_CONTAINER_FIELDS, "targetContainerName": Str()},
    required=("name", "image"),
    rules=_CONTAINER_RULES,
)
