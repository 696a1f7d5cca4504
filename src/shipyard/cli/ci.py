"""``shipyard ci …``: run a checkout's GitHub Actions workflows on this machine.

Commands
--------
- ``validate [PATH]`` — every problem of every workflow under ``PATH/.github/workflows`` (or
  of one file) as ``file:line:column: field: problem — what to write instead``.
- ``expr 'EXPRESSION' [--context JSON]`` — evaluate one expression, print its JSON value
  (``hashFiles`` reads ``--workspace``, default the current directory).
- ``run [PATH]`` — decide which workflows the event triggers (trigger filters applied, with
  the files changed according to Git), then run them: live log lines prefixed by the job,
  ``::group::`` shown as a header, and a summary table at the end. ``--list`` shows the
  decision, ``--dry-run`` the plan (jobs, matrix expansion, needs order).
- ``runs`` / ``logs RUN [--job J]`` — the runs persisted in the data directory.

Design
------
The command is thin: ``shipyard.git`` reads the checkout and builds the event payload,
``shipyard.ci.filters`` decides the triggers, and the run itself goes through the CI
orchestrator against the store of ``--data-dir`` (``$SHIPYARD_DATA_DIR``), where runs, jobs
and logs are persisted so ``runs`` and ``logs`` can show them later.

``-j JOB`` runs that job together with the jobs it needs (transitively), so its ``needs``
context is real; the orchestrator's ``only_jobs`` has exactly this meaning. Trigger filters
(branches, tags, paths, types) are applied, unlike the usual local runners. Every workflow the
event triggers starts at once, as on GitHub, sharing one set of concurrency groups; a broken
workflow file fails only its own run. Secrets come from ``--secret K=V`` and from
``SHIPYARD_SECRET_<NAME>`` environment variables; ``--input`` values are typed by the
workflow's ``workflow_dispatch`` inputs (the payload's ``inputs`` hold them as text, as
GitHub's do). Steps run in a fresh workspace under ``<data dir>/ci/work`` (``actions/checkout``
copies the checkout there), removed after the run, or in ``--workspace DIR``, kept.
The exit code is 1 unless every run concluded ``success``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, cast

import typer

from shipyard.ci.actions import default_actions
from shipyard.ci.concurrency import ConcurrencyGroups
from shipyard.ci.cron import due_crons
from shipyard.ci.execution import JobRecord
from shipyard.ci.expressions import (
    EvaluationOptions,
    ExpressionError,
    evaluate,
    evaluate_template,
    to_json,
    to_string,
)
from shipyard.ci.filters import Event, TriggerDecision, evaluate_trigger
from shipyard.ci.hashfiles import hash_files_hook
from shipyard.ci.matrix import expand_matrix, job_display_name
from shipyard.ci.orchestrator import RunRequest, RunResult, WorkflowRunner, dispatch_inputs
from shipyard.ci.records import get_run, list_runs, run_logs
from shipyard.ci.workflow import Job, Workflow, WorkflowError, WorkflowProblem, parse_workflow
from shipyard.cli.output import render_table
from shipyard.core.clock import RealClock, format_time, parse_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.git import Repository, changed_files_for, default_payload, load_payload
from shipyard.git.events import EventName
from shipyard.platform.wiring import default_data_dir, open_cluster
from shipyard.store.store import Store

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Run GitHub Actions workflows on this machine.")

EVENTS = ("push", "pull_request", "workflow_dispatch", "schedule")
SECRET_ENV_PREFIX = "SHIPYARD_SECRET_"
_PR_EVENTS = ("pull_request", "pull_request_target")

PathArg = Annotated[
    Path, typer.Argument(help="A checkout (its .github/workflows) or one workflow file.")
]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="SHIPYARD_DATA_DIR", help="Where runs are kept."),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _error_text(error: ShipyardError) -> str:
    if isinstance(error, WorkflowError):
        return "\n".join(str(p) for p in error.problems)
    if isinstance(error, InvalidError) and error.causes:
        return "\n".join(f"{error.subject}: {c}" for c in error.causes)
    return error.message


# --- finding and loading workflows ---------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """One workflow file: the parsed workflow, or why it could not be read."""

    path: Path
    label: str  # the path as shown to the user (relative to the checkout when run)
    workflow: Workflow | None
    error: ShipyardError | None = None

    @property
    def display(self) -> str:
        if self.workflow is not None and self.workflow.name:
            return self.workflow.name
        return self.label


def workflow_files(path: Path) -> list[Path]:
    """The workflow files ``path`` names: itself if a file, else its .github/workflows."""
    if path.is_file():
        return [path]
    folder = path / ".github" / "workflows"
    if not folder.is_dir():
        raise NotFoundError(f"{path} has no .github/workflows directory")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def _relative(file: Path, base: Path) -> str:
    try:
        return str(file.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(file)


def load_all(files: Sequence[Path], base: Path | None = None) -> list[Loaded]:
    """Each file parsed; a broken file is kept with its error (it fails only its own run)."""
    loaded = []
    for file in files:
        label = _relative(file, base) if base is not None else str(file)
        try:
            text = file.read_text(encoding="utf-8")
            loaded.append(Loaded(file, label, parse_workflow(text, file=label)))
        except (ShipyardError, OSError, UnicodeDecodeError) as e:
            error = (
                e if isinstance(e, ShipyardError) else ShipyardError(f"cannot read the file: {e}")
            )
            loaded.append(Loaded(file, label, None, error))
    return loaded


# --- validate ------------------------------------------------------------------------------


@app.command()
def validate(path: PathArg = Path(".")) -> None:
    """Report every problem in the workflows, as file:line:column; exit 1 if any."""
    try:
        files = workflow_files(path)
    except ShipyardError as e:
        _fail(e.message)
    problems = 0
    for item in load_all(files):
        if item.error is None:
            typer.echo(f"{item.label}: ok")
            continue
        problems += len(item.error.problems) if isinstance(item.error, WorkflowError) else 1
        typer.echo(_error_text(item.error))
    count = len(files)
    typer.echo(f"{count} workflow{'s' * (count != 1)}, {problems} problem{'s' * (problems != 1)}")
    if problems:
        raise typer.Exit(1)


# --- expr ----------------------------------------------------------------------------------


def _strip_braces(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("${{") and stripped.endswith("}}") and stripped.count("${{") == 1:
        return stripped[3:-2].strip()
    return text


@app.command()
def expr(
    expression: Annotated[str, typer.Argument(help="The expression, with or without ${{ }}.")],
    context: Annotated[
        str | None,
        typer.Option("--context", "-c", help="Contexts as a JSON object, or @file.json."),
    ] = None,
    workspace: Annotated[
        Path, typer.Option("--workspace", help="The directory hashFiles() reads.")
    ] = Path("."),
) -> None:
    """Evaluate one expression and print its value as JSON (for debugging an `if:`)."""
    contexts = _context_json(context) if context else {}
    options = EvaluationOptions(hash_files=hash_files_hook(workspace.resolve()))
    try:
        if "${{" in _strip_braces(expression):
            value = evaluate_template(expression, contexts, options=options)
        else:
            value = evaluate(_strip_braces(expression), contexts, options=options)
    except ExpressionError as e:
        _fail(e.message)
    typer.echo(to_json(value))


def _context_json(text: str) -> dict[str, object]:
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        data: object = json.loads(raw)
    except (OSError, json.JSONDecodeError) as e:
        _fail(f"--context: {e}")
    if not isinstance(data, dict):
        _fail("--context must be a JSON object of contexts, e.g. '{\"github\": {...}}'")
    return data


# --- deciding what an event triggers -------------------------------------------------------


@dataclass(frozen=True)
class TriggerEvent:
    """The event of a ``ci run``: its name, payload and the files it changed."""

    name: str
    payload: Mapping[str, object]
    changed_files: tuple[str, ...] | None
    at: float | None = None  # for schedule: the minute (UTC) whose due crons fire

    def schedule_for(self, workflow: Workflow) -> str | None:
        """The cron firing this ``schedule`` event for ``workflow``: the payload's
        ``schedule``, else the first of the workflow's crons due at :attr:`at` (UTC)."""
        given = self.payload.get("schedule")
        if isinstance(given, str) and given:
            return given
        crons = next((t.crons for t in workflow.triggers if t.event == "schedule"), ())
        if self.at is None:
            return None
        due = due_crons(crons, datetime.fromtimestamp(self.at, UTC))
        return due[0] if due else None

    def filter_event(self, workflow: Workflow | None = None) -> Event:
        payload = self.payload
        if self.name == "schedule":
            return Event(
                self.name, schedule=None if workflow is None else self.schedule_for(workflow)
            )
        if self.name in _PR_EVENTS:
            pr = payload.get("pull_request")
            base = pr.get("base") if isinstance(pr, Mapping) else None
            base_ref = base.get("ref") if isinstance(base, Mapping) else None
            action = payload.get("action")
            return Event(
                self.name,
                base_ref=base_ref if isinstance(base_ref, str) else None,
                changed_files=self.changed_files,
                action=action if isinstance(action, str) else None,
            )
        ref = payload.get("ref")
        return Event(
            self.name, ref=ref if isinstance(ref, str) else None, changed_files=self.changed_files
        )


