"""Tokens of the expression language.

The lexer follows GitHub's documented reading of an expression: punctuation
(``( ) [ ] , . ! < <= > >= == != && ||``), single-quoted strings with ``''`` as the
escaped quote, keywords (``true false null NaN Infinity``), numbers (decimal with
exponent, ``0x`` hex, ``0o`` octal, an optional sign on decimals only) and identifiers
(letters, digits, ``_`` and ``-``). Anything else is read to the end of its word and
reported whole, so ``1 |2`` names ``'|2'`` rather than a lone ``|``.

A ``.`` right after a value-ending token (an identifier, ``)``, ``]`` or ``*``) is the
dereference operator; anywhere else it starts a number (``.5``), which is why
``.github/workflow`` is one unexpected symbol.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from shipyard.ci.expressions.errors import ExpressionError, located

__all__ = ["Token", "TokenKind", "parse_number", "tokenize"]


class TokenKind(Enum):
    START_GROUP = "("
    END_GROUP = ")"
    START_INDEX = "["
    END_INDEX = "]"
    SEPARATOR = ","
    DEREFERENCE = "."
    WILDCARD = "*"
    OPERATOR = "operator"
    NULL = "null"
    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    IDENTIFIER = "identifier"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # the raw text as written
    offset: int  # 0-based character offset in the expression
    value: object = None  # the literal's value (bool, float, str) for literal tokens

    @property
    def position(self) -> int:
        """1-based position, as GitHub reports it."""
        return self.offset + 1


_PUNCTUATION = {
    "(": TokenKind.START_GROUP,
    ")": TokenKind.END_GROUP,
    "[": TokenKind.START_INDEX,
    "]": TokenKind.END_INDEX,
    ",": TokenKind.SEPARATOR,
}
_TWO_CHAR_OPERATORS = ("<=", ">=", "==", "!=", "&&", "||")
_ONE_CHAR_OPERATORS = ("<", ">", "!")
# A word ends at whitespace or at any of these.
_WORD_END = set("()[],!<>=&|'")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_HEX = re.compile(r"0x[0-9A-Fa-f]+\Z")
_OCTAL = re.compile(r"0o[0-7]+\Z")
_KEYWORDS: dict[str, tuple[TokenKind, object]] = {
    "true": (TokenKind.BOOLEAN, True),
    "false": (TokenKind.BOOLEAN, False),
    "null": (TokenKind.NULL, None),
    "NaN": (TokenKind.NUMBER, math.nan),
    "Infinity": (TokenKind.NUMBER, math.inf),
}
_VALUE_ENDS = {TokenKind.IDENTIFIER, TokenKind.END_GROUP, TokenKind.END_INDEX, TokenKind.WILDCARD}


def parse_number(text: str) -> float | None:
    """A number written in the expression language, or None when ``text`` is not one.

    Also used to coerce strings to numbers (after trimming whitespace), where GitHub
    accepts the same forms.
    """
    if _DECIMAL.match(text):
        return float(text)
    if _HEX.match(text):
        return float(int(text[2:], 16))
    if _OCTAL.match(text):
        return float(int(text[2:], 8))
    sign = -1.0 if text.startswith("-") else 1.0
    bare = text[1:] if text[:1] in "+-" and len(text) > 1 else text
    if bare == "Infinity":
        return sign * math.inf
    if bare == "NaN":
        return math.nan
    return None


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; raises ExpressionError (kind ``lexing``)."""
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char.isspace():
            i += 1
            continue
        token = _read_token(source, i, tokens[-1] if tokens else None)
        tokens.append(token)
        i = token.offset + len(token.text)
    return tokens


def _read_token(source: str, i: int, previous: Token | None) -> Token:
    char = source[i]
    if char in _PUNCTUATION:
        return Token(_PUNCTUATION[char], char, i)
    if char == "'":
        return _read_string(source, i)
    if (
        char == "*"
        and previous is not None
        and previous.kind
        in (
            TokenKind.DEREFERENCE,
            TokenKind.START_INDEX,
        )
    ):
        return Token(TokenKind.WILDCARD, "*", i)
    pair = source[i : i + 2]
    if pair in _TWO_CHAR_OPERATORS:
        return Token(TokenKind.OPERATOR, pair, i)
    if char in _ONE_CHAR_OPERATORS:
        return Token(TokenKind.OPERATOR, char, i)
    if char == "." and previous is not None and previous.kind in _VALUE_ENDS:
        return Token(TokenKind.DEREFERENCE, ".", i)
    return _read_word(source, i)


def _read_string(source: str, start: int) -> Token:
    parts: list[str] = []
    i = start + 1
    while i < len(source):
        if source[i] == "'":
            if source[i + 1 : i + 2] == "'":
                parts.append("'")
                i += 2
                continue
            return Token(TokenKind.STRING, source[start : i + 1], start, "".join(parts))
        parts.append(source[i])
        i += 1
    raise ExpressionError(
        located(f"Unexpected symbol: '{source[start:]}'", start + 1, source),
        kind="lexing",
        position=start + 1,
    )


def _read_word(source: str, start: int) -> Token:
    number_like = source[start].isdigit() or source[start] in "+-."
    end = start + 1
    while end < len(source):
        char = source[end]
        if char.isspace() or char in _WORD_END or (char == "." and not number_like):
            break
        end += 1
    text = source[start:end]
    keyword = _KEYWORDS.get(text)
    if keyword is not None:
        return Token(keyword[0], text, start, keyword[1])
    if number_like:
        number = parse_number(text)
        if number is not None:
            return Token(TokenKind.NUMBER, text, start, number)
    elif _IDENTIFIER.match(text):
        return Token(TokenKind.IDENTIFIER, text, start)
    raise ExpressionError(
        located(f"Unexpected symbol: '{text}'", start + 1, source),
        kind="lexing",
        position=start + 1,
    )
