"""kubectl's client-side apply: a three-way merge of last-applied, desired and live.

``kubectl apply`` (without ``--server-side``) remembers what it applied in the
``kubectl.kubernetes.io/last-applied-configuration`` annotation and, on the next apply,
computes one patch from three documents, as ``CreateThreeWayMergePatch`` in
``k8s.io/apimachinery`` does:

- *original*, the last-applied configuration: what this user asked for last time;
- *modified*, the manifest being applied, carrying its own new annotation;
- *current*, the live object, which other writers (controllers, an HPA, defaulting) change too.

The patch is the union of two halves:

- **deletions**, original → modified: a field the user applied before and has now dropped is
  removed (``null``; ``$patch: delete`` for an element of a keyed list;
  ``$deleteFromPrimitiveList`` for a primitive of a merged list);
- **changes**, current → modified, deletions ignored: every field the manifest sets is set.

So a field only the live object has, never applied by this user (``status``, ``replicas`` an
HPA scales while the manifest omits it, a finalizer a controller added), is left alone, while
a field this user applied and then removed from the manifest is removed from the object.
Built-in kinds get a strategic merge patch (keyed lists merge element by element); custom
resources a JSON merge patch, as kubectl sends them.

Like ``kubectl apply`` with its default ``--overwrite=true``, there is no conflict detection:
the manifest wins wherever it speaks. The annotation's JSON is the manifest without the
annotation itself, compact with sorted keys, HTML characters escaped and a trailing newline,
with an empty ``annotations`` map kept, the way kubectl's Go encoder writes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import BadRequestError
from shipyard.core.objects import json_copy, key_of, meta
from shipyard.store.patch import PatchType, apply_patch, create_strategic_merge_patch
from shipyard.store.patch_json import json_equal
from shipyard.store.patch_keys import PatchSchema, schema_for

__all__ = ["LAST_APPLIED", "apply_result", "last_applied", "three_way_patch", "with_last_applied"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Go's encoding/json escapes these inside strings; matching it keeps annotations byte-identical.
_GO_ESCAPES = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_ORDER_PREFIX = "$setElementOrder/"


def last_applied(live: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configuration last applied to ``live``, or ``None`` when it was never applied."""
    annotations = meta(live).get("annotations")
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if text is None or text == "":
        return None
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BadRequestError(
            f"{key_of(live)}: annotation {LAST_APPLIED} does not hold a JSON object; "
            "remove the annotation, or apply with --server-side"
        )
    return value


def with_last_applied(desired: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``desired`` whose annotation records ``desired`` itself, as kubectl writes it."""
    obj: dict[str, Any] = json_copy(desired)
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise BadRequestError(f"{key_of(desired)}: metadata must be an object")
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise BadRequestError(f"{key_of(desired)}: metadata.annotations must be an object")
    annotations.pop(LAST_APPLIED, None)
    metadata["annotations"] = annotations
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES:
        text = text.replace(char, escaped)
    annotations[LAST_APPLIED] = text + "\n"
    return obj


def three_way_patch(
    last_applied: dict[str, Any] | None,
    desired: dict[str, Any],
    live: dict[str, Any],
    *,
    api_version: str,
    kind: str,
) -> dict[str, Any]:
    """The patch ``kubectl apply`` sends: deletions since last-applied plus changes to live.

    Strategic merge for built-in kinds, JSON merge for custom resources; it also writes the
    new last-applied annotation. ``last_applied`` is ``None`` on the first apply to an object
    created some other way: nothing is deleted then.
    """
    modified = with_last_applied(desired)
    deletions = create_strategic_merge_patch(
        last_applied or {}, modified, api_version=api_version, kind=kind, include_changes=False
    )
    changes = create_strategic_merge_patch(
        live, modified, api_version=api_version, kind=kind, include_deletions=False
    )
    return _combine(deletions, changes, schema_for(api_version, kind) or PatchSchema())


def apply_result(
    last_applied: dict[str, Any] | None,
    desired: dict[str, Any],
    live: dict[str, Any],
    *,
    api_version: str,
    kind: str,
) -> dict[str, Any]:
    """``live`` after ``kubectl apply`` of ``desired`` (``live`` itself is not changed)."""
    patch = three_way_patch(last_applied, desired, live, api_version=api_version, kind=kind)
    patch_type = PatchType.MERGE if schema_for(api_version, kind) is None else PatchType.STRATEGIC
    return apply_patch(live, patch, patch_type, api_version=api_version, kind=kind)


def _combine(first: dict[str, Any], second: dict[str, Any], schema: PatchSchema) -> dict[str, Any]:
    """One patch doing both: the halves touch different fields except inside maps and lists."""
    out = dict(first)
    for key, value in second.items():
        mine, child = out.get(key), schema.child(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            out[key] = _combine(mine, value, child)
        elif isinstance(mine, list) and isinstance(value, list) and child.keyed:
            order = second.get(_ORDER_PREFIX + key, first.get(_ORDER_PREFIX + key))
            out[key] = _combine_items(mine, value, child, order)
        else:
            out[key] = value
    return out


def _combine_items(
    first: list[Any], second: list[Any], schema: PatchSchema, order: Any
) -> list[Any]:
    """Element patches of one keyed list, merged by key and put in ``$setElementOrder`` order."""
    if any(_directive(item) == "replace" for item in second):
        return second
    merge_key = schema.merge_key
    out = list(first)
    for item in second:
        match = next(
            (i for i, mine in enumerate(out) if _same_element(mine, item, merge_key)), None
        )
        if match is None:
            out.append(item)
        else:
            out[match] = _combine(out[match], item, schema)
    if not isinstance(order, list):
        return out
    return sorted(out, key=lambda item: _rank(item, order, merge_key))


def _directive(item: Any) -> Any:
    return item.get("$patch") if isinstance(item, dict) else None


def _same_element(mine: Any, theirs: Any, merge_key: str) -> bool:
    return (
        isinstance(mine, dict)
        and isinstance(theirs, dict)
        and _directive(mine) != "delete"
        and merge_key in mine
        and merge_key in theirs
        and json_equal(mine[merge_key], theirs[merge_key])
    )


def _rank(item: Any, order: list[Any], merge_key: str) -> int:
    """Position in ``$setElementOrder``; deletions (not in it) go last, as kubectl puts them."""
    if _directive(item) == "delete" or not isinstance(item, dict):
        return len(order)
    for position, entry in enumerate(order):
        if isinstance(entry, dict) and json_equal(entry.get(merge_key), item.get(merge_key)):
            return position
    return len(order)
