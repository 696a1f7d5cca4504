"""Drift: hashes of the NodePool template and the node class, requirements judged by value, the
cloud's AMI drift; the Drifted condition in a running cluster; the drift method's commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.disruption.drift import (
    DRIFTED_CONDITION,
    NODECLASS_HASH,
    NODEPOOL_HASH,
    NODEPOOL_HASH_VERSION,
    Drift,
    DriftFacts,
    drift_reason,
    nodeclass_hash,
    nodepool_hash,
    requirements_drift,
)
from shipyard.autoscaler.disruption.types import BudgetMap, Candidate
from shipyard.autoscaler.provisioning import PlannedClaim, Results
from shipyard.cluster.podutil import condition
from shipyard.core.objects import Obj
from shipyard.core.requirements import Requirements
from tests.autoscaler.test_expiration import DisruptionWorld, disruption_world
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass, requirement
from tests.cluster.fixtures import make_deployment, merge
from tests.platform.test_autoscaling_helpers import INSTANCE_TYPE, KARPENTER, nodepool, web

# --- hashes -------------------------------------------------------------------------------------


def with_template(pool: Obj, **spec: Any) -> Obj:
    return merge(pool, {"spec": {"template": {"spec": spec}}})


def test_the_pool_hash_ignores_requirements_and_behavioural_fields() -> None:
    base = nodepool()
    other_requirements = with_template(
        base, requirements=[requirement(INSTANCE_TYPE, "In", ["t3.large"])]
    )
    behavioural = merge(base, {"spec": {"weight": 10, "limits": {"cpu": "100"}}})
    assert nodepool_hash(other_requirements) == nodepool_hash(base)
    assert nodepool_hash(behavioural) == nodepool_hash(base)


def test_the_pool_hash_changes_with_static_template_fields() -> None:
    base = nodepool()
    labelled = merge(base, {"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}})
    tainted = with_template(base, taints=[{"key": "gpu", "effect": "NoSchedule"}])
    expiring = with_template(base, expireAfter="1h")
    hashes = {nodepool_hash(p) for p in (base, labelled, tainted, expiring)}
    assert len(hashes) == 4


def test_the_pool_hash_applies_defaults_first() -> None:
    assert nodepool_hash(with_template(nodepool(), expireAfter="720h")) == nodepool_hash(nodepool())


def test_the_class_hash_ignores_selector_terms_only() -> None:
    base = make_nodeclass()
    other_ami = merge(base, {"spec": {"amiSelectorTerms": [{"alias": "al2023@v20250101"}]}})
    other_tags = merge(base, {"spec": {"tags": {"team": "data"}}})
    assert nodeclass_hash(other_ami) == nodeclass_hash(base)
    assert nodeclass_hash(other_tags) != nodeclass_hash(base)


def test_requirements_drift_judges_labels_by_value() -> None:
    labels = {INSTANCE_TYPE: "t3.medium", "karpenter.sh/nodepool": "default"}
    wider = NodePoolView.from_object(nodepool(types=("t3.medium", "t3.xlarge")))
    narrower = NodePoolView.from_object(nodepool(types=("t3.large",)))
    assert requirements_drift(wider, labels) is None
    why = requirements_drift(narrower, labels)
    assert why is not None and "t3.medium" in why


def claim_from(pool: Obj, labels: dict[str, str] | None = None) -> Obj:
    return {
        "metadata": {
            "name": "default-abc",
            "labels": labels or {INSTANCE_TYPE: "t3.medium", "karpenter.sh/nodepool": "default"},
            "annotations": {NODEPOOL_HASH: nodepool_hash(pool), NODEPOOL_HASH_VERSION: "v1"},
        }
    }


def test_drift_reason_order_and_version() -> None:
    pool = nodepool()
    changed = merge(pool, {"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}})
    claim = claim_from(pool)
    assert drift_reason(DriftFacts.of(claim, pool)) == ("", "")
    reason, message = drift_reason(DriftFacts.of(claim, changed))
    assert reason == "NodePoolDrifted" and 'NodePool "default" template changed' in message
    old_version = merge(claim, {"metadata": {"annotations": {NODEPOOL_HASH_VERSION: "v0"}}})
    # a claim hashed under another scheme is re-stamped, never drifted by the hash
    facts = DriftFacts.of(old_version, changed)
    assert drift_reason(facts)[0] == ""
    cloud = DriftFacts.of(claim, pool, cloud_drift="AMIDrift")
    assert drift_reason(cloud)[0] == "AMIDrift"


# --- in the cluster --------------------------------------------------------------------------


def drifted(claim: Obj) -> tuple[str, str]:
    found = condition(claim, DRIFTED_CONDITION) or {}
    return str(found.get("status") or ""), str(found.get("reason") or "")


def running_world(**kwargs: Any) -> tuple[DisruptionWorld, Obj]:
    w = disruption_world(extra=[web(replicas=1)], **kwargs)
    w.run(60)
    [claim] = w.claims()
    return w, claim


def test_claims_and_pools_carry_the_hashes_and_a_fresh_claim_is_not_drifted() -> None:
    w, claim = running_world()
    pool = w.pool()
    annotations = claim["metadata"]["annotations"]
    assert annotations[NODEPOOL_HASH] == nodepool_hash(pool)
    assert pool["metadata"]["annotations"][NODEPOOL_HASH] == nodepool_hash(pool)
    node_class = w.client.get("karpenter.k8s.aws/v1", "EC2NodeClass", "default")
    assert annotations[NODECLASS_HASH] == nodeclass_hash(node_class)
    assert drifted(claim) == ("", "")


def test_a_changed_pool_template_drifts_the_claim() -> None:
    w, claim = running_world()
    pool = w.pool()
    pool["spec"]["template"].setdefault("metadata", {})["labels"] = {"team": "payments"}
    w.client.update(pool)
    w.run(1)
    now = w.client.get(KARPENTER, "NodeClaim", claim["metadata"]["name"])
    assert drifted(now) == ("True", "NodePoolDrifted")
    # and back: the template as it was, the condition goes
    pool = w.pool()
    del pool["spec"]["template"]["metadata"]["labels"]
    w.client.update(pool)
    w.run(1)
    assert drifted(w.client.get(KARPENTER, "NodeClaim", claim["metadata"]["name"])) == ("", "")


def test_requirements_that_exclude_the_claim_drift_it_and_wider_ones_do_not() -> None:
    w, claim = running_world()
    its_type = claim["metadata"]["labels"][INSTANCE_TYPE]
    pool = w.pool()
    wider = ["t3.medium", "t3.large", "t4g.medium", "t4g.large", "t3.xlarge"]
    pool["spec"]["template"]["spec"]["requirements"][0] = requirement(INSTANCE_TYPE, "In", wider)
    w.client.update(pool)
    w.run(1)
    assert drifted(w.client.get(KARPENTER, "NodeClaim", claim["metadata"]["name"])) == ("", "")
    pool = w.pool()
    others = [t for t in wider if t != its_type]
    pool["spec"]["template"]["spec"]["requirements"][0] = requirement(INSTANCE_TYPE, "In", others)
    w.client.update(pool)
    w.run(1)
    now = w.client.get(KARPENTER, "NodeClaim", claim["metadata"]["name"])
    assert drifted(now) == ("True", "RequirementsDrifted")
    assert its_type in str((condition(now, DRIFTED_CONDITION) or {}).get("message"))


def test_a_published_ami_drifts_the_claim_at_the_next_poll() -> None:
    w, claim = running_world(drift_poll=300.0)  # polls at 1 s, 301 s, ...
    w.cloud.account.publish_ami("al2023")
    w.run(1)
    name = claim["metadata"]["name"]
    assert drifted(w.client.get(KARPENTER, "NodeClaim", name)) == ("", "")  # no object changed
    w.run_until(302)
    assert drifted(w.client.get(KARPENTER, "NodeClaim", name)) == ("True", "AMIDrift")


def test_a_changed_node_class_drifts_the_claim() -> None:
    w, claim = running_world()
    node_class = w.client.get("karpenter.k8s.aws/v1", "EC2NodeClass", "default")
    node_class["spec"]["tags"] = {"team": "data"}
    w.client.update(node_class)
    w.run(1)
    now = w.client.get(KARPENTER, "NodeClaim", claim["metadata"]["name"])
    assert drifted(now) == ("True", "NodeClassDrifted")


# --- the drift method ----------------------------------------------------------------------------


class FakeRescheduler:
    """Answers from a table: candidate name -> (new claims, errors)."""

    def __init__(self, answers: dict[str, Results]) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []

    def simulate(self, candidates: Sequence[Candidate]) -> Results:
        names = [c.name for c in candidates]
        self.asked.append(names)
        return self.answers[names[0]]


POOL = NodePoolView.from_object(nodepool())


def candidate(name: str, *, pods: int = 1, cost: float = 1.0, drifted: bool = True) -> Candidate:
    conditions = (
        [{"type": DRIFTED_CONDITION, "status": "True", "reason": "AMIDrift"}] if drifted else []
    )
    return Candidate(
        claim={"metadata": {"name": name}, "status": {"conditions": conditions}},
        node={"metadata": {"name": f"node-{name}"}},
        pool=POOL,
        pods=tuple({"metadata": {"name": f"{name}-pod-{i}"}} for i in range(pods)),
        price=0.05,
        instance_type="t3.medium",
        capacity_type="on-demand",
        zone="us-east-1b",
        disruption_cost=cost,
    )


def planned(price: float = 0.04) -> PlannedClaim:
    return PlannedClaim("default", Requirements(), (), (), price, {}, {})


def results(*, new: int = 0, errors: dict[str, str] | None = None) -> Results:
    return Results(tuple(planned() for _ in range(new)), {}, errors or {})


def budgets(allowed: int) -> BudgetMap:
    return BudgetMap({("default", "Drifted"): allowed})


def test_the_method_takes_drifted_candidates_only() -> None:
    method = Drift(FakeRescheduler({}))
    assert method.should_disrupt(candidate("a"))
    assert not method.should_disrupt(candidate("b", drifted=False))


def test_empty_drifted_nodes_go_together_within_the_budget() -> None:
    rescheduler = FakeRescheduler({})
    empties = [candidate(n, pods=0) for n in ("a", "b", "c")]
    command = Drift(rescheduler).compute(empties, budgets(2))
    assert command is not None
    assert [c.name for c in command.candidates] == ["a", "b"]
    assert (command.reason, command.method, command.decision()) == ("Drifted", "drift", "delete")
    assert rescheduler.asked == []


def test_a_drifted_node_is_replaced_when_its_pods_fit_and_skipped_when_not() -> None:
    rescheduler = FakeRescheduler(
        {"a": results(errors={"default/a-pod-0": "no"}), "b": results(new=1)}
    )
    spent = budgets(1)
    command = Drift(rescheduler).compute(
        [candidate("b", cost=2.0), candidate("a", cost=1.0)], spent
    )
    assert rescheduler.asked == [["a"], ["b"]]  # cheapest to disrupt first
    assert command is not None
    assert [c.name for c in command.candidates] == ["b"]
    assert command.decision() == "replace" and len(command.replacements) == 1
    assert command.savings == 0.05 - 0.04
    assert spent.remaining("default", "Drifted") == 0


def test_no_budget_no_command() -> None:
    rescheduler = FakeRescheduler({"a": results(new=1)})
    assert Drift(rescheduler).compute([candidate("a"), candidate("e", pods=0)], budgets(0)) is None
    assert rescheduler.asked == []


# --- end to end: the disruption controller replaces drifted nodes ------------------------------


def tainted(w: DisruptionWorld, node: str) -> bool:
    taints = w.client.get("v1", "Node", node)["spec"].get("taints") or []
    return any(t["key"] == "karpenter.sh/disrupted" for t in taints)


def quiet_pool(**overrides: Any) -> Obj:
    """The acceptance pool without consolidation, so that only drift disrupts."""
    return merge(nodepool(**overrides), {"spec": {"disruption": {"consolidateAfter": "Never"}}})


def test_a_node_drifted_by_a_pool_change_is_replaced_before_it_is_drained() -> None:
    w = disruption_world(pool=quiet_pool(), extra=[web(replicas=2)], disruption=True)
    w.run(60)
    [old] = w.claims()
    pool = w.pool()
    pool["spec"]["template"].setdefault("metadata", {})["labels"] = {"team": "payments"}
    w.client.update(pool)
    node = old["status"]["nodeName"]
    waited = 0
    while not tainted(w, node) and waited < 30:  # marked at once; a pass (every 10 s) decides
        w.run(2)
        waited += 2
    assert tainted(w, node)
    # the old node keeps its pods until the replacement is initialized
    claims = {c["metadata"]["name"]: c for c in w.claims()}
    assert not claims[old["metadata"]["name"]]["metadata"].get("deletionTimestamp")
    assert len(claims) == 2
    assert {p["spec"]["nodeName"] for p in w.running_pods()} == {node}
    w.run(120)
    [decided] = w.disruption.history if w.disruption else []
    assert (decided.reason, decided.method, decided.decision()) == ("Drifted", "drift", "replace")
    assert [c.name for c in decided.candidates] == [old["metadata"]["name"]]
    [new] = w.claims()
    assert new["metadata"]["name"] != old["metadata"]["name"]
    assert new["metadata"]["labels"]["team"] == "payments"
    assert drifted(new) == ("", "")
    assert {p["spec"]["nodeName"] for p in w.running_pods()} == {new["status"]["nodeName"]}
    assert len(w.running_pods()) == 2


def test_drift_after_an_ami_release_rolls_nodes_one_at_a_time_within_the_budget() -> None:
    budget = {"spec": {"disruption": {"budgets": [{"nodes": "1", "reasons": ["Drifted"]}]}}}
    pool = merge(quiet_pool(), budget)
    one_per_node = make_deployment("web", replicas=3, cpu="1200m", memory="512Mi")
    w = disruption_world(pool=pool, extra=[one_per_node], disruption=True)
    w.run(60)
    old = {c["metadata"]["name"] for c in w.claims()}
    assert len(old) == 3
    image = w.cloud.account.publish_ami("al2023")
    w.run(2)  # the drift poll (every 60 s, from 1 s on) marks all three
    marked = [c for c in w.claims() if drifted(c) == ("True", "AMIDrift")]
    assert len(marked) == 3
    w.run(600)  # the invariant checker holds the budget to one node at a time, every step
    live = w.live_claims()
    assert len(live) == 3 and not old & {c["metadata"]["name"] for c in live}
    assert {c["status"]["imageID"] for c in live} == {image.id}
    assert [c.reason for c in (w.disruption.history if w.disruption else [])] == ["Drifted"] * 3
    assert w.checker.disruptions == 3  # each judged against the budget when it started
    assert len(w.running_pods()) == 3
