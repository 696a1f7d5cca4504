"""BaselineCluster end to end on SimulatedCloud, in virtual time: the Cluster-Autoscaler
baseline scales node groups up through its expanders with its launch latency model, respects
max and min, and scales under-used nodes down after 10 minutes — not while a PDB blocks — with
the evicted pods running again elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shipyard.autoscaler.baseline import (
    GROUP_LABEL,
    TO_BE_DELETED_TAINT,
    BaselineOptions,
    LaunchModel,
    NodeGroup,
)
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError
from shipyard.core.objects import Obj
from shipyard.platform.baseline import BaselineCluster
from shipyard.platform.wiring import memory_cluster
from tests.cluster.fixtures import make_deployment, make_pdb

FIXED = LaunchModel(jitter=0)


@dataclass
class World:
    baseline: BaselineCluster
    start: float

    def run_until(self, t: float) -> None:
        self.baseline.run_for(max(0.0, t - self.elapsed()))

    def elapsed(self) -> float:
        return self.baseline.clock.now() - self.start

    def nodes(self) -> list[Obj]:
        return list(self.baseline.client.list("v1", "Node").items)

    def ready_nodes(self) -> list[Obj]:
        return [n for n in self.nodes() if is_ready(n)]

    def pods(self) -> list[Obj]:
        return list(self.baseline.client.list("v1", "Pod", namespace="default").items)

    def running(self) -> list[Obj]:
        return [p for p in self.pods() if (p.get("status") or {}).get("phase") == "Running"]

    def desired(self, group: str = "general") -> int:
        return self.baseline.autoscaler.groups[group].desired

    def messages(self, reason: str) -> list[str]:
        events = self.baseline.client.list("v1", "Event").items
        return [str(e["message"]) for e in events if e["reason"] == reason]

    def scale(self, replicas: int, name: str = "web") -> None:
        self.baseline.client.patch(
            "apps/v1", "Deployment", name, {"spec": {"replicas": replicas}}, namespace="default"
        )


def is_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def world(
    groups: list[NodeGroup], *extra: Obj, launch: LaunchModel = FIXED, **options: Any
) -> World:
    clock = VirtualClock()
    baseline = BaselineCluster.in_memory(
        clock, groups=groups, options=BaselineOptions(launch=launch, **options)
    )
    for obj in extra:
        baseline.client.create(obj)
    w = World(baseline, clock.now())
    baseline.start()
    return w


def web(replicas: int, cpu: str = "1500m", memory: str = "1Gi") -> Obj:
    return make_deployment("web", replicas=replicas, cpu=cpu, memory=memory)


GENERAL = NodeGroup("general", "t3.xlarge", max_size=10)  # 3920m allocatable: two 1500m pods


# --- scale-up ---------------------------------------------------------------------------------


def test_scale_up_follows_the_launch_model_from_decision_to_a_ready_node() -> None:
    w = world([GENERAL], web(3))
    w.run_until(10)  # the scan after the pods turned unschedulable
    [up] = w.baseline.autoscaler.scale_ups
    assert (up.time - w.start, up.group, up.before, up.after, len(up.pods)) == (
        10,
        "general",
        0,
        2,
        3,
    )
    assert len(w.messages("TriggeredScaleUp")) == 3
    assert "{general 0->2 (max: 10)}" in w.messages("TriggeredScaleUp")[0]
    w.run_until(39.9)
    assert w.baseline.cloud.list() == []  # the ASG has not reacted yet
    w.run_until(40)
    assert [i.state for i in w.baseline.cloud.list()] == ["pending", "pending"]
    w.run_until(109.9)
    assert w.nodes() == []
    w.run_until(110)  # booted: the kubelet registers the nodes, not Ready yet
    assert len(w.nodes()) == 2 and w.ready_nodes() == []
    assert {n["metadata"]["labels"][GROUP_LABEL] for n in w.nodes()} == {"general"}
    w.run_until(159.9)
    assert w.ready_nodes() == []
    w.run_until(160)  # 150 s after the scale-up
    assert len(w.ready_nodes()) == 2
    w.run_until(175)
    assert len(w.running()) == 3
    assert len(w.baseline.autoscaler.scale_ups) == 1  # pods waiting on upcoming nodes wait


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_jitter_a_node_is_ready_two_to_three_minutes_after_the_scale_up(seed: int) -> None:
    w = world([GENERAL], web(1), launch=LaunchModel(seed=seed))
    ready_at = None
    for step in range(1, 400):
        w.run_until(step)
        if w.ready_nodes():
            ready_at = w.elapsed()
            break
    [up] = w.baseline.autoscaler.scale_ups
    assert ready_at is not None
    assert 120 <= ready_at - (up.time - w.start) <= 181


def test_the_launch_times_differ_between_seeds_and_repeat_within_one() -> None:
    def ready_time(seed: int) -> float:
        w = world([GENERAL], web(1), launch=LaunchModel(seed=seed))
        while not w.ready_nodes():
            w.run_until(w.elapsed() + 1)
        return w.elapsed()

    assert ready_time(5) == ready_time(5)
    assert len({ready_time(s) for s in (5, 6, 7)}) > 1


# Three groups of 4-vCPU types with 8, 16 and 32 GiB, and a small one-node group of t3.medium;
# three pods of 1500m / 2Gi.
EXPANDER_GROUPS = [
    NodeGroup("c5", "c5.xlarge", max_size=5),
    NodeGroup("m5", "m5.xlarge", max_size=5),
    NodeGroup("r5", "r5.xlarge", max_size=5),
    NodeGroup("small", "t3.medium", max_size=1),
]


def scale_up_with(expanders: tuple[str, ...], **options: Any) -> Any:
    w = world(EXPANDER_GROUPS, web(3, memory="2Gi"), expanders=expanders, **options)
    w.run_until(10)
    [up] = w.baseline.autoscaler.scale_ups
    return up


def test_least_waste_picks_the_group_left_with_the_least_idle_cpu_and_memory() -> None:
    up = scale_up_with(("least-waste",))
    waste = {o.group: o.waste() for o in up.options}
    assert sorted(waste) == ["c5", "m5", "r5", "small"]
    assert up.group == min(waste, key=lambda g: waste[g]) == "small"
    assert waste["c5"] < waste["m5"] < waste["r5"]  # same cpu, less memory left idle


def test_most_pods_then_least_waste_picks_the_tightest_group_holding_every_pod() -> None:
    up = scale_up_with(("most-pods", "least-waste"))
    assert (up.group, up.after, len(up.pods)) == ("c5", 2, 3)


def test_price_picks_the_cheapest_per_pod_scheduled() -> None:
    up = scale_up_with(("price",))
    per_pod = {o.group: o.price_per_pod() for o in up.options}
    assert up.group == min(per_pod, key=lambda g: per_pod[g])
    up = scale_up_with(("most-pods", "price"))
    assert up.group == "c5"  # of the groups holding all three pods, c5.xlarge is cheapest


def test_priority_picks_the_highest_priority_group() -> None:
    up = scale_up_with(("priority",), priorities={10: ["c5|m5"], 50: ["^r5$"]})
    assert up.group == "r5"


def test_random_is_seeded() -> None:
    picks = [scale_up_with(("random",), seed=s).group for s in range(4)]
    assert picks == [scale_up_with(("random",), seed=s).group for s in range(4)]
    assert len(set(picks)) > 1


def test_the_group_never_grows_past_its_max() -> None:
    w = world([NodeGroup("general", "t3.xlarge", max_size=1)], web(3))
    w.run_until(200)
    assert w.desired() == 1 and len(w.nodes()) == 1
    assert len(w.running()) == 2
    assert len(w.pods()) - len(w.running()) == 1
    assert any("general: max node group size reached" in m for m in w.messages("NotTriggerScaleUp"))
    assert len(w.baseline.autoscaler.scale_ups) == 1


def test_an_instance_terminated_outside_is_replaced_by_the_group() -> None:
    w = world([GENERAL], web(2))
    w.run_until(200)
    [instance] = w.baseline.cloud.list()
    w.baseline.cloud.terminate_externally(instance.instance_id)  # type: ignore[attr-defined]
    w.run_until(420)
    [replacement] = w.baseline.cloud.list()
    assert replacement.instance_id != instance.instance_id
    assert w.desired() == 1 and len(w.running()) == 2


# --- scale-down -------------------------------------------------------------------------------


def two_half_empty_nodes(*extra: Obj, group: NodeGroup = GENERAL) -> World:
    """Two pods of web (1500m each) on one t3.xlarge, then one pod of api on a second; web is
    then scaled to one: each node runs a single pod (38 % of its cpu) and either could go."""
    w = world([group], web(2), *extra)
    w.run_until(200)
    assert len(w.ready_nodes()) == 2 if group.min_size == 2 else len(w.ready_nodes()) == 1
    w.baseline.client.create(make_deployment("api", replicas=1, cpu="1500m", memory="1Gi"))
    w.run_until(400)
    assert len(w.ready_nodes()) == 2 and len(w.running()) == 3
    w.scale(1)
    w.run_until(440)
    assert len(w.running()) == 2
    assert len({p["spec"]["nodeName"] for p in w.running()}) == 2
    return w


def test_a_node_under_half_used_for_ten_minutes_is_drained_and_its_pod_runs_elsewhere() -> None:
    w = two_half_empty_nodes()
    since = min(w.baseline.autoscaler.unneeded_since.values()) - w.start
    assert 400 <= since <= 420
    w.run_until(since + 599)
    assert len(w.nodes()) == 2 and not w.baseline.autoscaler.draining
    w.run_until(since + 610)
    [down] = w.baseline.autoscaler.scale_downs
    assert not down.empty
    removed = down.node
    w.run_until(since + 700)
    assert [n["metadata"]["name"] for n in w.nodes()] != [removed]
    [kept] = w.nodes()
    assert len(w.running()) == 2
    assert {p["spec"]["nodeName"] for p in w.running()} == {kept["metadata"]["name"]}
    assert w.desired() == 1 and len(w.baseline.cloud.list()) == 1
    assert "marked the node as toBeDeleted/unschedulable" in w.messages("ScaleDown")
    assert len(w.messages("Evicted")) == 1
    w.run_until(since + 1500)
    assert len(w.nodes()) == 1  # the last node is at 77 %: it stays


def test_nothing_is_removed_while_a_pdb_allows_no_eviction() -> None:
    w = two_half_empty_nodes(make_pdb("web", max_unavailable=0), make_pdb("api", max_unavailable=0))
    w.run_until(1500)
    assert len(w.nodes()) == 2 and w.baseline.autoscaler.scale_downs == []
    assert w.baseline.autoscaler.unneeded_since == {}
    [api] = w.baseline.client.list("v1", "Pod", label_selector="app=api").items
    w.baseline.client.patch(
        "policy/v1",
        "PodDisruptionBudget",
        "api",
        {"spec": {"maxUnavailable": 1}},
        namespace="default",
    )
    w.run_until(1500 + 630)
    [down] = w.baseline.autoscaler.scale_downs
    assert down.node == api["spec"]["nodeName"]  # the web node is still held by its budget
    w.run_until(1500 + 720)
    assert len(w.nodes()) == 1 and len(w.running()) == 2


def test_a_group_is_never_scaled_below_its_min() -> None:
    w = two_half_empty_nodes(group=NodeGroup("general", "t3.xlarge", min_size=2, max_size=10))
    w.run_until(1500)
    assert len(w.nodes()) == 2 and w.baseline.autoscaler.scale_downs == []


def test_empty_nodes_go_without_a_drain_and_the_min_stays() -> None:
    w = world([NodeGroup("general", "t3.xlarge", min_size=1, max_size=10)], web(6))
    w.run_until(200)
    assert len(w.ready_nodes()) == 3  # the minimum's node, then two more
    w.scale(0)
    w.run_until(1800)
    assert len(w.nodes()) == 1 and w.desired() == 1
    assert all(d.empty for d in w.baseline.autoscaler.scale_downs)
    assert len(w.baseline.autoscaler.scale_downs) == 2


def test_the_taint_keeps_new_pods_off_a_node_being_drained() -> None:
    w = two_half_empty_nodes()
    since = min(w.baseline.autoscaler.unneeded_since.values()) - w.start
    w.run_until(since + 601)
    [name] = w.baseline.autoscaler.draining or [d.node for d in w.baseline.autoscaler.scale_downs]
    node = w.baseline.client.get("v1", "Node", name)
    assert any(t["key"] == TO_BE_DELETED_TAINT for t in node["spec"].get("taints") or [])


def test_a_pod_no_group_can_hold_triggers_nothing_and_says_why() -> None:
    w = world([GENERAL], web(1, cpu="8"))
    w.run_until(30)
    assert w.baseline.autoscaler.scale_ups == [] and w.desired() == 0
    [message] = w.messages("NotTriggerScaleUp")
    assert message == "pod didn't trigger scale-up: general: the pods would not fit a new node"


def test_a_failed_drain_takes_the_taint_off_and_the_node_waits_its_ten_minutes_again() -> None:
    w = two_half_empty_nodes()
    w.baseline.autoscaler.options = BaselineOptions(launch=FIXED, drain_timeout=0)
    since = min(w.baseline.autoscaler.unneeded_since.values()) - w.start
    w.run_until(since + 611)
    [failed] = w.baseline.autoscaler.scale_downs
    assert (failed.succeeded, failed.error) == (False, "drain did not complete within 0s")
    node = w.baseline.client.get("v1", "Node", failed.node)
    assert TO_BE_DELETED_TAINT not in [t["key"] for t in node["spec"].get("taints") or []]
    assert not node["spec"].get("unschedulable")
    assert len(w.messages("ScaleDownFailed")) == 1
    assert len(w.nodes()) == 2 and len(w.running()) == 2
    w.run_until(since + 600 + 600)
    assert len(w.baseline.autoscaler.scale_downs) == 1
    w.run_until(since + 600 + 630)
    assert len(w.baseline.autoscaler.scale_downs) == 2


def test_a_reclaimed_spot_node_is_replaced_and_its_pods_run_again() -> None:
    spot = NodeGroup("spot", "t3.xlarge", max_size=4, capacity_type="spot")
    w = world([spot], web(2))
    w.run_until(200)
    [instance] = w.baseline.cloud.list()
    assert instance.capacity_type == "spot"
    w.baseline.cloud.interrupt_spot(instance.instance_id)  # type: ignore[attr-defined]
    w.run_until(330)  # reclaimed at 320: the node goes, its pods are pending again
    assert [i.instance_id for i in w.baseline.cloud.list()] != [instance.instance_id]
    w.run_until(600)
    assert len(w.ready_nodes()) == 1 and len(w.running()) == 2
    assert w.desired("spot") == 1


def test_unknown_instance_types_are_refused_when_the_cluster_is_built() -> None:
    with pytest.raises(InvalidError) as e:
        BaselineCluster(memory_cluster(VirtualClock()), [NodeGroup("gpu", "p9.mega")])
    assert [c.path for c in e.value.causes] == ["nodeGroups[0].instanceType"]
