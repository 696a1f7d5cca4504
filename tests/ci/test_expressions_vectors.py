"""Peer vectors for the expression language (``expr_vectors.jsonl``), one test each.

Every vector is evaluated with the vector's context as the only allowed named values, so
a name outside the context is an error as in GitHub's runner. Vectors taken from act
that expect an error use act's wording; Shipyard keeps GitHub's (``The following format
string is invalid: {0``), so for those the comparison drops act's extra words and quotes.
The ``hashFiles`` vectors check the hook: the hook receives the patterns as written and
its answer (here GitHub's algorithm over the vector's ``matched_files``) is the result.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from shipyard.ci.expressions import EvaluationOptions, ExpressionError, evaluate, kind_of
from tests.compat import compat_dir


def _vectors() -> list[Any]:
    lines = (compat_dir() / "expr_vectors.jsonl").read_text(encoding="utf-8").splitlines()
    return [
        pytest.param(json.loads(line), id=f"{i}:{json.loads(line)['name']}")
        for i, line in enumerate(lines)
        if line.strip()
    ]


VECTORS = _vectors()


def test_all_vectors_are_read() -> None:
    assert len(VECTORS) == 618


def _github_wording(vector: dict[str, Any]) -> str:
    message: str = vector["error_msg"]
    if "nektos/act" in vector.get("source", ""):
        message = message.removeprefix("Unclosed brackets. ").replace("'", "")
    return message


def _hash_files_hook(vector: dict[str, Any], seen: list[list[str]]) -> Any:
    root = compat_dir() / Path(vector["workdir"]).name

    def hash_files(patterns: Sequence[str]) -> str:
        seen.append(list(patterns))
        digests = b"".join(
            hashlib.sha256((root / name).read_bytes()).digest() for name in vector["matched_files"]
        )
        return hashlib.sha256(digests).hexdigest() if vector["matched_files"] else ""

    return hash_files


def _expect_value(vector: dict[str, Any], got: object) -> None:
    expected = vector["expected"]
    if isinstance(expected, dict) and "$special" in expected:
        assert isinstance(got, float)
        special = expected["$special"]
        assert math.isnan(got) if special == "NaN" else got == float(special)
        return
    assert got == expected
    assert kind_of(got) == vector.get("expected_kind", kind_of(expected))


@pytest.mark.parametrize("vector", VECTORS)
def test_vector(vector: dict[str, Any]) -> None:
    context = vector["context"] or {}
    seen: list[list[str]] = []
    options = EvaluationOptions(
        in_composite_action=bool(vector.get("in_composite_action")),
        hash_files=_hash_files_hook(vector, seen) if "matched_files" in vector else None,
    )
    if vector.get("error"):
        with pytest.raises(ExpressionError) as caught:
            evaluate(vector["expr"], context, options=options, named_values=list(context))
        assert str(caught.value).startswith(_github_wording(vector))
        if "error_kind" in vector:
            assert caught.value.kind == vector["error_kind"]
        return
    got = evaluate(vector["expr"], context, options=options, named_values=list(context))
    _expect_value(vector, got)
    if "matched_files" in vector:
        assert len(seen) == 1 and seen[0][0].startswith(("./", "**"))
