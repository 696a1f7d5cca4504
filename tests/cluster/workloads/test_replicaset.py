"""The ReplicaSet controller: scaling, deletion order, adoption, status, failures.

Also home of the small harness the workload tests share: :class:`FakeKubelet` (binds pods,
starts them Ready after ``start_delay``, never for ``broken_images``, and stops terminating
pods after ``stop_delay``) and :func:`start_cluster` (a Manager on a VirtualClock).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.podutil import condition, controller_ref, is_ready, is_terminating
from shipyard.cluster.runtime import Manager, Result, Watches
from shipyard.cluster.workloads.replicaset import (
    ReplicaSetController,
    pod_from_template,
    pods_to_delete,
    replica_set_status,
)
from shipyard.core.clock import VirtualClock, format_time, parse_time
from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.core.objects import Obj, ObjectKey
from tests.cluster.fixtures import make_pod, merge, new_client

HOLD = "shipyard.test/hold"  # a finalizer the fake kubelet removes when it stops a pod
NS = "default"


# --- harness shared by the workload tests --------------------------------------------------------


@dataclass
class FakeKubelet:
    """Stands in for a node agent: bind, start (Running + Ready), stop terminating pods."""

    client: Any
    start_delay: float = 0.0
    stop_delay: float = 0.0
    broken_images: frozenset[str] = frozenset()
    node: str = "node-1"
    name: str = "test.kubelet"
    _stopping: dict[str, float] = field(default_factory=dict)

    def watches(self) -> list[Watches]:
        return [Watches("v1", "Pod")]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            pod = self.client.get("v1", "Pod", key.name, namespace=key.namespace)
        except NotFoundError:
            return None
        if is_terminating(pod):
            return self._stop(pod)
        if not pod["spec"].get("nodeName"):
            self._patch(pod, {"spec": {"nodeName": self.node}})
        elif pod["status"].get("phase") == "Pending" and not self._broken(pod):
            return self._start(pod)
        return None

    def _broken(self, pod: Obj) -> bool:
        return any(c["image"] in self.broken_images for c in pod["spec"]["containers"])

    def _start(self, pod: Obj) -> Result | None:
        now = self.client.clock.now()
        wait = parse_time(pod["metadata"]["creationTimestamp"]) + self.start_delay - now
        if wait > 0:
            return Result(requeue_after=wait)
        ready = {"type": "Ready", "status": "True", "lastTransitionTime": format_time(now)}
        containers = [
            {"name": c["name"], "ready": True, "restartCount": 0} for c in pod["spec"]["containers"]
        ]
        status = {"phase": "Running", "conditions": [ready], "containerStatuses": containers}
        self._patch(pod, {"status": status}, subresource="status")
        return None

    def _stop(self, pod: Obj) -> Result | None:
        now = self.client.clock.now()
        since = self._stopping.setdefault(pod["metadata"]["uid"], now)
        if since + self.stop_delay > now:
            return Result(requeue_after=since + self.stop_delay - now)
        finalizers = pod["metadata"].get("finalizers") or []
        if HOLD in finalizers:
            rest = [f for f in finalizers if f != HOLD]
            self._patch(pod, {"metadata": {"finalizers": rest or None}})
            return None
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        with contextlib.suppress(NotFoundError):
            self.client.delete("v1", "Pod", name, namespace=namespace, grace_period_seconds=0)
        return None

    def _patch(self, pod: Obj, patch: Obj, subresource: str | None = None) -> None:
        md = pod["metadata"]
        self.client.patch(
            "v1", "Pod", md["name"], patch, namespace=md["namespace"], subresource=subresource
        )


@dataclass
class Cluster:
    clock: VirtualClock
    client: EmbeddedClient
    manager: Manager
    kubelet: FakeKubelet | None


def start_cluster(
    *controllers: Callable[[Any], Any],
    kubelet: bool = True,
    client: Any = None,
    **kubelet_options: Any,
) -> Cluster:
    """A fresh cluster running ``controllers`` (each built from the client) and a kubelet."""
    clock, embedded = new_client()
    manager = Manager(embedded, clock)
    for build in controllers:
        manager.add(build(client(embedded) if client else embedded))
    fake = FakeKubelet(embedded, **kubelet_options) if kubelet else None
    if fake is not None:
        manager.add(fake)
    manager.start()
    return Cluster(clock, embedded, manager, fake)


def pods(client: Any, namespace: str = NS, **labels: str) -> list[Obj]:
    """Pods whose labels include ``labels``, terminating ones left out."""
    return [
        p
        for p in client.list("v1", "Pod", namespace=namespace)
        if not is_terminating(p) and labels.items() <= p["metadata"].get("labels", {}).items()
    ]


def ready_pods(client: Any, **labels: str) -> list[Obj]:
    return [p for p in pods(client, **labels) if is_ready(p)]


def event_messages(client: Any, reason: str, namespace: str = NS) -> list[str]:
    """Messages of the Events with that reason, in the order they were recorded."""
    found = [e for e in client.list("v1", "Event", namespace=namespace) if e["reason"] == reason]
    found.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["message"] for e in found]


def names(objs: Iterable[Obj]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


# --- builders ------------------------------------------------------------------------------------


def make_replica_set(
    name: str = "web", *, replicas: int = 3, labels: dict[str, str] | None = None, **overrides: Any
) -> Obj:
    labels = labels or {"app": name}
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "example/web:1"}]},
            },
        },
    }
    return merge(rs, overrides)


def get_rs(client: Any, name: str = "web") -> Obj:
    rs: Obj = client.get("apps/v1", "ReplicaSet", name, namespace=NS)
    return rs


def scale_rs(client: Any, replicas: int, name: str = "web") -> None:
    client.patch("apps/v1", "ReplicaSet", name, {"spec": {"replicas": replicas}}, namespace=NS)


def rs_cluster(**kubelet_options: Any) -> Cluster:
    return start_cluster(ReplicaSetController, **kubelet_options)


# --- scaling -------------------------------------------------------------------------------------


def test_scale_up_creates_pods_from_the_template_and_reports_status() -> None:
    cluster = rs_cluster(start_delay=2)
    rs = cluster.client.create(make_replica_set(replicas=3))
    cluster.clock.advance(1)

    created = pods(cluster.client, app="web")
    assert len(created) == 3
    for pod in created:
        assert pod["metadata"]["name"].startswith("web-")
        assert len(pod["metadata"]["name"]) == len("web-") + 5
        assert pod["metadata"]["labels"] == {"app": "web"}
        assert controller_ref(pod) == {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web",
            "uid": rs["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    expected = [f"Created pod: {n}" for n in sorted(names(created))]
    assert sorted(event_messages(cluster.client, "SuccessfulCreate")) == expected
    assert get_rs(cluster.client)["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "observedGeneration": 1,
    }

    cluster.clock.advance(2)
    assert get_rs(cluster.client)["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }


def test_scale_down_deletes_gracefully_and_stops_counting_terminating_pods() -> None:
    cluster = rs_cluster(stop_delay=5)
    client = cluster.client
    client.create(make_replica_set(replicas=4))
    cluster.clock.advance(1)

    scale_rs(client, 1)
    cluster.clock.advance(1)
    every = client.list("v1", "Pod", namespace=NS).items
    assert len(every) == 4  # the kubelet is still stopping three of them
    assert sum(is_terminating(p) for p in every) == 3
    assert len(event_messages(client, "SuccessfulDelete")) == 3
    status = get_rs(client)["status"]
    assert (status["replicas"], status["readyReplicas"], status["observedGeneration"]) == (1, 1, 2)

    cluster.clock.advance(5)
    assert len(client.list("v1", "Pod", namespace=NS)) == 1

    scale_rs(client, 0)
    cluster.clock.advance(10)
    assert client.list("v1", "Pod", namespace=NS).items == []
    assert get_rs(client)["status"] == {"replicas": 0, "observedGeneration": 3}


def test_pod_from_template_carries_labels_annotations_finalizers_and_owner() -> None:
    rs = make_replica_set(
        "a" * 70,
        spec={
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {"note": "x"},
                    "finalizers": [HOLD],
                }
            }
        },
    )
    rs["metadata"]["uid"] = "uid-1"
    pod = pod_from_template(rs)
    assert pod["metadata"]["generateName"] == "a" * 58
    assert pod["metadata"]["annotations"] == {"note": "x"}
    assert pod["metadata"]["finalizers"] == [HOLD]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert pod["spec"] == rs["spec"]["template"]["spec"]


# --- which pods go first -------------------------------------------------------------------------

NOW = parse_time("2026-01-01T01:00:00Z")


def pod_in_state(
    name: str,
    *,
    node: str = "node-1",
    phase: str = "Running",
    ready: bool = True,
    ready_since: str = "2026-01-01T00:00:00Z",
    restarts: int = 0,
    created: str = "2026-01-01T00:00:00Z",
    cost: str | None = None,
) -> Obj:
    status: Obj = {"phase": phase}
    if phase != "Pending":
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": ready_since,
            }
        ]
        status["containerStatuses"] = [{"name": "main", "ready": ready, "restartCount": restarts}]
    md: Obj = {"name": name, "uid": f"uid-{name}", "creationTimestamp": created}
    if cost is not None:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    return {"metadata": md, "spec": {"nodeName": node}, "status": status}


DELETION_ORDER = [
    # (why, deleted first, kept)
    ("unassigned before assigned", {"node": ""}, {}),
    ("pending before running", {"phase": "Pending"}, {}),
    ("unknown before running", {"phase": "Unknown"}, {}),
    ("not ready before ready", {"ready": False}, {}),
    ("lower deletion cost first", {"cost": "-5"}, {"cost": "10"}),
    ("ready for less time first", {"ready_since": "2026-01-01T00:59:00Z"}, {}),
    ("more restarts first", {"restarts": 3}, {}),
    ("newer first", {"created": "2026-01-01T00:58:00Z"}, {}),
    ("pending beats a higher cost", {"phase": "Pending", "cost": "100"}, {}),
]


@pytest.mark.parametrize(
    ("why", "first", "kept"), DELETION_ORDER, ids=[r[0] for r in DELETION_ORDER]
)
def test_deletion_preference(why: str, first: dict[str, Any], kept: dict[str, Any]) -> None:
    a, b = pod_in_state("a", **first), pod_in_state("b", **kept)
    assert pods_to_delete([b, a], [a, b], 1, NOW) == [a], why
    assert pods_to_delete([a, b], [a, b], 1, NOW) == [a], why


def test_pods_doubled_up_on_a_node_go_first() -> None:
    alone = pod_in_state("alone", node="node-1")
    crowded = pod_in_state("crowded", node="node-2")
    sibling = pod_in_state("sibling", node="node-2")  # another ReplicaSet's, same owner
    assert pods_to_delete([alone, crowded], [alone, crowded, sibling], 1, NOW) == [crowded]


def test_times_within_one_log2_bucket_are_a_tie_broken_by_uid() -> None:
    # 10 and 11 minutes old are both in the bucket floor(log2(age in ns)) = 39
    older = pod_in_state("b", created="2026-01-01T00:49:00Z")
    newer = pod_in_state("a", created="2026-01-01T00:50:00Z")
    assert pods_to_delete([older, newer], [], 1, NOW) == [newer]  # uid-a < uid-b
    renamed = pod_in_state("c", created="2026-01-01T00:50:00Z")
    assert pods_to_delete([older, renamed], [], 1, NOW) == [older]


def test_scaling_down_a_replica_set_follows_the_preference_order() -> None:
    cluster = rs_cluster(kubelet=False)
    client = cluster.client
    states = {
        "unbound": {"node": ""},
        "pending": {"phase": "Pending"},
        "not-ready": {"ready": False},
        "crashy": {"restarts": 4},
        "steady": {},
    }
    for name, state in states.items():
        spec = pod_in_state(name, **state)
        manifest = make_pod(name, spec={"nodeName": spec["spec"]["nodeName"] or None})
        if not spec["spec"]["nodeName"]:
            del manifest["spec"]["nodeName"]
        client.create(manifest)
        client.patch(
            "v1", "Pod", name, {"status": spec["status"]}, namespace=NS, subresource="status"
        )

    client.create(make_replica_set(replicas=1))
    cluster.clock.advance(1)

    assert names(pods(client)) == ["steady"]
    deleted = [m.removeprefix("Deleted pod: ") for m in event_messages(client, "SuccessfulDelete")]
    assert deleted == ["unbound", "pending", "not-ready", "crashy"]


# --- ownership -----------------------------------------------------------------------------------


def test_orphans_matching_the_selector_are_adopted_instead_of_creating_pods() -> None:
    cluster = rs_cluster()
    client = cluster.client
    client.create(make_pod("orphan-1"))
    client.create(make_pod("orphan-2"))
    client.create(make_pod("other", labels={"app": "db"}))

    rs = client.create(make_replica_set(replicas=3))
    cluster.clock.advance(1)

    owned = [p for p in pods(client, app="web") if controller_ref(p)]
    assert len(owned) == 3
    assert {"orphan-1", "orphan-2"} <= set(names(owned))
    for pod in owned:
        assert controller_ref(pod)["uid"] == rs["metadata"]["uid"]
        assert controller_ref(pod)["blockOwnerDeletion"] is True
    assert len(event_messages(client, "SuccessfulCreate")) == 1
    assert controller_ref(client.get("v1", "Pod", "other", namespace=NS)) is None


def test_a_pod_whose_labels_stop_matching_is_released_and_replaced() -> None:
    cluster = rs_cluster()
    client = cluster.client
    client.create(make_replica_set(replicas=2))
    cluster.clock.advance(1)
    victim = pods(client, app="web")[0]["metadata"]["name"]

    client.patch("v1", "Pod", victim, {"metadata": {"labels": {"app": "debug"}}}, namespace=NS)
    cluster.clock.advance(1)

    released = client.get("v1", "Pod", victim, namespace=NS)
    assert released["metadata"].get("ownerReferences") in (None, [])
    assert len(pods(client, app="web")) == 2
    assert victim not in names(pods(client, app="web"))


def test_a_restarted_controller_releases_pods_that_stopped_matching_meanwhile() -> None:
    cluster = rs_cluster()
    client = cluster.client
    client.create(make_replica_set(replicas=2))
    cluster.clock.advance(1)
    cluster.manager.stop()
    victim = pods(client, app="web")[0]["metadata"]["name"]
    client.patch("v1", "Pod", victim, {"metadata": {"labels": {"app": "debug"}}}, namespace=NS)

    restarted = Manager(client, cluster.clock)
    restarted.add(ReplicaSetController(client))
    restarted.start()
    cluster.clock.advance(1)

    assert controller_ref(client.get("v1", "Pod", victim, namespace=NS)) is None
    assert len(pods(client, app="web")) == 2


def test_pods_controlled_by_another_owner_are_left_alone() -> None:
    cluster = rs_cluster()
    client = cluster.client
    foreign_ref = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "batch",
        "uid": "job-uid",
        "controller": True,
    }
    client.create(make_pod("job-pod", metadata={"ownerReferences": [foreign_ref]}))
    client.create(make_replica_set(replicas=1))
    cluster.clock.advance(1)

    assert controller_ref(client.get("v1", "Pod", "job-pod", namespace=NS))["uid"] == "job-uid"
    assert get_rs(client)["status"]["replicas"] == 1
    assert len(event_messages(client, "SuccessfulCreate")) == 1


def test_terminating_pods_are_not_counted_and_get_replaced_at_once() -> None:
    cluster = rs_cluster(stop_delay=30)
    client = cluster.client
    held = {"spec": {"template": {"metadata": {"finalizers": [HOLD]}}}}
    client.create(make_replica_set(replicas=2, **held))
    cluster.clock.advance(1)
    victim = pods(client, app="web")[0]["metadata"]["name"]

    client.delete("v1", "Pod", victim, namespace=NS)
    cluster.clock.advance(1)

    assert is_terminating(client.get("v1", "Pod", victim, namespace=NS))
    assert len(pods(client, app="web")) == 2  # the replacement, plus the survivor
    assert get_rs(client)["status"]["replicas"] == 2

    cluster.clock.advance(30)
    with pytest.raises(NotFoundError):
        client.get("v1", "Pod", victim, namespace=NS)


# --- availability --------------------------------------------------------------------------------


def test_available_replicas_wait_for_min_ready_seconds_without_other_events() -> None:
    cluster = rs_cluster(start_delay=1)
    cluster.client.create(make_replica_set(replicas=2, spec={"minReadySeconds": 10}))

    cluster.clock.advance(5)
    status = get_rs(cluster.client)["status"]
    assert status["readyReplicas"] == 2
    assert "availableReplicas" not in status

    cluster.clock.advance(5)  # ready at t=1, available at t=11
    assert "availableReplicas" not in get_rs(cluster.client)["status"]
    cluster.clock.advance(1)
    assert get_rs(cluster.client)["status"]["availableReplicas"] == 2


# --- failures ------------------------------------------------------------------------------------


class RejectingPods:
    """A client whose pod creations fail while ``reject`` is set (a fake admission webhook)."""

    def __init__(self, inner: EmbeddedClient) -> None:
        self._inner = inner
        self.reject = True
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, obj: Obj, *, dry_run: bool = False, handoff: bool = False) -> Obj:
        if obj.get("kind") == "Pod":
            self.attempts += 1
            if self.reject:
                raise InvalidError('Pod "web-"', [])
        created: Obj = self._inner.create(obj, dry_run=dry_run, handoff=handoff)
        return created


def test_failed_pod_creation_sets_replica_failure_and_retries_with_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrapped: list[RejectingPods] = []

    def rejecting(inner: EmbeddedClient) -> RejectingPods:
        wrapped.append(RejectingPods(inner))
        return wrapped[0]

    cluster = start_cluster(ReplicaSetController, client=rejecting)
    cluster.client.create(make_replica_set(replicas=5))
    cluster.clock.advance(0.1)

    # Slow start: each sync stops after its first batch (one pod) fails. The status write of
    # the first sync queues a second one at once; then the runtime backs off.
    assert wrapped[0].attempts == 2
    failure = condition(get_rs(cluster.client), "ReplicaFailure")
    assert failure is not None
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert failure["message"] == 'Pod "web-" is invalid'
    assert event_messages(cluster.client, "FailedCreate") == [
        'Error creating: Pod "web-" is invalid'
    ]

    cluster.clock.advance(1.5)  # back-off: 0.5s, then 2s
    assert wrapped[0].attempts == 3
    assert "cluster.replicaset: reconcile of ReplicaSet default/web failed" in caplog.text

    wrapped[0].reject = False
    cluster.clock.advance(10)
    assert len(pods(cluster.client, app="web")) == 5
    assert condition(get_rs(cluster.client), "ReplicaFailure") is None


def test_fully_labeled_replicas_have_every_template_label_with_its_value() -> None:
    rs = {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"template": {"metadata": {"labels": {"app": "web", "tier": "front"}}}},
    }
    labelled = [
        {"app": "web", "tier": "front"},
        {"app": "web", "tier": "front", "extra": "yes"},
        {"app": "web"},
        {"app": "web", "tier": "back"},
        {},
    ]
    pods = [{"metadata": {"name": f"p{i}", "labels": labels}} for i, labels in enumerate(labelled)]
    status = replica_set_status(rs, pods, now=0.0)
    assert status == {"replicas": 5, "fullyLabeledReplicas": 2, "observedGeneration": 2}
