"""The versioned object store: Kubernetes API machinery over a pluggable backend.

:class:`Store` serves the kubectl verbs (``create``, ``get``, ``list``, ``update``,
``update_status``, ``patch``, ``delete``, ``watch``) for the kinds of a
:class:`~shipyard.store.scheme.Scheme`, reproducing what the API server does around etcd:

- **Admission.** Every write runs the kind's ``default(obj)`` then ``validate(obj, old)``; any
  problem fails the whole request with ``InvalidError('Pod "web" is invalid: <path>: ...')``
  before anything is written. Unknown kinds are a ``BadRequestError``.
- **Metadata.** ``uid`` and ``generateName`` suffixes come from a seeded ``random.Random`` (a
  simulation is reproducible); ``creationTimestamp`` from the injected clock; one global,
  monotonic ``resourceVersion`` counter, as etcd's revision, shown as a string.
  ``generation`` starts at 1 and grows only when something outside ``metadata`` (and
  ``status``, for kinds with a status subresource) changes, or when deletion starts.
  ``uid``, ``creationTimestamp``, ``deletionTimestamp`` and ``generation`` cannot be changed
  by a client; ``name`` and ``namespace`` are the object's key.
- **Optimistic concurrency.** An update carrying ``metadata.resourceVersion`` must carry the
  current one, else ``ConflictError('Operation cannot be fulfilled on pods "x": the object
  has been modified; ...')``; without one it is unconditional. An update that changes nothing
  is not written: no new resourceVersion and no event.
- **Status subresource.** For kinds with ``has_status``, ``update`` and ``patch`` keep the
  stored ``status``, and ``update_status`` / ``patch(subresource="status")`` change only it.
  ``create`` keeps the status it is given (a kubelet registers a Node with its status); a
  kind whose API server resets it on create does so in its defaulter.
- **Namespaces.** A namespaced object needs an existing namespace that is not terminating
  (``namespaces "x" not found``; ``unable to create new content in namespace x because it is
  being terminated``, a :class:`ForbiddenError`, HTTP 403) when the scheme serves
  ``v1 Namespace``. Writes and gets of a namespaced kind without a namespace use ``default``,
  as kubectl does; ``list`` and ``watch`` without one cover all namespaces.
- **Deletion.** Finalizers, ownerReference cascading (Background, Foreground, Orphan) and
  namespace termination, synchronously and atomically: see :mod:`shipyard.store.gc`.
- **Watch.** History, resume and ``GoneError``: see :mod:`shipyard.store.watch`.

Objects handed to the store are copied and objects handed back are copies, so no caller
shares a dict with the store. Stored objects are never changed in place (a new version
shares its unchanged parts with the old one: :mod:`shipyard.store.versions`, with the
preconditions and update candidates), so they can also be shared read-only: the object
inside a :class:`~shipyard.store.watch.WatchEvent` is, and so are the results of
``get``/``list`` with ``copy=False`` and writes with ``handoff=True`` (where the store also
keeps the caller's dict instead of copying it). Controllers use those, as an informer cache
is shared in client-go; they must treat such objects as read-only.

**Threads.** One re-entrant lock serialises writes (and guards reads of the indexes); each
write's changes are committed to the backend, indexed, recorded in the history and queued to
the watches before the lock is released. Listeners run after the lock is released, one event
at a time in resourceVersion order; a listener that writes to the store has its own events
delivered after the current one (not recursively). Nothing here reads the wall clock.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.core.clock import Clock, format_time
from shipyard.core.errors import (
    AlreadyExistsError,
    BadRequestError,
    FieldError,
    InvalidError,
    NotFoundError,
    PermanentError,
    ShipyardError,
)
from shipyard.core.objects import Obj, ObjectKey, json_copy, key_of, meta
from shipyard.core.selectors import (
    FieldSelector,
    LabelSelector,
)
from shipyard.store.backends import ADDED, DELETED, MODIFIED, Backend, Change, Objects
from shipyard.store.gc import (
    PROPAGATION_POLICIES,
    Collector,
    OwnerIndex,
    Txn,
    is_terminating,
    namespace_key,
    update_cascades,
)
from shipyard.store.patch import PatchType, apply_patch
from shipyard.store.scheme import KindInfo, Scheme
from shipyard.store.versions import (
    bound_pod,
    check_delete_preconditions,
    check_fingerprint,
    check_preconditions,
    finalizer_rules,
    fingerprint,
    metadata_shape,
    own,
    share_unchanged,
    spec_and_meta,
    spec_changed,
    status_only,
    with_rv,
)
from shipyard.store.watch import (
    EventHistory,
    FieldSel,
    Listeners,
    Selector,
    Watch,
    WatchEvent,
    WatchFilter,
    WatchHub,
    event_of,
)

__all__ = ["ForbiddenError", "ObjectList", "Store"]

log = logging.getLogger(__name__)

# Kubernetes' utilrand alphabet for generateName suffixes (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX = 5
_NAME_ATTEMPTS = 8
_COMPACT_EVERY = 1024
_EVERYTHING = WatchFilter()


class ForbiddenError(PermanentError):
    """The request is refused by policy (HTTP 403), e.g. content in a terminating namespace."""

    reason = "Forbidden"
    code = 403


@dataclass(frozen=True)
class ObjectList:
    """A list response: copies of the items by (namespace, name), and the store's version."""

    items: list[Obj]
    resource_version: str

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


