"""Pod phase and conditions as pure functions of container views (Kubernetes' getPhase)."""

from __future__ import annotations

import pytest

from shipyard.cluster.kubelet import ContainerState, ContainerStatus
from shipyard.cluster.kubelet.podstatus import (
    ContainerView,
    container_status,
    pod_conditions,
    pod_phase,
)

W, R, X = ContainerState.WAITING, ContainerState.RUNNING, ContainerState.EXITED


def view(
    spec: str, name: str = "main", *, ready: bool = False, backoff: bool = False
) -> ContainerView:
    """``spec``: "none", "waiting", "running", "exit:N", "restarting:N" (waiting after N)."""
    if spec == "none":
        return ContainerView(name, "img")
    kind, _, code = spec.partition(":")
    previous = None
    if kind == "restarting":
        previous = ContainerStatus(name, 0, "img", X, "id0", exit_code=int(code), started_at=1.0)
        return ContainerView(name, "img", ContainerStatus(name, 1, "img", W, previous=previous))
    state = {"waiting": W, "running": R, "exit": X}[kind]
    rt = ContainerStatus(
        name,
        0,
        "img",
        state,
        "id" if state is not W else "",
        started_at=1.0 if state is not W else None,
        exit_code=int(code) if code else None,
        finished_at=2.0 if code else None,
    )
    waiting = ("CrashLoopBackOff", "back-off") if backoff else None
    return ContainerView(name, "img", rt, ready=ready, started=state is R, waiting=waiting)


@pytest.mark.parametrize(
    ("policy", "inits", "containers", "terminal", "phase"),
    [
        ("Always", [], ["none"], False, "Pending"),
        ("Always", [], ["waiting"], False, "Pending"),
        ("Always", [], ["running"], False, "Running"),
        ("Always", [], ["running", "waiting"], False, "Pending"),
        ("Always", [], ["exit:1"], False, "Running"),  # about to restart
        ("Always", [], ["restarting:1"], False, "Running"),
        ("Always", [], ["exit:0"], True, "Succeeded"),  # terminating, all stopped
        ("Always", [], ["exit:0", "exit:137"], True, "Failed"),
        ("OnFailure", [], ["exit:0"], False, "Succeeded"),
        ("OnFailure", [], ["exit:1"], False, "Running"),
        ("Never", [], ["exit:0"], False, "Succeeded"),
        ("Never", [], ["exit:0", "exit:2"], False, "Failed"),
        ("Never", [], ["exit:0", "running"], False, "Running"),
        ("Always", ["running"], ["none"], False, "Pending"),
        ("Always", ["exit:0"], ["waiting"], False, "Pending"),
        ("Always", ["exit:0"], ["running"], False, "Running"),
        ("Never", ["exit:1"], ["none"], False, "Failed"),
        ("Always", ["restarting:1"], ["none"], False, "Pending"),
    ],
)
def test_pod_phase(
    policy: str, inits: list[str], containers: list[str], terminal: bool, phase: str
) -> None:
    init_views = [view(s, f"init-{i}") for i, s in enumerate(inits)]
    views = [view(s, f"c{i}") for i, s in enumerate(containers)]
    assert pod_phase(policy, init_views, views, terminal=terminal) == phase


def test_a_container_in_crash_loop_back_off_counts_as_stopped_not_succeeded() -> None:
    crashed = view("exit:0", backoff=True)
    assert pod_phase("Always", [], [crashed]) == "Running"


def conditions_of(**kwargs: object) -> dict[str, dict[str, object]]:
    defaults: dict[str, object] = {
        "now": 100.0,
        "sandbox_ready": True,
        "inits": [],
        "containers": [view("running", ready=True)],
        "phase": "Running",
    }
    defaults.update(kwargs)
    found = pod_conditions((), **defaults)  # type: ignore[arg-type]
    return {str(c["type"]): c for c in found}


def test_conditions_come_in_kubectl_order_with_null_probe_times() -> None:
    found = pod_conditions(
        [{"type": "DisruptionTarget", "status": "True"}],
        now=100.0,
        sandbox_ready=True,
        inits=[],
        containers=[view("running", ready=True)],
        phase="Running",
    )
    assert [c["type"] for c in found] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
        "DisruptionTarget",
    ]
    assert all(c["lastProbeTime"] is None for c in found[:5])


def test_unready_and_uninitialised_containers_are_named() -> None:
    found = conditions_of(
        inits=[view("running", "setup"), view("waiting", "migrate")],
        containers=[view("none", "app"), view("none", "proxy")],
        phase="Pending",
    )
    assert found["Initialized"]["reason"] == "ContainersNotInitialized"
    assert found["Initialized"]["message"] == "containers with incomplete status: [setup migrate]"
    assert found["Ready"]["message"] == "containers with unready status: [app proxy]"
    assert found["ContainersReady"]["reason"] == "ContainersNotReady"


def test_a_succeeded_pod_is_not_ready_because_it_completed() -> None:
    found = conditions_of(containers=[view("exit:0")], phase="Succeeded")
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "PodCompleted")


def test_readiness_gates_hold_back_ready_but_not_containers_ready() -> None:
    found = conditions_of(readiness_gates=["example.com/lb"])
    assert found["ContainersReady"]["status"] == "True"
    assert found["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert found["Ready"]["message"] == (
        'corresponding condition of pod readiness gate "example.com/lb" does not exist.'
    )


def test_transition_times_move_only_when_the_status_changes() -> None:
    first = pod_conditions(
        (), now=100.0, sandbox_ready=True, inits=[], containers=[view("running")], phase="Running"
    )
    later = pod_conditions(
        first,
        now=200.0,
        sandbox_ready=True,
        inits=[],
        containers=[view("running", ready=True)],
        phase="Running",
    )
    by_type = {c["type"]: c for c in later}
    assert by_type["Initialized"]["lastTransitionTime"] == "1970-01-01T00:01:40Z"
    assert by_type["Ready"]["lastTransitionTime"] == "1970-01-01T00:03:20Z"


def test_a_container_waiting_in_back_off_shows_its_last_termination() -> None:
    crashed = view("exit:1", backoff=True)
    status = container_status(crashed, "ContainerCreating")
    assert status["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"


def test_a_container_without_an_instance_waits_with_the_default_reason() -> None:
    status = container_status(view("none"), "PodInitializing")
    assert status == {
        "name": "main",
        "image": "img",
        "imageID": "",
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "PodInitializing"}},
    }
