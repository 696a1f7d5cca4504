"""Small text helpers for error messages."""

from __future__ import annotations

__all__ = ["quote"]


def quote(text: str, limit: int = 80) -> str:
    """Double-quote ``text`` for a message, shortened past ``limit`` characters, with quotes,
    backslashes and unprintable characters escaped so the message stays on one line."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return '"' + "".join(_escape(char) for char in shown) + '"'


def _escape(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    return char.encode("unicode_escape").decode("ascii")
