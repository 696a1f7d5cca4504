"""Running one step of a job, with GitHub's semantics.

Design
------
A job's steps share one mutable :class:`JobState` (the environment the steps built so far, the
``PATH`` additions, the job status, the summaries and annotations, the run's secret masker) and
run inside a :class:`Scope`: the job itself, or a composite action (which has its own
``steps`` and ``inputs`` contexts and its own status, ``github.action_status``). A
:class:`StepRunner` runs one step in a scope, in this order, as GitHub's runner does:

1. ``if`` — the implicit ``success() &&``; the status functions see the job's status so far
   (and, inside a composite action, the action's own status);
2. the step's ``env`` (evaluated with the job's ``env`` context), then ``name``,
   ``continue-on-error`` and ``timeout-minutes``;
3. ``run``: the script is interpolated, written to ``RUNNER_TEMP`` with the shell's extension
   and started with GitHub's invocation for the shell (see :func:`shell_command`), in
   ``working-directory`` under ``GITHUB_WORKSPACE``; ``uses``: handed to the
   :class:`UsesHandler` (local composite actions and built-in actions, ``composite.py``);
4. every output line goes through the workflow-command processor (``add-mask`` registers in
   the run's masker, ``::debug::`` only with step debug on, annotations kept) and is masked
   before it reaches the :class:`LogSink`;
5. the file commands (``GITHUB_ENV``, ``GITHUB_OUTPUT``, ``GITHUB_PATH``, ``GITHUB_STATE``,
   ``GITHUB_STEP_SUMMARY``) are read: a parse error fails the step with GitHub's message;
   environment and ``PATH`` additions apply to the later steps, outputs become
   ``steps.<id>.outputs``, the summary is masked and kept for the job;
6. the outcome (``success``/``failure``/``cancelled``) and the conclusion (``success`` when a
   failed step has ``continue-on-error``) are recorded.

Environment precedence (later wins): the host environment, the workflow ``env``, the job
``env``, values written to ``GITHUB_ENV``, a composite action's caller ``env``, the step's
``env``; then the default ``GITHUB_*``/``RUNNER_*`` variables, which a workflow cannot
override, as on GitHub. ``PATH`` additions are prepended, the newest first.

Log format: plain output as written; commands as GitHub's raw logs show them
(``##[group]…``, ``##[endgroup]``, ``##[debug]…``, ``##[warning]…``); each step opens with
``##[group]Run …`` holding the script, the shell line and the step's env, like GitHub's.

Deliberate differences: ``shell: python`` falls back to ``python3`` when the host has no
``python`` (GitHub needs ``python`` on ``PATH``); a step's outputs are kept unmasked in the
``steps`` context (later steps need the real values) and masked in the :class:`StepRecord`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from shipyard.ci.commands import (
    Annotation,
    CommandProcessor,
    FileCommandError,
    LogLine,
    read_env_file,
    read_output_file,
    read_path_file,
    read_state_file,
    read_step_summary,
)
from shipyard.ci.contexts import RunFacts, StepFiles, step_environment, step_files
from shipyard.ci.executor import Cancellation, ExecResult, Executor
from shipyard.ci.expressions import (
    EvaluationOptions,
    evaluate_condition,
    evaluate_template,
    interpolate,
    to_string,
    truthy,
)
from shipyard.ci.hashfiles import hash_files_hook
from shipyard.ci.masking import SecretMasker
from shipyard.ci.schema import Step
from shipyard.core.clock import Clock, format_time
from shipyard.core.errors import BadRequestError, ShipyardError

__all__ = [
    "CANCEL_TIMEOUT_SECONDS",
    "Conclusion",
    "JobState",
    "LogSink",
    "Outcome",
    "Scope",
    "StepOutcome",
    "StepRecord",
    "StepRunner",
    "UsesCall",
    "UsesHandler",
    "render",
    "shell_command",
]

Conclusion = Literal["success", "failure", "cancelled", "skipped"]
Outcome = Literal["success", "failure", "cancelled"]

# Steps that still run after a cancellation (``always()``) get at most this long, like the
# runner's cancel timeout of five minutes.
CANCEL_TIMEOUT_SECONDS = 300.0

_SHELLS: dict[str, tuple[str, str]] = {
    # name: (command template, script extension), as GitHub documents them for Linux
    "bash": ("bash --noprofile --norc -eo pipefail {0}", ".sh"),
    "sh": ("sh -e {0}", ".sh"),
    "python": ("python {0}", ".py"),
    "pwsh": ("pwsh -command \". '{0}'\"", ".ps1"),
}
_EXTENSIONS = {"bash": ".sh", "sh": ".sh", "python": ".py", "python3": ".py", "pwsh": ".ps1"}
_WINDOWS_SHELLS = frozenset({"cmd", "powershell"})


class LogSink(Protocol):
    """Where a job's already-masked log lines go (B persists them; the CLI prints them)."""

    def line(self, job: str, text: str) -> None:
        """One log line of the job whose display key is ``job``, without a newline."""
        ...


