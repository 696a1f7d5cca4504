"""A small declarative schema walk: types, required fields, enums and unknown fields.

A schema is a tree of :class:`Schema` nodes built once at import time (``Obj``, ``ListOf``,
``MapOf``, ``Str``, ``Enum``, ``Int``, ``IntOrStr``, ``Qty``, ``Duration``…).
``node.check(value, path, errs)`` walks a JSON-shaped value and appends a
:class:`FieldError` for every problem, with the field path the API server would print
(``spec.template.spec.containers[0].resources.requests.cpu``). Nothing raises: any value of
any type, anywhere, yields errors, never an exception.

Design choices, and the behaviour they reproduce:

- **Strict decoding.** An ``Obj`` rejects keys it does not declare with
  ``unknown field "spec.replica"``, as ``kubectl apply`` (server-side strict field validation)
  does. ``Obj(open=True)`` accepts anything extra, for parts we deliberately do not model.
- **null means absent.** JSON ``null`` is skipped, as Go's decoder leaves the field unset.
- **Required** means missing, null, ``""``, ``[]`` or ``{}`` — what a Go zero value looks like
  to Kubernetes' ``field.Required`` checks.
- **Rules** are plain functions ``rule(obj, path, errs)`` attached to an ``Obj`` for what a
  type walk cannot say (exactly one of two fields, requests <= limits, names unique). They run
  after the field walk and must not assume the fields have the right types: the helpers
  :func:`get_str`, :func:`get_int`, :func:`get_dict` and :func:`get_list` return ``None`` or an
  empty value instead of a wrong type.
- **Messages** follow ``k8s.io/apimachinery/pkg/util/validation/field``: ``Required value``,
  ``Invalid value: "x": detail``, ``Unsupported value: "x": supported values: "A", "B"``,
  ``Duplicate value``, ``Not found``, ``Forbidden``, ``Too long``, ``Too many``. One deliberate
  difference: the bad value is always shown in double quotes, numbers included
  (``Invalid value: "-1": must be greater than or equal to 0``), so every message names the
  value the user wrote.

The walk is hand-written for speed (the store admits thousands of pods a second): no
reflection, no models, precompiled regular expressions. Three things keep a typical Pod at a
few tens of microseconds:

- the **fast path**: a leaf whose Python type is ``Schema.fast`` and whose value is ``in
  Schema.ok`` (an int range, an enum's set, or the values already found valid) is accepted by
  its parent without a call or a path string — most leaves of a typical object;
- **remembered values**: quantities, port names, images and the like (``Str(cached=True)``,
  ``Qty``, ``IntOrStr``) add what they found valid to their ``ok`` set;
- **memoized objects**: ``Obj(memo=True)`` skips an object identical (by :func:`memo_key`)
  to one found valid before — every Pod of a ReplicaSet carries the same PodSpec.

All three only ever skip work for values already proven valid, so errors are the same with or
without them; the caches are bounded and start over when full.
"""

from __future__ import annotations

import json
import marshal
import operator
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

from shipyard.core.durations import NEVER, DurationError, parse_duration
from shipyard.core.errors import FieldError
from shipyard.core.quantity import Quantity, QuantityError

__all__ = [
    "QUANTITY_MESSAGE",
    "AnyValue",
    "Bool",
    "Duration",
    "Enum",
    "Errors",
    "Int",
    "IntOrStr",
    "ListOf",
    "MapOf",
    "Num",
    "Obj",
    "Qty",
    "Rule",
    "Schema",
    "Seen",
    "Str",
    "StringCheck",
    "UpdateRule",
    "Validator",
    "child",
    "duplicate",
    "forbidden",
    "get_dict",
    "get_int",
    "get_list",
    "get_str",
    "immutable",
    "invalid",
    "is_empty",
    "memo_key",
    "not_found",
    "parse_quantity",
    "required",
    "show",
    "too_long",
    "too_many",
    "unknown_field",
    "unsupported",
    "validator",
    "value_at",
]

Errors = list[FieldError]
Rule = Callable[[dict[str, Any], str, Errors], None]
# A check on a string's syntax: the problems found (empty when valid), in Kubernetes' words.
StringCheck = Callable[[str], Sequence[str]]

QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_MAX_SHOWN = 120

