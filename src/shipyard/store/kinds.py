"""The built-in Kubernetes kinds Shipyard serves, as ``kubectl api-resources`` lists them.

:func:`builtin_scheme` returns a fresh :class:`~shipyard.store.scheme.Scheme` with every
built-in kind: its names (plural, short names), scope, whether it has a status subresource,
its defaulting and validation functions (from :mod:`shipyard.store.validation`) and the
columns ``kubectl get`` prints for it.

Columns follow kubectl's table printers (``pkg/printers/internalversion/printers.go``) but
leave out the two that the CLI adds to every table: ``NAME`` first and ``AGE`` (which needs a
clock). Columns printed only with ``-o wide`` come last and carry a trailing ``*`` in their
header (``IP*``), the convention :mod:`shipyard.cli.output` reads. A few clock-dependent
columns are left out as well: a Job's ``DURATION`` of a running Job, a CronJob's
``LAST SCHEDULE`` and an Event's ``LAST SEEN``.

The order of the list matters only where two kinds share a name: the core ``v1`` Event is
added before ``events.k8s.io/v1`` Event, so ``ev`` and ``events`` resolve to the core one, as
kubectl resolves them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from shipyard.core.errors import InvalidError
from shipyard.core.selectors import LabelSelector
from shipyard.store.scheme import KindInfo, Scheme
from shipyard.store.validation import (
    apps,
    autoscaling,
    batch,
    coordination,
    core,
    discovery,
    events,
    policy,
    scheduling,
)
from shipyard.store.validation.schema import Validator

__all__ = ["builtin_scheme"]

Obj = dict[str, Any]
Column = tuple[str, Callable[[Obj], str]]

# --- small readers --------------------------------------------------------------------------


def _at(obj: Any, *keys: str | int) -> Any:
    """The value under ``keys`` (dict keys or list indexes), or ``None``."""
    for key in keys:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and -len(obj) <= key < len(obj) else None
        else:
            obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _list(obj: Any, *keys: str) -> list[Any]:
    value = _at(obj, *keys)
    return value if isinstance(value, list) else []


def _dict(obj: Any, *keys: str) -> dict[str, Any]:
    value = _at(obj, *keys)
    return value if isinstance(value, dict) else {}


def _text(value: Any, empty: str = "<none>") -> str:
    if value is None or value in ("", []):
        return empty
    return str(value)


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _field(*keys: str, empty: str = "<none>") -> Callable[[Obj], str]:
    return lambda obj: _text(_at(obj, *keys), empty)


def _count(*keys: str) -> Callable[[Obj], str]:
    return lambda obj: str(_int(_at(obj, *keys)))


def _pairs(labels: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _selector(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "<none>"
    try:
        return str(LabelSelector.from_dict(selector)) or "<none>"
    except InvalidError:
        return "<invalid>"


# --- workloads ------------------------------------------------------------------------------


def _template_containers(obj: Obj, *template_path: str) -> list[dict[str, Any]]:
    return [c for c in _list(obj, *template_path, "spec", "containers") if isinstance(c, dict)]


def _workload_wide(*template_path: str, selector: bool = True) -> tuple[Column, ...]:
    columns: list[Column] = [
        (
            "CONTAINERS*",
            lambda o: ",".join(str(c.get("name")) for c in _template_containers(o, *template_path)),
        ),
        (
            "IMAGES*",
            lambda o: ",".join(
                str(c.get("image")) for c in _template_containers(o, *template_path)
            ),
        ),
    ]
    if selector:
        columns.append(("SELECTOR*", lambda o: _selector(_at(o, "spec", "selector"))))
    return tuple(columns)


def _ready_of_replicas(obj: Obj) -> str:
    return f"{_int(_at(obj, 'status', 'readyReplicas'))}/{_int(_at(obj, 'spec', 'replicas'))}"


DEPLOYMENT_COLUMNS: tuple[Column, ...] = (
    ("READY", _ready_of_replicas),
    ("UP-TO-DATE", _count("status", "updatedReplicas")),
    ("AVAILABLE", _count("status", "availableReplicas")),
    *_workload_wide("spec", "template"),
)
REPLICA_SET_COLUMNS: tuple[Column, ...] = (
    ("DESIRED", _count("spec", "replicas")),
    ("CURRENT", _count("status", "replicas")),
    ("READY", _count("status", "readyReplicas")),
    *_workload_wide("spec", "template"),
)
DAEMON_SET_COLUMNS: tuple[Column, ...] = (
    ("DESIRED", _count("status", "desiredNumberScheduled")),
    ("CURRENT", _count("status", "currentNumberScheduled")),
    ("READY", _count("status", "numberReady")),
    ("UP-TO-DATE", _count("status", "updatedNumberScheduled")),
    ("AVAILABLE", _count("status", "numberAvailable")),
    ("NODE SELECTOR", lambda o: _pairs(_dict(o, "spec", "template", "spec", "nodeSelector"))),
    *_workload_wide("spec", "template"),
)
STATEFUL_SET_COLUMNS: tuple[Column, ...] = (
    ("READY", _ready_of_replicas),
    *_workload_wide("spec", "template", selector=False),
)


def _job_status(obj: Obj) -> str:
    if _at(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    true_conditions = {
        c.get("type")
        for c in _list(obj, "status", "conditions")
        if isinstance(c, dict) and c.get("status") == "True"
    }
    for state in ("Failed", "Complete", "Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if state in true_conditions:
            return state
    return "Running"


def _job_completions(obj: Obj) -> str:
    succeeded = _int(_at(obj, "status", "succeeded"))
    completions = _at(obj, "spec", "completions")
    if type(completions) is int:
        return f"{succeeded}/{completions}"
    parallelism = _int(_at(obj, "spec", "parallelism"))
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


JOB_COLUMNS: tuple[Column, ...] = (
    ("STATUS", _job_status),
    ("COMPLETIONS", _job_completions),
    *_workload_wide("spec", "template"),
)
CRON_JOB_COLUMNS: tuple[Column, ...] = (
    ("SCHEDULE", _field("spec", "schedule")),
    ("TIMEZONE", _field("spec", "timeZone")),
    ("SUSPEND", lambda o: str(_at(o, "spec", "suspend") is True)),
    ("ACTIVE", lambda o: str(len(_list(o, "status", "active")))),
    *_workload_wide("spec", "jobTemplate", "spec", "template", selector=False),
    ("SELECTOR*", lambda o: _selector(_at(o, "spec", "jobTemplate", "spec", "selector"))),
)


# --- pods -----------------------------------------------------------------------------------


def _sidecar_names(obj: Obj) -> set[str]:
    return {
        str(c.get("name"))
        for c in _list(obj, "spec", "initContainers")
        if isinstance(c, dict) and c.get("restartPolicy") == "Always"
    }


def _container_statuses(obj: Obj) -> list[dict[str, Any]]:
    """Statuses of the containers that count for READY and RESTARTS (incl. sidecars)."""
    sidecars = _sidecar_names(obj)
    inits = [s for s in _list(obj, "status", "initContainerStatuses") if isinstance(s, dict)]
    regular = [s for s in _list(obj, "status", "containerStatuses") if isinstance(s, dict)]
    return [s for s in inits if s.get("name") in sidecars] + regular


def _pod_ready(obj: Obj) -> str:
    total = len(_list(obj, "spec", "containers")) + len(_sidecar_names(obj))
    ready = sum(1 for s in _container_statuses(obj) if s.get("ready") is True)
    return f"{ready}/{total}"


def _pod_restarts(obj: Obj) -> str:
    return str(sum(_int(s.get("restartCount")) for s in _container_statuses(obj)))


def _exit_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    if _int(terminated.get("signal")):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _init_reason(obj: Obj) -> str | None:
    """kubectl's ``Init:…`` status while init containers have not all finished."""
    sidecars = _sidecar_names(obj)
    total = len(_list(obj, "spec", "initContainers"))
    for i, status in enumerate(_list(obj, "status", "initContainerStatuses")):
        state = _dict(status, "state")
        terminated, waiting = _dict(state, "terminated"), _dict(state, "waiting")
        if terminated and _int(terminated.get("exitCode")) == 0:
            continue
        if _at(status, "name") in sidecars and _at(status, "started") is True:
            continue
        if terminated:
            return _exit_reason(terminated, "Init:")
        if waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{total}"
    return None


