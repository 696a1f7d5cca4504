"""The scheduler's status writes store exactly what a strategic merge patch of the status does."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.scheduler import Scheduler
from shipyard.cluster.scheduler.podinfo import PodInfo
from tests.cluster.fixtures import make_pod, new_client

Obj = dict[str, Any]
UNSCHEDULABLE = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/1 nodes are available: 1 Insufficient cpu.",
    "lastTransitionTime": "2026-01-01T00:00:10Z",
}
GATED = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "SchedulingGated",
    "message": "Scheduling is blocked due to non-empty scheduling gates",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}
OTHER = {"type": "example.com/Ready", "status": "True"}

CASES: list[tuple[str, list[Obj], Obj]] = [
    ("no conditions yet", [], {"conditions": [UNSCHEDULABLE]}),
    ("replaces PodScheduled", [GATED], {"conditions": [UNSCHEDULABLE]}),
    ("keeps other conditions", [OTHER, GATED], {"conditions": [UNSCHEDULABLE]}),
    ("appends after others", [OTHER], {"conditions": [UNSCHEDULABLE]}),
    (
        "merges into the stored one",
        [GATED],
        {"conditions": [{"type": "PodScheduled", "reason": "X"}]},
    ),
    ("nominates", [GATED], {"nominatedNodeName": "node-1"}),
    ("both", [], {"conditions": [UNSCHEDULABLE], "nominatedNodeName": "node-1"}),
]


def cluster_with(conditions: list[Obj], nominated: str = "") -> tuple[EmbeddedClient, Obj]:
    _, client = new_client()
    created = client.create(make_pod("web-1"))
    status: Obj = {**created.get("status", {}), "conditions": conditions}
    if nominated:
        status["nominatedNodeName"] = nominated
    stored = client.update_status({**created, "status": status})
    return client, stored


def by_patch(conditions: list[Obj], status: Obj, nominated: str = "") -> Obj:
    client, _ = cluster_with(conditions, nominated)
    client.patch(
        "v1", "Pod", "web-1", {"status": status}, namespace="default",
        patch_type="strategic", subresource="status",
    )  # fmt: skip
    return client.get("v1", "Pod", "web-1", namespace="default")


def by_scheduler(
    conditions: list[Obj], status: Obj, nominated: str = "", *, stale: bool = False
) -> tuple[Obj, list[str]]:
    client, stored = cluster_with(conditions, nominated)
    writes: list[str] = []
    client.add_listener(lambda e: writes.append(e.type), kinds=[("v1", "Pod")])
    patch = client.patch

    def patched(*args: Any, **kwargs: Any) -> Obj:
        writes.append("patch")
        return patch(*args, **kwargs)

    client.patch = patched
    scheduler = Scheduler(client)
    if stale:  # the scheduler holds an older version than the stored one
        labelled = {**stored, "metadata": {**stored["metadata"], "labels": {"app": "x"}}}
        client.update(labelled)
        writes.clear()
    scheduler._patch_status(PodInfo(stored), status)
    scheduler.close()
    return client.get("v1", "Pod", "web-1", namespace="default"), writes


@pytest.mark.parametrize(
    ("conditions", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_stored_pod_is_the_patched_pod(conditions: list[Obj], status: Obj) -> None:
    written, writes = by_scheduler(conditions, status)
    assert written == by_patch(conditions, status)
    assert writes == ["MODIFIED"]


def test_a_nomination_is_cleared_as_by_the_patch() -> None:
    status: Obj = {"nominatedNodeName": None}
    written, _ = by_scheduler([GATED], status, "node-1")
    assert "nominatedNodeName" not in written["status"]
    assert written == by_patch([GATED], status, "node-1")


def test_a_stale_version_falls_back_to_the_patch() -> None:
    status: Obj = {"conditions": [UNSCHEDULABLE]}
    written, writes = by_scheduler([GATED], status, stale=True)
    assert written["metadata"]["labels"] == {"app": "x"}  # the newer version was kept
    assert written["status"]["conditions"] == [UNSCHEDULABLE]
    assert writes == ["patch", "MODIFIED"]  # the refused update wrote nothing


def test_a_deleted_pod_is_no_error() -> None:
    client, stored = cluster_with([])
    scheduler = Scheduler(client)
    client.delete("v1", "Pod", "web-1", namespace="default")
    scheduler._patch_status(PodInfo(stored), {"conditions": [UNSCHEDULABLE]})
    scheduler.close()