@dataclass(frozen=True)
class StepRecord:
    """How one step of a job ended; ``outputs`` are masked."""

    index: int
    name: str
    id: str | None
    outcome: Conclusion
    conclusion: Conclusion
    started: str | None
    finished: str | None
    outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """A finished step: its record plus the unmasked outputs for the ``steps`` context."""

    record: StepRecord
    outputs: Mapping[str, str]


@dataclass
class JobState:
    """What the steps of one job share while it runs."""

    key: str
    facts: RunFacts
    contexts: Mapping[str, object]  # github, vars, secrets, inputs, matrix, needs, runner, ...
    masker: SecretMasker
    log: LogSink
    executor: Executor
    clock: Clock
    cancel: Cancellation  # the job's own flag: the run's cancellation or the job timeout
    repository_root: Path
    defaults_run: Mapping[str, str] = field(default_factory=dict)
    host_env: Mapping[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # workflow + job env + GITHUB_ENV
    path: list[str] = field(default_factory=list)  # GITHUB_PATH additions, newest first
    failed: bool = False
    debug: bool = False
    summaries: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    _files: int = 0
    _runs: int = 0

    @property
    def status(self) -> str:
        """``job.status``: cancelled wins over failure."""
        if self.cancel.cancelled:
            return "cancelled"
        return "failure" if self.failed else "success"

    @property
    def workspace(self) -> Path:
        return Path(self.facts.workspace)

    def next_files(self) -> tuple[StepFiles, int]:
        """Fresh file-command paths and their number (composite steps number on)."""
        files = step_files(self.facts, self._files)
        self._files += 1
        return files, self._files

    def action_name(self, step: Step) -> str:
        """``GITHUB_ACTION``: the step id, or ``__run``, ``__run_2``… as on GitHub."""
        if step.id:
            return step.id
        self._runs += 1
        return "__run" if self._runs == 1 else f"__run_{self._runs}"

    def emit(self, text: str) -> None:
        self.log.line(self.key, self.masker.mask(text))


@dataclass
class Scope:
    """The steps being run together: the job's, or a composite action's."""

    steps: dict[str, object] = field(default_factory=dict)
    inputs: Mapping[str, object] | None = None  # a composite action's inputs
    env: Mapping[str, str] = field(default_factory=dict)  # the composite step's env
    action_path: str | None = None
    failed: bool = False
    depth: int = 0

    @property
    def in_composite(self) -> bool:
        return self.action_path is not None


class UsesHandler(Protocol):
    """Runs a ``uses:`` step (built-in or local composite action)."""

    def run_uses(self, call: UsesCall) -> Outcome:
        """Run the action; return its outcome. Problems are logged and return ``failure``."""
        ...


@dataclass
class UsesCall:
    """One ``uses:`` step about to run, with its inputs evaluated."""

    runner: StepRunner
    job: JobState
    scope: Scope
    step: Step
    uses: str
    inputs: dict[str, str]
    step_env: dict[str, str]  # the step's own evaluated env
    env: dict[str, str]  # the process environment for the action
    context: dict[str, object]  # the step's expression context
    files: StepFiles
    cancel: Cancellation
    timeout: float | None
    processor: CommandProcessor


@dataclass
class _Prepared:
    name: str
    env: dict[str, str]
    context: dict[str, object]
    continue_on_error: bool
    timeout: float | None


@dataclass
class _Exec:
    """One step being executed."""

    step: Step
    scope: Scope
    prepared: _Prepared
    files: StepFiles
    number: int
    processor: CommandProcessor
    cancel: Cancellation
    env: dict[str, str] = field(default_factory=dict)


def render(line: LogLine) -> str:
    """A processed line as the raw log shows it."""
    if line.kind in ("output", "command"):
        return line.text
    return f"##[{line.kind}]{line.text}"


def shell_command(shell: str | None, path: str) -> tuple[list[str], str]:
    """The argv template (``{0}`` still in it) and script extension for ``shell``.

    ``None`` is GitHub's default on Linux: ``bash -e {0}`` when bash exists, else
    ``sh -e {0}``; names are resolved on ``path``. Raises BadRequestError for a shell that
    cannot run here.
    """
    if shell is None or not shell.strip():
        if shutil.which("bash", path=path):
            return _resolved(["bash", "-e", "{0}"], path), ".sh"
        return _resolved(["sh", "-e", "{0}"], path), ".sh"
    name = shell.strip()
    if name in _WINDOWS_SHELLS:
        raise BadRequestError(f"shell {name!r} runs only on Windows runners; use bash or pwsh")
    if name in _SHELLS:
        template, extension = _SHELLS[name]
        argv = shlex.split(template)
        if name == "python" and not shutil.which("python", path=path):
            argv[0] = "python3"
        return _resolved(argv, path), extension
    if "{0}" not in name:
        raise BadRequestError(
            f"invalid shell {name!r}: use bash, sh, python or pwsh, or a command template "
            "containing {0} such as 'perl {0}'"
        )
    argv = shlex.split(name)
    return _resolved(argv, path), _EXTENSIONS.get(Path(argv[0]).name, "")


def _resolved(argv: list[str], path: str) -> list[str]:
    found = shutil.which(argv[0], path=path)
    if found is None:
        raise BadRequestError(f"shell program {argv[0]!r} was not found on PATH")
    return [found, *argv[1:]]


class StepRunner:
    """Runs steps of one job; ``uses`` steps go to the handler."""

    def __init__(self, job: JobState, uses: UsesHandler) -> None:
        self.job = job
        self._uses = uses
        self._options = EvaluationOptions(hash_files=hash_files_hook(job.workspace))
        self._composite_options = EvaluationOptions(
            in_composite_action=True, hash_files=hash_files_hook(job.workspace)
        )

    # -- the step ------------------------------------------------------------------------

    def run(self, step: Step, scope: Scope, index: int) -> StepOutcome:
        """Run ``step`` (``index``: its place in the job or action) and update the scope."""
        context = self.context(scope, {})
        default_name = _default_name(step)
        try:
            go = evaluate_condition(step.if_ or "", context, options=self.options(scope))
        except ShipyardError as err:
            self.job.emit(f"##[error]The step's 'if' could not be evaluated: {err}")
            return self._finish(step, scope, index, default_name, "failure")
        if not go:
            return self._finish(step, scope, index, default_name, "skipped")
        started = self._now()
        try:
            prepared = self._prepare(step, scope, default_name)
        except ShipyardError as err:
            self.job.emit(f"##[error]{err}")
            return self._finish(step, scope, index, default_name, "failure", started=started)
        outcome, outputs = self._execute(step, scope, prepared)
        return self._finish(
            step,
            scope,
            index,
            prepared.name,
            outcome,
            continue_on_error=prepared.continue_on_error,
            started=started,
            outputs=outputs,
        )

    def context(self, scope: Scope, step_env: Mapping[str, str]) -> dict[str, object]:
        """The expression context of a step of ``scope``."""
        context = dict(self.job.contexts)
        context["env"] = {**self.job.env, **scope.env, **step_env}
        context["job"] = {"status": self.job.status, "container": {}, "services": {}}
        context["steps"] = scope.steps
        if scope.inputs is not None:
            context["inputs"] = scope.inputs
        if scope.in_composite:
            github = dict(_mapping(context.get("github")))
            github["action_path"] = scope.action_path
            github["action_status"] = (
                "cancelled"
                if self.job.cancel.cancelled
                else ("failure" if scope.failed else "success")
            )
            context["github"] = github
        return context

    def options(self, scope: Scope) -> EvaluationOptions:
        return self._composite_options if scope.in_composite else self._options

    def _prepare(self, step: Step, scope: Scope, default_name: str) -> _Prepared:
        outer = self.context(scope, {})
        options = self.options(scope)
        env = {k: interpolate(v, outer, options=options) for k, v in step.env.items()}
        context = self.context(scope, env)
        name = default_name
        if step.name or step.run:
            try:
                name = (
                    interpolate(step.name, context, options=options)
                    if step.name
                    else _default_name(step, interpolate(step.run or "", context, options=options))
                )
            except ShipyardError:
                name = step.name or default_name  # GitHub shows the raw text then
        coe = step.continue_on_error
        if isinstance(coe, str):
            coe = truthy(evaluate_template(coe, context, options=options))
        timeout = (
            None
            if step.timeout_minutes is None
            else 60 * timeout_minutes(step.timeout_minutes, context, options=options)
        )
        if self.job.cancel.cancelled:
            timeout = min(timeout or CANCEL_TIMEOUT_SECONDS, CANCEL_TIMEOUT_SECONDS)
        return _Prepared(name, env, context, bool(coe), timeout)

    def _finish(
        self,
        step: Step,
        scope: Scope,
        index: int,
        name: str,
        outcome: Conclusion,
        *,
        continue_on_error: bool = False,
        started: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> StepOutcome:
        outputs = outputs or {}
        conclusion: Conclusion = (
            "success" if outcome == "failure" and continue_on_error else outcome
        )
        if conclusion == "failure":
            scope.failed = True
            if not scope.in_composite:
                self.job.failed = True
        if step.id:
            scope.steps[step.id] = {
                "outputs": dict(outputs),
                "outcome": outcome,
                "conclusion": conclusion,
            }
        masked = {k: self.job.masker.mask(v) for k, v in outputs.items()}
        finished = self._now() if started is not None else None
        record = StepRecord(index, name, step.id, outcome, conclusion, started, finished, masked)
        return StepOutcome(record, dict(outputs))

    # -- execution -----------------------------------------------------------------------

    def _execute(
        self, step: Step, scope: Scope, prepared: _Prepared
    ) -> tuple[Outcome, dict[str, str]]:
        job = self.job
        files, number = job.next_files()
        _create_files(files)
        processor = CommandProcessor(
            job.masker,
            debug=job.debug,
            allow_unsecure_commands=_flag(prepared.env, job.env, "ACTIONS_ALLOW_UNSECURE_COMMANDS"),
            allow_unsecure_stop_tokens=_flag(
                prepared.env, job.env, "ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS"
            ),
        )
        cancel, forget = self._step_cancel()
        ex = _Exec(step, scope, prepared, files, number, processor, cancel)
        outcome: Outcome
        try:
            ex.env = self.process_env(step, scope, prepared.env, files)
            outcome = self._run_script(ex) if step.run is not None else self._run_uses(ex)
        except ShipyardError as err:
            job.emit(f"##[error]{err}")
            outcome = "failure"
        except OSError as err:  # the host refused: a script or directory could not be used
            job.emit(f"##[error]{err.strerror or err}: {err.filename or ''}".rstrip(": "))
            outcome = "failure"
        finally:
            forget()
        outputs, failed = self._file_commands(files, processor)
        job.annotations.extend(processor.annotations)
        if (failed or processor.failed) and outcome == "success":
            outcome = "failure"
        return outcome, outputs

    def _step_cancel(self) -> tuple[Cancellation, Callable[[], None]]:
        """The flag that stops this step's process: linked to the job's unless the job is
        already cancelled (steps that run after a cancellation are not stopped by it)."""
        cancel = Cancellation()
        if self.job.cancel.cancelled:
            return cancel, lambda: None
        return cancel, self.job.cancel.on_cancel(cancel.cancel)

    def process_env(
        self, step: Step, scope: Scope, step_env: Mapping[str, str], files: StepFiles
    ) -> dict[str, str]:
        """The environment of the step's process (see the module docstring for the order)."""
        job = self.job
        github = dict(_mapping(job.contexts.get("github")))
        github["action"] = job.action_name(step)
        runner = _mapping(job.contexts.get("runner"))
        env = {**job.host_env, **job.env, **scope.env, **step_env}
        env |= step_environment(github, runner, files)
        if scope.action_path is not None:
            env["GITHUB_ACTION_PATH"] = scope.action_path
        if job.path:
            env["PATH"] = os.pathsep.join([*job.path, env.get("PATH", os.defpath)])
        return env

    def _run_script(self, ex: _Exec) -> Outcome:
        step, scope, prepared, env = ex.step, ex.scope, ex.prepared, ex.env
        job, options = self.job, self.options(scope)
        script = interpolate(step.run or "", prepared.context, options=options)
        shell = _evaluated(step.shell, prepared.context, options)
        directory = _evaluated(step.working_directory, prepared.context, options)
        if not scope.in_composite:
            shell = shell or job.defaults_run.get("shell")
            directory = directory or job.defaults_run.get("working-directory")
        elif not shell:
            raise BadRequestError("a composite action's run step must set 'shell'")
        argv_template, extension = shell_command(shell, env.get("PATH", os.defpath))
        cwd = job.workspace / directory if directory else job.workspace
        script_path = Path(job.facts.temp_dir) / f"step_script_{ex.number}{extension}"
        script_path.write_text(script, encoding="utf-8")
        argv = [part.replace("{0}", str(script_path)) for part in argv_template]
        self._header(script, argv_template, prepared.env)
        if not cwd.is_dir():
            raise BadRequestError(
                f"An error occurred trying to start process '{argv[0]}' with working directory "
                f"'{cwd}'. No such file or directory"
            )
        result = job.executor.run(
            argv,
            env=env,
            cwd=cwd,
            on_line=lambda text: self.show(ex.processor, text),
            cancel=ex.cancel,
            timeout=prepared.timeout,
        )
        return self._ended(result, prepared)

    def show(self, processor: CommandProcessor, text: str) -> None:
        """One output line of a step: run it as a command, log what it shows (masked)."""
        for line in processor.process(text):
            self.job.log.line(self.job.key, render(line))

    def _header(self, script: str, argv: list[str], env: Mapping[str, str]) -> None:
        job = self.job
        lines = script.splitlines() or [""]
        job.emit(f"##[group]Run {lines[0]}")
        for line in lines:
            job.emit(line)
        job.emit(f"shell: {' '.join(argv)}")
        if env:
            job.emit("env:")
            for key, value in env.items():
                job.emit(f"  {key}: {value}")
        job.emit("##[endgroup]")

    def _ended(self, result: ExecResult, prepared: _Prepared) -> Outcome:
        if result.stopped == "timeout":
            minutes = (prepared.timeout or 0) / 60
            self.job.emit(
                f"##[error]The action '{prepared.name}' has timed out after {minutes:g} minutes."
            )
            return "failure"
        if result.stopped == "cancelled":
            self.job.emit("##[error]The operation was canceled.")
            return "cancelled"
        if result.exit_code != 0:
            self.job.emit(f"##[error]Process completed with exit code {result.exit_code}.")
            return "failure"
        return "success"

    def _run_uses(self, ex: _Exec) -> Outcome:
        step, scope, prepared = ex.step, ex.scope, ex.prepared
        options = self.options(scope)
        inputs = {
            k: to_string(evaluate_template(v, prepared.context, options=options))
            for k, v in step.with_.items()
        }
        call = UsesCall(
            self, self.job, scope, step, step.uses or "", inputs, prepared.env, ex.env,
            prepared.context, ex.files, ex.cancel, prepared.timeout, ex.processor,
        )  # fmt: skip
        self.job.emit(f"##[group]Run {step.uses}")
        if inputs:
            self.job.emit("with:")
        for key, value in inputs.items():
            self.job.emit(f"  {key}: {value}")
        self.job.emit("##[endgroup]")
        return self._uses.run_uses(call)

    def _file_commands(
        self, files: StepFiles, processor: CommandProcessor
    ) -> tuple[dict[str, str], bool]:
        """Apply the step's file commands; returns its outputs and whether one failed."""
        job = self.job
        outputs = dict(processor.outputs)
        try:
            env_result = read_env_file(_read(files.env))
            outputs |= read_output_file(_read(files.output))
            read_state_file(_read(files.state))
            added = read_path_file(_read(files.path))
        except FileCommandError as err:
            job.emit(f"##[error]{err}")
            job.annotations.append(Annotation("error", job.masker.mask(str(err))))
            return outputs, True
        job.env |= processor.env | env_result.env
        job.annotations.extend(env_result.annotations)
        for note in env_result.annotations:
            job.emit(f"##[error]{note.message}")
        for entry in [*processor.path, *added][::-1]:
            if entry in job.path:
                job.path.remove(entry)
            job.path.insert(0, entry)
        self._summary(files)
        return outputs, False

    def _summary(self, files: StepFiles) -> None:
        job = self.job
        try:
            if os.stat(files.step_summary).st_size == 0:
                return
            content = Path(files.step_summary).read_bytes()
        except FileNotFoundError:
            return
        try:
            text = read_step_summary(content)
        except FileCommandError as err:
            # GitHub drops the summary with an error annotation; the step is not failed.
            job.emit(f"##[error]{err.detail}")
            job.annotations.append(Annotation("error", err.detail))
            return
        if text:
            job.summaries.append(job.masker.mask(text))

    def _now(self) -> str:
        return format_time(self.job.clock.now())


def _default_name(step: Step, script: str | None = None) -> str:
    if step.run is not None:
        first = (step.run if script is None else script).strip().splitlines()
        return f"Run {first[0] if first else ''}".rstrip()
    return f"Run {step.uses}"


def timeout_minutes(
    value: float | str,
    context: Mapping[str, object],
    *,
    where: str = "timeout-minutes",
    options: EvaluationOptions | None = None,
) -> float:
    """A ``timeout-minutes`` (a number, or an expression giving one), in minutes; a value that
    is not a positive number is a ``BadRequestError`` naming ``where``."""
    if isinstance(value, str):
        text = to_string(evaluate_template(value, context, options=options))
        try:
            value = float(text)
        except ValueError as err:
            raise BadRequestError(f"{where} must be a number, got {text!r}") from err
    if value <= 0:
        raise BadRequestError(f"{where} must be greater than 0, got {value:g}")
    return float(value)


def _evaluated(
    value: str | None, context: Mapping[str, object], options: EvaluationOptions
) -> str | None:
    return interpolate(value, context, options=options) if value else None


def _flag(step_env: Mapping[str, str], job_env: Mapping[str, str], name: str) -> bool:
    return (step_env.get(name) or job_env.get(name) or "").lower() == "true"


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _create_files(files: StepFiles) -> None:
    Path(files.env).parent.mkdir(parents=True, exist_ok=True)
    for path in (files.env, files.output, files.path, files.state, files.step_summary):
        with open(path, "wb"):
            pass


def _read(path: str) -> str:
    try:
        if os.stat(path).st_size == 0:  # the common case: a stat is cheaper than an open
            return ""
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