def _container_reason(obj: Obj, reason: str) -> str:
    running = False
    for status in reversed(_list(obj, "status", "containerStatuses")):
        state = _dict(status, "state")
        waiting, terminated = _dict(state, "waiting"), _dict(state, "terminated")
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif terminated:
            reason = _exit_reason(terminated)
        elif _at(status, "ready") is True and state.get("running") is not None:
            running = True
    if reason == "Completed" and running:
        ready = any(
            isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
            for c in _list(obj, "status", "conditions")
        )
        return "Running" if ready else "NotReady"
    return reason


def _pod_status(obj: Obj) -> str:
    reason = str(_at(obj, "status", "reason") or _at(obj, "status", "phase") or "Pending")
    reason = _init_reason(obj) or _container_reason(obj, reason)
    if _at(obj, "metadata", "deletionTimestamp"):
        return "Unknown" if _at(obj, "status", "reason") == "NodeLost" else "Terminating"
    return reason


def _readiness_gates(obj: Obj) -> str:
    gates = [
        g.get("conditionType") for g in _list(obj, "spec", "readinessGates") if isinstance(g, dict)
    ]
    if not gates:
        return "<none>"
    true = {
        c.get("type")
        for c in _list(obj, "status", "conditions")
        if isinstance(c, dict) and c.get("status") == "True"
    }
    return f"{sum(1 for g in gates if g in true)}/{len(gates)}"


