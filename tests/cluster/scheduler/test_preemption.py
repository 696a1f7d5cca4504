"""DefaultPreemption: eligibility, victims, the node chosen, and the post-filter messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.cluster.scheduler.preemption import DisruptionBudget, Preemption, preempt
from shipyard.cluster.scheduler.profile import Profile
from shipyard.core.selectors import LabelSelector
from tests.cluster.scheduler.helpers import pod, snapshot

Spec = dict[str, Any]


def attempt(
    nodes: list[Spec],
    pods: list[Spec],
    incoming: Spec,
    budgets: Sequence[DisruptionBudget] = (),
) -> Preemption:
    """One failed cycle for ``incoming``, then PostFilter on it."""
    snap = snapshot(nodes, pods)
    profile = Profile()
    result = profile.schedule(snap.pod_info(pod(incoming)), snap)
    assert result.node is None, "the pod must fit nowhere for preemption to run"
    return preempt(profile, result, snap, budgets)


def victims(outcome: Preemption) -> tuple[str, list[str]]:
    assert outcome.candidate is not None, outcome.message
    return outcome.candidate.node, [v.name for v in outcome.candidate.victims]


def test_the_least_important_pods_that_make_room_are_the_victims() -> None:
    outcome = attempt(
        [{"name": "n1"}],
        [
            {"name": "low-1", "node": "n1", "cpu": "1", "priority": 0},
            {"name": "low-2", "node": "n1", "cpu": "1", "priority": 0},
            {"name": "mid", "node": "n1", "cpu": "2", "priority": 100},
        ],
        {"cpu": "2", "priority": 1000},
    )
    # mid goes back first (most important) and still leaves room; the two low pods do not.
    assert victims(outcome) == ("n1", ["low-1", "low-2"])


def test_the_node_with_the_lowest_priority_victims_is_chosen() -> None:
    outcome = attempt(
        [{"name": "n1", "cpu": "2"}, {"name": "n2", "cpu": "2"}],
        [
            {"name": "batch", "node": "n1", "cpu": "2", "priority": 100},
            {"name": "scavenger", "node": "n2", "cpu": "2", "priority": 0},
        ],
        {"cpu": "2", "priority": 1000},
    )
    assert victims(outcome) == ("n2", ["scavenger"])


def test_fewer_victims_win_at_equal_priority() -> None:
    outcome = attempt(
        [{"name": "n1", "cpu": "2"}, {"name": "n2", "cpu": "2"}],
        [
            {"name": "a", "node": "n1", "cpu": "1", "priority": 0},
            {"name": "b", "node": "n1", "cpu": "1", "priority": 0},
            {"name": "big", "node": "n2", "cpu": "2", "priority": 0},
        ],
        {"cpu": "2", "priority": 1000},
    )
    assert victims(outcome) == ("n2", ["big"])


def test_disruption_budgets_are_respected_where_possible() -> None:
    guarded = DisruptionBudget("default", LabelSelector.from_labels({"app": "db"}), 0)
    outcome = attempt(
        [{"name": "n1", "cpu": "1"}, {"name": "n2", "cpu": "1"}],
        [
            {"name": "db", "node": "n1", "cpu": "1", "priority": 0, "labels": {"app": "db"}},
            {"name": "web", "node": "n2", "cpu": "2", "priority": 100, "labels": {"app": "web"}},
        ],
        {"cpu": "1", "priority": 1000},
        [guarded],
    )
    # n1's victim has the lower priority, but evicting it would break the budget.
    assert victims(outcome) == ("n2", ["web"])
    assert outcome.candidate is not None and outcome.candidate.pdb_violations == 0


def test_a_budget_is_broken_when_nothing_else_helps() -> None:
    guarded = DisruptionBudget("default", LabelSelector.from_labels({"app": "db"}), 0)
    outcome = attempt(
        [{"name": "n1", "cpu": "1"}],
        [{"name": "db", "node": "n1", "cpu": "1", "priority": 0, "labels": {"app": "db"}}],
        {"cpu": "1", "priority": 1000},
        [guarded],
    )
    assert victims(outcome) == ("n1", ["db"])
    assert outcome.candidate is not None and outcome.candidate.pdb_violations == 1


def test_preemption_policy_never() -> None:
    outcome = attempt(
        [{"name": "n1", "cpu": "1"}],
        [{"name": "low", "node": "n1", "cpu": "1", "priority": 0}],
        {"cpu": "1", "priority": 1000, "spec": {"preemptionPolicy": "Never"}},
    )
    assert outcome.candidate is None
    assert outcome.message == "preemption: not eligible due to preemptionPolicy=Never."


def test_no_lower_priority_pods() -> None:
    outcome = attempt(
        [{"name": "n1", "cpu": "1"}],
        [{"name": "peer", "node": "n1", "cpu": "1", "priority": 1000}],
        {"cpu": "1", "priority": 1000},
    )
    assert outcome.message == (
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_a_lower_priority_pod_only_on_a_node_that_cannot_help_leaves_no_victims() -> None:
    # The only less important pod is on a node the preemptor can never use (a taint): the
    # search still looks, and finds no victims on the nodes it could use.
    outcome = attempt(
        [
            {"name": "n1", "cpu": "1"},
            {"name": "n2", "cpu": "1",
             "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
        ],
        [
            {"name": "peer", "node": "n1", "cpu": "1", "priority": 1000},
            {"name": "low", "node": "n2", "cpu": "1", "priority": 0},
        ],
        {"cpu": "1", "priority": 1000},
    )  # fmt: skip
    assert outcome.candidate is None
    assert outcome.message == (
        "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling."
    )


def test_unresolvable_nodes_are_not_helped() -> None:
    outcome = attempt(
        [
            {"name": "n1", "cpu": "1"},
            {
                "name": "n2",
                "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
            },
            {"name": "n3", "cpu": "2"},
            {"name": "n4", "cpu": "2"},
        ],
        [
            {"name": "x", "node": "n3", "cpu": "2", "priority": 1000},
            {"name": "y", "node": "n4", "cpu": "2", "priority": 1000},
        ],
        {"cpu": "2", "priority": 1000},
    )
    assert outcome.message == (
        "preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    )


def test_when_evicting_every_lower_pod_is_not_enough() -> None:
    outcome = attempt(
        [{"name": "n1"}],
        [
            {"name": "vip", "node": "n1", "cpu": "3", "priority": 2000},
            {"name": "low", "node": "n1", "cpu": "1", "priority": 0},
        ],
        {"cpu": "2", "priority": 1000},
    )
    assert outcome.message == "preemption: 0/1 nodes are available: 1 Insufficient cpu."


def test_anti_affinity_can_be_resolved_by_preemption() -> None:
    outcome = attempt(
        [{"name": "n1"}],
        [{"name": "noisy", "node": "n1", "priority": 0, "labels": {"app": "noisy"}}],
        {
            "priority": 1000,
            "spec": {
                "affinity": {
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {"app": "noisy"}},
                            }
                        ]
                    }
                }
            },
        },
    )
    assert victims(outcome) == ("n1", ["noisy"])


def test_a_pod_waiting_for_its_victims_does_not_preempt_again() -> None:
    leaving = {
        "name": "leaving",
        "node": "n1",
        "cpu": "1",
        "priority": 0,
        "terminating": True,
        "status": {
            "conditions": [
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
            ]
        },
    }
    outcome = attempt(
        [{"name": "n1", "cpu": "1"}, {"name": "n2", "cpu": "1"}],
        [leaving, {"name": "other", "node": "n2", "cpu": "1", "priority": 0}],
        {"cpu": "1", "priority": 1000, "status": {"nominatedNodeName": "n1"}},
    )
    assert outcome.candidate is None
    assert outcome.message == (
        "preemption: not eligible due to a terminating pod on the nominated node."
    )
