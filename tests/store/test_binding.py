"""The pods/binding subresource: one write assigns a pod to a node."""

from __future__ import annotations

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import ConflictError, InvalidError, NotFoundError
from shipyard.store.backends import MemoryBackend
from shipyard.store.store import Store
from tests.store.store_helpers import make_namespace, make_pod, make_scheme


def new_store() -> Store:
    store = Store(MemoryBackend(), make_scheme(), VirtualClock())
    store.create(make_namespace())
    return store


def test_bind_sets_node_name_and_replaces_pod_scheduled_in_one_write() -> None:
    store = new_store()
    pod = make_pod("a")
    pod["status"] = {
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "x"}
        ]
    }
    created = store.create(pod)
    rv = int(created["metadata"]["resourceVersion"])
    bound = store.bind("a", namespace="default", node="n1")
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["status"]["conditions"] == [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]
    assert int(bound["metadata"]["resourceVersion"]) == rv + 1


def test_bind_refuses_an_assigned_pod_a_stale_version_and_a_missing_pod() -> None:
    store = new_store()
    created = store.create(make_pod("a"))
    stale = created["metadata"]["resourceVersion"]
    store.bind("a", namespace="default", node="n1", resource_version=stale)
    with pytest.raises(ConflictError, match='pod a is already assigned to node "n1"'):
        store.bind("a", namespace="default", node="n2")
    store.create(make_pod("b"))
    with pytest.raises(ConflictError, match="has been modified"):
        store.bind("b", namespace="default", node="n1", resource_version=stale)
    with pytest.raises(NotFoundError, match='pods "c" not found'):
        store.bind("c", namespace="default", node="n1")


def test_bind_refuses_an_invalid_node_name_and_writes_nothing() -> None:
    store = new_store()
    created = store.create(make_pod("a"))
    with pytest.raises(InvalidError, match=r"target\.name"):
        store.bind("a", namespace="default", node="Not_A_Node")
    pod = store.get("v1", "Pod", "a")
    assert pod["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
