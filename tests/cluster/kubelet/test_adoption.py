"""A new control plane over a persisted cluster takes over the pods that were running.

Each CLI command builds a fresh ``EmbeddedCluster`` (and so a fresh, empty
``SimulatedRuntime``) over the same store. Like a restarted kubelet, the new one must find
its running pods running — no restart, no ContainerCreating, no readiness flap — and only
what their profile says happens next (a crash that fell due meanwhile) may change them.
"""

from __future__ import annotations

from typing import Any

from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.cluster.kubelet.adoption import reported_pod
from shipyard.cluster.kubelet.simulated import SimulatedRuntime
from shipyard.core.clock import VirtualClock, parse_time
from shipyard.platform.wiring import memory_cluster
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent
from tests.cluster.fixtures import make_node
from tests.cluster.kubelet.helpers import (
    bound_pod,
    container,
    container_status,
    expect_condition,
    http_probe,
    state_of,
)

Obj = dict[str, Any]


def new_session(store: Store) -> EmbeddedCluster:
    """What every CLI command does: a brand-new control plane and runtime over the store."""
    return EmbeddedCluster(store).start()


def first_session(*pods: Obj, seconds: float = 60) -> tuple[VirtualClock, Store]:
    clock = VirtualClock()
    store = memory_cluster(clock)
    cluster = new_session(store)
    cluster.client.create(make_node("node-1"))
    for pod in pods:
        cluster.client.create(pod)
    cluster.run_for(seconds)
    cluster.stop()
    return clock, store


def get_pod(cluster: EmbeddedCluster, name: str = "web-1") -> Obj:
    return cluster.client.get("v1", "Pod", name, namespace="default")


def get_pod_from(store: Store) -> Obj:
    return store.get("v1", "Pod", "web-1", namespace="default")


def events(cluster: EmbeddedCluster, name: str, reason: str) -> list[Obj]:
    return [
        e
        for e in cluster.client.list("v1", "Event").items
        if e["involvedObject"]["name"] == name and e["reason"] == reason
    ]


def record_statuses(store: Store, name: str) -> list[Obj]:
    seen: list[Obj] = []

    def on_event(event: WatchEvent) -> None:
        obj = event.object
        if obj.get("kind") == "Pod" and obj["metadata"]["name"] == name:
            seen.append(obj)

    store.add_listener(on_event)
    return seen


def probed_pod(**annotations: str) -> Obj:
    main = container(
        readinessProbe=http_probe(periodSeconds=5),
        livenessProbe=http_probe(periodSeconds=10),
        startupProbe=http_probe(periodSeconds=2),
    )
    init = container("init", "example/migrate:1")
    pod = bound_pod(containers=[main], metadata={"name": "web-1", "annotations": annotations})
    pod["spec"]["initContainers"] = [init]
    return pod


# --- a running pod is taken over as it is ----------------------------------------------------


def test_a_running_pod_is_not_restarted_by_a_new_session() -> None:
    _, store = first_session(probed_pod())
    cluster = new_session(store)
    before = get_pod(cluster)
    expect_condition(before, "Ready", "True")
    writes = record_statuses(store, "web-1")

    cluster.run_for(120)

    after = get_pod(cluster)
    main, main_before = container_status(after), container_status(before)
    assert main["restartCount"] == main_before["restartCount"] == 0
    assert main["containerID"] == main_before["containerID"]
    assert main["state"] == main_before["state"]
    assert main["ready"] is True and main["started"] is True
    assert state_of(after, "init", init=True)[0] == "terminated"
    assert after["status"]["podIP"] == before["status"]["podIP"]
    ready = expect_condition(after, "Ready", "True")
    assert (
        ready["lastTransitionTime"]
        == expect_condition(before, "Ready", "True")["lastTransitionTime"]
    )
    assert all(expect_condition(p, "Ready", "True") for p in writes)
    assert len(events(cluster, "web-1", "Started")) == 2  # init and main, in the first session
    assert events(cluster, "web-1", "Unhealthy") == []


def test_an_adopted_pod_serves_and_uses_cpu() -> None:
    _, store = first_session(probed_pod())
    cluster = new_session(store)
    cluster.run_for(5)
    assert cluster.runtime.capacity("default", "web-1") == 100.0
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is not None


def test_nothing_is_written_when_a_new_session_takes_over_a_steady_pod() -> None:
    _, store = first_session(bound_pod())
    writes = record_statuses(store, "web-1")
    cluster = new_session(store)
    cluster.run_for(60)
    assert writes == []


