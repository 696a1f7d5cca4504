"""The Job controller: completions and parallelism, back-off to the limit, deadlines, indexes.

No scheduler or kubelet runs here: ``run_pods`` binds pending pods and marks them Running and
Ready, ``succeed``/``fail`` end a pod as a kubelet would, ``finish_terminations`` lets pods
being deleted go.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.runtime import Manager
from shipyard.cluster.workloads.job import (
    COMPLETION_INDEX,
    TRACKING_FINALIZER,
    JobController,
    backoff_delay,
    format_indexes,
    parse_indexes,
)
from shipyard.core.clock import VirtualClock, format_time
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from tests.cluster.fixtures import merge, new_client

Env = tuple[VirtualClock, EmbeddedClient]


# --- builders and helpers -------------------------------------------------------------------


def make_job(name: str = "pi", **spec: Any) -> Obj:
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "pi", "image": "example/pi:1"}],
                }
            },
        },
    }
    return merge(job, {"spec": spec})


@pytest.fixture
def env() -> Env:
    return new_client()


def start(env: Env, job: Obj) -> None:
    clock, client = env
    manager = Manager(client, clock)
    manager.add(JobController(client))
    manager.start()
    client.create(job)
    settle(env)


def settle(env: Env, seconds: float = 1.0) -> None:
    env[0].advance(seconds)


def pods(client: EmbeddedClient, job: str = "pi") -> list[Obj]:
    found = client.list("v1", "Pod", namespace="default", label_selector=f"job-name={job}")
    return sorted(found.items, key=lambda p: p["metadata"]["name"])


def active_pods(client: EmbeddedClient) -> list[Obj]:
    return [
        p
        for p in pods(client)
        if p["status"]["phase"] in ("Pending", "Running")
        and not p["metadata"].get("deletionTimestamp")
    ]


def job_status(client: EmbeddedClient, name: str = "pi") -> dict[str, Any]:
    status: dict[str, Any] = client.get("batch/v1", "Job", name, namespace="default")["status"]
    return status


def conditions(client: EmbeddedClient) -> dict[str, tuple[str, str]]:
    return {
        c["type"]: (c.get("reason", ""), c.get("message", ""))
        for c in job_status(client).get("conditions", [])
        if c["status"] == "True"
    }


def events(client: EmbeddedClient, reason: str) -> list[str]:
    return [
        e["message"]
        for e in client.list("v1", "Event", namespace="default").items
        if e["reason"] == reason
    ]


def _status_patch(env: Env, pod: Obj, status: dict[str, Any], then: float) -> None:
    env[1].patch(
        "v1", "Pod", pod["metadata"]["name"], {"status": status},
        namespace="default", subresource="status",
    )  # fmt: skip
    settle(env, then)


def run_pods(env: Env) -> None:
    """Scheduler and kubelet: bind pending pods and mark them Running and Ready."""
    clock, client = env
    now = format_time(clock.now())
    for pod in active_pods(client):
        if pod["status"]["phase"] != "Pending":
            continue
        client.patch(
            "v1", "Pod", pod["metadata"]["name"], {"spec": {"nodeName": "node-1"}},
            namespace="default",
        )  # fmt: skip
        ready = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        status = {"phase": "Running", "startTime": now, "conditions": [ready]}
        _status_patch(env, pod, status, then=0)
    settle(env)


def _ended(env: Env, phase: str, exit_code: int) -> dict[str, Any]:
    now = format_time(env[0].now())
    terminated = {"exitCode": exit_code, "finishedAt": now, "reason": "Completed"}
    return {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
        "containerStatuses": [
            {"name": "pi", "restartCount": 0, "state": {"terminated": terminated}}
        ],
    }


def succeed(env: Env, pod: Obj, *, then: float = 1.0) -> None:
    _status_patch(env, pod, _ended(env, "Succeeded", 0), then)


def fail(env: Env, pod: Obj, *, then: float = 1.0) -> None:
    _status_patch(env, pod, _ended(env, "Failed", 1), then)


def finish_terminations(env: Env) -> None:
    """Kubelet: pods being deleted stop and go (a grace-0 delete once the store has grace)."""
    _, client = env
    graceful = "grace_period_seconds" in inspect.signature(client.delete).parameters
    for pod in pods(client):
        if pod["metadata"].get("deletionTimestamp"):
            extra: dict[str, Any] = {"grace_period_seconds": 0} if graceful else {}
            try:
                client.delete("v1", "Pod", pod["metadata"]["name"], namespace="default", **extra)
            except NotFoundError:
                continue
    settle(env)


# --- success --------------------------------------------------------------------------------


def test_parallel_pods_run_to_the_number_of_completions(env: Env) -> None:
    _, client = env
    start(env, make_job(completions=5, parallelism=2))
    assert len(active_pods(client)) == 2
    run_pods(env)
    assert job_status(client)["active"] == 2
    assert job_status(client)["ready"] == 2

    rounds = 0
    while "Complete" not in conditions(client):
        for pod in active_pods(client)[:1]:
            succeed(env, pod)
        run_pods(env)
        assert len(active_pods(client)) <= 2
        rounds += 1
        assert rounds < 10

    status = job_status(client)
    assert status["succeeded"] == 5
    assert status["uncountedTerminatedPods"] == {}
    assert status["ready"] == 0
    assert status["terminating"] == 0
    assert "active" not in status
    assert "failed" not in status
    complete = next(c for c in status["conditions"] if c["type"] == "Complete")
    assert status["completionTime"] == complete["lastTransitionTime"]
    assert conditions(client) == {
        "SuccessCriteriaMet": ("CompletionsReached", "Reached expected number of succeeded pods"),
        "Complete": ("CompletionsReached", "Reached expected number of succeeded pods"),
    }
    assert len(pods(client)) == 5
    assert all(TRACKING_FINALIZER not in p["metadata"].get("finalizers", []) for p in pods(client))
    assert events(client, "Completed") == ["Job completed"]
    assert len(events(client, "SuccessfulCreate")) == 5


def test_pods_are_labelled_owned_and_tracked(env: Env) -> None:
    _, client = env
    start(env, make_job())
    (pod,) = pods(client)
    job = client.get("batch/v1", "Job", "pi", namespace="default")
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
    assert labels["batch.kubernetes.io/job-name"] == "pi"
    assert pod["metadata"]["generateName"] == "pi-"
    assert pod["metadata"]["finalizers"] == [TRACKING_FINALIZER]
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Job", "pi", True)
    assert events(client, "SuccessfulCreate") == [f"Created pod: {pod['metadata']['name']}"]
    assert job_status(client)["startTime"] == job["metadata"]["creationTimestamp"]


def test_a_finished_pod_is_counted_once_its_finalizer_is_off(env: Env) -> None:
    _, client = env
    start(env, make_job(completions=2, parallelism=1))
    run_pods(env)
    (first,) = active_pods(client)
    succeed(env, first, then=0)

    assert job_status(client)["succeeded"] == 1
    assert job_status(client)["uncountedTerminatedPods"] == {}
    stored = client.get("v1", "Pod", first["metadata"]["name"], namespace="default")
    assert TRACKING_FINALIZER not in stored["metadata"].get("finalizers", [])
    assert len(active_pods(client)) == 1


def test_a_work_queue_job_completes_when_one_pod_succeeded_and_the_rest_finished(
    env: Env,
) -> None:
    _, client = env
    start(env, make_job(parallelism=3))
    run_pods(env)
    first, second, third = active_pods(client)

    succeed(env, first)
    assert len(active_pods(client)) == 2  # no replacement once one pod succeeded
    assert "Complete" not in conditions(client)
    succeed(env, second)
    succeed(env, third)
    assert "Complete" in conditions(client)
    assert job_status(client)["succeeded"] == 3


# --- failure --------------------------------------------------------------------------------


def test_failed_pods_are_recreated_with_exponential_back_off_until_the_backoff_limit(
    env: Env,
) -> None:
    _, client = env
    start(env, make_job(backoffLimit=2))
    run_pods(env)

    (first,) = active_pods(client)
    fail(env, first, then=9)
    assert active_pods(client) == []  # 10 s back-off after the first failure
    assert job_status(client)["failed"] == 1
    settle(env, 1)
    (second,) = active_pods(client)
    run_pods(env)

    fail(env, second, then=19)
    assert active_pods(client) == []  # 20 s after the second
    settle(env, 1)
    (third,) = active_pods(client)
    run_pods(env)
    assert "FailureTarget" not in conditions(client)

    fail(env, third)
    assert conditions(client) == {
        "FailureTarget": ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        "Failed": ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    }
    assert job_status(client)["failed"] == 3
    assert "completionTime" not in job_status(client)
    assert events(client, "BackoffLimitExceeded") == ["Job has reached the specified backoff limit"]
    settle(env, 600)
    assert active_pods(client) == []


def test_a_success_resets_the_back_off(env: Env) -> None:
    _, client = env
    start(env, make_job(completions=3, parallelism=2))
    run_pods(env)
    first, second = active_pods(client)

    fail(env, first, then=0)
    succeed(env, second, then=0)  # the failure happened before this success
    assert len(active_pods(client)) == 2  # replacements start at once


def test_restarts_of_on_failure_pods_count_against_the_backoff_limit(env: Env) -> None:
    _, client = env
    job = make_job(backoffLimit=2)
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    start(env, job)
    run_pods(env)
    (pod,) = active_pods(client)

    restarted = {"name": "pi", "restartCount": 1, "state": {"running": {}}}
    _status_patch(env, pod, {"containerStatuses": [restarted]}, then=1)
    assert "FailureTarget" not in conditions(client)
    _status_patch(env, pod, {"containerStatuses": [{**restarted, "restartCount": 2}]}, then=1)

    assert conditions(client)["FailureTarget"][0] == "BackoffLimitExceeded"
    finish_terminations(env)
    assert conditions(client)["Failed"][0] == "BackoffLimitExceeded"
    assert job_status(client)["failed"] == 1


def test_active_deadline_fails_the_job_and_stops_its_pods(env: Env) -> None:
    _, client = env
    start(env, make_job(parallelism=2, completions=4, activeDeadlineSeconds=60))
    run_pods(env)
    assert len(active_pods(client)) == 2

    settle(env, 57)  # 59 s after the start
    assert "FailureTarget" not in conditions(client)
    settle(env, 1)

    assert conditions(client)["FailureTarget"] == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    assert active_pods(client) == []
    if job_status(client)["terminating"]:  # a kubelet is still stopping them: not Failed yet
        assert "Failed" not in conditions(client)
    finish_terminations(env)
    status = job_status(client)
    assert conditions(client)["Failed"] == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    assert status["failed"] == 2
    assert status["terminating"] == 0
    assert events(client, "DeadlineExceeded") == ["Job was active longer than specified deadline"]
    assert len(events(client, "SuccessfulDelete")) == 2
    assert pods(client) == []


def test_an_evicted_pod_counts_as_failed_and_is_replaced(env: Env) -> None:
    _, client = env
    start(env, make_job(completions=1))
    run_pods(env)
    (pod,) = active_pods(client)

    client.delete("v1", "Pod", pod["metadata"]["name"], namespace="default")
    settle(env, 0)
    assert job_status(client)["failed"] == 1
    finish_terminations(env)
    settle(env, 10)
    assert len(active_pods(client)) == 1


# --- indexed --------------------------------------------------------------------------------


def test_indexed_job_runs_one_pod_per_pending_index(env: Env) -> None:
    _, client = env
    start(env, make_job(completions=3, parallelism=2, completionMode="Indexed"))
    run_pods(env)

    def index_of(pod: Obj) -> str:
        return str(pod["metadata"]["annotations"][COMPLETION_INDEX])

    assert sorted(index_of(p) for p in active_pods(client)) == ["0", "1"]
    first = next(p for p in active_pods(client) if index_of(p) == "0")
    assert first["metadata"]["labels"][COMPLETION_INDEX] == "0"
    assert first["metadata"]["generateName"] == "pi-0-"
    assert first["spec"]["hostname"] == "pi-0"
    assert first["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"

    succeed(env, next(p for p in active_pods(client) if index_of(p) == "1"))
    assert job_status(client)["completedIndexes"] == "1"
    assert job_status(client)["succeeded"] == 1
    assert sorted(index_of(p) for p in active_pods(client)) == ["0", "2"]

    fail(env, first, then=10)
    assert sorted(index_of(p) for p in active_pods(client)) == ["0", "2"]  # index 0 again
    run_pods(env)
    for pod in active_pods(client):
        succeed(env, pod)
    assert job_status(client)["completedIndexes"] == "0-2"
    assert job_status(client)["succeeded"] == 3
    assert job_status(client)["failed"] == 1
    assert "Complete" in conditions(client)


# --- cleanup --------------------------------------------------------------------------------


def test_ttl_after_finished_deletes_the_job_and_its_pods(env: Env) -> None:
    _, client = env
    start(env, make_job(ttlSecondsAfterFinished=100))
    run_pods(env)
    succeed(env, active_pods(client)[0])
    assert "Complete" in conditions(client)

    settle(env, 98)
    assert client.list("batch/v1", "Job", namespace="default").items
    settle(env, 2)
    assert client.list("batch/v1", "Job", namespace="default").items == []
    assert pods(client) == []


def test_deleting_a_job_releases_its_pods(env: Env) -> None:
    _, client = env
    start(env, make_job(parallelism=2, completions=2))
    run_pods(env)

    client.delete("batch/v1", "Job", "pi", namespace="default")
    settle(env)
    finish_terminations(env)
    assert pods(client) == []


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 10.0), (2, 20.0), (3, 40.0), (5, 160.0), (6, 320.0), (7, 360.0), (60, 360.0)],
)
def test_backoff_delay_doubles_from_ten_seconds_up_to_six_minutes(
    failures: int, delay: float
) -> None:
    assert backoff_delay(failures) == delay


@pytest.mark.parametrize(
    ("indexes", "text"),
    [(set(), ""), ({3}, "3"), ({1, 2}, "1,2"), ({0, 1, 2}, "0-2"), ({1, 3, 4, 5, 9}, "1,3-5,9")],
)
def test_completed_indexes_round_trip(indexes: set[int], text: str) -> None:
    assert format_indexes(indexes) == text
    assert parse_indexes(text) == indexes
