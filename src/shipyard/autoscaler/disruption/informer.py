"""The disruption controller's read of the cluster, kept up to date from the change stream.

A pass every 10 s used to list every pod, node and NodeClaim and re-derive the pods per node
(6,500 pods at a night trough: a tenth of a simulated day went there). :class:`ClusterReader`
follows the kinds a pass reads through ``Client.add_listener``, the way an informer does:
changes are buffered (the latest version per object) and applied when a pass calls
:meth:`ClusterReader.read`, so a pass pays for what changed since the last one. Applying
them at the start of a pass also keeps a pass's state still while its own writes (taints,
conditions, events) arrive: they show at the next pass, as with a fresh read.

What a pass gets is exactly what :func:`~.state.read_state` would read at that moment: the
same stored objects (shared, read-only; a changed object is a new dict), every list in the
store's order (namespace, then name), and the derived parts — the non-terminal pods bound to
each node, the nodes by provider id — equal to what :class:`Snapshot` derives, because they
are re-derived for the objects that changed only (a pod's node before and after).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from shipyard.autoscaler.disruption.state import (
    KARPENTER,
    ClusterState,
    PoolCache,
    cluster_state,
    has_topology_rules,
)
from shipyard.autoscaler.provisioning.capacity import Snapshot
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.changes import ChangeBuffer
from shipyard.cluster.client import Client
from shipyard.cluster.podutil import is_terminal
from shipyard.core.objects import Obj, meta

__all__ = ["ClusterReader"]

POD = ("v1", "Pod")
NODE = ("v1", "Node")
CLAIM = (KARPENTER, "NodeClaim")
POOL = (KARPENTER, "NodePool")
DAEMONSET = ("apps/v1", "DaemonSet")
NAMESPACE = ("v1", "Namespace")
PDB = ("policy/v1", "PodDisruptionBudget")
KINDS = (POD, NODE, CLAIM, POOL, DAEMONSET, NAMESPACE, PDB)
DELETED = "DELETED"

Key = tuple[str, str]  # (namespace, name)
V = TypeVar("V")


def _key(obj: Obj) -> Key:
    md = meta(obj)
    return str(md.get("namespace") or ""), str(md.get("name"))


class _Table:
    """The objects of one kind in the store's order; a changed object replaces its entry in
    place, and the order is rebuilt only when objects come or go."""

    __slots__ = ("_items", "_keys", "_objs", "_positions", "version")

    def __init__(self) -> None:
        self._objs: dict[Key, Obj] = {}
        self._keys: list[Key] = []
        self._items: list[Obj] = []
        self._positions: dict[Key, int] | None = {}
        self.version = 0  # counts changes (derived views are rebuilt when it moved)

    def __len__(self) -> int:
        return len(self._objs)

    def get(self, key: Key) -> Obj | None:
        return self._objs.get(key)

    def put(self, key: Key, obj: Obj) -> None:
        self.version += 1
        positions = self._positions
        if key in self._objs:
            self._objs[key] = obj
            if positions is not None:
                self._items[positions[key]] = obj
            return
        self._objs[key] = obj
        if positions is not None and (not self._keys or key > self._keys[-1]):
            positions[key] = len(self._keys)  # in order: appended (a name generator's way)
            self._keys.append(key)
            self._items.append(obj)
        else:
            self._positions = None

    def remove(self, key: Key) -> None:
        if self._objs.pop(key, None) is None:
            return
        self.version += 1
        positions = self._positions
        if positions is not None and self._keys and self._keys[-1] == key:
            del positions[key]
            self._keys.pop()
            self._items.pop()
        else:
            self._positions = None

    def ordered(self) -> list[Obj]:
        """The objects by (namespace, name): the table's own list, not to be changed."""
        if self._positions is None:
            self._keys = sorted(self._objs)
            self._items = [self._objs[k] for k in self._keys]
            self._positions = {k: i for i, k in enumerate(self._keys)}
        return self._items


