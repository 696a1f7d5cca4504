"""Helpers for kubelet tests: a cluster with kubelets on a virtual clock, and expectations.

``start_cluster(profiles, nodes=...)`` runs the ``KubeletManager`` (and optionally the
``NodeLifecycleController``) in a ``Manager`` on a ``VirtualClock`` and creates the nodes;
``bound_pod(...)`` is ``make_pod`` with ``spec.nodeName`` set (no scheduler needed).
Times in tests are seconds since the cluster started (``Cluster.t``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.kubelet import (
    ImageProfile,
    KubeletManager,
    NodeLifecycleController,
    SimulatedRuntime,
)
from shipyard.cluster.podutil import condition
from shipyard.cluster.runtime import Manager
from shipyard.core.clock import VirtualClock, parse_time
from tests.cluster.fixtures import make_node, make_pod, merge, new_client

Obj = dict[str, Any]


@dataclass
class Cluster:
    clock: VirtualClock
    client: EmbeddedClient
    runtime: SimulatedRuntime
    kubelets: KubeletManager
    manager: Manager
    lifecycle: NodeLifecycleController | None
    t0: float

    @property
    def t(self) -> float:
        return self.clock.now() - self.t0

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def advance_to(self, t: float) -> None:
        self.clock.run_until(self.t0 + t)

    def create(self, obj: Obj) -> Obj:
        created = self.client.create(obj)
        self.clock.advance(0)
        return created

    def pod(self, name: str = "web-1", namespace: str = "default") -> Obj:
        return self.client.get("v1", "Pod", name, namespace=namespace)

    def pod_exists(self, name: str, namespace: str = "default") -> bool:
        return any(
            p["metadata"]["name"] == name
            for p in self.client.list("v1", "Pod", namespace=namespace)
        )

    def node(self, name: str = "node-1") -> Obj:
        return self.client.get("v1", "Node", name)

    def lease(self, name: str = "node-1") -> Obj:
        return self.client.get("coordination.k8s.io/v1", "Lease", name, namespace="kube-node-lease")

    def events(self, name: str | None = None, *, reason: str | None = None) -> list[Obj]:
        """Events in creation order, optionally about one object and of one reason."""
        found = [
            e
            for e in self.client.list("v1", "Event").items
            if (name is None or e["involvedObject"]["name"] == name)
            and (reason is None or e["reason"] == reason)
        ]
        return sorted(
            found, key=lambda e: (e["firstTimestamp"], int(e["metadata"]["resourceVersion"]))
        )

    def event_times(self, name: str, reason: str) -> list[float]:
        return [parse_time(e["firstTimestamp"]) - self.t0 for e in self.events(name, reason=reason)]

    def reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events(name)]


def start_cluster(
    profiles: Mapping[str, ImageProfile] | None = None,
    *,
    nodes: tuple[str, ...] = ("node-1",),
    lifecycle: bool = False,
    **manager_options: Any,
) -> Cluster:
    clock, client = new_client()
    runtime = SimulatedRuntime(clock, profiles)
    kubelets = KubeletManager(client, runtime, **manager_options)
    manager = Manager(client, clock)
    manager.add(kubelets)
    lifecycle_ctl = NodeLifecycleController(client) if lifecycle else None
    if lifecycle_ctl is not None:
        manager.add(lifecycle_ctl)
    manager.start()
    cluster = Cluster(clock, client, runtime, kubelets, manager, lifecycle_ctl, clock.now())
    for name in nodes:
        cluster.create(make_node(name))
    return cluster


def container(name: str = "main", image: str = "example/web:1", **fields: Any) -> Obj:
    return {"name": name, "image": image, **fields}


def bound_pod(
    name: str = "web-1",
    *,
    node: str = "node-1",
    containers: list[Obj] | None = None,
    **overrides: Any,
) -> Obj:
    """A pod already bound to ``node``; ``containers`` replaces the default one."""
    pod = make_pod(name, **overrides)
    pod = merge(pod, {"spec": {"nodeName": node}})
    if containers is not None:
        pod["spec"]["containers"] = containers
    return pod


def http_probe(path: str = "/healthz", port: int = 8080, **fields: Any) -> Obj:
    return {"httpGet": {"path": path, "port": port}, **fields}


# --- expectations ---------------------------------------------------------------------------


def expect_condition(obj: Obj, type_: str, status: str, reason: str | None = None) -> Obj:
    cond = condition(obj, type_)
    assert cond is not None, f"{type_} condition missing in {obj.get('status')}"
    assert cond["status"] == status, f"{type_} is {cond['status']}, expected {status}: {cond}"
    if reason is not None:
        assert cond.get("reason") == reason, cond
    return cond


def container_status(pod: Obj, name: str = "main", *, init: bool = False) -> Obj:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in pod["status"].get(key) or ():
        if status["name"] == name:
            return dict(status)
    raise AssertionError(f"no {key} entry for {name!r} in {pod['status']}")


def state_of(pod: Obj, name: str = "main", *, init: bool = False) -> tuple[str, Obj]:
    """("waiting" | "running" | "terminated", details) of a container."""
    state = container_status(pod, name, init=init)["state"]
    ((kind, details),) = state.items()
    return kind, details


def expect_terminating(cluster: Cluster, name: str) -> Obj:
    """Marked for deletion (graceful: its kubelet has yet to finish it)."""
    pod = cluster.pod(name)
    assert pod["metadata"].get("deletionTimestamp"), f"{name} is not being deleted"
    return pod


def expect_not_deleted(cluster: Cluster, name: str) -> None:
    assert not cluster.pod(name)["metadata"].get("deletionTimestamp"), f"{name} is being deleted"
