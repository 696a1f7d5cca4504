"""`shipyard cluster …` end to end against a cluster persisted in a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shipyard.cli.main import app

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example/web:1
          resources: {requests: {cpu: 100m, memory: 64Mi}}
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {tier: config}}
data: {a: "1"}
"""


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"SHIPYARD_DATA_DIR": str(tmp_path / "data")})


def run(cli: CliRunner, *args: str, stdin: str | None = None, code: int = 0) -> str:
    result = cli.invoke(app, ["cluster", *args], input=stdin)
    assert result.exit_code == code, result.output
    return result.output


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_creates_then_reports_unchanged_then_configured(
    cli: CliRunner, tmp_path: Path
) -> None:
    f = write(tmp_path, "web.yaml", DEPLOYMENT)
    assert run(cli, "apply", "-f", f).strip() == "deployment.apps/web created"
    assert run(cli, "apply", "-f", f).strip() == "deployment.apps/web unchanged"
    write(tmp_path, "web.yaml", DEPLOYMENT.replace("example/web:1", "example/web:2"))
    assert run(cli, "apply", "-f", f).strip() == "deployment.apps/web configured"
    out = json.loads(run(cli, "get", "deploy", "web", "-o", "json"))
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:2"
    assert out["metadata"]["generation"] == 2


def test_apply_a_directory_and_stdin(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder, "a.yaml", DEPLOYMENT)
    write(folder, "notes.txt", "not a manifest")
    out = run(cli, "apply", "-f", str(folder))
    assert out.strip() == "deployment.apps/web created"
    assert run(cli, "apply", "-f", "-", stdin=CONFIGMAP).strip() == "configmap/settings created"


def test_get_prints_kubectl_style_tables(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "all.yaml", DEPLOYMENT + "---\n" + CONFIGMAP))
    table = run(cli, "get", "configmaps")
    header, row = table.splitlines()
    assert header.split()[0] == "NAME" and header.split()[-1] == "AGE"
    assert row.split()[0] == "settings"
    both = run(cli, "get", "deploy,cm")
    assert "deployment.apps/web" in both and "configmap/settings" in both
    assert "NAMESPACE" in run(cli, "get", "cm", "-A")


def test_get_filters_by_label_and_namespace(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "cm.yaml", CONFIGMAP))
    assert "settings" in run(cli, "get", "cm", "-l", "tier=config")
    result = cli.invoke(app, ["cluster", "get", "cm", "-l", "tier=other"])
    assert result.exit_code == 0
    assert "No resources found in default namespace." in result.output
    assert "settings" not in run(cli, "get", "cm", "-n", "kube-system")


def test_get_yaml_of_several_objects_is_a_list(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "all.yaml", DEPLOYMENT + "---\n" + CONFIGMAP))
    doc = yaml.safe_load(run(cli, "get", "deploy,cm", "-o", "yaml"))
    assert doc["kind"] == "List"
    assert [i["kind"] for i in doc["items"]] == ["Deployment", "ConfigMap"]
    assert run(cli, "get", "cm", "-o", "name").strip() == "configmap/settings"


def test_invalid_manifest_fails_with_the_field_path_and_writes_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    bad = DEPLOYMENT.replace("cpu: 100m", "cpu: fast")
    out = run(cli, "apply", "-f", write(tmp_path, "bad.yaml", bad), code=1)
    assert "spec.template.spec.containers[0].resources.requests.cpu" in out
    assert '"fast"' in out
    run(cli, "get", "deploy", "web", code=1)


