"""run_job: the job-level seam — env, outputs, records, timeout and cancellation."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.ci.execution import Cancellation, JobRecord
from shipyard.core.clock import DEFAULT_EPOCH, VirtualClock, format_time
from tests.ci.test_exec_executor import ListSink, execute, make_request
from tests.ci.test_steps import steps_yaml

MATRIX_CONTEXTS: dict[str, object] = {
    "matrix": {"python": "3.12", "os": "linux"},
    "needs": {"setup": {"result": "success", "outputs": {"channel": "beta"}}},
    "inputs": {"level": 2},
}


def test_record_has_steps_timings_and_the_log_is_keyed_by_the_job(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = ListSink()
    sink.on("tick", lambda: clock.advance(90))
    body = """
- name: Compile ${{ matrix.python }}
  id: compile
  run: echo tick
- run: echo done
"""
    request = make_request(tmp_path, steps_yaml(body), extra=MATRIX_CONTEXTS)
    record, _ = execute(request, sink=sink, clock=clock)
    start, later = format_time(DEFAULT_EPOCH), format_time(DEFAULT_EPOCH + 90)
    assert isinstance(record, JobRecord)
    assert (record.key, record.job_id, record.result) == ("build", "build", "success")
    assert (record.started, record.finished) == (start, later)
    first, second = record.steps
    assert (first.index, first.name, first.id) == (0, "Compile 3.12", "compile")
    assert (first.started, first.finished) == (start, later)
    assert (second.index, second.name, second.started) == (1, "Run echo done", later)
    assert {job for job, _ in sink.lines} == {"build"}


def test_job_env_sees_matrix_needs_inputs_and_secrets(tmp_path: Path) -> None:
    job_extra = """
env:
  PY: ${{ matrix.python }}
  CHANNEL: ${{ needs.setup.outputs.channel }}
  LEVEL: ${{ inputs.level }}
  PASSWORD: ${{ secrets.DB_PASSWORD }}
"""
    body = '- run: echo "$PY $CHANNEL $LEVEL $PASSWORD"'
    request = make_request(
        tmp_path,
        steps_yaml(body, job_extra=job_extra),
        extra=MATRIX_CONTEXTS,
        secrets={"DB_PASSWORD": "hunter22"},
    )
    record, sink = execute(request)
    assert record.result == "success"
    assert "3.12 beta 2 ***" in sink.output()


def test_a_bad_job_env_expression_fails_the_job_before_any_step(tmp_path: Path) -> None:
    job_extra = "env:\n  BROKEN: ${{ toJSON( }}"
    record, sink = execute(
        make_request(tmp_path, steps_yaml("- run: echo hi", job_extra=job_extra))
    )
    assert record.result == "failure"
    assert record.steps == ()
    assert record.error.startswith("Error when evaluating 'env' for job 'build': BROKEN:")
    assert f"##[error]{record.error}" in sink.text


def test_job_outputs_are_evaluated_and_secret_ones_are_skipped(tmp_path: Path) -> None:
    job_extra = """
outputs:
  image: ${{ steps.tag.outputs.image }}
  python: ${{ matrix.python }}
  token: ${{ steps.tag.outputs.token }}
"""
    body = """
- id: tag
  run: |
    echo "image=shop:${{ github.sha }}" >> "$GITHUB_OUTPUT"
    echo "token=${{ secrets.TOKEN }}" >> "$GITHUB_OUTPUT"
"""
    request = make_request(
        tmp_path, steps_yaml(body, job_extra=job_extra), extra=MATRIX_CONTEXTS,
        secrets={"TOKEN": "abc123secret"},
    )  # fmt: skip
    record, sink = execute(request)
    sha = request.contexts["github"]["sha"]  # type: ignore[index]
    assert record.outputs == {"image": f"shop:{sha}", "python": "3.12"}
    assert "##[warning]Skip output 'token' since it may contain secret." in sink.text


def test_job_timeout_fails_the_job_and_always_steps_still_run(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = ListSink()
    sink.on("working", lambda: clock.advance(5 * 60))
    job_extra = "timeout-minutes: ${{ inputs.level == 2 && 4 || 1 }}"
    body = """
- run: echo working; sleep 30
- run: echo next
- if: always()
  run: echo "cleanup cancelled=${{ cancelled() }}"
"""
    request = make_request(tmp_path, steps_yaml(body, job_extra=job_extra), extra=MATRIX_CONTEXTS)
    record, _ = execute(request, sink=sink, clock=clock)
    assert [s.outcome for s in record.steps] == ["cancelled", "skipped", "success"]
    assert record.result == "failure"
    assert record.error == (
        "The job running on runner shipyard has exceeded the maximum execution time of 4 minutes."
    )
    assert "cleanup cancelled=true" in sink.output()


def test_cancel_while_a_step_runs(tmp_path: Path) -> None:
    cancel = Cancellation()
    sink = ListSink()
    sink.on("started", lambda: cancel.cancel("a newer run in concurrency group ci-main"))
    body = """
- run: echo started; sleep 30
- run: echo not-run
- if: cancelled()
  run: echo "on-cancel ${{ job.status }}"
- if: failure()
  run: echo not-on-failure
"""
    record, _ = execute(make_request(tmp_path, steps_yaml(body)), sink=sink, cancel=cancel)
    assert [s.outcome for s in record.steps] == ["cancelled", "skipped", "success", "skipped"]
    assert record.result == "cancelled"
    assert "##[error]The operation was canceled." in sink.output()
    assert "on-cancel cancelled" in sink.output()
    assert "a newer run in concurrency group ci-main" in record.error


def test_cancelled_before_start_runs_only_always_steps(tmp_path: Path) -> None:
    cancel = Cancellation()
    cancel.cancel("fail-fast")
    body = "- run: echo one\n- if: always()\n  run: echo always"
    record, sink = execute(make_request(tmp_path, steps_yaml(body)), cancel=cancel)
    assert [s.outcome for s in record.steps] == ["skipped", "success"]
    assert record.result == "cancelled"
    assert sink.output()[-1] == "##[error]The job was canceled: fail-fast"


def test_the_event_payload_and_directories_are_prepared(tmp_path: Path) -> None:
    body = '- run: cat "$GITHUB_EVENT_PATH"; echo; echo "$GITHUB_WORKSPACE" "$PWD"'
    request = make_request(tmp_path, steps_yaml(body))
    record, sink = execute(request)
    assert record.result == "success"
    event_line, dirs = sink.output()[:2]
    assert json.loads(event_line)["ref"] == "refs/heads/main"
    workspace = request.facts.workspace
    assert dirs == f"{workspace} {workspace}"
