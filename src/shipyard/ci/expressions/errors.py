"""The one error the expression language raises.

::

    BadRequestError
    └── ExpressionError       kind: "lexing" | "parsing" | "evaluation"

The message says what was wrong and where, in the words GitHub's runner uses
(``Unexpected symbol: '|2'. Located at position 3 within expression: 1 |2 |3``), so a
user who searches for it finds GitHub's own documentation. ``position`` is 1-based and
counts characters of the whole expression (newlines included), as GitHub does.
"""

from __future__ import annotations

from typing import Literal

from shipyard.core.errors import BadRequestError

__all__ = ["ErrorKind", "ExpressionError"]

ErrorKind = Literal["lexing", "parsing", "evaluation"]


class ExpressionError(BadRequestError):
    """An expression that cannot be read or evaluated."""

    def __init__(self, message: str, *, kind: ErrorKind, position: int | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.position = position


def located(what: str, position: int, source: str) -> str:
    """GitHub's wording for a positioned problem."""
    return f"{what}. Located at position {position} within expression: {source}"