def decide(workflow: Workflow, event: TriggerEvent) -> TriggerDecision:
    """Whether ``event`` triggers ``workflow``, and if not which filter excluded it."""
    on = {t.event: t.config for t in workflow.triggers}
    filter_event = event.filter_event(workflow)
    schedule = next((t for t in workflow.triggers if t.event == "schedule"), None)
    if event.name == "schedule" and filter_event.schedule is None and schedule is not None:
        crons = ", ".join(repr(c) for c in schedule.crons)
        at = "the given time" if event.at is None else format_time(event.at)
        return TriggerDecision(False, f"no cron of on.schedule is due at {at} (UTC): {crons}")
    try:
        return evaluate_trigger(on, filter_event)
    except InvalidError as e:
        return TriggerDecision(False, _error_text(e))


def _pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"{option} takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def build_event(
    repo: Repository,
    name: str,
    event_file: Path | None,
    inputs: Mapping[str, str],
    at: float | None = None,
) -> TriggerEvent:
    """The event payload (from ``-e`` or the checkout) and the files it changed; ``at`` is
    the minute a ``schedule`` event is for."""
    if name not in EVENTS and event_file is None:
        _fail(f"--event must be one of {', '.join(EVENTS)} (or give its payload with -e)")
    if event_file is not None:
        payload: dict[str, object] = load_payload(event_file)
        if inputs:
            given = payload.get("inputs")
            payload["inputs"] = {**(given if isinstance(given, dict) else {}), **inputs}
    else:
        payload = default_payload(repo, cast(EventName, name), inputs=inputs)
    return TriggerEvent(name, payload, changed_files_for(repo, name, payload), at)


