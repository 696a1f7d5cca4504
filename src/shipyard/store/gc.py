"""Deletion: finalizers, ownerReference cascading and namespace termination, in one transaction.

Kubernetes splits this between the API server (finalizers, ``deletionTimestamp``) and two
controllers (the garbage collector and the namespace controller) that converge over time.
Shipyard does the same work synchronously inside the write that triggers it, so a simulation
is deterministic, and every change of one operation commits atomically: a :class:`Txn` collects
the changes over an overlay of the backend and the store commits them as one batch, or none.

Reproduced behaviour:

- An object with finalizers is not removed: it gets ``deletionTimestamp`` (and
  ``deletionGracePeriodSeconds: 0``, generation + 1) and is removed by the write that empties
  its finalizers.
- **Background** (the default): the owner goes now; then each dependent (found by
  ``ownerReferences[].uid``) is deleted in the background too, unless another owner of it still
  exists — then only the reference to the removed owner is dropped (the garbage collector's
  "solid owner" rule).
- **Foreground**: the owner gets ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer, its dependents are deleted (in the foreground, recursively), and the owner is
  removed once no dependent with ``blockOwnerDeletion: true`` remains — at once, or later when
  the last blocking dependent's own finalizers are removed. In an ownership cycle, a dependent
  that is itself waiting for its dependents has its references made non-blocking, as the
  garbage collector does, so the cycle cannot wait for itself.
- **Orphan**: dependents lose their ownerReference to the owner, then the owner is deleted.
- **Namespaces**: deleting one sets ``status.phase: Terminating`` and ``deletionTimestamp``,
  deletes everything in it (background), and removes the namespace when it is empty and has
  no finalizers left.

Unlike the real garbage collector, an object created with an ownerReference to an owner that
does not exist is left alone (the real one deletes it eventually).
"""

from __future__ import annotations

import functools
from typing import Any

from shipyard.core.clock import format_time, parse_time
from shipyard.core.objects import Obj, ObjectKey, key_of, meta
from shipyard.store.backends import ADDED, DELETED, MODIFIED, Backend, Change
from shipyard.store.watch import stamped

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "FOREGROUND_FINALIZER",
    "ORPHAN",
    "PROPAGATION_POLICIES",
    "Collector",
    "OwnerIndex",
    "Txn",
    "finalizers",
    "is_terminating",
    "owner_refs",
    "update_cascades",
]

BACKGROUND = "Background"
FOREGROUND = "Foreground"
ORPHAN = "Orphan"
PROPAGATION_POLICIES = (BACKGROUND, FOREGROUND, ORPHAN)
FOREGROUND_FINALIZER = "foregroundDeletion"