POD_COLUMNS: tuple[Column, ...] = (
    ("READY", _pod_ready),
    ("STATUS", _pod_status),
    ("RESTARTS", _pod_restarts),
    ("IP*", _field("status", "podIP")),
    ("NODE*", _field("spec", "nodeName")),
    ("NOMINATED NODE*", _field("status", "nominatedNodeName")),
    ("READINESS GATES*", _readiness_gates),
)


# --- nodes, services and the rest of core ---------------------------------------------------


def _node_status(obj: Obj) -> str:
    ready = next((c for c in _list(obj, "status", "conditions") if _at(c, "type") == "Ready"), None)
    status = (
        "Unknown" if ready is None else ("Ready" if _at(ready, "status") == "True" else "NotReady")
    )
    return f"{status},SchedulingDisabled" if _at(obj, "spec", "unschedulable") is True else status


def _node_roles(obj: Obj) -> str:
    roles = set()
    for key, value in _dict(obj, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(kind: str) -> Callable[[Obj], str]:
    def column(obj: Obj) -> str:
        for address in _list(obj, "status", "addresses"):
            if _at(address, "type") == kind:
                return _text(_at(address, "address"))
        return "<none>"

    return column


# The hourly price of a node's instance, in USD, as the node autoscaler records it on the
# NodeClaim and registration copies onto the Node (a decimal string such as "0.0416").
PRICE_ANNOTATION = "shipyard.dev/price"


def _node_label(key: str) -> Callable[[Obj], str]:
    return lambda obj: _text(_at(obj, "metadata", "labels", key))


def _node_price(obj: Obj) -> str:
    text = _at(obj, "metadata", "annotations", PRICE_ANNOTATION)
    if not isinstance(text, str) or not text:
        return "<none>"
    try:
        valid = float(text) >= 0
    except ValueError:
        valid = False
    return f"${text}/h" if valid else text


NODE_COLUMNS: tuple[Column, ...] = (
    ("STATUS", _node_status),
    ("ROLES", _node_roles),
    ("VERSION", _field("status", "nodeInfo", "kubeletVersion", empty="")),
    ("INTERNAL-IP*", _node_address("InternalIP")),
    ("EXTERNAL-IP*", _node_address("ExternalIP")),
    ("OS-IMAGE*", _field("status", "nodeInfo", "osImage", empty="<unknown>")),
    ("KERNEL-VERSION*", _field("status", "nodeInfo", "kernelVersion", empty="<unknown>")),
    (
        "CONTAINER-RUNTIME*",
        _field("status", "nodeInfo", "containerRuntimeVersion", empty="<unknown>"),
    ),
    # What a node costs and where it runs, from the labels a cloud node carries; the same
    # facts Karpenter users ask kubectl for with -L.
    ("INSTANCE-TYPE*", _node_label("node.kubernetes.io/instance-type")),
    ("CAPACITY-TYPE*", _node_label("karpenter.sh/capacity-type")),
    ("ZONE*", _node_label("topology.kubernetes.io/zone")),
    ("PRICE*", _node_price),
)


def _service_external_ip(obj: Obj) -> str:
    service_type = _at(obj, "spec", "type")
    external = [str(ip) for ip in _list(obj, "spec", "externalIPs")]
    if service_type == "ExternalName":
        return _text(_at(obj, "spec", "externalName"))
    if service_type == "LoadBalancer":
        ingress = [
            str(_at(i, "ip") or _at(i, "hostname"))
            for i in _list(obj, "status", "loadBalancer", "ingress")
        ]
        return ",".join(ingress + external) or "<pending>"
    return ",".join(external) or "<none>"


def _service_ports(obj: Obj) -> str:
    shown = []
    for port in _list(obj, "spec", "ports"):
        if not isinstance(port, dict):
            continue
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        shown.append(f"{port.get('port')}{node_port}/{port.get('protocol') or 'TCP'}")
    return ",".join(shown) or "<none>"


SERVICE_COLUMNS: tuple[Column, ...] = (
    ("TYPE", _field("spec", "type")),
    ("CLUSTER-IP", _field("spec", "clusterIP")),
    ("EXTERNAL-IP", _service_external_ip),
    ("PORT(S)", _service_ports),
    ("SELECTOR*", lambda o: _pairs(_dict(o, "spec", "selector"))),
)


def _endpoints(obj: Obj) -> str:
    shown = []
    for subset in _list(obj, "subsets"):
        ports = [p for p in _list(subset, "ports") if isinstance(p, dict)] or [{}]
        for address in _list(subset, "addresses"):
            for port in ports:
                suffix = f":{port['port']}" if port.get("port") else ""
                shown.append(f"{_at(address, 'ip')}{suffix}")
    return _first_three(shown)


def _first_three(items: list[str]) -> str:
    if not items:
        return "<none>"
    more = f" + {len(items) - 3} more..." if len(items) > 3 else ""
    return ",".join(items[:3]) + more


_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _access_modes(*keys: str) -> Callable[[Obj], str]:
    return lambda o: ",".join(_ACCESS_MODES.get(str(m), str(m)) for m in _list(o, *keys))


def _object_ref(ref: Any) -> str:
    return f"{str(_at(ref, 'kind') or '').lower()}/{_at(ref, 'name') or ''}"


PVC_COLUMNS: tuple[Column, ...] = (
    ("STATUS", _field("status", "phase")),
    ("VOLUME", _field("spec", "volumeName", empty="")),
    ("CAPACITY", _field("status", "capacity", "storage", empty="")),
    ("ACCESS MODES", _access_modes("status", "accessModes")),
    ("STORAGECLASS", _field("spec", "storageClassName", empty="<unset>")),
    ("VOLUMEATTRIBUTESCLASS", _field("spec", "volumeAttributesClassName", empty="<unset>")),
    ("VOLUMEMODE*", _field("spec", "volumeMode")),
)
PV_COLUMNS: tuple[Column, ...] = (
    ("CAPACITY", _field("spec", "capacity", "storage", empty="")),
    ("ACCESS MODES", _access_modes("spec", "accessModes")),
    ("RECLAIM POLICY", _field("spec", "persistentVolumeReclaimPolicy")),
    ("STATUS", _field("status", "phase")),
    (
        "CLAIM",
        lambda o: (
            f"{_at(o, 'spec', 'claimRef', 'namespace')}/{_at(o, 'spec', 'claimRef', 'name')}"
            if _at(o, "spec", "claimRef")
            else ""
        ),
    ),
    ("STORAGECLASS", _field("spec", "storageClassName", empty="")),
    ("VOLUMEATTRIBUTESCLASS", _field("spec", "volumeAttributesClassName", empty="<unset>")),
    ("REASON", _field("status", "reason", empty="")),
    ("VOLUMEMODE*", _field("spec", "volumeMode")),
)
EVENT_COLUMNS: tuple[Column, ...] = (
    ("TYPE", _field("type")),
    ("REASON", _field("reason")),
    ("OBJECT", lambda o: _object_ref(_at(o, "involvedObject"))),
    ("MESSAGE", _field("message", empty="")),
)
EVENTS_V1_COLUMNS: tuple[Column, ...] = (
    ("TYPE", _field("type")),
    ("REASON", _field("reason")),
    ("OBJECT", lambda o: _object_ref(_at(o, "regarding"))),
    ("MESSAGE", _field("note", empty="")),
)


def _data_count(obj: Obj) -> str:
    return str(len(_dict(obj, "data")) + len(_dict(obj, "binaryData")))


# --- the other groups -----------------------------------------------------------------------


def _hpa_target(metric: dict[str, Any], current: dict[str, Any]) -> str:
    kind = str(metric.get("type") or "")
    source_key = kind[:1].lower() + kind[1:]
    source, observed = _dict(metric, source_key), _dict(current, source_key)
    target, now = _dict(source, "target"), _dict(observed, "current")
    name = source.get("name") or _at(source, "metric", "name") or kind
    if target.get("type") == "Utilization":
        value = now.get("averageUtilization")
        shown = f"{value}%" if value is not None else "<unknown>"
        return f"{name}: {shown}/{target.get('averageUtilization')}%"
    key = "value" if target.get("type") == "Value" else "averageValue"
    return f"{name}: {now.get(key, '<unknown>')}/{target.get(key)}"


def _hpa_reference(ref: dict[str, Any]) -> str:
    return f"{ref.get('kind')}/{ref.get('name')}"


def _hpa_targets(obj: Obj) -> str:
    metrics = [m for m in _list(obj, "spec", "metrics") if isinstance(m, dict)]
    currents = _list(obj, "status", "currentMetrics")
    shown = [
        _hpa_target(m, currents[i] if i < len(currents) and isinstance(currents[i], dict) else {})
        for i, m in enumerate(metrics)
    ]
    if not shown:
        return "<none>"
    more = f" + {len(shown) - 2} more..." if len(shown) > 2 else ""
    return ", ".join(shown[:2]) + more


HPA_COLUMNS: tuple[Column, ...] = (
    ("REFERENCE", lambda o: _hpa_reference(_dict(o, "spec", "scaleTargetRef"))),
    ("TARGETS", _hpa_targets),
    ("MINPODS", _field("spec", "minReplicas", empty="<unset>")),
    ("MAXPODS", _field("spec", "maxReplicas")),
    ("REPLICAS", _count("status", "currentReplicas")),
)
PDB_COLUMNS: tuple[Column, ...] = (
    ("MIN AVAILABLE", _field("spec", "minAvailable", empty="N/A")),
    ("MAX UNAVAILABLE", _field("spec", "maxUnavailable", empty="N/A")),
    ("ALLOWED DISRUPTIONS", _count("status", "disruptionsAllowed")),
)


def _controller_of(obj: Obj) -> str:
    for ref in _list(obj, "metadata", "ownerReferences"):
        if _at(ref, "controller") is True:
            group = str(_at(ref, "apiVersion") or "").rpartition("/")[0]
            kind = str(_at(ref, "kind") or "").lower()
            return f"{kind}{'.' + group if group else ''}/{_at(ref, 'name')}"
    return "<none>"


def _slice_ports(obj: Obj) -> str:
    ports = [str(_at(p, "port")) for p in _list(obj, "ports") if _at(p, "port") is not None]
    return ",".join(ports) or "<unset>"


def _slice_endpoints(obj: Obj) -> str:
    addresses = [str(a) for e in _list(obj, "endpoints") for a in _list(e, "addresses")]
    return _first_three(addresses)


# --- the scheme -----------------------------------------------------------------------------


def _kind(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: Iterable[str] = (),
    status: bool = True,
    default: Callable[[Obj], None] | None = None,
    validate: Validator | None = None,
    columns: tuple[Column, ...] = (),
) -> KindInfo:
    extra: dict[str, Any] = {}
    if default is not None:
        extra["default"] = default
    if validate is not None:
        extra["validate"] = validate
    return KindInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=tuple(short),
        has_status=status,
        columns=columns,
        **extra,
    )


