"""The baseline's view of the cluster, kept up to date from the change stream.

Building a scheduler snapshot of every node and pod on each 10-second scan would cost time in
proportion to the cluster (20,000 pods: a second per scan). :class:`ClusterCache` instead
follows Nodes, Pods, Namespaces and PriorityClasses through ``Client.add_listener``, the way an
informer does: changes are buffered (the latest version per object) and applied to one
:class:`~shipyard.cluster.scheduler.Snapshot` when a scan calls :meth:`ClusterCache.sync`, so
a scan pays only for what changed since the last one. Applying them lazily also keeps the
snapshot still while a scan's what-ifs (its undo log) are in flight: the scan's own writes
(taints, events) reach the snapshot at the next sync, after the what-ifs were reverted.

Besides the snapshot it keeps the Node objects by name and the pods the scheduler marked
unschedulable, parsed once per version (``pending``; see
:func:`~shipyard.autoscaler.provisioning.controller.is_provisionable`).
"""

from __future__ import annotations

from shipyard.autoscaler.provisioning.controller import is_provisionable
from shipyard.cluster.changes import ChangeBuffer
from shipyard.cluster.client import Client
from shipyard.cluster.scheduler import Snapshot
from shipyard.cluster.scheduler.podinfo import PodInfo, PodKey, PriorityClassInfo, pod_key
from shipyard.core.objects import Obj, meta

__all__ = ["ClusterCache"]

_KINDS = [
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "Pod"),
]
DELETED = "DELETED"


class ClusterCache:
    """Nodes, pods and a scheduler snapshot of them, synced on demand (module docstring)."""

    def __init__(self, client: Client) -> None:
        self.snapshot = Snapshot()
        self.nodes: dict[str, Obj] = {}
        self.pending: dict[PodKey, PodInfo] = {}  # unschedulable pods, parsed
        self._changes = ChangeBuffer(client, _KINDS)
        for _, obj in self._changes.initial():
            self._apply("ADDED", obj)

    def close(self) -> None:
        self._changes.close()

    def sync(self) -> None:
        """Apply every change received since the last sync."""
        for type_, obj in self._changes.take():
            self._apply(type_, obj)

    def _apply(self, type_: str, obj: Obj) -> None:
        kind = obj.get("kind")
        name = str(meta(obj).get("name"))
        if kind == "Pod":
            self._on_pod(type_, obj)
        elif kind == "Node":
            if type_ == DELETED:
                self.nodes.pop(name, None)
                self.snapshot.remove_node(name)
            else:
                self.nodes[name] = obj
                self.snapshot.set_node(obj)
        elif kind == "Namespace":
            if type_ == DELETED:
                self.snapshot.namespaces.pop(name, None)
            else:
                self.snapshot.namespaces[name] = meta(obj).get("labels") or {}
        elif kind == "PriorityClass":
            if type_ == DELETED:
                self.snapshot.remove_priority_class(name)
            else:
                self.snapshot.set_priority_class(PriorityClassInfo.from_object(obj))

    def _on_pod(self, type_: str, pod: Obj) -> None:
        key = pod_key(pod)
        if type_ == DELETED:
            self.pending.pop(key, None)
            self.snapshot.remove_pod(key)
            return
        bound = self.snapshot.pods.get(key)
        info = self.snapshot.pod_info(pod, bound or self.pending.get(key))
        if is_provisionable(pod):
            self.pending[key] = info
        else:
            self.pending.pop(key, None)
        if info.node_name and not info.terminal:
            self.snapshot.set_pod(info)
        elif bound is not None:
            self.snapshot.remove_pod(key)
