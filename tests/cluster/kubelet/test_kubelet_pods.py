"""The pod lifecycle on a kubelet: start, readiness, restarts and back-off, probes, init
containers, run-to-completion pods, deadlines, image pull failures, metrics."""

from __future__ import annotations

from shipyard.cluster.kubelet import ImageProfile
from shipyard.core.clock import parse_time
from tests.cluster.kubelet.helpers import (
    Cluster,
    bound_pod,
    container,
    container_status,
    expect_condition,
    http_probe,
    start_cluster,
    state_of,
)

INSTANT = ImageProfile(pull_seconds=0, startup_seconds=0)


def at(cluster: Cluster, stamp: str) -> float:
    return parse_time(stamp) - cluster.t0


# --- start and readiness -------------------------------------------------------------------------


def test_a_pod_goes_pending_running_ready_with_events() -> None:
    cluster = start_cluster({"example/web": ImageProfile(pull_seconds=2, startup_seconds=1)})
    cluster.create(bound_pod(containers=[container(readinessProbe=http_probe(periodSeconds=5))]))

    pending = cluster.pod()
    assert pending["status"]["phase"] == "Pending"
    assert state_of(pending) == ("waiting", {"reason": "ContainerCreating"})
    expect_condition(pending, "PodReadyToStartContainers", "True")
    expect_condition(pending, "Initialized", "True")
    expect_condition(pending, "ContainersReady", "False", "ContainersNotReady")
    ready = expect_condition(pending, "Ready", "False", "ContainersNotReady")
    assert ready["message"] == "containers with unready status: [main]"
    expect_condition(pending, "PodScheduled", "True")
    assert pending["status"]["hostIP"] == "127.1.1.1"
    assert pending["status"]["podIP"].startswith("127.128.")
    assert pending["status"]["startTime"] == "2026-01-01T00:00:00Z"

    cluster.advance(3)
    running = cluster.pod()
    assert running["status"]["phase"] == "Running"
    assert state_of(running) == ("running", {"startedAt": "2026-01-01T00:00:03Z"})
    status = container_status(running)
    assert (status["ready"], status["started"], status["restartCount"]) == (True, True, 0)
    expect_condition(running, "Ready", "True")  # readiness passed at its first run
    assert status["containerID"].startswith("shipyard-sim://")
    assert status["imageID"].startswith("docker.io/example/web@sha256:")
    assert cluster.reasons("web-1") == ["Pulling", "Pulled", "Created", "Started"]
    messages = [e["message"] for e in cluster.events("web-1")]
    assert messages == [
        'Pulling image "example/web:1"',
        'Successfully pulled image "example/web:1" in 2s (2s including waiting). '
        "Image size: 50000000 bytes.",
        "Created container: main",
        "Started container main",
    ]


def test_readiness_follows_the_probe_schedule() -> None:
    profile = ImageProfile(pull_seconds=0, startup_seconds=1, ready_after_seconds=12)
    cluster = start_cluster({"*": profile})
    probe = http_probe(initialDelaySeconds=5, periodSeconds=5)
    cluster.create(bound_pod(containers=[container(readinessProbe=probe)]))
    cluster.advance(60)
    pod = cluster.pod()
    # running at 1, probes at 6, 11 (fail), 16 (pass: ready_after elapsed at 13)
    assert at(cluster, expect_condition(pod, "Ready", "True")["lastTransitionTime"]) == 16
    assert cluster.event_times("web-1", "Unhealthy") == [6.0]
    (unhealthy,) = cluster.events("web-1", reason="Unhealthy")
    assert unhealthy["count"] == 2
    assert unhealthy["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 503"


def test_a_bad_release_runs_but_never_becomes_ready() -> None:
    cluster = start_cluster(
        {"example/web:2": ImageProfile(pull_seconds=0, startup_seconds=0, ready=False)}
    )
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 10}
    cluster.create(bound_pod(containers=[container(image="example/web:2", readinessProbe=probe)]))
    cluster.advance(300)
    pod = cluster.pod()
    assert pod["status"]["phase"] == "Running"
    expect_condition(pod, "Ready", "False", "ContainersNotReady")
    assert container_status(pod)["ready"] is False and container_status(pod)["started"] is True
    (unhealthy,) = cluster.events("web-1", reason="Unhealthy")
    assert unhealthy["count"] == 31
    assert "connect: connection refused" in unhealthy["message"]
    assert cluster.runtime.capacity("default", "web-1") == 0


