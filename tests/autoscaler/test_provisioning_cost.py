"""Plan cost of large batches: the shape packing of the repack pass (``repack._shape_plan``).

Instance types here have no reserved overhead (``aws_overhead=False``), so the cheapest plan
can be worked out by hand.
"""

from __future__ import annotations

from shipyard.autoscaler.provisioning import Results, solve
from shipyard.autoscaler.provisioning.repack import MAX_PODS
from shipyard.cloud.provider import fits
from shipyard.core.labels import ARCH

from .test_provisioning_helpers import instance_type, pod, pool, requests_of

SMALL = instance_type("small", 2, 4, 8, 0.10, aws_overhead=False)
# Twice as much per pod for the complementary pair, but the cheapest for either shape alone
# (five 1500m/1Gi pods for 0.40), so packing pod by pod prefers it.
BIG = instance_type("big", 8, 16, 40, 0.40, aws_overhead=False)
ARM = instance_type("small-arm", 2, 4, 8, 0.08, arch="arm64", aws_overhead=False)


def complementary(pairs: int) -> list[dict[str, object]]:
    """``pairs`` × (1500m/1Gi, 500m/3Gi): each pair fills a small node exactly."""
    out = []
    for i in range(pairs):
        out.append(pod(f"cpu-{i}", "1500m", "1Gi"))
        out.append(pod(f"mem-{i}", "500m", "3Gi"))
    return out


def expect_valid(results: Results, count: int) -> None:
    """Every pod placed once, on a claim whose first type holds all its pods."""
    assert not results.errors
    names = [p["metadata"]["name"] for c in results.new_claims for p in c.pods]  # type: ignore[index]
    assert len(names) == len(set(names)) == count
    for claim in results.new_claims:
        total: dict[str, int] = {}
        for p in claim.pods:
            for name, value in requests_of(p).items():
                total[name] = total.get(name, 0) + value
        assert fits(total, claim.instance_types[0].allocatable)


def test_large_batch_pairs_complementary_pods_on_small_nodes() -> None:
    pods = complementary(150)  # 300 pods: more than the pod-by-pod heuristics take
    assert len(pods) > MAX_PODS
    results = solve(pods, [pool([SMALL, BIG])])
    expect_valid(results, 300)
    assert round(results.total_price(), 6) == 15.0  # 150 small nodes, one pair each
    assert {c.instance_types[0].name for c in results.new_claims} == {"small"}


def test_packing_pod_by_pod_costs_more_on_the_same_batch() -> None:
    pods = complementary(150)
    greedy = solve(pods, [pool([SMALL, BIG])], improve_cost=False)
    assert greedy.total_price() > 15.0 + 1e-6


def test_shape_packing_keeps_pod_requirements_apart() -> None:
    arm_only = {"nodeSelector": {ARCH: "arm64"}}
    amd_only = {"nodeSelector": {ARCH: "amd64"}}
    pods = [pod(f"arm-{i}", "1500m", "1Gi", **arm_only) for i in range(150)]
    pods += [pod(f"amd-{i}", "500m", "3Gi", **amd_only) for i in range(150)]
    results = solve(pods, [pool([SMALL, BIG, ARM])])
    expect_valid(results, 300)
    for claim in results.new_claims:
        arches = {p["spec"]["nodeSelector"][ARCH] for p in claim.pods}  # type: ignore[index]
        assert len(arches) == 1
        assert claim.instance_types[0].requirements.get(ARCH).has(arches.pop())
    # arm pods alone on arm nodes (0.08 each); amd pods one per small node (3Gi of 4Gi) or five
    # per big one (15Gi of 16Gi, 0.40): 30 big nodes.
    assert round(results.total_price(), 6) == round(150 * 0.08 + 30 * 0.40, 6)


def test_shape_packing_is_deterministic() -> None:
    pods = complementary(140) + [pod(f"tiny-{i}", "100m", "128Mi") for i in range(40)]
    first = solve(pods, [pool([SMALL, BIG])])
    second = solve(pods, [pool([SMALL, BIG])])
    assert [(c.price, [p["metadata"] for p in c.pods]) for c in first.new_claims] == [  # type: ignore[index]
        (c.price, [p["metadata"] for p in c.pods])
        for c in second.new_claims  # type: ignore[index]
    ]
    expect_valid(first, 320)
    assert (
        first.total_price() <= solve(pods, [pool([SMALL, BIG])], improve_cost=False).total_price()
    )
