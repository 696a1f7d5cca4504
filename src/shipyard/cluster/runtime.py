"""The controller runtime: watch-driven work queues and reconcile loops on an injected clock.

One controller is a small class with a dotted ``name``, the kinds it ``watches`` (each with
a function mapping a changed object to the keys to reconcile, e.g. a Pod to its owning
ReplicaSet), and ``reconcile(key) -> Result | None``. The :class:`Manager` subscribes to the
cluster's change stream, queues keys per controller (a key already queued is not queued
twice), and drains the queues from clock timers — so on a :class:`VirtualClock` a whole
cluster runs deterministically in virtual time, and on a real clock the same code runs live.

What happens after a reconcile is decided by its result or the error type (as in kopf and
controller-runtime):

- ``Result(requeue_after=s)``: reconcile this key again in ``s`` seconds (e.g. a progress
  deadline); ``None``: done until the next change.
- ``ConflictError``: somebody else wrote first; requeue at once (counted as a retry).
- ``TemporaryError`` / ``TooManyRequestsError``: requeue after their delay.
- ``NotFoundError``: the object is gone; nothing to do.
- anything else: logged, retried with per-key exponential back-off (``BACKOFF_BASE`` doubling
  up to ``BACKOFF_MAX``), the way client-go's rate-limited queue does.

Keys are processed in the order they were queued; a drain makes passes over the controllers
in the order they were added, each emptying its queue in turn, until every queue is empty
(bounded by ``MAX_ROUNDS`` reconciles per drain, after which the rest waits for the next
timer, so a controller that keeps re-queuing itself cannot stall the clock).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from shipyard.cluster.client import Client
from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.errors import (
    ConflictError,
    NotFoundError,
    TemporaryError,
    TooManyRequestsError,
)
from shipyard.core.objects import Obj, ObjectKey, key_of
from shipyard.store.watch import WatchEvent

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "Controller",
    "Manager",
    "Result",
    "Watches",
    "owner_keys",
    "same_key",
]

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_MAX = 300.0
MAX_ROUNDS = 200_000

Mapper = Callable[[Obj], Iterable[ObjectKey]]


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for: ``requeue_after`` seconds, or nothing."""

    requeue_after: float | None = None


@dataclass(frozen=True)
class Watches:
    """A kind a controller follows, and how a changed object maps to keys to reconcile."""

    api_version: str
    kind: str
    mapper: Mapper = field(default=lambda obj: (key_of(obj),))


class Controller(Protocol):
    name: str

    def watches(self) -> list[Watches]: ...

    def reconcile(self, key: ObjectKey) -> Result | None: ...


def same_key(obj: Obj) -> tuple[ObjectKey, ...]:
    """The object itself (the default mapper)."""
    return (key_of(obj),)


def owner_keys(api_version: str, kind: str) -> Mapper:
    """Map an object to its controller owner of the given kind (a Pod to its ReplicaSet)."""

    def mapper(obj: Obj) -> tuple[ObjectKey, ...]:
        md = obj.get("metadata") or {}
        for ref in md.get("ownerReferences") or ():
            if (
                ref.get("controller")
                and ref.get("kind") == kind
                and (ref.get("apiVersion") == api_version)
            ):
                return (ObjectKey(api_version, kind, md.get("namespace") or "", ref["name"]),)
        return ()

    return mapper


@dataclass
class _Queue:
    controller: Controller
    keys: OrderedDict[ObjectKey, None] = field(default_factory=OrderedDict)
    failures: dict[ObjectKey, int] = field(default_factory=dict)
    timers: dict[ObjectKey, tuple[float, TimerHandle]] = field(default_factory=dict)


