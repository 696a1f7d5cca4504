"""Values, their kinds and GitHub's coercion rules.

Expression values are plain JSON data: ``None``, ``bool``, numbers (``int`` or
``float``; the language itself only makes floats), ``str``, ``list`` and ``dict``.
The rules reproduce GitHub's documented behaviour:

- truthiness: ``null``, ``false``, ``0``, ``NaN`` and ``''`` are falsy, everything else
  (including empty arrays and objects) is truthy;
- loose equality and ordering: when the kinds differ, null/boolean/string operands are
  converted to numbers (null → 0, true → 1, ``''`` → 0, a string that is not a number →
  NaN); arrays and objects are never converted and only equal themselves (the same
  instance); strings compare case-insensitively; any comparison with NaN is false;
- conversion to string: null → ``''``, booleans ``true``/``false``, numbers as JavaScript
  prints them (``1``, ``1234.5``, ``Infinity``), arrays ``Array``, objects ``Object``;
- ``toJSON`` pretty-prints with two spaces, as GitHub does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Literal

from shipyard.ci.expressions.lexer import parse_number

__all__ = [
    "Kind",
    "equals",
    "fold_case",
    "format_number",
    "greater_than",
    "kind_of",
    "less_than",
    "to_json",
    "to_number",
    "to_string",
    "truthy",
]

Kind = Literal["Null", "Boolean", "Number", "String", "Array", "Object"]
_PRIMITIVES = ("Null", "Boolean", "Number", "String")


def kind_of(value: object) -> Kind:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def truthy(value: object) -> bool:
    kind = kind_of(value)
    if kind == "Null":
        return False
    if kind == "Number":
        number = float(value)  # type: ignore[arg-type]
        return number != 0 and not math.isnan(number)
    if kind in ("Boolean", "String"):
        return bool(value)
    return True


def to_number(value: object) -> float:
    kind = kind_of(value)
    if kind == "Null":
        return 0.0
    if kind in ("Boolean", "Number"):
        return float(value)  # type: ignore[arg-type]
    if kind == "String":
        text = str(value).strip()
        if not text:
            return 0.0
        number = parse_number(text)
        return math.nan if number is None else number
    return math.nan


def format_number(number: float) -> str:
    """A number as GitHub prints it: at most 15 significant digits, ``-0`` as ``0``,
    ``Infinity``, an exponent only for very large or small magnitudes (``1E+15``)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    text = f"{number:.15g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}E{sign}{int(exponent.lstrip('+-'))}"


# Ordinal case-insensitive comparison maps each character to its upper case, except the
# Turkish dotless/dotted i, which do not match ASCII I/i in GitHub's comparison.
_NO_FOLD = frozenset("\u0131\u0130")


def fold_case(text: str) -> str:
    """The form in which strings are compared case-insensitively."""
    if text.isascii():
        return text.upper()
    return "".join(_fold_char(char) for char in text)


def _fold_char(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 and char not in _NO_FOLD else char


def to_string(value: object) -> str:
    kind = kind_of(value)
    if kind == "Null":
        return ""
    if kind == "Boolean":
        return "true" if value else "false"
    if kind == "Number":
        return format_number(float(value))  # type: ignore[arg-type]
    if kind == "String":
        return str(value)
    return kind


def _coerce(left: object, right: object) -> tuple[object, object]:
    """GitHub's pairwise coercion: primitives of different kinds become numbers."""
    left_kind, right_kind = kind_of(left), kind_of(right)
    if left_kind == right_kind:
        return left, right
    if left_kind in _PRIMITIVES and right_kind in _PRIMITIVES:
        return to_number(left), to_number(right)
    return left, right


def equals(left: object, right: object) -> bool:
    left, right = _coerce(left, right)
    kind = kind_of(left)
    if kind != kind_of(right):
        return False
    if kind == "Null":
        return True
    if kind == "Number":
        return float(left) == float(right)  # type: ignore[arg-type]  # NaN != NaN
    if kind == "String":
        return fold_case(str(left)) == fold_case(str(right))
    if kind == "Boolean":
        return left is right
    return left is right


def _order(left: object, right: object, test: Callable[[int], bool]) -> bool:
    left, right = _coerce(left, right)
    kind = kind_of(left)
    if kind != kind_of(right):
        return False
    if kind in ("Number", "Boolean"):
        a, b = float(left), float(right)  # type: ignore[arg-type]
        if math.isnan(a) or math.isnan(b):
            return False
        return test((a > b) - (a < b))
    if kind == "String":
        a_text, b_text = fold_case(str(left)), fold_case(str(right))
        return test((a_text > b_text) - (a_text < b_text))
    return False


def greater_than(left: object, right: object) -> bool:
    return _order(left, right, lambda sign: sign > 0)


def less_than(left: object, right: object) -> bool:
    return _order(left, right, lambda sign: sign < 0)


def greater_or_equal(left: object, right: object) -> bool:
    return _order(left, right, lambda sign: sign >= 0)


def less_or_equal(left: object, right: object) -> bool:
    return _order(left, right, lambda sign: sign <= 0)


def to_json(value: object) -> str:
    """GitHub's ``toJSON``: two-space indentation, ``"key": value``, ``[]``/``{}`` when empty."""
    lines: list[str] = []
    _write_json(value, 0, lines)
    return "".join(lines)


def _write_json(value: object, depth: int, out: list[str]) -> None:
    kind = kind_of(value)
    if kind in ("Array", "Object"):
        _write_container(value, depth, out)
    elif kind == "Number":
        out.append(format_number(float(value)))  # type: ignore[arg-type]
    elif kind == "String":
        out.append(json.dumps(value, ensure_ascii=False))
    else:
        out.append(json.dumps(value))


def _write_container(value: object, depth: int, out: list[str]) -> None:
    items: list[tuple[str | None, object]]
    if isinstance(value, list):
        items, opener, closer = [(None, item) for item in value], "[", "]"
    else:
        assert isinstance(value, dict)
        items, opener, closer = [(str(k), v) for k, v in value.items()], "{", "}"
    if not items:
        out.append(opener + closer)
        return
    indent = "  " * (depth + 1)
    out.append(opener + "\n")
    for index, (key, item) in enumerate(items):
        out.append(indent)
        if key is not None:
            out.append(json.dumps(key, ensure_ascii=False) + ": ")
        _write_json(item, depth + 1, out)
        out.append(",\n" if index < len(items) - 1 else "\n")
    out.append("  " * depth + closer)
