"""Nodes and NodeClaims by provider id, kept current from the cluster's change stream.

Registration pairs a claim with the Node whose ``spec.providerID`` is the claim's
``status.providerID``; a Node event must find its claim and a claim its Node without listing
every object. :class:`ProviderIndex` is that lookup — an informer's index: it lists both kinds
once, then follows the change stream (a deleted object leaves the index; a changed provider id
moves). Reads through it are hints: the controllers re-read the object they act on.
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.autoscaler.lifecycle.model import API_VERSION, KIND
from shipyard.cluster.client import Client
from shipyard.core.objects import Obj, meta
from shipyard.store.backends import DELETED
from shipyard.store.watch import WatchEvent

__all__ = ["ProviderIndex"]


class _ByProvider:
    """name <-> provider id for one kind."""

    def __init__(self) -> None:
        self.by_id: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    def put(self, name: str, provider_id: str) -> None:
        old = self._ids.get(name)
        if old == provider_id:
            return
        if old is not None and self.by_id.get(old) == name:
            del self.by_id[old]
        if provider_id:
            self._ids[name] = provider_id
            self.by_id[provider_id] = name
        else:
            self._ids.pop(name, None)

    def drop(self, name: str) -> None:
        self.put(name, "")


class ProviderIndex:
    """Node and NodeClaim names by provider id (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self._nodes = _ByProvider()
        self._claims = _ByProvider()
        self._unsubscribe: Callable[[], None] | None = client.add_listener(self._on_event)
        for node in client.list("v1", "Node", copy=False):
            self._observe(node, deleted=False)
        for claim in client.list(API_VERSION, KIND, copy=False):
            self._observe(claim, deleted=False)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def node(self, provider_id: str) -> str | None:
        """The name of the Node with this ``spec.providerID``."""
        return self._nodes.by_id.get(provider_id) if provider_id else None

    def claim(self, provider_id: str) -> str | None:
        """The name of the NodeClaim with this ``status.providerID``."""
        return self._claims.by_id.get(provider_id) if provider_id else None

    def claims(self) -> dict[str, str]:
        """provider id -> claim name, for every launched claim."""
        return dict(self._claims.by_id)

    def _on_event(self, event: WatchEvent) -> None:
        self._observe(event.object, deleted=event.type == DELETED)

    def _observe(self, obj: Obj, *, deleted: bool) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if (api_version, kind) == ("v1", "Node"):
            table, provider_id = self._nodes, (obj.get("spec") or {}).get("providerID")
        elif (api_version, kind) == (API_VERSION, KIND):
            table, provider_id = self._claims, (obj.get("status") or {}).get("providerID")
        else:
            return
        name = str(meta(obj).get("name") or "")
        if deleted:
            table.drop(name)
        else:
            table.put(name, str(provider_id or ""))
