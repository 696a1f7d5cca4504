"""Running a workflow: which jobs run, when, with what contexts, and how the run concludes.

:class:`WorkflowRunner` runs a parsed workflow for one event (:class:`RunRequest`); a
broken workflow file (a :class:`WorkflowError`) becomes a failed run carrying the positioned
message, without touching any other run. :func:`run_workflow` is the one-call form. The
driving loop is :class:`~shipyard.ci.scheduler.RunScheduler`; the records are
:mod:`shipyard.ci.records`.

The semantics are GitHub's documented ones:

* **needs** — a job becomes ready when every job it needs has finished. Its ``if`` (implicit
  ``success()``) is evaluated with the ``github``, ``needs``, ``vars`` and ``inputs``
  contexts, the only ones ``jobs.<id>.if`` may use. The status functions see the job's
  ancestors: ``failure()`` is true when any ancestor (transitively) failed, ``cancelled()``
  when the run (or an ancestor) was cancelled, ``success()`` only when every direct need
  succeeded and no ancestor failed or was cancelled. So a failed, cancelled or skipped need
  skips the job — and, transitively, its dependents — unless its ``if`` calls a status
  function that says otherwise (``always()``, ``failure()``, ``!cancelled()``). As on GitHub,
  a job after an ``always()`` job that followed a failure is still skipped by its implicit
  ``success()``: the failure is among its ancestors. A job not run because the run was cancelled is
  ``cancelled``; otherwise a job whose ``if`` is false is ``skipped``.
* **matrix** — ``strategy`` may use ``github``, ``needs``, ``vars``, ``inputs``; a matrix (or
  any of its values) may be an expression such as ``${{ fromJSON(needs.setup.outputs.m) }}``.
  One job runs per combination (:func:`~shipyard.ci.matrix.expand_matrix`, 256 at most), at
  most ``max-parallel`` at a time. ``fail-fast`` (default true): when a combination fails
  (after its ``continue-on-error``), the others still queued are cancelled and those in
  progress are asked to cancel. The job's ``needs`` result is ``failure`` if any combination
  failed, else ``cancelled`` if any was, else ``success`` (``skipped`` if all were); its
  outputs merge the combinations' non-empty outputs in the order they finished, so the last
  finished combination wins, as on GitHub.
* **continue-on-error** (job level, may use ``matrix``) turns a failed job into a success
  for ``needs`` (``needs.<id>.result`` is ``success``, as GitHub reports it) and for the run's
  conclusion; the stored job keeps its real ``result`` and has ``conclusion: success``.
* **concurrency** — workflow level (``github``, ``inputs``, ``vars``) and job level (also
  ``needs``, ``strategy``, ``matrix``), see :mod:`shipyard.ci.concurrency`; groups are shared
  by every run of one :class:`~shipyard.ci.concurrency.ConcurrencyGroups`.
* **reusable workflows** — see :mod:`shipyard.ci.reusable`; the called jobs run in the same
  scheduler under a scope of their own and show as ``caller / called``.
* **workflow_dispatch inputs** are typed and checked before the run is created
  (:func:`dispatch_inputs`): a missing required input, an unknown one, a wrong type or a
  value outside a choice's options is an InvalidError naming ``inputs.<name>``.
* **conclusion** — ``cancelled`` if the run was cancelled, else ``failure`` if any job failed
  (after continue-on-error) or the run could not start its jobs, else ``cancelled`` if any
  job was, else ``success``.

Design
------
One thread drives a run: it owns all scheduling state, evaluates every job-level expression
and is the only writer of the run's record. Jobs run on a pool of ``max_jobs`` worker threads
through the injectable ``job_runner`` (``run_job`` by default); workers, concurrency groups and
cancellations only put events on the run's queue. Each job gets its own temporary directory
(file-command files and scripts are named per step, so concurrent jobs must not share one),
with the event payload written where ``GITHUB_EVENT_PATH`` points. Secrets (and
``GITHUB_TOKEN``/``github.token``) are added to the run's SecretMasker before anything runs.

Deliberate differences: ``cancelled()`` in a job ``if`` is also true when an ancestor job was
cancelled (GitHub only documents the run-cancelled case); ``runs-on`` is not matched, every
job runs on this host.
"""

