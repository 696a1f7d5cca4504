"""Changes of some kinds, buffered from a client's listener until a reader takes them.

An informer-style reader (the disruption controller's cluster reader, the Cluster-Autoscaler
baseline's cache) does not re-list the cluster on every pass: it lists once, then keeps the
changes the store reports and applies them when it next looks. A :class:`ChangeBuffer` keeps
the last change of each object only, in the order of those last changes (an object written
twice since the last look is applied once, where its last write falls).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from shipyard.cluster.client import Client
from shipyard.core.objects import Obj, meta
from shipyard.store.watch import WatchEvent

__all__ = ["ChangeBuffer"]


class ChangeBuffer:
    """The changes of ``kinds`` since the last :meth:`take`, one per object."""

    def __init__(self, client: Client, kinds: Iterable[tuple[str, str]]) -> None:
        self._kinds = list(kinds)
        self._changes: dict[tuple[str, str, str], tuple[str, Obj]] = {}
        self._unsubscribe: Callable[[], None] | None = client.add_listener(
            self._on_event, kinds=self._kinds
        )
        self._client = client

    def initial(self) -> list[tuple[tuple[str, str], Obj]]:
        """Every stored object of the kinds, shared (the list a reader starts from), kind by
        kind in the order given."""
        return [
            ((api_version, kind), obj)
            for api_version, kind in self._kinds
            for obj in self._client.list(api_version, kind, copy=False).items
        ]

    def take(self) -> list[tuple[str, Obj]]:
        """(event type, object) of each object changed since the last call."""
        changes, self._changes = self._changes, {}
        return list(changes.values())

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object
        md = meta(obj)
        key = (str(obj.get("kind")), str(md.get("namespace") or ""), str(md.get("name")))
        self._changes.pop(key, None)  # re-insert: changes apply in the order of their last write
        self._changes[key] = (event.type, obj)
