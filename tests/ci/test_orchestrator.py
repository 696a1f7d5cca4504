"""Workflow runs: needs and skip propagation, matrix, fail-fast, max-parallel, cancellation.

Most tests drive the orchestrator with :class:`FakeJobs`, a job runner that interprets each
``run:`` line as a tiny command (``ok``, ``fail``, ``wait``, ``hold``) after interpolating it
with the job's contexts, so the scheduling rules are checked without spawning processes.
The end-to-end tests at the bottom use the real ``run_job`` with real shell steps.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shipyard.ci.execution import Cancellation, JobRecord, JobRequest, LogSink, StepRecord
from shipyard.ci.expressions import interpolate
from shipyard.ci.orchestrator import (
    RunRequest,
    RunResult,
    WorkflowRunner,
    dispatch_inputs,
    run_workflow,
)
from shipyard.ci.records import run_logs
from shipyard.ci.workflow import parse_workflow
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError
from shipyard.platform.wiring import memory_cluster

PUSH = {"ref": "refs/heads/main", "after": "a" * 40}


class FakeJobs:
    """A job runner: each step's ``run`` (interpolated) is ``ok``, ``fail``, ``wait`` (until
    cancelled), ``hold`` (until :meth:`release`) or ``overlap`` (notes how many jobs run at
    once). Outputs are the job's ``outputs`` interpolated with the job's contexts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.requests: dict[str, JobRequest] = {}
        self.running = 0
        self.most_at_once = 0
        self.started_event: dict[str, threading.Event] = {}
        self.released = threading.Event()
        self.crowd = threading.Event()

    def event(self, key: str) -> threading.Event:
        with self.lock:
            return self.started_event.setdefault(key, threading.Event())

    def release(self) -> None:
        self.released.set()

    def __call__(
        self, request: JobRequest, *, executor: object, actions: object, log: LogSink,
        cancel: Cancellation, clock: VirtualClock,
    ) -> JobRecord:  # fmt: skip
        with self.lock:
            self.started.append(request.key)
            self.requests[request.key] = request
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            if self.running >= 3:
                self.crowd.set()
        self.event(request.key).set()
        try:
            result = self._steps(request, log, cancel)
        finally:
            with self.lock:
                self.running -= 1
        outputs = {k: interpolate(v, request.contexts) for k, v in request.job.outputs.items()}
        steps = (StepRecord(0, "fake", None, result, result, None, None),)
        return JobRecord(request.key, request.job.id, request.name, result, outputs, steps,
                         "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")  # fmt: skip

    def _steps(self, request: JobRequest, log: LogSink, cancel: Cancellation) -> Any:
        for step in request.job.steps:
            command = interpolate(step.run or "", request.contexts).strip()
            log.line(request.key, request.masker.mask(f"$ {command}"))
            if command == "fail":
                return "failure"
            if command == "wait" and not cancel.wait(5):
                return "failure"
            if command == "hold":
                self.released.wait(5)
            if command == "overlap":
                self.crowd.wait(0.15)
            if cancel.cancelled:
                return "cancelled"
        return "success"


def workflow(text: str, file: str = ".github/workflows/ci.yml") -> Any:
    return parse_workflow(textwrap.dedent(text), file=file)


def run(text: str, tmp_path: Path, jobs: FakeJobs | None = None, **options: Any) -> RunResult:
    return run_workflow(
        options.pop("store", None), workflow(text), options.pop("event", "push"),
        repository_root=tmp_path, clock=VirtualClock(), job_runner=jobs or FakeJobs(),
        payload=options.pop("payload", PUSH), **options,
    )  # fmt: skip


def results(result: RunResult) -> dict[str, str]:
    return {j.key: j.result for j in result.jobs}


# -- needs and skip propagation ----------------------------------------------------------------

NEEDS = """
on: push
jobs:
  a:
    if: {a_if}
    runs-on: local
    steps: [{{run: {a_run}}}]
    continue-on-error: {a_coe}
  b:
    needs: a
    if: {b_if}
    runs-on: local
    steps: [{{run: ok}}]
  c:
    needs: b
    if: {c_if}
    runs-on: local
    steps: [{{run: ok}}]
"""


