"""`shipyard simulate SCENARIO.yaml [--seed N] [--strategy ...] [--out DIR]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from shipyard.cli.main import app
from tests.sim.test_runner import small_data


def scenario_file(tmp_path: Path, **overrides: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(small_data(duration="3m", events=[], **overrides)))
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["simulate", *args])


def test_simulate_prints_the_table_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = invoke(str(scenario_file(tmp_path)), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "karpenter" in result.output and "cluster-autoscaler" in result.output
    assert "saving $" in result.output
    assert f"wrote {out / 'report.json'}" in result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["strategies"]) == {"karpenter", "cluster-autoscaler"}
    assert report["scenario"]["seed"] == 3
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (out / "overview.png").stat().st_size > 0


def test_strategy_and_seed_options(tmp_path: Path) -> None:
    out = tmp_path / "one"
    path = str(scenario_file(tmp_path))
    result = invoke(path, "--strategy", "karpenter", "--seed", "11", "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert list(report["strategies"]) == ["karpenter"]
    assert report["scenario"]["seed"] == 11
    assert "comparison" not in report


def test_a_wrong_scenario_fails_with_the_field_path(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, workloads=[{"name": "web", "cpu": "a lot"}])
    result = invoke(str(path))
    assert result.exit_code == 1
    assert "workloads[0].cpu: must be a quantity" in result.output


def test_a_wrong_strategy_or_missing_file_fails_clearly(tmp_path: Path) -> None:
    path = str(scenario_file(tmp_path))
    result = invoke(path, "--strategy", "fastest")
    assert result.exit_code == 1
    assert "--strategy must be one of karpenter, cluster-autoscaler, all" in result.output
    only = scenario_file(tmp_path, clusterAutoscaler=None)
    result = invoke(str(only), "--strategy", "cluster-autoscaler")
    assert result.exit_code == 1
    assert "needs a 'clusterAutoscaler' section" in result.output
    result = invoke(str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "cannot read scenario" in result.output
