"""The invariant checker: each invariant caught on a situation built by hand, and a healthy
autoscaled run — with an expiry and a spot interruption in it — checked at every step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shipyard.autoscaler.disruption.drift import Drift
from shipyard.autoscaler.disruption.types import BudgetMap, Candidate, Command
from shipyard.cloud.fake import FakeCloud
from shipyard.cloud.provider import LaunchRequest
from shipyard.cluster.client import EmbeddedClient
from shipyard.core.clock import VirtualClock, format_time
from shipyard.core.objects import Obj
from shipyard.core.requirements import Requirements
from shipyard.platform.wiring import memory_cluster
from shipyard.sim.invariants import (
    DISRUPTION_REASON,
    InvariantChecker,
    InvariantViolation,
    run_checked,
)
from tests.autoscaler.test_expiration import disruption_world
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass
from tests.cluster.fixtures import make_deployment, make_node, make_pdb, make_pod, merge
from tests.platform.test_autoscaling_helpers import KARPENTER, catalog, nodepool, web

# --- a bare cluster: no controllers run, so a situation stays as the test builds it ------------


class Bare:
    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.client = EmbeddedClient(memory_cluster(self.clock))
        self.cloud = FakeCloud(catalog(self.clock), self.clock)
        self.client.create(make_nodeclass())

    def checker(self, *kinds: str, **options: Any) -> InvariantChecker:
        return InvariantChecker(self.client, self.cloud, kinds=kinds, **options)

    def claim(self, name: str, *, node: str = "") -> Obj:
        claim: Obj = {
            "apiVersion": KARPENTER,
            "kind": "NodeClaim",
            "metadata": {
                "name": name,
                "labels": {"karpenter.sh/nodepool": "default"},
                "finalizers": ["test.shipyard.dev/hold"],
            },
            "spec": {
                "requirements": [],
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": "default",
                },
            },
        }
        created = self.client.create(claim)
        if node:
            created["status"] = {"nodeName": node}
            created = self.client.update_status(created)
        return created

    def disrupt(self, name: str, reason: str) -> None:
        claim = self.client.get(KARPENTER, "NodeClaim", name)
        claim.setdefault("status", {})["conditions"] = [
            {
                "type": DISRUPTION_REASON,
                "status": "True",
                "reason": reason,
                "message": "",
                "lastTransitionTime": format_time(self.clock.now()),
            }
        ]
        self.client.update_status(claim)
        self.client.delete(KARPENTER, "NodeClaim", name)

    def ready_pod(self, name: str, node: str, **overrides: Any) -> Obj:
        pod = self.client.create(
            make_pod(
                name,
                **merge(
                    {
                        "metadata": {"finalizers": ["test.shipyard.dev/hold"]},
                        "spec": {"nodeName": node},
                    },
                    overrides,
                ),
            )
        )
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        return self.client.update_status(pod)


def budget_pool(*budgets: Obj) -> Obj:
    return merge(
        nodepool(), {"spec": {"disruption": {"consolidateAfter": "0s", "budgets": list(budgets)}}}
    )


def kinds_of(error: InvariantViolation) -> list[str]:
    return [v.kind for v in error.violations]


def test_a_disruption_beyond_the_budget_is_caught() -> None:
    bare = Bare()
    bare.client.create(budget_pool({"nodes": "1"}))
    for name in ("a", "b", "c"):
        bare.claim(name)
    checker = bare.checker("budget")
    bare.disrupt("a", "Drifted")
    checker.check()  # one disrupting of one allowed
    bare.disrupt("b", "Underutilized")
    with pytest.raises(InvariantViolation) as caught:
        checker.check()
    [violation] = caught.value.violations
    assert violation.subject == "NodePool default"
    assert "2 of 3 nodes disrupting [a, b]" in violation.message
    assert 'budget nodes "1" allows 1' in violation.message
    checker.check()  # each disruption is judged once, when it starts


def test_forceful_disruptions_count_but_are_not_limited() -> None:
    bare = Bare()
    bare.client.create(budget_pool({"nodes": "1"}))
    for name in ("a", "b", "c"):
        bare.claim(name)
    checker = bare.checker("budget")
    bare.disrupt("a", "Expired")
    bare.disrupt("b", "Interrupted")
    checker.check()
    bare.disrupt("c", "Empty")
    with pytest.raises(InvariantViolation, match="3 of 3 nodes disrupting"):
        checker.check()


def test_a_scheduled_budget_only_binds_while_active() -> None:
    bare = Bare()
    hour = int(bare.clock.now() // 3600 % 24)
    blocked = {
        "nodes": "0",
        "schedule": f"0 {hour} * * *",
        "duration": "1h",
        "reasons": ["Drifted"],
    }
    bare.client.create(budget_pool(blocked))
    for name in ("a", "b"):
        bare.claim(name)
    checker = bare.checker("budget")
    bare.disrupt("a", "Empty")  # the budget names Drifted only
    checker.check()
    bare.disrupt("b", "Drifted")
    with pytest.raises(InvariantViolation, match='budget nodes "0" allows 0'):
        checker.check()


def test_a_pdb_broken_by_draining_a_disrupted_node_is_caught() -> None:
    bare = Bare()
    taint = {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}
    bare.client.create(merge(make_node("n1"), {"spec": {"taints": [taint]}}))
    bare.client.create(make_node("n2"))
    bare.client.create(make_pdb("web", match_labels={"app": "web"}, min_available=2))
    for name, node in (("web-1", "n1"), ("web-2", "n1"), ("web-3", "n2")):
        bare.ready_pod(name, node)
    checker = bare.checker("pdb")
    bare.client.delete("v1", "Pod", "web-1", namespace="default")  # evicted: 2 healthy of 2
    checker.check()
    bare.client.delete("v1", "Pod", "web-3", namespace="default")  # lost elsewhere: not ours
    checker.check()
    bare.client.delete("v1", "Pod", "web-2", namespace="default")  # evicted with 0 of 2 left
    with pytest.raises(InvariantViolation) as caught:
        checker.check()
    [violation] = caught.value.violations
    assert violation.subject == "PodDisruptionBudget default/web"
    assert violation.message == "0 healthy pods, 2 required, after [web-2] left disrupted nodes"


def test_pods_deleted_at_the_termination_grace_deadline_are_exempt() -> None:
    bare = Bare()
    taint = {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}
    bare.client.create(merge(make_node("n1"), {"spec": {"taints": [taint]}}))
    bare.client.create(make_pdb("web", match_labels={"app": "web"}, min_available=1))
    bare.ready_pod("web-1", "n1", spec={"terminationGracePeriodSeconds": 30})
    claim = bare.client.create(
        merge(
            {"apiVersion": KARPENTER, "kind": "NodeClaim"},
            {
                "metadata": {"name": "c", "finalizers": ["test.shipyard.dev/hold"]},
                "spec": {
                    "requirements": [],
                    "terminationGracePeriod": "60s",
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                },
            },
        )
    )
    claim["status"] = {"nodeName": "n1"}
    bare.client.update_status(claim)
    bare.client.delete(KARPENTER, "NodeClaim", "c")
    bare.clock.advance(30)  # the pod's 30 s grace now ends exactly at the claim's deadline
    bare.client.delete("v1", "Pod", "web-1", namespace="default")
    bare.checker("pdb").check()


def test_a_pod_pending_too_long_and_a_short_replica_set_are_caught() -> None:
    bare = Bare()
    rs = bare.client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": make_pod("t")["spec"],
                },
            },
        }
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-1",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    bare.client.create(make_pod("web-1-a", metadata={"ownerReferences": [owner]}))
    bare.client.create(make_pod("web-1-b", metadata={"ownerReferences": [owner]}))
    bare.client.create(make_pod("lonely"))  # no controller: nobody would replace it anyway
    checker = bare.checker("pod", pending_bound=60)
    checker.check()
    bare.clock.advance(60)
    checker.check()
    bare.clock.advance(1)
    with pytest.raises(InvariantViolation) as caught:
        checker.check()
    subjects = sorted(v.subject for v in caught.value.violations)
    assert subjects == ["Pod default/web-1-a", "Pod default/web-1-b", "ReplicaSet default/web-1"]
    [short] = [v for v in caught.value.violations if v.subject.startswith("ReplicaSet")]
    assert short.message.startswith("2 of 3 pods for 61s: a pod was lost without a replacement")


def test_an_instance_billed_without_a_claim_is_caught_after_the_gc_interval() -> None:
    bare = Bare()
    types = bare.cloud.instance_types({}, None)[:1]
    instance = bare.cloud.create(LaunchRequest("gone", "default", types, Requirements()))
    checker = bare.checker("instance")
    assert checker.orphan_bound == 40.0  # the collector's 30 s grace plus its 10 s period
    checker.check()
    bare.clock.advance(40)
    checker.check()
    bare.clock.advance(1)
    with pytest.raises(InvariantViolation, match=f"instance {instance.provider_id}"):
        checker.check()
    bare.cloud.delete(instance.provider_id)
    checker.check()


def test_unknown_kinds_are_refused() -> None:
    bare = Bare()
    with pytest.raises(ValueError, match="unknown invariant kinds"):
        bare.checker("budgets")


def test_the_error_lists_every_violation() -> None:
    bare = Bare()
    types = bare.cloud.instance_types({}, None)[:1]
    bare.cloud.create(LaunchRequest("x", "default", types, Requirements()))
    bare.cloud.create(LaunchRequest("y", "default", types, Requirements()))
    checker = bare.checker("instance", orphan_bound=0)
    checker.check()
    bare.clock.advance(1)
    with pytest.raises(InvariantViolation) as caught:
        checker.check()
    assert kinds_of(caught.value) == ["instance", "instance"]
    assert str(caught.value).startswith("2 invariant violation(s) at t=")


# --- a healthy autoscaled run ------------------------------------------------------------------


def test_a_healthy_run_with_expiry_and_a_spot_interruption_keeps_every_invariant() -> None:
    pool = merge(
        nodepool(capacity_types=("spot",)), {"spec": {"template": {"spec": {"expireAfter": "10m"}}}}
    )
    w = disruption_world(
        pool=pool,
        extra=[web(replicas=3), make_pdb("web", match_labels={"app": "web"}, min_available=2)],
    )
    checker = InvariantChecker(w.client, w.cloud, pending_bound=120)
    assert run_checked(w.auto, checker, 120, step=1.0) == 120
    [claim] = w.live_claims()
    w.cloud.interrupt_spot(w.instance_id(claim))
    run_checked(w.auto, checker, 900, step=5.0)  # the interruption, then the expiry of the next
    assert w.interruption.handled[0] == ("spot-interruption", claim["metadata"]["name"])
    assert len(w.expiration.expired) == 1
    assert len(w.running_pods()) == 3
    assert checker.checks == 120 + 180


def test_run_checked_stops_at_the_first_violation() -> None:
    w = disruption_world(extra=[web(replicas=1)])
    # an instance nobody claims, launched behind the autoscaler's back and never collected
    w.auto.cluster.manager.stop()
    types = w.cloud.instance_types({}, make_nodeclass())[:1]
    w.cloud.create(LaunchRequest("stray", "", types, Requirements()))
    checker = InvariantChecker(w.client, w.cloud, kinds=("instance",))
    with pytest.raises(InvariantViolation, match="billed without a NodeClaim"):
        run_checked(w.auto, checker, 300, step=10.0)
    assert 5 <= checker.checks < 30


class GreedyDrift(Drift):
    """A drift method that forgets the budgets: every drifted node at once."""

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        return Command(tuple(candidates), "Drifted", "drift") if candidates else None


def test_a_disruption_controller_that_ignores_budgets_is_caught_in_a_live_run() -> None:
    disruption = {"consolidateAfter": "Never", "budgets": [{"nodes": "1", "reasons": ["Drifted"]}]}
    pool = merge(nodepool(), {"spec": {"disruption": disruption}})
    one_per_node = make_deployment("web", replicas=3, cpu="1200m", memory="512Mi")
    w = disruption_world(pool=pool, extra=[one_per_node], disruption=True, drift_method=GreedyDrift)
    w.run(60)
    w.cloud.account.publish_ami("al2023")
    with pytest.raises(InvariantViolation) as caught:
        w.run(300)
    [violation] = caught.value.violations
    assert violation.kind == "budget"
    assert "3 of 3 nodes disrupting" in violation.message
    assert 'budget nodes "1" allows 1' in violation.message
