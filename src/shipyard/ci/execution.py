"""Running one job: the seam between step execution and workflow-run orchestration.

The orchestrator (``orchestrator.py``) decides *which* jobs run, with what contexts, and
persists the results; this module runs *one* job and says how it ended. Everything the
orchestrator needs is here:

* :class:`JobRequest` — the job, its display key and name, the run's facts, the contexts the
  orchestrator evaluated (``github``, workflow ``env``, ``vars``, ``secrets``, ``inputs``,
  ``matrix``, ``strategy``, ``needs``, ``runner``), the workflow's ``defaults.run``, the
  repository checkout and the run's shared :class:`SecretMasker`;
* :func:`run_job` — runs the steps in order and returns a :class:`JobRecord`;
* :class:`Cancellation` (set by the orchestrator), :class:`LogSink` (receives masked log
  lines), :class:`Executor` (runs commands; :class:`HostExecutor` runs host processes),
  :class:`ActionRegistry` (built-in actions).

``run_job`` never raises for a problem of the workflow: a bad expression, a missing action or a
failing step becomes a failed step or job, with the message in the log and in
``JobRecord.error``. The job's own ``continue-on-error`` is left to the orchestrator (it
decides what the run's conclusion is); ``result`` is the job's result before it.

What ``run_job`` does, in order: create ``GITHUB_WORKSPACE`` and ``RUNNER_TEMP`` (write the
event payload if the caller has not), register ``github.token`` with the masker, evaluate the
job's ``env`` (contexts ``github``, ``needs``, ``strategy``, ``matrix``, ``vars``, ``secrets``,
``inputs`` and the workflow ``env``; an error fails the job before any step, with GitHub's
"Error when evaluating 'env' for job …"), start the job timer, run the steps in order
(``steps.py``), evaluate ``outputs`` in the final ``steps``/``job`` contexts — an output whose
value holds a secret or ``add-mask`` value is left out with GitHub's warning "Skip output
'name' since it may contain secret." — and return the record, with RFC 3339 times from the
injected clock.

Timeout and cancellation. ``timeout-minutes`` (a number or an expression) is a timer on the
clock. When it fires, or when the caller's :class:`Cancellation` is cancelled, the running
step's process group is stopped (``SIGTERM``, then ``SIGKILL`` after a grace) and recorded as
``cancelled``; ``job.status`` becomes ``cancelled``, so later steps run only if their ``if``
calls ``always()`` or ``cancelled()`` — those run without being stopped by the same
cancellation, each for at most five minutes (the runner's cancel timeout). A cancelled job's
``result`` is ``cancelled``; a job that ran out of time is ``failure`` with the runner's
message "The job running on runner … has exceeded the maximum execution time of N minutes.",
as GitHub shows a timed-out job as failed.

The caller must give each job that runs at the same time its own ``facts.temp_dir`` (the
file-command files and scripts live there); jobs may share a workspace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shipyard.ci.actions import ActionRegistry, default_actions
from shipyard.ci.commands import Annotation
from shipyard.ci.composite import ActionDispatcher
from shipyard.ci.contexts import RunFacts, event_path, values_to_mask
from shipyard.ci.executor import Cancellation, ExecResult, Executor, HostExecutor
from shipyard.ci.expressions import interpolate, to_string
from shipyard.ci.masking import SecretMasker
from shipyard.ci.schema import Job
from shipyard.ci.steps import (
    Conclusion,
    JobState,
    LogSink,
    Scope,
    StepRecord,
    StepRunner,
    timeout_minutes,
)
from shipyard.core.clock import Clock, TimerHandle, format_time
from shipyard.core.errors import ShipyardError

__all__ = [
    "TIMEOUT_REASON",
    "ActionRegistry",
    "Cancellation",
    "Conclusion",
    "ExecResult",
    "Executor",
    "HostExecutor",
    "JobRecord",
    "JobRequest",
    "LogSink",
    "StepRecord",
    "default_actions",
    "run_job",
]

TIMEOUT_REASON = "timeout"


@dataclass(frozen=True)
class JobRecord:
    """How one job ended.

    ``result`` is before the job's own ``continue-on-error`` (the orchestrator applies it).
    ``outputs`` (``jobs.<id>.outputs``) and ``summary`` (the steps' ``GITHUB_STEP_SUMMARY``
    markdown, concatenated) are masked. ``error`` says why the job failed outside a step;
    ``annotations`` are the ``::notice``/``::warning``/``::error`` the steps wrote, masked.
    """

    key: str
    job_id: str
    name: str
    result: Conclusion
    outputs: Mapping[str, str]
    steps: tuple[StepRecord, ...]
    started: str | None
    finished: str | None
    summary: str = ""
    error: str = ""
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class JobRequest:
    """What the orchestrator asks to run: one normal job (with steps) of a run."""

    key: str
    job: Job
    name: str
    facts: RunFacts
    contexts: Mapping[str, object]
    workflow_defaults_run: Mapping[str, str]
    repository_root: Path
    masker: SecretMasker
    debug: bool = False  # also on when secrets/vars set ACTIONS_STEP_DEBUG or runner.debug is 1


def run_job(
    request: JobRequest,
    *,
    executor: Executor,
    actions: ActionRegistry,
    log: LogSink,
    cancel: Cancellation,
    clock: Clock,
) -> JobRecord:
    """Run ``request.job``'s steps in order and return how the job ended.

    Never raises for a problem of the workflow; see the module docstring.
    """
    started = format_time(clock.now())
    job_cancel = Cancellation()
    forget = cancel.on_cancel(job_cancel.cancel)
    state = _job_state(request, executor, log, clock, job_cancel)
    timer: TimerHandle | None = None
    timed_out: list[float] = []
    steps: list[StepRecord] = []
    outputs: dict[str, str] = {}
    error = ""
    try:
        error = _prepare(request, state)
        if not error:
            minutes = _job_timeout(request.job, state)

            def on_timeout() -> None:
                timed_out.append(minutes)
                job_cancel.cancel(TIMEOUT_REASON)

            timer = clock.call_later(minutes * 60, on_timeout)
            runner = StepRunner(state, ActionDispatcher(actions))
            scope = Scope()
            steps = [runner.run(step, scope, i).record for i, step in enumerate(request.job.steps)]
            outputs, error = _job_outputs(request, state, runner, scope)
    except ShipyardError as err:
        error = str(err)
    finally:
        if timer is not None:
            timer.cancel()
        forget()
    result, error = _result(request, state, timed_out, error)
    if error:
        state.emit(f"##[error]{error}")
    return JobRecord(
        key=request.key,
        job_id=request.job.id,
        name=request.name,
        result=result,
        outputs=outputs,
        steps=tuple(steps),
        started=started,
        finished=format_time(clock.now()),
        summary="".join(state.summaries),
        error=state.masker.mask(error),
        annotations=tuple(state.annotations),
    )


def _job_state(
    request: JobRequest, executor: Executor, log: LogSink, clock: Clock, cancel: Cancellation
) -> JobState:
    contexts = request.contexts
    return JobState(
        key=request.key,
        facts=request.facts,
        contexts=contexts,
        masker=request.masker,
        log=log,
        executor=executor,
        clock=clock,
        cancel=cancel,
        repository_root=request.repository_root,
        defaults_run={**request.workflow_defaults_run, **request.job.defaults_run},
        host_env=dict(os.environ),
        env={k: to_string(v) for k, v in _mapping(contexts.get("env")).items()},
        debug=request.debug or _debug(contexts),
    )


def _debug(contexts: Mapping[str, object]) -> bool:
    for name in ("secrets", "vars"):
        value = _mapping(contexts.get(name)).get("ACTIONS_STEP_DEBUG")
        if isinstance(value, str) and value.lower() == "true":
            return True
    return str(_mapping(contexts.get("runner")).get("debug", "")) == "1"


def _prepare(request: JobRequest, state: JobState) -> str:
    """Directories, the event file, the masks and the job's env; an error message or ``""``."""
    facts = request.facts
    for directory in (facts.workspace, facts.temp_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    github = _mapping(request.contexts.get("github"))
    for value in values_to_mask(github):
        state.masker.add(value)
    event_file = Path(event_path(facts))
    if not event_file.exists() and isinstance(github.get("event"), Mapping):
        event_file.parent.mkdir(parents=True, exist_ok=True)
        event_file.write_text(json.dumps(github["event"]), encoding="utf-8")
    context = {**request.contexts, "env": dict(state.env)}
    for key, template in request.job.env.items():
        try:
            state.env[key] = interpolate(template, context)
        except ShipyardError as err:
            return f"Error when evaluating 'env' for job '{request.job.id}': {key}: {err}"
    return ""


def _job_timeout(job: Job, state: JobState) -> float:
    context = {**state.contexts, "env": dict(state.env)}
    return timeout_minutes(job.timeout_minutes, context, where=f"jobs.{job.id}.timeout-minutes")


def _job_outputs(
    request: JobRequest, state: JobState, runner: StepRunner, scope: Scope
) -> tuple[dict[str, str], str]:
    """``jobs.<id>.outputs``; a value holding a secret is left out, as on GitHub."""
    context = runner.context(scope, {})
    outputs: dict[str, str] = {}
    for name, template in request.job.outputs.items():
        try:
            value = interpolate(template, context, options=runner.options(scope))
        except ShipyardError as err:
            job_id = request.job.id
            return outputs, f"Error when evaluating 'outputs.{name}' for job '{job_id}': {err}"
        if state.masker.mask(value) != value:
            state.emit(f"##[warning]Skip output '{name}' since it may contain secret.")
            state.annotations.append(
                Annotation("warning", f"Skip output '{name}' since it may contain secret.")
            )
            continue
        outputs[name] = value
    return outputs, ""


def _result(
    request: JobRequest, state: JobState, timed_out: list[float], error: str
) -> tuple[Conclusion, str]:
    if timed_out:
        return "failure", (
            f"The job running on runner {request.facts.runner_name} has exceeded the maximum "
            f"execution time of {timed_out[0]:g} minutes."
        )
    if state.cancel.cancelled:
        return "cancelled", error or f"The job was canceled: {state.cancel.reason}"
    if error or state.failed:
        return "failure", error
    return "success", ""


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}
