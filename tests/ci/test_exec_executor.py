"""HostExecutor and Cancellation; also the helpers the other execution tests share."""

from __future__ import annotations

import platform
import textwrap
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard.ci.actions import ActionRegistry, default_actions
from shipyard.ci.contexts import RunFacts, github_context, runner_context
from shipyard.ci.execution import JobRecord, JobRequest, run_job
from shipyard.ci.executor import Cancellation, HostExecutor
from shipyard.ci.masking import SecretMasker
from shipyard.ci.workflow import parse_workflow
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import BadRequestError

SHA = "0123456789abcdef0123456789abcdef01234567"

# -- shared helpers ---------------------------------------------------------------------


@dataclass
class ListSink:
    """A LogSink that keeps lines and can react to one (to step a clock or cancel)."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    hooks: list[Callable[[str], None]] = field(default_factory=list)

    def line(self, job: str, text: str) -> None:
        self.lines.append((job, text))
        for hook in self.hooks:
            hook(text)

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def output(self) -> list[str]:
        """The lines outside the ``##[group]Run …`` headers that echo each step's script."""
        shown, in_header = [], False
        for _, text in self.lines:
            if text.startswith("##[group]Run "):
                in_header = True
            elif in_header and text == "##[endgroup]":
                in_header = False
            elif not in_header:
                shown.append(text)
        return shown

    def on(self, marker: str, action: Callable[[], object]) -> None:
        """Run ``action`` once, when a line equal to ``marker`` is logged."""
        fired: list[bool] = []

        def hook(text: str) -> None:
            if text == marker and not fired:
                fired.append(True)
                action()

        self.hooks.append(hook)


def make_facts(tmp_path: Path) -> RunFacts:
    return RunFacts(
        repository="octo/shop",
        run_id=7,
        run_number=3,
        workspace=str(tmp_path / "work" / "shop"),
        temp_dir=str(tmp_path / "temp"),
        workflow="ci",
    )


def make_request(
    tmp_path: Path,
    workflow_yaml: str,
    *,
    job_id: str = "build",
    secrets: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
    repository_root: Path | None = None,
    sha: str = SHA,
) -> JobRequest:
    workflow = parse_workflow(textwrap.dedent(workflow_yaml))
    job = workflow.job(job_id)
    facts = make_facts(tmp_path)
    github = github_context(facts, "push", {"ref": "refs/heads/main", "after": sha}, job=job_id)
    masker = SecretMasker(list((secrets or {}).values()))
    contexts: dict[str, object] = {
        "github": github,
        "env": dict(workflow.env),
        "vars": {},
        "secrets": dict(secrets or {}),
        "inputs": {},
        "matrix": {},
        "strategy": {},
        "needs": {},
        "runner": runner_context(facts, machine=platform.machine()),
        **(extra or {}),
    }
    return JobRequest(
        key=job_id,
        job=job,
        name=job.name or job_id,
        facts=facts,
        contexts=contexts,
        workflow_defaults_run=dict(workflow.defaults_run),
        repository_root=repository_root or tmp_path / "repo",
        masker=masker,
    )


def execute(
    request: JobRequest,
    *,
    sink: ListSink | None = None,
    clock: VirtualClock | None = None,
    cancel: Cancellation | None = None,
    actions: ActionRegistry | None = None,
) -> tuple[JobRecord, ListSink]:
    sink = sink or ListSink()
    clock = clock or VirtualClock()
    record = run_job(
        request,
        executor=HostExecutor(clock, kill_grace=0.5),
        actions=actions or default_actions(),
        log=sink,
        cancel=cancel or Cancellation(),
        clock=clock,
    )
    return record, sink


# -- Cancellation -------------------------------------------------------------------------


def test_cancellation_first_reason_wins_and_callbacks_run_once() -> None:
    cancel = Cancellation()
    seen: list[str] = []
    cancel.on_cancel(seen.append)
    assert not cancel.cancelled and not cancel.wait(0)
    cancel.cancel("concurrency group ci-main")
    cancel.cancel("fail-fast")
    assert cancel.cancelled and cancel.wait(0)
    assert cancel.reason == "concurrency group ci-main"
    assert seen == ["concurrency group ci-main"]


