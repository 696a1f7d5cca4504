"""The two kind-agnostic PATCH formats of the Kubernetes API, as pure functions over JSON data.

- **JSON merge patch** (RFC 7386, ``application/merge-patch+json``): an object patch merges
  key by key, ``null`` deletes a key, anything else (lists included) replaces the target.
  :func:`create_merge_patch` computes the smallest such patch between two objects.
- **JSON patch** (RFC 6902, ``application/json-patch+json``): a list of ``add``, ``remove``,
  ``replace``, ``move``, ``copy`` and ``test`` operations addressed by JSON pointers
  (RFC 6901: ``~1`` is ``/``, ``~0`` is ``~``, ``-`` appends to an array). Operations apply in
  order to a private copy; the first failing one aborts the whole patch with a
  :class:`BadRequestError` naming the operation ("json patch op 2 (remove /spec/x): path not
  found"). Like the API server, a patch may hold at most 10,000 operations.

Neither format looks at the kind of the object it patches. :mod:`shipyard.store.patch`
builds the strategic merge patch on the pieces defined here, and falls back to them for
custom resources, as the API server does: :func:`merge_patch_into` (a merge patch applied
in place to a private copy), :func:`merge_diff` and :func:`filter_nulls` (a computed merge
patch and its deletion / non-deletion halves), :func:`json_equal` (JSON's equality, under
which ``true`` is not ``1``) with :func:`json_ident` (a hashable key agreeing with it), and
:func:`bounded`, which turns a document nested beyond Python's recursion limit into a
:class:`BadRequestError` at every public entry point.

Every public patch function copies its inputs before working and never mutates them;
:func:`merge_patch_into` alone merges into the target it is given. Malformed patches raise
:class:`BadRequestError` and nothing else.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

from shipyard.core.errors import BadRequestError
from shipyard.core.objects import json_copy

__all__ = [
    "bounded",
    "create_merge_patch",
    "filter_nulls",
    "json_equal",
    "json_ident",
    "json_merge_patch",
    "json_patch",
    "merge_diff",
    "merge_patch_into",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def bounded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn Python's recursion limit into a BadRequestError at the public entry points."""

    @functools.wraps(fn)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise BadRequestError("the document nests too deeply to patch") from None

    return guarded


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value, but ``true`` is not ``1`` and ``"1"`` is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and a == b