@pytest.mark.parametrize(
    "case",
    [
        ("ok", "true", "false", "''", "''", ("success", "success", "success")),
        ("fail", "true", "false", "''", "''", ("failure", "skipped", "skipped")),
        ("fail", "true", "false", "always()", "''", ("failure", "success", "skipped")),
        ("fail", "true", "false", "failure()", "''", ("failure", "success", "skipped")),
        ("ok", "true", "false", "failure()", "''", ("success", "skipped", "skipped")),
        ("fail", "true", "false", "success()", "''", ("failure", "skipped", "skipped")),
        ("fail", "true", "false", "'!cancelled()'", "''", ("failure", "success", "skipped")),
        ("fail", "true", "false", "cancelled()", "''", ("failure", "skipped", "skipped")),
        ("ok", "false", "false", "''", "''", ("skipped", "skipped", "skipped")),
        ("ok", "false", "false", "always()", "''", ("skipped", "success", "success")),
        ("ok", "false", "false", "failure()", "always()", ("skipped", "skipped", "success")),
        ("fail", "true", "false", "''", "failure()", ("failure", "skipped", "success")),
        ("fail", "true", "false", "always()", "success()", ("failure", "success", "skipped")),
        ("fail", "true", "false", "always()", "always()", ("failure", "success", "success")),
        ("fail", "true", "true", "''", "''", ("failure", "success", "success")),
        ("ok", "true", "false", "needs.a.result == 'success'", "''", ("success",) * 3),
        ("fail", "true", "false", "needs.a.result == 'failure'", "''",
         ("failure", "skipped", "skipped")),
    ],
)  # fmt: skip
def test_needs_and_skip_propagation(tmp_path: Path, case: tuple[Any, ...]) -> None:
    """(a's run, a's if, a's continue-on-error, b's if, c's if) → results of a, b, c."""
    a_run, a_if, a_coe, b_if, c_if, expected = case
    text = NEEDS.format(a_run=a_run, a_if=a_if, a_coe=a_coe, b_if=b_if, c_if=c_if)
    result = run(text, tmp_path)
    assert (results(result)["a"], results(result)["b"], results(result)["c"]) == expected


def test_conclusion_counts_continue_on_error_as_success(tmp_path: Path) -> None:
    failing = NEEDS.format(a_run="fail", a_if="true", a_coe="false", b_if="''", c_if="''")
    tolerated = NEEDS.format(a_run="fail", a_if="true", a_coe="true", b_if="''", c_if="''")
    assert run(failing, tmp_path).conclusion == "failure"
    assert run(tolerated, tmp_path).conclusion == "success"


def test_needs_context_carries_results_and_outputs(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          setup:
            outputs: {version: "1.${{ github.ref_name }}"}
            runs-on: local
            steps: [{run: ok}]
          build:
            needs: [setup]
            outputs: {seen: "${{ needs.setup.result }} ${{ needs.setup.outputs.version }}"}
            runs-on: local
            steps: [{run: ok}]
    """, tmp_path, jobs)  # fmt: skip
    assert result.job("build").outputs == {"seen": "success 1.main"}
    assert jobs.requests["build"].contexts["needs"] == {
        "setup": {"result": "success", "outputs": {"version": "1.main"}}
    }
    assert jobs.started == ["setup", "build"]


def test_job_if_may_not_use_the_matrix_context(tmp_path: Path) -> None:
    result = run("""
        on: push
        jobs:
          a:
            if: matrix.x == 1
            runs-on: local
            steps: [{run: ok}]
    """, tmp_path)  # fmt: skip
    assert results(result) == {"a": "failure"}
    assert "Error when evaluating 'if' for job 'a'" in result.job("a").error
    assert "matrix" in result.job("a").error


def test_independent_jobs_run_concurrently_up_to_max_jobs(tmp_path: Path) -> None:
    jobs = FakeJobs()
    text = "on: push\njobs:\n" + "".join(
        f"  j{i}:\n    runs-on: local\n    steps: [{{run: overlap}}]\n" for i in range(4)
    )
    result = run(text, tmp_path, jobs, max_jobs=3)
    assert result.conclusion == "success"
    assert jobs.most_at_once == 3


# -- matrix ------------------------------------------------------------------------------------

MATRIX = """
on: push
jobs:
  test:
    strategy:
      fail-fast: {fail_fast}
      max-parallel: 1
      matrix: {{n: [1, 2, 3, 4]}}
    runs-on: local
    steps:
      - run: "${{{{ matrix.n == 2 && 'fail' || 'ok' }}}}"
"""


def test_fail_fast_cancels_the_queued_combinations(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run(MATRIX.format(fail_fast="true"), tmp_path, jobs)
    assert results(result) == {
        "test (1)": "success", "test (2)": "failure", "test (3)": "cancelled",
        "test (4)": "cancelled",
    }  # fmt: skip
    assert jobs.started == ["test (1)", "test (2)"]
    assert result.conclusion == "failure"


def test_without_fail_fast_every_combination_runs(tmp_path: Path) -> None:
    result = run(MATRIX.format(fail_fast="false"), tmp_path)
    assert list(results(result).values()) == ["success", "failure", "success", "success"]


def test_fail_fast_cancels_combinations_in_progress(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          test:
            strategy: {matrix: {n: [1, 2]}}
            runs-on: local
            steps:
              - run: "${{ matrix.n == 1 && 'wait' || 'ok' }}"
              - run: "${{ matrix.n == 2 && 'fail' || 'ok' }}"
    """, tmp_path, jobs)  # fmt: skip
    assert results(result) == {"test (1)": "cancelled", "test (2)": "failure"}


