"""Persisted runs: WorkflowRun and WorkflowJobLog in the store, listing, logs, broken files."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from shipyard.ci.orchestrator import RunRequest, RunResult, WorkflowRunner
from shipyard.ci.records import API_VERSION, LOG_KIND, RUN_KIND, get_run, list_runs, run_logs
from shipyard.ci.workflow import WorkflowError, parse_workflow
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.platform.wiring import memory_cluster
from shipyard.store.store import Store
from tests.ci.test_orchestrator import PUSH, FakeJobs, run, workflow

SIMPLE = """
name: CI
run-name: Build ${{ github.ref_name }}
on: push
jobs:
  lint:
    runs-on: local
    steps: [{run: ok}]
  test:
    runs-on: local
    needs: lint
    strategy: {matrix: {py: ["3.11", "3.12"]}}
    steps: [{run: "${{ matrix.py == '3.12' && 'fail' || 'ok' }}"}]
"""


@pytest.fixture
def store() -> Store:
    return memory_cluster(VirtualClock())


def test_a_run_is_stored_with_its_jobs_steps_and_logs(store: Store, tmp_path: Path) -> None:
    result = run(SIMPLE, tmp_path, store=store)
    view = get_run(store, result.run_id)
    assert (view.name, view.phase, view.conclusion) == (result.name, "completed", "failure")
    assert (view.workflow, view.workflow_name, view.title) == (
        ".github/workflows/ci.yml", "CI", "Build main"
    )  # fmt: skip
    assert (view.event, view.ref, view.sha) == ("push", "refs/heads/main", "a" * 40)
    assert view.jobs[0].key == "lint"  # the matrix jobs finish in any order after it
    assert sorted((j.key, j.result) for j in view.jobs) == [
        ("lint", "success"), ("test (3.11)", "success"), ("test (3.12)", "failure")
    ]  # fmt: skip
    assert view.jobs[0].steps[0]["outcome"] == "success"
    assert view.started is not None and view.finished is not None
    logs = run_logs(store, result.run_id)
    assert logs["lint"] == "$ ok"
    assert dict(sorted(run_logs(store, result.run_id, job="test").items())) == {
        "test (3.11)": "$ ok",
        "test (3.12)": "$ fail",
    }
    assert run_logs(store, result.run_id, job="test (3.12)") == {"test (3.12)": "$ fail"}


def test_run_ids_increase_and_run_numbers_count_per_workflow(store: Store, tmp_path: Path) -> None:
    first = run(SIMPLE, tmp_path, store=store)
    other = run_workflow_file(store, tmp_path, ".github/workflows/other.yml")
    second = run(SIMPLE, tmp_path, store=store)
    assert (first.run_id, other.run_id, second.run_id) == (1, 2, 3)
    assert (first.run_number, other.run_number, second.run_number) == (1, 1, 2)
    assert [v.run_id for v in list_runs(store)] == [3, 2, 1]
    assert [v.run_id for v in list_runs(store, workflow=".github/workflows/ci.yml")] == [3, 1]


def run_workflow_file(store: Store, root: Path, file: str) -> RunResult:
    text = "on: push\njobs: {a: {runs-on: x, steps: [{run: ok}]}}"
    return WorkflowRunner(clock=VirtualClock(), store=store, job_runner=FakeJobs()).run(
        RunRequest(workflow(text, file=file), "push", root, payload=PUSH)
    )


def test_a_broken_workflow_is_a_failed_run_with_the_positioned_message(
    store: Store, tmp_path: Path
) -> None:
    broken: WorkflowError | None = None
    try:
        parse_workflow("on: push\njobs:\n  a:\n    runs-on: x\n    step: []\n",
                       file=".github/workflows/broken.yml")  # fmt: skip
    except WorkflowError as err:
        broken = err
    assert broken is not None
    runner = WorkflowRunner(clock=VirtualClock(), store=store, job_runner=FakeJobs())
    failed = runner.run(RunRequest(broken, "push", tmp_path, payload=PUSH))
    fine = run(SIMPLE.replace("'fail'", "'ok'"), tmp_path, store=store)
    assert (failed.conclusion, failed.jobs) == ("failure", ())
    assert ".github/workflows/broken.yml:5:5" in failed.message
    view = get_run(store, failed.run_id)
    assert (view.conclusion, view.workflow) == ("failure", ".github/workflows/broken.yml")
    assert "broken.yml:5:5" in view.message
    assert fine.conclusion == "success"


def test_status_is_written_while_the_run_progresses(store: Store, tmp_path: Path) -> None:
    jobs = FakeJobs()
    runner = WorkflowRunner(clock=VirtualClock(), store=store, job_runner=jobs)
    handle = runner.start(RunRequest(workflow("""
        on: push
        jobs:
          slow: {runs-on: x, steps: [{run: hold}]}
    """), "push", tmp_path, payload=PUSH))  # fmt: skip
    assert jobs.event("slow").wait(5)
    during = get_run(store, handle.run_id)
    jobs.release()
    handle.result()
    assert during.phase == "in_progress"
    assert [(j.key, j.result) for j in during.jobs] == [("slow", "")]
    assert get_run(store, handle.run_id).phase == "completed"


def test_missing_runs_and_jobs_are_reported(store: Store, tmp_path: Path) -> None:
    result = run(SIMPLE, tmp_path, store=store)
    with pytest.raises(NotFoundError, match="workflow run 99 not found"):
        get_run(store, 99)
    with pytest.raises(NotFoundError, match=r"no log for job 'deploy' \(jobs: lint"):
        run_logs(store, result.run_id, job="deploy")


def test_the_kinds_validate_and_deleting_a_run_deletes_its_logs(
    store: Store, tmp_path: Path
) -> None:
    result = run(SIMPLE, tmp_path, store=store)
    obj = store.get(API_VERSION, RUN_KIND, result.name)
    obj["status"]["phase"] = "done"
    with pytest.raises(InvalidError, match=r"status\.phase"):
        store.update_status(obj)
    assert len(store.list(API_VERSION, LOG_KIND).items) == 3
    store.delete(API_VERSION, RUN_KIND, result.name, namespace="default")
    assert store.list(API_VERSION, LOG_KIND).items == []


def test_jobs_see_the_stored_run_id_and_number(store: Store, tmp_path: Path) -> None:
    run(SIMPLE, tmp_path, store=store)
    jobs = FakeJobs()
    second = run(SIMPLE, tmp_path, jobs, store=store)
    github = cast(dict[str, str], jobs.requests["lint"].contexts["github"])
    assert (github["run_id"], github["run_number"]) == ("2", "2")
    assert second.name == "run-2"
