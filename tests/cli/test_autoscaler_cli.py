"""What users see of the autoscaler through the CLI: ``get nodepools,nodeclaims,nodes -o wide``
with instance type, capacity type, zone, price and age, and the events on the pod."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.platform.autoscaling import AutoscaledCluster
from shipyard.platform.session import ClusterSession
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass
from tests.platform.test_autoscaling_helpers import catalog, nodepool, web


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A persisted cluster where the autoscaler ran for 40 s of virtual time."""
    where = tmp_path / "data"
    session = ClusterSession(where)
    types = catalog(session.clock)
    auto = AutoscaledCluster(
        session.store,
        cloud=SimulatedCloud(session.clock, catalog=types),
        unavailable=types.unavailable,
    )
    for obj in (make_nodeclass(), nodepool(), web()):
        auto.client.create(obj)
    auto.start()
    auto.run_for(40)
    auto.stop()
    session.close()
    return where


def columns(table: str, row_start: str) -> dict[str, str]:
    """The row starting with ``row_start`` as {header: cell} (cells are 3+ spaces apart)."""
    lines = table.splitlines()
    header = lines[0]
    starts = [
        i for i in range(len(header)) if header[i] != " " and (i == 0 or header[i - 1] == " ")
    ]
    [row] = [line for line in lines[1:] if line.startswith(row_start)]
    bounds = [*starts, max(len(row), len(header)) + 1]
    return {header[a:b].strip(): row[a:b].strip() for a, b in itertools.pairwise(bounds)}


def test_get_nodepools_nodeclaims_nodes_wide_shows_what_runs_where_and_its_price(
    data_dir: Path,
) -> None:
    cli = CliRunner(env={"SHIPYARD_DATA_DIR": str(data_dir)})
    result = cli.invoke(app, ["cluster", "get", "nodepools,nodeclaims,nodes", "-o", "wide"])
    assert result.exit_code == 0, result.output
    pools, claims, nodes = result.stdout.strip().split("\n\n")
    pool = columns(pools, "nodepool.karpenter.sh/default")
    assert (pool["NODECLASS"], pool["NODES"], pool["READY"]) == ("default", "1", "True")
    assert (pool["CPU"], pool["AGE"]) == ("2", "40s")
    claim = columns(claims, "nodeclaim.karpenter.sh/default-")
    assert (claim["TYPE"], claim["CAPACITY"], claim["ZONE"]) == (
        "t4g.medium",
        "on-demand",
        "us-east-1b",
    )
    assert (claim["READY"], claim["PRICE"], claim["AGE"]) == ("True", "$0.0336/h", "39s")
    node = columns(nodes, "node/ip-10-")
    assert node["STATUS"] == "Ready"
    assert node["INSTANCE-TYPE"] == "t4g.medium"
    assert node["CAPACITY-TYPE"] == "on-demand"
    assert node["ZONE"] == "us-east-1b"
    assert node["PRICE"] == "$0.0336/h"
    assert node["AGE"] == "24s"  # registered 16 s into the 40
    assert claim["NODE"] == nodes.splitlines()[1].split()[0].removeprefix("node/")


def test_plain_get_nodes_leaves_the_wide_columns_out(data_dir: Path) -> None:
    cli = CliRunner(env={"SHIPYARD_DATA_DIR": str(data_dir)})
    result = cli.invoke(app, ["cluster", "get", "nodes"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "ROLES", "VERSION", "AGE"]


def test_describe_pod_shows_the_nomination(data_dir: Path) -> None:
    cli = CliRunner(env={"SHIPYARD_DATA_DIR": str(data_dir)})
    result = cli.invoke(app, ["cluster", "describe", "pod"])
    assert result.exit_code == 0, result.output
    assert "Nominated" in result.stdout
    assert "Pod should schedule on: nodeclaim/default-" in result.stdout
