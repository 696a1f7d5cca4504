"""The scheduler controller on a virtual clock: binding, reporting, retrying, preempting."""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.podutil import condition
from shipyard.cluster.runtime import Manager
from shipyard.cluster.scheduler import Scheduler
from shipyard.cluster.scheduler import scheduler as scheduler_module
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from tests.cluster.fixtures import make_node, make_pod, new_client

Obj = dict[str, Any]
EXAMPLE = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
    "2 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 Preemption is not helpful for scheduling."
)


@dataclass
class Cluster:
    clock: VirtualClock
    client: EmbeddedClient
    scheduler: Scheduler

    def step(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)

    def pod(self, name: str) -> Obj:
        return self.client.get("v1", "Pod", name, namespace="default")

    def events(self, name: str) -> list[tuple[str, str, str, int]]:
        return [
            (e["type"], e["reason"], e["message"], e["count"])
            for e in self.client.list("v1", "Event", namespace="default").items
            if e["involvedObject"]["name"] == name
        ]


@pytest.fixture
def cluster() -> Cluster:
    clock, client = new_client()
    scheduler = Scheduler(client)
    manager = Manager(client, clock)
    manager.add(scheduler)
    manager.start()
    return Cluster(clock, client, scheduler)


def expect_scheduled(cluster: Cluster, name: str, node: str) -> None:
    pod = cluster.pod(name)
    assert pod["spec"].get("nodeName") == node
    scheduled = condition(pod, "PodScheduled")
    assert scheduled is not None
    assert (scheduled["status"], scheduled.get("reason"), scheduled.get("message")) == (
        "True",
        None,
        None,
    )
    assert (
        "Normal",
        "Scheduled",
        f"Successfully assigned default/{name} to {node}",
        1,
    ) in cluster.events(name)


def expect_unschedulable(cluster: Cluster, name: str, message: str) -> None:
    pod = cluster.pod(name)
    assert not pod["spec"].get("nodeName")
    scheduled = condition(pod, "PodScheduled")
    assert scheduled is not None
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "Unschedulable",
        message,
    )
    assert any(e[:3] == ("Warning", "FailedScheduling", message) for e in cluster.events(name)), (
        cluster.events(name)
    )


def gpu_taint() -> list[Obj]:
    return [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]


def finish_termination(client: EmbeddedClient, name: str) -> None:
    """What the kubelet does for a pod marked for deletion: delete it for good."""
    try:
        client.get("v1", "Pod", name, namespace="default")
    except NotFoundError:
        return
    if "grace_period_seconds" in inspect.signature(client.delete).parameters:
        client.delete("v1", "Pod", name, namespace="default", grace_period_seconds=0)
    else:
        client.delete("v1", "Pod", name, namespace="default")


# --- binding and reporting ------------------------------------------------------------------


def test_a_pending_pod_is_bound_when_a_node_is_added(cluster: Cluster) -> None:
    cluster.client.create(make_pod("web-1"))
    cluster.step()
    expect_unschedulable(cluster, "web-1", "no nodes available to schedule pods")
    cluster.client.create(make_node("node-1"))
    cluster.step(1)  # the pod's first backoff
    expect_scheduled(cluster, "web-1", "node-1")
    assert cluster.events("web-1")[0][1] == "FailedScheduling"


def test_the_message_when_nothing_fits(cluster: Cluster) -> None:
    for name in ("node-1", "node-2"):
        cluster.client.create(make_node(name, cpu="1"))
    cluster.client.create(make_node("node-3", cpu="8", taints=gpu_taint()))
    cluster.client.create(make_pod("big", cpu="2"))
    cluster.step()
    expect_unschedulable(cluster, "big", EXAMPLE)
    event = next(
        e for e in cluster.client.list("v1", "Event").items if e["reason"] == "FailedScheduling"
    )
    assert event["source"] == {"component": "default-scheduler"}
    assert event["involvedObject"]["kind"] == "Pod"


def test_an_unschedulable_pod_is_retried_after_a_node_change(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("big", cpu="2"))
    cluster.step()
    expect_unschedulable(cluster, "big", _too_big(1))
    node = cluster.client.get("v1", "Node", "node-1")
    node["status"]["allocatable"]["cpu"] = "4"
    cluster.client.update_status(node)
    cluster.step(0.5)
    assert not cluster.pod("big")["spec"].get("nodeName")  # still backing off
    cluster.step(0.5)
    expect_scheduled(cluster, "big", "node-1")