def test_status_is_written_only_when_it_changes() -> None:
    cluster = start_cluster({"*": INSTANT})
    cluster.create(bound_pod(containers=[container(readinessProbe=http_probe())]))
    cluster.advance(1)
    version = cluster.pod()["metadata"]["resourceVersion"]
    cluster.advance(600)  # sixty passing readiness probes later
    assert cluster.pod()["metadata"]["resourceVersion"] == version


# --- restarts and back-off -----------------------------------------------------------------------


def watch_main_container(
    cluster: Cluster, seconds: int
) -> tuple[list[float], list[tuple[float, str]]]:
    """Sample the container every second: (times it was seen running anew, waiting messages)."""
    starts: list[float] = []
    waits: list[tuple[float, str]] = []
    seen = ""
    for _ in range(seconds + 1):
        pod = cluster.pod()
        kind, details = state_of(pod)
        marker = f"{container_status(pod)['restartCount']}:{kind}"
        if marker != seen and kind == "running":
            starts.append(cluster.t)
        if marker != seen and kind == "waiting" and "message" in details:
            waits.append((cluster.t, details["message"]))
        seen = marker
        cluster.advance(1)
    return starts, waits


def test_a_crashing_container_restarts_with_crash_loop_back_off() -> None:
    crashing = ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=5, exit_code=1)
    cluster = start_cluster({"*": crashing})
    cluster.create(bound_pod())
    starts, waits = watch_main_container(cluster, 150)
    # crash at 5 -> restart now; 10 -> wait 10 s; 25 -> wait 20 s; 50 -> wait 40 s; 95 -> 80 s
    assert starts == [0.0, 5.0, 20.0, 45.0, 90.0]
    uid = cluster.pod()["metadata"]["uid"]
    assert waits == [
        (10.0, f"back-off 10s restarting failed container=main pod=web-1_default({uid})"),
        (25.0, f"back-off 20s restarting failed container=main pod=web-1_default({uid})"),
        (50.0, f"back-off 40s restarting failed container=main pod=web-1_default({uid})"),
        (95.0, f"back-off 1m20s restarting failed container=main pod=web-1_default({uid})"),
    ]
    pod = cluster.pod()
    assert pod["status"]["phase"] == "Running"
    assert state_of(pod)[1]["reason"] == "CrashLoopBackOff"
    status = container_status(pod)
    assert status["restartCount"] == 4
    last = status["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"], last["finishedAt"]) == (
        1,
        "Error",
        "2026-01-01T00:01:35Z",
    )
    (backoff,) = cluster.events("web-1", reason="BackOff")
    assert backoff["type"] == "Warning" and backoff["count"] == 4
    assert (
        backoff["message"]
        == f"Back-off restarting failed container main in pod web-1_default({uid})"
    )


def test_back_off_is_forgotten_after_ten_minutes_of_running() -> None:
    cluster = start_cluster(
        {"*": ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=5)}
    )
    cluster.create(bound_pod())
    cluster.advance(21)  # crashes at 5 (restarted at once) and 10 (restarted at 20)
    assert container_status(cluster.pod())["restartCount"] == 2
    cluster.runtime.set_profile(
        "*", ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=700)
    )
    cluster.advance(4)  # crash at 25 -> back-off 20 s -> restarted at 45 with the new profile
    cluster.advance(21)
    assert state_of(cluster.pod())[0] == "running"
    cluster.advance(700)  # that instance ran 700 s (> 10 min): restarted at once
    assert state_of(cluster.pod())[0] == "running"
    assert container_status(cluster.pod())["restartCount"] == 4