def test_continue_on_error_from_the_matrix_keeps_fail_fast_quiet(tmp_path: Path) -> None:
    result = run("""
        on: push
        jobs:
          test:
            continue-on-error: ${{ matrix.experimental }}
            strategy:
              max-parallel: 1
              matrix: {v: [1, 2], experimental: [false], include: [{v: 3, experimental: true}]}
            runs-on: local
            steps: [{run: "${{ matrix.v == 3 && 'fail' || 'ok' }}"}]
          after:
            needs: test
            runs-on: local
            steps: [{run: ok}]
    """, tmp_path)  # fmt: skip
    assert results(result)["test (3, true)"] == "failure"
    assert results(result)["after"] == "success"
    assert result.conclusion == "success"


def test_max_parallel_limits_combinations_at_once(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          test:
            strategy: {max-parallel: 2, matrix: {n: [1, 2, 3, 4, 5]}}
            runs-on: local
            steps: [{run: overlap}]
    """, tmp_path, jobs, max_jobs=4)  # fmt: skip
    assert result.conclusion == "success"
    assert jobs.most_at_once == 2


def test_matrix_from_a_needs_output_and_strategy_context(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          setup:
            outputs: {m: '{"os": ["linux", "mac"]}'}
            runs-on: local
            steps: [{run: ok}]
          build:
            needs: setup
            name: Build on ${{ matrix.os }}
            strategy: {matrix: "${{ fromJSON(needs.setup.outputs.m) }}"}
            outputs: {last: "${{ matrix.os }}"}
            runs-on: local
            steps: [{run: ok}]
          report:
            needs: build
            outputs: {got: "${{ needs.build.result }}/${{ needs.build.outputs.last }}"}
            runs-on: local
            steps: [{run: ok}]
    """, tmp_path, jobs)  # fmt: skip
    assert [j.name for j in result.jobs if j.job_id == "build"] == [
        "Build on linux", "Build on mac"
    ]  # fmt: skip
    assert jobs.requests["build (mac)"].contexts["strategy"] == {
        "fail-fast": True, "job-index": 1, "job-total": 2, "max-parallel": 2
    }  # fmt: skip
    got = result.job("report").outputs["got"]
    assert got in ("success/linux", "success/mac")


def test_a_matrix_over_256_jobs_fails_the_job(tmp_path: Path) -> None:
    result = run("""
        on: push
        jobs:
          big:
            strategy: {matrix: {a: "${{ fromJSON('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]') }}",
                                b: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}}
            runs-on: local
            steps: [{run: ok}]
    """, tmp_path)  # fmt: skip
    assert results(result) == {"big": "failure"}
    assert "more than 256 jobs" in result.job("big").error


# -- cancellation and inputs -------------------------------------------------------------------


def test_cancelling_a_run_cancels_jobs_and_runs_always_jobs(tmp_path: Path) -> None:
    jobs = FakeJobs()
    runner = WorkflowRunner(clock=VirtualClock(), job_runner=jobs)
    handle = runner.start(RunRequest(workflow("""
        on: push
        jobs:
          long: {runs-on: local, steps: [{run: wait}]}
          next: {runs-on: local, needs: long, steps: [{run: ok}]}
          cleanup: {runs-on: local, needs: long, if: always(), steps: [{run: ok}]}
          report: {runs-on: local, needs: long, if: cancelled(), steps: [{run: ok}]}
    """), "push", tmp_path, payload=PUSH))  # fmt: skip
    assert jobs.event("long").wait(5)
    runner.cancel(handle)
    result = handle.result()
    assert results(result) == {
        "long": "cancelled", "next": "cancelled", "cleanup": "success", "report": "success",
    }  # fmt: skip
    assert result.conclusion == "cancelled"
    assert result.message == "The run was canceled"