def test_a_node_change_that_does_not_help_the_pod_leaves_it_waiting(cluster: Cluster) -> None:
    """QueueingHints: a pod only node-local filters rejected is retried when a changed node now
    passes them, not on every node event (no new FailedScheduling for an unhelpful one)."""
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("big", cpu="2"))
    cluster.step()
    assert cluster.scheduler.queue.place_of(("default", "big")) == "unschedulable"
    cluster.client.create(make_node("node-2", cpu="1"))  # too small too
    cluster.client.create(make_node("node-3", cpu="8", taints=gpu_taint()))  # not tolerated
    cluster.step(30)
    assert cluster.scheduler.queue.place_of(("default", "big")) == "unschedulable"
    assert cluster.events("big") == [("Warning", "FailedScheduling", _too_big(1), 1)]
    node = cluster.client.get("v1", "Node", "node-3")
    node["spec"]["taints"] = []
    cluster.client.update(node)  # now it fits there
    cluster.step(1)
    expect_scheduled(cluster, "big", "node-3")


def test_an_unschedulable_pod_is_retried_every_minute(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("big", cpu="2"))
    cluster.step(59)
    assert cluster.events("big") == [("Warning", "FailedScheduling", _too_big(1), 1)]
    cluster.step(1)
    assert cluster.events("big") == [("Warning", "FailedScheduling", _too_big(1), 2)]


def test_a_deleted_pod_makes_room(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("first", cpu="800m"))
    cluster.step()
    cluster.client.create(make_pod("second", cpu="800m"))
    cluster.step()
    expect_unschedulable(
        cluster,
        "second",
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod.",
    )
    cluster.client.delete("v1", "Pod", "first", namespace="default")
    cluster.step(1)
    assert not cluster.pod("second")["spec"].get("nodeName")  # "first" is still terminating
    finish_termination(cluster.client, "first")
    cluster.step(1)
    expect_scheduled(cluster, "second", "node-1")


def test_pods_bound_by_others_use_their_node(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1", cpu="2"))
    cluster.client.create(make_pod("pinned", cpu="2", spec={"nodeName": "node-1"}))
    cluster.client.create(make_pod("web", cpu="500m"))
    cluster.step()
    assert not cluster.pod("web")["spec"].get("nodeName")
    assert condition(cluster.pod("pinned"), "PodScheduled") is None  # not the scheduler's


def test_higher_priority_goes_first(cluster: Cluster) -> None:
    cluster.client.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
            "preemptionPolicy": "Never",
        }
    )
    cluster.client.create(make_pod("low", cpu="800m"))
    cluster.client.create(make_pod("high", cpu="800m", spec={"priorityClassName": "high"}))
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.step()
    expect_scheduled(cluster, "high", "node-1")
    assert not cluster.pod("low")["spec"].get("nodeName")


