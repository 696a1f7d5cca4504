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
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from shipyard.ci.expressions import EvaluationOptions, ExpressionError, evaluate, kind_of
from tests.compat import compat_dir


def _raw() -> list[dict[str, Any]]:
    lines = (compat_dir() / "expr_vectors.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


RAW = _raw()
# ``skip`` lists the engines that do not run a vector. Vectors skipped by the TypeScript
# language service are the runner-only ones (only GitHub's runner enforces them, e.g. its
# memory limit): Shipyard implements the runner's rules, so it runs them. A vector is skipped
# only when its ``skip`` names Shipyard itself.
RUNNER_ONLY = [v for v in RAW if "typescript" in v.get("skip", ())]
SKIPPED = [v for v in RAW if "shipyard" in v.get("skip", ())]
SKIP_REASON = (
    f"vector marked as not run by Shipyard: {len(SKIPPED)} of {len(RAW)} expression vectors "
    f"skipped ({len(RUNNER_ONLY)} runner-only vectors are run)"
)


def _vectors() -> list[Any]:
    return [
        pytest.param(
            vector,
            id=f"{i}:{vector['name']}",
            marks=[pytest.mark.skip(reason=SKIP_REASON)] if vector in SKIPPED else [],
        )
        for i, vector in enumerate(RAW)
    ]


VECTORS = _vectors()


def test_all_vectors_are_read_and_runner_only_ones_are_run() -> None:
    """Every vector becomes a test; runner-only ones (``skip: [typescript]``) run like the
    others. The shared set has 618 vectors, 3 of them runner-only, none skipped; the
    terminal summary of a run that includes this file prints the counts of any set."""
    assert len(VECTORS) == len(RAW) > 0
    assert not any(param.marks for param in VECTORS if param.values[0] in RUNNER_ONLY)
    if "SHIPYARD_COMPAT_DIR" not in os.environ:
        assert (len(RAW), len(RUNNER_ONLY), len(SKIPPED)) == (618, 3, 0)
        assert {v["name"] for v in RUNNER_ONLY} == {
            "syntax-errors/parsing-errors",
            "syntax-errors/memory-errors",
        }


def census() -> str:
    """One line for the end of the test output: how many vectors ran and were skipped."""
    return (
        f"expr_vectors.jsonl: {len(RAW)} vectors, {len(RAW) - len(SKIPPED)} run "
        f"(incl. {len(RUNNER_ONLY)} marked runner-only), {len(SKIPPED)} skipped"
    )


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