class Manager:
    """Runs controllers: routes changes to their queues and drains them on the clock."""

    def __init__(self, client: Client, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._queues: list[_Queue] = []
        self._routes: dict[tuple[str, str], list[tuple[_Queue, Mapper]]] = {}
        self._scheduled = False
        self._lock = threading.RLock()
        self._unsubscribe: Callable[[], None] | None = None
        self.reconciles = 0

    def add(self, controller: Controller) -> None:
        queue = _Queue(controller)
        self._queues.append(queue)
        for w in controller.watches():
            self._routes.setdefault((w.api_version, w.kind), []).append((queue, w.mapper))
        if self._unsubscribe is not None:  # started already: follow the new kinds too
            self._unsubscribe()
            self._subscribe()

    def _subscribe(self) -> None:
        self._unsubscribe = self._client.add_listener(self._on_event, kinds=list(self._routes))

    def start(self) -> None:
        """Subscribe to changes and queue every existing object once (an initial list)."""
        self._subscribe()
        for (api_version, kind), routes in self._routes.items():
            for obj in self._client.list(api_version, kind).items:
                for queue, mapper in routes:
                    self._enqueue_all(queue, mapper(obj))
        self._schedule()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for queue in self._queues:
            for _, timer in queue.timers.values():
                timer.cancel()
            queue.timers.clear()

    def enqueue(self, controller_name: str, key: ObjectKey, after: float = 0.0) -> None:
        """Ask a controller to reconcile ``key`` (now, or ``after`` seconds from now)."""
        queue = next(q for q in self._queues if q.controller.name == controller_name)
        if after > 0:
            self._requeue_later(queue, key, after)
        else:
            self._enqueue_all(queue, (key,))
            self._schedule()

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        routes = self._routes.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if not routes:
            return
        with self._lock:  # once for every route (mappers never wait on this manager)
            for queue, mapper in routes:
                keys = queue.keys
                for key in mapper(obj):
                    keys[key] = None
        self._schedule()

    def _enqueue_all(self, queue: _Queue, keys: Iterable[ObjectKey]) -> None:
        with self._lock:
            for key in keys:
                queue.keys[key] = None

    def _schedule(self) -> None:
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._clock.call_later(0, self._drain)

    def _drain(self) -> None:
        """Passes over the controllers in order, each emptying its queue before the next runs.

        A controller's burst of writes (a kubelet starting twenty pods) is therefore seen by
        the controllers after it once, as one de-duplicated key each, not once per write.
        """
        with self._lock:
            self._scheduled = False
            rounds = 0
            while rounds < MAX_ROUNDS:
                ran = 0
                for queue in self._queues:
                    ran += self._drain_queue(queue, MAX_ROUNDS - rounds - ran)
                if ran == 0:
                    return
                rounds += ran
        self._schedule()

    def _drain_queue(self, queue: _Queue, budget: int) -> int:
        ran = 0
        keys = queue.keys
        while keys and ran < budget:
            key, _ = keys.popitem(last=False)
            self._run(queue, key)
            ran += 1
        return ran

    def _run(self, queue: _Queue, key: ObjectKey) -> None:
        self.reconciles += 1
        try:
            result = queue.controller.reconcile(key)
        except NotFoundError:
            queue.failures.pop(key, None)
            return
        except ConflictError:
            queue.keys[key] = None
            return
        except (TemporaryError, TooManyRequestsError) as e:
            delay = e.delay if isinstance(e, TemporaryError) else e.retry_after
            self._requeue_later(queue, key, delay)
            return
        except Exception:
            log.exception("%s: reconcile of %s failed", queue.controller.name, key)
            self._backoff(queue, key)
            return
        queue.failures.pop(key, None)
        if result is not None and result.requeue_after is not None:
            self._requeue_later(queue, key, result.requeue_after)

    def _backoff(self, queue: _Queue, key: ObjectKey) -> None:
        failures = queue.failures.get(key, 0) + 1
        queue.failures[key] = failures
        self._requeue_later(queue, key, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)))

    def _requeue_later(self, queue: _Queue, key: ObjectKey, delay: float) -> None:
        """One timer per (controller, key): the earliest request wins."""
        due = self._clock.now() + max(0.0, delay)
        existing = queue.timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return
            existing[1].cancel()

        def fire() -> None:
            queue.timers.pop(key, None)
            self._enqueue_all(queue, (key,))
            self._schedule()

        queue.timers[key] = (due, self._clock.call_later(max(0.0, delay), fire))
