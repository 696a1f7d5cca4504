"""The runner: each strategy runs the same small scenario in virtual time; what it measures
(cost, pending times, evictions, disruptions, samples) comes from the cluster and the cloud,
and the invariant checker runs at every stop (every test asserts it found nothing)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shipyard.core.errors import ShipyardError
from shipyard.platform.simulation import simulation_strategies
from shipyard.sim.runner import StrategyResult, run_scenario, run_strategy, workload_objects
from shipyard.sim.scenario import Scenario, parse_scenario

TYPES = ["t3.medium", "t3.large", "t3.xlarge", "m5.large", "m5.xlarge"]


def pool(name: str, capacity: str, *, weight: int | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template": {
            "spec": {
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": TYPES},
                ],
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": "default",
                },
            }
        },
        **spec,
    }
    if weight is not None:
        body["weight"] = weight
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": body,
    }


def small_data(**overrides: Any) -> dict[str, Any]:
    """A short version of the classic comparison: 6 pods × 1 vCPU, a spot and an on-demand
    pool against a t3.large node group, a release and a spot interruption."""
    data: dict[str, Any] = {
        "name": "small",
        "duration": "8m",
        "seed": 3,
        "sampleInterval": "30s",
        "karpenter": {
            "nodePools": [pool("spot", "spot", weight=100), pool("on-demand", "on-demand")]
        },
        "clusterAutoscaler": {
            "nodeGroups": [{"name": "general", "instanceType": "t3.large", "maxSize": 20}]
        },
        "workloads": [
            {"name": "web", "replicas": 6, "cpu": "1", "memory": "1Gi", "image": "example/web:1"}
        ],
        "events": [
            {"at": "4m", "release": {"workload": "web", "image": "example/web:2"}},
            {"at": "5m", "spotInterruption": {"count": 1, "nodePool": "spot"}},
        ],
    }
    data.update(overrides)
    return data


def small_scenario(**overrides: Any) -> Scenario:
    return parse_scenario(small_data(**overrides))


def run_one(scenario: Scenario, name: str) -> StrategyResult:
    result = run_strategy(scenario, simulation_strategies()[name])
    assert result.violations == [], [str(v) for v in result.violations]
    assert result.checks > 0
    return result


@pytest.fixture(scope="module")
def karpenter() -> StrategyResult:
    return run_one(small_scenario(), "karpenter")


@pytest.fixture(scope="module")
def baseline() -> StrategyResult:
    return run_one(small_scenario(), "cluster-autoscaler")


def test_karpenter_style_provisions_spot_first_and_measures_every_pod(
    karpenter: StrategyResult,
) -> None:
    assert all(key.endswith(" spot") for key in karpenter.launches)
    # 6 pods, 6 replacement pods of the release, more after the interruption: all ran
    assert len(karpenter.pending_times) >= 12
    assert karpenter.still_pending == []
    assert 0 < min(karpenter.pending_times) <= max(karpenter.pending_times) < 120
    assert karpenter.total_cost > 0


def test_samples_follow_the_sample_interval_and_end_with_every_pod_running(
    karpenter: StrategyResult,
) -> None:
    times = [s.t for s in karpenter.samples]
    assert times == [30.0 * k for k in range(17)]
    last = karpenter.samples[-1]
    assert last.running == 6 and last.pending == 0 and last.nodes >= 1
    costs = [s.cost for s in karpenter.samples]
    assert costs == sorted(costs)  # a bill only grows
    assert last.cost == pytest.approx(karpenter.total_cost)
    assert karpenter.samples[0].running == 0  # nothing runs before a node joins


def test_a_spot_interruption_is_counted_drained_and_its_pods_replaced(
    karpenter: StrategyResult,
) -> None:
    assert karpenter.spot_interruptions == 1
    assert karpenter.disruptions.get("Interrupted") == 1
    assert karpenter.evictions >= 1
    assert sum(karpenter.launches.values()) >= 2  # the replacement capacity


def test_the_baseline_scales_its_node_group_slower_and_is_never_interrupted(
    baseline: StrategyResult, karpenter: StrategyResult
) -> None:
    assert baseline.launches == {"t3.large on-demand": baseline.launches["t3.large on-demand"]}
    assert baseline.launches["t3.large on-demand"] >= 3  # 2 pods of 1 vCPU per t3.large
    assert baseline.spot_interruptions == 0  # no spot instance to interrupt
    assert baseline.still_pending == []
    first = [running - created for created, running in baseline.timeline if created < 1]
    assert len(first) == 6
    assert min(first) > 100  # ASG reaction + boot + join: 2-3 minutes from the scale-up
    fast = [running - created for created, running in karpenter.timeline if created < 1]
    assert max(fast) < min(first)


def test_a_replica_schedule_scales_down_and_the_baseline_removes_empty_nodes() -> None:
    data = small_data(duration="25m", events=[])
    data["workloads"][0]["schedule"] = [{"at": "5m", "replicas": 1}]
    result = run_one(parse_scenario(data), "cluster-autoscaler")
    assert result.samples[-1].running == 1
    removed = sum(result.disruptions.values())
    assert removed >= 1 and set(result.disruptions) <= {"Empty", "Underutilized"}
    assert result.samples[-1].nodes < max(s.nodes for s in result.samples)


def test_karpenter_consolidates_after_a_scale_down() -> None:
    data = small_data(duration="12m", events=[])
    for p in data["karpenter"]["nodePools"]:
        p["spec"]["disruption"] = {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "30s",
        }
    data["workloads"][0]["schedule"] = [{"at": "3m", "replicas": 1}]
    result = run_one(parse_scenario(data), "karpenter")
    assert result.samples[-1].running == 1
    assert set(result.disruptions) & {"Empty", "Underutilized"}
    first = next(s for s in result.samples if s.t == 180.0)
    assert result.samples[-1].cost_per_hour < first.cost_per_hour


def test_an_hpa_follows_a_traffic_surge() -> None:
    workload = {
        "name": "api",
        "cpu": "200m",
        "memory": "256Mi",
        "hpa": {"minReplicas": 2, "maxReplicas": 8, "targetCPUUtilization": 50},
        "traffic": {"pattern": "surge", "base": 20, "peak": 600, "at": "2m", "duration": "5m"},
    }
    scenario = small_scenario(duration="9m", workloads=[workload], events=[])
    result = run_one(scenario, "karpenter")
    running = [s.running for s in result.samples]
    assert running[2] == 2  # before the surge
    assert max(running) > 2


def test_run_scenario_runs_each_named_strategy_and_reports_progress() -> None:
    seen: list[tuple[str, float]] = []
    scenario = small_scenario(duration="2m", events=[])
    result = run_scenario(
        scenario, simulation_strategies(), progress=lambda n, done, total: seen.append((n, done))
    )
    assert [r.name for r in result.results] == ["karpenter", "cluster-autoscaler"]
    assert seen[-1] == ("cluster-autoscaler", 120.0)
    assert [d for n, d in seen if n == "karpenter"] == sorted(
        d for n, d in seen if n == "karpenter"
    )
    with pytest.raises(ShipyardError, match="no strategy named karpenter"):
        run_scenario(scenario, {})


def test_workload_objects_build_a_deployment_service_hpa_and_pdb() -> None:
    data = small_data(events=[])
    data["workloads"] = [
        {
            "name": "api",
            "namespace": "shop",
            "cpu": "250m",
            "annotations": {"sim.shipyard.dev/capacity_rps": "50"},
            "pdb": {"minAvailable": 1},
            "hpa": {"minReplicas": 3, "maxReplicas": 5, "targetCPUUtilization": 70},
            "traffic": {"pattern": "constant", "rps": 10},
        }
    ]
    workload = parse_scenario(copy.deepcopy(data)).workloads[0]
    objs = {o["kind"]: o for o in workload_objects(workload)}
    assert set(objs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    deployment = objs["Deployment"]
    assert deployment["spec"]["replicas"] == 3  # the HPA's minimum
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {"sim.shipyard.dev/capacity_rps": "50"}
    assert template["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m"
    assert objs["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert objs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 5


def test_invariant_violations_are_recorded_in_the_result_not_raised() -> None:
    data = small_data(duration="7m", events=[])
    data["clusterAutoscaler"]["nodeGroups"][0]["maxSize"] = 1  # room for one pod of six
    result = run_strategy(parse_scenario(data), simulation_strategies()["cluster-autoscaler"])
    assert result.violations
    assert {v.kind for v in result.violations} == {"pod"}
    assert "unscheduled for" in result.violations[0].message
    subjects = [v.subject for v in result.violations]
    assert len(subjects) == len(set(subjects))  # each lasting violation once, when first found
    assert len(result.still_pending) == 5 and min(result.still_pending) > 300
