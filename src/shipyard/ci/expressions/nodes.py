"""The syntax tree of a parsed expression; every node keeps its 0-based source offset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "And",
    "Call",
    "Compare",
    "Index",
    "Literal",
    "NamedValue",
    "Node",
    "Not",
    "Or",
    "Wildcard",
    "children",
]


@dataclass(frozen=True)
class Literal:
    value: object
    offset: int


@dataclass(frozen=True)
class NamedValue:
    """A top-level context name such as ``github`` or ``matrix``."""

    name: str
    offset: int


@dataclass(frozen=True)
class Wildcard:
    """The ``*`` of ``.*`` and ``[*]``: an object filter."""

    offset: int


@dataclass(frozen=True)
class Index:
    """``target.name`` (key is a string Literal), ``target[key]`` or a filter."""

    target: Node
    key: Node | Wildcard
    offset: int


@dataclass(frozen=True)
class Not:
    operand: Node
    offset: int


@dataclass(frozen=True)
class Compare:
    operator: str  # one of == != < <= > >=
    left: Node
    right: Node
    offset: int


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class Call:
    name: str  # the canonical (documented) spelling
    args: tuple[Node, ...]
    offset: int


Node = Literal | NamedValue | Index | Not | Compare | And | Or | Call


def children(node: Node | Wildcard) -> Iterator[Node | Wildcard]:
    if isinstance(node, Index):
        yield node.target
        yield node.key
    elif isinstance(node, Not):
        yield node.operand
    elif isinstance(node, Compare):
        yield node.left
        yield node.right
    elif isinstance(node, And | Or):
        yield from node.operands
    elif isinstance(node, Call):
        yield from node.args
