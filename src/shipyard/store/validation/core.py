"""The ``core/v1`` kinds: Pod, Node, Service, Namespace, ConfigMap, Secret, Endpoints, Event,
ServiceAccount, PersistentVolumeClaim and PersistentVolume.

Each kind has a schema (strict: unknown fields are errors, ``status`` is any object — the
controllers that write statuses are trusted), a defaulter (``default_<kind>``) and a validator
(``validate_<kind>``) for :class:`~shipyard.store.scheme.KindInfo`. Rules reproduce
``pkg/apis/core/validation`` and the defaults ``pkg/apis/core/v1/defaults.go`` plus the
registry strategies (a new Namespace is ``Active`` with the ``kubernetes`` finalizer; a
Secret's ``stringData`` is merged into ``data``; claims and volumes start ``Pending``).

Update rules: a Pod's spec is immutable except container images, ``activeDeadlineSeconds``,
added tolerations, ``terminationGracePeriodSeconds``, a first ``nodeName`` and removed
scheduling gates; a Service's ``clusterIP``, a Node's ``providerID`` and a Secret's ``type``
cannot change once set; an ``immutable`` ConfigMap or Secret keeps its data; a claim's spec
is fixed except its storage request and its first ``volumeName``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shipyard.store.validation.containers import (
    LOCAL_REF,
    PORT,
    PORT_NUMBER,
    RESOURCE_LIST,
)
from shipyard.store.validation.formats import (
    config_map_key,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    ip_address,
)
from shipyard.store.validation.meta import (
    LABELS,
    TIME,
    object_meta,
    object_schema,
)
from shipyard.store.validation.placement import NODE_SELECTOR_TERM, TAINT, TAINTS_UNIQUE
from shipyard.store.validation.pod_defaults import (
    default_pod,
    default_pvc_spec,
    dict_field,
    set_default,
)
from shipyard.store.validation.pods import pod_spec
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Str,
    UpdateRule,
    Validator,
    duplicate,
    forbidden,
    get_dict,
    get_list,
    get_str,
    immutable,
    invalid,
    is_empty,
    required,
    too_long,
    validator,
)
from shipyard.store.validation.volumes import PVC_SPEC, VOLUME_SOURCES

__all__ = [
    "OBJECT_REFERENCE",
    "default_namespace",
    "default_pod",
    "default_pv",
    "default_pvc",
    "default_secret",
    "default_service",
    "validate_config_map",
    "validate_endpoints",
    "validate_event",
    "validate_namespace",
    "validate_node",
    "validate_pod",
    "validate_pv",
    "validate_pvc",
    "validate_secret",
    "validate_service",
    "validate_service_account",
]

MAX_DATA_SIZE = 1024 * 1024  # corev1.MaxSecretSize, also the ConfigMap limit
STATUS = AnyValue(object_only=True)
PROTOCOL = Enum("SCTP", "TCP", "UDP")

OBJECT_REFERENCE = Obj(
    {
        "apiVersion": Str(),
        "fieldPath": Str(),
        "kind": Str(),
        "name": Str(),
        "namespace": Str(),
        "resourceVersion": Str(),
        "uid": Str(),
    }
)

# --- Pod ------------------------------------------------------------------------------------

POD = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {"spec": pod_spec(), "status": STATUS},
    required=("spec",),
)

_POD_MUTABLE = frozenset(
    {
        "activeDeadlineSeconds",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "terminationGracePeriodSeconds",
        "tolerations",
        "nodeName",
        "schedulingGates",
    }
)
_POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds`"
)


def _without_images(containers: Any) -> Any:
    if not isinstance(containers, list):
        return containers
    return [
        {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
        for c in containers
    ]


def _pod_spec_changes(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    changed = [
        key
        for key in sorted(set(new) | set(old), key=str)
        if key not in _POD_MUTABLE and new.get(key) != old.get(key)
    ]
    for key in ("containers", "initContainers"):
        if new.get(key) is old.get(key):
            continue
        if _without_images(new.get(key)) != _without_images(old.get(key)):
            changed.append(key)
    if not is_empty(old.get("nodeName")) and new.get("nodeName") != old.get("nodeName"):
        changed.append("nodeName")
    old_tolerations = get_list(old, "tolerations")
    if get_list(new, "tolerations")[: len(old_tolerations)] != old_tolerations:
        changed.append("tolerations")
    new_gates = get_list(new, "schedulingGates")
    if any(gate not in get_list(old, "schedulingGates") for gate in new_gates):
        changed.append("schedulingGates")
    return changed


def _pod_update(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    if new.get("spec") is old.get("spec"):  # a status write shares the stored spec
        return
    changed = _pod_spec_changes(get_dict(new, "spec"), get_dict(old, "spec"))
    if changed:
        fields = ", ".join(f"spec.{c}" for c in changed)
        errs.append(forbidden("spec", f"{_POD_UPDATE_MESSAGE} (changed: {fields})"))


validate_pod: Validator = validator(POD, _pod_update)


# --- Node -----------------------------------------------------------------------------------

NODE = object_schema(
    object_meta(dns1123_subdomain, namespaced=False),
    {
        "spec": Obj(
            {
                "configSource": AnyValue(object_only=True),
                "externalID": Str(),
                "podCIDR": Str(),
                "podCIDRs": ListOf(Str()),
                "providerID": Str(),
                "taints": ListOf(TAINT),
                "unschedulable": Bool(),
            },
            rules=(TAINTS_UNIQUE,),
        ),
        "status": STATUS,
    },
)


def _provider_id_update(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    before = get_str(get_dict(old, "spec"), "providerID")
    after = get_str(get_dict(new, "spec"), "providerID")
    if before and after != before:
        errs.append(
            forbidden(
                "spec.providerID",
                'node updates may not change providerID except from "" to valid',
            )
        )


validate_node: Validator = validator(NODE, _provider_id_update)


# --- Service --------------------------------------------------------------------------------

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _cluster_ip(value: str) -> list[str]:
    if value == "None" or not ip_address(value):
        return []
    return ["must be empty, 'None', or a valid IP address"]


def _service_ports_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    service_type = spec.get("type") or "ClusterIP"
    ports = get_list(spec, "ports")
    if service_type != "ExternalName" and not ports:
        errs.append(required(f"{path}.ports"))
    names: set[str] = set()
    keys: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        where = f"{path}.ports[{i}]"
        name = get_str(port, "name")
        if len(ports) > 1 and not name:
            errs.append(required(f"{where}.name"))
        elif name:
            if name in names:
                errs.append(duplicate(f"{where}.name", name))
            names.add(name)
        key = f"{port.get('port')}/{port.get('protocol') or 'TCP'}"
        if key in keys:
            errs.append(duplicate(where, key))
        keys.add(key)
        if port.get("nodePort") and service_type in ("ClusterIP", "ExternalName"):
            errs.append(
                forbidden(f"{where}.nodePort", f"may not be used when `type` is '{service_type}'")
            )


def _external_name_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    if spec.get("type") != "ExternalName":
        return
    name = spec.get("externalName")
    if is_empty(name):
        errs.append(required(f"{path}.externalName"))
    elif isinstance(name, str):
        for message in dns1123_subdomain(name.rstrip(".")):
            errs.append(invalid(f"{path}.externalName", name, message))


SERVICE_PORT = Obj(
    {
        "appProtocol": Str(),
        "name": Str(dns1123_label),
        "nodePort": PORT_NUMBER,
        "port": PORT_NUMBER,
        "protocol": PROTOCOL,
        "targetPort": PORT,
    },
    required=("port",),
)
SERVICE = object_schema(
    object_meta(dns1035_label, namespaced=True),
    {
        "spec": Obj(
            {
                "allocateLoadBalancerNodePorts": Bool(),
                "clusterIP": Str(_cluster_ip),
                "clusterIPs": ListOf(Str(_cluster_ip)),
                "externalIPs": ListOf(Str(ip_address)),
                "externalName": Str(),
                "externalTrafficPolicy": Enum("Cluster", "Local"),
                "healthCheckNodePort": PORT_NUMBER,
                "internalTrafficPolicy": Enum("Cluster", "Local"),
                "ipFamilies": ListOf(Enum("IPv4", "IPv6")),
                "ipFamilyPolicy": Enum("SingleStack", "PreferDualStack", "RequireDualStack"),
                "loadBalancerClass": Str(),
                "loadBalancerIP": Str(),
                "loadBalancerSourceRanges": ListOf(Str()),
                "ports": ListOf(SERVICE_PORT),
                "publishNotReadyAddresses": Bool(),
                "selector": LABELS,
                "sessionAffinity": Enum("ClientIP", "None"),
                "sessionAffinityConfig": Obj({"clientIP": Obj({"timeoutSeconds": Int(1, 86400)})}),
                "trafficDistribution": Str(),
                "type": Enum(*SERVICE_TYPES),
            },
            rules=(_service_ports_rule, _external_name_rule),
        ),
        "status": STATUS,
    },
)


def default_service(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    set_default(spec, "type", "ClusterIP")
    set_default(spec, "sessionAffinity", "None")
    service_type = spec.get("type")
    if service_type != "ExternalName":
        set_default(spec, "internalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer"):
        set_default(spec, "externalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        set_default(spec, "allocateLoadBalancerNodePorts", True)
    if spec.get("sessionAffinity") == "ClientIP":
        config = dict_field(spec, "sessionAffinityConfig")
        client_ip = dict_field(config, "clientIP") if config is not None else None
        if client_ip is not None:
            set_default(client_ip, "timeoutSeconds", 10800)
    for port in get_list(spec, "ports"):
        if isinstance(port, dict):
            set_default(port, "protocol", "TCP")
            set_default(port, "targetPort", port.get("port"))


validate_service: Validator = validator(SERVICE, immutable("spec", "clusterIP", once_set=True))


# --- Namespace ------------------------------------------------------------------------------

NAMESPACE = object_schema(
    object_meta(dns1123_label, namespaced=False),
    {"spec": Obj({"finalizers": ListOf(Str())}), "status": STATUS},
)


def default_namespace(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is not None:
        set_default(spec, "finalizers", ["kubernetes"])
    status = dict_field(obj, "status")
    if status is not None:
        set_default(status, "phase", "Active")


validate_namespace: Validator = validator(NAMESPACE)


# --- ConfigMap and Secret -------------------------------------------------------------------


def _base64(value: str) -> list[str]:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return ["illegal base64 data"]
    return []


def _data_size_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    total = 0
    for key in ("data", "binaryData"):
        for name, value in get_dict(obj, key).items():
            total += len(str(name)) + (len(value) if isinstance(value, str) else 0)
    if total > MAX_DATA_SIZE:
        errs.append(too_long("data", MAX_DATA_SIZE))


def _config_map_keys_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    binary = get_dict(obj, "binaryData")
    for key in get_dict(obj, "data"):
        if key in binary:
            errs.append(invalid(f"data.{key}", key, "duplicate of key present in binaryData"))


CONFIG_MAP = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "data": MapOf(Str(), key_syntax=config_map_key),
        "binaryData": MapOf(Str(_base64), key_syntax=config_map_key),
        "immutable": Bool(),
    },
    rules=(_config_map_keys_rule, _data_size_rule),
)


def _immutable_data(*keys: str) -> UpdateRule:
    def rule(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
        if old.get("immutable") is not True:
            return
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for key in keys:
            if new.get(key) != old.get(key):
                errs.append(forbidden(key, "field is immutable when `immutable` is set"))

    return rule


validate_config_map: Validator = validator(CONFIG_MAP, _immutable_data("data", "binaryData"))

_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def _secret_type_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    secret_type = get_str(obj, "type")
    data = get_dict(obj, "data")
    for key in _SECRET_REQUIRED_KEYS.get(secret_type or "", ()):
        if key not in data:
            errs.append(required(f"data.{key}"))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = get_dict(get_dict(obj, "metadata"), "annotations")
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations.kubernetes.io/service-account.name"))
    if secret_type == "kubernetes.io/basic-auth" and not ("username" in data or "password" in data):
        errs.append(required("data.username", "either username or password is required"))


SECRET = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "data": MapOf(Str(_base64), key_syntax=config_map_key),
        "stringData": MapOf(Str(), key_syntax=config_map_key),
        "immutable": Bool(),
        "type": Str(),
    },
    rules=(_secret_type_rule, _data_size_rule),
)


def default_secret(obj: dict[str, Any]) -> None:
    """``type: Opaque``, and ``stringData`` merged into ``data`` (it is write-only)."""
    set_default(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if not isinstance(string_data, dict):
        return
    data = dict_field(obj, "data")
    if data is None or not all(isinstance(v, str) for v in string_data.values()):
        return
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode()).decode()
    del obj["stringData"]


validate_secret: Validator = validator(
    SECRET, _immutable_data("data"), immutable("type", once_set=True)
)


# --- Endpoints, Event, ServiceAccount -------------------------------------------------------

_ENDPOINT_ADDRESS = Obj(
    {
        "hostname": Str(dns1123_label),
        "ip": Str(ip_address),
        "nodeName": Str(dns1123_subdomain),
        "targetRef": OBJECT_REFERENCE,
    },
    required=("ip",),
)
ENDPOINT_PORT = Obj(
    {"appProtocol": Str(), "name": Str(dns1123_label), "port": PORT_NUMBER, "protocol": PROTOCOL},
    required=("port",),
)
ENDPOINTS = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "subsets": ListOf(
            Obj(
                {
                    "addresses": ListOf(_ENDPOINT_ADDRESS),
                    "notReadyAddresses": ListOf(_ENDPOINT_ADDRESS),
                    "ports": ListOf(ENDPOINT_PORT),
                }
            )
        )
    },
)


def default_endpoints(obj: dict[str, Any]) -> None:
    for subset in get_list(obj, "subsets"):
        for port in get_list(subset, "ports") if isinstance(subset, dict) else []:
            if isinstance(port, dict):
                set_default(port, "protocol", "TCP")


validate_endpoints: Validator = validator(ENDPOINTS)


def _event_namespace_rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
    namespace = get_str(get_dict(obj, "metadata"), "namespace")
    involved = get_str(get_dict(obj, "involvedObject"), "namespace")
    if involved and namespace and involved != namespace:
        errs.append(invalid("involvedObject.namespace", involved, "does not match event.namespace"))


EVENT = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "action": Str(),
        "count": Int(),
        "eventTime": TIME,
        "firstTimestamp": TIME,
        "involvedObject": OBJECT_REFERENCE,
        "lastTimestamp": TIME,
        "message": Str(),
        "reason": Str(),
        "related": OBJECT_REFERENCE,
        "reportingComponent": Str(),
        "reportingInstance": Str(),
        "series": Obj({"count": Int(), "lastObservedTime": TIME}),
        "source": Obj({"component": Str(), "host": Str()}),
        "type": Str(),
    },
    required=("involvedObject",),
    rules=(_event_namespace_rule,),
)
validate_event: Validator = validator(EVENT)

SERVICE_ACCOUNT = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "automountServiceAccountToken": Bool(),
        "imagePullSecrets": ListOf(LOCAL_REF),
        "secrets": ListOf(OBJECT_REFERENCE),
    },
)
validate_service_account: Validator = validator(SERVICE_ACCOUNT)


# --- PersistentVolumeClaim and PersistentVolume ---------------------------------------------

PVC = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {"spec": PVC_SPEC, "status": STATUS},
    required=("spec",),
)


def default_pvc(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is not None:
        default_pvc_spec(spec)
    status = dict_field(obj, "status")
    if status is not None:
        set_default(status, "phase", "Pending")


def _pvc_update(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
    def masked(spec: dict[str, Any], keep_name: bool) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k not in ("resources", "volumeAttributesClassName")}
        if not keep_name:
            out.pop("volumeName", None)
        out["limits"] = get_dict(get_dict(spec, "resources"), "limits")
        return out

    old_spec, new_spec = get_dict(old, "spec"), get_dict(new, "spec")
    keep_name = not is_empty(old_spec.get("volumeName"))
    if masked(new_spec, keep_name) != masked(old_spec, keep_name):
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims",
            )
        )


validate_pvc: Validator = validator(PVC, _pvc_update)


_POD_ONLY_SOURCES = frozenset(
    {"configMap", "secret", "projected", "downwardAPI", "emptyDir", "ephemeral", "image"}
)
_PV_SOURCES = {
    **{k: v for k, v in VOLUME_SOURCES.items() if k not in _POD_ONLY_SOURCES},
    "local": Obj({"fsType": Str(), "path": Str()}, required=("path",)),
}


def _pv_source_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    present = [k for k in _PV_SOURCES if spec.get(k) is not None]
    if not present:
        errs.append(required(path, "must specify a volume type"))
    for extra in present[1:]:
        errs.append(forbidden(f"{path}.{extra}", "may not specify more than 1 volume type"))


PV = object_schema(
    object_meta(dns1123_subdomain, namespaced=False),
    {
        "spec": Obj(
            {
                **_PV_SOURCES,
                "accessModes": PVC_SPEC.fields["accessModes"],
                "capacity": RESOURCE_LIST,
                "claimRef": OBJECT_REFERENCE,
                "mountOptions": ListOf(Str()),
                "nodeAffinity": Obj(
                    {"required": Obj({"nodeSelectorTerms": ListOf(NODE_SELECTOR_TERM)})}
                ),
                "persistentVolumeReclaimPolicy": Enum("Recycle", "Delete", "Retain"),
                "storageClassName": Str(),
                "volumeAttributesClassName": Str(),
                "volumeMode": Enum("Block", "Filesystem"),
            },
            rules=(_pv_source_rule,),
        ),
        "status": STATUS,
    },
    required=("spec",),
)


def default_pv(obj: dict[str, Any]) -> None:
    spec = dict_field(obj, "spec")
    if spec is not None:
        set_default(spec, "persistentVolumeReclaimPolicy", "Retain")
        set_default(spec, "volumeMode", "Filesystem")
    status = dict_field(obj, "status")
    if status is not None:
        set_default(status, "phase", "Pending")


validate_pv: Validator = validator(PV)