class ClusterReader:
    """Everything a disruption pass reads, synced on demand (see the module docstring)."""

    def __init__(
        self, client: Client, cloud: CloudProvider, *, pools: PoolCache | None = None
    ) -> None:
        self._client = client
        self._cloud = cloud
        self._pool_cache = pools if pools is not None else PoolCache()
        self._tables = {kind: _Table() for kind in KINDS}
        self._changes = ChangeBuffer(client, KINDS)
        self._pod_node: dict[Key, str] = {}  # a bound, non-terminal pod -> its node
        self._bound: dict[str, _Table] = {}  # node name -> its bound pods
        self._bound_lists: dict[str, list[Obj]] = {}  # node name -> a list of them, kept
        self._dirty_nodes: set[str] = set()
        self._with_topology: set[Key] = set()  # pods with topology rules
        self._views: dict[tuple[str, str], tuple[int, object]] = {}
        for kind, obj in self._changes.initial():
            self._apply("ADDED", kind, obj)

    def close(self) -> None:
        self._changes.close()

    def sync(self) -> None:
        """Apply every change received since the last sync."""
        for type_, obj in self._changes.take():
            kind = (str(obj.get("apiVersion")), str(obj.get("kind")))
            if kind in self._tables:
                self._apply(type_, kind, obj)

    def _apply(self, type_: str, kind: tuple[str, str], obj: Obj) -> None:
        key = _key(obj)
        table = self._tables[kind]
        if type_ == DELETED:
            table.remove(key)
        else:
            table.put(key, obj)
        if kind == POD:
            self._bind(key, None if type_ == DELETED else obj)
            if type_ != DELETED and has_topology_rules(obj):
                self._with_topology.add(key)
            else:
                self._with_topology.discard(key)

    def _bind(self, key: Key, pod: Obj | None) -> None:
        """Keep the pod's entry in the bound pods of its node (before and after)."""
        before = self._pod_node.get(key)
        node = ""
        if pod is not None and not is_terminal(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
        if before and before != node:
            del self._pod_node[key]
            table = self._bound[before]
            table.remove(key)
            if not len(table):
                del self._bound[before]
            self._dirty_nodes.add(before)
        if node and pod is not None:
            self._pod_node[key] = node
            table = self._bound.get(node) or self._bound.setdefault(node, _Table())
            table.put(key, pod)
            self._dirty_nodes.add(node)

    # -- the pass's state -------------------------------------------------------------------

    def read(self, now: float) -> ClusterState:
        """The cluster as :func:`~.state.read_state` would read it now."""
        self.sync()
        snap = Snapshot(
            pods=list(self._tables[POD].ordered()),
            nodes=self._named(NODE),
            claims=self._named(CLAIM),
            pools=list(self._tables[POOL].ordered()),
            daemonsets=list(self._tables[DAEMONSET].ordered()),
            namespaces=self._namespaces(),
            bound=self._bound_pods(),
            by_provider_id=self._provider_ids(),
            derive=False,
        )
        pdbs = list(self._tables[PDB].ordered())
        return cluster_state(
            self._client,
            self._cloud,
            now,
            snap,
            pdbs,
            pools=self._pool_cache,
            topology=bool(self._with_topology),
        )

    def _bound_pods(self) -> dict[str, list[Obj]]:
        for node in self._dirty_nodes:
            table = self._bound.get(node)
            if table is None:
                self._bound_lists.pop(node, None)
            else:
                self._bound_lists[node] = list(table.ordered())
        self._dirty_nodes.clear()
        return dict(self._bound_lists)  # looked up by node only: its order does not matter

    def _view(
        self, name: str, kind: tuple[str, str], build: Callable[[], dict[str, V]]
    ) -> dict[str, V]:
        """A copy of a view of one kind's table (rebuilt only when the table changed)."""
        version = self._tables[kind].version
        found = self._views.get((name, kind[1]))
        if found is None or found[0] != version:
            found = self._views[(name, kind[1])] = (version, build())
        return dict(cast("dict[str, V]", found[1]))

    def _named(self, kind: tuple[str, str]) -> dict[str, Obj]:
        def build() -> dict[str, Obj]:
            return {str(meta(o)["name"]): o for o in self._tables[kind].ordered()}

        return self._view("named", kind, build)

    def _namespaces(self) -> dict[str, Mapping[str, str]]:
        def build() -> dict[str, Mapping[str, str]]:
            return {
                str(meta(n)["name"]): dict(meta(n).get("labels") or {})
                for n in self._tables[NAMESPACE].ordered()
            }

        return self._view("labels", NAMESPACE, build)

    def _provider_ids(self) -> dict[str, Obj]:
        def build() -> dict[str, Obj]:
            out: dict[str, Obj] = {}
            for node in self._tables[NODE].ordered():
                provider_id = (node.get("spec") or {}).get("providerID")
                if provider_id:
                    out[str(provider_id)] = node
            return out

        return self._view("providers", NODE, build)
