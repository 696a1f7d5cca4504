"""GitHub Actions expressions: ``${{ }}`` in Shipyard workflows.

The language is GitHub's, as documented: literals, operators with GitHub's precedence,
loose equality with GitHub's coercions, case-insensitive strings and keys, object
filters, the built-in functions and the status functions. The package reads
left to right::

    lexer (tokens) → parser (tree with positions, arity and depth checks)
                   → evaluator (values, filters) ← functions (built-ins, status, hooks)
    templates: ``${{ }}`` interpolation and ``if`` conditions with the implicit success()

Deliberate differences from GitHub: none known in the language itself. ``hashFiles``
is a hook (``EvaluationOptions.hash_files``) because hashing needs the workspace the
runner owns. Errors carry GitHub's wording plus the 1-based position.
"""

from shipyard.ci.expressions.api import evaluate, parse_expression
from shipyard.ci.expressions.errors import ExpressionError
from shipyard.ci.expressions.functions import STATUS_FUNCTIONS, EvaluationOptions
from shipyard.ci.expressions.templates import (
    condition_tree,
    evaluate_condition,
    evaluate_template,
    interpolate,
    split_template,
)
from shipyard.ci.expressions.values import kind_of, to_json, to_string, truthy

__all__ = [
    "STATUS_FUNCTIONS",
    "EvaluationOptions",
    "ExpressionError",
    "condition_tree",
    "evaluate",
    "evaluate_condition",
    "evaluate_template",
    "interpolate",
    "kind_of",
    "parse_expression",
    "split_template",
    "to_json",
    "to_string",
    "truthy",
]
