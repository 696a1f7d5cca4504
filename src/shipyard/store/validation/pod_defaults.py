"""Pod defaults, as the API server fills them before validation.

Two layers, as in ``pkg/apis/core/v1/defaults.go``:

- :func:`default_pod_spec` runs on every PodSpec, including the templates of Deployments,
  Jobs and the rest (``SetDefaults_PodSpec`` and the per-field defaulters): ``restartPolicy:
  Always``, ``dnsPolicy: ClusterFirst``, ``schedulerName: default-scheduler``,
  ``terminationGracePeriodSeconds: 30``, ``securityContext: {}``; per container
  ``imagePullPolicy`` (``Always`` for ``:latest`` or no tag, else ``IfNotPresent``),
  ``terminationMessagePath``/``Policy``, port ``protocol: TCP``, probe timings (1s timeout,
  10s period, thresholds 1 and 3), ``httpGet`` path ``/`` and scheme ``HTTP``, ``fieldRef``
  apiVersion ``v1``; volume ``defaultMode`` 0644 (420).
- :func:`default_pod` adds what only Pod objects get (``SetDefaults_Pod`` and the default
  admission plugins): requests copied from limits, ``enableServiceLinks: true``, host ports
  on the host network, ``serviceAccountName: default``, the ``not-ready``/``unreachable``
  NoExecute tolerations for 300 s (DefaultTolerationSeconds), and on create a ``status`` of
  ``phase: Pending`` with the computed ``qosClass``.

Every function tolerates any input shape: a field of the wrong type is left alone for
validation to report.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shipyard.core.objects import json_copy
from shipyard.core.quantity import Quantity
from shipyard.store.validation.schema import get_dict, get_list, memo_key, parse_quantity

__all__ = [
    "DEFAULT_TOLERATION_SECONDS",
    "default_pod",
    "default_pod_spec",
    "default_pod_template",
    "default_pvc_spec",
    "dict_field",
    "fill",
    "image_pull_policy",
    "pod_qos_class",
    "set_default",
]

DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_MODE = 0o644
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"
# Scalar defaults, filled in one loop (the values are immutable, so they can be shared).
_POD_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}
_CONTAINER_DEFAULTS = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_HTTP_GET_DEFAULTS = {"path": "/", "scheme": "HTTP"}
_QOS_RESOURCES = ("cpu", "memory")


def set_default(obj: dict[str, Any], key: str, value: Any) -> None:
    """Set ``obj[key]`` unless it holds something (null counts as unset)."""
    if obj.get(key) is None:
        obj[key] = value


def fill(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    """``set_default`` for each pair of ``defaults`` (immutable values only)."""
    for key, value in defaults.items():
        if obj.get(key) is None:
            obj[key] = value


def dict_field(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``obj[key]``, created as ``{}`` when unset; ``None`` when it holds a non-object."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value if isinstance(value, dict) else None


@lru_cache(maxsize=1024)
def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def image_pull_policy(image: Any) -> str:
    """``Always`` for ``:latest`` or an untagged image, ``IfNotPresent`` otherwise."""
    return _pull_policy(image) if isinstance(image, str) else "IfNotPresent"


# --- PodSpec --------------------------------------------------------------------------------


def default_pod_spec(spec: dict[str, Any]) -> None:
    fill(spec, _POD_SPEC_DEFAULTS)
    set_default(spec, "securityContext", {})
    for key in ("initContainers", "containers", "ephemeralContainers"):
        containers = spec.get(key)
        if type(containers) is list:
            for container in containers:
                if type(container) is dict:
                    _default_container(container)
    volumes = spec.get("volumes")
    if type(volumes) is list:
        for volume in volumes:
            if type(volume) is dict:
                _default_volume(volume)


def default_pod_template(template: Any) -> None:
    if isinstance(template, dict):
        spec = template.get("spec")
        if isinstance(spec, dict):
            default_pod_spec(spec)


def _default_container(container: dict[str, Any]) -> None:
    if container.get("imagePullPolicy") is None:
        container["imagePullPolicy"] = image_pull_policy(container.get("image"))
    fill(container, _CONTAINER_DEFAULTS)
    ports = container.get("ports")
    if type(ports) is list:
        for port in ports:
            if type(port) is dict and port.get("protocol") is None:
                port["protocol"] = "TCP"
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if type(probe) is dict:
            fill(probe, _PROBE_DEFAULTS)
            _default_http_get(probe)
    lifecycle = container.get("lifecycle")
    if type(lifecycle) is dict:
        for hook in ("postStart", "preStop"):
            _default_http_get(get_dict(lifecycle, hook))
    if container.get("env"):
        _default_env(container)


def _default_env(container: dict[str, Any]) -> None:
    for env in get_list(container, "env"):
        if isinstance(env, dict):
            field_ref = get_dict(get_dict(env, "valueFrom"), "fieldRef")
            if field_ref:
                set_default(field_ref, "apiVersion", "v1")


def _default_http_get(handler: dict[str, Any]) -> None:
    http_get = handler.get("httpGet")
    if type(http_get) is dict:
        fill(http_get, _HTTP_GET_DEFAULTS)


def _default_volume(volume: dict[str, Any]) -> None:
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        value = volume.get(source)
        if isinstance(value, dict):
            set_default(value, "defaultMode", DEFAULT_MODE)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        set_default(host_path, "type", "")
    claim = get_dict(get_dict(volume, "ephemeral"), "volumeClaimTemplate")
    if isinstance(claim.get("spec"), dict):
        default_pvc_spec(claim["spec"])


def default_pvc_spec(spec: dict[str, Any]) -> None:
    set_default(spec, "volumeMode", "Filesystem")


# --- Pod objects ----------------------------------------------------------------------------


# The defaulted PodSpec (and its QoS class) for each PodSpec seen, by the input's ``memo_key``:
# the pods of one ReplicaSet share a template, so they share one defaulted spec object (stored
# objects are never changed in place), which also saves the memory of 10,000 copies.
_POD_SPECS: dict[bytes, tuple[dict[str, Any], str]] = {}
_POD_SPECS_MAX = 1024


def default_pod(obj: dict[str, Any]) -> None:
    """Defaults of a Pod object: the PodSpec ones, then the Pod-only ones."""
    spec = dict_field(obj, "spec")
    if spec is None:
        return
    key = memo_key(spec)
    found = _POD_SPECS.get(key) if key is not None else None
    if found is not None:
        obj["spec"], qos = found
    else:
        qos = _default_pod_spec_fields(spec)
        if key is not None:
            if len(_POD_SPECS) >= _POD_SPECS_MAX:
                _POD_SPECS.clear()
            # a copy: this pod's own spec may go back to its writer (a rejected handoff)
            _POD_SPECS[key] = (json_copy(spec), qos)
    if obj.get("status") is None:
        obj["status"] = {"phase": "Pending", "qosClass": qos}


def _default_pod_spec_fields(spec: dict[str, Any]) -> str:
    """Default a Pod's spec in place; its QoS class."""
    default_pod_spec(spec)
    set_default(spec, "enableServiceLinks", True)
    set_default(spec, "serviceAccountName", "default")
    set_default(spec, "serviceAccount", spec.get("serviceAccountName"))
    for key in ("initContainers", "containers"):
        for container in get_list(spec, key):
            if isinstance(container, dict):
                _requests_from_limits(container)
                if spec.get("hostNetwork") is True:
                    _host_network_ports(container)
    _default_tolerations(spec)
    return pod_qos_class(spec)


