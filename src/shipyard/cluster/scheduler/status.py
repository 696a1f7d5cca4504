"""The pod status the scheduler's strategic merge patches leave, without the general merge.

The scheduler patches a pod's status with ``conditions: [<one condition>]`` and/or
``nominatedNodeName`` (a node name, or null to remove it), once for nearly every failed
attempt. :func:`merge_status` gives, for exactly these patches, the status the store's
strategic merge gives (``conditions`` merged by ``type``): the condition's fields are set on
the stored condition of its type, which keeps its place (fields it alone has stay), or —
without one — it goes *first*, as Kubernetes' strategic merge orders a list: patch elements
before server elements unless the server had them earlier. Fields come in the same order too.
For any other shape, e.g. a stored list with two conditions of one type or one without a
type, it answers None and the caller uses the store's merge; the property tests compare both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.objects import json_copy

__all__ = ["merge_status"]

_FIELDS = frozenset({"conditions", "nominatedNodeName"})
_MISSING = object()


def merge_status(current: Any, patch: Mapping[str, Any]) -> dict[str, Any] | None:
    """``current`` (a stored pod's ``status``) with the scheduler's ``patch`` merged in, or
    None when the patch or the stored conditions are not of the simple shape handled here."""
    if not patch.keys() <= _FIELDS:
        return None
    nominated = patch.get("nominatedNodeName", _MISSING)
    if not (nominated is _MISSING or nominated is None or isinstance(nominated, str)):
        return None
    status: dict[str, Any] = json_copy(current) if isinstance(current, dict) else {}
    for field, value in patch.items():
        if field == "conditions":
            conditions = _merged_conditions(status.get("conditions"), value)
            if conditions is None:
                return None
            status["conditions"] = conditions
        elif value is None:
            status.pop(field, None)
        else:
            status[field] = value
    return status


def _merged_conditions(stored: Any, patch: Any) -> list[Any] | None:
    if not (isinstance(patch, list) and len(patch) == 1 and _plain(patch[0])):
        return None
    new: dict[str, Any] = patch[0]
    conditions = stored if isinstance(stored, list) else []
    types = [c.get("type") if isinstance(c, dict) else None for c in conditions]
    if not all(isinstance(t, str) for t in types) or len(set(types)) != len(types):
        return None
    if new["type"] in types:
        at = types.index(new["type"])
        return [*conditions[:at], {**conditions[at], **new}, *conditions[at + 1 :]]
    return [dict(new), *conditions]


def _plain(condition: Any) -> bool:
    """A condition of string fields with a string ``type`` and no ``$`` directives."""
    return (
        isinstance(condition, dict)
        and isinstance(condition.get("type"), str)
        and all(isinstance(v, str) and not k.startswith("$") for k, v in condition.items())
    )
