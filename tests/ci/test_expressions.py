"""The expression language beyond the peer vectors: positions, templates, ``if``
conditions, hooks, limits, and a few algebraic properties checked with hypothesis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.ci import expressions
from shipyard.ci.expressions import (
    EvaluationOptions,
    ExpressionError,
    condition_tree,
    evaluate,
    evaluate_condition,
    evaluate_template,
    interpolate,
    parse_expression,
    split_template,
    to_json,
)
from shipyard.ci.expressions.nodes import And, Call

FAST = settings(max_examples=60, deadline=None)


def expect_error(expression: str, *, kind: str, position: int | None, contains: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, {"github": {}})
    assert caught.value.kind == kind
    assert caught.value.position == position
    assert contains in str(caught.value)


def job(status: str | None) -> dict[str, Any]:
    return {"job": {"status": status}, "github": {"ref": "refs/heads/main"}}


# -- syntax, positions and errors -------------------------------------------------------------


def test_unterminated_string_is_a_lexing_error_at_its_quote() -> None:
    expect_error("github.ref == 'main", kind="lexing", position=15, contains="'main")


def test_position_counts_characters_across_lines() -> None:
    expect_error("true &&\n  nope()", kind="parsing", position=11, contains="'nope'")


def test_missing_closing_bracket_reports_the_end() -> None:
    expect_error("github['ref'", kind="parsing", position=8, contains="Unexpected end")


def test_wildcard_outside_an_access_is_unexpected() -> None:
    expect_error("1 == *", kind="lexing", position=6, contains="'*'")


def test_empty_expression_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="nothing"):
        parse_expression("   ")


def test_named_values_limit_the_allowed_contexts() -> None:
    tree = parse_expression("GitHub.ref", named_values=["github", "needs"])
    assert evaluate(tree, {"github": {"REF": "x"}}) == "x"
    with pytest.raises(ExpressionError, match="Unrecognized named-value: 'env'"):
        parse_expression("github.ref && env.X", named_values=["github"])


def test_function_names_are_case_insensitive_and_arity_is_checked() -> None:
    assert evaluate("TOJSON(FromJson('[]'))") == "[]"
    with pytest.raises(ExpressionError, match="Too many parameters supplied: 'always'") as caught:
        evaluate("always(1)")
    assert caught.value.kind == "parsing"


# -- semantics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("true || false && false", True),  # && binds tighter than ||
        ("!false == true", True),  # ! binds tighter than ==
        ("1 < 2 == 2 > 1", True),  # comparisons bind tighter than equality
        ("(true || false) && false", False),
        ("'ABC' == 'abc' && 'b' > 'A'", True),
        ("fromJSON('[1]') == fromJSON('[1]')", False),  # containers only equal themselves
        ("null == 0 && '' == false && ' 0x10 ' == 16", True),
    ],
)
def test_precedence_and_coercion(expression: str, expected: object) -> None:
    assert evaluate(expression) == expected


def test_object_filter_keeps_found_keys_and_flattens() -> None:
    context = {"needs": {"a": {"result": "success"}, "b": {"result": "failure"}, "c": {}}}
    assert evaluate("needs.*.result", context) == ["success", "failure"]
    assert evaluate("contains(needs.*.result, 'FAILURE')", context) is True


def test_same_container_equals_itself() -> None:
    assert evaluate("github.event == github.event", {"github": {"event": {"a": 1}}}) is True


def test_to_json_is_two_space_pretty_json() -> None:
    value = {"a": [1, 2.5, None], "b": {}, "c": "é\n", "d": []}
    assert to_json(value) == (
        '{\n  "a": [\n    1,\n    2.5,\n    null\n  ],\n  "b": {},\n  "c": "é\\n",\n  "d": []\n}'
    )


def test_numbers_print_with_fifteen_significant_digits() -> None:
    assert evaluate("format('{0} {1} {2}', 0.1, 1e21, -0)") == "0.1 1E+21 0"


def test_from_json_rejects_invalid_text_with_position() -> None:
    with pytest.raises(ExpressionError, match="not valid JSON") as caught:
        evaluate("true && fromJSON('{nope')")
    assert caught.value.kind == "evaluation"
    assert caught.value.position == 9


def test_from_json_rejects_non_json_constants() -> None:
    with pytest.raises(ExpressionError, match="not valid JSON"):
        evaluate("fromJSON('NaN')")


def test_case_needs_an_odd_number_of_arguments_and_stops_early() -> None:
    with pytest.raises(ExpressionError, match="odd number"):
        evaluate("case(true, 'a', false, 'b')")
    # the second predicate is not a boolean but is never reached
    assert evaluate("case(true, 'a', 'not a boolean', 'b', 'c')") == "a"


def test_memory_limit_stops_huge_strings() -> None:
    context = {"big": "x" * 100_000}
    assert len(str(evaluate("format('{0}{0}{0}{0}{0}', big)", context))) == 500_000
    with pytest.raises(ExpressionError, match="maximum allowed memory") as caught:
        evaluate("format('{0}{0}{0}{0}{0}{0}', big)", context)
    assert caught.value.kind == "evaluation"


def test_memory_is_released_once_a_value_is_used() -> None:
    context = {"big": "x" * 100_000}
    one = "format('{0}{0}{0}{0}{0}', big) == ''"
    assert evaluate(" || ".join([one] * 10), context) is False


# -- hooks and status functions ------------------------------------------------------------


def test_hash_files_without_a_hook_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="hashFiles is not available") as caught:
        evaluate("format('k-{0}', hashFiles('**/*.lock'))")
    assert caught.value.position == 17


def test_hash_files_hook_receives_the_patterns_as_strings() -> None:
    def fake(patterns: Sequence[str]) -> str:
        return "|".join(patterns)

    options = EvaluationOptions(hash_files=fake)
    assert evaluate("hashFiles('a/**', '!b')", options=options) == "a/**|!b"


@pytest.mark.parametrize(
    ("status", "success", "failure", "cancelled"),
    [
        (None, True, False, False),
        ("success", True, False, False),
        ("failure", False, True, False),
        ("cancelled", False, False, True),
    ],
)
def test_status_functions_read_the_job_status(
    status: str | None, success: bool, failure: bool, cancelled: bool
) -> None:
    context = job(status)
    assert evaluate("success()", context) is success
    assert evaluate("failure()", context) is failure
    assert evaluate("cancelled()", context) is cancelled
    assert evaluate("always()", context) is True


# -- templates and if conditions --------------------------------------------------------------


def test_interpolation_joins_text_and_values() -> None:
    context = {"matrix": {"os": "linux", "n": 3}, "env": {}}
    template = "run-${{ matrix.os }}-${{ matrix.n }}${{ env.MISSING }} ${{ format('{{x}}') }}"
    assert interpolate(template, context) == "run-linux-3 {x}"


def test_split_template_ignores_braces_inside_strings() -> None:
    assert split_template("a${{ 'x}}y' }}b") == ["a", ("'x}}y'", 1), "b"]


def test_template_of_one_expression_keeps_its_type() -> None:
    context = {"github": {"event": {"n": [1, 2]}}}
    assert evaluate_template("${{ github.event.n }}", context) == [1, 2]
    assert evaluate_template(" ${{ github.event.n }}", context) == " Array"


def test_unclosed_interpolation_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="not closed") as caught:
        interpolate("echo ${{ github.ref")
    assert caught.value.position == 6


def test_condition_without_status_function_gets_implicit_success() -> None:
    tree = condition_tree("${{ github.ref == 'refs/heads/main' }}")
    assert isinstance(tree, And) and tree.operands[0] == Call("success", (), 0)
    assert evaluate_condition("github.ref == 'refs/heads/main'", job("success")) is True
    assert evaluate_condition("github.ref == 'refs/heads/main'", job("failure")) is False


def test_condition_with_status_function_is_used_as_written() -> None:
    assert evaluate_condition("${{ failure() && github.ref != '' }}", job("failure")) is True
    assert evaluate_condition("always()", job("cancelled")) is True
    assert evaluate_condition("!cancelled()", job("failure")) is True


def test_empty_condition_is_success() -> None:
    assert evaluate_condition("", job(None)) is True
    assert evaluate_condition("  ", job("failure")) is False


def test_condition_with_text_around_an_expression_is_a_string() -> None:
    # GitHub's documented pitfall: this is the non-empty string "false && x", so true.
    assert evaluate_condition("${{ false }} && x", job("success")) is True


def test_public_api_is_exported() -> None:
    for name in expressions.__all__:
        assert hasattr(expressions, name), name


# -- properties -----------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.text(max_size=8)
_json_numbers = st.integers(-(10**12), 10**12).map(float)
_json = st.recursive(
    _json_scalars | _json_numbers,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@FAST
@given(st.text(max_size=20))
def test_string_literals_round_trip(text: str) -> None:
    assert evaluate("'" + text.replace("'", "''") + "'") == text


@FAST
@given(_json)
def test_from_json_inverts_to_json(value: object) -> None:
    assert evaluate("fromJSON(toJSON(v))", {"v": value}) == value


@FAST
@given(st.integers(0, 2**40))
def test_integer_literals_in_every_base(number: int) -> None:
    assert evaluate(f"{number} == {hex(number)} && {hex(number)} == 0o{number:o}") is True


@FAST
@given(_json_scalars | _json_numbers, _json_scalars | _json_numbers)
def test_loose_equality_is_symmetric_and_ordering_is_consistent(a: object, b: object) -> None:
    context = {"a": a, "b": b}
    assert evaluate("a == b", context) == evaluate("b == a", context)
    assert evaluate("a != b", context) is not evaluate("a == b", context)
    assert evaluate("a < b", context) == evaluate("b > a", context)
    # <= is "< or ==" except for two nulls, which are equal but not ordered (GitHub)
    both_null = a is None and b is None
    assert evaluate("a <= b", context) == (not both_null and evaluate("a < b || a == b", context))


# -- fuzz: no input crashes the parser; every bad input gets a positioned error ---------------

_TOKENS = st.sampled_from([
    "github", "env", ".", "*", "[", "]", "(", ")", ",", "'", "''", "'a b'", "==", "!=", "<",
    "<=", ">", ">=", "&&", "||", "!", "1", "-2.5", "0x1F", "1e3", "true", "false", "null",
    "NaN", "Infinity", "contains", "format", "fromJSON", "toJSON", "join", "success", "always",
    "hashFiles", " ", "\n", "\t", "${{", "}}", "{0}", "ref", "a-b", "_x", "\\", "@", "#",
])  # fmt: skip
_EXPRESSIONS = st.lists(_TOKENS, max_size=14).map("".join) | st.text(max_size=24)
_FUZZ = settings(max_examples=400, deadline=None)
_CONTEXT = {"github": {"ref": "refs/heads/main", "event": {"a": [1, {"b": "c"}]}}, "env": {}}


def _expect_positioned(err: ExpressionError, source: str) -> None:
    assert err.kind in ("lexing", "parsing", "evaluation")
    if not source.strip():  # nothing to point at: the message says the expression is empty
        assert err.position is None and "found nothing" in str(err)
    elif err.kind != "evaluation":  # an error in the text itself says where it is
        assert err.position is not None and 1 <= err.position <= len(source) + 1, err
        assert f"position {err.position}" in str(err)


@_FUZZ
@given(_EXPRESSIONS)
def test_no_expression_crashes_the_parser_or_evaluator(source: str) -> None:
    try:
        evaluate(source, _CONTEXT, named_values=list(_CONTEXT))
    except ExpressionError as err:
        _expect_positioned(err, source)


@_FUZZ
@given(_EXPRESSIONS)
def test_no_condition_or_template_crashes(source: str) -> None:
    for run in (
        lambda: evaluate_condition(source, _CONTEXT, named_values=list(_CONTEXT)),
        lambda: interpolate(f"x ${{{{ {source} }}}} y", _CONTEXT, named_values=list(_CONTEXT)),
        lambda: interpolate(source, _CONTEXT, named_values=list(_CONTEXT)),
    ):
        try:
            run()
        except ExpressionError as err:
            assert err.kind in ("lexing", "parsing", "evaluation")
            assert str(err)
