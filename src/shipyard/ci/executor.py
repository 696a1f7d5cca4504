"""Running one command of a step: the ``Executor`` seam and the host implementation.

Design
------
An :class:`Executor` runs one argv with an environment in a directory, hands every output line
(stdout and stderr merged, in the order the process wrote them) to a callback and returns how
the process ended. :class:`HostExecutor` runs it as a host process, the way a self-hosted
GitHub runner does; a container executor can later implement the same one method.

The fast path costs one ``fork/exec`` and no extra thread: the calling thread reads the merged
pipe line by line until it closes, then reaps the process. Nothing polls. Two things can stop a
process early, both registered as callbacks rather than watched:

* the step's timeout, a timer on the injected :class:`~shipyard.core.clock.Clock`
  (``call_later``), so a virtual clock drives it in tests and a real one in production;
* the :class:`Cancellation` the caller passes (run cancelled, fail-fast, concurrency).

Stopping sends ``SIGTERM`` to the process's whole group (each command is started in its own
session, so children such as ``sleep`` in a script go too), waits a short grace on an event
that is set when the process is reaped, and sends ``SIGKILL`` to the group if it is still there
— GitHub's runner also signals first and kills after a grace. That escalation runs on a small
thread started only when a stop is requested, never on the fast path.

A process that leaves a background child holding the output pipe keeps the step open until the
child exits or the step times out; GitHub's runner likewise waits for the output streams.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.errors import BadRequestError

__all__ = [
    "DEFAULT_KILL_GRACE_SECONDS",
    "Cancellation",
    "ExecResult",
    "Executor",
    "HostExecutor",
    "StopReason",
]

DEFAULT_KILL_GRACE_SECONDS = 2.0

StopReason = Literal["", "timeout", "cancelled"]


class Cancellation:
    """A thread-safe, one-way cancel flag with a reason and callbacks.

    ``cancel`` may be called from any thread (a concurrency group, fail-fast, a user); the
    first reason wins. Callbacks registered with :meth:`on_cancel` run once, on the thread that
    cancels (or at once when registering on an already cancelled flag); they must not block.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason = ""
        self._callbacks: dict[int, Callable[[str], None]] = {}
        self._next = 0

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason or "cancelled"
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            callback(self._reason)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def wait(self, timeout: float) -> bool:
        """Block until cancelled or ``timeout`` seconds pass; True when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(reason)`` when cancelled; returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                key = self._next
                self._next += 1
                self._callbacks[key] = callback
                return lambda: self._forget(key)
        callback(self._reason)
        return lambda: None

    def _forget(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)


@dataclass(frozen=True)
class ExecResult:
    """How a command ended: its exit code (negative: killed by that signal) and why it stopped."""

    exit_code: int
    stopped: StopReason = ""


class Executor(Protocol):
    """Runs commands for steps; the seam for a container executor later."""

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        on_line: Callable[[str], None],
        cancel: Cancellation,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run ``argv``; each output line (without its newline) goes to ``on_line``.

        Stops the command when ``cancel`` fires or after ``timeout`` seconds. Raises
        ``BadRequestError`` when the command cannot be started (missing program, bad cwd).
        """
        ...


class _Stopper:
    """Signals a running process group once: SIGTERM, then SIGKILL after the grace."""

    def __init__(self, process: subprocess.Popen[bytes], grace: float) -> None:
        self._process = process
        self._grace = grace
        self._lock = threading.Lock()
        self.reason: StopReason = ""
        self.reaped = Cancellation()

    def stop(self, reason: StopReason) -> None:
        with self._lock:
            if self.reason or self.reaped.cancelled:
                return
            self.reason = reason
        self._signal(signal.SIGTERM)
        threading.Thread(target=self._escalate, daemon=True, name="shipyard-kill").start()

    def _escalate(self) -> None:
        if not self.reaped.wait(self._grace):
            self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self._process.pid, sig)


class HostExecutor:
    """Runs each command as a host process in its own process group."""

    def __init__(self, clock: Clock, *, kill_grace: float = DEFAULT_KILL_GRACE_SECONDS) -> None:
        self._clock = clock
        self._grace = kill_grace

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        on_line: Callable[[str], None],
        cancel: Cancellation,
        timeout: float | None = None,
    ) -> ExecResult:
        process = self._spawn(argv, env, cwd)
        stopper = _Stopper(process, self._grace)
        forget = cancel.on_cancel(lambda _reason: stopper.stop("cancelled"))
        timer: TimerHandle | None = None
        if timeout is not None:
            timer = self._clock.call_later(timeout, lambda: stopper.stop("timeout"))
        try:
            _pump(process, on_line)
            code = process.wait()
        except BaseException:
            stopper.stop("cancelled")  # never leave a process behind a failing callback
            process.wait()
            raise
        finally:
            stopper.reaped.cancel("exited")
            forget()
            if timer is not None:
                timer.cancel()
            if process.stdout is not None:
                process.stdout.close()
        return ExecResult(code, stopper.reason)

    @staticmethod
    def _spawn(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as err:
            program = argv[0] if argv else "<empty command>"
            raise BadRequestError(
                f"cannot start {program!r} in {str(cwd)!r}: {err.strerror or err}"
            ) from err


def _pump(process: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
    stream = process.stdout
    assert stream is not None
    for raw in iter(stream.readline, b""):
        on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