from __future__ import annotations

import json
import platform
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.ci.actions import default_actions
from shipyard.ci.concurrency import ConcurrencyGroups
from shipyard.ci.contexts import inputs_context
from shipyard.ci.execution import ActionRegistry, Executor, HostExecutor, LogSink, run_job
from shipyard.ci.expressions import interpolate
from shipyard.ci.records import RecordStore, RunRecorder
from shipyard.ci.run_request import (
    RUN_CANCELLED,
    JobRunner,
    RunRequest,
    RunResult,
    RunSettings,
    github_for,
    run_facts,
    workflow_path,
)
from shipyard.ci.scheduler import RunScheduler
from shipyard.ci.schema import Workflow, WorkflowError
from shipyard.core.clock import Clock
from shipyard.core.errors import FieldError, InvalidError, ShipyardError

__all__ = [
    "DEFAULT_MAX_JOBS",
    "JobRunner",
    "RunHandle",
    "RunRequest",
    "RunResult",
    "WorkflowRunner",
    "dispatch_inputs",
    "run_workflow",
]

DEFAULT_MAX_JOBS = 4


def dispatch_inputs(workflow: Workflow, given: Mapping[str, object]) -> dict[str, object]:
    """The ``inputs`` context of a ``workflow_dispatch`` run, typed and checked.

    Raises InvalidError naming ``inputs.<name>`` for a missing required input, an undeclared
    one, a value of the wrong type or a choice that is not one of the options.
    """
    trigger = workflow.trigger("workflow_dispatch")
    declared = trigger.inputs if trigger is not None else ()
    problems = [
        FieldError(f"inputs.{i.name}", f"{given[i.name]!r} is not one of the options "
                   f"({', '.join(i.options)})")
        for i in declared
        if i.type == "choice" and i.name in given and str(given[i.name]) not in i.options
    ]  # fmt: skip
    specs: dict[str, Mapping[str, object]] = {
        i.name: {"type": i.type, "default": i.default, "required": i.required} for i in declared
    }
    context: dict[str, object] = {}
    try:
        context = inputs_context(specs, given)
    except InvalidError as err:
        problems = list(err.causes) + problems
    if problems:
        raise InvalidError(f"workflow_dispatch inputs of {workflow.file}", problems)
    return context


class RunHandle:
    """A started run; :meth:`result` waits for it to end."""

    def __init__(self, scheduler: RunScheduler) -> None:
        self._scheduler = scheduler
        self._thread = threading.Thread(
            target=scheduler.execute, name=f"ci-run-{scheduler.run_id}", daemon=True
        )

    @property
    def run_id(self) -> int:
        return self._scheduler.run_id

    @property
    def name(self) -> str:
        """The stored WorkflowRun's name (``run-<id>``), empty without a store."""
        return self._scheduler.name

    def result(self) -> RunResult:
        """Wait for the run to end and return how it ended."""
        self._thread.join()
        outcome = self._scheduler.outcome
        if outcome is None:
            raise ShipyardError(f"workflow run {self.run_id} ended without a result")
        return outcome