def _requests_from_limits(container: dict[str, Any]) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = dict_field(resources, "requests")
    if requests is not None:
        for name, value in limits.items():
            set_default(requests, name, value)


def _host_network_ports(container: dict[str, Any]) -> None:
    for port in get_list(container, "ports"):
        if isinstance(port, dict) and port.get("hostPort") in (None, 0):
            port["hostPort"] = port.get("containerPort")


def _default_tolerations(spec: dict[str, Any]) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for key in (_NOT_READY, _UNREACHABLE):
        if not any(_tolerates_no_execute(t, key) for t in tolerations):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    spec["tolerations"] = tolerations


def _tolerates_no_execute(toleration: Any, key: str) -> bool:
    if not isinstance(toleration, dict):
        return False
    return toleration.get("key") in (key, "", None) and toleration.get("effect") in (
        "NoExecute",
        "",
        None,
    )


# --- quality of service ---------------------------------------------------------------------


_QOS_CACHE: dict[bytes, str] = {}


def pod_qos_class(spec: dict[str, Any]) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort``, as Kubernetes' ``GetPodQOS``.

    Cached by the containers' resources (their ``memo_key``): replicas of a workload share them.
    """
    resources = [
        get_dict(container, "resources") if isinstance(container, dict) else {}
        for key in ("initContainers", "containers")
        for container in get_list(spec, key)
    ]
    key = memo_key(resources)
    if key is None:
        return _qos_class(resources)
    qos = _QOS_CACHE.get(key)
    if qos is None:
        if len(_QOS_CACHE) >= 1024:
            _QOS_CACHE.clear()
        qos = _QOS_CACHE[key] = _qos_class(resources)
    return qos


def _qos_class(resources: list[dict[str, Any]]) -> str:
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for container in resources:
        _add_nonzero(requests, get_dict(container, "requests"))
        found = _add_nonzero(limits, get_dict(container, "limits"))
        if not found.issuperset(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    equal = all(limits.get(name) == q for name, q in requests.items())
    return "Guaranteed" if guaranteed and equal and len(requests) == len(limits) else "Burstable"


def _add_nonzero(totals: dict[str, Quantity], resources: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for name in _QOS_RESOURCES:
        quantity = parse_quantity(resources.get(name))
        if quantity is not None and not quantity.is_zero():
            found.add(name)
            totals[name] = totals[name] + quantity if name in totals else quantity
    return found