def test_secrets_and_the_token_are_masked_before_jobs_run(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          a: {runs-on: local, steps: [{run: "ok ${{ secrets.API_KEY }} ${{ github.token }}"}]}
    """, tmp_path, jobs, secrets={"API_KEY": "hunter2-secret"},
             token="ghs_sometoken123")  # fmt: skip
    masker = jobs.requests["a"].masker
    assert masker.mask("hunter2-secret ghs_sometoken123") == "*** ***"
    assert jobs.requests["a"].contexts["secrets"] == {
        "API_KEY": "hunter2-secret", "GITHUB_TOKEN": "ghs_sometoken123"
    }  # fmt: skip
    assert result.conclusion == "success"


DISPATCH = """
on:
  workflow_dispatch:
    inputs:
      env: {type: choice, options: [dev, prod], required: true}
      dry: {type: boolean}
      count: {type: number, default: 2}
jobs:
  a:
    outputs: {seen: "${{ inputs.env }} ${{ inputs.dry }} ${{ inputs.count }}"}
    runs-on: local
    steps: [{run: ok}]
"""


def test_dispatch_inputs_are_typed_with_defaults(tmp_path: Path) -> None:
    result = run(DISPATCH, tmp_path, event="workflow_dispatch", payload={},
                 ref="main", sha="b" * 40, inputs={"env": "prod"})  # fmt: skip
    assert result.job("a").outputs == {"seen": "prod false 2"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "inputs.env: is required"),
        ({"env": "qa"}, "inputs.env: 'qa' is not one of the options (dev, prod)"),
        ({"env": "dev", "dry": "maybe"}, "inputs.dry: 'maybe' is not a boolean"),
        ({"env": "dev", "colour": "red"}, "inputs.colour: is not a declared input"),
    ],
)
def test_bad_dispatch_inputs_are_refused(given: Mapping[str, object], message: str) -> None:
    with pytest.raises(InvalidError) as info:
        dispatch_inputs(workflow(DISPATCH), given)
    assert message in str(info.value)


def test_only_jobs_runs_the_job_and_what_it_needs(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        jobs:
          a: {runs-on: local, steps: [{run: ok}]}
          b: {runs-on: local, needs: a, steps: [{run: ok}]}
          c: {runs-on: local, steps: [{run: ok}]}
    """, tmp_path, jobs, only_jobs=("b",))  # fmt: skip
    assert sorted(results(result)) == ["a", "b"]


# -- end to end, with the real job runner and real shell steps ---------------------------------


