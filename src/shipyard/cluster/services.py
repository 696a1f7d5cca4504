"""Services: ClusterIP allocation, ``v1 Endpoints`` and ``discovery.k8s.io/v1 EndpointSlice``.

:class:`EndpointsController` (``cluster.endpoints``) does, for each Service, what three parts
of Kubernetes do:

- **ClusterIP allocation** (the API server's service IP allocator). A Service that is not
  ``ExternalName`` and has no ``spec.clusterIP`` gets the lowest free address of
  ``127.96.0.0/12`` (``127.96.0.1`` up to ``127.111.255.254``), with ``clusterIPs``,
  ``ipFamilies: [IPv4]`` and ``ipFamilyPolicy: SingleStack`` as the API server fills them.
  The range is loopback space, as Shipyard's pod addresses are, so in live mode a Service
  address is something a local proxy can listen on; it is disjoint from ``127.0.0.0/16``
  (localhost and friends). Headless Services (``clusterIP: None``) are kept as they are.
  Kubernetes allocates at create time and picks at random; here the controller patches the
  Service right after it is created, sequentially, so a simulation is reproducible.
- **The endpoints controller** (``pkg/controller/endpoint``). For a Service with a selector,
  an Endpoints object of the same name: a pod is included when it is not terminal, has a
  ``podIP`` and is not terminating (``ShouldPodBeInEndpoints(pod, includeTerminating=
  publishNotReadyAddresses)``); it goes to ``addresses`` when Ready (or the Service
  publishes not-ready addresses) and to ``notReadyAddresses`` otherwise. Each Service port
  is resolved against the pod (``FindPort``: a numeric ``targetPort`` as is, a named one
  looked up among the containers' ports with the same protocol; a pod where it cannot be
  resolved is left out of that port), then addresses with the same ports are packed into one
  subset (``RepackSubsets``). Labels: the Service's, plus ``endpoints.kubernetes.io/managed-by:
  endpoint-controller`` and ``service.kubernetes.io/headless`` for headless Services.
- **The EndpointSlice controller** (``pkg/controller/endpointslice``). Slices named
  ``<service>-<random>``, owned by the Service (so they go when it goes), labelled
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io``, ``addressType: IPv4``, one slice per distinct set of
  resolved ports and at most ``max_endpoints_per_slice`` (100) endpoints each. Terminating
  pods stay in slices with ``conditions: {ready: false, serving: <Ready>, terminating: true}``
  — the "terminating endpoints" kube-proxy falls back to while a pod drains; ``ready`` is
  ``serving and not terminating`` unless the Service publishes not-ready addresses, in which
  case everything is ready. A Service with no endpoints keeps one empty placeholder slice.

Objects are written only when their content changes (the last-change annotation alone never
causes a write), each at most once per reconcile. A Service with no selector is left alone
(its Endpoints are the user's), as is an ``ExternalName`` Service.

Deviations: slices are repacked from scratch on every change (sorted by address, then cut
into chunks) instead of Kubernetes' churn-minimising placement, which changes nothing for a
Service with up to 100 endpoints; the 1000-address cap of Endpoints (``over-capacity``
annotation) and topology hints are not reproduced; a user-created Endpoints object for a
selector-less Service is not mirrored into slices.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import WARNING, EventRecorder
from shipyard.cluster.podutil import is_ready, is_terminal, is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import format_time
from shipyard.core.errors import ConflictError, NotFoundError, ShipyardError
from shipyard.core.objects import IdentityCache, Obj, ObjectKey, key_of, labels_of, meta
from shipyard.core.selectors import LabelSelector

__all__ = [
    "CLUSTER_IP_RANGE",
    "ENDPOINTS_MANAGED_BY",
    "HEADLESS_LABEL",
    "MANAGED_BY_LABEL",
    "SERVICE_NAME_LABEL",
    "SLICE_CONTROLLER",
    "ClusterIPAllocator",
    "EndpointsController",
    "endpoint_subsets",
    "find_port",
    "should_be_in_endpoints",
    "slice_endpoint",
]

CLUSTER_IP_RANGE = "127.96.0.0/12"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_CONTROLLER = "endpoint-controller"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100

PortKey = tuple[tuple[str, int, str, str], ...]


# --- ClusterIP allocation -------------------------------------------------------------------


class ClusterIPAllocator:
    """Hands out the lowest free address of a range (skipping network and broadcast)."""

    def __init__(self, cidr: str = CLUSTER_IP_RANGE) -> None:
        self._network = ipaddress.IPv4Network(cidr)
        self._used: set[int] = set()
        self._next = 1

    def reserve(self, ip: str) -> None:
        """Mark an address as taken (a Service that already has it)."""
        offset = self._offset(ip)
        if offset is not None:
            self._used.add(offset)

    def release(self, ip: str) -> None:
        offset = self._offset(ip)
        if offset is not None:
            self._used.discard(offset)
            self._next = min(self._next, offset)

    def allocate(self) -> str:
        last = self._network.num_addresses - 2
        offset = self._next
        while offset <= last and offset in self._used:
            offset += 1
        if offset > last:
            raise ShipyardError(
                f"Internal error occurred: failed to allocate a serviceIP: range is full "
                f"({self._network})"
            )
        self._used.add(offset)
        self._next = offset + 1
        return str(self._network.network_address + offset)

    def _offset(self, ip: str) -> int | None:
        try:
            address = ipaddress.IPv4Address(ip)
        except ValueError:
            return None
        if address not in self._network:
            return None
        return int(address) - int(self._network.network_address)


# --- pure functions: which pods, which ports ------------------------------------------------


def should_be_in_endpoints(pod: Mapping[str, Any], *, include_terminating: bool) -> bool:
    """Kubernetes' ShouldPodBeInEndpoints: not terminal, has an IP, terminating only if asked."""
    if is_terminal(pod):
        return False
    if not _pod_ip(pod):
        return False
    return include_terminating or not is_terminating(pod)


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The container port a Service port reaches on this pod (``FindPort``), or None."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _pod_ip(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if ip:
        return str(ip)
    ips = status.get("podIPs") or ()
    return str(ips[0].get("ip") or "") if ips else ""


