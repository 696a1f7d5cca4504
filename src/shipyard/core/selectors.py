"""Label and field selectors with Kubernetes semantics.

**Label selectors** reproduce ``k8s.io/apimachinery/pkg/labels``: the same lexer (special
symbols ``= == != ! ( ) , > <``, keywords ``in``/``notin`` that are plain identifiers in value
position, whitespace ``' ' \\t \\r \\n``), the same grammar (``[!]KEY [op VALUE | in/notin
(VALUES)]``; ``a=`` and ``a in ()`` mean the empty value), the same validation of keys
(qualified names) and values, and the same ``Matches`` rules (``!=``/``notin`` match a missing
label; ``>``/``<`` need an integer label). Requirements are kept sorted by key (stably) and values
sorted and de-duplicated, so ``str(selector)`` is canonical and ``parse_label_selector`` reads it
back to an equal selector. ``LabelSelector.from_dict`` follows ``metav1.LabelSelectorAsSelector``
and ``ValidateLabelSelector``: ``None`` selects nothing, ``{}`` selects everything.

**Field selectors** reproduce ``k8s.io/apimachinery/pkg/fields``: comma-separated terms
``path=value``, ``path==value`` or ``path!=value`` (AND), split at the first operator, with
``\\`` escaping ``\\``, ``,`` and ``=`` in values. A dotted path that is missing from the object
reads as ``""``; booleans read as ``true``/``false``. Unlike the API server, any dotted path is
accepted (there is no per-kind list of supported field labels) and an empty field name is an
error.

Every parse error is a :class:`SelectorError`, which is both a ``ValueError`` and Shipyard's
``BadRequestError`` (HTTP 400) and names the offending text and its position.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from shipyard.core.errors import BadRequestError, FieldError, InvalidError
from shipyard.core.labels import validate_label_key, validate_label_value
from shipyard.core.objects import IdentityCache

__all__ = [
    "FieldSelector",
    "FieldTerm",
    "LabelRequirement",
    "LabelSelector",
    "SelectorError",
    "SelectorOperator",
    "escape_field_value",
    "field_value",
    "parse_field_selector",
    "parse_int64",
    "parse_label_selector",
    "validate_label_key",
    "validate_label_value",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class SelectorError(BadRequestError, ValueError):
    """A selector that cannot be parsed or is invalid; the message quotes the offending text."""

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class SelectorOperator(StrEnum):
    """Label selector operators; values are Kubernetes' ``selection.Operator`` strings."""

    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GT = "gt"
    LT = "lt"


_Op = SelectorOperator
_SET_OPS = frozenset({_Op.IN, _Op.NOT_IN})
_EXACT_OPS = frozenset({_Op.EQUALS, _Op.DOUBLE_EQUALS, _Op.NOT_EQUALS})
_UNARY_OPS = frozenset({_Op.EXISTS, _Op.DOES_NOT_EXIST})
_NUMERIC_OPS = frozenset({_Op.GT, _Op.LT})
_OP_TEXT = {
    _Op.EQUALS: "=",
    _Op.DOUBLE_EQUALS: "==",
    _Op.NOT_EQUALS: "!=",
    _Op.IN: " in ",
    _Op.NOT_IN: " notin ",
    _Op.GT: ">",
    _Op.LT: "<",
}


def parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``: an optional sign and ASCII digits, or ``None``."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


