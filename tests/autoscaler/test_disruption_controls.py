"""What holds disruption back, as scenarios: NodePool budgets (a count, a percentage, reasons,
a schedule blocking business hours), ``karpenter.sh/do-not-disrupt`` on pods and nodes (and
its duration form), PodDisruptionBudgets, and recent nominations."""

from __future__ import annotations

from typing import Any

from shipyard.autoscaler.disruption import EMPTY
from shipyard.autoscaler.lifecycle import DO_NOT_DISRUPT
from shipyard.autoscaler.provisioning.controller import Nomination
from shipyard.core.clock import parse_time
from shipyard.core.objects import Obj
from tests.autoscaler.test_disruption_helpers import DWorld, dworld, pdb, pool_with
from tests.platform.test_autoscaling_helpers import make_deployment, web

BUSINESS_HOURS = {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h"}


def big(replicas: int, **overrides: Any) -> Obj:
    """Pods of 250m / 1500Mi: three need a t4g.large, one fits a t4g.medium."""
    return make_deployment("big", replicas=replicas, cpu="250m", memory="1500Mi", **overrides)


def annotated(replicas: int, value: str) -> Obj:
    return big(replicas, spec={"template": {"metadata": {"annotations": {DO_NOT_DISRUPT: value}}}})


def empty_nodes(w: DWorld, count: int) -> list[str]:
    """``count`` t4g.medium nodes (3 x 500m pods each), then emptied."""
    w.create(make_deployment("fill", replicas=3 * count, cpu="500m", memory="512Mi"))
    w.run(60)
    names = w.claim_names()
    assert len(names) == count
    w.scale("fill", 0)
    return names


def oversized(w: DWorld) -> str:
    """One t4g.large holding one pod a t4g.medium would hold: single-node consolidation bait."""
    w.run(60)
    [name] = w.claim_names()
    assert w.instance_types() == ["t4g.large"]
    w.scale("big", 1)
    return name


def blocked(w: DWorld) -> list[str]:
    return w.messages("DisruptionBlocked", kind="NodeClaim")


# --- budgets ------------------------------------------------------------------------------


def test_a_zero_node_budget_blocks_disruption() -> None:
    w = dworld(pool=pool_with(budgets=[{"nodes": "0"}]))
    names = empty_nodes(w, 2)
    w.run(10 * 60)
    assert w.claim_names() == names
    assert w.disruption.history == []


def test_a_percentage_budget_rounds_up_and_disrupting_nodes_count_against_it() -> None:
    w = dworld(pool=pool_with(budgets=[{"nodes": "30%"}]))  # 30 % of 4 rounds up to 2
    empty_nodes(w, 4)
    deleting = 0
    for _ in range(120):
        w.run(5)
        deleting = max(deleting, len(w.claims()) - len(w.live_claims()))
    assert w.claim_names() == []
    assert deleting == 2  # never more at once than the budget, those deleting included
    # 30 % of 4 rounds up to 2; then of the 2 left, 1; then of the last one, 1
    assert [len(c.candidates) for c in w.disruption.history] == [2, 1, 1]
    assert {c.reason for c in w.disruption.history} == {EMPTY}


def test_a_budget_limits_only_the_reasons_it_names() -> None:
    only_underutilized = [{"nodes": "0", "reasons": ["Underutilized"]}]
    w = dworld(pool=pool_with(budgets=only_underutilized), extra=[big(3)])
    oversized(w)
    w.run(5 * 60)
    assert w.instance_types() == ["t4g.large"]  # the replacement is Underutilized: blocked
    w.scale("big", 0)
    w.run(60)
    assert w.claim_names() == []  # emptiness is not limited by that budget
    assert [c.reason for c in w.disruption.history] == [EMPTY]


def test_a_schedule_blocks_disruption_during_business_hours() -> None:
    start = parse_time("2025-01-06T16:30:00Z")  # a Monday afternoon
    w = dworld(pool=pool_with(budgets=[BUSINESS_HOURS, {"nodes": "100%"}]), start=start)
    names = empty_nodes(w, 1)
    w.run_until(parse_time("2025-01-06T16:59:50Z") - start)
    assert w.claim_names() == names
    assert w.disruption.history == []
    w.run(60)  # 17:00: the window closed
    assert w.claim_names() == []
    decided = w.disruption.history[0]
    assert decided.reason == EMPTY


def test_outside_business_hours_the_same_pool_disrupts_at_once() -> None:
    start = parse_time("2025-01-11T10:00:00Z")  # a Saturday
    w = dworld(pool=pool_with(budgets=[BUSINESS_HOURS]), start=start)
    empty_nodes(w, 1)
    w.run(60)
    assert w.claim_names() == []


# --- do-not-disrupt and PDBs --------------------------------------------------------------


def test_a_do_not_disrupt_pod_keeps_its_node() -> None:
    w = dworld(extra=[annotated(3, "true")])
    oversized(w)
    w.run(5 * 60)
    assert w.instance_types() == ["t4g.large"]
    assert w.disruption.history == []
    messages = blocked(w)
    assert messages
    for message in messages:
        assert message.startswith("Cannot disrupt Node: pod default/big-")
        assert message.endswith(f'has "{DO_NOT_DISRUPT}" annotation')


def test_the_duration_form_of_do_not_disrupt_protects_a_pod_for_that_long() -> None:
    w = dworld(extra=[annotated(3, "10m")])
    oversized(w)
    w.run(7 * 60)  # the pods started about 30 s in: protected until about 10.5 minutes
    assert w.instance_types() == ["t4g.large"]
    w.run(5 * 60)
    assert w.instance_types() == ["t4g.medium"]
    assert [c.method for c in w.disruption.history] == ["single-node-consolidation"]


def _annotate_node(w: DWorld, value: str) -> None:
    [node] = w.live_nodes()
    node["metadata"].setdefault("annotations", {})[DO_NOT_DISRUPT] = value
    w.client.update(node)


def test_a_do_not_disrupt_node_is_not_disrupted_even_when_empty() -> None:
    w = dworld()
    names = empty_nodes(w, 1)
    _annotate_node(w, "true")
    w.run(5 * 60)
    assert w.claim_names() == names
    assert set(blocked(w)) == {f'Cannot disrupt Node: node has "{DO_NOT_DISRUPT}" annotation'}
    _annotate_node(w, "false")
    w.run(60)
    assert w.claim_names() == []


def test_a_node_annotation_duration_counts_from_the_node_creation() -> None:
    w = dworld()
    names = empty_nodes(w, 1)
    _annotate_node(w, "5m")  # the node registered ~15 s in
    w.run(3 * 60)
    assert w.claim_names() == names
    w.run(3 * 60)
    assert w.claim_names() == []


def test_a_pdb_that_allows_no_eviction_blocks_consolidation() -> None:
    w = dworld(extra=[big(3), pdb("big", "big", max_unavailable=0)])
    oversized(w)
    w.run(5 * 60)
    assert w.instance_types() == ["t4g.large"]
    assert set(blocked(w)) == {"Cannot disrupt Node: pdb default/big prevents pod evictions"}
    budget = w.client.get("policy/v1", "PodDisruptionBudget", "big", namespace="default")
    budget["spec"]["maxUnavailable"] = 1
    w.client.update(budget)
    w.run(3 * 60)
    assert w.instance_types() == ["t4g.medium"]


def test_a_node_nominated_for_pending_pods_is_left_alone_for_20_seconds() -> None:
    w = dworld(extra=[web(replicas=2)])
    w.run(60)
    w.scale("web", 0)
    w.run(2)
    # a node the provisioner just nominated for a pod is not a candidate
    [node] = w.live_nodes()
    w.auto.provisioner.nominations["someone"] = Nomination(
        "node", node["metadata"]["name"], w.clock.now()
    )
    w.run(15)
    assert len(w.claim_names()) == 1
    assert "Cannot disrupt Node: node is nominated for a pending pod" in blocked(w)
    del w.auto.provisioner.nominations["someone"]
    w.run(60)
    assert w.claim_names() == []
