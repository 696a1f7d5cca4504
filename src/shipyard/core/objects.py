"""Unstructured Kubernetes objects: plain JSON-shaped dicts, and small helpers over them.

Shipyard keeps objects the way the API server does on the wire: ``dict[str, Any]`` holding
only JSON types (dict, list, str, int, float, bool, None). Typed views are built where a
component needs them; the store, patches and the API facade stay unstructured so that any
kind, including custom ones, passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

__all__ = [
    "IdentityCache",
    "Obj",
    "ObjectKey",
    "api_group",
    "json_copy",
    "key_of",
    "labels_of",
    "meta",
    "split_api_version",
]

Obj = dict[str, Any]
V = TypeVar("V")


class ObjectKey(NamedTuple):
    """Where an object lives: apiVersion, kind, namespace ('' when cluster-scoped), name.

    Immutable, hashable and ordered by its fields. A NamedTuple rather than a frozen
    dataclass: keys are built and hashed on every store write and queue operation, and a
    tuple does both in C (about a third of the cost).
    """

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def api_group(api_version: str) -> str:
    return split_api_version(api_version)[0]


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's metadata (an empty dict when it has none)."""
    value = obj.get("metadata")
    if type(value) is dict:  # the common case, without isinstance's subclass walk
        return value
    return value if isinstance(value, dict) else {}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    md = obj.get("metadata")
    value = md.get("labels") if type(md) is dict else meta(obj).get("labels")
    return value if type(value) is dict or isinstance(value, dict) else {}


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    md = meta(obj)
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    namespace, name = md.get("namespace") or "", md.get("name") or ""
    if (  # stored objects: no conversions
        type(api_version) is str
        and type(kind) is str
        and type(namespace) is str
        and type(name) is str
    ):
        return ObjectKey(api_version, kind, namespace, name)
    return ObjectKey(str(api_version), str(kind), str(namespace), str(name))


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data, several times faster than ``copy.deepcopy``.

    JSON data (str keys, 64-bit ints, finite floats) takes a round trip through ``orjson``,
    about twice as fast as any copy in Python; anything else (big ints, datetimes, tuples
    inside, non-str keys) takes the Python copy below. Both make plain dicts and lists of
    subclasses such as ordered or commented maps. (JSON has no NaN or infinity: orjson writes
    them as null.)

    Exact ``type(...) is`` checks instead of ``isinstance``: JSON data holds only plain
    dicts and lists, and this function is on the store's hottest path (every write copies
    the caller's object in and the stored object out). Containers are copied shallowly in C
    (``dict.copy``, ``list.copy``) and only their nested containers replaced, so the scalars
    that make up most of an object cost no Python-level work.
    """
    kind = type(value)
    if kind is dict or kind is list:
        try:
            return orjson.loads(orjson.dumps(value, option=_PASSTHROUGH))
        except orjson.JSONEncodeError:  # not plain JSON: a big int, a datetime, a non-str key
            pass
        return _copy_dict(value) if kind is dict else _copy_list(value)
    return value if kind in _SCALARS else _copy_other(value)


# Values orjson would turn into something else (a datetime into text) must make it fail, so
# that the Python copy keeps them as they are.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _copy_dict(value: dict[str, Any]) -> dict[str, Any]:
    out = value.copy()
    for key, item in value.items():
        kind = type(item)
        if kind in _SCALARS:  # most values: already in the copy
            continue
        if kind is dict:
            out[key] = _copy_dict(item)
        elif kind is list:
            out[key] = _copy_list(item)
        else:
            out[key] = _copy_other(item)
    return out


def _copy_list(value: list[Any]) -> list[Any]:
    out = value.copy()
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict:
            out[index] = _copy_dict(item)
        elif kind is list:
            out[index] = _copy_list(item)
        elif kind not in _SCALARS:
            out[index] = _copy_other(item)
    return out


def _copy_other(item: Any) -> Any:
    """Subclasses of dict or list (ordered or commented maps from a YAML loader) become plain."""
    if isinstance(item, dict):
        return _copy_dict(dict(item))
    if isinstance(item, (list, tuple)):
        return _copy_list(list(item))
    return item


class IdentityCache(Generic[V]):
    """Values derived from objects that are never changed in place (stored objects, their
    shared parts, immutable records), kept by the object's identity.

    The object is held with its value, so its ``id`` cannot be reused by another object while
    the entry lives; the whole cache is dropped when it reaches ``limit`` entries. Only
    read-only objects belong here: one changed in place after ``put`` is served stale.
    """

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: dict[int, tuple[object, V]] = {}
        self._limit = limit

    def get(self, obj: object) -> V | None:
        found = self._items.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None

    def put(self, obj: object, value: V) -> V:
        if len(self._items) >= self._limit:
            self._items.clear()
        self._items[id(obj)] = (obj, value)
        return value