def _target_ref(pod: Mapping[str, Any]) -> dict[str, str]:
    md = meta(pod)
    return {
        "kind": "Pod",
        "namespace": str(md.get("namespace") or ""),
        "name": str(md.get("name") or ""),
        "uid": str(md.get("uid") or ""),
    }


def _hostname(pod: Mapping[str, Any], service: Mapping[str, Any]) -> str:
    """``ShouldSetHostname``: the pod's hostname when its subdomain is this Service."""
    spec = pod.get("spec") or {}
    same_ns = meta(pod).get("namespace") == meta(service).get("namespace")
    if spec.get("hostname") and spec.get("subdomain") == meta(service).get("name") and same_ns:
        return str(spec["hostname"])
    return ""


def _resolved_ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: dict[str, Any] = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("name"):
            port["name"] = service_port["name"]
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def _port_key(ports: Iterable[Mapping[str, Any]] | None) -> PortKey | None:
    if ports is None:
        return None
    return tuple(
        sorted(
            (
                str(p.get("name") or ""),
                int(p.get("port") or 0),
                str(p.get("protocol") or "TCP"),
                str(p.get("appProtocol") or ""),
            )
            for p in ports
        )
    )


def pod_ports(
    service: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], PortKey]:
    """The Service's ports resolved on the pod, sorted, and their key."""
    ports = _sorted_ports(_resolved_ports(service, pod))
    return ports, _port_key(ports) or ()


def _sorted_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(ports, key=lambda p: _port_key([p]) or ())


