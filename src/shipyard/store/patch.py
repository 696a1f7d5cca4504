"""The PATCH formats of the Kubernetes API, as pure functions over JSON-shaped data.

:func:`apply_patch` applies a patch of any of the three types, named by a :class:`PatchType`
(:func:`parse_patch_type` reads a ``Content-Type`` header or a ``kubectl patch --type``
word). JSON patch (RFC 6902) and JSON merge patch (RFC 7386) do not depend on the kind of the
object and live in :mod:`shipyard.store.patch_json`; this module holds the third format:

**Strategic merge patch** (``application/strategic-merge-patch+json``): JSON merge patch
plus per-field list strategies, reproducing ``k8s.io/apimachinery/pkg/util/strategicpatch``
as the API server runs it. Lists tagged ``merge`` in :mod:`shipyard.store.patch_keys` merge
element by element, matched on their merge key (``containers`` by ``name``), or as a set for
primitives (``finalizers``); other lists are replaced whole. Directives:

- ``$patch: replace`` on a map replaces it; as a bare list element ``{"$patch": "replace"}``
  it replaces the whole list with the other elements;
- ``$patch: delete`` on a map empties it; on a list element it removes every element with
  that merge key;
- ``$deleteFromPrimitiveList/<field>: [values]`` removes values from a primitive list;
- ``$setElementOrder/<field>: [...]`` orders the merged list: the named elements take that
  order and elements the patch does not name keep their place relative to the original;
- ``$retainKeys: [fields]`` clears every field of the map not in the list.

Without ``$setElementOrder``, elements the patch names take the patch's order and new ones
land before the untouched elements that follow them, so adding a container puts it first,
as the Kubernetes "update API objects in place using kubectl patch" tutorial shows. A
``null`` for an absent key is dropped, as on the server (``IgnoreUnmatchedNulls``).

:func:`create_strategic_merge_patch` is the diff kubectl computes: ``null`` for removed
keys, ``$patch: delete`` elements for removed keyed elements, ``$deleteFromPrimitiveList``
for removed primitives, ``$setElementOrder`` whenever a merged list changes and
``$retainKeys`` for ``retainKeys`` fields. Its ``include_changes`` / ``include_deletions``
switches are the halves of kubectl's three-way merge (see :mod:`shipyard.store.apply`).

Kinds outside the built-in API groups (custom resources) have no merge keys; for them the
strategic functions behave as JSON merge patch, the format kubectl uses for custom resources.

Known deviations from the Go implementation, each the friendlier reading of a patch the Go
code rejects or mangles: ``$patch: merge`` is accepted (as the default) on maps and list
elements; a list element carrying its merge key and ``$patch: replace`` replaces only that
element; new values are cleaned of directives and ``null`` rather than stored verbatim; the
experimental ``$patchMergeKey`` directive is not supported; a keyed list whose elements lack
unique merge keys is diffed as ``[..., {"$patch": "replace"}]`` instead of failing; a diff
emits ``$setElementOrder`` only when elements changed or the shared elements were reordered,
not merely because the old list holds elements the new one omits, so re-applying an unchanged
manifest over server-added elements (an injected sidecar) sends an empty patch.

Every function copies its inputs before working and never mutates them. Malformed patches
raise :class:`BadRequestError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shipyard.core.errors import BadRequestError
from shipyard.core.objects import json_copy
from shipyard.store.patch_json import (
    bounded,
    filter_nulls,
    json_equal,
    json_ident,
    json_merge_patch,
    json_patch,
    merge_diff,
    merge_patch_into,
)
from shipyard.store.patch_keys import PatchSchema, schema_for

__all__ = [
    "PatchType",
    "apply_patch",
    "create_strategic_merge_patch",
    "parse_patch_type",
    "strategic_merge_patch",
]


class PatchType(StrEnum):
    """The ``Content-Type`` of a PATCH request."""

    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


# kubectl patch --type=json|merge|strategic
_TYPE_WORDS = {"json": PatchType.JSON, "merge": PatchType.MERGE, "strategic": PatchType.STRATEGIC}


def parse_patch_type(text: str) -> PatchType:
    """A patch type from a ``Content-Type`` header or a ``kubectl patch --type`` word."""
    word = str(text).split(";", 1)[0].strip().lower()
    if word in _TYPE_WORDS:
        return _TYPE_WORDS[word]
    try:
        return PatchType(word)
    except ValueError:
        choices = ", ".join([*_TYPE_WORDS, *(t.value for t in PatchType)])
        raise BadRequestError(f"unsupported patch type {text!r}; use one of: {choices}") from None


# --------------------------------------------------------------------------------------------
# Strategic merge patch: applying

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PREFIX = "$deleteFromPrimitiveList/"
_ORDER_PREFIX = "$setElementOrder/"

# Identity of a list element for merging and ordering; None means "matches nothing".
_Identity = Callable[[Any], Hashable | None]


def _bad(path: str, message: str) -> BadRequestError:
    return BadRequestError(f"strategic merge patch: {path or '<root>'}: {message}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_directive(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_DELETE_PREFIX, _ORDER_PREFIX))


def _by_key(merge_key: str) -> _Identity:
    def identity(item: Any) -> Hashable | None:
        if isinstance(item, dict) and merge_key in item:
            return json_ident(item[merge_key])
        return None

    return identity


def _identity_of(schema: PatchSchema) -> _Identity:
    return _by_key(schema.merge_key) if schema.merge_key else json_ident


@bounded
def strategic_merge_patch(
    original: dict[str, Any], patch: dict[str, Any], *, api_version: str, kind: str
) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of the given kind (see the module docs)."""
    if not isinstance(patch, dict):
        raise BadRequestError("a strategic merge patch must be a JSON object")
    target = json_copy(original) if isinstance(original, dict) else {}
    schema = schema_for(api_version, kind)
    if schema is None:
        result: dict[str, Any] = merge_patch_into(target, patch)
        return result
    return _merge_map(target, json_copy(patch), schema, "")


