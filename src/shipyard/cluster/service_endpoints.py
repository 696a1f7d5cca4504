"""What a Service's Endpoints and EndpointSlices hold, worked out from its pods.

The part of Kubernetes' endpoints and EndpointSlice controllers (``pkg/controller/endpoint``,
``pkg/controller/endpointslice``) that decides, for one Service and its selected pods, which
addresses and ports they publish; :class:`~shipyard.cluster.services.EndpointsController`
writes the result. Nothing here reads or writes the API:

- **Which pods** (:func:`should_be_in_endpoints`, ``ShouldPodBeInEndpoints(pod,
  includeTerminating)``): a pod is included when it is not terminal, has a ``podIP`` and is not
  terminating; Endpoints include terminating pods only when the Service publishes not-ready
  addresses (``includeTerminating=publishNotReadyAddresses``), EndpointSlices always.
- **Which ports** (:func:`find_port`, ``FindPort``): each Service port is resolved against the
  pod: a numeric ``targetPort`` as is, a named one looked up among the containers' (and
  sidecars') ports with the same protocol; a pod where it cannot be resolved is left out of
  that port (:func:`pod_ports`).
- **Endpoints** (:func:`endpoint_subsets`): a pod goes to ``addresses`` when Ready (or the
  Service publishes not-ready addresses) and to ``notReadyAddresses`` otherwise; addresses
  with the same ports are packed into one subset (``RepackSubsets``), subsets in the order of
  their ports, addresses by IP (then pod uid). A pod on which no port of the Service resolves
  is left out; a Service without ports lists its pods only when it is headless.
- **EndpointSlices** (:func:`slice_endpoint`, :func:`slice_groups`): endpoints grouped by
  their set of resolved ports, sorted by address. Terminating pods stay, with ``conditions:
  {ready: false, serving: <Ready>, terminating: true}`` — the "terminating endpoints"
  kube-proxy falls back to while a pod drains; ``ready`` is ``serving and not terminating``
  unless the Service publishes not-ready addresses, in which case everything is ready. No
  endpoints at all is one empty group: the placeholder slice.

Both carry the pod's ``hostname`` when its ``subdomain`` is the Service, its ``nodeName`` and a
``targetRef``; a slice endpoint also the ``zone`` of its node.

This runs for every selected pod at every reconcile of a Service, so :class:`Interned`
remembers what each stored pod gives a stored Service spec (neither is ever changed in place)
and the ports resolved per pod spec, and hands out an equal address or endpoint built again as
the very same object, which the store then sees unchanged by identity. Without it (``interned``
left out) the same endpoints are built afresh.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.podutil import is_ready, is_terminal, is_terminating
from shipyard.core.objects import IdentityCache, labels_of, meta

__all__ = [
    "Interned",
    "PortKey",
    "endpoint_facts",
    "endpoint_subsets",
    "find_port",
    "is_headless",
    "pod_ports",
    "ports_key",
    "should_be_in_endpoints",
    "slice_endpoint",
    "slice_groups",
]

PortKey = tuple[tuple[str, int, str, str], ...]


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


def ports_key(ports: Iterable[Mapping[str, Any]] | None) -> PortKey | None:
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
    return ports, ports_key(ports) or ()


def _sorted_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(ports, key=lambda p: ports_key([p]) or ())


def endpoint_facts(pod: Mapping[str, Any]) -> tuple[Any, ...]:
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


def is_headless(service: Mapping[str, Any]) -> bool:
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
    elif not is_headless(service):
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


def slice_groups(
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