def _core_kinds() -> list[KindInfo]:
    c = core
    return [
        _kind("", "v1", "ConfigMap", "configmaps", short=("cm",), status=False,
              validate=c.validate_config_map, columns=(("DATA", _data_count),)),
        _kind("", "v1", "Endpoints", "endpoints", short=("ep",), status=False,
              default=c.default_endpoints, validate=c.validate_endpoints,
              columns=(("ENDPOINTS", _endpoints),)),
        _kind("", "v1", "Event", "events", short=("ev",), status=False,
              validate=c.validate_event, columns=EVENT_COLUMNS),
        _kind("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",),
              default=c.default_namespace, validate=c.validate_namespace,
              columns=(("STATUS", _field("status", "phase")),)),
        _kind("", "v1", "Node", "nodes", namespaced=False, short=("no",),
              validate=c.validate_node, columns=NODE_COLUMNS),
        _kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",),
              default=c.default_pvc, validate=c.validate_pvc, columns=PVC_COLUMNS),
        _kind("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False,
              short=("pv",), default=c.default_pv, validate=c.validate_pv, columns=PV_COLUMNS),
        _kind("", "v1", "Pod", "pods", short=("po",), default=c.default_pod,
              validate=c.validate_pod, columns=POD_COLUMNS),
        _kind("", "v1", "Secret", "secrets", status=False, default=c.default_secret,
              validate=c.validate_secret,
              columns=(("TYPE", _field("type")), ("DATA", _data_count))),
        _kind("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), status=False,
              validate=c.validate_service_account,
              columns=(("SECRETS", lambda o: str(len(_list(o, "secrets")))),)),
        _kind("", "v1", "Service", "services", short=("svc",), default=c.default_service,
              validate=c.validate_service, columns=SERVICE_COLUMNS),
    ]  # fmt: skip