def _merge_map(
    target: dict[str, Any], patch: dict[str, Any], schema: PatchSchema, path: str
) -> dict[str, Any]:
    directive = patch.get(_DIRECTIVE, "merge")
    if directive == "replace":
        rest = {key: value for key, value in patch.items() if key != _DIRECTIVE}
        return _merge_map({}, rest, schema, path)
    if directive == "delete":
        return {}
    if directive != "merge":
        raise _bad(path, f"unknown $patch directive {directive!r}; use replace, delete or merge")
    _retain_keys(target, patch, path)
    orders = _directive_fields(patch, _ORDER_PREFIX, path)
    before = {name: target.get(name) for name in orders}
    for key, value in patch.items():
        if _is_directive(key):
            continue
        if value is None:
            target.pop(key, None)
        else:
            where = _join(path, key)
            target[key] = _merge_value(target.get(key), value, schema.child(key), where)
    for name, values in _directive_fields(patch, _DELETE_PREFIX, path).items():
        _delete_from_list(target, name, values, _join(path, name))
    for name, order in orders.items():
        _set_order(target, patch, name, order, before[name], schema=schema, path=path)
    return target


def _directive_fields(patch: dict[str, Any], prefix: str, path: str) -> dict[str, Any]:
    """``{field: value}`` of the ``<prefix><field>`` directives of a patch map."""
    found = {}
    for key, value in patch.items():
        if key.startswith(prefix):
            if not key[len(prefix) :]:
                raise _bad(path, f"{key!r} must name a field after the '/'")
            found[key[len(prefix) :]] = value
    return found


