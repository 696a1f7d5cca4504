"""The scheduler's cache: accounting, node order, condition taints, memos, the label index."""

from __future__ import annotations

from shipyard.cluster.scheduler.snapshot import Snapshot, node_taints
from shipyard.core.selectors import parse_label_selector
from tests.cluster.scheduler.helpers import node, pod


def test_pods_are_accounted_on_their_node() -> None:
    snap = Snapshot.from_objects(
        [node({"name": "n1"})],
        [
            pod({"name": "a", "node": "n1", "cpu": "1"}),
            pod({"name": "b", "node": "n1", "cpu": "2"}),
        ],
    )
    n1 = snap.nodes["n1"]
    assert (n1.req_cpu, len(n1.pods)) == (3000, 2)
    snap.set_pod(snap.pod_info(pod({"name": "a", "node": "n1", "cpu": "1", "phase": "Failed"})))
    assert (n1.req_cpu, len(n1.pods)) == (2000, 1)  # a finished pod holds nothing
    snap.remove_pod(("default", "b"))
    assert (n1.req_cpu, n1.nonzero_cpu, len(n1.pods)) == (0, 0, 0)


def test_a_pod_on_an_unknown_node_waits_in_a_placeholder() -> None:
    snap = Snapshot.from_objects([], [pod({"name": "a", "node": "later", "cpu": "1"})])
    assert snap.node_list() == []
    snap.set_node(node({"name": "later"}))
    (later,) = snap.node_list()
    assert later.req_cpu == 1000


def test_node_order_takes_zones_round_robin() -> None:
    zones = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "c1": "c", "c2": "c"}
    snap = Snapshot.from_objects(
        [node({"name": n, "labels": {"topology.kubernetes.io/zone": z}}) for n, z in zones.items()]
    )
    assert [n.name for n in snap.node_list()] == ["a1", "b1", "c1", "a2", "c2", "a3"]


def test_conditions_become_the_lifecycle_taints() -> None:
    manifest = node(
        {"name": "n1", "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}
    )
    manifest["status"]["conditions"] = [
        {"type": "Ready", "status": "False"},
        {"type": "MemoryPressure", "status": "True"},
    ]
    assert [t.kubectl_form() for t in node_taints(manifest)] == [
        "node.kubernetes.io/not-ready:NoSchedule",  # already there: not doubled
        "node.kubernetes.io/memory-pressure:NoSchedule",
    ]


def test_a_change_to_a_node_clears_its_memo() -> None:
    snap = Snapshot.from_objects([node({"name": "n1"})])
    n1 = snap.nodes["n1"]
    incoming = snap.pod_info(pod())
    n1.memo = (incoming.resources, None, (1, 2))
    assert not snap.set_node(node({"name": "n1"}))  # nothing the filters read changed
    assert n1.memo is not None
    assert snap.set_node(node({"name": "n1", "cpu": "8"}))
    assert n1.memo is None
    n1.memo = (incoming.resources, None, (1, 2))
    snap.set_pod(snap.pod_info(pod({"name": "a", "node": "n1"})))
    assert n1.memo is None


def test_pods_matching_uses_the_label_index() -> None:
    snap = Snapshot.from_objects(
        [node({"name": "n1"})],
        [
            pod({"name": "w1", "node": "n1", "labels": {"app": "web", "tier": "fe"}}),
            pod({"name": "w2", "node": "n1", "labels": {"app": "web", "tier": "be"}}),
            pod({"name": "d1", "node": "n1", "labels": {"app": "db"}}),
        ],
    )

    def names(selector: str) -> list[str]:
        return sorted(p.name for p in snap.pods_matching(parse_label_selector(selector)))

    assert names("app=web") == ["w1", "w2"]
    assert names("app=web,tier=be") == ["w2"]
    assert names("app in (web,db),tier!=fe") == ["d1", "w2"]
    assert names("") == ["d1", "w1", "w2"]
