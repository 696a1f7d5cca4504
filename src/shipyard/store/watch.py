"""Watch: the event history and live, filtered event streams over it.

Every committed change becomes a :class:`~shipyard.store.backends.Change` in an
:class:`EventHistory` (a ring of the last ``history`` changes) and is offered to every open
:class:`Watch`. This reproduces the API server's watch cache:

- A watch from a resourceVersion replays the history after it. When that history is gone
  the watch fails with ``GoneError('too old resource version: 5 (120)')`` — the requested
  version, then the oldest one a watch can still start from (Kubernetes' wording and numbers);
  the client lists again and watches from the list's resourceVersion.
- ``resource_version="0"`` sends a synthetic ``ADDED`` for every matching object, then the live
  stream; ``None`` starts from now with no initial events.
- A watch with a label or field selector sees transitions the way Kubernetes' cacheWatcher
  shows them: an object that starts matching arrives as ``ADDED``; one that stops matching
  leaves as ``DELETED`` (its previous content, stamped with the event's resourceVersion).
- A consumer that falls too far behind is closed, and learns it from a ``GoneError`` on its
  next ``poll``/``next`` (the API server closes slow watchers the same way).

**Sharing.** The object in a :class:`WatchEvent` is shared, read-only, by every watcher and
listener and by the store itself (the store builds a new dict for each version and never
changes a committed one), as objects in a client-go informer cache are. Never mutate
``event.object``; ``json_copy`` it first if you need a modified version.

**Threads.** The store offers events while holding its write lock, so every watch sees
changes in resourceVersion order. ``poll`` drains without blocking (simulations);
``next(timeout)`` blocks on a condition variable (live mode); iterating a watch blocks until
it is stopped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

from shipyard.core.errors import GoneError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, labels_of
from shipyard.core.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from shipyard.store.backends import ADDED, DELETED, Change

__all__ = [
    "EventHistory",
    "FieldSel",
    "Listeners",
    "Selector",
    "Watch",
    "WatchEvent",
    "WatchFilter",
    "WatchHub",
    "event_of",
]


class WatchEvent(NamedTuple):
    """``ADDED``, ``MODIFIED`` or ``DELETED``; ``object`` is shared and read-only.

    ``resource_version`` is the version of the change (that of ``object``).
    """

    type: str
    object: Obj
    resource_version: str


def event_of(change: Change) -> WatchEvent:
    return WatchEvent(change.type, change.object, str(change.rv))


def stamped(obj: Obj, rv: int) -> Obj:
    """``obj`` with another resourceVersion; nested values are shared, not copied."""
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(rv)}}


class EventHistory:
    """The last ``capacity`` changes, in resourceVersion order."""

    def __init__(self, capacity: int, current_rv: int) -> None:
        self._entries: deque[Change] = deque(maxlen=max(0, capacity))
        self._last_rv = current_rv

    def load(self, changes: Iterable[Change]) -> None:
        """Add persisted changes (oldest first), rebuilding each one's previous state.

        A change whose previous state is older than the loaded window gets its own object as
        the previous state: a selector watch replaying it sees MODIFIED rather than a
        transition. That is the one approximation after a restart.
        """
        last: dict[ObjectKey, Obj] = {}
        for c in changes:
            old = None if c.type == ADDED else last.get(c.key, c.object)
            self.append(Change(c.type, c.key, c.object, old, c.rv))
            if c.type == DELETED:
                last.pop(c.key, None)
            else:
                last[c.key] = c.object

    def append(self, change: Change) -> None:
        self._entries.append(change)
        self._last_rv = change.rv

    @property
    def oldest_resumable(self) -> int:
        """The oldest resourceVersion a watch can start from."""
        return self._entries[0].rv - 1 if self._entries else self._last_rv

    def since(self, rv: int) -> list[Change]:
        """Every change after ``rv``; GoneError when some of them are no longer kept."""
        oldest = self.oldest_resumable
        if rv < oldest:
            raise GoneError(f"too old resource version: {rv} ({oldest})")
        newer: list[Change] = []
        for change in reversed(self._entries):
            if change.rv <= rv:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def __len__(self) -> int:
        return len(self._entries)


Selector = str | LabelSelector | None
FieldSel = str | FieldSelector | None


@dataclass(frozen=True)
class WatchFilter:
    """What a watch (or a list) wants: a kind (or all), a namespace (or all) and selectors."""

    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    labels: LabelSelector | None = None
    fields: FieldSelector | None = None

    @classmethod
    def of(
        cls,
        api_version: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        *,
        labels: Selector = None,
        fields: FieldSel = None,
    ) -> WatchFilter:
        """A filter from a request's selectors, parsed when given as text; an empty
        selector selects everything and is left out."""
        label_sel = parse_label_selector(labels) if isinstance(labels, str) else labels
        field_sel = parse_field_selector(fields) if isinstance(fields, str) else fields
        return cls(
            api_version,
            kind,
            namespace,
            None if label_sel is None or label_sel.is_empty() else label_sel,
            None if field_sel is None or field_sel.is_empty() else field_sel,
        )

    def wants(self, key: ObjectKey) -> bool:
        return (
            (self.api_version is None or key.api_version == self.api_version)
            and (self.kind is None or key.kind == self.kind)
            and (self.namespace is None or key.namespace == self.namespace)
        )

    def matches(self, obj: Obj) -> bool:
        if self.labels is not None and not self.labels.matches(labels_of(obj)):
            return False
        return self.fields is None or self.fields.matches(obj)

    def translate(self, change: Change, event: WatchEvent) -> WatchEvent | None:
        """The event this watch sees for a change, or None (cacheWatcher's conversion)."""
        if not self.wants(change.key):
            return None
        if self.labels is None and self.fields is None:
            return event
        old = change.old
        if old is None and change.type == DELETED:
            old = change.object  # the last state, which is what a deletion is judged by
        new_ok = change.type != DELETED and self.matches(change.object)
        old_ok = old is not None and self.matches(old)
        if new_ok and (old_ok or change.type == ADDED):
            return event
        if new_ok:  # it starts matching: the watch sees it arrive
            return WatchEvent(ADDED, event.object, event.resource_version)
        if old is None or not old_ok:
            return None
        if change.type == DELETED:
            return event
        # it stops matching: the watch sees it leave, as it last matched, at this version
        return WatchEvent(DELETED, stamped(old, change.rv), event.resource_version)


class Watch:
    """One consumer's stream of events. Stop it when done (or use it as a context manager)."""

    def __init__(
        self,
        flt: WatchFilter,
        *,
        max_pending: int,
        on_stop: Callable[[Watch], None] | None = None,
    ) -> None:
        self.filter = flt
        self._max_pending = max_pending
        self._on_stop = on_stop
        self._queue: deque[WatchEvent] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._stopped = False
        self._waiting = 0  # consumers blocked in next(): only then is notify() worth its cost
        self._error: ShipyardError | None = None

    # -- producer side (the store, under its write lock) ------------------------------------

    def offer(self, change: Change, event: WatchEvent) -> None:
        seen = self.filter.translate(change, event)
        if seen is None:
            return
        with self._cond:
            if self._stopped:
                return
            if len(self._queue) < self._max_pending:
                self._queue.append(seen)
                if self._waiting:
                    self._cond.notify()
                return
            self._overflow()
        self._closed_by_overflow()

    def replay(self, changes: Sequence[Change]) -> None:
        seen = [self.filter.translate(c, event_of(c)) for c in changes]
        self._push([e for e in seen if e is not None])

    def preload(self, events: Sequence[WatchEvent]) -> None:
        self._push(list(events))

    def _push(self, events: list[WatchEvent]) -> None:
        if not events:
            return
        with self._cond:
            if self._stopped:
                return
            if len(self._queue) + len(events) <= self._max_pending:
                self._queue.extend(events)
                self._cond.notify_all()
                return
            self._overflow()
        self._closed_by_overflow()

    def _closed_by_overflow(self) -> None:
        if self._on_stop is not None:
            self._on_stop(self)

    def _overflow(self) -> None:
        behind = len(self._queue)
        self._queue.clear()
        self._stopped = True
        self._cond.notify_all()
        self._error = GoneError(
            f"watch closed: its consumer fell {behind} events behind; "
            "list again and watch from the list's resourceVersion"
        )

    # -- consumer side -----------------------------------------------------------------------

    def poll(self) -> list[WatchEvent]:
        """Every event waiting now, without blocking."""
        with self._cond:
            events = list(self._queue)
            self._queue.clear()
            if not events:
                self._raise_error()
        return events

    def next(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, waiting up to ``timeout`` seconds (forever when None).

        None when the wait timed out or the watch is stopped.
        """
        with self._cond:
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: self._queue or self._stopped, timeout)
            finally:
                self._waiting -= 1
            if self._queue:
                return self._queue.popleft()
            self._raise_error()
            return None

    def stop(self) -> None:
        """End the stream; events not yet consumed are dropped."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if self._on_stop is not None:
            self._on_stop(self)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pending(self) -> int:
        return len(self._queue)

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __iter__(self) -> Iterator[WatchEvent]:
        while (event := self.next()) is not None:
            yield event

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class WatchHub:
    """The open watches, indexed by kind so a change only visits the watches that want it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_kind: dict[tuple[str, str], tuple[Watch, ...]] = {}
        self._any: tuple[Watch, ...] = ()

    def add(self, watch: Watch) -> None:
        slot = self._slot(watch)
        with self._lock:
            if slot is None:
                self._any = (*self._any, watch)
            else:
                self._by_kind[slot] = (*self._by_kind.get(slot, ()), watch)

    def remove(self, watch: Watch) -> None:
        slot = self._slot(watch)
        with self._lock:
            if slot is None:
                self._any = tuple(w for w in self._any if w is not watch)
                return
            rest = tuple(w for w in self._by_kind.get(slot, ()) if w is not watch)
            if rest:
                self._by_kind[slot] = rest
            else:
                self._by_kind.pop(slot, None)

    def publish(self, changes: Sequence[Change], events: Sequence[WatchEvent]) -> None:
        """Offer each change to the watches that may want it (caller holds the write lock)."""
        by_kind, anywhere = self._by_kind, self._any
        for change, event in zip(changes, events, strict=True):
            key = change.key
            for watch in by_kind.get((key.api_version, key.kind), ()):
                watch.offer(change, event)
            for watch in anywhere:
                watch.offer(change, event)

    def stop_all(self) -> None:
        with self._lock:
            watches = [w for ws in self._by_kind.values() for w in ws] + list(self._any)
        for watch in watches:
            watch.stop()

    def __len__(self) -> int:
        return sum(len(ws) for ws in self._by_kind.values()) + len(self._any)

    def __bool__(self) -> bool:
        """Is any watch open? (Cheaper than ``len``: the store asks on every write.)"""
        return bool(self._by_kind or self._any)

    @staticmethod
    def _slot(watch: Watch) -> tuple[str, str] | None:
        f = watch.filter
        if f.api_version is None or f.kind is None:
            return None
        return (f.api_version, f.kind)


Listener = Callable[[WatchEvent], None]


@dataclass(frozen=True, eq=False)
class _Subscription:
    fn: Listener
    kinds: frozenset[tuple[str, str]] | None  # None: every kind


class Listeners:
    """Callbacks run after each committed change, outside the store's write lock.

    The store queues a write's events while it holds its lock (so the queue is in
    resourceVersion order) and calls :meth:`deliver` once it has released it. One thread
    delivers at a time, event by event; a listener that writes to the store queues more events
    and they are delivered after the current one, by the same loop, never recursively. An
    exception from a listener does not stop the others: every listener sees every event, and
    the first exception is raised to the writer whose call delivered it.
    """

    def __init__(self) -> None:
        self._subs: tuple[_Subscription, ...] = ()
        # (apiVersion, kind) -> the listeners of that kind, in subscription order; kinds
        # nobody asked for by name map to the listeners of every kind (``_everything``)
        self._by_kind: dict[tuple[str, str], tuple[Listener, ...]] = {}
        self._everything: tuple[Listener, ...] = ()
        self._queue: deque[WatchEvent] = deque()
        self._lock = threading.Lock()
        self._delivering = False

    def add(
        self, fn: Listener, kinds: Iterable[tuple[str, str]] | None = None
    ) -> Callable[[], None]:
        sub = _Subscription(fn, None if kinds is None else frozenset(kinds))
        with self._lock:
            self._subs = (*self._subs, sub)
            self._index()

        def unsubscribe() -> None:
            with self._lock:
                self._subs = tuple(s for s in self._subs if s is not sub)
                self._index()

        return unsubscribe

    def _index(self) -> None:
        named = {kind for sub in self._subs if sub.kinds is not None for kind in sub.kinds}
        self._everything = tuple(s.fn for s in self._subs if s.kinds is None)
        self._by_kind = {
            kind: tuple(s.fn for s in self._subs if s.kinds is None or kind in s.kinds)
            for kind in named
        }

    def __bool__(self) -> bool:
        """Is any listener subscribed?"""
        return bool(self._subs)

    def enqueue(self, events: Sequence[WatchEvent]) -> None:
        if not self._subs:
            return
        by_kind, everything = self._by_kind, self._everything
        wanted = [
            e
            for e in events
            if by_kind.get((e.object.get("apiVersion", ""), e.object.get("kind", "")), everything)
        ]
        if wanted:
            with self._lock:
                self._queue.extend(wanted)

    def _listeners_of(self, event: WatchEvent) -> tuple[Listener, ...]:
        obj = event.object
        return self._by_kind.get((obj.get("apiVersion", ""), obj.get("kind", "")), self._everything)

    def deliver(self) -> None:
        if not self._queue:
            # Nothing queued (most writes when no listener is subscribed): skip the lock. A
            # concurrent writer's events are delivered by that writer's own call.
            return
        with self._lock:
            if self._delivering or not self._queue:
                return
            self._delivering = True
        first_error: Exception | None = None
        try:
            while (event := self._next()) is not None:
                for fn in self._listeners_of(event):
                    try:
                        fn(event)
                    except Exception as e:  # the others still get this event
                        first_error = first_error or e
        except BaseException:
            with self._lock:
                self._delivering = False
            raise
        if first_error is not None:
            raise first_error

    def _next(self) -> WatchEvent | None:
        """The next queued event; when none is left, delivery ends (under the same lock)."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            self._delivering = False
            return None
