"""Graceful pod termination: Killing events, preStop within the grace period, Ready=False at
once, a terminal phase, then the final delete."""

from __future__ import annotations

from typing import Any

from shipyard.cluster.kubelet import ImageProfile
from shipyard.cluster.kubelet.pods import PodWorker, SyncOutcome
from shipyard.core.clock import format_time
from tests.cluster.kubelet.helpers import (
    Cluster,
    bound_pod,
    container,
    container_status,
    expect_condition,
    start_cluster,
    state_of,
)

Obj = dict[str, Any]
PRESTOP = {"preStop": {"sleep": {"seconds": 5}}}


def running_pod(profile: ImageProfile, **container_fields: Any) -> Cluster:
    cluster = start_cluster({"*": profile})
    cluster.create(bound_pod(containers=[container(**container_fields)]))
    cluster.advance(1)
    assert cluster.pod()["status"]["phase"] == "Running"
    return cluster


class Terminating:
    """A pod worker for a pod marked for deletion, outside the kubelet (no store needed)."""

    def __init__(self, cluster: Cluster, grace: int) -> None:
        cluster.kubelets.kill("node-1")  # the real kubelet steps aside
        pod = cluster.pod()
        pod["metadata"]["deletionTimestamp"] = format_time(cluster.clock.now() + grace)
        pod["metadata"]["deletionGracePeriodSeconds"] = grace
        self.cluster = cluster
        self.events: list[tuple[str, str]] = []
        self.worker = PodWorker(
            pod,
            runtime=cluster.runtime,
            events=lambda obj, type_, reason, msg: self.events.append((reason, msg)),
            now=cluster.clock.now,
            host_ip="127.1.1.1",
        )

    def sync(self) -> SyncOutcome:
        outcome = self.worker.sync()
        if outcome.status is not None:
            self.worker.pod = {**self.worker.pod, "status": outcome.status}
        return outcome


def test_termination_stops_containers_with_prestop_and_marks_the_pod_unready_at_once() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=2)
    cluster = running_pod(profile, lifecycle=PRESTOP)
    term = Terminating(cluster, grace=30)

    first = term.sync()
    assert term.events == [("Killing", "Stopping container main")]
    assert first.status is not None and not first.delete
    expect_condition({"status": first.status}, "Ready", "False", "ContainersNotReady")
    assert container_status({"status": first.status})["ready"] is False
    assert first.wake_at == cluster.clock.now() + 7  # preStop 5 s, then 2 s to exit

    cluster.advance(7)
    done = term.sync()
    assert done.delete
    assert done.status is not None and done.status["phase"] == "Succeeded"
    kind, terminated = state_of({"status": done.status})
    assert (kind, terminated["exitCode"], terminated["reason"]) == ("terminated", 0, "Completed")


def test_a_container_that_outlives_the_grace_period_is_killed_and_the_pod_fails() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=60)
    cluster = running_pod(profile)
    term = Terminating(cluster, grace=10)
    assert term.sync().wake_at == cluster.clock.now() + 10
    cluster.advance(10)
    done = term.sync()
    assert done.delete and done.status is not None
    assert done.status["phase"] == "Failed"
    assert state_of({"status": done.status})[1]["exitCode"] == 137


def test_a_pod_that_never_started_is_deleted_at_once() -> None:
    cluster = start_cluster({"*": ImageProfile(pull_seconds=100)})
    cluster.create(bound_pod())
    term = Terminating(cluster, grace=30)
    outcome = term.sync()
    assert outcome.delete and term.events == []  # nothing ran: nothing to stop


def test_deleting_a_bound_pod_lets_the_kubelet_finish_it() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=2)
    cluster = running_pod(profile, lifecycle=PRESTOP)
    cluster.client.delete("v1", "Pod", "web-1", namespace="default")
    cluster.advance(0)
    terminating = cluster.pod()
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    expect_condition(terminating, "Ready", "False")
    (killing,) = cluster.events("web-1", reason="Killing")
    assert killing["message"] == "Stopping container main"
    cluster.advance(6)
    assert cluster.pod_exists("web-1")
    cluster.advance(1)
    assert not cluster.pod_exists("web-1")
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is None


def test_a_shorter_grace_period_on_delete_wins() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=60)
    cluster = running_pod(profile)
    cluster.client.delete("v1", "Pod", "web-1", namespace="default", grace_period_seconds=5)
    cluster.advance(5)
    assert not cluster.pod_exists("web-1")


def test_a_second_delete_with_a_shorter_grace_period_stops_sooner() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=60)
    cluster = running_pod(profile)
    term = Terminating(cluster, grace=30)
    assert term.sync().wake_at == cluster.clock.now() + 30
    cluster.advance(2)
    term.worker.pod["metadata"]["deletionGracePeriodSeconds"] = 5
    assert term.sync().wake_at == cluster.clock.now() + 5
    assert term.events == [("Killing", "Stopping container main")]  # once