class Collect:
    """A log sink keeping every line and signalling the first line of a job."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.first = threading.Event()

    def line(self, job: str, text: str) -> None:
        self.lines.append((job, text))
        self.first.set()


def test_end_to_end_outputs_matrix_from_outputs_and_masked_logs(tmp_path: Path) -> None:
    store = memory_cluster(VirtualClock())
    live = Collect()
    result = run_workflow(store, workflow("""
        on: push
        env: {GREETING: hello}
        jobs:
          setup:
            runs-on: local
            outputs: {list: "${{ steps.m.outputs.list }}"}
            steps:
              - id: m
                run: echo 'list=["a","b"]' >> "$GITHUB_OUTPUT"
          build:
            runs-on: local
            needs: setup
            strategy: {matrix: {item: "${{ fromJSON(needs.setup.outputs.list) }}"}}
            steps:
              - run: echo "$GREETING ${{ matrix.item }} ${{ secrets.TOKEN }} $GITHUB_JOB"
              - run: exit 3
                continue-on-error: true
    """), "push", repository_root=tmp_path, clock=VirtualClock(), log=live,
        payload=PUSH, secrets={"TOKEN": "s3cr3t-value"})  # fmt: skip
    assert results(result) == {
        "setup": "success", "build (a)": "success", "build (b)": "success"
    }  # fmt: skip
    logs = run_logs(store, result.run_id)
    assert "hello a *** build" in logs["build (a)"].splitlines()
    assert "hello b *** build" in logs["build (b)"].splitlines()
    assert all("s3cr3t-value" not in text for text in logs.values())
    assert ("build (a)", "hello a *** build") in live.lines


def test_end_to_end_cancel_stops_the_running_step_and_runs_always_steps(
    tmp_path: Path,
) -> None:
    live = Collect()
    runner = WorkflowRunner(clock=VirtualClock(), log=live)
    handle = runner.start(RunRequest(workflow("""
        on: push
        jobs:
          long:
            runs-on: local
            steps:
              - run: sleep 30
              - if: always()
                run: echo cleaned up
    """), "push", tmp_path, payload=PUSH))  # fmt: skip
    assert live.first.wait(5)
    runner.cancel(handle)
    result = handle.result()
    assert (result.conclusion, results(result)) == ("cancelled", {"long": "cancelled"})
    assert ("long", "cleaned up") in live.lines


def test_each_job_gets_its_own_temp_dir_with_the_event_payload(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    jobs = FakeJobs()

    def runner(request: JobRequest, **kwargs: Any) -> JobRecord:
        seen[request.key] = Path(request.facts.temp_dir, "_github_workflow/event.json").read_text()
        return jobs(request, **kwargs)

    result = run_workflow(None, workflow("""
        on: push
        jobs:
          a: {runs-on: local, steps: [{run: ok}]}
          b: {runs-on: local, steps: [{run: ok}]}
    """), "push", repository_root=tmp_path, clock=VirtualClock(), job_runner=runner,
        payload=PUSH)  # fmt: skip
    assert result.conclusion == "success"
    assert jobs.requests["a"].facts.temp_dir != jobs.requests["b"].facts.temp_dir
    assert {k: json.loads(v) for k, v in seen.items()} == {"a": PUSH, "b": PUSH}


def test_a_bad_workflow_env_fails_the_run_before_any_job(tmp_path: Path) -> None:
    jobs = FakeJobs()
    result = run("""
        on: push
        env: {BAD: "${{ matrix.x }}"}
        jobs:
          a: {runs-on: local, steps: [{run: ok}]}
    """, tmp_path, jobs)  # fmt: skip
    assert (result.conclusion, result.jobs, jobs.started) == ("failure", (), [])
    assert "matrix" in result.message


# -- a failing log sink ------------------------------------------------------------------------


class BrokenSink:
    """A live log sink that fails on every line (a closed terminal, a dead dashboard)."""

    def __init__(self) -> None:
        self.calls = 0

    def line(self, job: str, text: str) -> None:
        self.calls += 1
        raise OSError(f"sink closed (line {self.calls})")


def test_a_failing_log_sink_neither_hangs_nor_kills_the_run(tmp_path: Path) -> None:
    """The sink fails on every line, including the line the runner writes for a crashed job:
    every job still ends, its log is still recorded and the sink's failure is on the job."""
    sink = BrokenSink()
    outcome: list[RunResult] = []
    text = """
        on: push
        jobs:
          a: {runs-on: local, steps: [{run: ok}]}
          b: {needs: a, runs-on: local, steps: [{run: fail}]}
    """

    store = memory_cluster(VirtualClock())

    def drive() -> None:
        outcome.append(run(text, tmp_path, log=sink, store=store))

    runner = threading.Thread(target=drive, daemon=True)
    runner.start()
    runner.join(timeout=10)  # before the fix the run waited forever for a "done" event
    assert not runner.is_alive(), "the run hung on a failing log sink"
    result = outcome[0]
    assert results(result) == {"a": "success", "b": "failure"}
    assert result.job("a").error == "the log sink failed: OSError('sink closed (line 1)')"
    assert result.job("b").error.startswith("the log sink failed: OSError(")
    assert sink.calls >= 2
    assert run_logs(store, result.run_id) == {"a": "$ ok", "b": "$ fail"}


def test_a_crashing_job_runner_and_a_failing_sink_still_end_the_run(tmp_path: Path) -> None:
    def crash(request: JobRequest, **_: object) -> JobRecord:
        raise RuntimeError("runner bug")

    outcome: list[RunResult] = []
    text = "on: push\njobs:\n  a: {runs-on: local, steps: [{run: ok}]}\n"
    thread = threading.Thread(
        target=lambda: outcome.append(run(text, tmp_path, crash, log=BrokenSink())),  # type: ignore[arg-type]
        daemon=True,
    )
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the run hung on a failing log sink"
    job = outcome[0].job("a")
    assert job.result == "failure"
    assert "internal error while running the job: RuntimeError('runner bug')" in job.error
    assert "the log sink failed: OSError(" in job.error