Events = list[WatchEvent]
Warnings = list[str]


class Store:
    """Kubernetes-style object store. See the module docstring for the semantics."""

    def __init__(
        self,
        backend: Backend,
        scheme: Scheme,
        clock: Clock,
        *,
        history: int = 100_000,
        seed: int = 0,
        verify_shared: bool | None = None,
    ) -> None:
        self._backend = backend
        self._scheme = scheme
        self._clock = clock
        self._history_size = max(0, history)
        self._lock = threading.RLock()
        self._closed = False
        self._rv = backend.resource_version
        self._random = random.Random(f"shipyard.store:{seed}:{self._rv}")
        self._owners = OwnerIndex()
        for obj in backend.objects():
            self._owners.add(obj)
        self._history = EventHistory(self._history_size, self._rv)
        self._history.load(backend.events(self._history_size))
        self._hub = WatchHub()
        self._listeners = Listeners()
        self._stamp: tuple[int, str] = (-1, "")
        self._serves_namespaces = scheme.find("v1", "Namespace") is not None
        # Shared objects are read-only by contract; with ``verify_shared`` (the test suite
        # turns it on with SHIPYARD_VERIFY_SHARED=1) every stored version is fingerprinted and
        # a write or close that finds one changed in place fails loudly.
        if verify_shared is None:
            verify_shared = os.environ.get("SHIPYARD_VERIFY_SHARED") == "1"
        self._fingerprints: dict[ObjectKey, bytes] | None = {} if verify_shared else None

    # -- reads ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion (that of the latest committed change)."""
        return str(self._rv)

    @property
    def scheme(self) -> Scheme:
        return self._scheme

    @property
    def clock(self) -> Clock:
        return self._clock

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str = "", copy: bool = True
    ) -> Obj:
        """A copy of the object; NotFoundError ``pods "x" not found`` when absent.

        ``copy=False`` returns the stored object itself, shared read-only (as an informer's
        cache is): for readers that only look."""
        info = self._kind(api_version, kind)
        key = _key(info, namespace, name)
        with self._lock:
            obj = self._backend.get(key)
        if obj is None:
            raise _not_found(info, name)
        if not copy:
            return obj
        copied: Obj = json_copy(obj)
        return copied

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: Selector = None,
        field_selector: FieldSel = None,
        copy: bool = True,
    ) -> ObjectList:
        """Copies of the matching objects by (namespace, name); namespace None or "" is all.

        ``copy=False`` returns the stored objects themselves, shared read-only."""
        info = self._kind(api_version, kind)
        flt = (
            _EVERYTHING
            if label_selector is None and field_selector is None
            else WatchFilter.of(labels=label_selector, fields=field_selector)
        )
        ns = (namespace or None) if info.namespaced else None
        with self._lock:
            rv = self._rv
            found, exact = self._candidates(info, ns, flt.labels, flt.fields)
        if not exact:
            found = [o for o in found if flt.matches(o)]
        items = [json_copy(o) for o in found] if copy else list(found)
        return ObjectList(items, str(rv))

    def _candidates(
        self,
        info: KindInfo,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> tuple[Objects, bool]:
        """The candidates, and whether they are exactly the matching objects (an index
        answered every term of the selectors: a label selector of equalities only, and no
        field selector); otherwise the caller filters them."""
        label_pairs = labels.equality_pairs() if labels is not None else {}
        field_pairs = fields.equality_pairs() if fields is not None else {}
        if namespace is None and info.namespaced and "metadata.namespace" in field_pairs:
            namespace = field_pairs["metadata.namespace"]
        if label_pairs or field_pairs:
            found = self._backend.select(
                info.api_version, info.kind, namespace, label_pairs, field_pairs
            )
            if found is not None:
                exact = fields is None and labels is not None and labels.only_equalities
                return found, exact
        found = self._backend.list(info.api_version, info.kind, namespace)
        return found, labels is None and fields is None

    # -- writes -----------------------------------------------------------------------------

    def create(
        self,
        obj: Obj,
        *,
        dry_run: bool = False,
        handoff: bool = False,
        warnings: Warnings | None = None,
    ) -> Obj:
        """Create the object; AlreadyExistsError when its name is taken.

        ``handoff=True`` gives ``obj`` to the store instead of copying it: the caller must not
        use it afterwards, and the result is the stored object itself, shared read-only (see
        the module docstring). Controllers that build an object only to create it use this.
        An object of an older served version is converted first; the conversion's warnings
        are appended to ``warnings`` (kubectl prints them as ``Warning:`` lines).
        """
        new, info = self._admitted_kind(own(obj, handoff), warnings)
        return self._write(lambda: self._create(info, new, dry_run), copy=not handoff)

    def update(
        self,
        obj: Obj,
        *,
        dry_run: bool = False,
        handoff: bool = False,
        warnings: Warnings | None = None,
    ) -> Obj:
        """Replace spec and metadata (status too, unless the kind has a status subresource).

        ``handoff`` and ``warnings`` as for :meth:`create`."""
        new, info = self._admitted_kind(own(obj, handoff), warnings)
        return self._write(
            lambda: self._replace(info, new, dry_run, status=False), copy=not handoff
        )

    def update_status(self, obj: Obj, *, handoff: bool = False) -> Obj:
        """Replace only ``status`` (kinds with a status subresource).

        ``handoff`` as for :meth:`create`: the store keeps ``obj["status"]`` itself."""
        new, info = self._admitted_kind(own(obj, handoff), None)
        _require_status(info)
        return self._write(lambda: self._replace(info, new, False, status=True), copy=not handoff)

    def _admitted_kind(self, obj: Obj, warnings: Warnings | None) -> tuple[Obj, KindInfo]:
        """The object in its storage version, and that version's kind."""
        info = self._kind_of(obj)
        if info.convert is None:
            return obj, info
        converted, said = info.convert(obj)
        if warnings is not None:
            warnings.extend(said)
        return converted, self._kind_of(converted)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: PatchType | str = "merge",
        subresource: str | None = None,
    ) -> Obj:
        """Patch the object (or, with ``subresource="status"``, only its status)."""
        info = self._kind(api_version, kind)
        if subresource not in (None, "status"):
            raise BadRequestError(f'{info.resource} has no subresource "{subresource}"')
        if subresource == "status":
            _require_status(info)
        key = _key(info, namespace, name)
        return self._write(lambda: self._patch(info, key, patch, patch_type, subresource))

    def bind(
        self,
        name: str,
        *,
        namespace: str,
        node: str,
        resource_version: str | None = None,
        copy: bool = True,
    ) -> Obj:
        """The ``pods/binding`` subresource: assign a pod to a node in one write.

        Sets ``spec.nodeName`` and replaces the ``PodScheduled`` condition with ``True`` (its
        reason and message go), as the API server's binding does. A pod already assigned is
        a ConflictError (``pod x is already assigned to node "y"``). ``resource_version``,
        when given, must be the stored one (a scheduler's guard against deciding on stale
        facts; not part of Kubernetes' Binding). ``copy=False`` returns the stored pod,
        shared read-only.
        """
        info = self._kind("v1", "Pod")
        key = _key(info, namespace, name)
        return self._write(lambda: self._bind(info, key, node, resource_version), copy=copy)

    def _bind(self, info: KindInfo, key: ObjectKey, node: str, rv: str | None) -> Obj:
        old = self._existing(info, key)
        new = bound_pod(info, key.name, old, node, rv=rv, now=self._now())
        # Like the API server's binding, no admission of the whole pod: the store changed
        # two fields of a stored (valid) pod itself, and checked the node name.
        return self._write_update(info, key, new, old, False, admit=False)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str = "",
        propagation_policy: str = "Background",
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
        copy: bool = True,
    ) -> Obj:
        """Delete; returns the deleted object, or the object now marked for deletion
        (``copy=False``: not a copy, shared read-only).

        A Pod bound to a node is deleted gracefully, as the API server does: it gets
        ``deletionTimestamp = now + grace`` and ``deletionGracePeriodSeconds = grace`` (grace
        from ``grace_period_seconds``, else the pod's ``terminationGracePeriodSeconds``) and
        stays until its kubelet has stopped it and deletes it again with grace 0.
        """
        info = self._kind(api_version, kind)
        if propagation_policy not in PROPAGATION_POLICIES:
            raise BadRequestError(
                f'unsupported propagationPolicy "{propagation_policy}": '
                f"use one of {', '.join(PROPAGATION_POLICIES)}"
            )
        key = _key(info, namespace, name)
        return self._write(
            lambda: self._delete(
                info, key, propagation_policy, preconditions, dry_run, grace=grace_period_seconds
            ),
            copy=copy,
        )

    # -- watch and listeners ----------------------------------------------------------------

    def watch(
        self,
        api_version: str | None = None,
        kind: str | None = None,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: Selector = None,
        field_selector: FieldSel = None,
    ) -> Watch:
        """Stream changes: from now (None), from everything ("0") or after a version."""
        if api_version and kind and not self._kind(api_version, kind).namespaced:
            namespace = None
        flt = WatchFilter.of(
            api_version or None,
            kind or None,
            namespace or None,
            labels=label_selector,
            fields=field_selector,
        )
        with self._lock:
            self._check_open()
            watch = Watch(
                flt, max_pending=max(self._history_size, 10_000), on_stop=self._hub.remove
            )
            if resource_version == "0":
                watch.preload(self._initial_events(flt))
            elif resource_version:
                watch.replay(self._history.since(_parse_rv(resource_version)))
            self._hub.add(watch)
        return watch

    def add_listener(
        self,
        fn: Callable[[WatchEvent], None],
        *,
        kinds: Iterable[tuple[str, str]] | None = None,
    ) -> Callable[[], None]:
        """Call ``fn`` after each committed change (only of ``kinds``, ``(apiVersion, kind)``
        pairs, when given); returns a function that unsubscribes."""
        return self._listeners.add(fn, kinds)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.verify_shared()
            self._closed = True
            self._hub.stop_all()
            self._backend.close()

    # -- create -----------------------------------------------------------------------------

    def _create(self, info: KindInfo, obj: Obj, dry_run: bool) -> Obj:
        md = _metadata(info, obj)
        self._place(info, md)
        if md.get("resourceVersion"):
            raise BadRequestError("resourceVersion should not be set on objects to be created")
        if not md.get("name"):
            md["name"] = self._generate_name(info, md)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            md.pop(field, None)
        md["uid"] = _uuid4(self._random.getrandbits(128))
        md["creationTimestamp"] = self._now()
        md["generation"] = 1
        self._admit(info, obj, None)
        key = key_of(obj)
        if self._backend.get(key) is not None:
            raise AlreadyExistsError(f'{info.resource} "{key.name}" already exists')
        if dry_run:
            obj["metadata"].pop("resourceVersion", None)
            return obj
        # One new object cascades nowhere, so this is the single change a Txn would record,
        # without building one (creates are the hottest write).
        rv = self._rv + 1
        obj["metadata"]["resourceVersion"] = str(rv)
        self._commit([Change(ADDED, key, obj, None, rv)])
        return obj

    def _place(self, info: KindInfo, md: dict[str, Any]) -> None:
        """Set the namespace (``default`` when missing) and check that it accepts content."""
        if not info.namespaced:
            md.pop("namespace", None)
            return
        namespace = md.get("namespace") or "default"
        if not isinstance(namespace, str):
            raise InvalidError(
                f'{info.kind} "{md.get("name", "")}"',
                [FieldError("metadata.namespace", "Invalid value: must be a string")],
            )
        md["namespace"] = namespace
        if not self._serves_namespaces:
            return
        ns = self._backend.get(namespace_key(namespace))
        if ns is None:
            raise NotFoundError(f'namespaces "{namespace}" not found')
        if is_terminating(ns):
            raise ForbiddenError(
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated"
            )

    def _generate_name(self, info: KindInfo, md: dict[str, Any]) -> str:
        prefix = md.get("generateName")
        if not prefix or not isinstance(prefix, str):
            raise InvalidError(
                f'{info.kind} ""',
                [FieldError("metadata.name", "Required value: name or generateName is required")],
            )
        namespace = str(md.get("namespace") or "")
        for _ in range(_NAME_ATTEMPTS):
            suffix = "".join(self._random.choices(_NAME_ALPHABET, k=_NAME_SUFFIX))
            name = f"{prefix}{suffix}"
            if self._backend.get(_key(info, namespace, name)) is None:
                return name
        raise AlreadyExistsError(
            f'{info.resource} "{prefix}": {_NAME_ATTEMPTS} generated names were all taken'
        )

    # -- update, update_status, patch ---------------------------------------------------------

    def _replace(self, info: KindInfo, obj: Obj, dry_run: bool, *, status: bool) -> Obj:
        md = _metadata(info, obj)
        key = _key(info, str(md.get("namespace") or ""), str(md.get("name") or ""))
        if info.namespaced:
            md["namespace"] = key.namespace
        else:
            md.pop("namespace", None)
        old = self._existing(info, key)
        check_preconditions(info, obj, old)
        if status:
            return self._write_update(info, key, status_only(obj, old), old, dry_run, status=True)
        return self._write_update(info, key, spec_and_meta(info, obj, old), old, dry_run)

    def _patch(
        self,
        info: KindInfo,
        key: ObjectKey,
        patch: Any,
        patch_type: PatchType | str,
        subresource: str | None,
    ) -> Obj:
        old = self._existing(info, key)
        patched = apply_patch(old, patch, patch_type, api_version=info.api_version, kind=info.kind)
        if key_of(patched) != key:
            raise BadRequestError(
                f"the patch may not change the apiVersion, kind, name or namespace of "
                f'{info.resource} "{key.name}"'
            )
        check_preconditions(info, patched, old)
        if subresource == "status":
            return self._write_update(info, key, status_only(patched, old), old, False, status=True)
        return self._write_update(info, key, spec_and_meta(info, patched, old), old, False)

    def _write_update(
        self,
        info: KindInfo,
        key: ObjectKey,
        new: Obj,
        old: Obj,
        dry_run: bool,
        *,
        status: bool = False,
        admit: bool = True,
    ) -> Obj:
        share_unchanged(new, old)  # before admission, which skips what is shared
        if admit:
            self._admit(info, new, old, status=status)
        if spec_changed(info, new, old):
            new["metadata"]["generation"] = int(meta(old).get("generation") or 0) + 1
        if new == old:
            return old  # a no-op: no new resourceVersion, no event (as the API server)
        if update_cascades(new, old):
            txn = self._txn()
            result = Collector(txn).update(new, old)
            if dry_run:
                return with_rv(result, meta(old).get("resourceVersion"))
            self._commit(txn.changes)
            return result
        # Most updates cascade nowhere: the one change a Txn would record, without one.
        if dry_run:
            return with_rv(new, meta(old).get("resourceVersion"))
        rv = self._rv + 1
        new["metadata"]["resourceVersion"] = str(rv)
        self._commit([Change(MODIFIED, key, new, old, rv)])
        return new

    def _existing(self, info: KindInfo, key: ObjectKey) -> Obj:
        old = self._backend.get(key)
        if old is None:
            raise _not_found(info, key.name)
        return old

    # -- delete -----------------------------------------------------------------------------

    def _delete(
        self,
        info: KindInfo,
        key: ObjectKey,
        policy: str,
        preconditions: Mapping[str, Any] | None,
        dry_run: bool,
        *,
        grace: int | None = None,
    ) -> Obj:
        current = self._existing(info, key)
        check_delete_preconditions(info, current, preconditions or {})
        txn = self._txn()
        result = Collector(txn).delete(current, policy, grace)
        if dry_run:
            return with_rv(result, meta(current).get("resourceVersion"))
        self._commit(txn.changes)
        return result

    # -- admission --------------------------------------------------------------------------

    def _admit(self, info: KindInfo, obj: Obj, old: Obj | None, *, status: bool = False) -> None:
        """Default, then validate; every problem at once, before anything is written.

        A status write is validated but not defaulted: everything outside ``status`` is the
        stored (already defaulted) version, shared with it."""
        md = meta(obj)
        name = md.get("name")
        # a status write keeps the stored metadata: its shape was checked when it was written
        causes = [] if status else metadata_shape(md)
        if not causes:
            if not status:
                info.default(obj)
            causes = info.validate(obj, old)
            if old is not None:
                causes = [*causes, *finalizer_rules(obj, old)]
        if causes:
            raise InvalidError(f'{info.kind} "{name or ""}"', list(causes))

    # -- plumbing ---------------------------------------------------------------------------

    def _write(self, operation: Callable[[], Obj], *, copy: bool = True) -> Obj:
        """Run a write under the lock, then deliver its events to listeners."""
        with self._lock:
            self._check_open()
            result = operation()
        self._listeners.deliver()
        if not copy:
            return result
        copied: Obj = json_copy(result)
        return copied

    def _txn(self) -> Txn:
        return Txn(self._backend, self._owners, self._rv + 1, self._now())

    def _commit(self, changes: Sequence[Change]) -> None:
        """Commit one write's changes (consecutive resourceVersions), then index and publish."""
        if not changes:
            return
        if self._fingerprints is not None:
            self._verify_unchanged(changes)
        self._backend.commit(changes)  # raises before anything below when the write fails
        before, self._rv = self._rv, changes[-1].rv
        for change in changes:
            self._owners.apply(change)
            self._history.append(change)
        if self._hub or self._listeners:  # events are only built for someone to receive them
            events = [event_of(c) for c in changes]
            self._hub.publish(changes, events)
            self._listeners.enqueue(events)
        if before // _COMPACT_EVERY != self._rv // _COMPACT_EVERY:
            self._compact()

    def _verify_unchanged(self, changes: Sequence[Change]) -> None:
        """Check that the versions these changes replace are as they were stored."""
        assert self._fingerprints is not None
        for change in changes:
            if change.old is not None:
                check_fingerprint(self._fingerprints, change.key, change.old)
            if change.type == DELETED:
                self._fingerprints.pop(change.key, None)
            else:
                self._fingerprints[change.key] = fingerprint(change.object)

    def verify_shared(self) -> None:
        """Check every stored object against its fingerprint (with ``verify_shared`` on)."""
        if self._fingerprints is None:
            return
        with self._lock:
            for key in list(self._fingerprints):
                obj = self._backend.get(key)
                if obj is not None:
                    check_fingerprint(self._fingerprints, key, obj)

    def _compact(self) -> None:
        try:
            self._backend.compact(self._rv - max(self._history_size, 1))
        except ShipyardError as e:  # the write itself is committed; compaction can wait
            log.warning("store history compaction failed (will retry): %s", e)

    def _initial_events(self, flt: WatchFilter) -> Events:
        if flt.api_version is not None and flt.kind is not None:
            found = self._backend.list(flt.api_version, flt.kind, flt.namespace)
        else:
            found = sorted(self._backend.objects(), key=key_of)
        return [
            WatchEvent(ADDED, o, str(meta(o).get("resourceVersion", "")))
            for o in found
            if flt.wants(key_of(o)) and flt.matches(o)
        ]

    def _kind(self, api_version: str, kind: str) -> KindInfo:
        try:
            return self._scheme.get(api_version, kind)
        except NotFoundError as e:
            raise BadRequestError(e.message) from e

    def _kind_of(self, obj: Obj) -> KindInfo:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not (isinstance(api_version, str) and api_version and isinstance(kind, str) and kind):
            raise BadRequestError(
                "the object needs apiVersion and kind (for example apiVersion: v1, kind: Pod)"
            )
        return self._kind(api_version, kind)

    def _now(self) -> str:
        now = self._clock.now()
        second = int(now)
        if self._stamp[0] != second:
            self._stamp = (second, format_time(now))
        return self._stamp[1]

    def _check_open(self) -> None:
        if self._closed:
            raise PermanentError("the store is closed")


