"""Cost quality: the planned claims cost what a brute force over every partition costs.

Each case is a small pod set (at most six pods) on a handful of real instance types. The
oracle (:func:`oracle_cost`) tries every set partition of the pods; a block costs the
cheapest compatible offering of any allowed type that holds the block's summed requests plus
the DaemonSet overhead. The scheduler's plan must cost exactly that, every pod placed.

Cases where Karpenter's first-fit packing alone would lose are marked ``greedy loses``; the
repack after packing (``shipyard.autoscaler.provisioning.repack``) wins them back, and
``test_greedy_alone_loses_where_marked`` keeps the marks honest. The repack is exact for a
pool with at most ``EXACT_PODS`` movable pods and heuristic above; the table is checked
through both paths, and seeded random pod sets check the exact path against the oracle and
that the heuristic path never costs more than the packing alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard.autoscaler.provisioning import repack, solve
from shipyard.core.labels import ARCH, CAPACITY_TYPE, ZONE
from tests.autoscaler.test_provisioning_helpers import (
    C5_LARGE,
    C5_XLARGE,
    M5_LARGE,
    M5_XLARGE,
    R5_LARGE,
    T3_2XLARGE,
    T3_LARGE,
    T3_MEDIUM,
    T3_XLARGE,
    T4G_LARGE,
    T4G_MEDIUM,
    aws_types,
    oracle_cost,
    pod,
    pool,
    req,
    requests_of,
)

Spec = tuple[str, int, int, int, float, str]
T3_MICRO: Spec = ("t3.micro", 2, 1, 4, 0.0104, "amd64")
T3_SMALL: Spec = ("t3.small", 2, 2, 11, 0.0208, "amd64")


@dataclass
class Case:
    name: str
    types: list[Spec]
    pods: list[tuple[Any, ...]]
    requirements: list[dict[str, Any]] = field(default_factory=list)
    daemons: list[tuple[str, str]] = field(default_factory=list)
    spot: bool = False
    greedy_loses: bool = False


CASES = [
    Case("one small pod, the acceptance types", [T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE],
         [("500m", "512Mi")]),
    Case("amd64 only", [T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE],
         [("500m", "512Mi", {"nodeSelector": {ARCH: "amd64"}})]),
    Case("memory pushes to large", [T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE],
         [("500m", "5Gi"), ("250m", "256Mi")]),
    Case("two 1.5 vCPU pods: two small nodes, not one big", [T3_MEDIUM, T3_XLARGE, T3_2XLARGE],
         [("1500m", "1Gi"), ("1500m", "1Gi")], greedy_loses=True),
    Case("three 1 vCPU pods", [T3_MEDIUM, T3_XLARGE, T3_2XLARGE],
         [("1", "1Gi")] * 3, greedy_loses=True),
    Case("big and small pods pair up", [T3_MEDIUM, T3_XLARGE, T3_2XLARGE],
         [("1500m", "1Gi"), ("1500m", "1Gi"), ("300m", "256Mi"), ("300m", "256Mi")],
         greedy_loses=True),
    Case("cpu-heavy and memory-heavy pods apart", [C5_LARGE, T3_MEDIUM, T3_LARGE, R5_LARGE],
         [("1500m", "1Gi"), ("200m", "6Gi")], greedy_loses=True),
    Case("six tiny pods share one node", [T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE],
         [("100m", "128Mi")] * 6),
    Case("daemon overhead decides", [T3_MEDIUM, T3_XLARGE, T4G_MEDIUM],
         [("700m", "512Mi"), ("700m", "512Mi"), ("700m", "512Mi")],
         daemons=[("500m", "512Mi")], greedy_loses=True),
    Case("arm64 and amd64 pods need two nodes", [T3_MEDIUM, T4G_MEDIUM, T3_LARGE],
         [("500m", "1Gi", {"nodeSelector": {ARCH: "arm64"}}),
          ("500m", "1Gi", {"nodeSelector": {ARCH: "amd64"}})]),
    Case("max pods: micros beat a medium", [T3_MICRO, T3_MEDIUM],
         [("100m", "64Mi")] * 6, daemons=[("50m", "32Mi"), ("50m", "32Mi")],
         greedy_loses=True),
    Case("spot when allowed", [T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE],
         [("1", "2Gi"), ("500m", "3Gi")], requirements=[req(CAPACITY_TYPE, "In", "spot")],
         spot=True),
    Case("zone pinned pods", [T3_MEDIUM, M5_LARGE, M5_XLARGE],
         [("1", "1Gi", {"nodeSelector": {ZONE: "us-east-1a"}}),
          ("1", "1Gi", {"nodeSelector": {ZONE: "us-east-1c"}}),
          ("500m", "1Gi")]),
    Case("general purpose mix", [C5_LARGE, C5_XLARGE, M5_LARGE, M5_XLARGE, R5_LARGE],
         [("3", "2Gi"), ("1500m", "3Gi"), ("500m", "10Gi"), ("250m", "512Mi"),
          ("250m", "512Mi"), ("100m", "128Mi")]),
]  # fmt: skip


def _pods(case: Case) -> list[dict[str, Any]]:
    out = []
    for i, spec in enumerate(case.pods):
        cpu, memory, *extra = spec
        out.append(pod(f"p{i}", str(cpu), str(memory), **(extra[0] if extra else {})))
    return out


def _daemons(case: Case) -> list[dict[str, Any]]:
    return [pod(f"ds{i}", cpu, memory) for i, (cpu, memory) in enumerate(case.daemons)]


def _overhead(case: Case) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in _daemons(case):
        for k, v in requests_of(d).items():
            total[k] = total.get(k, 0) + v
    return total


def _pool(case: Case) -> Any:
    spot = {"spot_discount": 0.65} if case.spot else {}
    return pool(aws_types(*case.types, **spot), requirements=case.requirements)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_plan_costs_what_the_oracle_costs(case: Case) -> None:
    pods, p = _pods(case), _pool(case)
    results = solve(pods, [p], daemonset_pods=_daemons(case))
    assert not results.errors
    assert results.placed() == len(pods)
    assert results.total_price() == pytest.approx(oracle_cost(pods, p, _overhead(case)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_heuristic_repack_also_matches_the_oracle(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repack, "EXACT_PODS", 0)
    pods, p = _pods(case), _pool(case)
    results = solve(pods, [p], daemonset_pods=_daemons(case))
    assert results.total_price() == pytest.approx(oracle_cost(pods, p, _overhead(case)))


@pytest.mark.parametrize("case", [c for c in CASES if c.greedy_loses], ids=lambda c: c.name)
def test_greedy_alone_loses_where_marked(case: Case) -> None:
    pods, p = _pods(case), _pool(case)
    greedy = solve(pods, [p], daemonset_pods=_daemons(case), improve_cost=False)
    assert greedy.total_price() > oracle_cost(pods, p, _overhead(case)) + 1e-9


def test_oracle_sees_every_partition() -> None:
    from tests.autoscaler.test_provisioning_helpers import partitions

    assert [len(list(partitions(list(range(n))))) for n in range(7)] == [1, 1, 2, 5, 15, 52, 203]


def test_each_claim_launches_its_cheapest_compatible_type() -> None:
    case = CASES[-1]
    results = solve(_pods(case), [_pool(case)])
    for claim in results.new_claims:
        it, offering = claim.cheapest()
        assert offering.price == claim.price
        assert it is claim.instance_types[0]
        prices = [t.cheapest_price(claim.requirements) for t in claim.instance_types]
        assert prices == sorted(prices)  # type: ignore[type-var]


RANDOM_TYPES = [T3_MICRO, T3_SMALL, T3_MEDIUM, T3_LARGE, T3_XLARGE, T3_2XLARGE, T4G_MEDIUM,
                T4G_LARGE, C5_LARGE, C5_XLARGE, M5_LARGE, M5_XLARGE, R5_LARGE]  # fmt: skip


def test_random_pod_sets_exact_equals_oracle_and_heuristic_never_loses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20260101)
    checked = 0
    while checked < 30:
        p = pool(aws_types(*rng.sample(RANDOM_TYPES, rng.randint(2, 5))))
        pods = [
            pod(f"p{i}", rng.choice(["100m", "250m", "500m", "1", "1500m", "3"]),
                rng.choice(["128Mi", "512Mi", "1Gi", "3Gi", "6Gi"]))
            for i in range(rng.randint(1, 6))
        ]  # fmt: skip
        best = oracle_cost(pods, p)
        if best == float("inf"):
            continue
        checked += 1
        assert solve(pods, [p]).total_price() == pytest.approx(best)
        greedy = solve(pods, [p], improve_cost=False).total_price()
        with monkeypatch.context() as m:
            m.setattr(repack, "EXACT_PODS", 0)
            heuristic = solve(pods, [p]).total_price()
        assert best - 1e-9 <= heuristic <= greedy + 1e-9