class WorkflowRunner:
    """Starts workflow runs; owns the job pool size, the store and the concurrency groups.

    ``job_runner`` runs one job (``run_job``; tests pass a fake); ``log`` receives every job's
    masked lines live; ``store`` (optional) receives the WorkflowRun and its job logs;
    ``actions`` defaults to the built-in actions (``default_actions()``).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        store: RecordStore | None = None,
        groups: ConcurrencyGroups | None = None,
        executor: Executor | None = None,
        actions: ActionRegistry | None = None,
        job_runner: JobRunner = run_job,
        max_jobs: int = DEFAULT_MAX_JOBS,
        log: LogSink | None = None,
        machine: str | None = None,
    ) -> None:
        if max_jobs < 1:
            raise InvalidError("workflow runner", [FieldError("max_jobs", "must be at least 1")])
        self.store = store
        self.groups = groups if groups is not None else ConcurrencyGroups()
        self._settings = RunSettings(
            clock=clock, groups=self.groups,
            executor=executor if executor is not None else HostExecutor(clock),
            actions=actions if actions is not None else default_actions(),
            job_runner=job_runner, max_jobs=max_jobs, log=log,
            machine=machine or platform.machine(),
        )  # fmt: skip
        self._lock = threading.Lock()
        self._next_id = 0

    def run(self, request: RunRequest) -> RunResult:
        """Run to the end on this thread."""
        scheduler = self._prepare(request)
        scheduler.execute()
        assert scheduler.outcome is not None
        return scheduler.outcome

    def start(self, request: RunRequest) -> RunHandle:
        """Start the run on a thread of its own; a bad request raises here, at once."""
        scheduler = self._prepare(request)
        scheduler.claim_group()  # in the order runs are started, not their threads
        handle = RunHandle(scheduler)
        handle._thread.start()
        return handle

    def cancel(self, handle: RunHandle, reason: str = RUN_CANCELLED) -> None:
        """Cancel a started run: running jobs are cancelled, jobs not started are not run
        unless their ``if`` says so (``always()``, ``cancelled()``)."""
        handle._scheduler.cancel.cancel(reason)

    def _prepare(self, request: RunRequest) -> RunScheduler:
        inputs: dict[str, object] = {}
        title = ""
        workflow = request.workflow
        if isinstance(workflow, Workflow):
            if request.event == "workflow_dispatch":
                inputs = dispatch_inputs(workflow, request.inputs)
            _check_only_jobs(workflow, request.only_jobs)
            github = github_for(request, run_facts(request, 1, 1, ""), inputs)  # errors now
            title = _run_title(workflow, github, inputs, request.vars)
        if self.store is None:
            with self._lock:
                self._next_id += 1
                run_id = self._next_id
            return RunScheduler(
                self._settings, request, inputs, None, run_id=run_id, run_number=run_id
            )
        record = RunRecorder.create(self.store, _spec(request, inputs, title))
        return RunScheduler(
            self._settings, request, inputs, record,
            run_id=record.run_id, run_number=record.run_number,
        )  # fmt: skip


def run_workflow(
    store: RecordStore | None,
    workflow: Workflow | WorkflowError,
    event: str,
    *,
    repository_root: Path,
    clock: Clock,
    log: LogSink | None = None,
    groups: ConcurrencyGroups | None = None,
    job_runner: JobRunner = run_job,
    max_jobs: int = DEFAULT_MAX_JOBS,
    **request: Any,
) -> RunResult:
    """Run ``workflow`` for ``event`` to the end; ``request`` holds the other RunRequest
    fields (``payload``, ``ref``, ``sha``, ``secrets``, ``vars``, ``inputs``, ...)."""
    runner = WorkflowRunner(clock=clock, store=store, groups=groups, job_runner=job_runner,
                            max_jobs=max_jobs, log=log)  # fmt: skip
    return runner.run(RunRequest(workflow, event, repository_root, **request))


def _spec(request: RunRequest, inputs: Mapping[str, object], title: str) -> dict[str, Any]:
    workflow = request.workflow
    name = (workflow.name if isinstance(workflow, Workflow) else "") or ""
    path = workflow_path(request)
    return {
        "workflow": {"path": path, "name": name},
        "displayTitle": title or name or path,
        "event": request.event,
        "ref": request.ref or str(request.payload.get("ref", "") or ""),
        "sha": request.sha or str(request.payload.get("after", "") or ""),
        "actor": request.actor,
        "inputs": json.loads(json.dumps(dict(inputs), default=str)),
    }


def _run_title(
    workflow: Workflow, github: object, inputs: Mapping[str, object], variables: object
) -> str:
    if not workflow.run_name:
        return ""
    context = {"github": github, "inputs": inputs, "vars": variables}
    try:
        return interpolate(workflow.run_name, context, named_values=("github", "inputs", "vars"))
    except ShipyardError:
        return workflow.run_name


def _check_only_jobs(workflow: Workflow, only: tuple[str, ...]) -> None:
    known = [j.id for j in workflow.jobs]
    problems = [FieldError("jobs", f"no job {name!r} in the workflow (jobs: {', '.join(known)})")
                for name in only if name not in known]  # fmt: skip
    if problems:
        raise InvalidError(f"workflow {workflow.file}", problems)
