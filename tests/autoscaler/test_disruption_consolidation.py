"""Disruption scenarios on an autoscaled cluster in virtual time: empty nodes go, a pool's
``consolidateAfter`` is honoured, several nodes are replaced by one, one node by a cheaper one,
a decision is abandoned when pods change during its 15 s validation, and a failed replacement
rolls the taint back."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.autoscaler.disruption import (
    DRIFTED,
    EMPTY,
    UNDERUTILIZED,
    BudgetMap,
    Candidate,
    Command,
    Rescheduler,
    standard_methods,
)
from shipyard.autoscaler.disruption.candidates import CONSOLIDATABLE, LAST_POD_EVENT
from shipyard.autoscaler.disruption.controller import DISRUPTION_REASON, DisruptionOptions
from shipyard.autoscaler.lifecycle.model import condition_status
from shipyard.core.objects import Obj
from tests.autoscaler.test_disruption_helpers import DWorld, dworld, pool_with, tainted
from tests.platform.test_autoscaling_helpers import make_deployment, web


def big(replicas: int) -> Obj:
    """Pods of 250m / 1500Mi: three need a t4g.large, one fits a t4g.medium."""
    return make_deployment("big", replicas=replicas, cpu="250m", memory="1500Mi")


def settle(w: DWorld, seconds: float = 60.0) -> None:
    w.run(seconds)
    assert all(p["status"].get("phase") == "Running" for p in w.pods())


def run_until(w: DWorld, done: object, *, limit: float = 300.0, step: float = 5.0) -> float:
    """Step until ``done()`` holds; the seconds it took."""
    assert callable(done)
    start = w.elapsed()
    while not done():
        assert w.elapsed() - start < limit, "timed out"
        w.run(step)
    return w.elapsed() - start


def test_an_empty_node_is_deleted_after_its_decision_is_validated() -> None:
    w = dworld(extra=[web(replicas=2)])
    settle(w)
    [claim] = w.live_claims()
    assert condition_status(claim, CONSOLIDATABLE) == "True"
    assert LAST_POD_EVENT in claim["status"]
    w.scale("web", 0)
    run_until(w, lambda: w.disruption.pending is not None)
    decided = w.disruption.pending.decided_at  # type: ignore[union-attr]
    assert w.disruption.pending.command.reason == EMPTY  # type: ignore[union-attr]
    w.run(14)
    assert w.claim_names() == [claim["metadata"]["name"]]  # still validating
    run_until(w, lambda: not w.live_claims())
    [command] = w.disruption.history
    assert command.method == "emptiness" and command.decision() == "delete"
    assert w.clock.now() - decided >= 15
    assert w.messages("DisruptionTerminating") == ["Disrupting NodeClaim: Empty"]
    run_until(w, lambda: not w.nodes())  # the lifecycle drained and terminated it


def test_consolidate_after_waits_from_the_last_pod_event() -> None:
    w = dworld(pool=pool_with(consolidate_after="5m"), extra=[web(replicas=2)])
    settle(w)
    w.scale("web", 0)
    w.run(10)  # the pods are gone: the last pod event
    [claim] = w.live_claims()
    assert condition_status(claim, CONSOLIDATABLE) == "Unknown"
    w.run(4 * 60)
    [claim] = w.live_claims()
    assert condition_status(claim, CONSOLIDATABLE) == "Unknown"
    assert w.disruption.history == []
    w.run(60)
    [claim] = w.live_claims()
    assert condition_status(claim, CONSOLIDATABLE) == "True"
    run_until(w, lambda: not w.live_claims())
    assert w.disruption.history[0].reason == EMPTY


def test_several_underutilized_nodes_are_replaced_by_one_cheaper_node() -> None:
    w = dworld(pool=pool_with(budgets=[{"nodes": "100%"}]))
    for name in ("a", "b", "c"):  # three deployments, one node each (3 x 500m fill one)
        w.create(make_deployment(name, replicas=3, cpu="500m", memory="512Mi"))
        settle(w)
    before = w.claim_names()
    assert w.instance_types() == ["t4g.medium"] * 3
    for name in ("a", "b", "c"):
        w.scale(name, 1)
    run_until(w, lambda: not set(before) & set(w.claim_names()))
    [command] = w.disruption.history
    assert command.method == "multi-node-consolidation" and command.reason == UNDERUTILIZED
    assert sorted(c.name for c in command.candidates) == before
    assert len(command.replacements) == 1
    run_until(w, lambda: len(w.running()) == 3)
    assert w.instance_types() == ["t4g.medium"]
    assert {p["spec"]["nodeName"] for p in w.running()} == {w.live_nodes()[0]["metadata"]["name"]}


def test_an_oversized_node_is_replaced_by_a_cheaper_type_before_it_is_drained() -> None:
    w = dworld(extra=[big(3)])
    settle(w)
    assert w.instance_types() == ["t4g.large"]
    [old] = w.claim_names()
    w.scale("big", 1)
    run_until(w, lambda: bool(w.disruption.executing))
    # the candidate is tainted and marked, and stays until its replacement is initialized
    claim = w.client.get("karpenter.sh/v1", "NodeClaim", old)
    node = w.client.get("v1", "Node", claim["status"]["nodeName"])
    assert tainted(node)
    assert condition_status(claim, DISRUPTION_REASON) == "True"
    assert not claim["metadata"].get("deletionTimestamp")
    assert w.messages("DisruptionLaunching") == ["Launching NodeClaim: Underutilized"]
    run_until(w, lambda: old not in w.claim_names())
    [command] = w.disruption.history
    assert command.method == "single-node-consolidation" and command.decision() == "replace"
    assert [t.name for t in command.replacements[0].instance_types][:1] == ["t4g.medium"]
    run_until(w, lambda: len(w.running()) == 1)
    assert w.instance_types() == ["t4g.medium"]


def test_validation_abandons_the_decision_when_pods_arrive_within_15_seconds() -> None:
    w = dworld(extra=[web(replicas=2)])
    settle(w)
    [name] = w.claim_names()
    w.scale("web", 0)
    run_until(w, lambda: w.disruption.pending is not None)
    w.scale("web", 1)  # a pod lands on the node while the decision waits
    w.run(20)
    assert w.disruption.aborted == [f"pods on nodeclaim {name} changed during validation"]
    assert w.disruption.history == []
    assert w.claim_names() == [name]
    assert not any(tainted(n) for n in w.nodes())
    assert len(w.running()) == 1
    assert w.messages("DisruptionAborted") == [w.disruption.aborted[0]]


def _rolled_back(w: DWorld, old: str) -> None:
    assert old in w.claim_names()
    assert not any(tainted(n) for n in w.nodes())
    claim = w.client.get("karpenter.sh/v1", "NodeClaim", old)
    assert condition_status(claim, DISRUPTION_REASON) == "Unknown"
    assert w.disruption.history == []
    assert len(w.messages("DisruptionRolledBack")) == 1


def test_a_replacement_deleted_before_it_initialized_rolls_the_taint_back() -> None:
    w = dworld(extra=[big(3)])
    settle(w)
    w.scale("big", 1)
    [old] = w.claim_names()
    run_until(w, lambda: bool(w.disruption.executing))
    assert any(tainted(n) for n in w.nodes())
    [replacement] = w.disruption.executing[0].replacements
    w.client.delete("karpenter.sh/v1", "NodeClaim", replacement)
    w.run(1)
    _rolled_back(w, old)
    assert w.disruption.aborted == [
        f"replacement nodeclaim {replacement} was deleted before it initialized"
    ]


def test_a_replacement_that_does_not_initialize_in_time_rolls_the_taint_back() -> None:
    w = dworld(extra=[big(3)], options=DisruptionOptions(replacement_timeout=5.0))
    settle(w)
    w.scale("big", 1)
    [old] = w.claim_names()
    run_until(w, lambda: bool(w.disruption.executing), step=1.0)
    w.run(10)
    _rolled_back(w, old)
    assert w.disruption.aborted == ["replacement nodeclaims did not initialize in time"]
    assert len(w.running()) == 1  # the pod never moved


class ReplaceMarked:
    """A drift-like method: replaces claims annotated ``test/replace``, without validation."""

    name = "replace-marked"
    reason = DRIFTED

    def __init__(self, rescheduler: Rescheduler) -> None:
        self._rescheduler = rescheduler
        self.calls = 0

    def should_disrupt(self, candidate: Candidate) -> bool:
        return "test/replace" in (candidate.claim["metadata"].get("annotations") or {})

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        self.calls += 1
        for c in candidates:
            if budgets.take(c.nodepool, self.reason):
                plan = self._rescheduler.simulate([c])
                return Command((c,), self.reason, self.name, plan.new_claims)
        return None


def test_methods_plug_in_between_emptiness_and_consolidation_and_may_skip_validation() -> None:
    w = dworld(extra=[big(1)])
    r = w.disruption.rescheduler
    w.disruption.methods = standard_methods(r, drift=ReplaceMarked(r))
    assert [m.name for m in w.disruption.methods] == [
        "emptiness",
        "replace-marked",
        "multi-node-consolidation",
        "single-node-consolidation",
    ]
    settle(w)
    [old] = w.claim_names()
    claim = w.client.get("karpenter.sh/v1", "NodeClaim", old)
    claim["metadata"]["annotations"] = {"test/replace": "yes"}
    w.client.update(claim)
    run_until(w, lambda: old not in w.claim_names())
    [command] = w.disruption.history
    assert command.reason == DRIFTED and len(command.replacements) == 1
    assert w.disruption.pending is None  # no validation period was needed
    run_until(w, lambda: len(w.running()) == 1)
    assert len(w.claim_names()) == 1
    assert w.messages("DisruptionTerminating") == ["Disrupting NodeClaim: Drifted"]


def test_a_node_whose_pods_would_need_two_cheaper_nodes_is_not_replaced() -> None:
    # two 1700Mi pods fit a t3.large ($0.0832) but need two t4g.medium ($0.0336 each); the
    # simulation packs as Karpenter's scheduler does (both on one claim, which only a t3.large
    # holds), so the replacement is no cheaper
    w = dworld(pool=pool_with(types=["t3.large"]))
    w.create(make_deployment("pair", replicas=2, cpu="250m", memory="1700Mi"))
    settle(w)
    assert w.instance_types() == ["t3.large"]
    pool = w.pool()
    pool["spec"]["template"]["spec"]["requirements"][0]["values"] = ["t3.large", "t4g.medium"]
    w.client.update(pool)
    w.run(5 * 60)
    assert w.instance_types() == ["t3.large"]
    assert w.disruption.history == []
    assert "can't replace with a lower-priced node" in w.messages("Unconsolidatable")


def test_a_pass_that_found_nothing_is_repeated_only_on_a_change_or_after_the_ttl() -> None:
    # a t3.large two pods need whole: nothing to consolidate
    options = DisruptionOptions(consolidation_ttl=200.0)
    w = dworld(pool=pool_with(types=["t3.large"]), options=options)
    w.create(make_deployment("pair", replicas=2, cpu="250m", memory="1700Mi"))
    settle(w)
    single = w.disruption.methods[-1]
    assert single.name == "single-node-consolidation"
    computed: list[float] = []
    original = single.compute

    def counting(candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        computed.append(w.elapsed())
        return original(candidates, budgets)

    single.compute = counting  # type: ignore[method-assign]
    w.run(30)
    seen = len(computed)
    assert seen <= 1  # at most the pass that found nothing
    for _ in range(4):  # status writes that change nothing a simulation reads
        for node in w.live_nodes():
            node["status"]["conditions"][0]["lastHeartbeatTime"] = "2030-01-01T00:00:00Z"
            w.client.update_status(node)
        for pod in w.pods():
            pod["status"]["conditions"][0]["lastProbeTime"] = "2030-01-01T00:00:00Z"
            w.client.update_status(pod)
        w.run(15)
    assert len(computed) == seen
    w.run(120)  # past the TTL of the idle pass, with nothing changed: evaluated again
    assert len(computed) == seen + 1
    w.scale("pair", 3)  # a pod lands on a node: evaluated again at once
    w.run(30)
    assert len(computed) >= seen + 2
