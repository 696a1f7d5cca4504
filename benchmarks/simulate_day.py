"""Benchmark: a simulated day of a 2,000-node / 20,000-pod cluster, both autoscaling strategies.

Run ``.venv/bin/python benchmarks/simulate_day.py [--quick] [--scale S]``.

The scenario is built here (it scales with ``--scale``; 1.0 is the full size):

- 40 Deployments ("services") of 375m cpu / 768Mi pods, each behind a Service with a
  HorizontalPodAutoscaler (target 60 % cpu, 2 … 500 replicas at full scale) and a PDB
  (``maxUnavailable: 10%``);
- diurnal traffic over 24 h (peak at 14:00 UTC, trough at 02:00): the HPAs follow it from about
  6,000 pods at night to about 20,000 at the peak;
- 10 spot interruptions, one every two hours from 03:00;
- traffic routed every 15 s (the HPA syncs every 15 s: it sees the same load as with 1 s) and
  kubelets renewing their Leases every 60 s (a 2,000-node day is otherwise 17 million Lease
  writes);
- Karpenter-style: one NodePool over c/m/r generation ≥ 5 amd64 instances, spot and on-demand,
  ``WhenEmptyOrUnderutilized`` after 5 minutes, the default budget (10 % of nodes);
- Cluster-Autoscaler baseline: one on-demand m5.xlarge node group (10 pods a node: about
  2,000 nodes at the peak), least-waste expander, the default 10-minute scale-down delay.

Each strategy runs the whole day in virtual time on its own embedded cluster and simulated
cloud, with the invariant checker every minute. The wall time of each run is measured with
``time.perf_counter``; the target is the Karpenter-style run in under 120 s at full scale,
with zero invariant violations and zero lost pods (every pod created ran or is still pending
at the end for less than 10 minutes). ``--quick`` (under a minute) runs scale 0.02 for the
first 3¼ hours (one spot interruption, at 3:00); ``--scale`` and ``--hours`` choose any
other size.

Output: a table, then one JSON line: per strategy the wall seconds, cost, peak nodes and pods,
pending-time percentiles, violations; the cost ratio (Karpenter-style / baseline); targets and
their pass flags.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from shipyard.platform.simulation import simulation_strategies
from shipyard.sim.report import percentile
from shipyard.sim.runner import StrategyResult, run_strategy
from shipyard.sim.scenario import Scenario, parse_scenario

SERVICES = 40
POD_CPU_MILLI = 375
TARGET_UTILIZATION = 60
CHECK_INTERVAL = 60.0
TARGET_SECONDS = 120.0
LOST_AFTER = 600.0  # a pod still pending this long at the end counts as lost


def scenario(scale: float, hours: float = 24.0) -> Scenario:
    max_replicas = max(2, round(500 * scale))
    # One replica serves 225 rps at the target (1 millicore per request per second).
    per_pod = POD_CPU_MILLI * TARGET_UTILIZATION / 100
    peak = max_replicas * per_pod * 0.98
    trough = peak * 0.3
    workloads = [
        {
            "name": f"svc-{i:02d}",
            "cpu": f"{POD_CPU_MILLI}m",
            "memory": "768Mi",
            "annotations": {"sim.shipyard.dev/cpu_millicores_per_rps": "1"},
            "hpa": {
                "minReplicas": 2,
                "maxReplicas": max_replicas,
                "targetCPUUtilization": TARGET_UTILIZATION,
            },
            "traffic": {
                "pattern": "diurnal",
                "min": round(trough),
                "max": round(peak),
                "period": "24h",
                "peakAt": "14h",
            },
            "pdb": {"maxUnavailable": "10%"},
        }
        for i in range(SERVICES)
    ]
    events = [
        {"at": f"{3 + 2 * k}h", "spotInterruption": {"count": 1}}
        for k in range(10)
        if 3 + 2 * k < hours
    ]
    data: dict[str, Any] = {
        "name": "simulate-day",
        "duration": f"{hours}h",
        "seed": 11,
        "sampleInterval": "5m",
        "start": "2026-01-05T00:00:00Z",
        "cluster": {"trafficTick": "15s", "nodeHeartbeat": "60s"},
        "karpenter": {
            "nodePools": [
                {
                    "apiVersion": "karpenter.sh/v1",
                    "kind": "NodePool",
                    "metadata": {"name": "default"},
                    "spec": {
                        "template": {
                            "spec": {
                                "requirements": [
                                    {
                                        "key": "karpenter.sh/capacity-type",
                                        "operator": "In",
                                        "values": ["spot", "on-demand"],
                                    },
                                    {
                                        "key": "karpenter.k8s.aws/instance-category",
                                        "operator": "In",
                                        "values": ["c", "m", "r"],
                                    },
                                    {
                                        "key": "karpenter.k8s.aws/instance-generation",
                                        "operator": "Gt",
                                        "values": ["4"],
                                    },
                                    {
                                        "key": "kubernetes.io/arch",
                                        "operator": "In",
                                        "values": ["amd64"],
                                    },
                                ],
                                "nodeClassRef": {
                                    "group": "karpenter.k8s.aws",
                                    "kind": "EC2NodeClass",
                                    "name": "default",
                                },
                            }
                        },
                        "disruption": {
                            "consolidationPolicy": "WhenEmptyOrUnderutilized",
                            "consolidateAfter": "5m",
                        },
                    },
                }
            ]
        },
        "clusterAutoscaler": {
            "expander": "least-waste",
            "nodeGroups": [
                {
                    "name": "general",
                    "instanceType": "m5.xlarge",
                    "minSize": 1,
                    "maxSize": max(10, round(2500 * scale)),
                }
            ],
        },
        "workloads": workloads,
        "events": events,
    }
    return parse_scenario(data, source="simulate_day")


def run(name: str, sc: Scenario) -> tuple[StrategyResult, float]:
    strategy = simulation_strategies()[name]
    t0 = time.perf_counter()
    result = run_strategy(sc, strategy, check_interval=CHECK_INTERVAL)
    return result, time.perf_counter() - t0


def figures(result: StrategyResult, wall: float) -> dict[str, Any]:
    lost = [t for t in result.still_pending if t >= LOST_AFTER]
    return {
        "wall_seconds": round(wall, 2),
        "cost_usd": round(result.total_cost, 2),
        "peak_nodes": max((s.nodes for s in result.samples), default=0),
        "peak_running_pods": max((s.running for s in result.samples), default=0),
        "pods_started": len(result.pending_times),
        "pending_p50_s": percentile(result.pending_times, 0.5),
        "pending_p99_s": percentile(result.pending_times, 0.99),
        "spot_interruptions": result.spot_interruptions,
        "disruptions": result.disruptions,
        "violations": len(result.violations),
        "violation_examples": [str(v) for v in result.violations[:3]],
        "lost_pods": len(lost),
        "checks": result.checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="scale 0.02, 3.25 hours (under a minute)"
    )
    parser.add_argument("--scale", type=float, default=None, help="1.0 = 20,000 pods")
    parser.add_argument(
        "--only", choices=["karpenter", "cluster-autoscaler"], default=None, help="one strategy"
    )
    parser.add_argument("--hours", type=float, default=None, help="a shorter day (default 24)")
    args = parser.parse_args()
    scale = args.scale if args.scale is not None else (0.02 if args.quick else 1.0)
    hours = args.hours if args.hours is not None else (3.25 if args.quick else 24.0)
    sc = scenario(scale, hours)
    names = [args.only] if args.only else ["karpenter", "cluster-autoscaler"]
    out: dict[str, Any] = {"scale": scale, "hours": hours, "strategies": {}}
    for name in names:
        result, wall = run(name, sc)
        out["strategies"][name] = figures(result, wall)
        f = out["strategies"][name]
        print(
            f"{name:<20} wall {f['wall_seconds']:>8.1f}s  cost ${f['cost_usd']:>10.2f}  "
            f"peak nodes {f['peak_nodes']:>5}  peak pods {f['peak_running_pods']:>6}  "
            f"p50 {f['pending_p50_s']}s  violations {f['violations']}  lost {f['lost_pods']}",
            flush=True,
        )
    strategies = out["strategies"]
    if len(strategies) == 2:
        out["cost_ratio_karpenter_to_baseline"] = round(
            strategies["karpenter"]["cost_usd"] / strategies["cluster-autoscaler"]["cost_usd"], 4
        )
    if "karpenter" in strategies:
        k = strategies["karpenter"]
        out["target_seconds"] = TARGET_SECONDS
        out["pass"] = {
            "wall": scale >= 1.0 and hours >= 24 and k["wall_seconds"] < TARGET_SECONDS,
            "no_violations": k["violations"] == 0,
            "no_lost_pods": k["lost_pods"] == 0,
        }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
