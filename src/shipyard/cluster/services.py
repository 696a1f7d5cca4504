"""Services: ClusterIP allocation, ``v1 Endpoints`` and ``discovery.k8s.io/v1 EndpointSlice``.

:class:`EndpointsController` (``cluster.endpoints``) does, for each Service, what three parts
of Kubernetes do; which pods and ports the Endpoints and EndpointSlices list, and how, is
worked out by :mod:`.service_endpoints`:

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
  an Endpoints object of the same name whose subsets are the selected pods' addresses,
  ready or not, packed by ports (:func:`~shipyard.cluster.service_endpoints.endpoint_subsets`).
  Labels: the Service's, plus ``endpoints.kubernetes.io/managed-by: endpoint-controller`` and
  ``service.kubernetes.io/headless`` for headless Services.
- **The EndpointSlice controller** (``pkg/controller/endpointslice``). Slices named
  ``<service>-<random>``, owned by the Service (so they go when it goes), labelled
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io``, ``addressType: IPv4``, one slice per distinct set of
  resolved ports and at most ``max_endpoints_per_slice`` (100) endpoints each
  (:func:`~shipyard.cluster.service_endpoints.slice_endpoint`, with the ``zone`` label of the
  pod's node). A Service with no endpoints keeps one empty placeholder slice.

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

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import WARNING, EventRecorder
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.service_endpoints import (
    Interned,
    PortKey,
    endpoint_facts,
    endpoint_subsets,
    is_headless,
    ports_key,
    slice_groups,
)
from shipyard.core.clock import format_time
from shipyard.core.errors import ConflictError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, key_of, labels_of, meta
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
        facts = endpoint_facts(pod)
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
        if is_headless(service):
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
            spare.setdefault(ports_key(current.get("ports")), []).append(current)
        labels = self._slice_labels(service)
        groups = slice_groups(service, pods, self._zones(pods), self._interned)
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
        if is_headless(service):
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