# -- pure helpers ---------------------------------------------------------------------------


def _key(info: KindInfo, namespace: str, name: str) -> ObjectKey:
    ns = (namespace or "default") if info.namespaced else ""
    return _new_key(ObjectKey, (info.api_version, info.kind, ns, name))


# ``ObjectKey(...)`` without its Python-level ``__new__`` (a key is built for every request).
_new_key: Callable[[type[ObjectKey], tuple[str, str, str, str]], ObjectKey] = tuple.__new__


def _uuid4(bits: int) -> str:
    """A random (version 4, RFC 4122 variant) UUID from 128 random bits, as text.

    The version nibble becomes ``4`` and the variant's two top bits ``10`` on the hex text,
    which is cheaper than masking a 128-bit integer (one per create).
    """
    h = f"{bits:032x}"
    variant = _UUID_VARIANT[h[16]]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


# The RFC 4122 variant digit for each hex digit: its top two bits replaced by ``10``.
_UUID_VARIANT = {f"{d:x}": f"{0x8 | (d & 0x3):x}" for d in range(16)}


def _not_found(info: KindInfo, name: str) -> NotFoundError:
    return NotFoundError(f'{info.resource} "{name}" not found')


def _metadata(info: KindInfo, obj: Obj) -> dict[str, Any]:
    md = obj.setdefault("metadata", {})
    if not isinstance(md, dict):
        raise InvalidError(f'{info.kind} ""', [FieldError("metadata", "must be an object")])
    return md


def _require_status(info: KindInfo) -> None:
    if not info.has_status:
        raise BadRequestError(f"{info.resource} has no status subresource")


def _parse_rv(text: str) -> int:
    try:
        rv = int(text)
    except ValueError:
        rv = -1
    if rv < 0:
        raise BadRequestError(f'invalid resource version "{text}": it must be a number')
    return rv