def _retain_keys(target: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    if _RETAIN_KEYS not in patch:
        return
    keep = patch[_RETAIN_KEYS]
    if not isinstance(keep, list) or not all(isinstance(key, str) for key in keep):
        raise _bad(path, "$retainKeys must be a list of field names")
    for key, value in patch.items():
        if value is not None and not _is_directive(key) and key not in keep:
            raise _bad(path, f"field {key!r} is set by the patch but missing from $retainKeys")
    for key in [key for key in target if key not in keep]:
        del target[key]


def _merge_value(current: Any, value: Any, schema: PatchSchema, path: str) -> Any:
    if isinstance(value, dict):
        return _merge_map(current if isinstance(current, dict) else {}, value, schema, path)
    if isinstance(value, list) and schema.merge:
        current = current if isinstance(current, list) else []
        if schema.merge_key:
            return _merge_keyed(current, value, schema, path)
        return _merge_set(current, value, path)
    return value


def _is_list_replace(item: Any, merge_key: str) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" and merge_key not in item


def _merge_keyed(current: list[Any], items: list[Any], schema: PatchSchema, path: str) -> list[Any]:
    merge_key = schema.merge_key
    if any(_is_list_replace(item, merge_key) for item in items):
        return [
            _merge_map({}, item, schema, f"{path}[{i}]") if isinstance(item, dict) else item
            for i, item in enumerate(items)
            if not _is_list_replace(item, merge_key)
            and not (isinstance(item, dict) and item.get(_DIRECTIVE) == "delete")
        ]
    merges, deleted = _classify_items(items, merge_key, path)
    identity = _by_key(merge_key)
    result = [item for item in current if identity(item) not in deleted]
    positions: dict[Hashable, int] = {}
    for position, item in enumerate(result):
        if (key := identity(item)) is not None:
            positions.setdefault(key, position)
    for index, item in merges:
        where, key = f"{path}[{index}]", identity(item)
        if key in positions:
            result[positions[key]] = _merge_map(result[positions[key]], item, schema, where)
        else:
            positions[key] = len(result)
            result.append(_merge_map({}, item, schema, where))
    return _reorder(result, [identity(item) for _, item in merges], current, identity)


def _classify_items(
    items: list[Any], merge_key: str, path: str
) -> tuple[list[tuple[int, dict[str, Any]]], set[Hashable]]:
    """The (index, element) pairs to merge and the merge keys to delete."""
    merges: list[tuple[int, dict[str, Any]]] = []
    deleted: set[Hashable] = set()
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _bad(where, f"the elements of this list are objects merged by {merge_key!r}")
        if merge_key not in item:
            raise _bad(where, f"the element does not contain its merge key {merge_key!r}")
        directive = item.get(_DIRECTIVE, "merge")
        if directive == "delete":
            deleted.add(json_ident(item[merge_key]))
        elif directive in ("merge", "replace"):
            merges.append((index, item))
        else:
            raise _bad(where, f"unknown $patch directive {directive!r}")
    return merges, deleted


def _merge_set(current: list[Any], items: list[Any], path: str) -> list[Any]:
    """A primitive list with strategy merge: the union, without duplicates."""
    for index, item in enumerate(items):
        if isinstance(item, dict | list):
            raise _bad(f"{path}[{index}]", "this list is merged as a set of primitive values")
    seen: set[Hashable] = set()
    merged = []
    for item in current + items:
        if (key := json_ident(item)) not in seen:
            seen.add(key)
            merged.append(item)
    return _reorder(merged, [json_ident(item) for item in items], current, json_ident)


def _reorder(
    items: list[Any], order: list[Hashable | None], server: list[Any], identity: _Identity
) -> list[Any]:
    """Elements named in ``order`` take that order; the others keep their place in ``server``.

    The two groups are interleaved as the Go code does: an unnamed element goes first only when
    both it and the next named element are in ``server`` and it came first there.
    """
    rank: dict[Hashable, int] = {}
    for position, key in enumerate(order):
        if key is not None:
            rank.setdefault(key, position)
    named = sorted(
        (item for item in items if identity(item) in rank), key=lambda x: rank[identity(x)]
    )
    others = [item for item in items if identity(item) not in rank]
    place: dict[Hashable, int] = {}
    for position, item in enumerate(server):
        if (key := identity(item)) is not None:
            place.setdefault(key, position)
    out: list[Any] = []
    i = j = 0
    while i < len(others) and j < len(named):
        mine, theirs = place.get(identity(others[i])), place.get(identity(named[j]))
        if mine is not None and theirs is not None and mine < theirs:
            out.append(others[i])
            i += 1
        else:
            out.append(named[j])
            j += 1
    return out + others[i:] + named[j:]


def _delete_from_list(target: dict[str, Any], name: str, values: Any, path: str) -> None:
    if not isinstance(values, list):
        raise _bad(path, "$deleteFromPrimitiveList must be a list of values")
    current = target.get(name)
    if isinstance(current, list):
        drop = {json_ident(value) for value in values}
        target[name] = [item for item in current if json_ident(item) not in drop]


def _set_order(
    target: dict[str, Any],
    patch: dict[str, Any],
    name: str,
    order: Any,
    before: Any,
    *,
    schema: PatchSchema,
    path: str,
) -> None:
    """Apply ``$setElementOrder/<name>``; ``before`` is the list as it was before the patch."""
    where = _join(path, f"{_ORDER_PREFIX}{name}")
    if not isinstance(order, list):
        raise _bad(where, "$setElementOrder must be a list")
    current, schema = target.get(name), schema.child(name)
    if not schema.merge or not isinstance(current, list):
        return
    identity = _identity_of(schema)
    keys = [_order_key(entry, schema, f"{where}[{i}]") for i, entry in enumerate(order)]
    if isinstance(patch_list := patch.get(name), list):
        _check_order(patch_list, keys, identity, where)
    target[name] = _reorder(current, keys, before if isinstance(before, list) else [], identity)


def _order_key(entry: Any, schema: PatchSchema, path: str) -> Hashable:
    if not schema.merge_key:
        return json_ident(entry)
    if not isinstance(entry, dict) or schema.merge_key not in entry:
        raise _bad(path, f"each entry must be an object holding {schema.merge_key!r}")
    return json_ident(entry[schema.merge_key])


def _check_order(
    patch_list: list[Any], keys: list[Hashable], identity: _Identity, path: str
) -> None:
    """The patch's own elements must appear in $setElementOrder, in the same order."""
    remaining = iter(keys)
    for item in patch_list:
        if isinstance(item, dict) and _DIRECTIVE in item:
            continue
        key = identity(item)
        if not any(key == candidate for candidate in remaining):
            raise _bad(path, "the elements of the patch list are missing or out of order here")


# --------------------------------------------------------------------------------------------
# Strategic merge patch: computing


@dataclass(frozen=True)
class _Want:
    """Which halves of a diff to keep (kubectl's DiffOptions)."""

    changes: bool
    deletions: bool


@bounded
def create_strategic_merge_patch(
    original: dict[str, Any],
    modified: dict[str, Any],
    *,
    api_version: str,
    kind: str,
    include_changes: bool = True,
    include_deletions: bool = True,
) -> dict[str, Any]:
    """A strategic merge patch turning ``original`` into ``modified``.

    ``include_changes=False`` keeps only the deletions (``null``, ``$patch: delete``,
    ``$deleteFromPrimitiveList``); ``include_deletions=False`` keeps only the additions and
    changes. For custom resources the result is a JSON merge patch, filtered the same way.
    """
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise BadRequestError("a patch can only be computed between two JSON objects")
    schema = schema_for(api_version, kind)
    if schema is None:
        patch = merge_diff(original, modified)
        if include_changes and include_deletions:
            return patch
        if include_changes or include_deletions:
            return filter_nulls(patch, keep_nulls=include_deletions)
        return {}
    return _diff_map(original, modified, schema, _Want(include_changes, include_deletions))


def _diff_map(
    original: dict[str, Any], modified: dict[str, Any], schema: PatchSchema, want: _Want
) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, new in modified.items():
        if key not in original:
            if want.changes:
                patch[key] = json_copy(new)
        else:
            _diff_field(patch, key, original[key], new, schema=schema.child(key), want=want)
    if want.deletions:
        patch.update({key: None for key in original if key not in modified})
    dropped = any(value is not None and key not in modified for key, value in original.items())
    if schema.retain_keys and (patch or dropped):
        patch[_RETAIN_KEYS] = sorted(key for key, value in modified.items() if value is not None)
    return patch


def _diff_field(
    patch: dict[str, Any], key: str, old: Any, new: Any, *, schema: PatchSchema, want: _Want
) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        if sub := _diff_map(old, new, schema, want):
            patch[key] = sub
    elif isinstance(old, list) and isinstance(new, list) and schema.merge:
        patch.update(_diff_list(key, old, new, schema, want))
    elif want.changes and not json_equal(old, new):
        patch[key] = json_copy(new)


def _diff_list(
    key: str, old: list[Any], new: list[Any], schema: PatchSchema, want: _Want
) -> dict[str, Any]:
    if not old:
        return {key: json_copy(new)} if new and want.changes else {}
    if not schema.merge_key:
        return _diff_set(key, old, new, want)
    identity = _by_key(schema.merge_key)
    if not (_unique(old, identity) and _unique(new, identity)):
        if want.changes and not json_equal(old, new):
            return {key: [*json_copy(new), {_DIRECTIVE: "replace"}]}
        return {}
    return _diff_keyed(key, old, new, schema, want)


def _unique(items: list[Any], identity: _Identity) -> bool:
    keys = [identity(item) for item in items]
    return None not in keys and len(set(keys)) == len(keys)


def _same_order(old_keys: list[Hashable], new_keys: list[Hashable]) -> bool:
    """Whether the elements present in both lists come in the same order."""
    common = set(old_keys) & set(new_keys)
    return [k for k in old_keys if k in common] == [k for k in new_keys if k in common]


def _diff_keyed(
    key: str, old: list[Any], new: list[Any], schema: PatchSchema, want: _Want
) -> dict[str, Any]:
    merge_key, identity = schema.merge_key, _by_key(schema.merge_key)
    old_by_key = {identity(item): item for item in old}
    new_keys = [identity(item) for item in new]
    kept = set(new_keys)
    items: list[Any] = []
    for element in new:
        previous = old_by_key.get(identity(element))
        if previous is None:
            if want.changes:
                items.append(json_copy(element))
        elif sub := _diff_map(previous, element, schema, want):
            items.append({merge_key: json_copy(element[merge_key]), **sub})
    if want.deletions:
        items.extend(
            {merge_key: json_copy(element[merge_key]), _DIRECTIVE: "delete"}
            for element in old
            if identity(element) not in kept
        )
    patch: dict[str, Any] = {key: items} if items else {}
    reordered = want.changes and not _same_order(list(old_by_key), new_keys)
    if new and (items or reordered):
        patch[_ORDER_PREFIX + key] = [{merge_key: json_copy(e[merge_key])} for e in new]
    return patch


def _diff_set(key: str, old: list[Any], new: list[Any], want: _Want) -> dict[str, Any]:
    old_keys, new_keys = [json_ident(v) for v in old], [json_ident(v) for v in new]
    had, has = set(old_keys), set(new_keys)
    added = _distinct(v for v in new if json_ident(v) not in had) if want.changes else []
    gone = _distinct(v for v in old if json_ident(v) not in has) if want.deletions else []
    patch: dict[str, Any] = {}
    if added:
        patch[key] = json_copy(added)
    if gone:
        patch[_DELETE_PREFIX + key] = json_copy(gone)
    reordered = want.changes and not _same_order(old_keys, new_keys)
    if new and (added or gone or reordered):
        patch[_ORDER_PREFIX + key] = json_copy(new)
    return patch


def _distinct(values: Any) -> list[Any]:
    seen: set[Hashable] = set()
    out = []
    for value in values:
        if (key := json_ident(value)) not in seen:
            seen.add(key)
            out.append(value)
    return out


# --------------------------------------------------------------------------------------------
# Dispatcher


def apply_patch(
    original: dict[str, Any],
    patch: Any,
    patch_type: PatchType | str,
    *,
    api_version: str,
    kind: str,
) -> dict[str, Any]:
    """Apply a patch of any of the three types; the result must still be a JSON object."""
    match parse_patch_type(patch_type):
        case PatchType.JSON:
            result = json_patch(original, patch)
        case PatchType.MERGE:
            result = json_merge_patch(original, patch)
        case PatchType.STRATEGIC:
            result = strategic_merge_patch(original, patch, api_version=api_version, kind=kind)
    if not isinstance(result, dict):
        raise BadRequestError("the patch must leave a JSON object, not replace it with a value")
    return result
