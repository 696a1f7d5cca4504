"""Where the store keeps objects: a small :class:`Backend` seam, in memory or in SQLite.

The :class:`~shipyard.store.store.Store` owns the API semantics (admission, resource versions,
deletion, watch); a backend only keeps the current objects, answers indexed reads, and applies
a batch of :class:`Change` records atomically. Every object a backend holds is treated as
immutable: the store builds a new dict for each version (copy-on-write), so a backend and the
watch history may share one dict without copying.

:class:`MemoryBackend` keeps, per (apiVersion, kind), ``namespace -> name -> object`` plus two
inverted indexes used to answer selected lists without scanning: one on label ``key=value``
pairs (``app=web``) and one on a few field paths (``spec.nodeName`` by default, the field
kubelets and the scheduler select pods by). Lists come back ordered by (namespace, name), the
order the API server returns from etcd.

:class:`SqliteBackend` is write-through over a :class:`MemoryBackend` cache loaded on open, so
reads cost what they cost in memory. Each :meth:`~Backend.commit` is one SQLite transaction
that appends the changes to an ``events`` table, whose triggers upsert or delete the rows of
the ``objects`` table in the same transaction; the call returns only after the commit. So the
watch history and the resourceVersion counter survive a restart (the counter resumes from the
highest stored version, as etcd's revision does), and the history is pruned to its size by
:meth:`~Backend.compact`.

Durability: the database runs in WAL mode. With ``synchronous="NORMAL"`` (the default) a
committed transaction is in the WAL file before ``commit`` returns, so it survives the process
being killed at any instant; only a power loss or OS crash can lose the last few transactions.
``synchronous="FULL"`` fsyncs the WAL on every commit, which also survives power loss, at the
price of one disk flush per write.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from shipyard.core.errors import BadRequestError, TemporaryError
from shipyard.core.objects import Obj, ObjectKey, key_of, labels_of
from shipyard.core.selectors import field_value

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Backend",
    "Change",
    "MemoryBackend",
    "Objects",
    "SqliteBackend",
]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

# Field paths indexed for field-selected lists unless a backend is told otherwise.
DEFAULT_INDEXED_FIELDS = ("spec.nodeName",)

# A list of stored objects (an alias, because classes here define a ``list`` method).
Objects = list[Obj]
Changes = list["Change"]
Rows = list[tuple[Any, ...]]


class Change(NamedTuple):
    """One committed change: the unit of a backend write and of the watch history.

    ``object`` is the new state; for ``DELETED`` it is the last state stamped with the
    resourceVersion of the deletion (what Kubernetes puts in a DELETED watch event). ``old`` is
    the state before the change (``None`` for ``ADDED``). Both are shared, never mutated.
    (A NamedTuple: one is made per write, and a frozen dataclass costs several times more.)
    """

    type: str
    key: ObjectKey
    object: Obj
    old: Obj | None
    rv: int


class Backend(Protocol):
    """Object storage under the store. Reads return the stored (shared, read-only) dicts."""

    @property
    def resource_version(self) -> int:
        """The highest resourceVersion committed (0 for an empty store)."""
        ...

    def get(self, key: ObjectKey) -> Obj | None: ...

    def list(self, api_version: str, kind: str, namespace: str | None) -> Objects:
        """Every object of a kind (in one namespace, or all when None) by (namespace, name)."""
        ...

    def select(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str],
        fields: Mapping[str, str],
    ) -> Objects | None:
        """Objects having every label pair and indexed field value, ordered by (ns, name).

        Returns None when no given pair is indexed, so the caller scans :meth:`list`. Every
        label is indexed, so for label pairs alone the answer is exact; callers still apply
        the full selectors when these pairs are not all of them.
        """
        ...

    def in_namespace(self, namespace: str) -> Objects:
        """Every object, of any kind, in a namespace."""
        ...

    def count_in_namespace(self, namespace: str) -> int: ...

    def objects(self) -> Iterator[Obj]:
        """Every stored object (to build indexes when a store opens)."""
        ...

    def commit(self, changes: Sequence[Change]) -> None:
        """Apply the changes in order, atomically: all of them or (on error) none."""
        ...

    def events(self, limit: int) -> Changes:
        """The newest ``limit`` persisted changes, oldest first (``old`` is None)."""
        ...

    def compact(self, through_rv: int) -> None:
        """Forget persisted changes with resourceVersion <= ``through_rv``."""
        ...

    def close(self) -> None: ...


@dataclass
class _KindTable:
    """The objects of one kind and their inverted indexes."""

    indexed_fields: tuple[str, ...]
    by_ns: dict[str, dict[str, Obj]] = field(default_factory=dict)
    # (label key, value) -> {(namespace, name)}
    labels: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    # (field path, value) -> {(namespace, name)}
    fields: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)

    def put(self, ns: str, name: str, obj: Obj) -> None:
        names = self.by_ns.get(ns)
        if names is None:
            names = self.by_ns[ns] = {}
        old = names.get(name)
        names[name] = obj
        key = (ns, name)
        new_labels = labels_of(obj)
        if old is None:  # a new object: only entries to add
            _index(self.labels, key, new_labels.items())
            _index(self.fields, key, self._field_pairs(obj))
            return
        old_labels = labels_of(old)
        if old_labels is not new_labels and old_labels != new_labels:
            _reindex(self.labels, key, old_labels.items(), new_labels.items())
        # An indexed value lies under its path's first key: when each of those parts is the
        # stored one itself (a new version shares what it did not change), none moved.
        for root in self.field_roots:
            if obj.get(root) is not old.get(root):
                old_fields, new_fields = self._field_pairs(old), self._field_pairs(obj)
                if old_fields != new_fields:
                    _reindex(self.fields, key, old_fields, new_fields)
                return

    @functools.cached_property
    def field_roots(self) -> tuple[str, ...]:
        """The first keys of the indexed field paths (``spec`` of ``spec.nodeName``)."""
        return tuple(dict.fromkeys(_path_parts(path)[0] for path in self.indexed_fields))

    def remove(self, ns: str, name: str) -> None:
        names = self.by_ns.get(ns)
        old = names.pop(name, None) if names is not None else None
        if old is None:
            return
        if not names:
            del self.by_ns[ns]
        _reindex(self.labels, (ns, name), labels_of(old).items(), ())
        _reindex(self.fields, (ns, name), self._field_pairs(old), ())

    def _field_pairs(self, obj: Obj) -> list[tuple[str, str]]:
        return [(path, _field_value(obj, path)) for path in self.indexed_fields]

    def ordered(self, namespace: str | None) -> Objects:
        if namespace is not None:
            names = self.by_ns.get(namespace, {})
            return [names[n] for n in sorted(names)]
        return [obj for ns in sorted(self.by_ns) for obj in self.ordered(ns)]

    def matching(
        self, namespace: str | None, pairs: list[tuple[dict[Any, set[tuple[str, str]]], Any]]
    ) -> Objects:
        sets = sorted((index.get(pair, set()) for index, pair in pairs), key=len)
        found = set(sets[0]).intersection(*sets[1:]) if sets else set()
        keys = sorted(k for k in found if namespace is None or k[0] == namespace)
        return [self.by_ns[ns][name] for ns, name in keys]


@functools.lru_cache(maxsize=64)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _field_value(obj: Obj, path: str) -> str:
    """``field_value(obj, path)``, with a fast path for what stored objects hold (plain dicts
    and a string or nothing at the end); anything else takes ``field_value`` itself."""
    current: Any = obj
    for part in _path_parts(path):
        if type(current) is not dict:
            return "" if current is None else field_value(obj, path)
        current = current.get(part)
    if type(current) is str:
        return current
    return "" if current is None else field_value(obj, path)


def _index(
    index: dict[Any, set[tuple[str, str]]], key: tuple[str, str], pairs: Iterable[tuple[str, str]]
) -> None:
    """Add ``key`` to the index entries of its pairs (a new object)."""
    for pair in pairs:
        members = index.get(pair)
        if members is None:
            index[pair] = {key}
        else:
            members.add(key)


def _reindex(
    index: dict[Any, set[tuple[str, str]]],
    key: tuple[str, str],
    old: Iterable[tuple[str, str]],
    new: Iterable[tuple[str, str]],
) -> None:
    """Move ``key`` from the index entries of its old pairs to those of its new pairs."""
    old_set, new_set = set(old), set(new)
    if old_set:
        for pair in old_set - new_set:
            members = index.get(pair)
            if members is not None:
                members.discard(key)
                if not members:
                    del index[pair]
        new_set -= old_set
    for pair in new_set:
        members = index.get(pair)
        if members is None:
            index[pair] = {key}
        else:
            members.add(key)


class MemoryBackend:
    """Objects in dicts with label and field indexes; nothing survives the process."""

    def __init__(self, *, indexed_fields: Sequence[str] = DEFAULT_INDEXED_FIELDS) -> None:
        self._indexed_fields = tuple(indexed_fields)
        self._kinds: dict[tuple[str, str], _KindTable] = {}
        self._rv = 0

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: ObjectKey) -> Obj | None:
        table = self._kinds.get((key.api_version, key.kind))
        if table is None:
            return None
        names = table.by_ns.get(key.namespace)
        return names.get(key.name) if names is not None else None

    def list(self, api_version: str, kind: str, namespace: str | None) -> Objects:
        table = self._kinds.get((api_version, kind))
        return table.ordered(namespace) if table is not None else []

    def select(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str],
        fields: Mapping[str, str],
    ) -> Objects | None:
        table = self._kinds.get((api_version, kind))
        pairs: list[tuple[dict[Any, set[tuple[str, str]]], Any]] = []
        if table is not None:
            pairs += [(table.labels, pair) for pair in labels.items()]
            pairs += [
                (table.fields, (p, v)) for p, v in fields.items() if p in table.indexed_fields
            ]
        if not pairs:
            return None
        return table.matching(namespace, pairs) if table is not None else []

    def in_namespace(self, namespace: str) -> Objects:
        return [obj for _, table in sorted(self._kinds.items()) for obj in table.ordered(namespace)]

    def count_in_namespace(self, namespace: str) -> int:
        return sum(len(t.by_ns.get(namespace, ())) for t in self._kinds.values())

    def objects(self) -> Iterator[Obj]:
        for table in self._kinds.values():
            for names in table.by_ns.values():
                yield from names.values()

    def commit(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self._apply(change)
        if changes:
            self._rv = max(self._rv, changes[-1].rv)

    def events(self, limit: int) -> Changes:
        return []

    def compact(self, through_rv: int) -> None:
        return None

    def close(self) -> None:
        return None

    def _apply(self, change: Change) -> None:
        key = change.key
        table = self._kinds.get((key.api_version, key.kind))
        if table is None:
            table = self._kinds[(key.api_version, key.kind)] = _KindTable(self._indexed_fields)
        if change.type == DELETED:
            table.remove(key.namespace, key.name)
        else:
            table.put(key.namespace, key.name, change.object)

    def restore(self, obj: Obj, rv: int) -> None:
        """Add an object read back from persistent storage (SqliteBackend's cache on open)."""
        self._apply(Change(ADDED, key_of(obj), obj, None, rv))
        self._rv = max(self._rv, rv)


# The events table is the write path: one row per change. Triggers keep ``objects`` (the
# current version of each object) in step inside the same transaction, so a write is one
# INSERT: atomic on its own, and a batch is one executemany in BEGIN ... COMMIT. Objects live in
# a rowid table (bodies of a few KB are slow in a WITHOUT ROWID b-tree).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY,
    api_version TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    UNIQUE (api_version, kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, type TEXT NOT NULL,
    api_version TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_put AFTER INSERT ON events WHEN NEW.type != 'DELETED'
BEGIN
    INSERT INTO objects (api_version, kind, namespace, name, rv, body)
    VALUES (NEW.api_version, NEW.kind, NEW.namespace, NEW.name, NEW.rv, NEW.body)
    ON CONFLICT (api_version, kind, namespace, name) DO UPDATE SET rv = NEW.rv, body = NEW.body;
END;
CREATE TRIGGER IF NOT EXISTS events_delete AFTER INSERT ON events WHEN NEW.type = 'DELETED'
BEGIN
    DELETE FROM objects WHERE api_version = NEW.api_version AND kind = NEW.kind
        AND namespace = NEW.namespace AND name = NEW.name;
END;
"""

_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)"
_CHECKPOINT_PAGES = 4000


class SqliteBackend:
    """SQLite (WAL) persistence, write-through under an in-memory cache loaded on open.

    ``synchronous``: ``"NORMAL"`` survives a killed process (the default); ``"FULL"`` also
    survives power loss. One connection serves all threads; the store serialises writes.
    One process owns a database at a time: the cache is loaded once, so a second process
    writing to the same file would not be seen (talk to the owner's API instead).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        indexed_fields: Sequence[str] = DEFAULT_INDEXED_FIELDS,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self._cache = MemoryBackend(indexed_fields=indexed_fields)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            # Checkpoint every ~16 MB of WAL rather than ~4 MB: a quarter of the fsync pairs,
            # and pages written several times in between are copied once.
            self._db.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
            self._db.executescript(_SCHEMA)
            self._rv = self._load()
        except sqlite3.Error as e:
            raise TemporaryError(f"cannot open store database {self.path}: {e}") from e

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: ObjectKey) -> Obj | None:
        return self._cache.get(key)

    def list(self, api_version: str, kind: str, namespace: str | None) -> Objects:
        return self._cache.list(api_version, kind, namespace)

    def select(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str],
        fields: Mapping[str, str],
    ) -> Objects | None:
        return self._cache.select(api_version, kind, namespace, labels, fields)

    def in_namespace(self, namespace: str) -> Objects:
        return self._cache.in_namespace(namespace)

    def count_in_namespace(self, namespace: str) -> int:
        return self._cache.count_in_namespace(namespace)

    def objects(self) -> Iterator[Obj]:
        return self._cache.objects()

    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        rows = [_row(c) for c in changes]  # serialise first: a bad object fails before any write
        try:
            if len(rows) == 1:
                self._db.execute(_EVENT, rows[0])  # one statement: its own transaction
            else:
                self._write_batch(rows)
        except sqlite3.Error as e:
            raise TemporaryError(f"store write to {self.path} failed: {e}") from e
        self._cache.commit(changes)
        self._rv = max(self._rv, changes[-1].rv)

    def _write_batch(self, rows: Rows) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(_EVENT, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def events(self, limit: int) -> Changes:
        if limit <= 0:
            return []
        rows = self._db.execute(
            "SELECT rv, type, body FROM events ORDER BY rv DESC LIMIT ?", (limit,)
        ).fetchall()
        changes = []
        for rv, type_, body in reversed(rows):
            obj = json.loads(body)
            changes.append(Change(type_, key_of(obj), obj, None, rv))
        return changes

    def compact(self, through_rv: int) -> None:
        try:
            self._db.execute("DELETE FROM events WHERE rv <= ?", (through_rv,))
        except sqlite3.Error as e:
            raise TemporaryError(f"store compaction of {self.path} failed: {e}") from e

    def close(self) -> None:
        self._db.close()

    def _load(self) -> int:
        rv = 0
        for body, obj_rv in self._db.execute("SELECT body, rv FROM objects"):
            self._cache.restore(json.loads(body), obj_rv)
            rv = max(rv, obj_rv)
        (last_event,) = self._db.execute("SELECT MAX(rv) FROM events").fetchone()
        return max(rv, last_event or 0)


def _row(change: Change) -> tuple[Any, ...]:
    k = change.key
    try:
        body = json.dumps(change.object)
    except (TypeError, ValueError) as e:
        raise BadRequestError(f"{k} cannot be stored: it is not JSON ({e})") from e
    return (change.rv, change.type, k.api_version, k.kind, k.namespace, k.name, body)
