"""The persisted cluster's simulated cloud: saved to ``cloud.json``, restored exactly.

Two kinds of test. **Twins**: one cloud runs on; its copy is saved mid-way, restored into a new
cloud on another clock at the same time, and both are stepped alike — every instance, pending
step, message and cent must agree. **Sessions**: :class:`ClusterSession` runs the autoscaler on
the persisted cluster across commands, and a damaged file is refused by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.cloud.provider import Instance
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.state import (
    CloudStateError,
    cloud_to_json,
    load_cloud,
    restore_cloud,
    save_cloud,
)
from shipyard.core.clock import VirtualClock
from shipyard.platform.session import CLOUD_FILE, ClusterSession
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass
from tests.cloud.helpers import reqs, request, small_cloud
from tests.platform.test_autoscaling_helpers import nodepool, web

CT = "karpenter.sh/capacity-type"
T_FAMILY = ("t3.medium", "t3.large", "t4g.medium", "t4g.large")


def launch(cloud: SimulatedCloud, capacity_type: str, claim: str) -> Instance:
    types = [t for t in cloud.instance_types({}) if t.name in T_FAMILY]
    return cloud.create(request(types, reqs((CT, "In", [capacity_type])), claim_name=claim))


def busy_cloud(clock: VirtualClock) -> tuple[SimulatedCloud, list[Instance]]:
    """Instances in every kind of state, with steps pending on the clock and messages unread."""
    cloud = small_cloud(clock, spot_interruption_rate=2.0)
    running = launch(cloud, "on-demand", "running")
    spot = launch(cloud, "spot", "spot")
    stopped = launch(cloud, "on-demand", "stopped")
    leaving = launch(cloud, "on-demand", "leaving")
    clock.advance(20)  # all running; their nodes turn Ready at 25 s
    booting = launch(cloud, "on-demand", "booting")  # running at 35 s
    cloud.interrupt_spot(spot.instance_id, at=clock.now() + 30)
    cloud.rebalance(running.instance_id)  # a message nobody has read yet
    cloud.scheduled_change(running.instance_id, at=clock.now() + 7, deadline=clock.now() + 900)
    cloud.stop_externally(stopped.instance_id, at=clock.now() + 3)
    cloud.delete(leaving.provider_id)  # shutting down, terminated at 25 s
    cloud.account.publish_ami("al2023")  # account state: a newer image is now @latest
    return cloud, [running, spot, stopped, leaving, booting]


def restored(data: Any, clock: VirtualClock) -> tuple[SimulatedCloud, VirtualClock]:
    twin_clock = VirtualClock(start=clock.now())
    twin = small_cloud(twin_clock, spot_interruption_rate=2.0)
    restore_cloud(twin, json.loads(json.dumps(data)))  # through real JSON text
    return twin, twin_clock


def test_a_restored_cloud_carries_on_exactly_like_the_original() -> None:
    clock = VirtualClock()
    cloud, _ = busy_cloud(clock)
    twin, twin_clock = restored(cloud_to_json(cloud), clock)
    assert twin.export_state() == cloud.export_state()
    ready: list[tuple[str, float]] = []
    twin.on_ready(lambda i: ready.append((i.claim_name, twin_clock.now())))
    for step in (2, 3, 4, 30, 200):
        clock.advance(step)
        twin_clock.advance(step)
        assert twin.export_state() == cloud.export_state()
        assert twin.interruptions() == cloud.interruptions()
        assert twin.cost() == cloud.cost()
    assert ready == [("running", clock_at(25)), ("spot", clock_at(25)), ("booting", clock_at(45))]


def clock_at(seconds: float) -> float:
    return VirtualClock().now() + seconds


def test_every_pending_step_fires_at_its_saved_time() -> None:
    clock = VirtualClock()
    cloud, (running, spot, stopped, leaving, booting) = busy_cloud(clock)
    twin, twin_clock = restored(cloud_to_json(cloud), clock)
    twin_clock.advance(5)  # 25 s: the deleted instance finished shutting down
    assert twin.get(stopped.provider_id).state == "stopping"  # since 23 s
    assert [i.claim_name for i in twin.list()] == ["running", "spot", "stopped", "booting"]
    assert twin.all_instances()[3].state == "terminated"
    twin_clock.advance(3)  # 28 s: stopped
    assert twin.get(stopped.provider_id).state == "stopped"
    assert twin.get(booting.provider_id).state == "pending"
    twin_clock.advance(7)  # 35 s: the booting instance runs
    assert twin.get(booting.provider_id).state == "running"
    twin_clock.advance(15)  # 50 s: the spot warning arrives, reclaim 120 s later
    kinds = [m.kind for m in twin.interruptions()]
    assert kinds[0] == "rebalance" and "spot-interruption" in kinds
    twin_clock.advance(125)
    assert twin.get(running.provider_id).state == "running"
    assert spot.provider_id not in {i.provider_id for i in twin.list()}
    assert leaving.provider_id not in {i.provider_id for i in twin.list()}


def test_cost_keeps_accruing_across_a_save() -> None:
    clock = VirtualClock()
    cloud, (running, *_rest) = busy_cloud(clock)
    billed = cloud.cost(instance_id=running.instance_id)
    assert billed == pytest.approx(running.price * 5 / 3600)  # running since 15 s
    twin, twin_clock = restored(cloud_to_json(cloud), clock)
    twin_clock.advance(3600)
    assert twin.cost(instance_id=running.instance_id) == pytest.approx(running.price * 3605 / 3600)


def test_held_capacity_and_the_launch_counter_come_back() -> None:
    clock = VirtualClock()
    cloud, (running, *_rest) = busy_cloud(clock)
    twin, _ = restored(cloud_to_json(cloud), clock)
    i = running
    assert twin.availability.in_use(i.instance_type, i.zone, i.capacity_type, "") == (
        cloud.availability.in_use(i.instance_type, i.zone, i.capacity_type, "")
    )
    assert twin.availability.in_use(i.instance_type, i.zone, i.capacity_type, "") > 0
    assert launch(twin, "on-demand", "next").instance_id == (
        launch(cloud, "on-demand", "next").instance_id
    )
    assert twin.account.latest("al2023", "arm64") == cloud.account.latest("al2023", "arm64")


def test_save_writes_the_file_atomically_and_load_reads_it(tmp_path: Path) -> None:
    clock = VirtualClock()
    cloud, _ = busy_cloud(clock)
    path = tmp_path / CLOUD_FILE
    save_cloud(cloud, path)
    assert [p.name for p in tmp_path.iterdir()] == [CLOUD_FILE]  # no temporary left behind
    twin = small_cloud(VirtualClock(start=clock.now()), spot_interruption_rate=2.0)
    assert load_cloud(twin, path) is True
    assert twin.export_state() == cloud.export_state()
    assert load_cloud(small_cloud(clock), tmp_path / "missing.json") is False


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _set(("instances", 1, "instance", "price"), "cheap"),
            'instances[1].instance.price: expected a number, got the string "cheap"',
        ),
        (_drop(("instances", 0, "instance", "zone")), "instances[0].instance.zone: missing"),
        (
            _set(("instances", 0, "instance", "state"), "melted"),
            "instances[0].instance.state: expected one of pending",
        ),
        (
            _set(("instances", 4, "scheduled", 0, "action"), "explode"),
            "instances[4].scheduled[0].action: unknown step",
        ),
        (
            _set(("instances", 0, "instance", "capacity", "cpu"), 1.5),
            "instances[0].instance.capacity.cpu: expected an integer, got the number 1.5",
        ),
        (
            _set(("instances", 0, "holdsCapacity"), "yes"),
            "instances[0].holdsCapacity: expected true or false",
        ),
        (_set(("launched",), 2), "launched: 2 is fewer than the 5 instances listed"),
        (_set(("messages",), {}), "messages: expected a list, got an object"),
        (
            _set(("account", "latest", 0, "image"), "ami-gone"),
            "account.latest[0].image: names no image",
        ),
        (
            _set(("region",), "eu-west-1"),
            "saved for region eu-west-1 seed 0; this cloud is region us-east-1",
        ),
        (_set(("version",), 7), "version: this Shipyard reads version 1, not 7"),
    ],
)
def test_a_bad_state_is_refused_with_its_field_path_and_changes_nothing(
    mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    clock = VirtualClock()
    cloud, _ = busy_cloud(clock)
    data = cloud_to_json(cloud)
    mutate(data)
    fresh = small_cloud(VirtualClock(start=clock.now()))
    latest_before = fresh.account.latest("al2023", "amd64")
    with pytest.raises(CloudStateError) as caught:
        restore_cloud(fresh, data, source="/data/cloud.json")
    assert caught.value.message.startswith(
        "cannot restore the simulated cloud from /data/cloud.json: "
    )
    assert expected in caught.value.message
    assert fresh.all_instances() == []
    assert fresh.account.latest("al2023", "amd64") == latest_before


def test_a_file_that_is_not_json_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / CLOUD_FILE
    path.write_text('{"version": 1, "instances": [')
    with pytest.raises(CloudStateError, match=rf"from {path}: not valid JSON \(.*line 1"):
        load_cloud(small_cloud(VirtualClock()), path)


# --- sessions --------------------------------------------------------------------------------


def arranged(where: Path) -> None:
    session = ClusterSession(where)
    for obj in (make_nodeclass(), nodepool(), web()):
        session.store.create(obj)
    session.close()


def claims(session: ClusterSession) -> list[dict[str, Any]]:
    return session.store.list("karpenter.sh/v1", "NodeClaim").items


def test_a_session_runs_the_autoscaler_and_the_next_one_keeps_its_instance(
    tmp_path: Path,
) -> None:
    arranged(tmp_path)
    first = ClusterSession(tmp_path)
    first.run_for(20)  # launched at ~1 s, running at ~16 s: the node is not Ready yet
    [claim] = claims(first)
    provider_id = claim["status"]["providerID"]
    assert first.cloud.get(provider_id).state == "running"
    first.close()

    second = ClusterSession(tmp_path)
    second.run_for(40)  # Ready (saved step), the pod runs; nothing new is launched
    assert [c["status"]["providerID"] for c in claims(second)] == [provider_id]
    assert len(second.cloud.all_instances()) == 1
    [node] = second.store.list("v1", "Node").items
    assert node["spec"]["providerID"] == provider_id
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    [pod] = second.store.list("v1", "Pod").items
    assert pod["spec"]["nodeName"] == node["metadata"]["name"]
    assert second.cloud.cost() == pytest.approx(
        second.cloud.get(provider_id).price * 44 / 3600, abs=1e-6
    )
    second.close()


def test_run_for_in_steps_hands_the_cloud_over_without_doubling_anything(
    tmp_path: Path,
) -> None:
    arranged(tmp_path)
    session = ClusterSession(tmp_path)
    for _ in range(12):  # as rollout status does: 5 s at a time
        session.run_for(5)
    [claim] = claims(session)
    [instance] = session.cloud.all_instances()
    assert instance.state == "running"
    assert [n["spec"]["providerID"] for n in session.store.list("v1", "Node").items] == [
        claim["status"]["providerID"]
    ]
    in_use = session.cloud.availability.in_use(
        instance.instance_type, instance.zone, instance.capacity_type, ""
    )
    assert in_use == 1
    session.close()


def test_deleting_the_nodeclaim_terminates_its_instance_in_a_later_session(
    tmp_path: Path,
) -> None:
    arranged(tmp_path)
    session = ClusterSession(tmp_path)
    session.run_for(60)
    [claim] = claims(session)
    session.close()

    session = ClusterSession(tmp_path)
    session.store.delete("karpenter.sh/v1", "NodeClaim", claim["metadata"]["name"])
    session.close()

    session = ClusterSession(tmp_path)
    session.run_for(60)
    old = claim["status"]["providerID"]
    states = {i.provider_id: i.state for i in session.cloud.all_instances()}
    assert states[old] == "terminated"
    nodes = [n["spec"]["providerID"] for n in session.store.list("v1", "Node").items]
    assert old not in nodes
    session.close()


def test_a_damaged_cloud_file_stops_run_for_and_is_left_as_it_was(tmp_path: Path) -> None:
    arranged(tmp_path)
    session = ClusterSession(tmp_path)
    session.run_for(30)
    session.close()
    path = tmp_path / CLOUD_FILE
    data = json.loads(path.read_text())
    data["instances"][0]["instance"]["price"] = None
    path.write_text(json.dumps(data))
    before = path.read_text()

    session = ClusterSession(tmp_path)
    assert len(claims(session)) == 1  # reading the cluster still works
    with pytest.raises(CloudStateError, match=rf"{path}: instances\[0\]\.instance\.price"):
        session.run_for(10)
    session.close()
    assert path.read_text() == before
    session = ClusterSession(tmp_path)
    assert len(claims(session)) == 1  # nothing was garbage-collected
    session.close()
