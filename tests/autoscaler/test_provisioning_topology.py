"""Topology in provisioning: spread over zones, hostnames, capacity types and custom labels,
pod affinity and anti-affinity, counts from bound pods, inverse anti-affinity."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shipyard.autoscaler.provisioning import BoundPod, Results, solve
from shipyard.core.labels import CAPACITY_TYPE, HOSTNAME, ZONE
from tests.autoscaler.test_provisioning_helpers import (
    acceptance_types,
    node,
    pod,
    pod_affinity,
    pool,
    req,
    spread,
)

Obj = dict[str, Any]
WEB = {"app": "web"}


def zones_of(results: Results, app: str | None = None) -> Counter[str]:
    """How many pods (of ``app``) each zone got across the new claims."""
    counts: Counter[str] = Counter()
    for claim in results.new_claims:
        zone = claim.requirements.get(ZONE)
        assert zone.is_finite() and len(zone.value_set) == 1, f"claim not pinned: {zone}"
        for p in claim.pods:
            if app is None or p["metadata"]["labels"].get("app") == app:
                counts[next(iter(zone.value_set))] += 1
    return counts


def small(name: str, labels: dict[str, str] = WEB, **spec: Any) -> Obj:
    return pod(name, "100m", "128Mi", labels=labels, **spec)


# --- topology spread --------------------------------------------------------------------------


def test_zonal_spread_balances_and_pins_each_claim() -> None:
    pods = [small(f"w{i}", topologySpreadConstraints=[spread(ZONE, WEB)]) for i in range(7)]
    results = solve(pods, [pool(acceptance_types())])
    assert not results.errors
    assert sorted(zones_of(results).values()) == [2, 2, 3]
    assert len(results.new_claims) == 3


def test_zonal_spread_counts_bound_pods() -> None:
    bound = [
        BoundPod(small(f"old{i}"), "n1", {ZONE: "us-east-1a", HOSTNAME: "n1"}) for i in range(2)
    ]
    pods = [small(f"w{i}", topologySpreadConstraints=[spread(ZONE, WEB)]) for i in range(4)]
    results = solve(pods, [pool(acceptance_types())], cluster_pods=bound)
    # a: 2 already; b and c get two each (2, 2, 2), no new pod in a.
    assert zones_of(results) == Counter({"us-east-1b": 2, "us-east-1c": 2})


def test_spread_ignores_pods_it_does_not_select_and_batch_pods_are_not_double_counted() -> None:
    others = [BoundPod(small("db", {"app": "db"}), "n1", {ZONE: "us-east-1a"})]
    pods = [small(f"w{i}", topologySpreadConstraints=[spread(ZONE, WEB)]) for i in range(3)]
    # A pod of the batch that is also listed as bound (already known to the cluster) is
    # counted once, where the batch places it.
    stale = [BoundPod(pods[0], "n1", {ZONE: "us-east-1a"})]
    results = solve(pods, [pool(acceptance_types())], cluster_pods=others + stale)
    assert sorted(zones_of(results).values()) == [1, 1, 1]


def test_hostname_spread_puts_max_skew_pods_per_node() -> None:
    one = [small(f"a{i}", topologySpreadConstraints=[spread(HOSTNAME, WEB)]) for i in range(4)]
    assert [len(c.pods) for c in solve(one, [pool(acceptance_types())]).new_claims] == [1] * 4
    two = [
        small(f"b{i}", topologySpreadConstraints=[spread(HOSTNAME, WEB, skew=2)]) for i in range(4)
    ]
    assert [len(c.pods) for c in solve(two, [pool(acceptance_types())]).new_claims] == [2, 2]


def test_capacity_type_spread() -> None:
    pods = [
        small(f"w{i}", topologySpreadConstraints=[spread(CAPACITY_TYPE, WEB)]) for i in range(4)
    ]
    results = solve(pods, [pool(acceptance_types(spot_discount=0.6))])
    kinds = Counter(
        next(iter(c.requirements.get(CAPACITY_TYPE).value_set))
        for c in results.new_claims
        for _ in c.pods
    )
    assert kinds == Counter({"spot": 2, "on-demand": 2})


def test_spread_over_a_label_the_pool_defines() -> None:
    p = pool(acceptance_types(), requirements=[req("rack", "In", "r1", "r2")])
    pods = [small(f"w{i}", topologySpreadConstraints=[spread("rack", WEB)]) for i in range(4)]
    results = solve(pods, [p])
    racks = Counter(
        next(iter(c.requirements.get("rack").value_set)) for c in results.new_claims for _ in c.pods
    )
    assert racks == Counter({"r1": 2, "r2": 2})


def test_min_domains_counts_missing_domains_as_empty() -> None:
    p = pool(acceptance_types(), requirements=[req(ZONE, "In", "us-east-1a", "us-east-1b")])
    constraint = spread(ZONE, WEB, minDomains=3)
    pods = [small(f"w{i}", topologySpreadConstraints=[constraint]) for i in range(3)]
    results = solve(pods, [p])
    # Two domains < minDomains 3: the global minimum is 0, so each zone takes one pod only.
    assert zones_of(results) == Counter({"us-east-1a": 1, "us-east-1b": 1})
    assert list(results.errors) == ["default/w2"]
    assert "unsatisfiable topology constraint for topology spread" in results.errors["default/w2"]


def test_match_label_keys_separate_revisions() -> None:
    constraint = spread(ZONE, WEB, matchLabelKeys=["pod-template-hash"])
    v1 = [
        small(f"v1-{i}", {**WEB, "pod-template-hash": "v1"}, topologySpreadConstraints=[constraint])
        for i in range(3)
    ]
    v2 = [
        small(f"v2-{i}", {**WEB, "pod-template-hash": "v2"}, topologySpreadConstraints=[constraint])
        for i in range(3)
    ]
    results = solve(v1 + v2, [pool(acceptance_types())])
    per_revision: Counter[tuple[str, str]] = Counter()
    for claim in results.new_claims:
        zone = next(iter(claim.requirements.get(ZONE).value_set))
        for p in claim.pods:
            per_revision[(p["metadata"]["labels"]["pod-template-hash"], zone)] += 1
    assert sorted(per_revision.values()) == [1] * 6


def test_do_not_schedule_spread_fails_and_schedule_anyway_relaxes() -> None:
    # Three web pods already run in zone a; zone b exists (an existing full node) but the
    # pool only launches in a.
    full = node("b-node", cpu=0, labels={ZONE: "us-east-1b"})
    busy = node(
        "a-node", cpu=0, labels={ZONE: "us-east-1a"}, bound=[small(f"old{i}") for i in range(3)]
    )
    p = pool(acceptance_types(), requirements=[req(ZONE, "In", "us-east-1a")])
    hard = small("hard", topologySpreadConstraints=[spread(ZONE, WEB)])
    results = solve([hard], [p], existing_nodes=[full, busy])
    assert results.errors["default/hard"].startswith(
        'incompatible with nodepool "default", daemonset overhead={}, unsatisfiable topology '
        "constraint for topology spread, key=topology.kubernetes.io/zone (counts = "
        '{"us-east-1a": 3, "us-east-1b": 0}'
    )
    soft = small("soft", topologySpreadConstraints=[spread(ZONE, WEB, hard=False)])
    results = solve([soft], [p], existing_nodes=[full, busy])
    assert not results.errors
    assert zones_of(results) == Counter({"us-east-1a": 1})


# --- pod affinity and anti-affinity -----------------------------------------------------------


def test_zonal_self_affinity_keeps_pods_together() -> None:
    pods = [
        pod(f"w{i}", "1500m", "1Gi", labels=WEB, affinity=pod_affinity(ZONE, WEB)) for i in range(4)
    ]
    results = solve(pods, [pool(acceptance_types())])
    assert not results.errors
    assert len(zones_of(results)) == 1
    assert len(results.new_claims) == 4  # 1.5 vCPU each: one per 2-vCPU node, same zone


def test_affinity_follows_bound_pods() -> None:
    bound = [BoundPod(small("db", {"app": "db"}), "n1", {ZONE: "us-east-1c"})]
    follower = small("f", affinity=pod_affinity(ZONE, {"app": "db"}))
    results = solve([follower], [pool(acceptance_types())], cluster_pods=bound)
    assert zones_of(results) == Counter({"us-east-1c": 1})


def test_affinity_without_any_match_and_not_self_selecting_fails() -> None:
    follower = small("f", affinity=pod_affinity(ZONE, {"app": "db"}))
    results = solve([follower], [pool(acceptance_types())])
    assert "unsatisfiable topology constraint for pod affinity" in results.errors["default/f"]


def test_affinity_to_a_pod_later_in_the_batch_is_resolved_by_the_queue() -> None:
    # The follower is bigger, so it is tried first, fails, and succeeds once db is placed.
    db = small("db", {"app": "db"}, nodeSelector={ZONE: "us-east-1b"})
    follower = pod("f", "1", "1Gi", affinity=pod_affinity(ZONE, {"app": "db"}))
    results = solve([follower, db], [pool(acceptance_types())])
    assert not results.errors
    assert {next(iter(c.requirements.get(ZONE).value_set)) for c in results.new_claims} == {
        "us-east-1b"
    }


def test_hostname_self_affinity_shares_a_node() -> None:
    pods = [small(f"w{i}", affinity=pod_affinity(HOSTNAME, WEB)) for i in range(3)]
    results = solve(pods, [pool(acceptance_types())])
    assert [len(c.pods) for c in results.new_claims] == [3]


def test_hostname_anti_affinity_one_per_node_and_others_share() -> None:
    anti = [small(f"w{i}", affinity=pod_affinity(HOSTNAME, WEB, anti=True)) for i in range(3)]
    plain = [small(f"p{i}", {"app": "other"}) for i in range(3)]
    results = solve(anti + plain, [pool(acceptance_types())], improve_cost=False)
    assert not results.errors
    assert len(results.new_claims) == 3
    for claim in results.new_claims:
        assert sum(p["metadata"]["labels"]["app"] == "web" for p in claim.pods) == 1


def test_zonal_anti_affinity_gets_one_zone_each_in_one_batch() -> None:
    pods = [small(f"w{i}", affinity=pod_affinity(ZONE, WEB, anti=True)) for i in range(4)]
    results = solve(pods, [pool(acceptance_types())])
    assert sorted(zones_of(results).values()) == [1, 1, 1]
    assert list(results.errors) == ["default/w3"]
    assert "unsatisfiable topology constraint for pod anti-affinity" in results.errors["default/w3"]


def test_inverse_anti_affinity_keeps_selected_pods_away() -> None:
    # A running pod refuses web pods in its zone; web pods have no rule of their own.
    guard = small("guard", {"app": "guard"}, affinity=pod_affinity(ZONE, WEB, anti=True))
    bound = [BoundPod(guard, "n1", {ZONE: "us-east-1a"})]
    p = pool(acceptance_types(), requirements=[req(ZONE, "In", "us-east-1a", "us-east-1b")])
    results = solve([small("w")], [p], cluster_pods=bound)
    assert zones_of(results) == Counter({"us-east-1b": 1})


def test_inverse_anti_affinity_within_the_batch() -> None:
    guard = pod(
        "guard",
        "1",
        "1Gi",
        labels={"app": "guard"},
        affinity=pod_affinity(HOSTNAME, WEB, anti=True),
    )
    web = small("w")
    results = solve([guard, web], [pool(acceptance_types())], improve_cost=False)
    assert [len(c.pods) for c in results.new_claims] == [1, 1]


def test_existing_node_topology() -> None:
    n1 = node("n1", labels={ZONE: "us-east-1a"}, bound=[small("old")])
    n2 = node("n2", labels={ZONE: "us-east-1b"})
    anti = small("w", affinity=pod_affinity(HOSTNAME, WEB, anti=True))
    results = solve([anti], [pool(acceptance_types())], existing_nodes=[n1, n2])
    assert [p["metadata"]["name"] for p in results.existing["n2"]] == ["w"]
    follower = small("f", {"app": "f"}, affinity=pod_affinity(ZONE, WEB))
    results = solve([follower], [pool(acceptance_types())], existing_nodes=[n1, n2])
    assert list(results.existing) == ["n1"]


def test_spread_only_pins_a_claim_where_its_types_are_offered() -> None:
    in_bc = acceptance_types(zones=("us-east-1b", "us-east-1c"))
    in_a = acceptance_types(zones=("us-east-1a",))
    pods = [small("w", topologySpreadConstraints=[spread(ZONE, WEB)])]
    results = solve(pods, [pool(in_bc, "bc", weight=10), pool(in_a, "a")])
    assert [c.nodepool for c in results.new_claims] == ["bc"]
    assert zones_of(results) == Counter({"us-east-1b": 1})