def owner_refs(obj: Obj) -> list[dict[str, Any]]:
    refs = meta(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def _refs_changed(old: Obj, new: Obj) -> bool:
    before, after = meta(old).get("ownerReferences"), meta(new).get("ownerReferences")
    return before is not after and owner_refs(old) != owner_refs(new)


def update_cascades(new: Obj, old: Obj) -> bool:
    """Whether an update needs :meth:`Collector.update` (more than the one change it is):
    the object is being deleted (it may go now), or its ownerReferences changed (an owner
    waiting in the foreground may be free)."""
    return is_terminating(new) or _refs_changed(old, new)


def finalizers(obj: Obj) -> list[str]:
    value = meta(obj).get("finalizers")
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def is_terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def is_namespace(key: ObjectKey) -> bool:
    return key.api_version == "v1" and key.kind == "Namespace"


@functools.lru_cache(maxsize=4096)
def namespace_key(name: str) -> ObjectKey:
    return ObjectKey("v1", "Namespace", "", name)


def is_graceful_pod(obj: Obj) -> bool:
    """A pod bound to a node and not finished: its kubelet must stop it before it goes."""
    if obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
        return False
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return bool(spec.get("nodeName")) and status.get("phase") not in ("Succeeded", "Failed")


def pod_grace(pod: Obj, requested: int | None) -> int:
    """The grace period a delete gives a pod: the request's, else the pod's own (30 s)."""
    if requested is not None:
        return max(0, int(requested))
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return max(0, int(value)) if isinstance(value, int) else 30


def _grace_left(pod: Obj) -> int:
    value = meta(pod).get("deletionGracePeriodSeconds")
    return int(value) if isinstance(value, int) else 0


def _refers_to(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in owner_refs(obj))


def _with_meta(obj: Obj, **changes: Any) -> Obj:
    """A new version of ``obj`` with metadata fields set (None removes one)."""
    md = {**meta(obj)}
    for name, value in changes.items():
        if value is None:
            md.pop(name, None)
        else:
            md[name] = value
    return {**obj, "metadata": md}


class OwnerIndex:
    """uid -> object key, and owner uid -> dependents, over the committed objects."""

    def __init__(self) -> None:
        self._keys: dict[str, ObjectKey] = {}
        self._dependents: dict[str, set[ObjectKey]] = {}

    def add(self, obj: Obj, key: ObjectKey | None = None) -> None:
        if key is None:
            key = key_of(obj)
        md = meta(obj)
        uid = md.get("uid")
        if uid:
            self._keys[str(uid)] = key
        if md.get("ownerReferences"):
            self._add_refs(obj, key)

    def apply(self, change: Change) -> None:
        if change.type == ADDED:
            self.add(change.object, change.key)
        elif change.type == MODIFIED and change.old is not None:
            if _refs_changed(change.old, change.object):
                self._drop_refs(change.old, change.key)
                self._add_refs(change.object, change.key)
        elif change.type == DELETED:
            if self._keys.get(uid_of(change.object)) == change.key:
                del self._keys[uid_of(change.object)]
            for obj in (change.old, change.object):
                if obj is not None:
                    self._drop_refs(obj, change.key)

    def key_of_uid(self, uid: str) -> ObjectKey | None:
        return self._keys.get(uid)

    def dependents(self, uid: str) -> list[ObjectKey]:
        """Keys of objects that referenced ``uid`` when committed, in key order."""
        return sorted(self._dependents.get(uid, ()))

    def _add_refs(self, obj: Obj, key: ObjectKey) -> None:
        for ref in owner_refs(obj):
            uid = ref.get("uid")
            if isinstance(uid, str) and uid:
                members = self._dependents.get(uid)
                if members is None:
                    self._dependents[uid] = {key}
                else:
                    members.add(key)

    def _drop_refs(self, obj: Obj, key: ObjectKey) -> None:
        for ref in owner_refs(obj):
            uid = ref.get("uid")
            members = self._dependents.get(uid) if isinstance(uid, str) else None
            if members is not None:
                members.discard(key)
                if not members:
                    del self._dependents[str(uid)]


class Txn:
    """The changes of one operation, over an overlay of the backend; committed by the store.

    ``put`` and ``remove`` assign consecutive resourceVersions. Objects given to ``put`` must be
    new dicts whose ``metadata`` is not shared with a committed object: the resourceVersion is
    written into it.
    """

    def __init__(self, backend: Backend, owners: OwnerIndex, next_rv: int, now: str) -> None:
        self._backend = backend
        self._owners = owners
        self._next_rv = next_rv
        self.now = now
        self.changes: list[Change] = []
        self._overlay: dict[ObjectKey, Obj | None] = {}
        self._removed: dict[ObjectKey, Obj] = {}
        self._ns_delta: dict[str, int] = {}

    def get(self, key: ObjectKey) -> Obj | None:
        if key in self._overlay:
            return self._overlay[key]
        return self._backend.get(key)

    def removed(self, key: ObjectKey) -> Obj | None:
        """The final state of an object removed by this transaction."""
        return self._removed.get(key)

    def put(self, obj: Obj, key: ObjectKey | None = None) -> Obj:
        if key is None:
            key = key_of(obj)
        old = self.get(key)
        rv = self._take_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self.changes.append(Change(MODIFIED if old is not None else ADDED, key, obj, old, rv))
        self._overlay[key] = obj
        if old is None:
            self._count(key, +1)
        return obj

    def remove(self, obj: Obj) -> Obj:
        """Remove the object at ``obj``'s key; ``obj`` is its final content."""
        key = key_of(obj)
        rv = self._take_rv()
        final = stamped(obj, rv)
        self.changes.append(Change(DELETED, key, final, self.get(key), rv))
        self._overlay[key] = None
        self._removed[key] = final
        self._count(key, -1)
        return final

    def by_uid(self, uid: str) -> Obj | None:
        key = self._owners.key_of_uid(uid)
        obj = self.get(key) if key is not None else None
        return obj if obj is not None and uid_of(obj) == uid else None

    def dependents(self, uid: str) -> list[Obj]:
        """Current objects with an ownerReference to ``uid``, in key order."""
        found = (self.get(k) for k in self._owners.dependents(uid))
        return [o for o in found if o is not None and _refers_to(o, uid)]

    def in_namespace(self, namespace: str) -> list[Obj]:
        found = (self.get(key_of(o)) for o in self._backend.in_namespace(namespace))
        return [o for o in found if o is not None]

    def count_in_namespace(self, namespace: str) -> int:
        return self._backend.count_in_namespace(namespace) + self._ns_delta.get(namespace, 0)

    @property
    def last_rv(self) -> int:
        return self._next_rv - 1

    def _take_rv(self) -> int:
        rv = self._next_rv
        self._next_rv += 1
        return rv

    def _count(self, key: ObjectKey, delta: int) -> None:
        if key.namespace:
            self._ns_delta[key.namespace] = self._ns_delta.get(key.namespace, 0) + delta


class Collector:
    """Kubernetes deletion semantics, applied to one :class:`Txn`."""

    def __init__(self, txn: Txn) -> None:
        self.txn = txn

    def delete(self, obj: Obj, policy: str, grace: int | None = None) -> Obj:
        """Delete ``obj``; returns its final state, or its state now marked for deletion.

        ``grace`` is the request's gracePeriodSeconds (None: the pod's own default).
        """
        key = key_of(obj)
        if is_graceful_pod(obj):
            seconds = pod_grace(obj, grace)
            if seconds > 0:
                return self._start_graceful(obj, seconds)
            if is_terminating(obj):  # the kubelet's final delete, or a forced one
                obj = _with_meta(obj, deletionGracePeriodSeconds=0)
                if not finalizers(obj):
                    return self._remove(obj)
                obj = self.txn.put(obj)
        if policy == ORPHAN:
            self._orphan(obj)
            obj = self.txn.get(key) or obj  # it may have been its own dependent
        cascading = FOREGROUND_FINALIZER in finalizers(obj)  # already (an ownership cycle)
        if policy == FOREGROUND and not cascading and self.txn.dependents(uid_of(obj)):
            return self._foreground(obj)
        if not (finalizers(obj) or is_namespace(key) or is_terminating(obj)):
            return self._remove(obj)
        marked = self._mark(obj)
        if is_namespace(key):
            self._delete_contents(marked)
        return self._finish(key)

    def update(self, new: Obj, old: Obj) -> Obj:
        """Commit an update; an object being deleted goes once its last finalizer does."""
        if is_terminating(new) and not self._held(new):
            return self._remove(new)
        self.txn.put(new)
        if _refs_changed(old, new):
            self._recheck_owners(old)
        return new

    def _foreground(self, obj: Obj) -> Obj:
        key, uid = key_of(obj), uid_of(obj)
        owner = self._mark(obj, FOREGROUND_FINALIZER)
        for dependent in self.txn.dependents(uid):
            current = self.txn.get(key_of(dependent))
            if current is None or not _refers_to(current, uid):
                continue
            if self._has_solid_owner(current, uid):
                self._detach(current, uid)
                continue
            if FOREGROUND_FINALIZER in finalizers(current):
                current = self._unblock(current)  # a cycle: both would wait for each other
            self.delete(current, FOREGROUND)
        if is_namespace(key):
            self._delete_contents(owner)
        return self._finish(key)

    def _unblock(self, dependent: Obj) -> Obj:
        """Make a dependent's ownerReferences non-blocking (the garbage collector's cycle rule)."""
        refs = [{**r, "blockOwnerDeletion": False} for r in owner_refs(dependent)]
        return self.txn.put(_with_meta(dependent, ownerReferences=refs))

    def _mark(self, obj: Obj, finalizer: str | None = None) -> Obj:
        """Set deletionTimestamp (once) and add a finalizer; returns the current version."""
        fins = finalizers(obj)
        add = finalizer is not None and finalizer not in fins
        if is_terminating(obj) and not add:
            return obj
        changes: dict[str, Any] = {}
        if add:
            changes["finalizers"] = [*fins, finalizer]
        if not is_terminating(obj):
            changes["deletionTimestamp"] = self.txn.now
            changes["deletionGracePeriodSeconds"] = 0
            generation = meta(obj).get("generation")
            if isinstance(generation, int) and generation > 0:
                changes["generation"] = generation + 1
        marked = _with_meta(obj, **changes)
        if is_namespace(key_of(obj)):
            status = obj.get("status")
            marked["status"] = {**(status if isinstance(status, dict) else {})}
            marked["status"]["phase"] = "Terminating"
        return self.txn.put(marked)

    def _finish(self, key: ObjectKey) -> Obj:
        """Remove a terminating object if nothing holds it any more; returns its state."""
        obj = self.txn.get(key)
        if obj is None:
            removed = self.txn.removed(key)
            if removed is None:
                raise LookupError(f"{key} is neither stored nor removed by this transaction")
            return removed
        if not is_terminating(obj):
            return obj
        changed = False
        if FOREGROUND_FINALIZER in finalizers(obj) and not self._blocked(obj):
            rest = [f for f in finalizers(obj) if f != FOREGROUND_FINALIZER]
            obj = _with_meta(obj, finalizers=rest or None)
            changed = True
        if not self._held(obj):
            return self._remove(obj)
        return self.txn.put(obj) if changed else obj

    def _start_graceful(self, pod: Obj, seconds: int) -> Obj:
        """Mark a running pod for graceful deletion; its kubelet stops it and deletes it again."""
        if is_terminating(pod):
            return pod  # already terminating; Shipyard does not shorten a grace period
        deadline = format_time(parse_time(self.txn.now) + seconds)
        generation = meta(pod).get("generation")
        changes: dict[str, Any] = {
            "deletionTimestamp": deadline,
            "deletionGracePeriodSeconds": seconds,
        }
        if isinstance(generation, int) and generation > 0:
            changes["generation"] = generation + 1
        return self.txn.put(_with_meta(pod, **changes))

    def _held(self, obj: Obj) -> bool:
        if finalizers(obj) or (is_graceful_pod(obj) and _grace_left(obj) > 0):
            return True
        key = key_of(obj)
        return is_namespace(key) and self.txn.count_in_namespace(key.name) > 0

    def _blocked(self, owner: Obj) -> bool:
        uid = uid_of(owner)
        return any(
            ref.get("uid") == uid and ref.get("blockOwnerDeletion") is True
            for dependent in self.txn.dependents(uid)
            for ref in owner_refs(dependent)
        )

    def _remove(self, obj: Obj) -> Obj:
        final = self.txn.remove(obj)
        self._collect_dependents(final)
        self._recheck_owners(final)
        namespace = key_of(final).namespace
        if namespace:
            ns = self.txn.get(namespace_key(namespace))
            if ns is not None and is_terminating(ns):
                self._finish(namespace_key(namespace))
        return final

    def _collect_dependents(self, owner: Obj) -> None:
        uid = uid_of(owner)
        for dependent in self.txn.dependents(uid):
            current = self.txn.get(key_of(dependent))
            if current is None or not _refers_to(current, uid):
                continue
            if self._has_solid_owner(current, uid):
                self._detach(current, uid)
            else:
                self.delete(current, BACKGROUND)

    def _recheck_owners(self, dependent: Obj) -> None:
        """Owners waiting in the foreground may be free once a dependent goes or lets go."""
        for ref in owner_refs(dependent):
            owner = self.txn.by_uid(str(ref.get("uid") or ""))
            if owner is None or not is_terminating(owner):
                continue
            if FOREGROUND_FINALIZER in finalizers(owner):
                self._finish(key_of(owner))

    def _has_solid_owner(self, dependent: Obj, except_uid: str) -> bool:
        """Does an owner other than ``except_uid`` exist that is not itself going first?"""
        for ref in owner_refs(dependent):
            uid = str(ref.get("uid") or "")
            if uid == except_uid:
                continue
            owner = self.txn.by_uid(uid)
            waiting = owner is not None and FOREGROUND_FINALIZER in finalizers(owner)
            if owner is not None and not (is_terminating(owner) and waiting):
                return True
        return False

    def _detach(self, dependent: Obj, uid: str) -> None:
        refs = [r for r in owner_refs(dependent) if r.get("uid") != uid]
        self.txn.put(_with_meta(dependent, ownerReferences=refs or None))

    def _orphan(self, owner: Obj) -> None:
        uid = uid_of(owner)
        for dependent in self.txn.dependents(uid):
            self._detach(dependent, uid)

    def _delete_contents(self, namespace: Obj) -> None:
        for obj in self.txn.in_namespace(key_of(namespace).name):
            current = self.txn.get(key_of(obj))
            if current is not None and not is_terminating(current):
                self.delete(current, BACKGROUND)
