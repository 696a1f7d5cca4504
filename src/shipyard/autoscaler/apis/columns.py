"""Printer columns of the autoscaler's kinds, as Karpenter's CRDs print them.

Columns follow the CRDs' ``additionalPrinterColumns``; ``NAME`` and ``AGE`` are added by the
CLI (see :mod:`shipyard.store.kinds`), and columns Karpenter marks ``priority: 1`` are
wide-only, written with a trailing ``*`` (``WEIGHT*``). A value the object does not have
prints as ``<none>``, like a CRD column whose JSONPath finds nothing.

- NodePool: ``NODECLASS NODES READY`` and wide ``WEIGHT CPU MEMORY`` (``NODES`` reads
  ``status.nodes``, falling back to ``status.resources.nodes`` of older releases);
- NodeClaim: ``TYPE CAPACITY ZONE NODE READY`` and wide ``ID NODEPOOL NODECLASS PRICE``;
  ``PRICE`` is Shipyard's own: the hourly price the cloud charged for the instance, read from
  the ``shipyard.dev/price`` annotation (a USD/h decimal string) and shown as ``$0.0416/h``;
- EC2NodeClass: ``READY`` and wide ``ROLE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.core.labels import CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE

__all__ = [
    "NODECLAIM_COLUMNS",
    "NODECLASS_COLUMNS",
    "NODEPOOL_COLUMNS",
    "PRICE_ANNOTATION",
    "Column",
]

Obj = dict[str, Any]
Column = tuple[str, Callable[[Obj], str]]
PRICE_ANNOTATION = "shipyard.dev/price"
_NONE = "<none>"


def _at(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _text(value: Any) -> str:
    if value is None or value in ("", [], {}):
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field(*keys: str) -> Callable[[Obj], str]:
    return lambda obj: _text(_at(obj, *keys))


def _label(key: str) -> Callable[[Obj], str]:
    return lambda obj: _text(_at(obj, "metadata", "labels", key))


def _ready(obj: Obj) -> str:
    conditions = _at(obj, "status", "conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return _text(condition.get("status"))
    return _NONE


def _nodes(obj: Obj) -> str:
    nodes = _at(obj, "status", "nodes")
    return _text(_at(obj, "status", "resources", "nodes") if nodes is None else nodes)


def _price(obj: Obj) -> str:
    text = _at(obj, "metadata", "annotations", PRICE_ANNOTATION)
    if not isinstance(text, str) or not text:
        return _NONE
    try:
        valid = float(text) >= 0
    except ValueError:
        valid = False
    return f"${text}/h" if valid else text


NODEPOOL_COLUMNS: tuple[Column, ...] = (
    ("NODECLASS", _field("spec", "template", "spec", "nodeClassRef", "name")),
    ("NODES", _nodes),
    ("READY", _ready),
    ("WEIGHT*", _field("spec", "weight")),
    ("CPU*", _field("status", "resources", "cpu")),
    ("MEMORY*", _field("status", "resources", "memory")),
)
NODECLAIM_COLUMNS: tuple[Column, ...] = (
    ("TYPE", _label(INSTANCE_TYPE)),
    ("CAPACITY", _label(CAPACITY_TYPE)),
    ("ZONE", _label(ZONE)),
    ("NODE", _field("status", "nodeName")),
    ("READY", _ready),
    ("ID*", _field("status", "providerID")),
    ("NODEPOOL*", _label(NODEPOOL)),
    ("NODECLASS*", _field("spec", "nodeClassRef", "name")),
    ("PRICE*", _price),
)
NODECLASS_COLUMNS: tuple[Column, ...] = (
    ("READY", _ready),
    ("ROLE*", _field("spec", "role")),
)