def test_on_failure_restarts_failures_and_completes_on_success() -> None:
    cluster = start_cluster(
        {
            "job/fails": ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=3),
            "job/works": ImageProfile(
                pull_seconds=0, startup_seconds=0, crash_after_seconds=3, exit_code=0
            ),
        }
    )
    cluster.create(
        bound_pod(
            "fails",
            containers=[container(image="job/fails:1")],
            spec={"restartPolicy": "OnFailure"},
        )
    )
    cluster.create(
        bound_pod(
            "works",
            containers=[container(image="job/works:1")],
            spec={"restartPolicy": "OnFailure"},
        )
    )
    cluster.advance(30)
    fails = cluster.pod("fails")
    assert fails["status"]["phase"] == "Running"
    assert container_status(fails)["restartCount"] >= 2
    works = cluster.pod("works")
    assert works["status"]["phase"] == "Succeeded"
    assert state_of(works, "main")[1]["reason"] == "Completed"
    expect_condition(works, "Ready", "False", "PodCompleted")


def test_never_pods_end_succeeded_or_failed() -> None:
    cluster = start_cluster(
        {
            "job/ok": ImageProfile(
                pull_seconds=0, startup_seconds=1, crash_after_seconds=10, exit_code=0
            ),
            "job/bad": ImageProfile(
                pull_seconds=0, startup_seconds=1, crash_after_seconds=10, exit_code=3
            ),
        }
    )
    for name, image in (("ok", "job/ok:1"), ("bad", "job/bad:1")):
        cluster.create(
            bound_pod(name, containers=[container(image=image)], spec={"restartPolicy": "Never"})
        )
    cluster.advance(10)
    assert cluster.pod("ok")["status"]["phase"] == "Running"
    cluster.advance(1)
    ok, bad = cluster.pod("ok"), cluster.pod("bad")
    assert ok["status"]["phase"] == "Succeeded"
    assert bad["status"]["phase"] == "Failed"
    kind, terminated = state_of(bad)
    assert kind == "terminated"
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert (terminated["startedAt"], terminated["finishedAt"]) == (
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:00:11Z",
    )
    assert container_status(bad)["restartCount"] == 0
    expect_condition(bad, "Ready", "False", "ContainersNotReady")
    cluster.advance(600)
    assert cluster.pod("bad")["status"] == bad["status"]  # terminal: nothing restarts


# --- probes that restart -------------------------------------------------------------------------


def test_a_failing_liveness_probe_restarts_the_container() -> None:
    hangs = ImageProfile(pull_seconds=0, startup_seconds=0, hang_after_seconds=30)
    cluster = start_cluster({"*": hangs})
    probe = http_probe(periodSeconds=10, failureThreshold=3)
    cluster.create(
        bound_pod(
            containers=[container(livenessProbe=probe)], spec={"terminationGracePeriodSeconds": 5}
        )
    )
    cluster.advance(55)
    # liveness fails at 30, 40, 50 -> killed at 50 (a hung process ignores SIGTERM: 5 s grace)
    assert cluster.event_times("web-1", "Killing") == [50.0]
    (killing,) = cluster.events("web-1", reason="Killing")
    assert killing["message"] == "Container main failed liveness probe, will be restarted"
    (unhealthy,) = cluster.events("web-1", reason="Unhealthy")
    assert unhealthy["count"] == 3 and unhealthy["message"].startswith(
        "Liveness probe failed: Get "
    )
    pod = cluster.pod()
    assert container_status(pod)["restartCount"] == 1
    assert state_of(pod)[0] == "running"
    assert container_status(pod)["lastState"]["terminated"]["exitCode"] == 137