def select(loaded: Sequence[Loaded], workflow: str | None) -> list[Loaded]:
    """The workflows ``-W`` names (file name, path or ``name:``), all without it."""
    if workflow is None:
        return list(loaded)
    chosen = [
        item
        for item in loaded
        if workflow in (item.label, item.path.name, item.path.stem, str(item.path))
        or (item.workflow is not None and item.workflow.name == workflow)
    ]
    if not chosen:
        _fail(f"-W {workflow}: no such workflow (have: {', '.join(i.label for i in loaded)})")
    return chosen


def _job_names(job: Job) -> list[str]:
    name = job.name if job.name and "${{" not in job.name else job.id
    matrix = job.strategy.matrix if job.strategy is not None else None
    if matrix is None:
        return [name]
    if isinstance(matrix, str) or "${{" in json.dumps(matrix):
        return [f"{name} (matrix with expressions, expanded when the run starts)"]
    try:
        combos = expand_matrix(matrix, where=f"jobs.{job.id}.strategy.matrix")
    except ShipyardError as e:
        return [f"{name} (invalid matrix: {e.message})"]
    return [job_display_name(name, c) for c in combos] or [f"{name} (empty matrix: skipped)"]


def _stages(workflow: Workflow) -> dict[str, int]:
    stage: dict[str, int] = {}
    for job in workflow.jobs:  # topological order
        stage[job.id] = 1 + max((stage[n] for n in job.needs), default=0)
    return stage


