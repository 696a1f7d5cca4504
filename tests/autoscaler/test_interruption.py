"""Interruption: each message kind of the cloud's stream, end to end on SimulatedCloud — spot
warnings drain the node and mark the offering unavailable while a replacement launches,
rebalance recommendations are events only, maintenance, stops and terminations drain."""

from __future__ import annotations

import pytest

from shipyard.autoscaler.disruption.expiration import DISRUPTION_REASON
from shipyard.autoscaler.interruption import reaction
from shipyard.cloud.provider import Interruption
from shipyard.cluster.podutil import condition
from shipyard.core.objects import Obj
from tests.autoscaler.test_expiration import DisruptionWorld, disruption_world
from tests.cluster.fixtures import make_pdb
from tests.platform.test_autoscaling_helpers import (
    CAPACITY_TYPE,
    INSTANCE_TYPE,
    ZONE,
    nodepool,
    web,
)

# --- the table ---------------------------------------------------------------------------------


def message(kind: str, state: str = "") -> Interruption:
    return Interruption(kind, "i-1", "aws:///us-east-1b/i-1", 0.0, state=state)


@pytest.mark.parametrize(
    ("kind", "state", "reason", "delete"),
    [
        ("spot-interruption", "", "SpotInterrupted", True),
        ("rebalance", "", "RebalanceRecommendation", False),
        ("scheduled-change", "", "InstanceUnhealthy", True),
        ("state-change", "stopping", "InstanceStopping", True),
        ("state-change", "stopped", "InstanceStopping", True),
        ("state-change", "shutting-down", "InstanceTerminating", True),
        ("state-change", "terminated", "InstanceTerminating", True),
    ],
)
def test_each_message_kind_has_its_reaction(
    kind: str, state: str, reason: str, delete: bool
) -> None:
    found = reaction(message(kind, state))
    assert found is not None
    assert (found.reason, found.delete) == (reason, delete)
    assert found.mark_spot_unavailable == (kind == "spot-interruption")


@pytest.mark.parametrize(
    ("kind", "state"), [("state-change", "running"), ("state-change", "pending"), ("other", "")]
)
def test_messages_that_need_nothing(kind: str, state: str) -> None:
    assert reaction(message(kind, state)) is None


# --- end to end -----------------------------------------------------------------------------------


def spot_world(replicas: int = 2) -> tuple[DisruptionWorld, Obj]:
    w = disruption_world(pool=nodepool(capacity_types=("spot",)), extra=[web(replicas=replicas)])
    w.run(60)
    [claim] = w.claims()
    assert claim["metadata"]["labels"][CAPACITY_TYPE] == "spot"
    assert len(w.running_pods()) == replicas
    return w, claim


def claim_named(w: DisruptionWorld, name: str) -> Obj | None:
    found = [c for c in w.claims() if c["metadata"]["name"] == name]
    return found[0] if found else None


def reasons_on(w: DisruptionWorld, name: str) -> list[str]:
    return [e["reason"] for e in w.events() if e["involvedObject"]["name"] == name]


def expect_drained_and_replaced(w: DisruptionWorld, old: Obj, replicas: int = 2) -> Obj:
    name = old["metadata"]["name"]
    w.run(180)
    assert claim_named(w, name) is None  # terminated and released
    [replacement] = w.live_claims()
    running = w.running_pods()
    assert len(running) == replicas
    assert {p["spec"]["nodeName"] for p in running} == {replacement["status"]["nodeName"]}
    return replacement


