"""The state one workflow run's scheduler keeps, and the pure helpers it reads it with.

:class:`~shipyard.ci.scheduler.RunScheduler` keeps a run as three kinds of record, touched
only by the thread that drives the run, so they hold no locks:

- a :class:`WorkflowScope` per workflow in the run, the top-level one and each called
  reusable workflow (``jobs.<id>.uses``): that workflow's ``github``, ``vars``, ``inputs``,
  ``secrets`` and ``env`` contexts, its cancellation, and the caller instance its end
  finishes;
- a :class:`JobState` per job of a scope: ``waiting`` for its needs, then ``active``, then
  ``done``; its combined result and outputs, and its instances with the queue that
  ``max-parallel`` drains and ``fail-fast`` cancels;
- a :class:`JobInstance` per matrix combination (a single one for a job without a matrix,
  or one that never starts): the key and display name the run's record shows, its
  contexts, cancellation, concurrency ticket and result.

:class:`RunLog` is the one piece the pool's worker threads share; it has its own lock.

The helpers follow GitHub Actions: :func:`combined` concludes a job from its instances'
results, or a run from its jobs' (any ``failure`` fails it, else any ``cancelled`` cancels
it, else ``success`` if one succeeded, else ``skipped``); :func:`ancestors` are the jobs a
job needs, transitively, whose results its status functions see; :func:`resolve`
evaluates every ``${{ }}`` string nested in a value such as a matrix; :func:`only_jobs`
keeps the named jobs and every job they need (a run request's ``only_jobs``); and
:func:`job_entry` is a finished job as the run's status lists it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.ci.concurrency import Ticket
from shipyard.ci.execution import Cancellation, Conclusion, JobRecord, LogSink
from shipyard.ci.expressions import evaluate_template
from shipyard.ci.schema import Job, Workflow

__all__ = [
    "JobInstance",
    "JobState",
    "RunLog",
    "WorkflowScope",
    "ancestors",
    "combined",
    "job_entry",
    "only_jobs",
    "resolve",
]


# -- state -------------------------------------------------------------------------------------


@dataclass(eq=False)
class WorkflowScope:
    """One workflow's jobs within the run: the top-level one or a called one."""

    workflow: Workflow
    key_prefix: str
    name_prefix: str
    depth: int
    contexts: dict[str, Any]  # github, vars, inputs, secrets, env
    cancel: Cancellation
    caller: JobInstance | None = None
    jobs: dict[str, JobState] = field(default_factory=dict)
    done: bool = False


@dataclass(eq=False)
class JobState:
    scope: WorkflowScope
    job: Job
    phase: Literal["waiting", "active", "done"] = "waiting"
    result: Conclusion = "skipped"
    outputs: dict[str, str] = field(default_factory=dict)
    instances: list[JobInstance] = field(default_factory=list)
    queued: deque[JobInstance] = field(default_factory=deque)
    in_progress: int = 0
    fail_fast: bool = True
    max_parallel: int | None = None


@dataclass(eq=False)
class JobInstance:
    state: JobState
    key: str
    name: str
    contexts: dict[str, Any]
    cancel: Cancellation = field(default_factory=Cancellation)
    phase: Literal["queued", "waiting", "running", "done"] = "queued"
    continue_on_error: bool = False
    ticket: Ticket | None = None
    started: str | None = None
    result: Conclusion = "skipped"
    child: WorkflowScope | None = None


class RunLog:
    """Collects each job's lines for the record and forwards them to the caller's sink.

    The caller's sink (a terminal, a dashboard) may fail; that must neither hang nor end the
    run, nor fail the job whose steps did run: the line is still kept for the record, the
    first failure per job is remembered (:meth:`sink_error`, written into the job's
    ``error``) and forwarding goes on with the next line.
    """

    def __init__(self, forward: LogSink | None) -> None:
        self._lock = threading.Lock()
        self._lines: dict[str, list[str]] = {}
        self._sink_errors: dict[str, str] = {}
        self._forward = forward

    def line(self, job: str, text: str) -> None:
        with self._lock:
            self._lines.setdefault(job, []).append(text)
        if self._forward is None:
            return
        try:
            self._forward.line(job, text)
        except Exception as err:
            with self._lock:
                self._sink_errors.setdefault(job, f"the log sink failed: {err!r}")

    def take(self, job: str) -> str | None:
        with self._lock:
            lines = self._lines.pop(job, None)
        return None if lines is None else "\n".join(lines)

    def sink_error(self, job: str) -> str:
        """Why forwarding ``job``'s lines failed (the first failure), or ``""``."""
        with self._lock:
            return self._sink_errors.pop(job, "")


# -- helpers -----------------------------------------------------------------------------------


def resolve(value: object, context: Mapping[str, object], names: Sequence[str]) -> object:
    """A value with every ``${{ }}`` string in it evaluated (matrix, fail-fast, ...)."""
    if isinstance(value, str) and "${{" in value:
        return evaluate_template(value, context, named_values=names)
    if isinstance(value, Mapping):
        return {str(k): resolve(v, context, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, context, names) for v in value]
    return value


def ancestors(scope: WorkflowScope, job: Job) -> set[str]:
    seen: set[str] = set()
    todo = list(job.needs)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(scope.jobs[name].job.needs)
    return seen


def combined(results: Sequence[Conclusion]) -> Conclusion:
    if "failure" in results:
        return "failure"
    if "cancelled" in results:
        return "cancelled"
    return "success" if "success" in results else "skipped"


def job_entry(record: JobRecord, conclusion: Conclusion) -> dict[str, Any]:
    return {
        "key": record.key, "jobId": record.job_id, "name": record.name,
        "status": "completed", "result": record.result, "conclusion": conclusion,
        "startedAt": record.started, "finishedAt": record.finished,
        "outputs": dict(record.outputs), "error": record.error, "summary": record.summary,
        "steps": [
            {"index": s.index, "name": s.name, "id": s.id, "outcome": s.outcome,
             "conclusion": s.conclusion, "startedAt": s.started, "finishedAt": s.finished}
            for s in record.steps
        ],
        "annotations": [
            {k: v for k, v in dataclasses.asdict(a).items() if v is not None}
            for a in record.annotations
        ],
    }  # fmt: skip


def only_jobs(workflow: Workflow, names: Sequence[str]) -> list[Job]:
    if not names:
        return list(workflow.jobs)
    keep: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(workflow.job(name).needs)
    return [j for j in workflow.jobs if j.id in keep]
