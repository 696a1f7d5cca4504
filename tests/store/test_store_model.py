"""Random operation sequences: invariants of the store, and memory == SQLite, step by step.

Each example runs the same generated operations (creates with owners and finalizers, label
and status changes, adoptions that may close ownership cycles, finalizer removal, deletions
with every propagation policy, namespace deletion) against a memory store and a SQLite store,
and checks after every step that:

- both stores answer the same (results and errors) and hold the same objects;
- a watch opened at the start, applied to a replica, reproduces the store exactly;
- resourceVersions in the stream go up by exactly one per event;
- a non-terminating object only references owners that exist;
- an object marked for deletion is held by something (a finalizer, or namespace content).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import ShipyardError
from shipyard.core.objects import Obj, ObjectKey, key_of
from shipyard.store.backends import MemoryBackend, SqliteBackend
from shipyard.store.gc import finalizers, is_terminating, owner_refs
from shipyard.store.store import Store
from shipyard.store.watch import Watch
from tests.store.store_helpers import make_namespace, make_pod, make_replicaset, make_scheme

NAMESPACES = ["default", "shop"]
NAMES = ["a", "b", "c"]

names_st = st.sampled_from(NAMES)
ns_st = st.sampled_from(NAMESPACES)
kind_st = st.sampled_from(["Pod", "ReplicaSet"])
ops = st.one_of(
    st.tuples(
        st.just("create"), kind_st, ns_st, names_st, st.lists(names_st, max_size=2), st.booleans()
    ),
    st.tuples(st.just("label"), kind_st, ns_st, names_st, st.sampled_from(["x", "y"])),
    st.tuples(st.just("status"), kind_st, ns_st, names_st, st.sampled_from(["Running", "Done"])),
    st.tuples(st.just("release"), kind_st, ns_st, names_st),
    st.tuples(st.just("adopt"), kind_st, ns_st, names_st, st.lists(names_st, max_size=2)),
    st.tuples(
        st.just("delete"),
        kind_st,
        ns_st,
        names_st,
        st.sampled_from(["Background", "Foreground", "Orphan"]),
    ),
    st.tuples(st.just("delete-namespace"), ns_st),
    st.tuples(st.just("recreate-namespace"), ns_st),
)

API = {"Pod": "v1", "ReplicaSet": "apps/v1"}


def build(kind: str, ns: str, name: str, owners: list[Obj], held: bool) -> Obj:
    obj = make_pod(name, namespace=ns) if kind == "Pod" else make_replicaset(name, namespace=ns)
    md = obj["metadata"]
    md["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            "blockOwnerDeletion": i % 2 == 0,
        }
        for i, o in enumerate(owners)
    ]
    if held:
        md["finalizers"] = ["test/hold"]
    return obj


def apply(store: Store, op: tuple[Any, ...]) -> Any:
    """Run one operation; returns its result or the error's type and message."""
    try:
        return _apply(store, op)
    except ShipyardError as e:
        return (type(e).__name__, str(e))


def _apply(store: Store, op: tuple[Any, ...]) -> Any:
    verb = op[0]
    if verb == "delete-namespace":
        return store.delete("v1", "Namespace", op[1])
    if verb == "recreate-namespace":
        return store.create(make_namespace(op[1]))
    kind, ns, name = op[1], op[2], op[3]
    api = API[kind]
    if verb == "create":
        owners = existing_owners(store, ns, op[4], exclude=name)
        return store.create(build(kind, ns, name, owners, op[5]))
    if verb == "adopt":  # may close ownership cycles, even an object owning itself
        refs = build(kind, ns, name, existing_owners(store, ns, op[4]), False)["metadata"]
        patch = {"metadata": {"ownerReferences": refs["ownerReferences"]}}
        return store.patch(api, kind, name, patch, namespace=ns)
    if verb == "label":
        return store.patch(api, kind, name, {"metadata": {"labels": {"v": op[4]}}}, namespace=ns)
    if verb == "status":
        patch = {"status": {"phase": op[4]}}
        return store.patch(api, kind, name, patch, namespace=ns, subresource="status")
    if verb == "release":
        return store.patch(api, kind, name, {"metadata": {"finalizers": None}}, namespace=ns)
    return store.delete(api, kind, name, namespace=ns, propagation_policy=op[4])


def existing_owners(store: Store, ns: str, names: list[str], exclude: str = "") -> list[Obj]:
    rs = {o["metadata"]["name"]: o for o in store.list("apps/v1", "ReplicaSet", namespace=ns)}
    return [rs[n] for n in dict.fromkeys(names) if n in rs and n != exclude]


def everything(store: Store) -> list[Obj]:
    kinds = [("v1", "Namespace"), ("v1", "Pod"), ("apps/v1", "ReplicaSet")]
    return [o for api, kind in kinds for o in store.list(api, kind).items]


def replay(replica: dict[ObjectKey, Obj], watch: Watch, last_rv: int) -> int:
    for event in watch.poll():
        version = int(event.resource_version)
        assert version == last_rv + 1, "resourceVersions must go up by one per change"
        last_rv = version
        key = key_of(event.object)
        if event.type == "DELETED":
            del replica[key]
        else:
            replica[key] = event.object
    return last_rv


def check_invariants(objects: list[Obj]) -> None:
    uids = {o["metadata"]["uid"] for o in objects}
    namespaces_with_content = {o["metadata"].get("namespace") for o in objects}
    for obj in objects:
        if not is_terminating(obj):
            assert all(r["uid"] in uids for r in owner_refs(obj)), obj["metadata"]
        elif not finalizers(obj):
            assert obj["kind"] == "Namespace"
            assert obj["metadata"]["name"] in namespaces_with_content


@settings(max_examples=60)
@given(st.lists(ops, min_size=1, max_size=25))
def test_random_operations_keep_the_store_consistent(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory = Store(MemoryBackend(), make_scheme(), VirtualClock())
        sqlite = Store(SqliteBackend(Path(tmp) / "s.db"), make_scheme(), VirtualClock())
        for store in (memory, sqlite):
            for ns in NAMESPACES:
                store.create(make_namespace(ns))
        watch = memory.watch(resource_version="0")
        replica: dict[ObjectKey, Obj] = {}
        last_rv = replay(replica, watch, 0)

        for op in operations:
            assert apply(memory, op) == apply(sqlite, op), op
            objects = everything(memory)
            assert objects == everything(sqlite)
            last_rv = replay(replica, watch, last_rv)
            assert sorted(replica.values(), key=key_of) == sorted(objects, key=key_of)
            check_invariants(objects)
        sqlite.close()
