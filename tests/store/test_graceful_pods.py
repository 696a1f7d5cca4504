"""Graceful pod deletion: a bound pod stays, marked, until its kubelet deletes it with grace 0."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.clock import VirtualClock, format_time
from shipyard.core.errors import NotFoundError
from shipyard.platform.wiring import memory_cluster
from shipyard.store.store import Store


def pod(name: str, *, node: str | None = "node-1", grace: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "example/web:1"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture
def env() -> tuple[VirtualClock, Store]:
    clock = VirtualClock()
    return clock, memory_cluster(clock)


def exists(store: Store, name: str) -> bool:
    try:
        store.get("v1", "Pod", name, namespace="default")
    except NotFoundError:
        return False
    return True


def test_a_bound_pod_is_marked_with_its_own_grace_period(env: tuple[VirtualClock, Store]) -> None:
    clock, store = env
    store.create(pod("web", grace=45))
    marked = store.delete("v1", "Pod", "web", namespace="default")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 45
    assert marked["metadata"]["deletionTimestamp"] == format_time(clock.now() + 45)
    assert exists(store, "web")


def test_status_updates_during_termination_keep_the_pod(env: tuple[VirtualClock, Store]) -> None:
    _, store = env
    store.create(pod("web"))
    store.delete("v1", "Pod", "web", namespace="default")
    store.patch(
        "v1",
        "Pod",
        "web",
        {"status": {"phase": "Running"}},
        namespace="default",
        subresource="status",
    )
    assert exists(store, "web")


def test_the_final_delete_with_grace_zero_removes_it(env: tuple[VirtualClock, Store]) -> None:
    _, store = env
    store.create(pod("web"))
    store.delete("v1", "Pod", "web", namespace="default")
    watch = store.watch("v1", "Pod", resource_version=store.resource_version)
    store.delete("v1", "Pod", "web", namespace="default", grace_period_seconds=0)
    assert not exists(store, "web")
    assert [e.type for e in watch.poll()] == ["DELETED"]


@pytest.mark.parametrize(
    ("node", "grace", "phase"),
    [(None, None, None), ("node-1", 0, None), ("node-1", None, "Succeeded")],
    ids=["unbound", "grace-zero", "terminal"],
)
def test_unbound_forced_or_finished_pods_go_at_once(
    env: tuple[VirtualClock, Store], node: str | None, grace: int | None, phase: str | None
) -> None:
    _, store = env
    store.create(pod("web", node=node))
    if phase:
        store.patch(
            "v1",
            "Pod",
            "web",
            {"status": {"phase": phase}},
            namespace="default",
            subresource="status",
        )
    store.delete("v1", "Pod", "web", namespace="default", grace_period_seconds=grace)
    assert not exists(store, "web")


def test_cascading_deletion_terminates_bound_pods_gracefully(
    env: tuple[VirtualClock, Store],
) -> None:
    _, store = env
    cm = store.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": "default"},
        }
    )
    owned = pod("web")
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": cm["metadata"]["uid"]}
    ]
    store.create(owned)
    store.delete("v1", "ConfigMap", "owner", namespace="default")
    left = store.get("v1", "Pod", "web", namespace="default")
    assert left["metadata"]["deletionGracePeriodSeconds"] == 30