def test_a_spot_warning_drains_at_once_marks_the_offering_and_loses_no_pod() -> None:
    w, claim = spot_world()
    name, node = claim["metadata"]["name"], claim["status"]["nodeName"]
    labels = claim["metadata"]["labels"]
    offering = (labels[INSTANCE_TYPE], labels[ZONE], "spot")
    w.cloud.interrupt_spot(w.instance_id(claim))
    w.run(2)  # the next poll
    deleted = claim_named(w, name)
    assert deleted is not None and deleted["metadata"].get("deletionTimestamp")
    why = condition(deleted, DISRUPTION_REASON) or {}
    assert why.get("reason") == "Interrupted"
    assert "SpotInterrupted" in reasons_on(w, node)
    assert {"SpotInterrupted", "TerminatingOnInterruption"} <= set(reasons_on(w, name))
    unavailable = w.auto.unavailable
    assert unavailable is not None and unavailable.is_unavailable(*offering)
    assert w.interruption.handled == [("spot-interruption", name)]
    # the replacement is launched while the old node drains, well before the 2-minute reclaim
    w.run(30)
    [replacement] = w.live_claims()
    assert replacement["metadata"]["labels"][INSTANCE_TYPE] != offering[0]
    new = expect_drained_and_replaced(w, claim)
    assert new["metadata"]["name"] == replacement["metadata"]["name"]
    # the mark lapses after 3 minutes
    w.run(60)
    assert not unavailable.is_unavailable(*offering)


def test_a_rebalance_recommendation_is_an_event_only() -> None:
    w, claim = spot_world()
    name = claim["metadata"]["name"]
    w.cloud.rebalance(w.instance_id(claim))
    w.run(10)
    [still] = w.live_claims()
    assert still["metadata"]["name"] == name
    assert "RebalanceRecommendation" in reasons_on(w, name)
    assert "RebalanceRecommendation" in reasons_on(w, claim["status"]["nodeName"])
    assert len(w.running_pods()) == 2
    assert w.interruption.handled == [("rebalance", name)]


def test_a_scheduled_change_drains_the_node() -> None:
    w, claim = spot_world()
    w.cloud.scheduled_change(w.instance_id(claim))
    w.run(2)
    assert "InstanceUnhealthy" in reasons_on(w, claim["metadata"]["name"])
    expect_drained_and_replaced(w, claim)


def test_a_stopped_instance_is_drained_and_replaced() -> None:
    w, claim = spot_world()
    w.cloud.stop_externally(w.instance_id(claim))
    w.run(2)
    assert "InstanceStopping" in reasons_on(w, claim["metadata"]["name"])
    expect_drained_and_replaced(w, claim)


def test_an_instance_terminated_outside_is_drained_and_replaced() -> None:
    w, claim = spot_world()
    w.cloud.terminate_externally(w.instance_id(claim))
    w.run(2)
    assert "InstanceTerminating" in reasons_on(w, claim["metadata"]["name"])
    expect_drained_and_replaced(w, claim)


def test_messages_about_unknown_instances_are_dropped() -> None:
    w, claim = spot_world()
    unknown = Interruption("spot-interruption", "i-0", "aws:///us-east-1b/i-0", w.clock.now())
    w.interruption.handle([unknown])
    assert w.interruption.unmatched == 1
    assert w.interruption.handled == []
    [still] = w.live_claims()
    assert still["metadata"]["name"] == claim["metadata"]["name"]
    unavailable = w.auto.unavailable
    assert unavailable is not None and len(unavailable) == 0


def test_a_spot_drain_respects_the_pod_disruption_budget() -> None:
    budget = make_pdb("web", match_labels={"app": "web"}, min_available=2)
    w = disruption_world(pool=nodepool(capacity_types=("spot",)), extra=[web(replicas=3), budget])
    w.run(60)
    [claim] = w.claims()
    w.cloud.interrupt_spot(w.instance_id(claim))
    w.run(4)
    # one eviction: the other two wait until a replacement pod is ready elsewhere
    node = claim["status"]["nodeName"]
    assert len([p for p in w.running_pods() if p["spec"]["nodeName"] == node]) == 2
    assert len([p for p in w.pods() if not p["spec"].get("nodeName")]) == 1
    assert "FailedDraining" in reasons_on(w, claim["metadata"]["name"])
    expect_drained_and_replaced(w, claim, replicas=3)  # every step checked: the PDB held
    assert w.checker.departures == 3  # each of the three evictions was judged against it
