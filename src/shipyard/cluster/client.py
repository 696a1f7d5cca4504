"""The ``Client`` seam: how controllers and products speak to a cluster.

Every controller (the embedded cluster's own, the autoscaler's, GitOps') takes a ``Client``
and nothing else of the cluster, so the same code runs against the embedded store and,
later, against a real Kubernetes API server (``KubeClient``). The verbs are kubectl's,
options are keyword-only, and errors are Shipyard's (``NotFoundError``, ``ConflictError``,
``TooManyRequestsError`` from an eviction a budget forbids, ...).

Two options exist for speed, and mean nothing to a remote API server: ``copy=False`` on
``get``/``list`` returns objects that may be shared with the client's cache (read-only, as an
informer's), and ``handoff=True`` on writes gives the object to the client (the caller must
not use it again) and returns a result that may be shared read-only. Over HTTP both are
plain copies already.

``EmbeddedClient`` is a thin layer over :class:`~shipyard.store.store.Store` that adds the
Eviction API (``evict``), which needs the disruption budgets' judgement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from shipyard.core.clock import Clock
from shipyard.core.objects import Obj
from shipyard.store.scheme import Scheme
from shipyard.store.store import ObjectList, Store
from shipyard.store.watch import Watch, WatchEvent

__all__ = ["Client", "EmbeddedClient", "Evictor"]


class Client(Protocol):
    """The verbs a controller may use on a cluster."""

    @property
    def scheme(self) -> Scheme: ...

    @property
    def clock(self) -> Clock: ...

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str = "", copy: bool = True
    ) -> Obj: ...

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: Any = None,
        field_selector: Any = None,
        copy: bool = True,
    ) -> ObjectList: ...

    def create(self, obj: Obj, *, dry_run: bool = False, handoff: bool = False) -> Obj: ...

    def update(self, obj: Obj, *, dry_run: bool = False, handoff: bool = False) -> Obj: ...

    def update_status(self, obj: Obj, *, handoff: bool = False) -> Obj: ...

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> Obj: ...

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        namespace: str = "",
        propagation_policy: str = "Background",
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
        copy: bool = True,
    ) -> Obj: ...

    def watch(
        self,
        api_version: str | None = None,
        kind: str | None = None,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: Any = None,
        field_selector: Any = None,
    ) -> Watch: ...

    def add_listener(
        self,
        fn: Callable[[WatchEvent], None],
        *,
        kinds: Iterable[tuple[str, str]] | None = None,
    ) -> Callable[[], None]:
        """``fn`` after each change (of ``kinds``, ``(apiVersion, kind)`` pairs, if given)."""
        ...

    def bind(
        self,
        name: str,
        *,
        namespace: str,
        node: str,
        resource_version: str | None = None,
        copy: bool = True,
    ) -> Obj:
        """The ``pods/binding`` subresource: ``spec.nodeName`` and ``PodScheduled=True``."""
        ...

    def evict(self, name: str, *, namespace: str, grace_period_seconds: int | None = None) -> Obj:
        """The Eviction API: delete a pod unless a disruption budget forbids it (429)."""
        ...


class Evictor(Protocol):
    """The judgement behind ``evict``: the embedded cluster's disruption controller."""

    def evict(self, name: str, *, namespace: str, grace_period_seconds: int | None) -> Obj: ...


class EmbeddedClient:
    """A ``Client`` over the embedded store; ``evict`` is delegated to an ``Evictor``."""

    def __init__(self, store: Store, evictor: Evictor | None = None) -> None:
        self._store = store
        self._evictor = evictor
        self.get = store.get
        self.list = store.list
        self.create = store.create
        self.update = store.update
        self.update_status = store.update_status
        self.patch = store.patch
        self.delete = store.delete
        self.bind = store.bind
        self.watch = store.watch
        self.add_listener = store.add_listener

    @property
    def store(self) -> Store:
        return self._store

    @property
    def scheme(self) -> Scheme:
        return self._store.scheme

    @property
    def clock(self) -> Clock:
        return self._store.clock

    def set_evictor(self, evictor: Evictor) -> None:
        self._evictor = evictor

    def evict(self, name: str, *, namespace: str, grace_period_seconds: int | None = None) -> Obj:
        if self._evictor is None:
            return self._store.delete("v1", "Pod", name, namespace=namespace)
        return self._evictor.evict(
            name, namespace=namespace, grace_period_seconds=grace_period_seconds
        )