def _jobs_of(workflow: Workflow, only: str | None) -> list[Job]:
    """Every job, or with ``-j`` the job and the jobs it needs (transitively)."""
    if only is None:
        return list(workflow.jobs)
    wanted: set[str] = set()
    todo = [only]
    by_id = {j.id: j for j in workflow.jobs}
    while todo:
        name = todo.pop()
        if name in by_id and name not in wanted:
            wanted.add(name)
            todo.extend(by_id[name].needs)
    return [j for j in workflow.jobs if j.id in wanted]


def _flag(value: bool | str) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def plan_rows(workflow: Workflow, only: str | None = None) -> list[list[str]]:
    """One row per job: stage (needs order), job id, needs, what runs (matrix expanded)."""
    stages = _stages(workflow)
    rows = []
    for job in _jobs_of(workflow, only):
        runs = f"calls {job.uses}" if job.uses else "; ".join(_job_names(job))
        strategy = job.strategy
        if strategy is not None and strategy.matrix is not None:
            runs += f"  [fail-fast: {_flag(strategy.fail_fast)}"
            runs += f", max-parallel: {strategy.max_parallel}]" if strategy.max_parallel else "]"
        needs = ", ".join(job.needs)
        rows.append([str(stages[job.id]), job.id, needs or "-", runs])
    return rows


def _print_list(items: Sequence[Loaded], event: TriggerEvent, job: str | None) -> None:
    rows = []
    for item in items:
        if item.workflow is None:
            rows.append([item.label, "-", "invalid", "fails its run: see `shipyard ci validate`"])
            continue
        decision = decide(item.workflow, event)
        if not decision.triggers:
            rows.append([item.label, item.display, "no", decision.reason])
            continue
        jobs = [j.id for j in _jobs_of(item.workflow, job)]
        rows.append([item.label, item.display, "yes", ", ".join(jobs) or "(no such job)"])
    typer.echo(render_table(["WORKFLOW", "NAME", "TRIGGERED", "JOBS / REASON"], rows))
    if event.name == "schedule":
        at = "" if event.at is None else f" at {format_time(event.at)} (UTC)"
        typer.echo(f"\nevent: schedule{at}")
        return
    files = event.changed_files
    shown = "unknown (path filters pass)" if files is None else ", ".join(files) or "none"
    typer.echo(f"\nevent: {event.name}; changed files: {shown}")


def _print_plan(items: Sequence[Loaded], event: TriggerEvent, job: str | None) -> None:
    planned = 0
    for item in items:
        if item.workflow is None:
            typer.echo(f"{item.label}: would fail (invalid workflow)")
            typer.echo(_error_text(_as_workflow_error(item)) + "\n")
            planned += 1
            continue
        if not decide(item.workflow, event).triggers:
            continue
        typer.echo(f"{item.label} ({item.display}), on {event.name}:")
        rows = plan_rows(item.workflow, job)
        typer.echo(render_table(["STAGE", "JOB", "NEEDS", "RUNS"], rows) + "\n")
        planned += 1
    if not planned:
        typer.echo(f"no workflow runs for {event.name} (see --list)")