# --- messages -------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as an error message shows it: always in double quotes."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, dict, list)):
        text = _json(value)
    else:
        text = str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return json.dumps(text, ensure_ascii=False) if isinstance(value, str) else f'"{text}"'


def _json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, f"Required value: {detail}" if detail else "Required value")


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, f"Invalid value: {show(value)}: {detail}")


def unsupported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    listed = ", ".join(f'"{s}"' for s in supported)
    return FieldError(path, f"Unsupported value: {show(value)}: supported values: {listed}")


def duplicate(path: str, value: Any, detail: str = "") -> FieldError:
    suffix = f": {detail}" if detail else ""
    return FieldError(path, f"Duplicate value: {show(value)}{suffix}")


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, f"Not found: {show(value)}")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, f"Forbidden: {detail}")


def too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, f"Too long: may not be more than {limit} bytes")


def too_many(path: str, actual: int, limit: int) -> FieldError:
    return FieldError(path, f'Too many: "{actual}": must have at most {limit} items')


def unknown_field(path: str) -> FieldError:
    return FieldError(path, f'unknown field "{path}"')


def _wrong_type(path: str, value: Any, expected: str) -> FieldError:
    return invalid(path, value, f"must be of type {expected}")


# --- safe accessors for rules ---------------------------------------------------------------


_FALSY_VALUES = (int, float, bool)  # 0 and false are values, not "unset"
_ABSENT: Any = object()  # a key missing from a stored object (None is a stored value)


def is_empty(value: Any) -> bool:
    """What ``field.Required`` treats as unset: missing, null, "", [] or {}."""
    return not value and type(value) not in _FALSY_VALUES


def get_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def get_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if type(value) is int else None


