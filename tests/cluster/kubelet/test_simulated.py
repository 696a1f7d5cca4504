"""The simulated container runtime: profiles, timelines, pulls, stops, probes and metrics."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster.kubelet import ContainerState, ImageProfile, ProbeKind, SimulatedRuntime
from shipyard.cluster.kubelet.simulated import (
    image_repository,
    normalized_repository,
    profile_for,
    profile_overrides,
)
from shipyard.core.clock import VirtualClock

Obj = dict[str, Any]
HTTP = {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}}


def sim_pod(
    name: str = "web-1",
    *,
    uid: str | None = None,
    node: str = "node-1",
    image: str = "example/web:1",
    annotations: dict[str, str] | None = None,
    init: list[Obj] | None = None,
    **container: Any,
) -> Obj:
    pod: Obj = {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid or f"uid-{name}",
            "annotations": annotations or {},
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent", **container}
            ],
        },
    }
    if init:
        pod["spec"]["initContainers"] = init
    return pod


def runtime(
    profiles: dict[str, ImageProfile] | None = None,
) -> tuple[VirtualClock, SimulatedRuntime]:
    clock = VirtualClock(0.0)
    return clock, SimulatedRuntime(clock, profiles)


def main_state(rt: SimulatedRuntime, pod: Obj) -> ContainerState:
    return rt.status(pod).containers["main"].state


# --- profiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("example/web:2", "exact"),
        ("example/web:1", "repository"),
        ("example/web@sha256:abc", "repository"),
        ("other/app:1", "star"),
    ],
)
def test_profiles_are_found_by_reference_then_repository_then_star(
    image: str, expected: str
) -> None:
    profiles = {
        "example/web:2": ImageProfile(capacity_rps=2),
        "example/web": ImageProfile(capacity_rps=1),
        "*": ImageProfile(capacity_rps=3),
    }
    found = profile_for(profiles, image).capacity_rps
    assert found == {"exact": 2, "repository": 1, "star": 3}[expected]


def test_without_a_match_the_default_profile_applies() -> None:
    assert profile_for({}, "x/y:1") == ImageProfile()


@pytest.mark.parametrize(
    ("image", "repository", "normalized"),
    [
        ("alpine:3.21", "alpine", "docker.io/library/alpine"),
        ("example/web:1", "example/web", "docker.io/example/web"),
        (
            "gcr.io/heptio-images/ks-guestbook-demo:0.3",
            "gcr.io/heptio-images/ks-guestbook-demo",
            None,
        ),
        ("localhost:5000/web", "localhost:5000/web", None),
        ("registry:5000/team/web:1@sha256:ff", "registry:5000/team/web", None),
    ],
)
def test_image_references(image: str, repository: str, normalized: str | None) -> None:
    assert image_repository(image) == repository
    assert normalized_repository(image) == (normalized or repository)


def test_annotations_override_fields_for_all_or_one_container() -> None:
    annotations = {
        "sim.shipyard.dev/ready": "false",
        "sim.shipyard.dev/crash-after-seconds": "30",
        "sim.shipyard.dev/main.crash_after_seconds": "none",
        "sim.shipyard.dev/sidecar.exit_code": "3",
        "sim.shipyard.dev/unknown": "1",
        "other.io/ready": "true",
    }
    assert profile_overrides(annotations, "main") == {
        "ready": "false",
        "crash_after_seconds": "none",
    }
    sidecar = ImageProfile().with_overrides(profile_overrides(annotations, "sidecar"))
    assert (sidecar.ready, sidecar.crash_after_seconds, sidecar.exit_code) == (False, 30.0, 3)
    main = ImageProfile(crash_after_seconds=5).with_overrides(
        profile_overrides(annotations, "main")
    )
    assert main.crash_after_seconds is None


def test_unparsable_annotation_values_are_ignored() -> None:
    profile = ImageProfile().with_overrides(
        {"ready": "maybe", "pull_seconds": "-1", "exit_code": "x"}
    )
    assert profile == ImageProfile()


# --- timelines --------------------------------------------------------------------------------


def test_a_container_pulls_then_creates_then_runs() -> None:
    clock, rt = runtime({"*": ImageProfile(pull_seconds=2, startup_seconds=1)})
    pod = sim_pod()
    rt.start(pod, "main")
    status = rt.status(pod)
    main = status.containers["main"]
    assert (main.state, main.reason, main.container_id, main.attempt) == (
        ContainerState.WAITING,
        "ContainerCreating",
        "",
        0,
    )
    assert main.pull is not None and main.pull.finished_at is None
    assert status.ip.startswith("127.128.") and status.next_change == 2.0
    clock.advance(2)
    assert rt.status(pod).containers["main"].pull.finished_at == 2.0  # type: ignore[union-attr]
    assert rt.status(pod).next_change == 3.0
    clock.advance(1)
    running = rt.status(pod).containers["main"]
    assert running.state is ContainerState.RUNNING and running.started_at == 3.0
    assert running.container_id.startswith("shipyard-sim://")
    assert running.image_id.startswith("docker.io/example/web@sha256:")
    assert rt.status(pod).next_change is None


def test_a_crashing_container_exits_with_its_code_and_restarts_as_a_new_attempt() -> None:
    clock, rt = runtime(
        {"*": ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=5, exit_code=2)}
    )
    pod = sim_pod()
    rt.start(pod, "main")
    clock.advance(5)
    exited = rt.status(pod).containers["main"]
    assert (exited.state, exited.exit_code, exited.reason, exited.finished_at) == (
        ContainerState.EXITED,
        2,
        "Error",
        5.0,
    )
    rt.start(pod, "main")
    again = rt.status(pod).containers["main"]
    assert again.attempt == 1 and again.state is ContainerState.RUNNING
    assert again.previous is not None and again.previous.exit_code == 2
    assert again.container_id != exited.container_id


def test_images_are_cached_per_node_and_shared_while_pulling() -> None:
    clock, rt = runtime({"*": ImageProfile(pull_seconds=10, startup_seconds=0)})
    first, second = sim_pod("a"), sim_pod("b")
    elsewhere = sim_pod("c", node="node-2")
    rt.start(first, "main")
    clock.advance(4)
    rt.start(second, "main")  # the same image, being pulled on this node: waits for that pull
    rt.start(elsewhere, "main")
    assert rt.status(second).next_change == 10.0
    assert rt.status(elsewhere).next_change == 14.0
    clock.advance(6)
    late = sim_pod("d")
    rt.start(late, "main")
    assert rt.status(late).containers["main"].pull is None  # already present
    assert main_state(rt, late) is ContainerState.RUNNING


def test_pull_policy_never_and_unpullable_images_wait_with_kubernetes_reasons() -> None:
    clock, rt = runtime({"bad/app": ImageProfile(pullable=False, pull_seconds=1)})
    never = sim_pod("a", imagePullPolicy="Never")
    rt.start(never, "main")
    assert rt.status(never).containers["main"].reason == "ErrImageNeverPull"
    bad = sim_pod("b", image="bad/app:2")
    rt.start(bad, "main")
    assert rt.status(bad).containers["main"].reason == "ContainerCreating"
    clock.advance(1)
    failed = rt.status(bad).containers["main"]
    assert failed.state is ContainerState.WAITING and failed.reason == "ErrImagePull"
    assert 'failed to pull and unpack image "docker.io/bad/app:2"' in failed.message
    rt.start(bad, "main")  # a retried pull replaces the failed one: no new attempt
    assert rt.status(bad).containers["main"].attempt == 0


def test_an_init_container_that_never_exits_completes_once_it_runs() -> None:
    clock, rt = runtime({"*": ImageProfile(pull_seconds=0, startup_seconds=1)})
    pod = sim_pod(init=[{"name": "setup", "image": "busybox:1"}])
    rt.start(pod, "setup")
    clock.advance(1)
    setup = rt.status(pod).containers["setup"]
    assert (setup.state, setup.exit_code, setup.reason) == (ContainerState.EXITED, 0, "Completed")


# --- stopping ---------------------------------------------------------------------------------


def running(profile: ImageProfile, **container: Any) -> tuple[VirtualClock, SimulatedRuntime, Obj]:
    clock, rt = runtime({"*": profile})
    pod = sim_pod(**container)
    rt.start(pod, "main")
    clock.advance(profile.pull_seconds + profile.startup_seconds)
    return clock, rt, pod


def test_stop_runs_the_prestop_hook_then_exits_cleanly_within_the_grace_period() -> None:
    base = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=3)
    clock, rt, pod = running(base, lifecycle={"preStop": {"sleep": {"seconds": 5}}})
    rt.stop(pod, 30)
    main = rt.status(pod).containers["main"]
    assert main.state is ContainerState.RUNNING and main.stopping
    assert rt.status(pod).next_change == 8.0
    clock.advance(8)
    main = rt.status(pod).containers["main"]
    assert (main.state, main.exit_code, main.reason) == (ContainerState.EXITED, 0, "Completed")


def test_a_process_slower_than_the_grace_period_is_killed() -> None:
    base = ImageProfile(pull_seconds=0, startup_seconds=0, shutdown_seconds=60)
    clock, rt, pod = running(base)
    rt.stop(pod, 10)
    clock.advance(10)
    main = rt.status(pod).containers["main"]
    assert (main.exit_code, main.finished_at) == (137, 10.0)


def test_a_prestop_hook_longer_than_the_grace_period_gets_two_more_seconds() -> None:
    base = ImageProfile(pull_seconds=0, startup_seconds=0, prestop_seconds=60, shutdown_seconds=5)
    clock, rt, pod = running(base, lifecycle={"preStop": {"exec": {"command": ["sleep", "60"]}}})
    rt.stop(pod, 10)  # the hook is cut at 10 s; SIGTERM then gets the 2 s minimum
    clock.advance(12)
    main = rt.status(pod).containers["main"]
    assert (main.exit_code, main.finished_at) == (137, 12.0)


def test_stopping_a_container_that_is_still_pulling_abandons_it() -> None:
    _, rt = runtime()
    pod = sim_pod()
    rt.start(pod, "main")
    rt.stop(pod, 30)
    assert rt.status(pod).containers == {}


# --- probes -----------------------------------------------------------------------------------


def test_readiness_passes_after_ready_after_seconds_and_never_for_a_bad_release() -> None:
    clock, rt = runtime(
        {
            "example/web": ImageProfile(pull_seconds=0, startup_seconds=0, ready_after_seconds=5),
            "example/broken": ImageProfile(pull_seconds=0, startup_seconds=0, ready=False),
        }
    )
    good, bad = sim_pod("good"), sim_pod("bad", image="example/broken:1")
    rt.start(good, "main")
    rt.start(bad, "main")
    early = rt.probe(good, "main", ProbeKind.READINESS, HTTP)
    assert (early.success, early.message) == (False, "HTTP probe failed with statuscode: 503")
    clock.advance(5)
    assert rt.probe(good, "main", ProbeKind.READINESS, HTTP).success
    assert not rt.probe(bad, "main", ProbeKind.READINESS, HTTP).success
    assert rt.probe(bad, "main", ProbeKind.STARTUP, HTTP).success
    assert rt.probe(bad, "main", ProbeKind.LIVENESS, HTTP).success


def test_a_hung_process_fails_liveness_with_a_timeout() -> None:
    base = ImageProfile(pull_seconds=0, startup_seconds=0, hang_after_seconds=30)
    clock, rt, pod = running(base, ports=[{"name": "http", "containerPort": 8080}])
    assert rt.probe(pod, "main", ProbeKind.LIVENESS, HTTP).success
    clock.advance(30)
    result = rt.probe(pod, "main", ProbeKind.LIVENESS, HTTP)
    assert not result.success
    ip = rt.status(pod).ip
    assert result.message == (
        f'Get "http://{ip}:8080/ready": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    )
    tcp = rt.probe(pod, "main", ProbeKind.LIVENESS, {"tcpSocket": {"port": "http"}})
    assert tcp.message == f"dial tcp {ip}:8080: i/o timeout"


def test_probing_a_container_that_does_not_run_fails() -> None:
    _, rt = runtime()
    assert not rt.probe(sim_pod(), "main", ProbeKind.LIVENESS, HTTP).success


# --- metrics ----------------------------------------------------------------------------------


def test_cpu_usage_follows_the_recorded_load_up_to_the_cpu_limit() -> None:
    profile = ImageProfile(
        pull_seconds=0, startup_seconds=0, cpu_millicores_idle=10, cpu_millicores_per_rps=2
    )
    _, rt, _ = running(profile, resources={"limits": {"cpu": "500m"}})
    assert rt.pod_cpu_usage("default", "web-1") == 10.0
    rt.record_load("default", "web-1", 100)
    assert rt.pod_cpu_usage("default", "web-1") == 210.0
    rt.record_load("default", "web-1", 1000)
    assert rt.pod_cpu_usage("default", "web-1") == 500.0
    assert rt.pod_cpu_usage("default", "unknown") is None


def test_cpu_usage_is_unknown_before_the_container_runs() -> None:
    _, rt = runtime()
    rt.start(sim_pod(), "main")
    assert rt.pod_cpu_usage("default", "web-1") is None


def test_capacity_is_served_only_while_running_ready_and_not_stopping() -> None:
    profile = ImageProfile(
        pull_seconds=0,
        startup_seconds=1,
        ready_after_seconds=4,
        capacity_rps=50,
        hang_after_seconds=100,
    )
    clock, rt = runtime({"*": profile})
    pod = sim_pod()
    rt.start(pod, "main")
    assert rt.capacity("default", "web-1") == 0
    clock.advance(5)
    assert rt.capacity("default", "web-1") == 50
    clock.advance(96)
    assert rt.capacity("default", "web-1") == 0  # hung
    other = sim_pod("web-2")
    rt.start(other, "main")
    clock.advance(5)
    assert rt.capacity("default", "web-2") == 50
    rt.stop(other, 30)
    assert rt.capacity("default", "web-2") == 0


def test_remove_forgets_the_pod() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=0)
    _, rt, pod = running(profile)
    rt.remove(pod)
    assert rt.status(pod).containers == {}
    assert rt.pod_cpu_usage("default", "web-1") is None
    assert rt.capacity("default", "web-1") == 0