@app.command()
def run(
    path: PathArg = Path("."),
    event: Annotated[
        str, typer.Option("--event", help="push, pull_request, workflow_dispatch or schedule.")
    ] = "push",
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="For --event schedule: run the workflows whose on.schedule crons are due at "
            "this time (RFC 3339; cron is in UTC; default: now).",
        ),
    ] = None,
    event_file: Annotated[
        Path | None, typer.Option("--event-file", "-e", help="The event payload (JSON).")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-W", help="Only this workflow (file or name).")
    ] = None,
    job: Annotated[
        str | None, typer.Option("--job", "-j", help="Only this job and the jobs it needs.")
    ] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="workflow_dispatch input K=V.")
    ] = None,
    secrets: Annotated[list[str] | None, typer.Option("--secret", help="A secret K=V.")] = None,
    variables: Annotated[list[str] | None, typer.Option("--var", help="A variable K=V.")] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Show which workflows and jobs the event triggers.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan without running it.")
    ] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            help="Run in this directory and keep it (default: a "
            "fresh one under the data directory, removed after the run).",
        ),
    ] = None,
    expand_groups: Annotated[
        bool, typer.Option("--expand-groups", help="Print the lines inside ::group::s too.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run the workflows the event triggers; exit 1 unless every run succeeded."""
    try:
        repo = Repository(path if path.is_dir() else path.parent)
        folder = path if path.is_file() or (path / ".github").is_dir() else repo.root
        items = select(load_all(workflow_files(folder), repo.root), workflow)
        when = _schedule_time(at) if event == "schedule" else None
        trigger = build_event(repo, event, event_file, _pairs(inputs, "--input"), when)
    except ShipyardError as e:
        _fail(_error_text(e))
    if list_only:
        _print_list(items, trigger, job)
        return
    if dry_run:
        _print_plan(items, trigger, job)
        return
    options = {
        "secrets": {**_env_secrets(), **_pairs(secrets, "--secret")},
        "vars": _pairs(variables, "--var"),
        "inputs": _pairs(inputs, "--input"),
    }
    try:
        requests = run_requests(repo, items, trigger, job, options)
    except ShipyardError as e:
        _fail(_error_text(e))
    if not requests:
        _fail(
            f"no workflow runs for {trigger.name}"
            + (f" with job {job!r}" if job else "")
            + " (see --list)"
        )
    if not _execute(repo, requests, data_dir, workspace, expand_groups):
        raise typer.Exit(1)


def _schedule_time(at: str | None) -> float:
    """The minute a ``schedule`` event is for: ``--at`` (RFC 3339), else now."""
    if at is None:
        return RealClock().now()
    try:
        return parse_time(at)
    except ValueError:
        _fail(f"--at: {at!r} is not an RFC 3339 time (write e.g. 2026-03-02T05:30:00Z)")


def _env_secrets() -> dict[str, str]:
    return {
        k.removeprefix(SECRET_ENV_PREFIX): v
        for k, v in os.environ.items()
        if k.startswith(SECRET_ENV_PREFIX) and len(k) > len(SECRET_ENV_PREFIX)
    }


class LivePrinter:
    """A LogSink printing each job's lines as they arrive, prefixed by the job.

    A ``##[group]`` line becomes a header (``▸ title``) and the group's lines are folded
    (not printed) unless ``expand`` is set; ``##[error]``/``##[warning]``/``##[notice]`` lines
    are shown as ``Error:``/``Warning:``/``Notice:``. The stored log keeps every line.
    """

    def __init__(self, prefix: str = "", *, expand: bool = False) -> None:
        self._prefix = prefix
        self._expand = expand
        self._depth: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def line(self, job: str, text: str) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._line(job, text)
            except OSError:  # stdout closed (``| head``): stop printing, let the run finish
                self._closed = True

    def _line(self, job: str, text: str) -> None:
        depth = self._depth.get(job, 0)
        label = f"[{self._prefix}{job}]"
        if text.startswith("##[group]"):
            self._depth[job] = depth + 1
            if depth == 0 or self._expand:
                typer.secho(f"{label} ▸ {text.removeprefix('##[group]')}", bold=True)
            return
        if text.startswith("##[endgroup]"):
            self._depth[job] = max(0, depth - 1)
            return
        if depth and not self._expand:
            return
        for marker, (shown, color) in _MARKERS.items():
            if text.startswith(marker):
                typer.secho(f"{label} {shown}{text.removeprefix(marker)}", fg=color)
                return
        typer.echo(f"{label} {text}")


_MARKERS = {
    "##[error]": ("Error: ", "red"),
    "##[warning]": ("Warning: ", "yellow"),
    "##[notice]": ("Notice: ", "cyan"),
    "##[debug]": ("Debug: ", "bright_black"),
}


def _as_workflow_error(item: Loaded) -> WorkflowError:
    if isinstance(item.error, WorkflowError):
        return item.error
    message = item.error.message if item.error is not None else "cannot be read"
    return WorkflowError(item.label, [WorkflowProblem(item.label, 1, 1, "", message)])


def _dispatch_payload(
    workflow: Workflow, payload: Mapping[str, object], given: Mapping[str, str]
) -> tuple[dict[str, object], dict[str, object]]:
    """(typed inputs, payload whose ``inputs`` hold every input as text, as GitHub sends)."""
    typed = dispatch_inputs(workflow, given)
    texts = {k: to_string(v) for k, v in typed.items()}
    return typed, {**payload, "inputs": texts}


def _ref_and_sha(repo: Repository, trigger: TriggerEvent) -> tuple[str | None, str | None]:
    """What the payload cannot say: a push or pull request payload names its ref and commit;
    other events (``workflow_dispatch``, ``schedule``, …) run on the checkout's HEAD."""
    if trigger.name == "push" or trigger.name in _PR_EVENTS:
        return None, None
    given = trigger.payload.get("ref")
    ref = given if isinstance(given, str) and given else repo.current_ref()
    return ref, repo.head_sha()


def run_requests(
    repo: Repository,
    items: Sequence[Loaded],
    trigger: TriggerEvent,
    job: str | None,
    options: Mapping[str, Mapping[str, str]],
) -> list[RunRequest]:
    """One request per workflow the event triggers (broken ones included: they fail)."""
    requests = []
    ref, sha = _ref_and_sha(repo, trigger)
    for item in items:
        common: dict[str, Any] = {
            "repository": repo.name,
            "workflow_path": item.label,
            "secrets": options["secrets"],
            "vars": options["vars"],
            "sha": sha,
            "ref": ref,
        }
        if item.workflow is None:
            if job is None:
                requests.append(
                    RunRequest(
                        _as_workflow_error(item), trigger.name, repo.root,
                        payload=trigger.payload, **common,
                    )
                )  # fmt: skip
            continue
        if not decide(item.workflow, trigger).triggers:
            continue
        if job is not None and job not in {j.id for j in item.workflow.jobs}:
            continue
        payload: Mapping[str, object] = trigger.payload
        inputs: Mapping[str, object] = {}
        if trigger.name == "workflow_dispatch":
            inputs, payload = _dispatch_payload(item.workflow, payload, options["inputs"])
        if trigger.name == "schedule":
            payload = {**payload, "schedule": trigger.schedule_for(item.workflow)}
        requests.append(
            RunRequest(
                item.workflow, trigger.name, repo.root, payload=payload, inputs=inputs,
                only_jobs=(job,) if job else (), **common,
            )
        )  # fmt: skip
    return requests


def _in_file_order(result: RunResult, workflow: Workflow | WorkflowError) -> list[JobRecord]:
    """The run's jobs in the workflow's (topological) job order; finish order within a job."""
    if not isinstance(workflow, Workflow):
        return list(result.jobs)
    order = {job.id: index for index, job in enumerate(workflow.jobs)}
    return sorted(result.jobs, key=lambda j: order.get(j.job_id, len(order)))


def _summary(result: RunResult, request: RunRequest) -> None:
    label = request.workflow_path
    jobs = _in_file_order(result, request.workflow)
    rows = [[j.key, j.result, duration(j.started, j.finished)] for j in jobs]
    typer.echo("")
    color = "green" if result.conclusion == "success" else "red"
    typer.secho(f"{label}: run {result.run_id} {result.conclusion}", fg=color, bold=True)
    if result.message:
        typer.echo(result.message)
    if rows:
        typer.echo(render_table(["JOB", "RESULT", "DURATION"], rows))


def _execute(
    repo: Repository,
    requests: Sequence[RunRequest],
    data_dir: Path | None,
    workspace: Path | None,
    expand: bool,
) -> bool:
    """Run every request (concurrently, as GitHub starts the workflows of one event) and
    print the summaries; True when every run succeeded."""
    ok = True
    with _store(data_dir) as store:
        groups = ConcurrencyGroups()
        clock = RealClock()
        work_root = (data_dir or default_data_dir()) / "ci" / "work"
        started = []
        for request in requests:
            prefix = f"{_run_label(request)}: " if len(requests) > 1 else ""
            runner = WorkflowRunner(
                clock=clock, store=store, groups=groups, actions=default_actions(),
                log=LivePrinter(prefix, expand=expand),
            )  # fmt: skip
            target = workspace or _fresh_workspace(work_root, repo)
            started.append((request, target, runner.start(replace(request, workspace=target))))
        for request, target, handle in started:
            result = handle.result()
            _summary(result, request)
            ok = ok and result.conclusion in ("success", "skipped")
            if workspace is None:
                shutil.rmtree(target, ignore_errors=True)
    return ok


def _run_label(request: RunRequest) -> str:
    workflow = request.workflow
    if isinstance(workflow, Workflow) and workflow.name:
        return workflow.name
    return request.workflow_path


def _fresh_workspace(work_root: Path, repo: Repository) -> Path:
    work_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{repo.root.name}-", dir=work_root))


# --- stored runs ---------------------------------------------------------------------------


@contextmanager
def _store(data_dir: Path | None) -> Iterator[Store]:
    try:
        store = open_cluster(data_dir or default_data_dir())
    except ShipyardError as e:
        _fail(e.message)
    try:
        yield store
    except ShipyardError as e:
        _fail(_error_text(e))
    finally:
        store.close()


def duration(started: str | None, finished: str | None) -> str:
    """``1m05s`` / ``3s`` between two RFC 3339 times (stored with second precision);
    ``-`` when either is missing."""
    if not started or not finished:
        return "-"
    seconds = int(max(0.0, parse_time(finished) - parse_time(started)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s"


@app.command()
def runs(
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-W", help="Only runs of this workflow file.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """List the stored runs, newest first."""
    with _store(data_dir) as store:
        views = list_runs(store, workflow=workflow)
    if not views:
        typer.echo("No workflow runs found.")
        return
    headers = ["RUN", "WORKFLOW", "EVENT", "REF", "STATUS", "CONCLUSION", "DURATION"]
    rows = [
        [
            str(v.run_id),
            v.workflow_name or v.workflow,
            v.event,
            v.ref,
            v.phase,
            v.conclusion or "-",
            duration(v.started, v.finished),
        ]
        for v in views
    ]
    typer.echo(render_table(headers, rows))


@app.command()
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (17) or name (run-17).")],
    job: Annotated[str | None, typer.Option("--job", "-j", help="Only this job.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print the stored logs of a run, job by job."""
    with _store(data_dir) as store:
        view = get_run(store, run_id)
        texts = run_logs(store, run_id, job=job)
    title = view.workflow_name or view.workflow
    typer.echo(
        f"run {view.run_id} of {title} ({view.event}, {view.ref}): {view.conclusion or view.phase}"
    )
    if view.message:
        typer.echo(view.message)
    for key, text in texts.items():
        typer.echo(f"=== {key} ===")
        typer.echo(text.rstrip("\n"))
