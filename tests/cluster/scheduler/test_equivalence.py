"""Reused verdicts of failed cycles: the same statuses, events and writes as computing each pod."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.runtime import Manager
from shipyard.cluster.scheduler import Profile, Scheduler, Snapshot
from shipyard.cluster.scheduler.equivalence import FailureCache, Verdict
from shipyard.cluster.scheduler.podinfo import PodInfo
from shipyard.core.clock import VirtualClock
from shipyard.store.watch import WatchEvent
from tests.cluster.fixtures import make_node, make_pod, new_client
from tests.cluster.scheduler.helpers import node, pod

Obj = dict[str, Any]
GPU = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
TOLERATES_GPU = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]


# --- the key --------------------------------------------------------------------------------


def key_of(**compact: Any) -> object:
    return PodInfo(pod(compact)).equivalence_key()


def test_replicas_of_one_template_share_one_key_object() -> None:
    first, second = key_of(name="web-1", uid="a"), key_of(name="web-2", uid="b")
    assert first is not None
    assert first is second  # interned: compared by identity


@pytest.mark.parametrize(
    "change",
    [
        {"namespace": "other"},
        {"labels": {"app": "api"}},
        {"cpu": "200m"},
        {"spec": {"tolerations": TOLERATES_GPU}},
        {"spec": {"nodeSelector": {"zone": "a"}}},
        {"spec": {"priority": 10}},
        {"spec": {"preemptionPolicy": "Never"}},
        {"spec": {"nodeName": "node-1"}},
        {"spec": {"terminationGracePeriodSeconds": 1}},  # any spec field: no guessing
    ],
)
def test_anything_a_plugin_could_read_changes_the_key(change: Obj) -> None:
    assert key_of(name="a", **change) != key_of(name="b")


def test_true_and_one_are_different_specs() -> None:
    assert key_of(spec={"hostNetwork": True}) != key_of(spec={"hostNetwork": 1})


def test_the_key_follows_a_new_spec_object() -> None:
    info = PodInfo(pod(name="web-1"))
    before = info.equivalence_key()
    info.set_object(pod(name="web-1", cpu="2"))
    assert info.equivalence_key() != before


# --- the cache ------------------------------------------------------------------------------


def cache_setup() -> tuple[FailureCache, Snapshot, Profile, Verdict]:
    snapshot = Snapshot.from_objects([node({"name": "n1", "cpu": "1"})])
    return FailureCache(), snapshot, Profile(), Verdict("0/1 nodes are available", frozenset())


def test_a_verdict_serves_an_equivalent_pod_until_the_snapshot_changes() -> None:
    cache, snapshot, profile, verdict = cache_setup()
    cache.remember(PodInfo(pod(name="a")), snapshot, profile, verdict)
    assert cache.lookup(PodInfo(pod(name="b")), snapshot, profile) is verdict
    assert cache.lookup(PodInfo(pod(name="c", cpu="2")), snapshot, profile) is None
    snapshot.set_node(node({"name": "n2"}))
    assert cache.lookup(PodInfo(pod(name="b")), snapshot, profile) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.set_pod(s.pod_info(pod({"name": "bound", "node": "n1"}))),
        lambda s: s.remove_node("n1"),
        lambda s: s.set_namespace("team", {"tier": "gold"}),
        lambda s: s.nominate(PodInfo(pod(name="x")), "n1"),
    ],
    ids=["bound pod", "node removed", "namespace", "nomination"],
)
def test_every_kind_of_change_moves_the_version(change: Any) -> None:
    cache, snapshot, profile, verdict = cache_setup()
    cache.remember(PodInfo(pod(name="a")), snapshot, profile, verdict)
    change(snapshot)
    assert cache.lookup(PodInfo(pod(name="b")), snapshot, profile) is None


def test_the_walk_start_is_part_of_the_stamp() -> None:
    cache, snapshot, profile, verdict = cache_setup()
    cache.remember(PodInfo(pod(name="a")), snapshot, profile, verdict)
    profile.next_start_index += 1
    assert cache.lookup(PodInfo(pod(name="b")), snapshot, profile) is None


def test_nominated_pods_are_decided_afresh() -> None:
    cache, snapshot, profile, verdict = cache_setup()
    cache.remember(PodInfo(pod(name="a")), snapshot, profile, verdict)
    carrying = PodInfo(pod({"name": "b", "status": {"nominatedNodeName": "n1"}}))
    assert cache.lookup(carrying, snapshot, profile) is None
    cache.remember(carrying, snapshot, profile, verdict)  # not kept either
    plain = PodInfo(pod(name="c"))
    snapshot.nominate(plain, "n1")
    cache.remember(PodInfo(pod(name="a")), snapshot, profile, verdict)
    assert cache.lookup(plain, snapshot, profile) is None
    assert cache.lookup(PodInfo(pod(name="d")), snapshot, profile) is verdict


# --- the controller: reuse against computing every pod --------------------------------------


Scenario = Callable[[EmbeddedClient, VirtualClock], None]


def run(
    scenario: Scenario, *, reuse: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Obj], int]:
    """Every Pod and Event change the store published while the scenario ran, and the hits."""
    with monkeypatch.context() as patch:
        if not reuse:
            patch.setattr(FailureCache, "lookup", lambda *args: None)
        clock, client = new_client(VirtualClock())
        seen: list[Obj] = []

        def record(event: WatchEvent) -> None:
            if event.object.get("kind") in ("Pod", "Event"):
                seen.append({"type": event.type, "object": event.object})

        client.add_listener(record)
        scheduler = Scheduler(client)
        manager = Manager(client, clock)
        manager.add(scheduler)
        manager.start()
        scenario(client, clock)
        scheduler.close()
        manager.stop()
        return seen, scheduler.failures.hits


def burst(client: EmbeddedClient, clock: VirtualClock) -> None:
    """Replicas of several templates on a cluster with too little room, nodes arriving and a
    preemption."""
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    client.create(make_node("node-1", cpu="2"))
    client.create(make_node("node-2", cpu="2", taints=GPU))
    client.create(make_pod("batch", cpu="1500m", labels={"app": "batch"}))
    clock.advance(0)
    templates: list[tuple[str, Obj]] = [
        ("huge", {"cpu": "3"}),
        ("web", {"cpu": "1"}),
        ("never", {"cpu": "1", "spec": {"priority": 100, "preemptionPolicy": "Never"}}),
        ("api", {"cpu": "1", "spec": {"priority": 100}}),
        ("gpu", {"cpu": "1", "spec": {"tolerations": TOLERATES_GPU}}),
    ]
    for i in range(6):
        for name, shape in templates:
            client.create(make_pod(f"{name}-{i}", labels={"app": name}, **shape))
        client.create(make_pod(f"web-{i}", namespace="other", cpu="1"))
    clock.advance(0)
    client.create(make_node("node-3", cpu="4", labels={"zone": "b"}))
    clock.advance(1)
    client.delete("v1", "Pod", "batch", namespace="default", grace_period_seconds=0)
    for seconds in (1, 2, 10, 60, 60):
        clock.advance(seconds)


def filling(client: EmbeddedClient, clock: VirtualClock) -> None:
    """In queue order, binds of small pods between big ones that fail: every bind fills a pod
    slot of the node, and once it is full the big pods' message says so too."""
    client.create(make_node("node-1", cpu="2", pods="3"))
    client.create(make_node("node-2", cpu="2", pods="3"))
    for i in range(6):
        client.create(make_pod(f"pod-{i}-a", cpu="10m", labels={"app": "small"}))
        client.create(make_pod(f"pod-{i}-b", cpu="3", labels={"app": "big"}))
        client.create(make_pod(f"pod-{i}-c", cpu="3", labels={"app": "big"}))
    clock.advance(0)


@pytest.mark.parametrize("scenario", [burst, filling])
def test_reused_verdicts_write_what_computing_each_pod_writes(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed, no_hits = run(scenario, reuse=False, monkeypatch=monkeypatch)
    reused, hits = run(scenario, reuse=True, monkeypatch=monkeypatch)
    assert no_hits == 0
    assert hits >= 5  # replicas were answered from the cache
    assert reused == computed  # every write, in the same order, with the same content
    failed = {
        e["object"]["message"]
        for e in computed
        if e["object"]["kind"] == "Event" and e["object"]["reason"] == "FailedScheduling"
    }
    assert len(failed) >= 3  # the scenario goes through several different verdicts


def test_the_burst_preempts_and_mostly_reuses(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, hits = run(burst, reuse=True, monkeypatch=monkeypatch)
    assert hits >= 50
    assert any(e["object"].get("reason") == "Preempted" for e in seen)
