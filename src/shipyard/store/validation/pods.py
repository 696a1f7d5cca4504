"""The PodSpec schema and its rules, shared by Pods and every pod template.

The schema lists every field of ``core/v1`` PodSpec (strict decoding) with Kubernetes' enums
and ranges; containers, volumes and placement (affinity, tolerations, spread constraints) have
their own modules. The rules here are the ones that look across the spec, as
``pkg/apis/core/validation.ValidatePodSpec`` does: container names unique across init,
regular and ephemeral containers; volumes uniquely named and every mount referring to one;
host ports unique per protocol (and equal to the container port on the host network);
topology spread constraints unique per (topologyKey, whenUnsatisfiable); ``dnsConfig``
required when ``dnsPolicy`` is ``None``.

``pod_spec(restart_policies)`` builds a variant of the schema: Pods accept every restart
policy, workload templates (Deployment, ReplicaSet, DaemonSet, StatefulSet) only ``Always``
and Job templates only ``OnFailure`` and ``Never``, with Kubernetes' ``Unsupported value``
message for the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.store.validation.containers import (
    CONTAINER,
    EPHEMERAL_CONTAINER,
    INIT_CONTAINER,
    INT32_MAX,
    LOCAL_REF,
    NON_NEGATIVE,
    POD_SECURITY_CONTEXT,
    RESOURCE_LIST,
    RESOURCE_REQUIREMENTS,
)
from shipyard.store.validation.formats import (
    dns1123_label,
    dns1123_subdomain,
    ip_address,
    qualified_name,
)
from shipyard.store.validation.meta import LABELS, template_meta
from shipyard.store.validation.placement import AFFINITY, TOLERATION, TOPOLOGY_SPREAD_CONSTRAINT
from shipyard.store.validation.schema import (
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    Obj,
    Rule,
    Schema,
    Str,
    duplicate,
    get_list,
    get_str,
    invalid,
    not_found,
    required,
)
from shipyard.store.validation.volumes import VOLUME

__all__ = [
    "check_volume_mounts",
    "iter_containers",
    "pod_spec",
    "pod_template",
]

# --- the pod spec ---------------------------------------------------------------------------


_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def iter_containers(spec: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, container) for init, regular and ephemeral containers that are objects."""
    for key in _CONTAINER_LISTS:
        containers = spec.get(key)
        if type(containers) is list:
            prefix = f"{path}.{key}" if path else key
            for i, container in enumerate(containers):
                if type(container) is dict:
                    yield f"{prefix}[{i}]", container


def _volume_names(spec: dict[str, Any], path: str, errs: Errors) -> set[str]:
    names: set[str] = set()
    for i, volume in enumerate(get_list(spec, "volumes")):
        name = volume.get("name") if type(volume) is dict else None
        if type(name) is str and name:
            if name in names:
                errs.append(duplicate(f"{path}.volumes[{i}].name", name))
            names.add(name)
    return names


class _PodScan:
    """What one pass over a pod's containers collects: names, and host ports per protocol."""

    __slots__ = ("host_network", "host_ports", "names", "volumes")

    def __init__(self, spec: dict[str, Any], volumes: set[str] | None) -> None:
        self.names: set[str] = set()
        self.host_ports: set[str] = set()
        self.volumes = volumes
        self.host_network = spec.get("hostNetwork") is True


def _check_mounts(container: dict[str, Any], where: str, volumes: set[str], errs: Errors) -> None:
    for key in ("volumeMounts", "volumeDevices"):
        mounts = container.get(key)
        if type(mounts) is not list:
            continue
        for j, mount in enumerate(mounts):
            name = mount.get("name") if type(mount) is dict else None
            if type(name) is str and name and name not in volumes:
                errs.append(not_found(f"{where}.{key}[{j}].name", name))


def _check_host_ports(container: dict[str, Any], where: str, scan: _PodScan, errs: Errors) -> None:
    for j, port in enumerate(get_list(container, "ports")):
        host_port = port.get("hostPort") if type(port) is dict else None
        if type(host_port) is not int or not host_port:
            continue
        if scan.host_network and host_port != port.get("containerPort"):
            errs.append(
                invalid(
                    f"{where}.ports[{j}].hostPort",
                    host_port,
                    "must match `containerPort` when `hostNetwork` is true",
                )
            )
        key = f"{host_port}/{port.get('protocol') or 'TCP'}"
        if key in scan.host_ports:
            errs.append(duplicate(f"{where}.ports[{j}].hostPort", key))
        scan.host_ports.add(key)


def _containers_rule(check_mounts: bool) -> Rule:
    """Container names unique pod-wide, mounts naming a volume, host ports unique."""

    def rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
        volumes = _volume_names(spec, path, errs)
        scan = _PodScan(spec, volumes if check_mounts else None)
        for where, container in iter_containers(spec, path):
            name = container.get("name")
            if type(name) is str and name:
                if name in scan.names:
                    errs.append(duplicate(f"{where}.name", name))
                scan.names.add(name)
            if scan.volumes is not None:
                _check_mounts(container, where, scan.volumes, errs)
            _check_host_ports(container, where, scan, errs)

    return rule


