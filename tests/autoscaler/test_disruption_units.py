"""Disruption's pure parts: budgets (counts, percentages, reasons, schedules), do-not-disrupt,
PDB blocking, disruption cost, the consolidation judgement (delete, one cheaper replacement,
never several, spot-to-spot), the multi-node binary search, emptiness and validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from shipyard.autoscaler.apis import Budget, NodePoolView
from shipyard.autoscaler.disruption import (
    DRIFTED,
    EMPTY,
    EXPIRED,
    UNDERUTILIZED,
    BudgetMap,
    Candidate,
    Command,
)
from shipyard.autoscaler.disruption.budgets import (
    PoolCounts,
    allowed_disruptions,
    budget_active,
    budget_map,
)
from shipyard.autoscaler.disruption.candidates import (
    _node_blocked,
    blocking_pdbs,
    disruption_cost,
    do_not_disrupt_until,
    pdb_blocking,
)
from shipyard.autoscaler.disruption.consolidation import (
    MAX_MULTI_CANDIDATES,
    MultiNodeConsolidation,
    SingleNodeConsolidation,
    evaluate,
)
from shipyard.autoscaler.disruption.emptiness import Emptiness
from shipyard.autoscaler.disruption.validation import PendingCommand, validate
from shipyard.autoscaler.provisioning import PlannedClaim, Results
from shipyard.cloud.provider import InstanceType
from shipyard.core.clock import parse_time
from shipyard.core.labels import CAPACITY_TYPE
from shipyard.core.requirements import IN, Requirement, Requirements
from tests.autoscaler.test_provisioning_helpers import instance_type
from tests.platform.test_autoscaling_helpers import nodepool

Obj = dict[str, Any]
MONDAY = parse_time("2025-01-06T00:00:00Z")
HOUR = 3600.0

# --- budgets ------------------------------------------------------------------------------


def budget(nodes: str, **kw: Any) -> Budget:
    return Budget.from_dict({"nodes": nodes, **kw})


@pytest.mark.parametrize(
    ("nodes", "total", "disrupting", "expected"),
    [
        ("10%", 10, 0, 1),
        ("10%", 11, 0, 2),  # 1.1 rounds up
        ("10%", 1, 0, 1),
        ("20%", 19, 0, 4),  # Karpenter's documented example: 3.8 -> 4
        ("0%", 50, 0, 0),
        ("100%", 7, 0, 7),
        ("3", 10, 0, 3),
        ("3", 10, 2, 1),  # nodes already disrupting count against it
        ("3", 10, 5, 0),  # never below zero
        ("30", 10, 0, 10),  # never more than the pool has
        ("0", 10, 0, 0),
    ],
)
def test_allowed_disruptions_count_and_percentage(
    nodes: str, total: int, disrupting: int, expected: int
) -> None:
    counts = PoolCounts(total, disrupting)
    assert allowed_disruptions([budget(nodes)], UNDERUTILIZED, counts, MONDAY) == expected


def test_the_tightest_active_budget_applying_to_the_reason_wins() -> None:
    budgets = [
        budget("20%", reasons=["Empty", "Drifted"]),
        budget("5"),
        budget("0", schedule="@daily", duration="10m", reasons=["Underutilized"]),
    ]
    counts = PoolCounts(40, 0)
    at = MONDAY + 5 * 60  # 00:05, inside the daily window
    assert allowed_disruptions(budgets, EMPTY, counts, at) == 5
    assert allowed_disruptions(budgets, DRIFTED, counts, at) == 5
    assert allowed_disruptions(budgets, UNDERUTILIZED, counts, at) == 0
    later = MONDAY + 11 * 60  # 00:11, the window is over
    assert allowed_disruptions(budgets, UNDERUTILIZED, counts, later) == 5
    assert (
        allowed_disruptions([budget("20%", reasons=["Empty"])], EMPTY, PoolCounts(19, 0), at) == 4
    )


@pytest.mark.parametrize(
    ("schedule", "duration", "offset", "active"),
    [
        ("0 9 * * mon-fri", "8h", 9 * HOUR, True),  # Monday 09:00, the start
        ("0 9 * * mon-fri", "8h", 16 * HOUR + 59 * 60, True),  # 16:59
        ("0 9 * * mon-fri", "8h", 17 * HOUR, False),  # 17:00, the end (exclusive)
        ("0 9 * * mon-fri", "8h", 8 * HOUR + 59 * 60, False),  # before it starts
        ("0 9 * * mon-fri", "8h", 5 * 24 * HOUR + 10 * HOUR, False),  # Saturday 10:00
        ("0 9 * * mon-fri", "8h", 4 * 24 * HOUR + 10 * HOUR, True),  # Friday 10:00
        ("@daily", "10m", -5 * 60, False),  # Sunday 23:55
        ("@daily", "30h", 24 * HOUR + 5 * HOUR, True),  # windows longer than a day overlap
        ("0 22 * * sun", "4h", 1 * HOUR, True),  # Sunday 22:00 reaches into Monday
        ("*/15 * * * *", "5m", 29 * 60, False),
        ("*/15 * * * *", "5m", 35 * 60, False),
        ("*/15 * * * *", "5m", 33 * 60, True),
    ],
)
def test_a_scheduled_budget_is_active_for_its_duration_after_each_firing(
    schedule: str, duration: str, offset: float, active: bool
) -> None:
    b = budget("0", schedule=schedule, duration=duration)
    assert budget_active(b, MONDAY + offset) is active


def test_a_budget_without_schedule_is_always_active() -> None:
    assert budget_active(budget("1"), MONDAY)


def test_budget_map_covers_each_pool_and_reason_and_forceful_reasons_are_unlimited() -> None:
    pool = NodePoolView.from_object(nodepool("a"))  # the default budget: 10%
    found = budget_map([pool], {"a": PoolCounts(20, 1)}, MONDAY)
    assert found.remaining("a", UNDERUTILIZED) == 1
    assert found.remaining("b", EMPTY) == 0  # an unknown pool may disrupt nothing
    assert found.remaining("a", EXPIRED) > 1000
    assert found.take("a", EMPTY) and not found.take("a", EMPTY)
    assert found.remaining("a", DRIFTED) == 1  # each reason has its own allowance


# --- do-not-disrupt, PDBs, cost ---------------------------------------------------------------


def test_do_not_disrupt_true_duration_and_malformed() -> None:
    assert do_not_disrupt_until("true", 100.0) == float("inf")
    assert do_not_disrupt_until("5m", 100.0) == 400.0
    assert do_not_disrupt_until("1h30m", 0.0) == 5400.0
    assert do_not_disrupt_until(None, 100.0) is None
    assert do_not_disrupt_until("false", 100.0) is None
    assert do_not_disrupt_until("soon", 100.0) is None


def _pod(name: str, app: str = "web", **meta: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": app}, **meta}}


def _pdb(name: str, app: str, allowed: int, namespace: str = "default") -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": app}}},
        "status": {"disruptionsAllowed": allowed},
    }


def test_a_pdb_allowing_no_disruption_blocks_only_the_pods_it_selects() -> None:
    pods = [_pod("a", "web"), _pod("b", "db")]
    assert pdb_blocking(pods, [_pdb("web", "web", 1)]) == ""
    assert pdb_blocking(pods, [_pdb("db", "db", 0)]) == "default/db"
    assert pdb_blocking(pods, [_pdb("db", "db", 0, namespace="other")]) == ""
    assert pdb_blocking([], [_pdb("db", "db", 0)]) == ""


def test_a_nodes_blocking_pdb_is_judged_again_when_its_pods_or_the_budgets_change() -> None:
    pods = [_pod("a", "web"), _pod("b", "db")]
    db, web = _pdb("db", "db", 0), _pdb("web", "web", 0)
    assert _node_blocked("n", pods, blocking_pdbs([db])) == "default/db"
    assert _node_blocked("n", pods, blocking_pdbs([db])) == "default/db"  # kept
    assert _node_blocked("n", pods, blocking_pdbs([_pdb("db", "db", 2)])) == ""  # allows now
    assert _node_blocked("n", pods, blocking_pdbs([web, db])) == "default/web"
    assert _node_blocked("n", pods[1:], blocking_pdbs([web, db])) == "default/db"  # pods moved
    assert _node_blocked("m", [pods[0]], blocking_pdbs([db])) == ""  # per node


def test_disruption_cost_prefers_fewer_and_lower_priority_pods_and_nodes_expiring_soon() -> None:
    one, three = [_pod("a")], [_pod("a"), _pod("b"), _pod("c")]
    assert disruption_cost(one, age=0, expire_after=None) == 1.0
    assert disruption_cost(three, age=0, expire_after=None) == 3.0
    important = [{**_pod("a"), "spec": {"priority": 2**26}}]
    assert disruption_cost(important, age=0, expire_after=None) == 3.0
    costly = [_pod("a", annotations={"controller.kubernetes.io/pod-deletion-cost": str(2**27)})]
    assert disruption_cost(costly, age=0, expire_after=None) == 2.0
    assert disruption_cost(three, age=75, expire_after=100) == pytest.approx(0.75)
    assert disruption_cost(three, age=200, expire_after=100) == 0.0


# --- consolidation -----------------------------------------------------------------------


class FakeRescheduler:
    """A Rescheduler backed by a function; records the candidate sets it was asked about."""

    def __init__(self, answer: Callable[[Sequence[Candidate]], Results]) -> None:
        self._answer = answer
        self.calls: list[list[str]] = []

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        self.calls.append([c.name for c in candidates])
        return self._answer(candidates)


POOL = NodePoolView.from_object(nodepool("default", capacity_types=("on-demand", "spot")))


def candidate(
    name: str, price: float, *, pods: int = 1, capacity_type: str = "on-demand", cost: float = 1.0
) -> Candidate:
    return Candidate(
        claim={"metadata": {"name": name}},
        node={"metadata": {"name": f"node-{name}"}},
        pool=POOL,
        pods=tuple(_pod(f"{name}-{i}") for i in range(pods)),
        price=price,
        instance_type="m5.large",
        capacity_type=capacity_type,
        zone="us-east-1a",
        disruption_cost=cost,
        consolidatable=True,
    )


def test_a_candidate_with_another_cost_is_that_candidate_with_only_the_cost_changed() -> None:
    original = candidate("a", 0.1, pods=2, cost=3.0)
    rescaled = original.with_cost(1.5)
    assert rescaled == dataclasses.replace(original, disruption_cost=1.5)
    assert original.disruption_cost == 3.0 and rescaled.disruption_cost == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        rescaled.disruption_cost = 2.0  # type: ignore[misc]


def types(count: int, start: float, step: float = 0.001, spot: bool = False) -> list[InstanceType]:
    return [
        instance_type(
            f"t{i}.large", 2, 8, 29, start + i * step, spot_discount=0.5 if spot else None
        )
        for i in range(count)
    ]


def planned(
    instance_types: Sequence[InstanceType], capacity: Sequence[str] = ("on-demand",)
) -> PlannedClaim:
    reqs = Requirements().add(Requirement.create(CAPACITY_TYPE, IN, list(capacity)))
    price = min(p for it in instance_types if (p := it.cheapest_price(reqs)) is not None)
    return PlannedClaim("default", reqs, tuple(instance_types), (), price, {}, {})


def results(*claims: PlannedClaim, errors: dict[str, str] | None = None) -> Results:
    return Results(tuple(claims), {}, errors or {})


def test_delete_when_every_pod_fits_elsewhere() -> None:
    found = evaluate([candidate("a", 0.1)], FakeRescheduler(lambda c: results()), method="m")
    assert isinstance(found, Command)
    assert found.decision() == "delete" and found.savings == pytest.approx(0.1)
    assert found.reason == UNDERUTILIZED and found.validate


def test_replace_with_one_node_keeps_only_the_cheaper_instance_types() -> None:
    offer = planned(types(5, 0.05, step=0.02))  # 0.05, 0.07, 0.09, 0.11, 0.13
    found = evaluate([candidate("a", 0.1)], FakeRescheduler(lambda c: results(offer)), method="m")
    assert isinstance(found, Command)
    [replacement] = found.replacements
    assert [t.name for t in replacement.instance_types] == ["t0.large", "t1.large", "t2.large"]
    assert replacement.price == pytest.approx(0.05)
    assert found.savings == pytest.approx(0.05)


def test_never_replaces_with_several_nodes_nor_with_one_as_expensive() -> None:
    cheap = planned(types(1, 0.01))
    several = evaluate(
        [candidate("a", 1.0)], FakeRescheduler(lambda c: results(cheap, cheap)), method="m"
    )
    assert several == "can't replace with 2 nodes, only with one"
    same = planned(types(1, 0.1))
    found = evaluate([candidate("a", 0.1)], FakeRescheduler(lambda c: results(same)), method="m")
    assert found == "can't replace with a lower-priced node"


def test_pods_that_fit_nowhere_prevent_consolidation() -> None:
    stuck = results(errors={"default/a-0": "incompatible with nodepool"})
    found = evaluate([candidate("a", 0.1)], FakeRescheduler(lambda c: stuck), method="m")
    assert found == "not all pods would schedule, default/a-0 => incompatible with nodepool"


def test_spot_to_spot_is_off_by_default() -> None:
    offer = planned(types(20, 0.001, spot=True), capacity=("spot",))
    spot = candidate("a", 0.5, capacity_type="spot")
    found = evaluate([spot], FakeRescheduler(lambda c: results(offer)), method="m", single=True)
    assert found == (
        "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node"
    )


def test_single_node_spot_to_spot_needs_fifteen_cheaper_types_and_launches_the_cheapest_15() -> (
    None
):
    spot = candidate("a", 0.5, capacity_type="spot")
    few = planned(types(14, 0.001, spot=True), capacity=("spot",))
    found = evaluate(
        [spot], FakeRescheduler(lambda c: results(few)), method="m", spot_to_spot=True, single=True
    )
    assert isinstance(found, str) and "requires 15 cheaper instance type" in found
    many = planned(types(20, 0.001, spot=True), capacity=("spot",))
    found = evaluate(
        [spot], FakeRescheduler(lambda c: results(many)), method="m", spot_to_spot=True, single=True
    )
    assert isinstance(found, Command)
    assert len(found.replacements[0].instance_types) == 15
    # multi-node spot-to-spot has no such floor
    found = evaluate(
        [spot, candidate("b", 0.5, capacity_type="spot")],
        FakeRescheduler(lambda c: results(few)),
        method="m",
        spot_to_spot=True,
    )
    assert isinstance(found, Command) and len(found.replacements[0].instance_types) == 14


def test_an_on_demand_node_replaced_by_a_spot_or_on_demand_node_is_pinned_to_spot() -> None:
    offer = planned(types(3, 0.08, spot=True), capacity=("on-demand", "spot"))
    found = evaluate([candidate("a", 0.06)], FakeRescheduler(lambda c: results(offer)), method="m")
    assert isinstance(found, Command)  # on-demand prices (0.08+) are not cheaper; spot (0.04+) is
    [replacement] = found.replacements
    assert replacement.requirements.get(CAPACITY_TYPE).values() == frozenset({"spot"})
    assert replacement.price == pytest.approx(0.04)


def test_multi_node_binary_search_finds_the_longest_prefix_that_consolidates() -> None:
    cands = [candidate(f"n{i:02d}", 0.1, cost=float(i)) for i in range(10)]
    fits = FakeRescheduler(lambda c: results() if len(c) <= 6 else results(errors={"x": "no"}))
    method = MultiNodeConsolidation(fits)
    budgets = BudgetMap({("default", UNDERUTILIZED): 10})
    found = method.compute(list(reversed(cands)), budgets)
    assert found is not None
    assert [c.name for c in found.candidates] == [f"n{i:02d}" for i in range(6)]
    assert len(fits.calls) <= 4  # log2(10) steps, never one simulation per prefix
    assert budgets.remaining("default", UNDERUTILIZED) == 4  # spent for what it used


def test_multi_node_respects_budgets_and_at_most_100_candidates_and_needs_two() -> None:
    cands = [candidate(f"n{i:03d}", 0.1, cost=float(i)) for i in range(150)]
    fits = FakeRescheduler(lambda c: results())
    found = MultiNodeConsolidation(fits).compute(
        cands, BudgetMap({("default", UNDERUTILIZED): 500})
    )
    assert found is not None and len(found.candidates) == MAX_MULTI_CANDIDATES
    found = MultiNodeConsolidation(fits).compute(cands, BudgetMap({("default", UNDERUTILIZED): 3}))
    assert found is not None and len(found.candidates) == 3
    single = MultiNodeConsolidation(fits).compute(cands, BudgetMap({("default", UNDERUTILIZED): 1}))
    assert single is None  # one node is single-node consolidation's business


def test_single_node_takes_the_first_candidate_that_consolidates_in_cost_order() -> None:
    cands = [candidate("cheap", 0.1, cost=1.0), candidate("dear", 0.1, cost=5.0)]
    answer = FakeRescheduler(
        lambda c: results(errors={"x": "no"}) if c[0].name == "cheap" else results()
    )
    method = SingleNodeConsolidation(answer)
    found = method.compute(list(reversed(cands)), BudgetMap({("default", UNDERUTILIZED): 1}))
    assert found is not None and [c.name for c in found.candidates] == ["dear"]
    assert answer.calls == [["cheap"], ["dear"]]
    assert method.unconsolidatable == {"cheap": "not all pods would schedule, x => no"}
    none = SingleNodeConsolidation(answer).compute(cands, BudgetMap())
    assert none is None  # no budget, no simulation
    assert len(answer.calls) == 2


def test_emptiness_deletes_every_empty_candidate_its_budget_allows() -> None:
    empty = [candidate(f"e{i}", 0.1, pods=0) for i in range(4)]
    method = Emptiness()
    assert method.should_disrupt(empty[0])
    assert not method.should_disrupt(candidate("busy", 0.1))
    found = method.compute(empty, BudgetMap({("default", EMPTY): 3}))
    assert found is not None and len(found.candidates) == 3 and found.reason == EMPTY
    assert found.decision() == "delete" and found.validate
    assert method.compute(empty, BudgetMap()) is None


# --- validation ----------------------------------------------------------------------------


def _pending(command: Command) -> PendingCommand:
    method = SingleNodeConsolidation(FakeRescheduler(lambda c: results()))
    return PendingCommand.of(command, method, 0.0, 15.0)


def test_validation_accepts_an_unchanged_decision() -> None:
    a = candidate("a", 0.1)
    pending = _pending(Command((a,), UNDERUTILIZED, "single-node-consolidation", validate=True))
    found = validate(
        pending,
        {"a": a},
        BudgetMap({("default", UNDERUTILIZED): 1}),
        FakeRescheduler(lambda c: results()),
    )
    assert isinstance(found, Command) and found.candidates == (a,)


def test_validation_aborts_when_pods_candidates_budgets_or_the_simulation_changed() -> None:
    a = candidate("a", 0.1)
    pending = _pending(Command((a,), UNDERUTILIZED, "single-node-consolidation", validate=True))
    budgets = BudgetMap({("default", UNDERUTILIZED): 1})
    fits = FakeRescheduler(lambda c: results())
    moved = candidate("a", 0.1, pods=2)
    assert validate(pending, {"a": moved}, budgets, fits) == (
        "pods on nodeclaim a changed during validation"
    )
    assert validate(pending, {}, budgets, fits) == "nodeclaim a is no longer a disruption candidate"
    assert validate(pending, {"a": a}, BudgetMap(), fits) == (
        'the disruption budget of nodepool "default" no longer allows 1 node(s)'
    )
    needs_node = FakeRescheduler(lambda c: results(planned(types(1, 0.01))))
    assert validate(pending, {"a": a}, budgets, needs_node) == (
        "the decision changed from delete to replace"
    )


def test_the_package_exports_what_it_lists() -> None:
    from shipyard.autoscaler import disruption

    assert len(set(disruption.__all__)) == len(disruption.__all__)
    for name in disruption.__all__:
        assert getattr(disruption, name) is not None, name
    assert {"DisruptionController", "Candidate", "Command", "DisruptionMethod"} <= set(
        disruption.__all__
    )
