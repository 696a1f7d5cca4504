"""`shipyard cluster` sessions: a pod running at the end of one command is still running in the
next (each command builds a new simulated runtime, which adopts it from the pod status)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app

NODE = """\
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
status:
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example/web:1
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
"""


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"SHIPYARD_DATA_DIR": str(tmp_path / "data")})


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, ["cluster", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_watching_a_running_pod_in_a_new_session_shows_no_restart(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "node.yaml").write_text(NODE)
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    run(cli, "apply", "-f", str(tmp_path / "node.yaml"), "-f", str(tmp_path / "web.yaml"))
    run(cli, "run-for", "1m")

    rows = run(cli, "get", "pods", "-w", "--for", "20s").splitlines()[1:]

    assert rows, "the watch printed no pod"
    assert all("ContainerCreating" not in row for row in rows), rows
    assert all(row.split()[1:4] == ["1/1", "Running", "0"] for row in rows), rows
