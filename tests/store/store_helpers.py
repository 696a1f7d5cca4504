"""Helpers for the store tests: a small hand-built scheme, object builders and store factories.

The scheme here is deliberately tiny and independent of ``shipyard.store.kinds`` so the store's
machinery is tested on its own: Pods get a default and a validation rule, ConfigMaps have no
status subresource, Namespaces and Nodes are cluster-scoped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import FieldError
from shipyard.core.objects import Obj
from shipyard.store.backends import Backend, MemoryBackend, SqliteBackend
from shipyard.store.scheme import KindInfo, Scheme
from shipyard.store.store import Store

BACKENDS = ["memory", "sqlite"]


def _default_pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("restartPolicy", "Always")


def _validate_pod(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    causes = []
    containers = (obj.get("spec") or {}).get("containers")
    if not containers:
        causes.append(FieldError("spec.containers", "Required value"))
    for i, c in enumerate(containers or []):
        if not c.get("image"):
            causes.append(FieldError(f"spec.containers[{i}].image", "Required value"))
    name = obj["metadata"].get("name", "")
    if name != name.lower():
        causes.append(FieldError("metadata.name", f'Invalid value: "{name}": must be lowercase'))
    old_node = (old or {}).get("spec", {}).get("nodeName")
    if old_node and obj["spec"].get("nodeName") != old_node:
        causes.append(FieldError("spec.nodeName", "Forbidden: pod updates may not change it"))
    return causes


def make_scheme() -> Scheme:
    return Scheme(
        [
            KindInfo("", "v1", "Namespace", "namespaces", False, ("ns",)),
            KindInfo("", "v1", "Node", "nodes", False, ("no",)),
            KindInfo(
                "", "v1", "Pod", "pods", True, ("po",), default=_default_pod, validate=_validate_pod
            ),
            KindInfo("", "v1", "ConfigMap", "configmaps", True, ("cm",), has_status=False),
            KindInfo("apps", "v1", "Deployment", "deployments", True, ("deploy",)),
            KindInfo("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",)),
        ]
    )


def make_backend(kind: str, tmp_path: Path, name: str = "store.db") -> Backend:
    if kind == "memory":
        return MemoryBackend()
    return SqliteBackend(tmp_path / name)


def make_store(
    kind: str,
    tmp_path: Path,
    *,
    clock: VirtualClock | None = None,
    history: int = 100_000,
    namespaces: Iterable[str] = ("default",),
    scheme: Scheme | None = None,
) -> Store:
    store = Store(
        make_backend(kind, tmp_path),
        scheme or make_scheme(),
        clock or VirtualClock(),
        history=history,
    )
    for ns in namespaces:
        store.create(make_namespace(ns))
    return store


def make_namespace(name: str = "default", **overrides: Any) -> Obj:
    return _merge({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, overrides)


def make_pod(
    name: str = "web-1",
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    **overrides: Any,
) -> Obj:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web"} if labels is None else labels,
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.local/web:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ]
        },
    }
    return _merge(pod, overrides)


def make_configmap(name: str = "settings", *, namespace: str = "default", **overrides: Any) -> Obj:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"color": "blue"},
    }
    return _merge(cm, overrides)


def make_replicaset(name: str = "web-abc", *, namespace: str = "default", **overrides: Any) -> Obj:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    return _merge(rs, overrides)


def make_deployment(name: str = "web", *, namespace: str = "default", **overrides: Any) -> Obj:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    return _merge(deploy, overrides)


def owner_ref(owner: Obj, *, block: bool | None = None, controller: bool = True) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
    }
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


def owned(obj: Obj, *owners: Obj, block: bool | None = None) -> Obj:
    """``obj`` with ownerReferences to each owner."""
    obj["metadata"]["ownerReferences"] = [owner_ref(o, block=block) for o in owners]
    return obj


def names(objs: Iterable[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def exists(store: Store, obj: Obj) -> bool:
    found = store.list(
        obj["apiVersion"], obj["kind"], namespace=obj["metadata"].get("namespace") or None
    )
    return obj["metadata"]["name"] in names(found)


def event_summary(events: Iterable[Any]) -> list[tuple[str, str]]:
    """``(type, name)`` for each watch event."""
    return [(e.type, e.object["metadata"]["name"]) for e in events]


def _merge(base: Obj, overrides: dict[str, Any]) -> Obj:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base


def closing(store: Store) -> Iterator[Store]:
    try:
        yield store
    finally:
        store.close()