def test_a_startup_probe_gates_liveness_and_readiness() -> None:
    slow = ImageProfile(pull_seconds=0, startup_seconds=0, ready_after_seconds=25)
    cluster = start_cluster({"*": slow})
    c = container(
        startupProbe=http_probe(periodSeconds=10, failureThreshold=5),
        readinessProbe=http_probe(periodSeconds=10),
        livenessProbe=http_probe(periodSeconds=10),
    )
    cluster.create(bound_pod(containers=[c]))
    cluster.advance(20)
    status = container_status(cluster.pod())
    assert (status["started"], status["ready"]) == (False, False)
    cluster.advance(20)
    status = container_status(cluster.pod())
    assert (status["started"], status["ready"]) == (True, True)
    (unhealthy,) = cluster.events("web-1", reason="Unhealthy")
    assert unhealthy["message"].startswith("Startup probe failed:") and unhealthy["count"] == 3


def test_a_startup_probe_that_never_passes_kills_the_container() -> None:
    cluster = start_cluster(
        {"*": ImageProfile(pull_seconds=0, startup_seconds=0, ready_after_seconds=1000)}
    )
    c = container(startupProbe=http_probe(periodSeconds=5, failureThreshold=2))
    cluster.create(bound_pod(containers=[c]))
    cluster.advance(6)
    (killing,) = cluster.events("web-1", reason="Killing")
    assert killing["message"] == "Container main failed startup probe, will be restarted"


# --- init containers -----------------------------------------------------------------------------


def test_init_containers_run_to_completion_one_at_a_time() -> None:
    cluster = start_cluster(
        {
            "tools/migrate": ImageProfile(
                pull_seconds=0, startup_seconds=1, crash_after_seconds=10, exit_code=0
            ),
            "tools/setup": ImageProfile(pull_seconds=0, startup_seconds=1),
            "*": INSTANT,
        }
    )
    inits = [container("setup", "tools/setup:1"), container("migrate", "tools/migrate:1")]
    cluster.create(bound_pod(spec={"initContainers": inits}))
    pod = cluster.pod()
    assert pod["status"]["phase"] == "Pending"
    init = expect_condition(pod, "Initialized", "False", "ContainersNotInitialized")
    assert init["message"] == "containers with incomplete status: [setup migrate]"
    assert state_of(pod) == ("waiting", {"reason": "PodInitializing"})
    assert state_of(pod, "migrate", init=True) == ("waiting", {"reason": "PodInitializing"})
    cluster.advance(5)
    pod = cluster.pod()
    assert state_of(pod, "setup", init=True)[1]["reason"] == "Completed"
    assert state_of(pod, "migrate", init=True)[0] == "running"
    assert [s["name"] for s in pod["status"]["initContainerStatuses"]] == ["setup", "migrate"]
    cluster.advance(7)  # migrate runs 2..12
    pod = cluster.pod()
    expect_condition(pod, "Initialized", "True")
    assert pod["status"]["phase"] == "Running"
    assert container_status(pod, "migrate", init=True)["ready"] is True
    assert cluster.event_times("web-1", "Started") == [1.0, 2.0, 12.0]


def test_a_failed_init_container_fails_a_never_pod_and_loops_otherwise() -> None:
    cluster = start_cluster(
        {
            "tools/broken": ImageProfile(pull_seconds=0, startup_seconds=0, crash_after_seconds=1),
            "*": INSTANT,
        }
    )
    inits = [container("setup", "tools/broken:1")]
    cluster.create(bound_pod("never", spec={"initContainers": inits, "restartPolicy": "Never"}))
    cluster.create(bound_pod("always", spec={"initContainers": inits}))
    cluster.advance(15)
    assert cluster.pod("never")["status"]["phase"] == "Failed"
    always = cluster.pod("always")
    assert always["status"]["phase"] == "Pending"
    assert state_of(always, "setup", init=True)[1]["reason"] == "CrashLoopBackOff"
    assert state_of(always) == ("waiting", {"reason": "PodInitializing"})


# --- deadlines, pulls, metrics ----------------------------------------------------------------


