"""Evaluation of a syntax tree against a context.

The context is a mapping of named values (``github``, ``env``, ``matrix``, …) holding
JSON data. Property and index access is case-insensitive on object keys and never fails:
a missing key, an index out of range or an access into a non-container gives ``null``.

Object filters (``.*`` / ``[*]``) turn the chain they appear in into a *filtered array*:
every later ``.name`` or ``[key]`` of the same chain is applied to each element, keeping
only the elements where the key exists (so ``labels.*.name`` lists the names), and a
further ``*`` flattens one level. ``&&`` and ``||`` return one of their operands, not a
boolean, as GitHub documents (``github.head_ref || github.run_id``).

Like GitHub, an evaluation may hold at most 1 MiB of values it made (strings counted
as UTF-16, two bytes a character): the results of the nodes still waiting for their
parent are counted, and released once the parent has used them. This stops
``format`` from building huge strings out of a large context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from shipyard.ci.expressions.errors import ExpressionError, located
from shipyard.ci.expressions.functions import FUNCTIONS, CallEnv, FunctionError
from shipyard.ci.expressions.nodes import (
    And,
    Call,
    Compare,
    Index,
    Literal,
    NamedValue,
    Node,
    Not,
    Or,
    Wildcard,
)
from shipyard.ci.expressions.values import (
    equals,
    format_number,
    greater_or_equal,
    greater_than,
    kind_of,
    less_or_equal,
    less_than,
    to_number,
    truthy,
)

__all__ = ["evaluate_tree"]

_COMPARE = {
    "==": equals,
    "!=": lambda a, b: not equals(a, b),
    "<": less_than,
    "<=": less_or_equal,
    ">": greater_than,
    ">=": greater_or_equal,
}
_MISSING = object()
MAX_MEMORY = 1024 * 1024


class _Memory:
    """Bytes held by results that a pending parent node has not consumed yet."""

    def __init__(self, source: str) -> None:
        self.by_depth: list[int] = []
        self.source = source

    def hold(self, depth: int, made: object) -> None:
        """A node at ``depth`` finished; ``made`` is a value it created (or None)."""
        del self.by_depth[depth + 1 :]  # this node has consumed its children's results
        self.by_depth.extend([0] * (depth + 1 - len(self.by_depth)))
        self.by_depth[depth] += 2 * len(made) if isinstance(made, str) else 0
        if sum(self.by_depth) > MAX_MEMORY:
            raise ExpressionError(
                f"The maximum allowed memory size was exceeded while evaluating: {self.source}",
                kind="evaluation",
            )


def evaluate_tree(tree: Node, env: CallEnv, source: str) -> object:
    """The value of ``tree``; raises ExpressionError (kind ``evaluation``)."""
    return _Evaluator(env, source).value(tree)


class _Evaluator:
    def __init__(self, env: CallEnv, source: str) -> None:
        self.env = env
        self.source = source
        self.memory = _Memory(source)

    def value(self, node: Node, depth: int = 0) -> object:
        result = self.compute(node, depth)
        # Only function results are new values; the others come from the context or source.
        self.memory.hold(depth, result if isinstance(node, Call) else None)
        return result

    def compute(self, node: Node, depth: int) -> object:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, NamedValue):
            return _get(self.env.context, node.name)
        if isinstance(node, Index):
            return self.index(node, depth)[0]
        if isinstance(node, Not):
            return not truthy(self.value(node.operand, depth + 1))
        if isinstance(node, Compare):
            left, right = self.value(node.left, depth + 1), self.value(node.right, depth + 1)
            return _COMPARE[node.operator](left, right)
        if isinstance(node, And | Or):
            return self.logical(node, depth)
        return self.call(node, depth)

    def logical(self, node: And | Or, depth: int) -> object:
        stop_when = isinstance(node, Or)
        result: object = None
        for operand in node.operands:
            result = self.value(operand, depth + 1)
            if truthy(result) is stop_when:
                return result
        return result

    def index(self, node: Index, depth: int) -> tuple[object, bool]:
        """The value of an access chain and whether it is a filtered array."""
        if isinstance(node.target, Index):
            target, filtered = self.index(node.target, depth + 1)
        else:
            target, filtered = self.value(node.target, depth + 1), False
        if isinstance(node.key, Wildcard):
            if not filtered:
                return _elements(target), True
            assert isinstance(target, list)
            return [element for item in target for element in _elements(item)], True
        key = self.value(node.key, depth + 1)
        if not filtered:
            found = _access(target, key)
            return (None if found is _MISSING else found), False
        assert isinstance(target, list)
        found_all = (_access(item, key) for item in target)
        return [found for found in found_all if found is not _MISSING], True

    def call(self, node: Call, depth: int) -> object:
        function = FUNCTIONS[node.name.lower()]
        thunks = [lambda arg=arg: self.value(arg, depth + 1) for arg in node.args]
        try:
            return function.run(thunks, self.env)
        except FunctionError as error:
            position = node.offset + 1
            raise ExpressionError(
                located(str(error), position, self.source), kind="evaluation", position=position
            ) from None


def _get(container: Mapping[str, object], name: str) -> object:
    if name in container:
        return container[name]
    folded = name.lower()
    return next((v for k, v in container.items() if str(k).lower() == folded), None)


def _elements(value: object) -> list[object]:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Mapping):
        return list(value.values())
    return []


def _access(container: object, key: object) -> object:
    """``container[key]`` with GitHub's key coercion, or _MISSING."""
    kind = kind_of(key)
    if kind in ("Array", "Object"):
        return _MISSING
    if isinstance(container, list):
        number = to_number(key)
        if math.isnan(number) or math.isinf(number):
            return _MISSING
        position = math.floor(number)
        return container[position] if 0 <= position < len(container) else _MISSING
    if isinstance(container, Mapping):
        name = format_number(float(key)) if kind == "Number" else _key_text(key)  # type: ignore[arg-type]
        if name in container:
            return container[name]
        folded = name.lower()
        return next((v for k, v in container.items() if str(k).lower() == folded), _MISSING)
    return _MISSING


def _key_text(key: object) -> str:
    if key is None:
        return ""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
