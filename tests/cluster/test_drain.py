"""Draining a node: cordon, kubectl's pod filters, evictions that wait for budgets, timeout."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.disruption import DisruptionController, EvictionAPI
from shipyard.cluster.drain import Drain, plan_drain
from shipyard.cluster.runtime import Manager
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import meta
from shipyard.store.watch import WatchEvent
from tests.cluster.fixtures import make_deployment, make_node, make_pdb, make_pod, new_client

Obj = dict[str, Any]
STOP_SECONDS = 2.0


@dataclass
class Env:
    clock: VirtualClock
    client: EmbeddedClient
    finished: list[Drain] = field(default_factory=list)

    def drain(self, node: str = "node-1", **options: Any) -> Drain:
        return Drain(self.client, self.clock, node, on_done=self.finished.append, **options).start()


def stop_terminating_pods(clock: VirtualClock, client: EmbeddedClient) -> None:
    """Stands in for the kubelet: a pod marked for deletion stops and is removed 2 s later."""

    def on_event(event: WatchEvent) -> None:
        obj = event.object
        md = meta(obj)
        if obj.get("kind") != "Pod" or not md.get("deletionTimestamp") or md.get("finalizers"):
            return

        def remove() -> None:
            with contextlib.suppress(NotFoundError):
                client.delete(
                    "v1", "Pod", md["name"], namespace=md["namespace"], grace_period_seconds=0
                )

        clock.call_later(STOP_SECONDS, remove)

    client.add_listener(on_event)


@pytest.fixture
def env() -> Env:
    clock, client = new_client()
    client.set_evictor(EvictionAPI(client))
    manager = Manager(client, clock)
    manager.add(DisruptionController(client))
    manager.start()
    stop_terminating_pods(clock, client)
    client.create(make_node("node-1"))
    client.create(make_node("node-2"))
    return Env(clock, client)


def replica_set(client: EmbeddedClient, replicas: int) -> Obj:
    deployment = client.create(make_deployment("web", replicas=replicas))
    return client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-5d4f8",
                "namespace": "default",
                "labels": {"app": "web"},
                "ownerReferences": [owner(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": deployment["spec"]["template"],
            },
        }
    )


def daemon_set(client: EmbeddedClient) -> Obj:
    labels = {"app": "agent"}
    return client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
                },
            },
        }
    )


def owner(obj: Obj) -> Obj:
    md = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
    }


def ready_pod(
    client: EmbeddedClient,
    name: str,
    node: str,
    *,
    owned_by: Obj | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    volumes: list[Obj] | None = None,
) -> Obj:
    metadata: Obj = {"labels": labels or {"app": "web"}, "annotations": annotations or {}}
    if owned_by is not None:
        metadata["ownerReferences"] = [owner(owned_by)]
    spec: Obj = {"nodeName": node, "volumes": volumes or []}
    client.create(make_pod(name, metadata=metadata, spec=spec))
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    return client.patch(
        "v1", "Pod", name, {"status": status}, namespace="default", subresource="status"
    )


def exists(client: EmbeddedClient, name: str) -> bool:
    try:
        client.get("v1", "Pod", name, namespace="default")
    except NotFoundError:
        return False
    return True


def node_events(client: EmbeddedClient, reason: str) -> list[Obj]:
    return [
        e
        for e in client.list("v1", "Event").items
        if e["reason"] == reason and e["involvedObject"]["kind"] == "Node"
    ]


# --- tests --------------------------------------------------------------------------------------


def test_drain_waits_for_the_budget_then_completes_once_a_replacement_is_ready(env: Env) -> None:
    clock, client = env.clock, env.client
    rs = replica_set(client, replicas=2)
    ready_pod(client, "web-1", "node-1", owned_by=rs)
    ready_pod(client, "web-2", "node-2", owned_by=rs)
    client.create(make_pdb("web", min_available=2))
    clock.run_until_idle()
    start = clock.now()

    drain = env.drain()
    clock.advance(12)
    assert client.get("v1", "Node", "node-1")["spec"]["unschedulable"] is True
    assert not drain.done
    assert drain.remaining() == ["default/web-1"]
    assert node_events(client, "FailedDraining")[0]["message"] == (
        "Failed to drain node, 1 pods are waiting to be evicted"
    )

    ready_pod(client, "web-3", "node-2", owned_by=rs)  # the replacement is ready at t=12
    clock.advance(30)

    assert drain.done and drain.succeeded and drain.error is None
    assert env.finished == [drain]
    assert drain.evicted == [("default", "web-1")]
    assert not exists(client, "web-1") and exists(client, "web-2")
    assert drain.finished_at is not None
    assert 15 <= drain.finished_at - start <= 15 + STOP_SECONDS + 1  # the 5 s retry at t=15
    assert node_events(client, "NodeNotSchedulable")[0]["message"] == (
        "Node node-1 status is now: NodeNotSchedulable"
    )


def test_drain_fails_at_its_timeout_while_the_budget_stays_exhausted(env: Env) -> None:
    clock, client = env.clock, env.client
    rs = replica_set(client, replicas=1)
    ready_pod(client, "web-1", "node-1", owned_by=rs)
    client.create(make_pdb("web", max_unavailable=0))
    clock.run_until_idle()

    drain = env.drain(timeout=30)
    clock.advance(29)
    assert not drain.done
    clock.advance(2)
    assert drain.done and not drain.succeeded
    assert drain.error == "drain did not complete within 30s"
    assert drain.remaining() == ["default/web-1"]
    assert exists(client, "web-1")
    messages = [e["message"] for e in node_events(client, "FailedDraining")]
    assert "Failed to drain node, drain did not complete within 30s" in messages
    pending = clock.pending()
    clock.advance(60)  # nothing keeps retrying after the end
    assert clock.pending() <= pending


def test_daemon_set_and_mirror_pods_stay_everything_else_goes(env: Env) -> None:
    clock, client = env.clock, env.client
    ds = daemon_set(client)
    ready_pod(client, "agent-x", "node-1", owned_by=ds, labels={"app": "agent"})
    ready_pod(
        client,
        "static",
        "node-1",
        owned_by=None,
        labels={"tier": "control-plane"},
        annotations={"kubernetes.io/config.mirror": "abc"},
    )
    ready_pod(
        client,
        "scratch",
        "node-1",
        owned_by=None,
        volumes=[{"name": "tmp", "emptyDir": {}}],
    )
    ready_pod(client, "elsewhere", "node-2", owned_by=None)

    drain = env.drain()
    clock.advance(10)
    assert drain.succeeded
    assert [exists(client, n) for n in ("agent-x", "static", "scratch", "elsewhere")] == [
        True,
        True,
        False,
        True,
    ]


def test_kubectl_filters_refuse_unmanaged_pods_without_force(env: Env) -> None:
    clock, client = env.clock, env.client
    ready_pod(client, "lonely", "node-1", owned_by=None)
    ready_pod(
        client,
        "scratch",
        "node-1",
        owned_by=None,
        volumes=[{"name": "tmp", "emptyDir": {}}],
    )

    drain = env.drain(force=False, delete_emptydir_data=False)
    clock.advance(1)
    assert drain.done and not drain.succeeded
    assert drain.error == (
        'unable to drain node "node-1" due to error: '
        "cannot delete Pods that declare no controller (use --force to override): "
        "default/lonely; "
        "cannot delete Pods with local storage (use --delete-emptydir-data to override): "
        "default/scratch"
    )
    assert exists(client, "lonely") and exists(client, "scratch")
    assert client.get("v1", "Node", "node-1")["spec"]["unschedulable"] is True


def test_draining_a_missing_node_fails(env: Env) -> None:
    drain = env.drain("node-9")
    env.clock.advance(1)
    assert drain.done and not drain.succeeded
    assert drain.error == 'nodes "node-9" not found'


@pytest.mark.parametrize(
    ("ds_exists", "options", "verdict"),
    [
        (True, {}, "skipped"),
        (True, {"ignore_daemonsets": False}, "error"),
        (False, {}, "evict"),  # an orphan with --force
        (False, {"force": False}, "error"),
    ],
)
def test_daemon_set_filter(ds_exists: bool, options: dict[str, bool], verdict: str) -> None:
    pod = make_pod(
        "agent-x",
        metadata={
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "agent",
                    "uid": "u",
                    "controller": True,
                }
            ]
        },
    )
    plan = plan_drain([pod], daemon_set_exists=lambda ns, name: ds_exists, **options)
    got = "evict" if plan.evict else "skipped" if plan.skipped else "error"
    assert got == verdict