def test_callback_registered_after_cancel_runs_at_once_and_forget_unregisters() -> None:
    cancel = Cancellation()
    seen: list[str] = []
    forget = cancel.on_cancel(seen.append)
    forget()
    cancel.cancel("stop")
    cancel.on_cancel(seen.append)
    assert seen == ["stop"]


# -- HostExecutor -------------------------------------------------------------------------


def run_argv(
    tmp_path: Path,
    argv: list[str],
    *,
    clock: VirtualClock | None = None,
    cancel: Cancellation | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], object] | None = None,
) -> tuple[int, str, list[str]]:
    lines: list[str] = []

    def collect(text: str) -> None:
        lines.append(text)
        if on_line:
            on_line(text)

    result = HostExecutor(clock or VirtualClock(), kill_grace=0.3).run(
        argv,
        env={"PATH": "/usr/bin:/bin", "GREETING": "hi"},
        cwd=tmp_path,
        on_line=collect,
        cancel=cancel or Cancellation(),
        timeout=timeout,
    )
    return result.exit_code, result.stopped, lines


def test_streams_stdout_and_stderr_merged_in_order(tmp_path: Path) -> None:
    script = 'echo "$GREETING out"; echo err >&2; printf "no newline"; exit 3'
    code, stopped, lines = run_argv(tmp_path, ["sh", "-c", script])
    assert (code, stopped) == (3, "")
    assert lines == ["hi out", "err", "no newline"]


def test_runs_in_the_given_directory(tmp_path: Path) -> None:
    _, _, lines = run_argv(tmp_path, ["sh", "-c", "pwd"])
    assert lines == [str(tmp_path)]


def test_missing_program_is_a_shipyard_error(tmp_path: Path) -> None:
    with pytest.raises(BadRequestError, match="cannot start 'no-such-shell-xyz'"):
        run_argv(tmp_path, ["no-such-shell-xyz"])


def test_timeout_on_the_injected_clock_kills_the_process_group(tmp_path: Path) -> None:
    clock = VirtualClock()
    # The child `sleep` would keep the pipe open if only the shell were killed.
    script = "echo started; sleep 30 & wait"
    code, stopped, lines = run_argv(
        tmp_path,
        ["sh", "-c", script],
        clock=clock,
        timeout=60,
        on_line=lambda text: clock.advance(61) if text == "started" else None,
    )
    assert stopped == "timeout"
    assert code != 0
    assert lines == ["started"]


def test_cancel_stops_the_process_and_sigkill_follows_an_ignored_sigterm(tmp_path: Path) -> None:
    cancel = Cancellation()
    script = "trap '' TERM; echo started; while :; do sleep 0.05; done"
    code, stopped, _ = run_argv(
        tmp_path,
        ["bash", "-c", script],
        cancel=cancel,
        on_line=lambda text: cancel.cancel("user") if text == "started" else None,
    )
    assert stopped == "cancelled"
    assert code == -9


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    cancel = Cancellation()
    started = threading.Event()

    def cancel_when_started() -> None:
        if started.wait(5):
            cancel.cancel("run cancelled")

    threading.Thread(target=cancel_when_started).start()
    code, stopped, _ = run_argv(
        tmp_path,
        ["sh", "-c", "echo go; sleep 30"],
        cancel=cancel,
        on_line=lambda text: started.set(),
    )
    assert stopped == "cancelled"
    assert code == -15


def test_a_failing_line_callback_stops_the_process_and_propagates(tmp_path: Path) -> None:
    def explode(text: str) -> None:
        raise RuntimeError(f"sink broke on {text}")

    with pytest.raises(RuntimeError, match="sink broke on first"):
        run_argv(tmp_path, ["sh", "-c", "echo first; sleep 30"], on_line=explode)