def get_dict(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def get_list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


@lru_cache(maxsize=8192)
def _parse_quantity_cached(value: str | int | float) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except (QuantityError, ValueError, OverflowError):
        return None


def parse_quantity(value: Any) -> Quantity | None:
    """A quantity from a string or a number; ``None`` when it is not one. Cached."""
    if isinstance(value, str) or type(value) is int or type(value) is float:
        return _parse_quantity_cached(value)
    return None


def memo_key(value: Any) -> bytes | None:
    """A key that two values share only when they are equal and of the same types; or None.

    ``marshal`` format 2 (no back-references, so the bytes depend on the value alone, not on
    which objects happen to be shared) tells ``1``, ``1.0`` and ``True`` apart as ``repr``
    does, and writes a PodSpec about three times faster. It refuses subclasses and exotic
    types (and absurd nesting) with ValueError: such a value gets no key and is not memoized.
    """
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return None


# --- schema nodes ---------------------------------------------------------------------------


class Schema:
    """A node of a schema tree; ``check`` appends the problems of ``value`` to ``errs``."""

    # The fast path: a value whose type is ``fast`` and that is ``in ok`` (when ``ok`` is
    # set: a range of ints, a set of enum strings) is valid as it stands, so ``Obj`` accepts
    # it without a call or a path string. Most leaves of a typical object take this path.
    __slots__ = ("fast", "ok")

    def __init__(self) -> None:
        self.fast: type | None = None
        self.ok: Container[Any] | None = None

    def check(self, value: Any, path: str, errs: Errors) -> None:
        raise NotImplementedError

    def check_update(self, value: Any, old: Any, path: str, errs: Errors) -> None:
        """``check`` of an update's value, given the stored ``old`` one: ``Obj`` skips the
        parts that are the very objects already stored (validated when they were written),
        and a new map whose entries are all the stored ones."""
        self.check(value, path, errs)


class AnyValue(Schema):
    """Anything at all, or (``object_only``) any object — for parts we do not model."""

    __slots__ = ("object_only",)

    def __init__(self, *, object_only: bool = False) -> None:
        super().__init__()
        self.object_only = object_only
        if object_only:
            self.fast = dict  # any object is fine: the parent need not call check

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if self.object_only and not isinstance(value, dict):
            errs.append(_wrong_type(path, value, "object"))


class Seen:
    """Values already found valid, so repeats skip the check.

    Bounded: when full it starts over (cleared in place, so ``Schema.ok`` keeps pointing at
    the live set), which keeps the values of the current workload and costs nothing to run.
    """

    __slots__ = ("limit", "values")

    def __init__(self, limit: int = 4096) -> None:
        self.values: set[Any] = set()
        self.limit = limit

    def add(self, value: Any) -> None:
        if len(self.values) >= self.limit:
            self.values.clear()
        self.values.add(value)


class Str(Schema):
    """A string, optionally limited in length and checked for syntax.

    ``cached=True`` remembers valid values (container names, images, port names: the same
    few on every replica) so that repeats take the fast path; leave it off for values that
    are unique per object, such as object names.
    """

    __slots__ = ("max_len", "seen", "syntax")

    def __init__(
        self,
        syntax: StringCheck | None = None,
        *,
        max_len: int | None = None,
        cached: bool = False,
    ) -> None:
        super().__init__()
        self.syntax = syntax
        self.max_len = max_len
        self.seen = Seen() if cached else None
        if syntax is None and max_len is None:
            self.fast = str
        elif self.seen is not None:
            self.fast, self.ok = str, self.seen.values

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(_wrong_type(path, value, "string"))
            return
        before = len(errs)
        if self.max_len is not None and len(value) > self.max_len:
            errs.append(too_long(path, self.max_len))
        if self.syntax is not None and value:
            for message in self.syntax(value):
                errs.append(invalid(path, value, message))
        if self.seen is not None and len(errs) == before:
            self.seen.add(value)


class Enum(Schema):
    """One of a fixed set of strings (``Unsupported value`` otherwise)."""

    __slots__ = ("allowed", "values")

    def __init__(self, *values: str, allow_empty: bool = False) -> None:
        super().__init__()
        self.values = values
        self.allowed = frozenset((*values, "") if allow_empty else values)
        self.fast, self.ok = str, self.allowed

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(_wrong_type(path, value, "string"))
        elif value not in self.allowed:
            errs.append(unsupported(path, value, self.values))


class Bool(Schema):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self.fast = bool

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if type(value) is not bool:
            errs.append(_wrong_type(path, value, "boolean"))


def _range_message(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"must be between {minimum} and {maximum}, inclusive"
    if minimum is not None:
        return f"must be greater than or equal to {minimum}"
    return f"must be less than or equal to {maximum}"


class Int(Schema):
    """An integer (not a bool, not a float), optionally within an inclusive range."""

    __slots__ = ("maximum", "message", "minimum")

    def __init__(
        self, minimum: int | None = None, maximum: int | None = None, *, message: str = ""
    ) -> None:
        super().__init__()
        self.minimum = minimum
        self.maximum = maximum
        self.fast = int
        if minimum is not None or maximum is not None:
            low = minimum if minimum is not None else -(2**63)
            high = maximum if maximum is not None else 2**63 - 1
            self.ok = range(low, high + 1)
        self.message = message or _range_message(minimum, maximum)

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if type(value) is not int:
            errs.append(_wrong_type(path, value, "integer"))
        elif (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            errs.append(invalid(path, value, self.message))


class Num(Schema):
    """Any JSON number."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if type(value) not in (int, float):
            errs.append(_wrong_type(path, value, "number"))


class IntOrStr(Schema):
    """Kubernetes' IntOrString: an integer in a range, or a string with its own syntax."""

    __slots__ = ("ints", "seen", "syntax")

    def __init__(self, ints: Int, syntax: StringCheck) -> None:
        super().__init__()
        self.ints = ints
        self.syntax = syntax
        self.seen = Seen()
        self.fast, self.ok = str, self.seen.values

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if isinstance(value, str):
            problems = self.syntax(value)
            for message in problems:
                errs.append(invalid(path, value, message))
            if not problems:
                self.seen.add(value)
        elif type(value) is int:
            self.ints.check(value, path, errs)
        else:
            errs.append(_wrong_type(path, value, "integer or string"))


class Qty(Schema):
    """A resource quantity (``100m``, ``1Gi``, ``2``), non-negative unless told otherwise."""

    __slots__ = ("allow_negative", "seen")

    def __init__(self, *, allow_negative: bool = False) -> None:
        super().__init__()
        self.allow_negative = allow_negative
        self.seen = Seen()
        self.fast, self.ok = str, self.seen.values

    def check(self, value: Any, path: str, errs: Errors) -> None:
        quantity = parse_quantity(value)
        if quantity is None:
            errs.append(invalid(path, value, QUANTITY_MESSAGE))
        elif not self.allow_negative and quantity < _ZERO:
            errs.append(invalid(path, value, "must be greater than or equal to 0"))
        elif isinstance(value, str):
            self.seen.add(value)


_ZERO = Quantity.parse("0")


@lru_cache(maxsize=1024)
def _duration_problem(text: str, allow_never: bool) -> str:
    if allow_never and text == NEVER:
        return ""
    try:
        seconds = parse_duration(text)
    except DurationError as e:
        return str(e)
    return "must not be negative" if seconds < 0 else ""


class Duration(Schema):
    """A Go duration string (``30s``, ``1h30m``), not negative; ``allow_never`` adds ``Never``.

    Built-in kinds count seconds in integers; the products' kinds (Karpenter's
    ``consolidateAfter``, ``expireAfter``) use this.
    """

    __slots__ = ("allow_never",)

    def __init__(self, *, allow_never: bool = False) -> None:
        super().__init__()
        self.allow_never = allow_never

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(_wrong_type(path, value, "string"))
        elif problem := _duration_problem(value, self.allow_never):
            errs.append(invalid(path, value, problem))


class ListOf(Schema):
    """An array whose items all follow ``item``; optionally at most ``max_items`` long."""

    __slots__ = ("item", "max_items")

    def __init__(self, item: Schema, *, max_items: int | None = None) -> None:
        super().__init__()
        self.item = item
        self.max_items = max_items

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, list):
            errs.append(_wrong_type(path, value, "array"))
            return
        if self.max_items is not None and len(value) > self.max_items:
            errs.append(too_many(path, len(value), self.max_items))
        item = self.item
        fast, ok = item.fast, item.ok
        for index, entry in enumerate(value):
            if type(entry) is fast and (ok is None or entry in ok):
                continue
            if entry is not None:
                item.check(entry, f"{path}[{index}]", errs)

    def check_update(self, value: Any, old: Any, path: str, errs: Errors) -> None:
        """Items that are the stored ones themselves (shared by the store) are not walked."""
        if value is old:
            return
        if not isinstance(value, list) or not isinstance(old, list):
            self.check(value, path, errs)
            return
        if self.max_items is not None and len(value) > self.max_items:
            errs.append(too_many(path, len(value), self.max_items))
        stored = {id(entry) for entry in old}
        item = self.item
        fast, ok = item.fast, item.ok
        for index, entry in enumerate(value):
            if type(entry) is fast and (ok is None or entry in ok):
                continue
            if entry is not None and id(entry) not in stored:
                # a changed item: its own unchanged parts may still be the stored ones
                before = old[index] if index < len(old) else None
                item.check_update(entry, before, f"{path}[{index}]", errs)


class MapOf(Schema):
    """An object used as a map: any keys (optionally checked), values following ``value``.

    Key problems are reported at the map's path with the key as the value, as Kubernetes
    does for labels; value problems at ``path.key``.
    """

    __slots__ = ("key_syntax", "value")

    def __init__(self, value: Schema, *, key_syntax: StringCheck | None = None) -> None:
        super().__init__()
        self.value = value
        self.key_syntax = key_syntax

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, dict):
            errs.append(_wrong_type(path, value, "object"))
            return
        syntax = self.key_syntax
        schema = self.value
        fast, ok = schema.fast, schema.ok
        for key, item in value.items():
            if not isinstance(key, str):
                errs.append(invalid(path, key, "keys must be strings"))
                continue
            if syntax is not None:
                for message in syntax(key):
                    errs.append(invalid(path, key, message))
            if type(item) is fast and (ok is None or item in ok):
                continue
            if item is not None:
                schema.check(item, f"{path}.{key}", errs)


class Obj(Schema):
    """An object with declared fields; undeclared keys are ``unknown field`` errors.

    ``required`` names fields that must be set (see :func:`is_empty`); ``rules`` run after
    the field walk for cross-field checks; ``open=True`` accepts undeclared keys.

    ``memo=True`` remembers the objects found valid, by :func:`memo_key`, and accepts a
    repeat without walking it. Use it where whole objects repeat and their validity depends
    on nothing else, like a PodSpec: every Pod of a ReplicaSet has the same one, and status
    updates resend it unchanged. The key costs about a tenth of the walk it saves.
    """

    __slots__ = ("fields", "memo", "open", "required", "rules")

    def __init__(
        self,
        fields: Mapping[str, Schema],
        *,
        required: Sequence[str] = (),
        rules: Sequence[Rule] = (),
        open: bool = False,
        memo: bool = False,
    ) -> None:
        super().__init__()
        self.fields = dict(fields)
        self.required = tuple(required)
        self.rules = tuple(rules)
        self.open = open
        self.memo = Seen(1024) if memo else None

    def extend(
        self,
        fields: Mapping[str, Schema] | None = None,
        *,
        required: Sequence[str] = (),
        rules: Sequence[Rule] = (),
    ) -> Obj:
        """A copy with more (or replaced) fields, required names and rules."""
        return Obj(
            {**self.fields, **(fields or {})},
            required=(*self.required, *required),
            rules=(*self.rules, *rules),
            open=self.open,
            memo=self.memo is not None,
        )

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, dict):
            errs.append(_wrong_type(path, value, "object"))
        elif self.memo is None:
            self._walk(value, path, errs)
        else:
            key = memo_key(value)
            if key is not None and key in self.memo.values:
                return
            before = len(errs)
            self._walk(value, path, errs)
            if key is not None and len(errs) == before:
                self.memo.add(key)

    def check_update(self, value: Any, old: Any, path: str, errs: Errors) -> None:
        if value is old:
            return
        if not isinstance(value, dict) or not isinstance(old, dict):
            self.check(value, path, errs)
            return
        before = old.get
        if len(value) == len(old) and all(
            map(operator.is_, value.values(), map(before, value, repeat(_ABSENT)))
        ):
            # Every entry is the stored one itself (a write's new metadata map of stored
            # parts): the stored object's content, found valid when it was written.
            return
        get = self.fields.get
        for key, item in value.items():
            schema = get(key)
            if schema is None:
                if not self.open:
                    errs.append(unknown_field(child(path, str(key))))
            elif item is None or item is before(key):
                pass  # unset, or the stored part itself
            elif type(item) is not schema.fast or (schema.ok is not None and item not in schema.ok):
                schema.check_update(item, before(key), f"{path}.{key}" if path else key, errs)
        self._finish(value, path, errs)

    def _finish(self, value: dict[str, Any], path: str, errs: Errors) -> None:
        for key in self.required:
            item = value.get(key)
            if not item and type(item) not in _FALSY_VALUES:
                errs.append(required(child(path, key)))
        for rule in self.rules:
            rule(value, path, errs)

    def _walk(self, value: dict[str, Any], path: str, errs: Errors) -> None:
        get = self.fields.get
        for key, item in value.items():
            schema = get(key)
            if schema is None:
                if not self.open:
                    errs.append(unknown_field(child(path, str(key))))
            elif item is None:
                pass  # JSON null: the field is unset
            elif type(item) is not schema.fast or (schema.ok is not None and item not in schema.ok):
                schema.check(item, f"{path}.{key}" if path else key, errs)
        self._finish(value, path, errs)


