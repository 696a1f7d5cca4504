"""Matrix expansion: the peer vectors, GitHub's documented rules, and properties."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.ci.matrix import MAX_JOBS, expand_matrix, format_matrix_value, job_display_name
from shipyard.core.errors import InvalidError
from tests.compat import compat_dir


def _vectors() -> list[Any]:
    lines = (compat_dir() / "matrix_vectors.jsonl").read_text().splitlines()
    vectors = [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(v, id=f"matrix-{i}") for i, v in enumerate(vectors)]


@pytest.mark.parametrize("vector", _vectors())
def test_matrix_vectors(vector: dict[str, Any]) -> None:
    matrix = vector["matrix"]
    if matrix is None and vector.get("strategy"):
        matrix = vector["strategy"].get("matrix")
    combos = expand_matrix(matrix)
    assert len(combos) == vector["expected_count"]
    assert combos == vector["expected"]
    # Key order is part of the result (it decides the job name GitHub shows).
    assert [list(c) for c in combos] == [list(c) for c in vector["expected"]]


def test_cartesian_product_first_key_outermost() -> None:
    combos = expand_matrix({"a": [1, 2], "b": ["x", "y"]})
    assert combos == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_partial_exclude_removes_every_match() -> None:
    matrix = {"os": ["l", "w"], "node": [1, 2, 3], "exclude": [{"os": "w"}]}
    assert expand_matrix(matrix) == [{"os": "l", "node": n} for n in (1, 2, 3)]


def test_include_never_overwrites_original_values() -> None:
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    # GitHub's documented worked example for include.
    assert expand_matrix(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_booleans_are_not_numbers() -> None:
    matrix = {"flag": [True, 1], "exclude": [{"flag": 1}]}
    assert expand_matrix(matrix) == [{"flag": True}]


def test_object_values_compare_deeply() -> None:
    matrix = {"cfg": [{"a": 1}, {"a": 2}], "exclude": [{"cfg": {"a": 2}}]}
    assert expand_matrix(matrix) == [{"cfg": {"a": 1}}]


def test_exactly_256_jobs_is_allowed_and_257_is_not() -> None:
    assert len(expand_matrix({"a": list(range(16)), "b": list(range(16))})) == MAX_JOBS
    with pytest.raises(InvalidError, match="more than 256 jobs"):
        expand_matrix({"a": list(range(16)), "b": list(range(16)), "include": [{"a": 99}]})
    with pytest.raises(InvalidError, match="more than 256 jobs"):
        expand_matrix({"a": list(range(1000)), "b": list(range(1000))})


def test_exclusion_can_bring_a_large_product_under_the_limit() -> None:
    matrix = {"a": list(range(20)), "b": list(range(20)), "exclude": [{"a": 0}]}
    with pytest.raises(InvalidError):
        expand_matrix(matrix)
    fewer = {"a": list(range(20)), "b": list(range(20)), "exclude": [{"a": n} for n in range(8)]}
    assert len(expand_matrix(fewer)) == 12 * 20


@pytest.mark.parametrize(
    ("matrix", "path", "fragment"),
    [
        ({"os": []}, "strategy.matrix.os", "does not contain any values"),
        ({"os": "linux"}, "strategy.matrix.os", "must be a list of values"),
        ({"os": ["l"], "exclude": [{"arch": "x"}]}, "strategy.matrix.exclude[0].arch", "exclude"),
        ({"os": ["l"], "include": ["x"]}, "strategy.matrix.include[0]", "must be a mapping"),
        ({"os": ["l"], "include": {"a": 1}}, "strategy.matrix.include", "list of mappings"),
        ({"os": ["l"], "exclude": [{"os": "l"}]}, "strategy.matrix.exclude", "every combination"),
        ("${{ fromJSON(x) }}", "strategy.matrix", "evaluate expressions first"),
    ],
)
def test_invalid_matrices_name_the_field(matrix: Any, path: str, fragment: str) -> None:
    with pytest.raises(InvalidError) as caught:
        expand_matrix(matrix)
    cause = caught.value.causes[0]
    assert cause.path == path
    assert fragment in cause.message


def test_no_matrix_and_empty_matrix_run_once() -> None:
    assert expand_matrix(None) == [{}]
    assert expand_matrix({}) == [{}]


def test_job_display_name() -> None:
    assert job_display_name("build", {"os": "ubuntu-latest", "node": 14}) == (
        "build (ubuntu-latest, 14)"
    )
    assert job_display_name("build", {}) == "build"
    assert job_display_name("t", {"a": True, "b": 5.4, "c": {"k": [1]}, "d": None}) == (
        't (true, 5.4, {"k":[1]}, )'
    )
    assert format_matrix_value("x y") == "x y"


_VALUES = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"]), st.booleans())
_VECTORS = st.dictionaries(
    st.sampled_from(["os", "node", "arch", "py"]),
    st.lists(_VALUES, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)),
    min_size=1,
    max_size=3,
)


@given(_VECTORS)
def test_product_size_and_key_order(vectors: dict[str, list[object]]) -> None:
    combos = expand_matrix(vectors)
    assert len(combos) == math.prod(len(v) for v in vectors.values())
    assert all(list(c) == list(vectors) for c in combos)


@given(_VECTORS, st.data())
def test_include_keeps_every_original_value(vectors: dict[str, list[object]], data: Any) -> None:
    entry = {k: data.draw(_VALUES) for k in data.draw(st.sets(st.sampled_from(["os", "x"])))}
    combos = expand_matrix({**vectors, "include": [entry]})
    originals = expand_matrix(vectors)
    for original, combo in zip(originals, combos, strict=False):
        assert all(combo[k] == v and type(combo[k]) is type(v) for k, v in original.items())
    assert len(combos) in (len(originals), len(originals) + 1)
