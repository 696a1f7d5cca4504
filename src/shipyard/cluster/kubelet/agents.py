"""``KubeletManager``: a kubelet for every Node applied to the embedded cluster.

In Kubernetes each machine runs its own kubelet, which registers a Node. In the embedded
cluster (and in simulations, where Karpenter's simulated cloud "launches" instances by
creating Node objects) the direction is reversed: a Node object that appears gets a
:class:`~.kubelet.Kubelet`, which makes it Ready and runs the pods bound to it on the shared
:class:`~.runtime.ContainerRuntime`. A Node annotated ``shipyard.dev/kubelet: external`` is
left alone (a real kubelet, or a test that posts statuses itself).

The manager is one controller, ``cluster.kubelet-manager``, watching Nodes and Pods:

- A Node event starts the node's kubelet (giving it the next free ``127.x.y.z`` address as
  ``InternalIP`` unless the Node has one) or, when the Node is gone, stops it. Later events
  just hand the kubelet the new object; the kubelet decides on its own timer whether its
  status needs posting.
- A Pod key is reconciled by the kubelet of ``spec.nodeName``: it syncs the pod's worker
  and the reconcile asks to be requeued when the worker next wants a look (a probe period, a
  container exit, a back-off ending). A version the kubelet already synced (or wrote) is not
  synced again before that time, so a status write does not come back as work. Pods are read
  from the change stream (an informer cache of shared, read-only objects), not copied out of
  the store per reconcile. A pod that is gone (or whose uid changed) is forgotten by the
  kubelet that had it.
- When a kubelet starts or comes back (``revive``), the Node event of its registration maps
  to every pod bound to the node as well, so they are all synced — the kubelet's initial
  list.

- Before its first kubelet starts, the manager hands the runtime every pod bound to one of
  its nodes (``ContainerRuntime.adopt``): a new session over a persisted cluster finds its
  running pods running (see :mod:`.pods`, "Taking over"), and adopting them all before any
  pod is started keeps a new sandbox from being given an IP an adopted one holds.

``kill(node)`` / ``revive(node)`` simulate a dead node (see :meth:`.Kubelet.kill`);
``close()`` unsubscribes and stops every heartbeat (with ``Manager.stop``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shipyard.cluster.client import Client
from shipyard.cluster.events import EventRecorder
from shipyard.cluster.kubelet.kubelet import Kubelet
from shipyard.cluster.kubelet.nodestatus import DEFAULT_CAPACITY, NodeFacts
from shipyard.cluster.kubelet.runtime import ContainerRuntime
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj, ObjectKey, key_of, meta
from shipyard.store.backends import DELETED
from shipyard.store.watch import WatchEvent

__all__ = ["EXTERNAL", "KUBELET_ANNOTATION", "KubeletManager", "loopback_address"]

KUBELET_ANNOTATION = "shipyard.dev/kubelet"
EXTERNAL = "external"
RecorderFactory = Callable[[str], EventRecorder]


def loopback_address(index: int) -> str:
    """The ``index``-th node address: 127.1.1.1, 127.1.1.2, … (every octet in 1..254)."""
    rest, d = divmod(index, 254)
    rest, c = divmod(rest, 254)
    b = rest % 254
    return f"127.{b + 1}.{c + 1}.{d + 1}"


class KubeletManager:
    """Gives every Node a kubelet (see the module docstring)."""

    name = "cluster.kubelet-manager"

    def __init__(
        self,
        client: Client,
        runtime: ContainerRuntime,
        *,
        recorder_factory: RecorderFactory | None = None,
        heartbeat_seconds: float = 10.0,
        status_report_seconds: float = 300.0,
        kubelet_version: str = "v1.31.0",
        default_capacity: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._runtime = runtime
        self._recorders = recorder_factory or (
            lambda host: EventRecorder(client, "kubelet", host=host)
        )
        self._heartbeat = heartbeat_seconds
        self._report = status_report_seconds
        self._version = kubelet_version
        self._capacity = dict(default_capacity or DEFAULT_CAPACITY)
        self._kubelets: dict[str, Kubelet] = {}
        self._pod_nodes: dict[ObjectKey, str] = {}
        self._addresses = 0
        self._took_over = False
        # Bound pods as last seen in the change stream (shared, read-only objects): the
        # kubelet's informer, so a probe-driven reconcile does not copy the pod out of the store.
        self._pods: dict[ObjectKey, Obj] = {}
        self._unsubscribe = client.add_listener(self._on_change, kinds=[("v1", "Pod")])

    def close(self) -> None:
        """Stop following the change stream and stop every kubelet's heartbeat."""
        self._unsubscribe()
        for kubelet in self._kubelets.values():
            kubelet.kill()

    def _on_change(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
            return
        if event.type == DELETED or not (obj.get("spec") or {}).get("nodeName"):
            self._pods.pop(key_of(obj), None)
        else:
            self._pods[key_of(obj)] = obj

    def watches(self) -> list[Watches]:
        return [Watches("v1", "Node", self._node_keys), Watches("v1", "Pod", self._pod_keys)]

    # -- the test and simulation handles --------------------------------------------------

    def kubelet(self, node_name: str) -> Kubelet | None:
        return self._kubelets.get(node_name)

    def kill(self, node_name: str) -> None:
        """The node's kubelet stops heart-beating and syncing (a dead node)."""
        self._require(node_name).kill()

    def revive(self, node_name: str) -> None:
        """The node's kubelet comes back."""
        self._require(node_name).revive()

    def _require(self, node_name: str) -> Kubelet:
        found = self._kubelets.get(node_name)
        if found is None:
            raise NotFoundError(f'node "{node_name}" has no kubelet')
        return found

    # -- reconcile ------------------------------------------------------------------------------

    def _node_keys(self, node: Obj) -> tuple[ObjectKey, ...]:
        """The node, and every pod bound to it when its kubelet (re)starts."""
        key = key_of(node)
        kubelet = self._kubelets.get(key.name)
        if kubelet is not None and not kubelet.take_resync():
            return (key,)
        if kubelet is None and _external(node):
            return (key,)
        pods = self._client.list("v1", "Pod", field_selector=f"spec.nodeName={key.name}")
        return (key, *(key_of(p) for p in pods.items))

    def _pod_keys(self, pod: Obj) -> tuple[ObjectKey, ...]:
        key = key_of(pod)
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node:
            self._pod_nodes.setdefault(key, node)  # the reconcile tells an old node to forget
        return (key,) if node or key in self._pod_nodes else ()

    def reconcile(self, key: ObjectKey) -> Result | None:
        if key.kind == "Node":
            self._reconcile_node(key.name)
            return None
        return self._reconcile_pod(key)

    def _reconcile_node(self, name: str) -> None:
        try:
            node = self._client.get("v1", "Node", name, copy=False)  # shared, read-only
        except NotFoundError:
            node = None
        kubelet = self._kubelets.get(name)
        if node is None or _external(node):
            if kubelet is not None:
                kubelet.stop()
                del self._kubelets[name]
            return
        if kubelet is None:
            self._take_over_pods()
            kubelet = self._new_kubelet(node)
            self._kubelets[name] = kubelet
            kubelet.start(node)
        else:
            kubelet.observe_node(node)

    def _take_over_pods(self) -> None:
        """Once, before the first kubelet starts: the runtime adopts the pods of our nodes."""
        if self._took_over:
            return
        ours = {
            str(meta(n).get("name"))
            for n in self._client.list("v1", "Node").items
            if not _external(n)
        }
        for pod in self._client.list("v1", "Pod").items:
            if (pod.get("spec") or {}).get("nodeName") in ours:
                self._runtime.adopt(pod)
        self._took_over = True

    def _new_kubelet(self, node: Obj) -> Kubelet:
        name = str(meta(node).get("name"))
        facts = NodeFacts(
            internal_ip=_internal_ip(node) or self._next_address(),
            runtime_version=self._runtime.version,
            kubelet_version=self._version,
            default_capacity=self._capacity,
        )
        return Kubelet(
            self._client,
            name,
            self._runtime,
            facts=facts,
            recorder=self._recorders(name),
            heartbeat_seconds=self._heartbeat,
            status_report_seconds=self._report,
        )

    def _next_address(self) -> str:
        address = loopback_address(self._addresses)
        self._addresses += 1
        return address

    def _cached_pod(self, key: ObjectKey) -> Obj | None:
        pod = self._pods.get(key)
        if pod is not None:
            return pod
        try:  # a pod from before this manager followed the stream
            return self._client.get("v1", "Pod", key.name, namespace=key.namespace)
        except NotFoundError:
            return None

    def _reconcile_pod(self, key: ObjectKey) -> Result | None:
        pod = self._cached_pod(key)
        node = str(((pod or {}).get("spec") or {}).get("nodeName") or "")
        before = self._pod_nodes.get(key)
        if before is not None and before != node:
            previous = self._kubelets.get(before)
            if previous is not None:
                previous.forget_pod(key)
        if pod is None or not node:
            self._pod_nodes.pop(key, None)
            return None
        self._pod_nodes[key] = node
        kubelet = self._kubelets.get(node)
        if kubelet is None or not kubelet.alive:
            return None
        if not kubelet.up_to_date(pod):
            kubelet.sync_pod(pod)
        wake = kubelet.wake_of(key)
        if wake is None:
            return None
        return Result(requeue_after=max(0.0, wake - self._client.clock.now()))


def _external(node: Obj) -> bool:
    return (meta(node).get("annotations") or {}).get(KUBELET_ANNOTATION) == EXTERNAL


def _internal_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return ""
