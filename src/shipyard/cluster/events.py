"""Recording Kubernetes Events (``v1 Event``) for the transitions users look for.

``EventRecorder.event(obj, type, reason, message)`` writes an Event about ``obj`` from a
named component (``default-scheduler``, ``kubelet``, ``deployment-controller`` …). Like
client-go's recorder, repeats of the same (object, type, reason, message) are folded into one
Event whose ``count`` grows and whose ``lastTimestamp`` moves, so a pod that fails to
schedule every few seconds shows one ``FailedScheduling`` line with ``(x12 over 5m)``.
Names follow Kubernetes: ``<object name>.<hex of the time in nanoseconds>``; when two
recorders write about objects of the same name at the same instant, the later one takes the
next nanosecond. Like client-go's correlator, a recorder remembers the last 4,096 Events it
wrote (least recently used forgotten first), so a long-running component stays bounded; a
repeat of a forgotten Event starts a new one.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import TypeVar

from shipyard.cluster.client import Client
from shipyard.core.clock import format_time
from shipyard.core.errors import AlreadyExistsError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, meta

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["NORMAL", "WARNING", "EventRecorder"]

_NAME_ATTEMPTS = 64
_REMEMBERED = 4096
NORMAL = "Normal"
WARNING = "Warning"


class EventRecorder:
    """Writes and folds Events for one component."""

    def __init__(self, client: Client, component: str, *, host: str = "") -> None:
        self._client = client
        self._component = component
        self._host = host
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str]] = OrderedDict()
        # (namespace, object name) -> the last name suffix this recorder took, so the k-th
        # event about one object in one instant does not first collide with the k-1 before it
        self._last: OrderedDict[tuple[str, str], int] = OrderedDict()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record ``reason: message`` on ``obj``; never raises (events are best effort)."""
        md = meta(obj)
        uid = str(md.get("uid", ""))
        namespace = str(md.get("namespace") or "default")
        fold = (uid, type_, reason, message)
        instant = self._client.clock.now()
        now = format_time(instant)
        with contextlib.suppress(ShipyardError):
            seen = self._seen.get(fold)
            if seen is not None and self._bump(*seen, now):
                self._seen.move_to_end(fold)
                return
            self._create(obj, namespace, fold, instant, type_=type_, reason=reason, message=message)

    def _create(
        self,
        obj: Obj,
        namespace: str,
        fold: tuple[str, str, str, str],
        instant: float,
        *,
        type_: str,
        reason: str,
        message: str,
    ) -> None:
        now = format_time(instant)
        nanos = int(instant * 1e9)
        obj_name = str(meta(obj).get("name", "unknown"))
        taken = (namespace, obj_name)
        start = max(nanos, self._last.get(taken, nanos - 1) + 1)
        for suffix in range(start, nanos + _NAME_ATTEMPTS):
            name = f"{obj_name}.{suffix:x}"
            event = self._new(
                obj, name, namespace, type_=type_, reason=reason, message=message, now=now
            )
            try:
                self._client.create(event, handoff=True)
            except AlreadyExistsError:
                continue
            _remember(self._last, taken, suffix)
            _remember(self._seen, fold, (namespace, name))
            return

    def _bump(self, namespace: str, name: str, now: str) -> bool:
        try:
            ev = self._client.get("v1", "Event", name, namespace=namespace)
        except NotFoundError:
            return False
        ev["count"] = int(ev.get("count") or 1) + 1
        ev["lastTimestamp"] = now
        self._client.update(ev, handoff=True)
        return True

    def _new(
        self,
        obj: Obj,
        name: str,
        namespace: str,
        *,
        type_: str,
        reason: str,
        message: str,
        now: str,
    ) -> Obj:
        md = meta(obj)
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": md.get("name", ""),
            "uid": md.get("uid", ""),
            "resourceVersion": md.get("resourceVersion", ""),
        }
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        source = {"component": self._component}
        if self._host:
            source["host"] = self._host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message,
            "source": source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": self._component,
        }


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > _REMEMBERED:
        cache.popitem(last=False)
