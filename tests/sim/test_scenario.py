"""Scenario files: the schema, defaults, and every problem reported at its field path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError, ShipyardError
from shipyard.platform.simulation import simulation_strategies
from shipyard.sim.scenario import (
    CLUSTER_AUTOSCALER,
    KARPENTER,
    ClusterKnobs,
    Release,
    SpotInterruption,
    Traffic,
    load_scenario,
    parse_scenario,
)
from tests.sim.test_runner import small_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def problems(data: Any) -> list[str]:
    with pytest.raises(InvalidError) as caught:
        parse_scenario(data)
    return [str(c) for c in caught.value.causes]


def test_the_small_scenario_parses_with_its_defaults() -> None:
    scenario = parse_scenario(small_data())
    assert scenario.name == "small" and scenario.duration == 480.0 and scenario.seed == 3
    assert scenario.strategies == (KARPENTER, CLUSTER_AUTOSCALER)
    assert scenario.karpenter is not None
    assert [c["metadata"]["name"] for c in scenario.karpenter.node_classes] == ["default"]
    # NodePools are defaulted as the cluster admits them
    assert scenario.karpenter.node_pools[0]["spec"]["disruption"]["consolidateAfter"] == "0s"
    assert scenario.cluster_autoscaler is not None
    assert scenario.cluster_autoscaler.node_groups[0].instance_type == "t3.large"
    web = scenario.workloads[0]
    assert (web.namespace, web.cpu, web.replicas) == ("default", "1", 6)
    assert [e.at for e in scenario.events] == [240.0, 300.0]
    assert scenario.events[0].action == Release("web", "example/web:2")
    assert scenario.events[1].action == SpotInterruption(1, "spot")


def test_every_shipped_example_loads() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files, "examples/ ships at least the classic comparison"
    for path in files:
        scenario = load_scenario(path)
        assert scenario.strategies


def test_the_classic_example_is_100_pods_of_2_vcpu_on_t3_xlarge_versus_two_pools() -> None:
    scenario = load_scenario(EXAMPLES / "karpenter-vs-ca.yaml")
    (web,) = scenario.workloads
    assert (web.replicas, web.cpu) == (100, "2")
    assert scenario.cluster_autoscaler is not None
    (group,) = scenario.cluster_autoscaler.node_groups
    assert (group.instance_type, group.capacity_type) == ("t3.xlarge", "on-demand")
    assert scenario.karpenter is not None
    pools = scenario.karpenter.node_pools
    capacity = [p["spec"]["template"]["spec"]["requirements"][0]["values"] for p in pools]
    assert sorted(capacity) == [["on-demand"], ["spot"]]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Bad_Name"}, "name: is required: a DNS label"),
        ({"duration": "ten minutes"}, "duration: must be a duration such as '10m'"),
        ({"duration": "-5m"}, "duration: must be positive"),
        ({"seed": -1}, "seed: must be a non-negative integer"),
        ({"sampleInterval": "1h"}, "sampleInterval: must not be longer than duration"),
        ({"start": "yesterday"}, "start: must be an RFC 3339 time"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"strategies": ["kube-scaler"]}, "strategies[0]: unknown strategy 'kube-scaler'"),
        ({"strategies": []}, "strategies: must name at least one strategy"),
        ({"clusterAutoscaler": {"nodeGroups": [{"name": "g", "instanceType": "t3.large",
                                                "minSize": 3, "maxSize": 1}]}},
         "clusterAutoscaler.nodeGroups[0].minSize: must not exceed maxSize"),
        ({"clusterAutoscaler": {"expander": "cheapest", "nodeGroups": []}},
         "clusterAutoscaler.expander: must be one of"),
        ({"karpenter": {"nodePools": []}}, "karpenter.nodePools: must hold at least one NodePool"),
        ({"events": [{"at": "1m"}]}, "events[0]: needs exactly one of spotInterruption, release"),
        ({"events": [{"at": "1h", "spotInterruption": {}}]},
         "events[0].at: is after the end of the scenario"),
        ({"events": [{"at": "1m", "spotInterruption": {"count": 0}}]},
         "events[0].spotInterruption.count: must be an integer of at least 1"),
        ({"events": [{"at": "1m", "release": {"workload": "db", "image": "x:2"}}]},
         "events[0].release.workload: must name a workload of this scenario, got 'db'"),
        ({"cluster": {"trafficTik": "5s"}}, "cluster.trafficTik: unknown field"),
        ({"cluster": {"nodeHeartbeat": "soon"}}, "cluster.nodeHeartbeat:"),
        ({"cluster": {"hpaSyncPeriod": "0s"}}, "cluster.hpaSyncPeriod: must be positive"),
        ({"cluster": ["15s"]}, "cluster: must be a mapping"),
    ],
)  # fmt: skip
def test_a_wrong_field_is_reported_at_its_path(change: dict[str, Any], expected: str) -> None:
    found = problems(small_data(**change))
    assert any(p.startswith(expected) for p in found), found


def test_the_cluster_timing_knobs_default_to_kubernetes_and_reach_the_control_plane() -> None:
    assert parse_scenario(small_data()).cluster == ClusterKnobs(15.0, 1.0, 10.0)
    knobs = {"hpaSyncPeriod": "30s", "trafficTick": "15s", "nodeHeartbeat": "1m"}
    scenario = parse_scenario(small_data(cluster=knobs))
    assert scenario.cluster == ClusterKnobs(30.0, 15.0, 60.0)
    system = simulation_strategies()[KARPENTER].build(scenario, VirtualClock())
    try:
        options = system.cluster.options
        assert (options.hpa_sync_period, options.traffic_tick_seconds) == (30.0, 15.0)
        assert (options.heartbeat_seconds, options.node_grace_period) == (60.0, 300.0)
    finally:
        system.stop()


def test_a_nodepool_is_validated_as_the_cluster_admits_it() -> None:
    data = small_data()
    requirements = data["karpenter"]["nodePools"][0]["spec"]["template"]["spec"]["requirements"]
    requirements[1]["operator"] = "Gt"  # Gt needs exactly one integer value
    found = problems(data)
    assert any(p.startswith("karpenter.nodePools[0].spec.template.spec.requirements[1]")
               for p in found), found  # fmt: skip


def test_a_nodepool_must_reference_a_declared_nodeclass() -> None:
    data = small_data()
    data["karpenter"]["nodeClasses"] = []
    found = problems(data)
    assert (
        'karpenter.nodePools[0].spec.template.spec.nodeClassRef.name: EC2NodeClass "default" '
        "is not among karpenter.nodeClasses" in found
    )


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ({"name": "web", "cpu": "lots"}, "workloads[0].cpu: must be a quantity"),
        ({"name": "web", "cpu": "0"}, "workloads[0].cpu: must be a positive quantity"),
        ({"name": "web", "replicas": -1},
         "workloads[0].replicas: must be an integer of at least 0"),
        ({"name": "web", "schedule": [{"at": "1m", "replicas": "many"}]},
         "workloads[0].schedule[0].replicas: must be an integer"),
        ({"name": "web", "pdb": {}}, "workloads[0].pdb: needs exactly one of minAvailable"),
        ({"name": "web", "traffic": {"pattern": "constant", "rps": 5}},
         "workloads[0].traffic: needs hpa"),
        ({"name": "web", "hpa": {"minReplicas": 5, "maxReplicas": 2, "targetCPUUtilization": 50}},
         "workloads[0].hpa.minReplicas: must not exceed maxReplicas"),
        ({"name": "web", "hpa": {"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilization": 50},
          "traffic": {"pattern": "wave"}}, "workloads[0].traffic.pattern: must be one of"),
        ({"name": "web", "hpa": {"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilization": 50},
          "traffic": {"pattern": "surge", "base": 1}}, "workloads[0].traffic.peak: is required"),
        ({"name": "web", "hpa": {"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilization": 50},
          "schedule": []}, "workloads[0].schedule: cannot be combined with hpa"),
    ],
)  # fmt: skip
def test_a_wrong_workload_is_reported_at_its_path(workload: dict[str, Any], expected: str) -> None:
    found = problems(small_data(workloads=[workload], events=[]))
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(small_data(name="", duration="x", seed="one"))
    assert [p.split(":")[0] for p in found][:3] == ["name", "duration", "seed"]


def test_traffic_patterns() -> None:
    assert Traffic("constant", {"rps": 7}).rps(1234) == 7
    diurnal = Traffic("diurnal", {"min": 100, "max": 500, "period": 86400, "peakAt": 50400})
    assert diurnal.rps(50400) == pytest.approx(500)
    assert diurnal.rps(50400 - 43200) == pytest.approx(100)
    assert diurnal.rps(50400 - 21600) == pytest.approx(300)
    surge = Traffic("surge", {"base": 10, "peak": 90, "at": 60, "duration": 30})
    assert [surge.rps(t) for t in (59, 60, 89, 90)] == [10, 90, 90, 10]
    assert math.isfinite(Traffic("diurnal", {"min": 1, "max": 2}).rps(0))  # defaults


def test_with_strategies_and_seed() -> None:
    scenario = parse_scenario(small_data())
    assert scenario.with_seed(9).seed == 9
    assert scenario.with_strategies(["karpenter"]).strategies == ("karpenter",)
    only_karpenter = parse_scenario(small_data(clusterAutoscaler=None))
    assert only_karpenter.strategies == ("karpenter",)
    with pytest.raises(InvalidError, match="needs a 'clusterAutoscaler' section"):
        only_karpenter.with_strategies(["cluster-autoscaler"])


def test_reading_a_file_reports_yaml_and_io_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ShipyardError, match="not valid YAML at line"):
        load_scenario(broken)
    with pytest.raises(ShipyardError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(InvalidError, match="a scenario must be a mapping"):
        parse_scenario(["not", "a", "mapping"])