@dataclass(frozen=True)
class LabelRequirement:
    """One ``key op values`` term. Construction validates, so ``str()`` always parses back."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            operator = SelectorOperator(self.operator)
        except ValueError:
            supported = ", ".join(f'"{op.value}"' for op in SelectorOperator)
            raise SelectorError(
                f'unsupported selector operator "{self.operator}" for key "{self.key}": '
                f"supported values: {supported}"
            ) from None
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "values", tuple(sorted(set(self.values))))
        problem = self._problem()
        if problem:
            raise SelectorError(problem, text=str(self.key))

    def _problem(self) -> str | None:
        if (msg := validate_label_key(self.key)) is not None:
            return f'invalid label key "{self.key}": {msg}'
        op, count = self.operator, len(self.values)
        if op in _SET_OPS and count == 0:
            return f"key \"{self.key}\": for 'in', 'notin' operators, values set can't be empty"
        if op in _EXACT_OPS and count != 1:
            return f'key "{self.key}": exact-match compatibility requires one single value'
        if op in _UNARY_OPS and count:
            return f'key "{self.key}": values set must be empty for exists and does not exist'
        if op in _NUMERIC_OPS:
            if count != 1:
                return (
                    f"key \"{self.key}\": for 'Gt', 'Lt' operators, exactly one value is required"
                )
            if parse_int64(self.values[0]) is None:
                return (
                    f'invalid value "{self.values[0]}" for key "{self.key}": '
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
        for value in self.values:
            if (msg := validate_label_value(value)) is not None:
                return f'invalid label value "{value}" for key "{self.key}": {msg}'
        return None

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op is _Op.EXISTS:
            return present
        if op is _Op.DOES_NOT_EXIST:
            return not present
        if op in (_Op.NOT_IN, _Op.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        if op in _NUMERIC_OPS:
            have, want = parse_int64(labels[self.key]), parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op is _Op.GT else have < want
        return labels[self.key] in self.values

    def __str__(self) -> str:
        op = self.operator
        if op is _Op.EXISTS:
            return self.key
        if op is _Op.DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if op in _SET_OPS:
            joined = f"({joined})"
        return f"{self.key}{_OP_TEXT[op]}{joined}"


# Selectors of stored objects, by the dict's identity (LabelSelector.of_stored).
_PARSED: IdentityCache[LabelSelector] = IdentityCache(4096)


@dataclass(frozen=True)
class LabelSelector:
    """An AND of label requirements. ``match_nothing`` marks Kubernetes' ``labels.Nothing()``."""

    requirements: tuple[LabelRequirement, ...] = ()
    match_nothing: bool = False

    def __post_init__(self) -> None:
        # Stable sort by key, like the parser's sort.Sort(ByKey) but deterministic.
        ordered = tuple(sorted(self.requirements, key=lambda r: r.key))
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(match_nothing=True)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """``key=value`` for every label (Kubernetes' SelectorFromSet); ``{}`` is everything.

        Remembered by the label pairs: controllers build the same few selectors (a Service's,
        a ReplicaSet's) at every sync, and building one validates every key and value."""
        return _selector_of_set(tuple(labels.items()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, path: str = "selector") -> LabelSelector:
        """A ``metav1.LabelSelector`` (matchLabels + matchExpressions); ``None`` is nothing."""
        if d is None:
            return cls.nothing()
        if not isinstance(d, Mapping):
            raise InvalidError("label selector", [FieldError(path, "must be an object")])
        match_labels = d.get("matchLabels")
        if (
            len(d) == 1
            and type(match_labels) is dict
            and all(type(v) is str for v in match_labels.values())
        ):
            # The common shape (a workload's selector): remembered by its pairs. A selector
            # that does not build here takes the path below, which says what is wrong where.
            with contextlib.suppress(SelectorError):
                return _selector_of_set(tuple(match_labels.items()))
        causes: list[FieldError] = []
        reqs = _match_labels(d.get("matchLabels"), f"{path}.matchLabels", causes)
        reqs += _match_expressions(d.get("matchExpressions"), f"{path}.matchExpressions", causes)
        if causes:
            raise InvalidError("label selector", causes)
        return cls(tuple(reqs))

    @classmethod
    def of_stored(cls, d: Mapping[str, Any] | None) -> LabelSelector:
        """``from_dict`` for a selector inside a stored object (read-only, never changed in
        place), memoized by the dict's identity: controllers parse the same one every sync."""
        if d is None:
            return cls.nothing()
        found = _PARSED.get(d)
        return found if found is not None else _PARSED.put(d, cls.from_dict(d))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.match_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def is_empty(self) -> bool:
        """True when the selector restricts nothing (it matches every label set)."""
        return not self.match_nothing and not self.requirements

    def equality_pairs(self) -> dict[str, str]:
        """``key -> value`` for requirements that pin one exact value (RequiresExactMatch)."""
        return dict(self._pinned[0])

    @property
    def only_equalities(self) -> bool:
        """True when :meth:`equality_pairs` says everything: every requirement pins one value,
        so the objects having all those labels are exactly the ones the selector matches."""
        return self._pinned[1]

    @cached_property
    def _pinned(self) -> tuple[dict[str, str], bool]:
        pairs: dict[str, str] = {}
        exact = not self.match_nothing
        for r in self.requirements:
            pinned = r.operator in (_Op.EQUALS, _Op.DOUBLE_EQUALS, _Op.IN) and len(r.values) == 1
            if pinned and r.key not in pairs:
                pairs[r.key] = r.values[0]
            elif not pinned or pairs[r.key] != r.values[0]:
                exact = False
        return pairs, exact

    def __str__(self) -> str:
        # Kubernetes renders Nothing() as "" too; it is the one selector that does not round-trip.
        return ",".join(str(r) for r in self.requirements)


@lru_cache(maxsize=4096)
def _selector_of_set(items: tuple[tuple[str, str], ...]) -> LabelSelector:
    return LabelSelector(tuple(LabelRequirement(k, _Op.EQUALS, (v,)) for k, v in items))


def _match_labels(value: Any, path: str, causes: list[FieldError]) -> list[LabelRequirement]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        causes.append(FieldError(path, "must be a map of label keys to values"))
        return []
    reqs = []
    for key, val in value.items():
        before = len(causes)
        _check_key(key, path, causes)
        if not isinstance(val, str):
            causes.append(FieldError(f"{path}.{key}", f"Invalid value: {val!r}: must be a string"))
        elif (msg := validate_label_value(val)) is not None:
            causes.append(FieldError(path, f'Invalid value: "{val}": {msg}'))
        if len(causes) == before:
            reqs.append(LabelRequirement(key, _Op.EQUALS, (val,)))
    return reqs


_EXPRESSION_OPS = {
    "In": _Op.IN,
    "NotIn": _Op.NOT_IN,
    "Exists": _Op.EXISTS,
    "DoesNotExist": _Op.DOES_NOT_EXIST,
}


def _match_expressions(value: Any, path: str, causes: list[FieldError]) -> list[LabelRequirement]:
    if value is None:
        return []
    if not isinstance(value, list):
        causes.append(FieldError(path, "must be a list of label selector requirements"))
        return []
    reqs = []
    for i, expr in enumerate(value):
        problems: list[FieldError] = []
        req = _match_expression(expr, f"{path}[{i}]", problems)
        causes.extend(problems)
        if req is not None:
            reqs.append(req)
    return reqs


def _match_expression(expr: Any, path: str, causes: list[FieldError]) -> LabelRequirement | None:
    """One matchExpressions item, or ``None`` after appending its problems to ``causes``."""
    if not isinstance(expr, Mapping):
        causes.append(FieldError(path, "must be an object with key, operator and values"))
        return None
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    op = _EXPRESSION_OPS.get(operator) if isinstance(operator, str) else None
    if op is None:
        causes.append(
            FieldError(
                f"{path}.operator",
                f"Unsupported value: {operator!r}: "
                "supported values: In, NotIn, Exists, DoesNotExist",
            )
        )
    _check_key(key, f"{path}.key", causes)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        causes.append(FieldError(f"{path}.values", "must be a list of strings"))
        return None
    causes.extend(_expression_value_errors(op, values, path))
    if causes or op is None or not isinstance(key, str):
        return None
    return LabelRequirement(key, op, tuple(values))


def _expression_value_errors(
    op: SelectorOperator | None, values: list[str], path: str
) -> list[FieldError]:
    errs = []
    if op in _SET_OPS and not values:
        errs.append(
            FieldError(
                f"{path}.values",
                "Required value: must be specified when `operator` is 'In' or 'NotIn'",
            )
        )
    if op in _UNARY_OPS and values:
        errs.append(
            FieldError(
                f"{path}.values",
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        )
    for j, val in enumerate(values):
        if (msg := validate_label_value(val)) is not None:
            errs.append(FieldError(f"{path}.values[{j}]", f'Invalid value: "{val}": {msg}'))
    return errs


def _check_key(key: Any, path: str, causes: list[FieldError]) -> None:
    if not isinstance(key, str):
        causes.append(FieldError(path, f"Invalid value: {key!r}: must be a string"))
    elif (msg := validate_label_key(key)) is not None:
        causes.append(FieldError(path, f'Invalid value: "{key}": {msg}'))


# --- Label selector lexer and parser ---------------------------------------------------------


class _Tok(Enum):
    END = "end of string"
    IDENT = "identifier"
    IN = "in"
    NOT_IN = "notin"
    NOT = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GT = ">"
    LT = "<"
    OPEN = "("
    CLOSE = ")"
    COMMA = ","


class _Token(NamedTuple):
    kind: _Tok
    text: str
    pos: int


_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = {
    "!=": _Tok.NOT_EQUALS,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    "!": _Tok.NOT,
    "(": _Tok.OPEN,
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    ">": _Tok.GT,
    "<": _Tok.LT,
}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOT_IN}
_BINARY_OPS = {
    _Tok.IN: _Op.IN,
    _Tok.NOT_IN: _Op.NOT_IN,
    _Tok.EQUALS: _Op.EQUALS,
    _Tok.DOUBLE_EQUALS: _Op.DOUBLE_EQUALS,
    _Tok.NOT_EQUALS: _Op.NOT_EQUALS,
    _Tok.GT: _Op.GT,
    _Tok.LT: _Op.LT,
}


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(_Token(_Tok.END, "", n))
            return tokens
        start = i
        if text[i] in _SPECIAL:
            # Longest match; every two-character symbol extends a valid one-character symbol.
            i += 2 if text[i : i + 2] in _SYMBOLS else 1
            tokens.append(_Token(_SYMBOLS[text[start:i]], text[start:i], start))
            continue
        while i < n and text[i] not in _SPECIAL and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        tokens.append(_Token(_KEYWORDS.get(word, _Tok.IDENT), word, start))


class _Parser:
    """Recursive descent over the token list, mirroring labels.Parser's contexts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.at = 0

    def peek(self, *, values: bool = True) -> _Token:
        return self._as_value(self.tokens[self.at]) if values else self.tokens[self.at]

    def take(self, *, values: bool = True) -> _Token:
        tok = self.peek(values=values)
        self.at += 1
        return tok

    @staticmethod
    def _as_value(tok: _Token) -> _Token:
        # In value position the keywords in/notin are ordinary identifiers.
        return tok._replace(kind=_Tok.IDENT) if tok.kind in (_Tok.IN, _Tok.NOT_IN) else tok

    def fail(self, tok: _Token, expected: str) -> SelectorError:
        found = "end of string" if tok.kind is _Tok.END else f"'{tok.text}'"
        return SelectorError(
            f"unable to parse label selector {self.text!r}: found {found} at position "
            f"{tok.pos}, expected: {expected}",
            text=self.text,
            position=tok.pos,
        )

    def parse(self) -> list[LabelRequirement]:
        reqs: list[LabelRequirement] = []
        tok = self.peek()
        if tok.kind is _Tok.END:
            return reqs
        while True:
            if tok.kind not in (_Tok.IDENT, _Tok.NOT):
                raise self.fail(tok, "!, identifier, or 'end of string'")
            reqs.append(self.requirement())
            sep = self.take()
            if sep.kind is _Tok.END:
                return reqs
            if sep.kind is not _Tok.COMMA:
                raise self.fail(sep, "',' or 'end of string'")
            tok = self.peek()
            if tok.kind not in (_Tok.IDENT, _Tok.NOT):
                raise self.fail(tok, "identifier after ','")

    def requirement(self) -> LabelRequirement:
        negate = self.peek().kind is _Tok.NOT
        if negate:
            self.take()
        key_tok = self.take()
        if key_tok.kind is not _Tok.IDENT:
            raise self.fail(key_tok, "identifier")
        if (msg := validate_label_key(key_tok.text)) is not None:
            raise self.invalid(key_tok, f'invalid label key "{key_tok.text}": {msg}')
        if negate or self.peek().kind in (_Tok.END, _Tok.COMMA):
            return self.build(key_tok, _Op.DOES_NOT_EXIST if negate else _Op.EXISTS, ())
        op_tok = self.take(values=False)
        op = _BINARY_OPS.get(op_tok.kind)
        if op is None:
            raise self.fail(op_tok, "in, notin, =, ==, !=, gt, lt")
        value_tok = self.peek()
        values = self.value_set() if op in _SET_OPS else self.exact_value()
        return self.build(key_tok, op, values, at=value_tok)

    def build(
        self,
        key_tok: _Token,
        op: SelectorOperator,
        values: tuple[str, ...],
        *,
        at: _Token | None = None,
    ) -> LabelRequirement:
        try:
            return LabelRequirement(key_tok.text, op, values)
        except SelectorError as e:
            raise self.invalid(at or key_tok, e.message) from None

    def invalid(self, tok: _Token, message: str) -> SelectorError:
        return SelectorError(
            f"unable to parse label selector {self.text!r} at position {tok.pos}: {message}",
            text=self.text,
            position=tok.pos,
        )

    def exact_value(self) -> tuple[str, ...]:
        if self.peek().kind in (_Tok.END, _Tok.COMMA):
            return ("",)
        tok = self.take()
        if tok.kind is not _Tok.IDENT:
            raise self.fail(tok, "identifier")
        return (tok.text,)

    def value_set(self) -> tuple[str, ...]:
        tok = self.take()
        if tok.kind is not _Tok.OPEN:
            raise self.fail(tok, "'('")
        tok = self.peek()
        if tok.kind is _Tok.CLOSE:
            self.take()
            return ("",)
        if tok.kind not in (_Tok.IDENT, _Tok.COMMA):
            raise self.fail(tok, "',', ')' or identifier")
        return self.value_list()

    def value_list(self) -> tuple[str, ...]:
        # Mirrors labels.Parser.parseIdentifiersList, quirks included: an empty item between
        # commas or next to a parenthesis is the empty value, but ",," must be followed by a value.
        values: list[str] = []
        while True:
            tok = self.take()
            if tok.kind is _Tok.IDENT:
                values.append(tok.text)
                nxt = self.peek()
                if nxt.kind is _Tok.CLOSE:
                    break
                if nxt.kind is not _Tok.COMMA:
                    raise self.fail(nxt, "',' or ')'")
            elif tok.kind is _Tok.COMMA:
                if not values:
                    values.append("")
                nxt = self.peek()
                if nxt.kind is _Tok.CLOSE:
                    values.append("")
                    break
                if nxt.kind is _Tok.COMMA:
                    self.take()
                    values.append("")
            else:
                raise self.fail(tok, "',', or identifier")
        self.take()
        return tuple(values)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse Kubernetes label selector syntax; ``""`` (or whitespace) selects everything."""
    return LabelSelector(tuple(_Parser(text).parse()))


# --- Field selectors --------------------------------------------------------------------------


class FieldTerm(NamedTuple):
    """``path op value`` with op ``"="`` or ``"!="``."""

    path: str
    op: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.path) == self.value
        return equal if self.op == "=" else not equal

    def render(self) -> str:
        return f"{self.path}{self.op}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field terms; the empty selector matches everything."""

    parts: tuple[FieldTerm, ...] = ()

    def __post_init__(self) -> None:
        parts = []
        for path, given_op, value in self.parts:
            op = "=" if given_op == "==" else given_op
            if op not in ("=", "!="):
                raise SelectorError(f"field selector operator {op!r} is not one of =, ==, !=")
            if not path:
                raise SelectorError(f"field selector term {op}{value!r} has an empty field name")
            parts.append(FieldTerm(path, op, value))
        object.__setattr__(self, "parts", tuple(sorted(parts, key=FieldTerm.render)))

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(term.matches(obj) for term in self.parts)

    def terms(self) -> tuple[FieldTerm, ...]:
        return self.parts

    def is_empty(self) -> bool:
        return not self.parts

    def equality_pairs(self) -> dict[str, str]:
        """``path -> value`` for ``=`` terms (an index hint, like RequiresExactMatch)."""
        pairs: dict[str, str] = {}
        for term in self.parts:
            if term.op == "=":
                pairs.setdefault(term.path, term.value)
        return pairs

    def __str__(self) -> str:
        return ",".join(term.render() for term in self.parts)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted path as a field selector sees it (missing or non-scalar -> ``""``)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, str):
        return current
    if isinstance(current, int):
        return str(current)
    return ""


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str, term: str, text: str) -> str:
    out: list[str] = []
    chars: Iterator[str] = iter(value)
    for ch in chars:
        if ch in ",=":
            raise SelectorError(
                f"invalid field selector {text!r}: unescaped character {ch!r} in value of "
                f"term {term!r} (write \\{ch})",
                text=text,
            )
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, None)
        if nxt is None or nxt not in "\\,=":
            seq = "\\" + (nxt or "")
            raise SelectorError(
                f"invalid field selector {text!r}: invalid escape sequence {seq!r} in term "
                f"{term!r} (only a backslash, comma or equals sign may follow a backslash)",
                text=text,
            )
        out.append(nxt)
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``path=value,path!=value`` (``==`` is ``=``); ``""`` selects everything."""
    terms = []
    for part in sorted(_split_terms(text)):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(
                f"invalid selector: {text!r}; can't understand {part!r} "
                "(expected field=value, field==value or field!=value)",
                text=text,
            )
        path, op, raw = split
        if not path:
            raise SelectorError(
                f"invalid selector: {text!r}; term {part!r} has an empty field name", text=text
            )
        terms.append(FieldTerm(path, op, _unescape(raw, part, text)))
    return FieldSelector(tuple(terms))
