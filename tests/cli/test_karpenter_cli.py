"""Karpenter manifests through the CLI: v1 served as is, v1beta1 converted with warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app

V1BETA1_NODEPOOL = """\
apiVersion: karpenter.sh/v1beta1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
      nodeClassRef: {apiVersion: karpenter.k8s.aws/v1beta1, kind: EC2NodeClass, name: default}
  disruption:
    consolidationPolicy: WhenUnderutilized
    expireAfter: 720h
"""

INVALID_V1_NODEPOOL = """\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: bad}
spec:
  weight: 101
  template:
    spec:
      requirements:
        - {key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ["4", "8"]}
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
"""


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"SHIPYARD_DATA_DIR": str(tmp_path / "data")})


def test_a_v1beta1_nodepool_is_stored_as_v1_with_a_warning_per_converted_field(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(V1BETA1_NODEPOOL)
    result = cli.invoke(app, ["cluster", "apply", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert "nodepool.karpenter.sh/default created" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert any("expireAfter" in w for w in warnings), result.stderr
    assert any("WhenUnderutilized" in w for w in warnings), result.stderr
    got = cli.invoke(app, ["cluster", "get", "nodepools", "default", "-o", "json"])
    stored = json.loads(got.stdout)
    assert stored["apiVersion"] == "karpenter.sh/v1"
    assert stored["spec"]["template"]["spec"]["expireAfter"] == "720h"
    assert stored["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    again = cli.invoke(app, ["cluster", "apply", "-f", str(path)])
    assert "nodepool.karpenter.sh/default unchanged" in again.stdout


def test_an_invalid_nodepool_is_rejected_with_field_paths_and_nothing_is_stored(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID_V1_NODEPOOL)
    result = cli.invoke(app, ["cluster", "apply", "-f", str(path)])
    assert result.exit_code == 1
    assert "spec.weight" in result.stderr
    assert "spec.template.spec.requirements[0]" in result.stderr
    listed = cli.invoke(app, ["cluster", "get", "nodepools"])
    assert "No resources found" in listed.output