# --- and then behaves as its profile says -----------------------------------------------------


def test_a_crash_that_fell_due_while_away_restarts_the_container() -> None:
    pod = bound_pod(metadata={"annotations": {"sim.shipyard.dev/crash_after_seconds": "90"}})
    clock, store = first_session(pod)
    before = get_pod_from(store)
    started = parse_time(state_of(before)[1]["startedAt"])
    clock.advance(120)  # the cluster did not run: nobody saw the crash

    cluster = new_session(store)
    cluster.run_for(5)

    after = get_pod(cluster)
    main = container_status(after)
    assert main["restartCount"] == 1
    assert main["containerID"] != container_status(before)["containerID"]
    last = main["lastState"]["terminated"]
    assert last["containerID"] == container_status(before)["containerID"]
    assert parse_time(last["finishedAt"]) == started + 90
    assert last["exitCode"] == 1
    assert state_of(after)[0] == "running"
    assert len(events(cluster, "web-1", "Started")) == 2


def test_a_crash_looping_pod_keeps_its_restart_count() -> None:
    pod = bound_pod(metadata={"annotations": {"sim.shipyard.dev/crash_after_seconds": "5"}})
    _, store = first_session(pod, seconds=40)
    restarts = container_status(get_pod_from(store))["restartCount"]
    assert restarts >= 2
    cluster = new_session(store)
    cluster.run_for(1)
    assert container_status(get_pod(cluster))["restartCount"] >= restarts


def test_a_pod_not_started_yet_is_started_as_before() -> None:
    slow = bound_pod(metadata={"annotations": {"sim.shipyard.dev/pull_seconds": "30"}})
    _, store = first_session(slow, seconds=10)
    assert state_of(get_pod_from(store)) == ("waiting", {"reason": "ContainerCreating"})
    cluster = new_session(store)
    cluster.run_for(60)
    pod = get_pod(cluster)
    assert state_of(pod)[0] == "running"
    assert container_status(pod)["restartCount"] == 0


# --- the runtime seam --------------------------------------------------------------------------


def test_new_sandboxes_never_get_an_adopted_ip() -> None:
    _, store = first_session(bound_pod())
    running = get_pod_from(store)
    runtime = SimulatedRuntime(store.clock)
    assert runtime.adopt(running) is True
    assert runtime.adopt(running) is False  # known already
    fresh = bound_pod("web-2", metadata={"uid": "u-2"})
    runtime.start(fresh, "main")
    assert runtime.status(fresh).ip != running["status"]["podIP"]


def test_a_removed_pod_is_not_adopted_again() -> None:
    _, store = first_session(bound_pod())
    running = get_pod_from(store)
    runtime = SimulatedRuntime(store.clock)
    runtime.adopt(running)
    runtime.remove(running)
    assert runtime.adopt(running) is False
    assert runtime.status(running).containers == {}


def test_reported_pod_reads_back_what_the_kubelet_wrote() -> None:
    def status(**entry: Any) -> Obj:
        base = {"name": "main", "image": "x", "restartCount": 3, "imageID": "x@sha256:1"}
        return {"status": {"podIP": "127.128.0.9", "containerStatuses": [{**base, **entry}]}}

    last = {
        "terminated": {
            "containerID": "sim://old",
            "exitCode": 1,
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:05Z",
        }
    }
    crash_loop = reported_pod(
        status(
            containerID="sim://old",
            state={"waiting": {"reason": "CrashLoopBackOff"}},
            lastState=last,
        )
    )
    assert crash_loop is not None
    ((only,),) = crash_loop.containers.values()
    assert (only.attempt, only.container_id, only.exit_code) == (3, "sim://old", 1)

    creating = reported_pod(
        status(state={"waiting": {"reason": "ContainerCreating"}}, lastState=last)
    )
    assert creating is not None
    ((before,),) = creating.containers.values()
    assert before.attempt == 2  # the instance being created is started again as attempt 3

    running = reported_pod(
        status(
            containerID="sim://new",
            state={"running": {"startedAt": "2026-01-01T00:00:15Z"}},
            lastState=last,
        )
    )
    assert running is not None
    ((previous, latest),) = running.containers.values()
    assert (previous.attempt, latest.attempt, latest.finished_at) == (2, 3, None)

    done = status(containerID="sim://new", state={"running": {"startedAt": "2026"}})
    done["status"]["phase"] = "Succeeded"
    assert reported_pod(done) is None
    assert reported_pod({"status": {}}) is None