def check_volume_mounts(
    spec: dict[str, Any], path: str, errs: Errors, more_volumes: set[str]
) -> None:
    """Mounts must name a volume of ``spec`` or one of ``more_volumes`` (claim templates)."""
    volumes = [v.get("name") for v in get_list(spec, "volumes") if type(v) is dict]
    names = {name for name in volumes if type(name) is str} | more_volumes
    for where, container in iter_containers(spec, path):
        _check_mounts(container, where, names, errs)


def _spread_pairs_unique(spec: dict[str, Any], path: str, errs: Errors) -> None:
    seen: set[tuple[Any, Any]] = set()
    for i, tsc in enumerate(get_list(spec, "topologySpreadConstraints")):
        if not isinstance(tsc, dict):
            continue
        pair = (get_str(tsc, "topologyKey"), get_str(tsc, "whenUnsatisfiable"))
        if pair in seen:
            errs.append(
                duplicate(f"{path}.topologySpreadConstraints[{i}]", f"{{{pair[0]}, {pair[1]}}}")
            )
        seen.add(pair)


def _dns_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    if spec.get("dnsPolicy") == "None" and spec.get("dnsConfig") is None:
        errs.append(
            required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
        )


_POD_SPEC_FIELDS: dict[str, Schema] = {
    "activeDeadlineSeconds": Int(1, INT32_MAX),
    "affinity": AFFINITY,
    "automountServiceAccountToken": Bool(),
    "containers": ListOf(CONTAINER),
    "dnsConfig": Obj(
        {
            "nameservers": ListOf(Str(ip_address)),
            "options": ListOf(Obj({"name": Str(), "value": Str()})),
            "searches": ListOf(Str()),
        }
    ),
    "dnsPolicy": Enum("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"),
    "enableServiceLinks": Bool(),
    "ephemeralContainers": ListOf(EPHEMERAL_CONTAINER),
    "hostAliases": ListOf(
        Obj({"hostnames": ListOf(Str()), "ip": Str(ip_address)}, required=("ip",))
    ),
    "hostIPC": Bool(),
    "hostNetwork": Bool(),
    "hostPID": Bool(),
    "hostUsers": Bool(),
    "hostname": Str(dns1123_label),
    "hostnameOverride": Str(),
    "imagePullSecrets": ListOf(LOCAL_REF),
    "initContainers": ListOf(INIT_CONTAINER),
    "nodeName": Str(dns1123_subdomain, cached=True),
    "nodeSelector": LABELS,
    "os": Obj({"name": Enum("linux", "windows")}, required=("name",)),
    "overhead": RESOURCE_LIST,
    "preemptionPolicy": Enum("PreemptLowerPriority", "Never"),
    "priority": Int(),
    "priorityClassName": Str(dns1123_subdomain, cached=True),
    "readinessGates": ListOf(
        Obj({"conditionType": Str(qualified_name)}, required=("conditionType",))
    ),
    "resourceClaims": ListOf(
        Obj(
            {
                "name": Str(dns1123_label),
                "resourceClaimName": Str(),
                "resourceClaimTemplateName": Str(),
            },
            required=("name",),
        )
    ),
    "resources": RESOURCE_REQUIREMENTS,
    "restartPolicy": Enum("Always", "OnFailure", "Never"),
    "runtimeClassName": Str(dns1123_subdomain),
    "schedulerName": Str(),
    "schedulingGates": ListOf(Obj({"name": Str(qualified_name)}, required=("name",))),
    "securityContext": POD_SECURITY_CONTEXT,
    "serviceAccount": Str(),
    "serviceAccountName": Str(dns1123_subdomain, cached=True),
    "setHostnameAsFQDN": Bool(),
    "shareProcessNamespace": Bool(),
    "subdomain": Str(dns1123_label),
    "terminationGracePeriodSeconds": NON_NEGATIVE,
    "tolerations": ListOf(TOLERATION),
    "topologySpreadConstraints": ListOf(TOPOLOGY_SPREAD_CONSTRAINT),
    "volumes": ListOf(VOLUME),
}
_OTHER_POD_SPEC_RULES: tuple[Rule, ...] = (_spread_pairs_unique, _dns_rule)


def pod_spec(
    restart_policies: tuple[str, ...] = ("Always", "OnFailure", "Never"),
    *,
    check_mounts: bool = True,
) -> Obj:
    """The PodSpec schema accepting only ``restart_policies``.

    ``check_mounts=False`` leaves volume mounts to the caller: a StatefulSet's containers
    also mount its volumeClaimTemplates (see :func:`check_volume_mounts`).
    """
    return Obj(
        {**_POD_SPEC_FIELDS, "restartPolicy": Enum(*restart_policies)},
        required=("containers",),
        rules=(_containers_rule(check_mounts), *_OTHER_POD_SPEC_RULES),
        memo=True,
    )


def pod_template(spec: Obj) -> Obj:
    """A PodTemplateSpec: template metadata (labels checked, no name) and ``spec``."""
    return Obj({"metadata": template_meta(), "spec": spec}, required=("spec",))
