"""``shipyard cluster run-for`` runs the node autoscaler on the persisted cluster.

The user's story, one command at a time (each a new process's worth of state): apply a
NodePool, an EC2NodeClass and a Deployment; ``run-for 1m`` launches a node for the pending
pod; ``get nodepools,nodeclaims,nodes -o wide`` shows it with its type, capacity type, zone,
price and age; a later ``run-for`` keeps that node and its instance (billing on); deleting the
NodeClaim terminates the instance. A damaged ``cloud.json`` is refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.cloud.provider import Instance
from shipyard.platform.session import CLOUD_FILE, ClusterSession
from tests.cli.test_autoscaler_cli import columns

NODEPOOL = """\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements:
        - key: node.kubernetes.io/instance-type
          operator: In
          values: [t3.medium, t3.large, t4g.medium, t4g.large]
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1b]}
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
"""

NODECLASS = """\
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole-demo
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
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
          resources: {requests: {cpu: 500m, memory: 512Mi}}
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path) -> CliRunner:
    return CliRunner(env={"SHIPYARD_DATA_DIR": str(data_dir)})


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, ["cluster", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def applied(cli: CliRunner, tmp_path: Path) -> None:
    files = {"nodepool.yaml": NODEPOOL, "ec2nodeclass.yaml": NODECLASS, "deploy.yaml": DEPLOYMENT}
    args = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        args += ["-f", str(tmp_path / name)]
    run(cli, "apply", *args)


def wide(cli: CliRunner) -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """``get nodepools,nodeclaims,nodes -o wide``: the NodePool's and the NodeClaim's cells
    (one of each expected), then every claim row and every node row."""
    out = run(cli, "get", "nodepools,nodeclaims,nodes", "-o", "wide")
    pools, claims, nodes = out.strip().split("\n\n")
    return (
        columns(pools, "nodepool.karpenter.sh/default"),
        columns(claims, "nodeclaim.karpenter.sh/default-"),
        claims.splitlines()[1:],
        nodes.splitlines(),
    )


def instances(data_dir: Path) -> dict[str, Instance]:
    """The simulated cloud's instances as the data directory holds them, by provider id."""
    session = ClusterSession(data_dir)
    try:
        return {i.provider_id: i for i in session.cloud.all_instances()}
    finally:
        session.close()


def test_run_for_launches_a_node_that_get_wide_shows_with_type_zone_price_and_age(
    cli: CliRunner, tmp_path: Path, data_dir: Path
) -> None:
    applied(cli, tmp_path)
    assert run(cli, "run-for", "1m").strip().endswith(": 1 Running")

    pool, claim, claim_rows, node_rows = wide(cli)
    assert len(claim_rows) == 1

    assert (pool["NODES"], pool["READY"], pool["CPU"]) == ("1", "True", "2")
    assert (claim["TYPE"], claim["CAPACITY"], claim["ZONE"]) == (
        "t4g.medium",
        "on-demand",
        "us-east-1b",
    )
    assert (claim["READY"], claim["PRICE"], claim["AGE"]) == ("True", "$0.0336/h", "59s")
    [node_row] = node_rows[1:]
    node = columns("\n".join(node_rows), "node/")
    assert (node["STATUS"], node["INSTANCE-TYPE"], node["CAPACITY-TYPE"]) == (
        "Ready",
        "t4g.medium",
        "on-demand",
    )
    assert (node["ZONE"], node["PRICE"], node["AGE"]) == ("us-east-1b", "$0.0336/h", "44s")
    assert claim["NODE"] == node_row.split()[0].removeprefix("node/")
    assert instances(data_dir)[claim["ID"]].state == "running"


def test_a_later_run_for_keeps_the_node_and_its_instance_and_keeps_billing(
    cli: CliRunner, tmp_path: Path, data_dir: Path
) -> None:
    applied(cli, tmp_path)
    run(cli, "run-for", "1m")
    _, before, _, nodes_before = wide(cli)
    billed_before = json.loads((data_dir / CLOUD_FILE).read_text())["costUSD"]

    run(cli, "run-for", "1m")

    _, after, claim_rows, nodes_after = wide(cli)
    assert len(claim_rows) == 1  # no new claim
    assert (after["NAME"], after["ID"], after["NODE"]) == (
        before["NAME"],
        before["ID"],
        before["NODE"],
    )
    assert after["AGE"] == "119s"
    assert [r.split()[0] for r in nodes_after[1:]] == [r.split()[0] for r in nodes_before[1:]]
    [instance] = instances(data_dir).values()
    assert (instance.provider_id, instance.state) == (after["ID"], "running")
    billed_after = json.loads((data_dir / CLOUD_FILE).read_text())["costUSD"]
    assert billed_after == pytest.approx(billed_before + 0.0336 * 60 / 3600)


def test_deleting_the_nodeclaim_then_run_for_terminates_the_instance_and_removes_the_node(
    cli: CliRunner, tmp_path: Path, data_dir: Path
) -> None:
    applied(cli, tmp_path)
    run(cli, "run-for", "1m")
    _, claim, _, [_header, node_row] = wide(cli)
    node_name = node_row.split()[0]

    out = run(cli, "delete", "nodeclaim", claim["NAME"].removeprefix("nodeclaim.karpenter.sh/"))
    assert "deleted" in out
    run(cli, "run-for", "1m")

    assert instances(data_dir)[claim["ID"]].state == "terminated"
    nodes = run(cli, "get", "nodes", "-o", "name").split()
    assert node_name not in nodes
    # the Deployment's pod was pending again, so a replacement was launched
    _, replacement, claim_rows, _ = wide(cli)
    assert len(claim_rows) == 1
    assert replacement["ID"] != claim["ID"]


def test_a_corrupt_cloud_file_fails_run_for_naming_it_and_loses_nothing(
    cli: CliRunner, tmp_path: Path, data_dir: Path
) -> None:
    applied(cli, tmp_path)
    run(cli, "run-for", "1m")
    path = data_dir / CLOUD_FILE
    path.write_text(path.read_text()[:-40])  # truncated
    damaged = path.read_text()

    result = cli.invoke(app, ["cluster", "run-for", "1m"])

    assert result.exit_code == 1
    assert f"error: cannot restore the simulated cloud from {path}: not valid JSON" in (
        result.output
    )
    assert path.read_text() == damaged  # not overwritten with an empty cloud
    _, claim, claim_rows, node_rows = wide(cli)  # reading the cluster still works
    assert (len(claim_rows), len(node_rows[1:]), claim["READY"]) == (1, 1, "True")
