"""Reports: deterministic JSON (same scenario and seed, same bytes), the comparison, the
terminal table, the PNG charts and the self-contained HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shipyard.platform.simulation import simulation_strategies
from shipyard.sim.report import (
    HOURS_PER_MONTH,
    build_report,
    percentile,
    render_charts,
    render_html,
    render_table,
    report_json,
    write_outputs,
)
from shipyard.sim.runner import SimulationResult, run_scenario
from shipyard.sim.scenario import parse_scenario
from tests.sim.test_runner import small_data

PNG = b"\x89PNG\r\n\x1a\n"


def simulate(**overrides: Any) -> SimulationResult:
    scenario = parse_scenario(small_data(duration="5m", events=[], **overrides))
    result = run_scenario(scenario, simulation_strategies())
    for r in result.results:
        assert r.violations == [], [str(v) for v in r.violations]
    return result


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return simulate()


def test_the_same_scenario_and_seed_give_byte_identical_json(result: SimulationResult) -> None:
    again = simulate()
    assert report_json(build_report(result)) == report_json(build_report(again))
    other_seed = simulate(seed=4)
    assert report_json(build_report(other_seed)) != report_json(build_report(result))


def test_the_json_is_sorted_and_rounded(result: SimulationResult) -> None:
    text = report_json(build_report(result))
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def floats(value: Any) -> list[float]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return []

    assert all(round(f, 4) == f for f in floats(data))


def test_the_report_holds_costs_pods_nodes_and_the_comparison(result: SimulationResult) -> None:
    report = build_report(result)
    assert report["scenario"]["durationSeconds"] == 300.0
    karpenter = report["strategies"]["karpenter"]
    baseline = report["strategies"]["cluster-autoscaler"]
    for s in (karpenter, baseline):
        cost = s["cost"]
        assert cost["monthly"] == pytest.approx(cost["averagePerHour"] * HOURS_PER_MONTH, abs=0.05)
        assert cost["averagePerHour"] == pytest.approx(cost["total"] * 12, abs=1e-3)  # 5 minutes
        assert s["pods"]["started"] == 6 and s["pods"]["stillPending"] == 0
        assert s["nodes"]["final"] >= 1
        assert s["samples"][-1]["t"] == 300.0
        assert s["invariants"]["violations"] == [] and s["invariants"]["checks"] > 0
        buckets = s["pods"]["pendingHistogram"]
        assert sum(b["pods"] for b in buckets) == 6
        assert [b["from"] for b in buckets] == [0, 10, 30, 60, 120, 180, 300, 600]
    assert karpenter["pods"]["pendingSeconds"]["p95"] < baseline["pods"]["pendingSeconds"]["p50"]
    monthly = report["comparison"]["monthlyAtEnd"]
    base, cand = baseline["cost"]["monthlyAtEnd"], karpenter["cost"]["monthlyAtEnd"]
    assert (monthly["baseline"], monthly["candidate"]) == (base, cand)
    assert monthly["savingPercent"] == pytest.approx((base - cand) / base * 100, abs=1e-3)


def test_one_strategy_has_no_comparison() -> None:
    scenario = parse_scenario(small_data(duration="1m", events=[], strategies=["karpenter"]))
    report = build_report(run_scenario(scenario, simulation_strategies()))
    assert list(report["strategies"]) == ["karpenter"]
    assert "comparison" not in report


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([7.0], 0.95, 7.0), ([1, 2, 3, 4], 0.5, 2), ([1, 2, 3, 4], 0.95, 4),
     (list(range(1, 101)), 0.95, 95), (list(range(100, 0, -1)), 0.5, 50)],
)  # fmt: skip
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_the_terminal_table_shows_both_strategies_and_the_saving(result: SimulationResult) -> None:
    console = Console(width=160, record=True)
    console.print(render_table(build_report(result)))
    text = console.export_text()
    assert "karpenter" in text and "cluster-autoscaler" in text
    assert "monthly (average × 730)" in text and "pending→running p95" in text
    assert "saving $" in text


def test_charts_and_html_are_self_contained(result: SimulationResult, tmp_path: Path) -> None:
    charts = render_charts(result)
    assert set(charts) == {"overview.png", "pods.png"}
    assert all(data.startswith(PNG) for data in charts.values())
    report = build_report(result)
    page = render_html(report, charts)
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page
    written = write_outputs(report, result, tmp_path / "out")
    assert sorted(p.name for p in written) == [
        "overview.png",
        "pods.png",
        "report.html",
        "report.json",
    ]
    assert (tmp_path / "out" / "report.json").read_text() == report_json(report)