def json_ident(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value that equals another's exactly when json_equal does."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return ("json", json.dumps(value, sort_keys=True))


# --------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch


@bounded
def json_merge_patch(original: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge, ``null`` deletes, anything else replaces."""
    return merge_patch_into(json_copy(original), patch)


def merge_patch_into(target: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``target`` (reused when it is an object) and return the result."""
    if not isinstance(patch, dict):
        return json_copy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch_into(result.get(key), value)
    return result


@bounded
def create_merge_patch(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The smallest RFC 7386 patch turning ``original`` into ``modified`` (both objects)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        raise BadRequestError("a merge patch can only be computed between two JSON objects")
    return merge_diff(original, modified)


def merge_diff(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The merge patch from ``original`` to ``modified``, unchecked (see create_merge_patch)."""
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, new in modified.items():
        old = original.get(key)
        if key not in original:
            patch[key] = json_copy(new)
        elif isinstance(old, dict) and isinstance(new, dict):
            if sub := merge_diff(old, new):
                patch[key] = sub
        elif not json_equal(old, new):
            patch[key] = json_copy(new)
    return patch


def filter_nulls(patch: dict[str, Any], *, keep_nulls: bool) -> dict[str, Any]:
    """Only the deletions of a merge patch (``keep_nulls``), or only the rest.

    An explicit empty object is a value, not an empty sub-patch, so it stays with the rest.
    """
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if value is None:
            if keep_nulls:
                out[key] = None
        elif isinstance(value, dict) and value:
            if sub := filter_nulls(value, keep_nulls=keep_nulls):
                out[key] = sub
        elif not keep_nulls:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# RFC 6902 JSON patch

_MAX_OPERATIONS = 10_000
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


class _OpError(Exception):
    """One operation failed; json_patch adds which one."""


@bounded
def json_patch(original: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply an RFC 6902 patch; the first failing operation aborts with a BadRequestError."""
    if not isinstance(ops, list):
        raise BadRequestError("a json patch must be a JSON array of operations")
    if len(ops) > _MAX_OPERATIONS:
        raise BadRequestError(f"a json patch may hold at most {_MAX_OPERATIONS} operations")
    doc = json_copy(original)
    for index, op in enumerate(ops):
        doc = _apply_operation(doc, op, index)
    return doc


def _apply_operation(doc: Any, op: Any, index: int) -> Any:
    if not isinstance(op, dict):
        raise BadRequestError(f"json patch op {index}: an operation must be a JSON object")
    name, path = op.get("op"), op.get("path")
    where = f"json patch op {index} ({name} {path})"
    handler = _OPERATIONS.get(name) if isinstance(name, str) else None
    try:
        if handler is None:
            raise _OpError("unknown op; use add, remove, replace, move, copy or test")
        if not isinstance(path, str):
            raise _OpError("'path' must be a JSON pointer string")
        return handler(doc, _pointer(path), op)
    except _OpError as e:
        raise BadRequestError(f"{where}: {e}") from None


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise _OpError(f"JSON pointer {text!r} must be empty or start with '/'")
    tokens = text[1:].split("/")
    if any(_BAD_ESCAPE.search(token) for token in tokens):
        raise _OpError(f"JSON pointer {text!r}: '~' must be followed by 0 or 1")
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def _index(token: str, length: int, *, end_ok: bool) -> int:
    """An array index; with ``end_ok`` (add) the length itself and ``-`` (append) are valid."""
    if token == "-" and end_ok:
        return length
    if not _ARRAY_INDEX.fullmatch(token):
        raise _OpError(f"{token!r} is not an array index")
    index = int(token)
    if index > length or (index == length and not end_ok):
        raise _OpError(f"array index {index} is out of range (length {length})")
    return index


def _get(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), end_ok=False)]
        else:
            raise _OpError("path not found")
    return doc


def _value(op: dict[str, Any]) -> Any:
    if "value" not in op:
        raise _OpError("missing 'value'")
    return json_copy(op["value"])


def _source(op: dict[str, Any]) -> list[str]:
    source = op.get("from")
    if not isinstance(source, str):
        raise _OpError("'from' must be a JSON pointer string")
    return _pointer(source)


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _get(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), end_ok=True), value)
    else:
        raise _OpError("path not found")
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    """The document without the value at ``tokens``, and that value."""
    if not tokens:
        raise _OpError("cannot remove the whole document")
    parent, last = _get(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), end_ok=False))
    raise _OpError("path not found")


def _op_add(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    return _add(doc, tokens, _value(op))


def _op_remove(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    return _remove(doc, tokens)[0]


def _op_replace(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    value = _value(op)
    if not tokens:
        return value
    parent, last = _get(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), end_ok=False)] = value
    else:
        raise _OpError("path not found")
    return doc


def _op_move(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    source = _source(op)
    if len(tokens) > len(source) and tokens[: len(source)] == source:
        raise _OpError("cannot move a value into one of its own children")
    doc, value = _remove(doc, source)
    return _add(doc, tokens, value)


def _op_copy(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    return _add(doc, tokens, json_copy(_get(doc, _source(op))))


def _op_test(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    expected, actual = _value(op), _get(doc, tokens)
    if not json_equal(actual, expected):
        shown = json.dumps(actual, sort_keys=True)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise _OpError(f"test failed: the value is {shown}")
    return doc


_OPERATIONS: dict[str, Callable[[Any, list[str], dict[str, Any]], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}
