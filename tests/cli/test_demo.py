"""`shipyard demo` does real work and says what it did."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app


def test_demo_runs_every_step_and_every_check_holds(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "deployment.apps/web created" in out
    assert "rejected: spec.template.spec.containers[0].resources.requests.cpu" in out
    assert "replicas kept at 4" in out
    assert "namespace shop gone: True" in out
    assert "nodeclaim/" in out and "t4g.medium on-demand" in out
    assert "all available instance types exceed limits for nodepool" in out
    assert "every check held" in out