def test_yaml_syntax_error_names_file_and_line(cli: CliRunner, tmp_path: Path) -> None:
    f = write(tmp_path, "broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
    out = run(cli, "apply", "-f", f, code=1)
    assert "broken.yaml:" in out and "invalid YAML" in out


def test_unknown_kind_and_unknown_resource_type_are_clear(cli: CliRunner, tmp_path: Path) -> None:
    f = write(
        tmp_path, "odd.yaml", "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n"
    )
    assert "Gizmo" in run(cli, "apply", "-f", f, code=1)
    assert 'resource type "gizmos"' in run(cli, "get", "gizmos", code=1)


def test_describe_shows_metadata_and_spec(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "web.yaml", DEPLOYMENT))
    out = run(cli, "describe", "deployment", "web")
    assert out.startswith("Name:         web")
    assert "Namespace:    default" in out
    assert "app=web" in out
    assert "Replicas:  2" in out
    assert "Events:" in out


def test_delete_by_name_selector_and_file(cli: CliRunner, tmp_path: Path) -> None:
    f = write(tmp_path, "all.yaml", DEPLOYMENT + "---\n" + CONFIGMAP)
    run(cli, "apply", "-f", f)
    assert run(cli, "delete", "cm", "-l", "tier=config").strip() == 'configmap "settings" deleted'
    assert run(cli, "delete", "-f", f, code=1).count("deleted") == 1
    out = run(cli, "delete", "deploy", "web", code=1)
    assert 'deployments.apps "web" not found' in out


def test_state_persists_between_invocations_in_the_data_dir(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "cm.yaml", CONFIGMAP))
    other = CliRunner(env={"SHIPYARD_DATA_DIR": str(tmp_path / "elsewhere")})
    assert "No resources found" in other.invoke(app, ["cluster", "get", "cm"]).output
    assert "settings" in run(cli, "get", "cm")


def test_bad_output_format_is_a_usage_error(cli: CliRunner) -> None:
    assert "output format" in run(cli, "get", "pods", "-o", "xml", code=2)


NODE = """\
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
status:
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
"""


def test_run_for_advances_virtual_time_and_runs_the_control_plane(
    cli: CliRunner, tmp_path: Path
) -> None:
    run(cli, "apply", "-f", write(tmp_path, "all.yaml", NODE + "---\n" + DEPLOYMENT))
    assert "No resources found" in run(cli, "get", "pods")  # nothing runs between commands
    out = run(cli, "run-for", "1m")
    assert out.strip() == "advanced 1m0s to 2026-01-01T00:01:00Z: 2 Running"
    pods = run(cli, "get", "pods", "-o", "wide")
    assert pods.count("Running") == 2 and "node-a" in pods
    assert "2/2" in run(cli, "get", "deploy", "web")
    assert "60s" in run(cli, "get", "nodes")  # ages are in the cluster's own (virtual) time


def test_rollout_status_history_and_undo(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "all.yaml", NODE + "---\n" + DEPLOYMENT))
    assert 'deployment "web" successfully rolled out' in run(cli, "rollout", "status", "deploy/web")
    run(cli, "apply", "-f", write(tmp_path, "web.yaml", DEPLOYMENT.replace("web:1", "web:2")))
    assert "successfully rolled out" in run(cli, "rollout", "status", "deployment/web")
    history = run(cli, "rollout", "history", "deploy/web")
    assert history.splitlines()[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [line.split()[0] for line in history.splitlines()[2:] if line] == ["1", "2"]
    assert run(cli, "rollout", "undo", "deploy/web").strip() == "deployment.apps/web rolled back"
    run(cli, "rollout", "status", "deploy/web")
    out = json.loads(run(cli, "get", "deploy", "web", "-o", "json"))
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:1"
    assert "expected deployment/NAME" in run(cli, "rollout", "status", "web", code=2)


def test_get_watch_prints_a_row_per_change(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "apply", "-f", write(tmp_path, "all.yaml", NODE + "---\n" + DEPLOYMENT))
    out = run(cli, "get", "pods", "-w", "--for", "30s")
    lines = out.splitlines()
    assert lines[0] == "No resources found in default namespace."
    assert [line.split()[2] for line in lines[1:]][-1] == "Running"
    assert any("ContainerCreating" in line for line in lines)
