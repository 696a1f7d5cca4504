"""Pod GC: orphaned pods after a node is deleted, stuck terminating pods, terminated surplus."""

from __future__ import annotations

from typing import Any

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.podgc import PodGCController
from shipyard.cluster.runtime import Manager
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from tests.cluster.fixtures import make_node, make_pod, new_client

Obj = dict[str, Any]
Env = tuple[VirtualClock, EmbeddedClient]
HOLD = "test.shipyard.io/hold"  # a finalizer: keeps a deleted pod visible


def start_podgc() -> Env:
    clock, client = new_client()
    client.create(make_node("node-1"))
    client.create(make_node("node-2"))
    start_controller(clock, client)
    clock.run_until_idle()
    return clock, client


def start_controller(clock: VirtualClock, client: EmbeddedClient, threshold: int = 12_500) -> None:
    manager = Manager(client, clock)
    manager.add(PodGCController(client, terminated_pod_threshold=threshold))
    manager.start()


def running_pod(
    client: EmbeddedClient,
    name: str,
    node: str = "",
    *,
    phase: str = "Running",
    hold: bool = False,
    **status: Any,
) -> Obj:
    metadata: Obj = {"finalizers": [HOLD]} if hold else {}
    spec: Obj = {"nodeName": node} if node else {}
    client.create(make_pod(name, metadata=metadata, spec=spec))
    return client.patch(
        "v1",
        "Pod",
        name,
        {"status": {"phase": phase, **status}},
        namespace="default",
        subresource="status",
    )


def get_pod(client: EmbeddedClient, name: str) -> Obj | None:
    try:
        return client.get("v1", "Pod", name, namespace="default")
    except NotFoundError:
        return None


def test_pods_of_a_deleted_node_are_deleted_after_the_quarantine() -> None:
    clock, client = start_podgc()
    running_pod(client, "web-1", "node-1")
    running_pod(client, "web-2", "node-1", hold=True)  # held, so its last state can be read
    running_pod(client, "web-3", "node-2")
    clock.run_until_idle()

    client.delete("v1", "Node", "node-1")
    clock.advance(39)
    assert get_pod(client, "web-1") is not None

    clock.advance(2)
    assert get_pod(client, "web-1") is None
    held = get_pod(client, "web-2")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    assert held["status"]["phase"] == "Failed"
    [target] = [c for c in held["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "DeletionByPodGC",
        "PodGC: node no longer exists",
    )
    assert get_pod(client, "web-3") is not None


def test_a_node_that_comes_back_within_the_quarantine_keeps_its_pods() -> None:
    clock, client = start_podgc()
    running_pod(client, "web-1", "node-1")
    clock.run_until_idle()
    client.delete("v1", "Node", "node-1")
    clock.advance(20)
    client.create(make_node("node-1"))
    clock.advance(60)
    assert get_pod(client, "web-1") is not None


def test_a_pod_bound_to_a_node_that_never_existed_is_deleted() -> None:
    clock, client = start_podgc()
    running_pod(client, "ghost", "node-9")
    clock.advance(30)
    assert get_pod(client, "ghost") is not None
    clock.advance(15)
    assert get_pod(client, "ghost") is None


def test_terminated_pods_beyond_the_threshold_go_evicted_first_then_oldest() -> None:
    clock, client = new_client()
    client.create(make_node("node-1"))
    for i in range(1, 5):
        running_pod(client, f"done-{i}", "node-1", phase="Succeeded")
        clock.advance(10)
    running_pod(client, "evicted", "node-1", phase="Failed", reason="Evicted")
    running_pod(client, "live", "node-1")
    start_controller(clock, client, threshold=3)
    clock.run_until_idle()
    left = {p["metadata"]["name"] for p in client.list("v1", "Pod").items}
    assert left == {"done-2", "done-3", "done-4", "live"}

    running_pod(client, "done-5", "node-1", phase="Failed")
    clock.run_until_idle()
    left = {p["metadata"]["name"] for p in client.list("v1", "Pod").items}
    assert left == {"done-3", "done-4", "done-5", "live"}


def test_terminating_pods_on_an_out_of_service_node_are_force_deleted() -> None:
    clock, client = start_podgc()
    running_pod(client, "web-1", "node-1")
    clock.run_until_idle()
    client.delete("v1", "Pod", "web-1", namespace="default", grace_period_seconds=30)
    clock.run_until_idle()
    assert get_pod(client, "web-1") is not None  # graceful: waits for a kubelet

    client.patch(
        "v1",
        "Node",
        "node-1",
        {"spec": {"taints": [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]}},
    )
    client.patch(
        "v1",
        "Node",
        "node-1",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        subresource="status",
    )
    clock.run_until_idle()
    assert get_pod(client, "web-1") is None


def test_unscheduled_terminating_pods_are_marked_failed_and_force_deleted() -> None:
    clock, client = start_podgc()
    running_pod(client, "stuck", phase="Pending", hold=True)
    client.delete("v1", "Pod", "stuck", namespace="default")
    clock.run_until_idle()
    pod = get_pod(client, "stuck")
    assert pod is not None and pod["status"]["phase"] == "Failed"
