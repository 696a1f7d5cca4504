"""The entry points: parse an expression, evaluate an expression or a tree."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shipyard.ci.expressions.evaluator import evaluate_tree
from shipyard.ci.expressions.functions import ARITY, CallEnv, EvaluationOptions
from shipyard.ci.expressions.nodes import Node
from shipyard.ci.expressions.parser import parse

__all__ = ["evaluate", "parse_expression"]

_DEFAULT_OPTIONS = EvaluationOptions()


def parse_expression(source: str, *, named_values: Collection[str] | None = None) -> Node:
    """Parse ``source`` (the text inside ``${{ }}``) into a syntax tree.

    ``named_values`` lists the contexts the field allows (None: any name); raises
    ExpressionError naming the position of the first problem.
    """
    return parse(source, ARITY, named_values)


def evaluate(
    expression: str | Node,
    context: Mapping[str, object] | None = None,
    *,
    options: EvaluationOptions | None = None,
    named_values: Collection[str] | None = None,
    source: str | None = None,
) -> object:
    """The value of ``expression`` (source text or a parsed tree) in ``context``.

    ``source`` is the text quoted in error messages when a tree is given.
    """
    if isinstance(expression, str):
        source = expression
        expression = parse_expression(expression, named_values=named_values)
    env = CallEnv(context or {}, options or _DEFAULT_OPTIONS)
    return evaluate_tree(expression, env, source or "")
