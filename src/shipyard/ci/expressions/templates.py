"""``${{ }}`` interpolation and ``if`` conditions.

A template is a string with any number of ``${{ expression }}`` parts. An expression ends
at the first ``}}`` outside a string literal, so ``${{ format('{{0}}') }}`` works. When a
template is exactly one expression, ``evaluate_template`` returns its value unchanged (a
``with:`` input or ``strategy.matrix`` can receive an object); otherwise every part is
converted to a string (``null`` → ``''``, an object → ``Object``) and concatenated.

``if`` conditions follow GitHub's documented rules: the ``${{ }}`` around the whole
condition is optional, and a condition that calls none of ``success()``, ``failure()``,
``cancelled()`` or ``always()`` runs as ``success() && (condition)``; an empty
condition is ``success()``. A condition that is a larger template (text around a
``${{ }}``) is a string, true when not empty, which is GitHub's behaviour too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

from shipyard.ci.expressions.api import evaluate, parse_expression
from shipyard.ci.expressions.errors import ExpressionError
from shipyard.ci.expressions.functions import STATUS_FUNCTIONS, EvaluationOptions
from shipyard.ci.expressions.nodes import And, Call, Node, Wildcard, children
from shipyard.ci.expressions.values import to_string, truthy

__all__ = [
    "condition_tree",
    "evaluate_condition",
    "evaluate_template",
    "interpolate",
    "split_template",
]

_OPEN, _CLOSE = "${{", "}}"


def split_template(template: str) -> list[str | tuple[str, int]]:
    """Literal text (``str``) and expressions (``(source, offset)``) in order."""
    parts: list[str | tuple[str, int]] = []
    i = 0
    while (start := template.find(_OPEN, i)) >= 0:
        if start > i:
            parts.append(template[i:start])
        end = _expression_end(template, start + len(_OPEN))
        parts.append((template[start + len(_OPEN) : end].strip(), start))
        i = end + len(_CLOSE)
    if i < len(template):
        parts.append(template[i:])
    return parts


def _expression_end(template: str, i: int) -> int:
    in_string = False
    while i < len(template):
        if template[i] == "'":
            in_string = not in_string  # '' inside a string toggles twice
        elif not in_string and template.startswith(_CLOSE, i):
            return i
        i += 1
    raise ExpressionError(
        f"The expression is not closed: '{_OPEN}' at position {template.rfind(_OPEN) + 1} "
        f"has no matching '{_CLOSE}' in: {template}",
        kind="parsing",
        position=template.rfind(_OPEN) + 1,
    )


def evaluate_template(
    template: str,
    context: Mapping[str, object] | None = None,
    *,
    options: EvaluationOptions | None = None,
    named_values: Collection[str] | None = None,
) -> object:
    """The value of a template: one expression keeps its type, otherwise a string."""
    parts = split_template(template)
    if len(parts) == 1 and isinstance(parts[0], tuple):
        return evaluate(parts[0][0], context, options=options, named_values=named_values)
    return _joined(parts, context, options, named_values)


def interpolate(
    template: str,
    context: Mapping[str, object] | None = None,
    *,
    options: EvaluationOptions | None = None,
    named_values: Collection[str] | None = None,
) -> str:
    """The template with every ``${{ }}`` replaced by its value as a string."""
    return _joined(split_template(template), context, options, named_values)


def _joined(
    parts: list[str | tuple[str, int]],
    context: Mapping[str, object] | None,
    options: EvaluationOptions | None,
    named_values: Collection[str] | None,
) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            value = evaluate(part[0], context, options=options, named_values=named_values)
            out.append(to_string(value))
    return "".join(out)


def condition_tree(condition: str, named_values: Collection[str] | None = None) -> Node:
    """The tree GitHub evaluates for an ``if``, with the implicit ``success() &&``."""
    text = condition.strip()
    parts = split_template(text) if text else []
    if len(parts) == 1 and isinstance(parts[0], tuple):
        text = parts[0][0]
    if not text:
        return Call("success", (), 0)
    tree = parse_expression(text, named_values=named_values)
    if _calls_status_function(tree):
        return tree
    return And((Call("success", (), 0), tree), 0)


def _calls_status_function(tree: Node) -> bool:
    return any(
        isinstance(node, Call) and node.name.lower() in STATUS_FUNCTIONS for node in _walk(tree)
    )


def _walk(node: Node | Wildcard) -> Iterator[Node | Wildcard]:
    yield node
    for child in children(node):
        yield from _walk(child)


def evaluate_condition(
    condition: str,
    context: Mapping[str, object] | None = None,
    *,
    options: EvaluationOptions | None = None,
    named_values: Collection[str] | None = None,
) -> bool:
    """Whether an ``if`` condition holds."""
    stripped = condition.strip()
    parts = split_template(stripped) if stripped else []
    if len(parts) > 1:
        return truthy(interpolate(stripped, context, options=options, named_values=named_values))
    tree = condition_tree(condition, named_values)
    return truthy(evaluate(tree, context, options=options, source=stripped))