def test_not_ready_nodes_are_avoided(cluster: Cluster) -> None:
    sick = make_node("node-1")
    sick["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    cluster.client.create(sick)
    cluster.client.create(make_pod("web"))
    cluster.step()
    expect_unschedulable(
        cluster,
        "web",
        "0/1 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: "
        "1 Preemption is not helpful for scheduling.",
    )
    cluster.client.create(make_node("node-2"))
    cluster.step(1)
    expect_scheduled(cluster, "web", "node-2")


# --- pods the scheduler leaves alone --------------------------------------------------------


def test_pods_of_another_scheduler_are_left_alone(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1"))
    cluster.client.create(make_pod("custom", spec={"schedulerName": "my-scheduler"}))
    cluster.step(60)
    assert cluster.pod("custom")["spec"].get("nodeName") is None
    assert cluster.events("custom") == []


def test_a_terminating_pending_pod_is_not_scheduled(cluster: Cluster) -> None:
    cluster.client.create(make_pod("leaving", metadata={"finalizers": ["example.com/hold"]}))
    cluster.client.delete("v1", "Pod", "leaving", namespace="default")
    cluster.client.create(make_node("node-1"))
    cluster.step(1)
    assert cluster.pod("leaving")["spec"].get("nodeName") is None


def test_scheduling_gates_hold_a_pod_back(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1"))
    cluster.client.create(
        make_pod("gated", spec={"schedulingGates": [{"name": "example.com/wait"}]})
    )
    cluster.step()
    gated = cluster.pod("gated")
    assert gated["spec"].get("nodeName") is None
    scheduled = condition(gated, "PodScheduled")
    assert scheduled is not None
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "SchedulingGated",
        "Scheduling is blocked due to non-empty scheduling gates",
    )
    gated["spec"]["schedulingGates"] = []
    cluster.client.update(gated)
    cluster.step()
    expect_scheduled(cluster, "gated", "node-1")


# --- preemption -----------------------------------------------------------------------------


def test_preemption_evicts_the_lower_priority_pod_and_binds_the_preemptor(
    cluster: Cluster,
) -> None:
    cluster.client.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "critical"},
            "value": 1000,
        }
    )
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("batch", cpu="800m"))
    cluster.step()
    expect_scheduled(cluster, "batch", "node-1")
    cluster.client.create(make_pod("api", cpu="800m", spec={"priorityClassName": "critical"}))
    cluster.step()
    api = cluster.pod("api")
    assert api["status"]["nominatedNodeName"] == "node-1"
    expect_unschedulable(cluster, "api", "0/1 nodes are available: 1 Insufficient cpu.")
    preempted = [e for e in cluster.client.list("v1", "Event").items if e["reason"] == "Preempted"]
    assert [(e["involvedObject"]["name"], e["message"]) for e in preempted] == [
        ("batch", f"Preempted by pod {api['metadata']['uid']} on node node-1")
    ]
    finish_termination(cluster.client, "batch")
    cluster.step(1)
    expect_scheduled(cluster, "api", "node-1")


def test_a_nominated_preemptor_keeps_its_room(cluster: Cluster) -> None:
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("batch", cpu="800m"))
    cluster.step()
    cluster.client.create(make_pod("api", cpu="800m", spec={"priority": 1000}))
    cluster.step()  # batch is preempted; api is nominated to node-1 and backs off for 1 s
    finish_termination(cluster.client, "batch")
    cluster.client.create(make_pod("sneaky", cpu="800m"))
    cluster.step()
    assert not cluster.pod("sneaky")["spec"].get("nodeName")  # the room is api's
    cluster.step(1)
    expect_scheduled(cluster, "api", "node-1")


def test_the_victim_is_marked_as_a_disruption_target(cluster: Cluster) -> None:
    seen: list[Obj] = []

    def remember(event: Any) -> None:
        if event.object.get("kind") == "Pod" and event.object["metadata"]["name"] == "batch":
            seen.append(event.object)

    cluster.client.add_listener(remember)
    cluster.client.create(make_node("node-1", cpu="1"))
    cluster.client.create(make_pod("batch", cpu="800m"))
    cluster.step()
    cluster.client.create(make_pod("api", cpu="800m", spec={"priority": 1000}))
    cluster.step()
    target = condition(seen[-1], "DisruptionTarget")
    assert target is not None
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "PreemptionByScheduler",
        "default-scheduler: preempting to accommodate a higher priority pod",
    )


# --- throughput plumbing ------------------------------------------------------------------


def test_more_pods_than_one_batch(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "BATCH", 3)
    cluster.client.create(make_node("node-1", cpu="16"))
    for i in range(10):
        cluster.client.create(make_pod(f"web-{i}"))
    cluster.step()
    assert all(cluster.pod(f"web-{i}")["spec"].get("nodeName") == "node-1" for i in range(10))


def _too_big(nodes: int) -> str:
    return (
        f"0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: "
        f"0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling."
    )


def test_the_store_never_waits_on_a_busy_scheduler(cluster: Cluster) -> None:
    """While another thread holds the scheduler (a batch in live mode), its listener queues
    changes instead of blocking the writer; the holder applies them when it lets go."""
    held, release = threading.Event(), threading.Event()

    def busy() -> None:
        with cluster.scheduler._lock:
            held.set()
            release.wait(timeout=10)

    worker = threading.Thread(target=busy)
    worker.start()
    held.wait(timeout=10)
    cluster.client.create(make_node("node-1"))  # returns although the scheduler is busy
    assert "node-1" not in cluster.scheduler.snapshot.nodes
    release.set()
    worker.join(timeout=10)
    cluster.step()  # the node event queued a reconcile, which takes the inbox
    assert "node-1" in cluster.scheduler.snapshot.nodes