def _endpoint_facts(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a pod the endpoints depend on (a change elsewhere needs no reconcile)."""
    spec = pod.get("spec") or {}
    return (
        labels_of(pod),  # a stored (read-only) map: compared by value, kept as it is
        _pod_ip(pod),
        is_ready(pod),
        is_terminating(pod),
        is_terminal(pod),
        spec.get("nodeName"),
        spec.get("hostname"),
        spec.get("subdomain"),
    )


def _publish_not_ready(service: Mapping[str, Any]) -> bool:
    return (service.get("spec") or {}).get("publishNotReadyAddresses") is True


def _is_headless(service: Mapping[str, Any]) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


# --- Endpoints ------------------------------------------------------------------------------


class Interned:
    """Equal small objects built again (an endpoint for an unchanged pod) come back as the
    very same object, so the store sees them unchanged by identity: nothing to compare,
    validate or keep twice. Bounded: forgets everything past ``limit`` entries."""

    def __init__(self, limit: int = 200_000) -> None:
        self._objects: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._limit = limit
        # a pod spec -> (the Service's ports it was resolved against, the pod's sorted ports,
        # their key); pod specs are stored objects shared between a pod's versions
        self._ports: IdentityCache[tuple[object, list[dict[str, Any]], PortKey]] = IdentityCache(
            limit
        )
        # (pod, Service spec, builder) by identity -> what the pod gives that Service
        self._entries: dict[tuple[int, int, object], tuple[object, object, Any]] = {}

    def ports(
        self, service: Mapping[str, Any], pod: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], PortKey]:
        """``pod_ports(service, pod)``, once per pod spec and Service ports."""
        spec = pod.get("spec")
        service_ports = (service.get("spec") or {}).get("ports")
        found = self._ports.get(spec) if spec is not None else None
        if found is not None and found[0] is service_ports:
            return found[1], found[2]
        ports, key = pod_ports(service, pod)
        if spec is not None:
            self._ports.put(spec, (service_ports, ports, key))
        return ports, key

    def entry(
        self,
        service: Mapping[str, Any],
        pod: Mapping[str, Any],
        build: Callable[[Interned, Mapping[str, Any], Mapping[str, Any]], Any],
    ) -> Any:
        """``build(self, service, pod)``, once per stored pod and stored Service spec: both are
        never changed in place, so what a pod contributes to a Service's endpoints holds
        until either is written again."""
        spec = service.get("spec")
        key = (id(pod), id(spec), build)
        found = self._entries.get(key)
        if found is not None and found[0] is pod and found[1] is spec:
            return found[2]
        if len(self._entries) >= self._limit:
            self._entries.clear()
        value = build(self, service, pod)
        self._entries[key] = (pod, spec, value)
        return value

    def get(
        self, key: tuple[Any, ...], build: Callable[..., dict[str, Any]], *args: Any
    ) -> dict[str, Any]:
        """The object ``build(*args)`` makes for ``key``: built once, then the same one."""
        found = self._objects.get(key)
        if found is None:
            if len(self._objects) >= self._limit:
                self._objects.clear()
            found = self._objects[key] = build(*args)
        return found


# What one pod gives a Service's Endpoints: None (left out), or
# (port key, ports, sort order, address, listed as ready).
_EndpointEntry = tuple[PortKey, list[dict[str, Any]], tuple[int, str], dict[str, Any], bool] | None


def _endpoint_entry(
    interned: Interned | None, service: Mapping[str, Any], pod: Mapping[str, Any]
) -> _EndpointEntry:
    publish = _publish_not_ready(service)
    if not should_be_in_endpoints(pod, include_terminating=publish):
        return None
    ports, key = pod_ports(service, pod) if interned is None else interned.ports(service, pod)
    if (service.get("spec") or {}).get("ports"):
        if not ports:
            return None  # no port of the Service resolves on this pod
    elif not _is_headless(service):
        return None
    address = (
        _address(pod, service)
        if interned is None
        else interned.get(_address_key(pod, service), _address, pod, service)
    )
    return key, ports, _address_order(address), address, publish or is_ready(pod)


def endpoint_subsets(
    service: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    interned: Interned | None = None,
) -> list[dict[str, Any]]:
    """The ``subsets`` of the Service's Endpoints, packed and in a stable order."""
    Entries = list[tuple[tuple[int, str], dict[str, Any]]]
    groups: dict[PortKey, tuple[Entries, Entries, list[dict[str, Any]]]] = {}
    for pod in pods:
        entry = (
            _endpoint_entry(None, service, pod)
            if interned is None
            else interned.entry(service, pod, _endpoint_entry)
        )
        if entry is None:
            continue
        key, ports, order, address, ready = entry
        group = groups.get(key)
        if group is None:
            group = groups[key] = ([], [], ports)
        (group[0] if ready else group[1]).append((order, address))
    subsets = []
    first = operator.itemgetter(0)
    for key in sorted(groups):
        ready_addresses, not_ready, ports = groups[key]
        subset: dict[str, Any] = {}
        if ready_addresses:
            subset["addresses"] = [a for _, a in sorted(ready_addresses, key=first)]
        if not_ready:
            subset["notReadyAddresses"] = [a for _, a in sorted(not_ready, key=first)]
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets


def _address(pod: Mapping[str, Any], service: Mapping[str, Any]) -> dict[str, Any]:
    address: dict[str, Any] = {"ip": _pod_ip(pod)}
    hostname = _hostname(pod, service)
    if hostname:
        address["hostname"] = hostname
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    address["targetRef"] = _target_ref(pod)
    return address


def _address_key(pod: Mapping[str, Any], service: Mapping[str, Any]) -> tuple[Any, ...]:
    """What ``_address`` depends on."""
    md = meta(pod)
    return (
        "address",
        _pod_ip(pod),
        _hostname(pod, service),
        (pod.get("spec") or {}).get("nodeName"),
        md.get("namespace"),
        md.get("name"),
        md.get("uid"),
    )


@functools.lru_cache(maxsize=65_536)
def _ip_order(ip: str) -> int:
    try:
        return int(ipaddress.ip_address(ip))
    except ValueError:
        return -1


def _address_order(address: Mapping[str, Any]) -> tuple[int, str]:
    return _ip_order(str(address["ip"])), str(address["targetRef"]["uid"])


# --- EndpointSlices -------------------------------------------------------------------------


def slice_endpoint(
    service: Mapping[str, Any], pod: Mapping[str, Any], zone: str = ""
) -> dict[str, Any]:
    """One EndpointSlice endpoint for the pod, with Kubernetes' condition rules."""
    publish = _publish_not_ready(service)
    serving = publish or is_ready(pod)
    terminating = is_terminating(pod)
    ready = publish or (serving and not terminating)
    endpoint: dict[str, Any] = {
        "addresses": [_pod_ip(pod)],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    hostname = _hostname(pod, service)
    if hostname:
        endpoint["hostname"] = hostname
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    if zone:
        endpoint["zone"] = zone
    endpoint["targetRef"] = _target_ref(pod)
    return endpoint


@dataclass
class _SliceGroup:
    ports: list[dict[str, Any]] | None
    endpoints: list[dict[str, Any]]


# What one pod gives a Service's EndpointSlices, zone aside: None (left out), or
# [port key, ports, node, facts, sort order, last zone, endpoint for that zone].
_SliceEntry = list[Any] | None


def _slice_entry(
    interned: Interned | None, service: Mapping[str, Any], pod: Mapping[str, Any]
) -> _SliceEntry:
    if not should_be_in_endpoints(pod, include_terminating=True):
        return None
    ports, key = pod_ports(service, pod) if interned is None else interned.ports(service, pod)
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    facts = (*_address_key(pod, service), _publish_not_ready(service))
    facts = (*facts, is_ready(pod), is_terminating(pod))
    return [key, ports, node, facts, _ip_order(_pod_ip(pod)), None, None]


def _slice_groups(
    service: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    zones: Mapping[str, str],
    interned: Interned | None = None,
) -> dict[PortKey | None, _SliceGroup]:
    ordered: dict[PortKey | None, list[tuple[int, dict[str, Any]]]] = {}
    groups: dict[PortKey | None, _SliceGroup] = {}
    for pod in pods:
        entry = (
            _slice_entry(None, service, pod)
            if interned is None
            else interned.entry(service, pod, _slice_entry)
        )
        if entry is None:
            continue
        key, ports, node, facts, order, last_zone, endpoint = entry
        if key not in groups:
            groups[key] = _SliceGroup(ports, [])
            ordered[key] = []
        zone = zones.get(node, "")
        if interned is None:
            endpoint = slice_endpoint(service, pod, zone)
        elif endpoint is None or zone != last_zone:
            with_zone = (*facts[:7], zone, *facts[7:])  # the address key, the zone, the rest
            endpoint = interned.get(with_zone, slice_endpoint, service, pod, zone)
            entry[5], entry[6] = zone, endpoint
        ordered[key].append((order, endpoint))
    first = operator.itemgetter(0)
    for key, group in groups.items():
        group.endpoints = [e for _, e in sorted(ordered[key], key=first)]
    if not groups:
        groups[None] = _SliceGroup(None, [])  # the placeholder slice
    return groups


# --- the controller -------------------------------------------------------------------------


@dataclass
class _ServiceInfo:
    namespace: str
    selector: dict[str, str] | None
    cluster_ip: str


def _index_pair(info: _ServiceInfo) -> tuple[str, str, str] | None:
    if not info.selector:
        return None
    label, value = min(info.selector.items())
    return (info.namespace, label, value)


class EndpointsController:
    """ClusterIPs, Endpoints and EndpointSlices for Services (see the module docstring)."""

    name = "cluster.endpoints"

    def __init__(
        self,
        client: Client,
        *,
        recorder: EventRecorder | None = None,
        max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
        cluster_ip_range: str = CLUSTER_IP_RANGE,
    ) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "endpoint-controller")
        self._max_per_slice = max(1, max_endpoints_per_slice)
        self._ips = ClusterIPAllocator(cluster_ip_range)
        self._interned = Interned()  # endpoints of unchanged pods, reused as they are
        self._ips_loaded = False
        self._services: dict[ObjectKey, _ServiceInfo] = {}
        # (namespace, label, value) of the smallest selector pair -> Services that select on it,
        # so mapping a pod event to Services looks only at those its labels could match
        self._by_pair: dict[tuple[str, str, str], set[ObjectKey]] = {}
        self._members: dict[ObjectKey, set[str]] = {}  # service -> names of pods last included
        self._pod_services: dict[ObjectKey, set[ObjectKey]] = {}  # pod -> services
        self._facts: dict[ObjectKey, tuple[Any, ...]] = {}  # pod -> what endpoints show of it

    def watches(self) -> list[Watches]:
        return [
            Watches("v1", "Service", self._service_keys),
            Watches("v1", "Pod", self._pod_keys),
        ]

    # -- mapping changes to Services ---------------------------------------------------------

    def _service_keys(self, service: Obj) -> tuple[ObjectKey, ...]:
        key = key_of(service)
        spec = service.get("spec") or {}
        selector = spec.get("selector") or None
        cluster_ip = str(spec.get("clusterIP") or "")
        self._unindex(key)
        self._services[key] = info = _ServiceInfo(key.namespace, selector, cluster_ip)
        if pair := _index_pair(info):
            self._by_pair.setdefault(pair, set()).add(key)
        if cluster_ip:
            self._ips.reserve(cluster_ip)
        return (key,)

    def _pod_keys(self, pod: Obj) -> list[ObjectKey]:
        pod_key = key_of(pod)
        if not self._changed(pod_key, pod):
            return []
        labels = labels_of(pod)
        keys = set(self._pod_services.get(pod_key, ()))
        for label, value in labels.items():
            for key in self._by_pair.get((pod_key.namespace, label, value), ()):
                selector = self._services[key].selector or {}
                if all(labels.get(k) == v for k, v in selector.items()):
                    keys.add(key)
        return sorted(keys)

    def _unindex(self, key: ObjectKey) -> None:
        info = self._services.get(key)
        pair = _index_pair(info) if info is not None else None
        if pair is not None:
            keys = self._by_pair.get(pair, set())
            keys.discard(key)
            if not keys:
                self._by_pair.pop(pair, None)

    def _changed(self, pod_key: ObjectKey, pod: Obj) -> bool:
        """Whether this pod event can change any endpoints: its facts changed, or it is gone
        (a deletion event carries the pod's last state, so existence is checked)."""
        facts = _endpoint_facts(pod)
        if self._facts.get(pod_key) != facts:
            self._facts[pod_key] = facts
            return True
        try:
            self._client.get("v1", "Pod", pod_key.name, namespace=pod_key.namespace, copy=False)
        except NotFoundError:
            del self._facts[pod_key]
            return True
        return False

    # -- reconcile ---------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            service = self._client.get(
                "v1", "Service", key.name, namespace=key.namespace, copy=False
            )
        except NotFoundError:
            self._forget(key)
            return None
        service = self._ensure_cluster_ip(service)
        self._service_keys(service)
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            self._track(key, [])
            return None
        selector = LabelSelector.from_labels(spec["selector"])
        pods = self._client.list(
            "v1", "Pod", namespace=key.namespace, label_selector=selector, copy=False
        ).items
        self._track(key, pods)
        try:
            self._sync_endpoints(service, pods)
            self._sync_slices(service, pods)
        except ConflictError:
            raise
        except ShipyardError as e:
            self._recorder.event(
                service,
                WARNING,
                "FailedToUpdateEndpointSlices",
                f"Error updating Endpoint Slices for Service {key.namespace}/{key.name}: {e}",
            )
            raise
        return None

    def _forget(self, key: ObjectKey) -> None:
        self._unindex(key)
        info = self._services.pop(key, None)
        if info is not None and info.cluster_ip and info.cluster_ip != "None":
            self._ips.release(info.cluster_ip)
        self._track(key, [])
        try:
            endpoints = self._client.get("v1", "Endpoints", key.name, namespace=key.namespace)
        except NotFoundError:
            return
        if labels_of(endpoints).get(ENDPOINTS_MANAGED_BY) == ENDPOINTS_CONTROLLER:
            self._client.delete("v1", "Endpoints", key.name, namespace=key.namespace)

    def _track(self, key: ObjectKey, pods: Iterable[Obj]) -> None:
        """Remember which pods a Service covered, so a pod that changes labels is re-mapped.
        (By name: a Service selects pods of its own namespace.)"""
        now = {meta(p)["name"] for p in pods}
        before = self._members.get(key, set())
        if now == before:
            return
        namespace = key.namespace
        for name in before - now:
            pod_key = ObjectKey("v1", "Pod", namespace, name)
            services = self._pod_services.get(pod_key)
            if services is not None:
                services.discard(key)
                if not services:
                    del self._pod_services[pod_key]
        for name in now - before:
            self._pod_services.setdefault(ObjectKey("v1", "Pod", namespace, name), set()).add(key)
        if now:
            self._members[key] = now
        else:
            self._members.pop(key, None)

    def _ensure_cluster_ip(self, service: Obj) -> Obj:
        spec = service.get("spec") or {}
        if spec.get("clusterIP") or spec.get("type") == "ExternalName":
            return service
        if not self._ips_loaded:
            for other in self._client.list("v1", "Service", copy=False).items:
                ip = (other.get("spec") or {}).get("clusterIP")
                if ip:
                    self._ips.reserve(str(ip))
            self._ips_loaded = True
        ip = self._ips.allocate()
        patch = {
            "metadata": {"resourceVersion": meta(service).get("resourceVersion")},
            "spec": {
                "clusterIP": ip,
                "clusterIPs": [ip],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
            },
        }
        md = meta(service)
        try:
            return self._client.patch(
                "v1", "Service", str(md["name"]), patch, namespace=str(md["namespace"])
            )
        except ShipyardError:
            self._ips.release(ip)
            raise

    # -- Endpoints ---------------------------------------------------------------------------

    def _sync_endpoints(self, service: Obj, pods: list[Obj]) -> None:
        md = meta(service)
        name, namespace = str(md["name"]), str(md["namespace"])
        labels = {**labels_of(service), ENDPOINTS_MANAGED_BY: ENDPOINTS_CONTROLLER}
        if _is_headless(service):
            labels[HEADLESS_LABEL] = ""
        subsets = endpoint_subsets(service, pods, self._interned)
        try:
            current: Obj | None = self._client.get(
                "v1", "Endpoints", name, namespace=namespace, copy=False
            )
        except NotFoundError:
            current = None
        if current is not None and (
            (current.get("subsets") or []) == subsets and labels_of(current) == labels
        ):
            return
        now = format_time(self._client.clock.now())
        if current is None:
            new: Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {TRIGGER_TIME: now},
                },
            }
            if subsets:
                new["subsets"] = subsets
            self._client.create(new, handoff=True)
            return
        old_md = meta(current)
        annotations = {**(old_md.get("annotations") or {}), TRIGGER_TIME: now}
        updated = {**current, "metadata": {**old_md, "labels": labels, "annotations": annotations}}
        if subsets:
            updated["subsets"] = subsets
        else:
            updated.pop("subsets", None)
        self._client.update(updated, handoff=True)

    # -- EndpointSlices ----------------------------------------------------------------------

    def _sync_slices(self, service: Obj, pods: list[Obj]) -> None:
        md = meta(service)
        namespace = str(md["namespace"])
        existing = self._client.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace=namespace,
            label_selector=LabelSelector.from_labels(
                {SERVICE_NAME_LABEL: str(md["name"]), MANAGED_BY_LABEL: SLICE_CONTROLLER}
            ),
            copy=False,
        ).items
        spare: dict[PortKey | None, list[Obj]] = {}
        for current in sorted(existing, key=lambda s: str(meta(s).get("name"))):
            spare.setdefault(_port_key(current.get("ports")), []).append(current)
        labels = self._slice_labels(service)
        groups = _slice_groups(service, pods, self._zones(pods), self._interned)
        for port_key in sorted(groups, key=lambda k: k or ()):
            group = groups[port_key]
            for chunk in self._chunks(group.endpoints):
                reuse = spare.get(port_key)
                self._write_slice(
                    service, reuse.pop(0) if reuse else None, labels, group.ports, chunk
                )
        for leftovers in spare.values():
            for unused in leftovers:
                self._client.delete(
                    "discovery.k8s.io/v1",
                    "EndpointSlice",
                    str(meta(unused)["name"]),
                    namespace=namespace,
                )

    def _chunks(self, endpoints: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        if not endpoints:
            return [[]]
        size = self._max_per_slice
        return [endpoints[i : i + size] for i in range(0, len(endpoints), size)]

    def _slice_labels(self, service: Obj) -> dict[str, str]:
        labels = {
            **labels_of(service),
            SERVICE_NAME_LABEL: str(meta(service)["name"]),
            MANAGED_BY_LABEL: SLICE_CONTROLLER,
        }
        if _is_headless(service):
            labels[HEADLESS_LABEL] = ""
        return labels

    def _zones(self, pods: list[Obj]) -> dict[str, str]:
        zones: dict[str, str] = {}
        for node_name in sorted({str((p.get("spec") or {}).get("nodeName") or "") for p in pods}):
            if not node_name:
                continue
            try:
                node = self._client.get("v1", "Node", node_name, copy=False)
            except NotFoundError:
                continue
            zone = labels_of(node).get(ZONE_LABEL)
            if zone:
                zones[node_name] = zone
        return zones

    def _write_slice(
        self,
        service: Obj,
        current: Obj | None,
        labels: dict[str, str],
        ports: list[dict[str, Any]] | None,
        endpoints: list[dict[str, Any]],
    ) -> None:
        if (
            current is not None
            and (current.get("endpoints") or []) == endpoints
            and labels_of(current) == labels
            and current.get("ports") == ports
        ):
            return
        now = format_time(self._client.clock.now())
        if current is None:
            md = meta(service)
            current = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": f"{md['name']}-",
                    "namespace": md["namespace"],
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": md["name"],
                            "uid": md["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "addressType": "IPv4",
            }
        old_md = meta(current)
        annotations = {**(old_md.get("annotations") or {}), TRIGGER_TIME: now}
        updated = {
            **current,
            "metadata": {**old_md, "labels": labels, "annotations": annotations},
            "endpoints": endpoints,
        }
        if ports is None:
            updated.pop("ports", None)
        else:
            updated["ports"] = ports
        if "resourceVersion" in old_md:
            self._client.update(updated, handoff=True)
        else:
            self._client.create(updated, handoff=True)
