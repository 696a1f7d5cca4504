"""The controller runtime: routing, de-duplication, requeue by result and by error type."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shipyard.cluster import events as events_module
from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.events import EventRecorder
from shipyard.cluster.runtime import Manager, Result, Watches, owner_keys
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import ConflictError, TemporaryError
from shipyard.core.objects import ObjectKey
from shipyard.platform.wiring import memory_cluster

Env = tuple[VirtualClock, EmbeddedClient]


def configmap(name: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
    }


@dataclass
class Recorder:
    name: str = "test.recorder"
    seen: list[tuple[float, str]] = field(default_factory=list)
    script: list[object] = field(default_factory=list)
    clock: VirtualClock | None = None

    def watches(self) -> list[Watches]:
        return [Watches("v1", "ConfigMap")]

    def reconcile(self, key: ObjectKey) -> Result | None:
        assert self.clock is not None
        self.seen.append((self.clock.now() - 1767225600.0, key.name))
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        return step if isinstance(step, Result) else None


@pytest.fixture
def env() -> Env:
    clock = VirtualClock()
    return clock, EmbeddedClient(memory_cluster(clock))


def start(env: Env, ctl: Recorder) -> Manager:
    clock, client = env
    ctl.clock = clock
    manager = Manager(client, clock)
    manager.add(ctl)
    manager.start()
    return manager


def test_existing_objects_are_reconciled_once_at_start(env: Env) -> None:
    clock, client = env
    client.create(configmap("a"))
    ctl = Recorder()
    start(env, ctl)
    clock.run_until_idle()
    assert ctl.seen == [(0.0, "a")]


def test_changes_are_queued_once_per_key_until_reconciled(env: Env) -> None:
    clock, client = env
    ctl = Recorder()
    start(env, ctl)
    client.create(configmap("a"))
    client.patch("v1", "ConfigMap", "a", {"data": {"x": "1"}}, namespace="default")
    client.create(configmap("b"))
    clock.run_until_idle()
    assert [name for _, name in ctl.seen] == ["a", "b"]


def test_requeue_after_and_errors(env: Env) -> None:
    clock, client = env
    ctl = Recorder(
        script=[
            Result(requeue_after=30),
            ConflictError("x"),
            TemporaryError("later", delay=10),
            RuntimeError("boom"),
            None,
        ]
    )
    start(env, ctl)
    client.create(configmap("a"))
    clock.advance(600)
    # 0: Result(30) -> 30: conflict -> 30: temporary(10) -> 40: crash -> back-off 0.5s -> 40.5
    assert ctl.seen == [(0.0, "a"), (30.0, "a"), (30.0, "a"), (40.0, "a"), (40.5, "a")]


def test_owner_mapper_routes_dependents_to_their_controller() -> None:
    mapper = owner_keys("apps/v1", "ReplicaSet")
    pod = {
        "metadata": {
            "namespace": "ns",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "rs",
                    "uid": "u",
                    "controller": True,
                }
            ],
        }
    }
    assert list(mapper(pod)) == [ObjectKey("apps/v1", "ReplicaSet", "ns", "rs")]
    assert list(mapper({"metadata": {}})) == []


def test_events_fold_repeats_into_a_count(env: Env) -> None:
    clock, client = env
    cm = client.create(configmap("a"))
    rec = EventRecorder(client, "test-controller")
    rec.event(cm, "Warning", "Broken", "it broke")
    clock.advance(60)
    rec.event(cm, "Warning", "Broken", "it broke")
    rec.event(cm, "Normal", "Fixed", "all good")
    events = client.list("v1", "Event", namespace="default").items
    by_reason = {e["reason"]: e for e in events}
    assert by_reason["Broken"]["count"] == 2
    assert by_reason["Broken"]["firstTimestamp"] != by_reason["Broken"]["lastTimestamp"]
    assert by_reason["Fixed"]["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert by_reason["Fixed"]["source"] == {"component": "test-controller"}


def test_a_recorder_remembers_only_its_most_recent_events(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, client = env
    monkeypatch.setattr(events_module, "_REMEMBERED", 3)
    rec = EventRecorder(client, "test-controller")
    maps = [client.create(configmap(f"cm-{i}")) for i in range(5)]
    for cm in maps:
        rec.event(cm, "Normal", "Seen", "once")
        clock.advance(1)
    rec.event(maps[4], "Normal", "Seen", "once")  # still remembered: folded
    rec.event(maps[0], "Normal", "Seen", "once")  # forgotten: a new Event
    events = client.list("v1", "Event", namespace="default").items
    counts = sorted((e["involvedObject"]["name"], e["count"]) for e in events)
    assert counts == [
        ("cm-0", 1), ("cm-0", 1), ("cm-1", 1), ("cm-2", 1), ("cm-3", 1), ("cm-4", 2),
    ]  # fmt: skip
    assert len(rec._seen) == 3


def test_two_recorders_about_same_named_objects_do_not_collide(env: Env) -> None:
    _, client = env
    cm = client.create(configmap("web"))
    EventRecorder(client, "one").event(cm, "Normal", "A", "from one")
    EventRecorder(client, "two").event(cm, "Normal", "B", "from two")
    reasons = sorted(e["reason"] for e in client.list("v1", "Event", namespace="default").items)
    assert reasons == ["A", "B"]