def _apps_kinds() -> list[KindInfo]:
    a = apps
    return [
        _kind("apps", "v1", "ControllerRevision", "controllerrevisions", status=False,
              validate=a.validate_controller_revision,
              columns=(("CONTROLLER", _controller_of), ("REVISION", _field("revision")))),
        _kind("apps", "v1", "DaemonSet", "daemonsets", short=("ds",),
              default=a.default_daemon_set, validate=a.validate_daemon_set,
              columns=DAEMON_SET_COLUMNS),
        _kind("apps", "v1", "Deployment", "deployments", short=("deploy",),
              default=a.default_deployment, validate=a.validate_deployment,
              columns=DEPLOYMENT_COLUMNS),
        _kind("apps", "v1", "ReplicaSet", "replicasets", short=("rs",),
              default=a.default_replica_set, validate=a.validate_replica_set,
              columns=REPLICA_SET_COLUMNS),
        _kind("apps", "v1", "StatefulSet", "statefulsets", short=("sts",),
              default=a.default_stateful_set, validate=a.validate_stateful_set,
              columns=STATEFUL_SET_COLUMNS),
    ]  # fmt: skip


def _other_kinds() -> list[KindInfo]:
    return [
        _kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
              short=("hpa",), default=autoscaling.default_hpa,
              validate=autoscaling.validate_hpa, columns=HPA_COLUMNS),
        _kind("batch", "v1", "CronJob", "cronjobs", short=("cj",),
              default=batch.default_cron_job, validate=batch.validate_cron_job,
              columns=CRON_JOB_COLUMNS),
        _kind("batch", "v1", "Job", "jobs", default=batch.default_job,
              validate=batch.validate_job, columns=JOB_COLUMNS),
        _kind("coordination.k8s.io", "v1", "Lease", "leases", status=False,
              validate=coordination.validate_lease,
              columns=(("HOLDER", _field("spec", "holderIdentity")),)),
        _kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", status=False,
              default=discovery.default_endpoint_slice,
              validate=discovery.validate_endpoint_slice,
              columns=(("ADDRESSTYPE", _field("addressType")), ("PORTS", _slice_ports),
                       ("ENDPOINTS", _slice_endpoints))),
        _kind("events.k8s.io", "v1", "Event", "events", short=("ev",), status=False,
              validate=events.validate_event, columns=EVENTS_V1_COLUMNS),
        _kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
              validate=policy.validate_pdb, columns=PDB_COLUMNS),
        _kind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses",
              namespaced=False, short=("pc",), status=False,
              default=scheduling.default_priority_class,
              validate=scheduling.validate_priority_class,
              columns=(("VALUE", _field("value")),
                       ("GLOBAL-DEFAULT", lambda o: str(o.get("globalDefault") is True)),
                       ("PREEMPTIONPOLICY*", _field("preemptionPolicy")))),
    ]  # fmt: skip


def builtin_scheme() -> Scheme:
    """A new Scheme serving every built-in kind (core first, so ``ev`` is the core Event)."""
    return Scheme([*_core_kinds(), *_apps_kinds(), *_other_kinds()])
