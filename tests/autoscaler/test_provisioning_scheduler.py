"""The provisioning scheduler, rule by rule: fit, taints, requirements, pools, limits,
minValues, DaemonSet overhead, existing capacity, relaxation, errors and determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shipyard.autoscaler.provisioning import Capacity, Results, solve
from shipyard.core.labels import ARCH, CAPACITY_TYPE, INSTANCE_TYPE, NODEPOOL, ZONE
from shipyard.core.taints import Taint
from tests.autoscaler.test_provisioning_helpers import (
    GI,
    MI,
    T3_2XLARGE,
    T3_MEDIUM,
    T3_XLARGE,
    acceptance_types,
    aws_types,
    instance_type,
    node,
    pod,
    pool,
    req,
)

Obj = dict[str, Any]


def only_claim(results: Results) -> Any:
    assert not results.errors, results.errors
    assert len(results.new_claims) == 1
    return results.new_claims[0]


def names(pods: tuple[Obj, ...]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


# --- the acceptance case ----------------------------------------------------------------------


def test_acceptance_cheapest_type_in_the_allowed_zone_and_capacity_type() -> None:
    p = pool(
        acceptance_types(spot_discount=0.65),
        requirements=[req(ZONE, "In", "us-east-1b"), req(CAPACITY_TYPE, "In", "on-demand")],
    )
    claim = only_claim(solve([pod("web", "500m", "512Mi")], [p]))
    it, offering = claim.cheapest()
    assert (it.name, offering.zone, offering.capacity_type) == (
        "t4g.medium",
        "us-east-1b",
        "on-demand",
    )
    assert claim.price == pytest.approx(0.0336)
    assert [t.name for t in claim.instance_types] == [
        "t4g.medium",
        "t3.medium",
        "t4g.large",
        "t3.large",
    ]
    assert claim.requirements.get(ZONE).value_set == {"us-east-1b"}
    assert claim.requirements.get(NODEPOOL).value_set == {"default"}


def test_acceptance_amd64_pod_gets_t3_medium() -> None:
    p = pool(acceptance_types())
    claim = only_claim(solve([pod("web", "500m", "512Mi", nodeSelector={ARCH: "amd64"})], [p]))
    assert claim.cheapest()[0].name == "t3.medium"
    assert [t.name for t in claim.instance_types] == ["t3.medium", "t3.large"]


def test_acceptance_spot_allowed_launches_the_cheapest_spot_offering() -> None:
    p = pool(acceptance_types(spot_discount=0.65), requirements=[req(ZONE, "In", "us-east-1c")])
    it, offering = only_claim(solve([pod("web", "500m", "512Mi")], [p])).cheapest()
    assert (it.name, offering.zone, offering.capacity_type) == ("t4g.medium", "us-east-1c", "spot")
    assert offering.price == pytest.approx(0.0336 * 0.35 * 1.10, abs=1e-5)


def test_acceptance_overhead_decides_the_type() -> None:
    # A t*.medium keeps ~3.2 GiB allocatable; with a 512Mi DaemonSet a 3Gi pod needs a large.
    daemon = pod("agent", "100m", "512Mi")
    claim = only_claim(
        solve([pod("web", "500m", "3Gi")], [pool(acceptance_types())], daemonset_pods=[daemon])
    )
    assert claim.cheapest()[0].name == "t4g.large"
    assert claim.daemon_overhead == {"cpu": 100, "memory": 512 * MI, "pods": 1}
    assert claim.requests == {"cpu": 600, "memory": 512 * MI + 3 * GI, "pods": 2}


def test_unavailable_offering_is_skipped() -> None:
    types = acceptance_types(unavailable=[("us-east-1a", "on-demand")])
    p = pool(types, requirements=[req(ZONE, "In", "us-east-1a", "us-east-1b")])
    _, offering = only_claim(solve([pod("web")], [p])).cheapest()
    assert offering.zone == "us-east-1b"


# --- fit, requirements, taints ----------------------------------------------------------------


def test_pods_share_a_claim_until_no_type_can_hold_them() -> None:
    p = pool(aws_types(T3_MEDIUM, T3_XLARGE))
    results = solve([pod(f"p{i}", "1", "1Gi") for i in range(4)], [p], improve_cost=False)
    assert [len(c.pods) for c in results.new_claims] == [3, 1]
    assert results.new_claims[0].cheapest()[0].name == "t3.xlarge"
    assert results.new_claims[1].cheapest()[0].name == "t3.medium"


def test_too_big_pod_gets_karpenters_message() -> None:
    p = pool(acceptance_types(), requirements=[req(CAPACITY_TYPE, "In", "on-demand")])
    results = solve([pod("huge", "3", "1Gi")], [p], daemonset_pods=[pod("ds", "100m", "100Mi")])
    assert results.errors == {
        "default/huge": 'incompatible with nodepool "default", daemonset overhead='
        '{"cpu":"100m","memory":"100Mi","pods":"1"}, no instance type satisfied resources '
        '{"cpu":"3100m","memory":"1124Mi","pods":"2"} and requirements '
        "karpenter.sh/capacity-type In [on-demand], karpenter.sh/nodepool In [default] "
        "(no instance type has enough resources)"
    }
    assert not results.new_claims


def test_requirement_no_type_offers_is_reported() -> None:
    p = pool(acceptance_types())
    results = solve([pod("x", nodeSelector={INSTANCE_TYPE: "m5.large"})], [p])
    assert "(no instance type met all requirements)" in results.errors["default/x"]


def test_undefined_custom_label_is_incompatible() -> None:
    results = solve([pod("x", nodeSelector={"team": "blue"})], [pool(acceptance_types())])
    assert results.errors["default/x"] == (
        'incompatible with nodepool "default", daemonset overhead={}, incompatible '
        'requirements, label "team" does not have known values'
    )


def test_pool_label_satisfies_custom_selector() -> None:
    p = pool(acceptance_types(), labels={"team": "blue"})
    claim = only_claim(solve([pod("x", nodeSelector={"team": "blue"})], [p]))
    assert claim.requirements.get("team").value_set == {"blue"}
    assert claim.labels == {"team": "blue"}


def test_arch_requirement_narrows_the_types() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [req(ARCH, "In", "arm64")]}]
            }
        }
    }
    claim = only_claim(solve([pod("x", affinity=affinity)], [pool(acceptance_types())]))
    assert [t.name for t in claim.instance_types] == ["t4g.medium", "t4g.large"]


def test_untolerated_taint_refuses_and_toleration_admits() -> None:
    taint = Taint("dedicated", "gpu", "NoSchedule")
    p = pool(acceptance_types(), taints=[taint])
    results = solve([pod("plain")], [p])
    assert results.errors["default/plain"].endswith("did not tolerate dedicated=gpu:NoSchedule")
    tolerant = pod("ok", tolerations=[{"key": "dedicated", "operator": "Exists"}])
    claim = only_claim(solve([tolerant], [p]))
    assert claim.taints == (taint,)


def test_startup_taints_need_no_toleration() -> None:
    p = pool(acceptance_types(), startup_taints=[Taint("init", "", "NoSchedule")])
    claim = only_claim(solve([pod("x")], [p]))
    assert claim.startup_taints == (Taint("init", "", "NoSchedule"),)
    request = claim.launch_request("default-abcde")
    assert request.taints == [{"key": "init", "effect": "NoSchedule"}]


def test_host_port_conflict_needs_another_claim() -> None:
    ports = [{"name": "main", "ports": [{"containerPort": 80, "hostPort": 8080}],
              "resources": {"requests": {"cpu": "100m"}}}]  # fmt: skip
    results = solve(
        [pod("a", containers=ports), pod("b", containers=ports)], [pool(acceptance_types())]
    )
    assert len(results.new_claims) == 2


def test_invalid_node_affinity_is_an_error() -> None:
    bad = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": ZONE, "operator": "Gt", "values": ["x"]}]}
                ]
            }
        }
    }
    results = solve([pod("bad", affinity=bad)], [pool(acceptance_types())])
    assert "nodeSelectorTerms[0].matchExpressions[0].values" in results.errors["default/bad"]


# --- pools: weights, limits, minValues --------------------------------------------------------


def test_heaviest_pool_wins_then_name() -> None:
    types = acceptance_types()
    results = solve(
        [pod("x")], [pool(types, "b"), pool(types, "a"), pool(types, "heavy", weight=10)]
    )
    assert only_claim(results).nodepool == "heavy"
    assert only_claim(solve([pod("x")], [pool(types, "b"), pool(types, "a")])).nodepool == "a"


def test_next_pool_when_the_heaviest_refuses() -> None:
    types = acceptance_types()
    tainted = pool(types, "heavy", weight=50, taints=[Taint("k", "v", "NoSchedule")])
    claim = only_claim(solve([pod("x")], [tainted, pool(types, "light")]))
    assert claim.nodepool == "light"


def test_every_pool_error_is_reported() -> None:
    types = acceptance_types()
    results = solve(
        [pod("x", "8", "1Gi")],
        [pool(types, "a", weight=2), pool(types, "b", taints=[Taint("k", "v", "NoSchedule")])],
    )
    message = results.errors["default/x"]
    assert message.startswith('incompatible with nodepool "a"')
    assert (
        '; incompatible with nodepool "b", daemonset overhead={}, did not tolerate k=v' in message
    )


def test_limits_exclude_types_that_would_exceed_them() -> None:
    p = pool(aws_types(T3_MEDIUM, T3_XLARGE), limits={"cpu": 2000})
    results = solve([pod("a", "1500m"), pod("b", "1500m")], [p])
    assert [c.cheapest()[0].name for c in results.new_claims] == ["t3.medium"]
    assert results.errors == {
        "default/b": 'all available instance types exceed limits for nodepool: "default"'
    }


def test_limits_charge_the_largest_remaining_type() -> None:
    # Claim a could still become a t3.xlarge, so 4 vCPU are charged although a t3.medium
    # will do; b then only gets types within the 2 vCPU left, and c none.
    p = pool(aws_types(T3_MEDIUM, T3_XLARGE), limits={"cpu": 6000})
    pods = [pod(name, "1500m", nodeSelector={ZONE: f"us-east-1{name}"}) for name in "abc"]
    results = solve(pods, [p])
    assert [[t.name for t in c.instance_types] for c in results.new_claims] == [
        ["t3.medium", "t3.xlarge"],
        ["t3.medium"],
    ]
    assert results.errors == {
        "default/c": 'all available instance types exceed limits for nodepool: "default"'
    }


def test_node_count_limit() -> None:
    p = pool(acceptance_types(), limits={"nodes": 1})
    results = solve([pod("a", "1500m"), pod("b", "1500m")], [p])
    assert len(results.new_claims) == 1
    assert results.errors["default/b"] == (
        'all available instance types exceed limits for nodepool: "default"'
    )


def test_min_values_keep_enough_types() -> None:
    four = ("t3.medium", "t3.large", "t4g.medium", "t4g.large")
    p = pool(acceptance_types(), requirements=[req(INSTANCE_TYPE, "In", *four, min_values=2)])
    claim = only_claim(solve([pod("small", "500m", "1Gi")], [p]))
    assert len(claim.instance_types) == 4
    # 5Gi only fits the two large types: still two values, so it schedules.
    claim = only_claim(solve([pod("big", "500m", "5Gi")], [p]))
    assert [t.name for t in claim.instance_types] == ["t4g.large", "t3.large"]
    # An arm64 5Gi pod leaves one type: below minValues.
    results = solve([pod("arm", "500m", "5Gi", nodeSelector={ARCH: "arm64"})], [p])
    assert results.errors["default/arm"].endswith(
        "minValues requirement is not met for label(s) "
        "(label(s)=[node.kubernetes.io/instance-type])"
    )


def test_min_values_stop_a_claim_from_narrowing() -> None:
    four = ("t3.medium", "t3.large", "t4g.medium", "t4g.large")
    p = pool(acceptance_types(), requirements=[req(INSTANCE_TYPE, "In", *four, min_values=2)])
    results = solve([pod("a", "500m", "3Gi"), pod("b", "500m", "2500Mi")], [p], improve_cost=False)
    # Together they would need 5.5Gi: only the two larges, still two values: one claim.
    assert [len(c.pods) for c in results.new_claims] == [2]
    arm = pod("c", "500m", "3Gi", nodeSelector={ARCH: "arm64"})
    results = solve([pod("a", "500m", "3Gi"), arm], [p], improve_cost=False)
    assert [len(c.pods) for c in results.new_claims] == [1, 1]


# --- DaemonSet overhead -----------------------------------------------------------------------


def test_daemon_overhead_counts_only_daemons_that_would_run() -> None:
    taint = Taint("dedicated", "x", "NoSchedule")
    runs = pod("runs", "200m", "100Mi", tolerations=[{"operator": "Exists"}])
    untolerated = pod("untolerated", "300m", "100Mi")
    other_arch = pod("elsewhere", "400m", "100Mi", nodeSelector={ARCH: "s390x"})
    p = pool(acceptance_types(), taints=[taint])
    tolerant = pod("x", tolerations=[{"operator": "Exists"}])
    claim = only_claim(solve([tolerant], [p], daemonset_pods=[runs, untolerated, other_arch]))
    assert claim.daemon_overhead == {"cpu": 200, "memory": 100 * MI, "pods": 1}


def test_daemon_overhead_is_counted_per_instance_type() -> None:
    # An arm64-only DaemonSet of 1 vCPU leaves a t4g too little room; the t3s carry nothing.
    arm_agent = pod("arm-agent", "1", "128Mi", nodeSelector={ARCH: "arm64"})
    claim = only_claim(
        solve([pod("x", "1500m")], [pool(acceptance_types())], daemonset_pods=[arm_agent])
    )
    assert [t.name for t in claim.instance_types] == ["t3.medium", "t3.large"]
    assert claim.daemon_overhead == {}
    assert claim.requests == {"cpu": 1500, "memory": 128 * MI, "pods": 1}
    small = only_claim(
        solve([pod("y", "500m")], [pool(acceptance_types())], daemonset_pods=[arm_agent])
    )
    assert small.cheapest()[0].name == "t4g.medium"
    assert small.daemon_overhead == {"cpu": 1000, "memory": 128 * MI, "pods": 1}


def test_daemon_overhead_can_make_a_pod_unschedulable() -> None:
    results = solve(
        [pod("x", "1500m")], [pool(acceptance_types())], daemonset_pods=[pod("ds", "500m")]
    )
    assert (
        'daemonset overhead={"cpu":"500m","memory":"128Mi","pods":"1"}'
        in results.errors["default/x"]
    )
    assert "(no instance type has enough resources)" in results.errors["default/x"]


# --- existing capacity ------------------------------------------------------------------------


def test_existing_node_with_room_is_used_first() -> None:
    n = node("node-1", labels={ZONE: "us-east-1a"}, requested={"cpu": 500, "memory": GI, "pods": 3})
    results = solve([pod("a", "1"), pod("b", "1")], [pool(acceptance_types())], existing_nodes=[n])
    assert names(results.existing["node-1"]) == ["a"]
    assert [names(c.pods) for c in results.new_claims] == [["b"]]


def test_existing_node_respects_taints_and_labels() -> None:
    tainted = node("tainted", taints=[Taint("k", "v", "NoSchedule")])
    labelled = node("arm", labels={ARCH: "arm64"})
    results = solve(
        [pod("x", nodeSelector={ARCH: "amd64"})],
        [pool(acceptance_types())],
        existing_nodes=[tainted, labelled],
    )
    assert results.existing == {}
    assert len(results.new_claims) == 1


def test_existing_node_needs_the_label_a_pod_asks_for() -> None:
    # Unlike a new claim, a node must carry a well-known label a pod requires.
    results = solve(
        [pod("x", nodeSelector={ZONE: "us-east-1a"})], [], existing_nodes=[node("bare")]
    )
    assert results.existing == {}
    assert results.errors == {"default/x": "no nodepool is available"}


def test_in_flight_claim_is_capacity_and_its_startup_taints_do_not_count() -> None:
    startup = Taint("cilium", "", "NoSchedule")
    inflight = node(
        "default-xyz",
        initialized=False,
        taints=[startup, Taint("karpenter.sh/unregistered", "", "NoExecute")],
        startup_taints=[startup],
    )
    ready = node("ready", cpu=1000)
    results = solve([pod("a", "800m"), pod("b", "800m")], [], existing_nodes=[inflight, ready])
    assert names(results.existing["ready"]) == ["a"]  # initialized nodes first
    assert names(results.existing["default-xyz"]) == ["b"]


def test_existing_node_reserves_daemons_it_does_not_run_yet() -> None:
    daemon = pod("ds", "500m", "128Mi")
    fresh = node("fresh", cpu=1000)
    results = solve(
        [pod("a", "600m")],
        [pool(acceptance_types())],
        existing_nodes=[fresh],
        daemonset_pods=[daemon],
    )
    assert results.existing == {}
    running = dict(pod("ds-abc", "500m", "128Mi"))
    running["metadata"] = {
        **running["metadata"],
        "ownerReferences": [{"kind": "DaemonSet", "name": "ds", "controller": True}],
    }
    busy = node(
        "busy", cpu=1600, requested={"cpu": 500, "memory": 128 * MI, "pods": 1}, bound=[running]
    )
    results = solve(
        [pod("a", "600m")],
        [pool(acceptance_types())],
        existing_nodes=[busy],
        daemonset_pods=[daemon],
    )
    assert names(results.existing["busy"]) == ["a"]


# --- relaxation -------------------------------------------------------------------------------


def _node_affinity(
    required: list[list[Obj]] | None = None, preferred: list[tuple[int, list[Obj]]] | None = None
) -> Obj:
    out: Obj = {}
    if required is not None:
        out["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": t} for t in required]
        }
    if preferred is not None:
        out["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": w, "preference": {"matchExpressions": t}} for w, t in preferred
        ]
    return {"nodeAffinity": out}


def test_required_terms_are_tried_in_order() -> None:
    affinity = _node_affinity(
        required=[
            [req(ZONE, "In", "eu-west-1a")],
            [req(ZONE, "In", "us-east-1c")],
            [req(ZONE, "In", "us-east-1a")],
        ]
    )
    claim = only_claim(solve([pod("x", affinity=affinity)], [pool(acceptance_types())]))
    assert claim.requirements.get(ZONE).value_set == {"us-east-1c"}


def test_heaviest_preferred_node_term_is_tried_first_then_the_next() -> None:
    affinity = _node_affinity(
        preferred=[(10, [req(ZONE, "In", "us-east-1b")]), (50, [req(ZONE, "In", "us-east-1a")])]
    )
    claim = only_claim(solve([pod("x", affinity=affinity)], [pool(acceptance_types())]))
    assert claim.requirements.get(ZONE).value_set == {"us-east-1a"}
    no_a = pool(acceptance_types(), requirements=[req(ZONE, "In", "us-east-1b", "us-east-1c")])
    claim = only_claim(solve([pod("x", affinity=affinity)], [no_a]))
    assert claim.requirements.get(ZONE).value_set == {"us-east-1b"}
    only_c = pool(acceptance_types(), requirements=[req(ZONE, "In", "us-east-1c")])
    assert only_claim(solve([pod("x", affinity=affinity)], [only_c])).pods


def test_prefer_no_schedule_taint_is_tolerated_last() -> None:
    p = pool(acceptance_types(), taints=[Taint("soft", "", "PreferNoSchedule")])
    claim = only_claim(solve([pod("x")], [p]))
    assert names(claim.pods) == ["x"]
    hard = pool(acceptance_types(), taints=[Taint("hard", "", "NoSchedule")])
    assert solve([pod("x")], [hard]).errors


def test_pod_state_relaxes_in_karpenters_order() -> None:
    from shipyard.autoscaler.provisioning.podspec import PodState

    term = {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "x"}}}
    affinity = {
        **_node_affinity(
            required=[[req(ZONE, "In", "a")], [req(ZONE, "In", "b")]],
            preferred=[(5, [req(ARCH, "In", "arm64")]), (80, [req(ARCH, "In", "amd64")])],
        ),
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 90, "podAffinityTerm": term},
                {"weight": 10, "podAffinityTerm": {**term, "topologyKey": "h"}},
            ]
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "podAffinityTerm": term}
            ]
        },
    }  # fmt: skip
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": "x"}}}]  # fmt: skip
    state = PodState(pod("x", affinity=affinity, topologySpreadConstraints=spread), 0)
    assert state.requirements.get(ARCH).value_set == {"amd64"}  # the heaviest preference
    steps = []
    while (step := state.relax(prefer_no_schedule=True)) is not None:
        arch = state.requirements.get(ARCH)
        steps.append((
            step,
            [t.topology_key for t in state.preferred_affinity],
            sorted(arch.value_set) if ARCH in state.requirements else None,
        ))  # fmt: skip
    assert steps == [
        (
            "removing: spec.affinity.nodeAffinity.requiredDuringScheduling[0]",
            [ZONE, "h"],
            ["amd64"],
        ),
        # The lightest preferred pod-affinity term goes first; the heaviest stays longest.
        ("removing: a preferred pod affinity term", [ZONE], ["amd64"]),
        ("removing: a preferred pod affinity term", [], ["amd64"]),
        ("removing: a preferred pod anti-affinity term", [], ["amd64"]),
        # Node preferences: the heaviest was the requirement; dropping it tries the next.
        ("removing: the heaviest preferred node affinity term", [], ["arm64"]),
        ("removing: the heaviest preferred node affinity term", [], None),
        (f"removing: topology spread on {ZONE} (ScheduleAnyway)", [], None),
        ("adding: toleration for PreferNoSchedule taints", [], None),
    ]
    assert state.requirements.get(ZONE).value_set == {"b"}
    assert state.relax(prefer_no_schedule=True) is None


def test_no_prefer_no_schedule_relaxation_without_such_a_taint() -> None:
    from shipyard.autoscaler.provisioning.podspec import PodState

    assert PodState(pod("x"), 0).relax(prefer_no_schedule=False) is None


# --- determinism ------------------------------------------------------------------------------


def _summary(results: Results) -> list[tuple[str, float, list[str], str]]:
    return [
        (c.nodepool, c.price, sorted(names(c.pods)), str(c.requirements))
        for c in results.new_claims
    ]


def test_same_input_same_plan_and_input_order_only_breaks_ties() -> None:
    rng = random.Random(7)
    cpus, memories = ["100m", "500m", "1", "1500m"], ["256Mi", "1Gi", "3Gi"]
    pods = [pod(f"p{i}", rng.choice(cpus), rng.choice(memories)) for i in range(40)]
    p = pool(aws_types(T3_MEDIUM, T3_XLARGE, T3_2XLARGE))
    first, second = solve(pods, [p]), solve(pods, [p])
    assert _summary(first) == _summary(second)
    assert first.errors == second.errors == {}
    # Pods are sorted by cpu then memory, so a reorder of distinct shapes changes nothing
    # but which of two equal pods goes where.
    shuffled = solve(rng.sample(pods, len(pods)), [p])
    assert [(c.price, len(c.pods)) for c in shuffled.new_claims] == [
        (c.price, len(c.pods)) for c in first.new_claims
    ]


def test_inputs_are_not_modified() -> None:
    import copy

    pods = [pod("x", nodeSelector={ARCH: "amd64"}), pod("y", tolerations=[])]
    before = copy.deepcopy(pods)
    solve(pods, [pool(acceptance_types(), taints=[Taint("s", "", "PreferNoSchedule")])])
    assert pods == before


# --- claim size: the most cost-efficient type for the first pod ------------------------------


def test_new_claims_grow_only_to_the_most_efficient_size() -> None:
    # One vCPU pods: a t3.medium runs one for $0.0416, a t3.2xlarge seven for $0.0475 each.
    # The pods carry a (loose) spread, so the repack leaves them alone: this is the packing.
    loose = {
        "maxSkew": 10,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    pods = [
        pod(f"p{i}", "1", "1Gi", labels={"app": "web"}, topologySpreadConstraints=[loose])
        for i in range(10)
    ]
    p = pool(aws_types(T3_MEDIUM, T3_XLARGE, T3_2XLARGE))
    karpenter = solve(pods, [p], improve_cost=False)
    assert [len(c.pods) for c in karpenter.new_claims] == [7, 3]
    assert karpenter.total_price() == pytest.approx(0.3328 + 0.1664)
    capped = solve(pods, [p])
    assert [len(c.pods) for c in capped.new_claims] == [1] * 10
    assert capped.total_price() == pytest.approx(10 * 0.0416)
    # The claims still list every type that fits, for the launch to fall back on.
    assert [t.name for t in capped.new_claims[0].instance_types] == [
        "t3.medium",
        "t3.xlarge",
        "t3.2xlarge",
    ]


def test_efficient_size_counts_daemon_overhead_and_prefers_fewer_nodes_on_ties() -> None:
    from shipyard.autoscaler.provisioning.catalog import Catalog
    from shipyard.core.requirements import Requirements

    types = aws_types(T3_MEDIUM, T3_XLARGE, T3_2XLARGE)
    one_cpu = {"cpu": 1000, "memory": GI, "pods": 1}
    cat = Catalog(types, Requirements())
    assert cat.efficient_cap(cat.full, one_cpu) == 0b001
    # With 1 vCPU of DaemonSets a t3.medium holds nothing: a 2xlarge (6 pods, $0.055 each)
    # beats an xlarge (2 pods, $0.083 each).
    cat = Catalog(types, Requirements(), [([Requirements()], {"cpu": 1000})])
    assert cat.efficient_cap(cat.full, one_cpu) == 0b111
    # Linear prices, equal efficiency: the largest of the tied sizes.
    linear = [instance_type(f"x{n}", n, 2 * n, 10 * n, 0.3 * n, aws_overhead=False) for n in (2, 4)]
    cat = Catalog(linear, Requirements())
    assert cat.efficient_cap(cat.full, {"cpu": 1000, "pods": 1}) == 0b11
    assert cat.efficient_cap(cat.full, {"cpu": 3000, "pods": 1}) == 0b11
    assert cat.efficient_cap(cat.full, {"cpu": 9000}) == cat.full  # fits nowhere


def test_public_api_is_what_the_package_exports() -> None:
    from shipyard.autoscaler import provisioning

    assert sorted(provisioning.__all__) == [
        "BoundPod",
        "Capacity",
        "ExistingNode",
        "PlannedClaim",
        "PoolTemplate",
        "Results",
        "Scheduler",
        "pod_name",
        "solve",
    ]
    for name in provisioning.__all__:
        assert getattr(provisioning, name).__module__.startswith("shipyard.autoscaler.provisioning")


# --- one capacity, many what-ifs ---------------------------------------------------------------


def summary(results: Results) -> tuple[object, ...]:
    claims = [
        (c.nodepool, [t.name for t in c.instance_types], names(c.pods), c.price, dict(c.requests))
        for c in results.new_claims
    ]
    existing = {n: names(p) for n, p in results.existing.items()}
    return claims, existing, dict(results.errors)


def test_solves_over_one_capacity_equal_fresh_solves_without_the_same_nodes() -> None:
    """Each what-if over a shared Capacity is planned as a fresh solve over the nodes left:
    nothing one solve places, charges or relaxes shows in the next."""
    types = aws_types(T3_MEDIUM, T3_XLARGE, T3_2XLARGE)
    p = pool(types, limits={"cpu": 12_000})
    daemon = pod("ds", "100m", "100Mi")
    ported = pod("ported", "100m", "128Mi", containers=[_port_container(8080)])
    nodes = [
        node("a", cpu=2000, requested={"cpu": 1500, "pods": 1}),
        node("b", cpu=4000, bound=[ported], requested={"cpu": 100, "pods": 1}),
        node("c", cpu=8000, labels={ZONE: "us-east-1b"}),
        node("d", cpu=2000, initialized=False, nodepool="default"),
    ]
    base = Capacity([p], existing_nodes=nodes, daemonset_pods=[daemon])
    what_ifs: list[tuple[list[Obj], set[str]]] = [
        ([pod("x", "1500m", "1Gi") for _ in range(6)], set()),
        ([pod("y", "3", "1Gi") for _ in range(3)], {"c"}),
        ([pod("h", "100m", "128Mi", containers=[_port_container(8080)])], {"a", "d"}),
        ([pod("z", "7", "1Gi") for _ in range(3)], {"c"}),  # beyond the limits
        ([pod("x", "1500m", "1Gi") for _ in range(6)], set()),
        ([pod("s", "500m", "512Mi", nodeSelector={ZONE: "us-east-1b"})], {"a"}),
    ]
    found = []
    for pods, without in what_ifs:
        left = [n for n in nodes if n.name not in without]
        fresh = solve(pods, [p], existing_nodes=left, daemonset_pods=[daemon])
        shared = base.solve(pods, without=without)
        assert summary(shared) == summary(fresh)
        found.append(summary(shared))
    assert found[0] == found[4]  # the same what-if again: the same plan
    assert any(s[0] for s in found) and any(s[1] for s in found) and any(s[2] for s in found)


def _port_container(port: int) -> Obj:
    return {
        "name": "main",
        "ports": [{"containerPort": port, "hostPort": port}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
