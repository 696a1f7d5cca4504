"""The scheduling benchmark still runs (at a toy size) and checks what it claims to."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "cluster.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_scenario_binds_every_pod_at_a_toy_size() -> None:
    bench = load()  # run_scheduling raises SystemExit when a pod is left unbound
    plain, spread, anti = (
        bench.run_scheduling(bench.Scenario("toy", 12, 9, pod))
        for pod in (bench.plain_pod, bench.spread_pod, bench.anti_affinity_pod)
    )
    assert plain["pods"] == spread["pods"] == anti["pods"] == 9
    assert anti["nodes_used"] == 9  # one per host


def test_the_summary_line_carries_the_target() -> None:
    bench = load()
    assert bench.TARGET_PODS_PER_S == 1000.0
    assert [s.name for s in bench.scenarios(quick=True)] == [
        "plain",
        "zonal_spread",
        "hostname_anti_affinity",
    ]