# --- whole-object validators ----------------------------------------------------------------

UpdateRule = Callable[[dict[str, Any], dict[str, Any], Errors], None]
Validator = Callable[[dict[str, Any], "dict[str, Any] | None"], list[FieldError]]


def validator(schema: Schema, *update_rules: UpdateRule) -> Validator:
    """A ``KindInfo.validate``: the schema walk, then ``update_rules(new, old)`` on update."""

    def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
        errs: Errors = []
        if old is None:
            schema.check(obj, "", errs)
        else:
            schema.check_update(obj, old, "", errs)
        if old is not None and isinstance(obj, dict) and isinstance(old, dict):
            for rule in update_rules:
                rule(obj, old, errs)
        return errs

    return validate


def value_at(obj: Any, keys: Sequence[str]) -> Any:
    """The value under ``keys`` (``None`` when any step is missing or not an object)."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def immutable(*keys: str, once_set: bool = False) -> UpdateRule:
    """Reject a change of the field under ``keys`` (``field is immutable``).

    With ``once_set``, the field may go from unset to set, and an update that leaves it out
    is not an error: the API server copies allocated values such as a clusterIP from the
    stored object before validating, so whoever allocates them must do the same.
    """
    path = ".".join(keys)

    def rule(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
        before, after = value_at(old, keys), value_at(new, keys)
        if once_set and (is_empty(before) or is_empty(after)):
            return
        if before != after:
            errs.append(invalid(path, after, "field is immutable"))

    return rule