def test_active_deadline_fails_the_pod() -> None:
    cluster = start_cluster({"*": INSTANT})
    cluster.create(bound_pod(spec={"activeDeadlineSeconds": 30, "restartPolicy": "Never"}))
    cluster.advance(29)
    assert cluster.pod()["status"]["phase"] == "Running"
    cluster.advance(1)
    status = cluster.pod()["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert status["message"] == "Pod was active on the node longer than the specified deadline"


def test_an_image_that_cannot_be_pulled_backs_off() -> None:
    cluster = start_cluster({"example/web:404": ImageProfile(pull_seconds=1, pullable=False)})
    cluster.create(bound_pod(containers=[container(image="example/web:404")]))
    cluster.advance(1)
    pod = cluster.pod()
    kind, waiting = state_of(pod)
    assert (kind, waiting["reason"]) == ("waiting", "ErrImagePull")
    cluster.advance(1)
    assert state_of(cluster.pod())[1] == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "example/web:404"',
    }
    cluster.advance(60)
    pod = cluster.pod()
    assert pod["status"]["phase"] == "Pending"
    # pulls at 0, 11 (10 s after the failure at 1), 32 (20 s after 12)
    assert cluster.event_times("web-1", "Pulling") == [0.0]
    (pulling,) = cluster.events("web-1", reason="Pulling")
    assert pulling["count"] == 3
    failed = [e["message"] for e in cluster.events("web-1", reason="Failed")]
    assert failed[0].startswith('Failed to pull image "example/web:404": failed to pull and unpack')
    assert "Error: ErrImagePull" in failed and "Error: ImagePullBackOff" in failed
    assert "containerID" not in container_status(pod) and container_status(pod)["imageID"] == ""


def test_an_image_already_on_the_node_is_not_pulled_again() -> None:
    cluster = start_cluster({"*": ImageProfile(pull_seconds=5, startup_seconds=0)})
    cluster.create(bound_pod("web-1"))
    cluster.advance(10)
    cluster.create(bound_pod("web-2"))
    (pulled,) = cluster.events("web-2", reason="Pulled")
    assert pulled["message"] == 'Container image "example/web:1" already present on machine'
    assert state_of(cluster.pod("web-2"))[0] == "running"


def test_cpu_usage_and_capacity_follow_the_running_pod() -> None:
    profile = ImageProfile(
        pull_seconds=0,
        startup_seconds=2,
        cpu_millicores_idle=20,
        cpu_millicores_per_rps=3,
        capacity_rps=40,
    )
    cluster = start_cluster({"*": profile})
    cluster.create(bound_pod())
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is None
    assert cluster.runtime.capacity("default", "web-1") == 0
    cluster.advance(2)
    assert cluster.runtime.capacity("default", "web-1") == 40
    cluster.runtime.record_load("default", "web-1", 30)
    assert cluster.runtime.pod_cpu_usage("default", "web-1") == 110


def test_a_pod_removed_from_the_api_is_forgotten_by_the_runtime() -> None:
    cluster = start_cluster({"*": INSTANT})
    cluster.create(bound_pod(spec={"restartPolicy": "Never", "activeDeadlineSeconds": 1}))
    cluster.advance(2)  # terminal: removed at once by a delete
    cluster.client.delete("v1", "Pod", "web-1", namespace="default")
    cluster.advance(0)
    assert cluster.runtime.pod_cpu_usage("default", "web-1") is None
    assert cluster.kubelets.kubelet("node-1").pod_keys() == []  # type: ignore[union-attr]


def test_pods_of_a_node_without_a_kubelet_wait_until_it_has_one() -> None:
    cluster = start_cluster({"*": INSTANT}, nodes=())
    cluster.create(bound_pod(node="late"))
    assert "containerStatuses" not in cluster.pod()["status"]
    from tests.cluster.fixtures import make_node

    cluster.create(make_node("late"))
    assert cluster.pod()["status"]["phase"] == "Running"


def test_passing_probes_of_a_healthy_pod_cost_nothing_per_period() -> None:
    cluster = start_cluster({"*": INSTANT})
    probed = container(readinessProbe=http_probe(), livenessProbe=http_probe())
    cluster.create(bound_pod(containers=[probed]))
    cluster.advance(1)
    expect_condition(cluster.pod(), "Ready", "True")
    before = cluster.manager.reconciles
    cluster.advance(600)
    assert cluster.manager.reconciles - before <= 4  # the node's status reports, not the pod
