"""The filter plugins, from the table in ``data/filters.yaml``: feasible nodes or the message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.scheduler.helpers import load_cases, run

CASES = load_cases("filters.yaml")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_filter_table(case: dict[str, Any]) -> None:
    result = run(case)
    if "feasible" in case:
        assert sorted(result.feasible) == sorted(case["feasible"]), result.message
        assert result.node in case["feasible"]
    else:
        assert result.node is None
        assert result.message == case["message"]
