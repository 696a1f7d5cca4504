"""What a workflow run is asked to do, how it ended, and the facts derived from the request.

:class:`RunRequest` and :class:`RunResult` are the orchestrator's public request and result
types; :class:`RunSettings` is what every run of one runner shares. The helpers derive the
run's :class:`~shipyard.ci.contexts.RunFacts` and ``github`` context from a request, for the
orchestrator (which checks a request before creating its record) and the scheduler alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.ci.concurrency import ConcurrencyGroups
from shipyard.ci.contexts import RunFacts, github_context
from shipyard.ci.execution import ActionRegistry, Conclusion, Executor, JobRecord, LogSink
from shipyard.ci.schema import Workflow, WorkflowError
from shipyard.core.clock import Clock

__all__ = [
    "RUN_CANCELLED",
    "JobRunner",
    "RunRequest",
    "RunResult",
    "RunSettings",
    "github_for",
    "run_facts",
    "workflow_path",
]

JobRunner = Callable[..., JobRecord]
RUN_CANCELLED = "The run was canceled"


@dataclass(frozen=True)
class RunRequest:
    """One run to start: the workflow (or why its file is broken), the event, the inputs."""

    workflow: Workflow | WorkflowError
    event: str
    repository_root: Path
    payload: Mapping[str, object] = field(default_factory=dict)
    repository: str = "local/repository"
    workspace: Path | None = None  # default: repository_root
    ref: str | None = None
    sha: str | None = None
    actor: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, object] = field(default_factory=dict)
    token: str = ""  # github.token; a random one when empty
    workflow_path: str = ""  # as stored and shown; default: the file relative to the root
    only_jobs: tuple[str, ...] = ()  # run just these jobs (and the jobs they need)
    temp_dir: Path | None = None  # default: a new temporary directory, removed afterwards


@dataclass(frozen=True)
class RunResult:
    """How a run ended; ``name`` is the stored WorkflowRun (empty without a store)."""

    run_id: int
    run_number: int
    name: str
    conclusion: Conclusion
    jobs: tuple[JobRecord, ...]
    message: str = ""

    def job(self, key: str) -> JobRecord:
        """The record of the job with display key ``key``; KeyError naming the keys if none."""
        for job in self.jobs:
            if job.key == key:
                return job
        raise KeyError(f"run {self.run_id} has no job {key!r} (jobs: {[j.key for j in self.jobs]})")


@dataclass(frozen=True)
class RunSettings:
    """What every run of one WorkflowRunner shares."""

    clock: Clock
    groups: ConcurrencyGroups
    executor: Executor
    actions: ActionRegistry
    job_runner: JobRunner
    max_jobs: int
    log: LogSink | None
    machine: str


# -- derived facts -------------------------------------------------------------------------


def workflow_path(request: RunRequest) -> str:
    """The workflow file as stored and shown: relative to the repository root if inside it."""
    if request.workflow_path:
        return request.workflow_path
    file = request.workflow.file
    try:
        return str(Path(file).resolve().relative_to(request.repository_root.resolve()))
    except ValueError:
        return file


def run_facts(request: RunRequest, run_id: int, run_number: int, token: str) -> RunFacts:
    """The run's facts (``temp_dir`` is set per job)."""
    workflow = request.workflow
    name = workflow.name if isinstance(workflow, Workflow) else ""
    return RunFacts(
        repository=request.repository,
        run_id=run_id,
        run_number=run_number,
        workspace=str(request.workspace or request.repository_root),
        temp_dir="",
        workflow=name or workflow_path(request),
        workflow_path=workflow_path(request),
        actor=request.actor,
        token=token,
    )


def github_for(
    request: RunRequest, facts: RunFacts, inputs: Mapping[str, object]
) -> dict[str, object]:
    """The run's ``github`` context (``workflow_dispatch`` payloads get their ``inputs``)."""
    payload = dict(request.payload)
    if request.event == "workflow_dispatch" and "inputs" not in payload:
        payload["inputs"] = {k: _as_text(v) for k, v in inputs.items()}
    return github_context(facts, request.event, payload, ref=request.ref, sha=request.sha)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
