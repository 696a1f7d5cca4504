"""Concurrency groups: one running and one pending per group, replacement, cancel-in-progress."""

from __future__ import annotations

import threading
from pathlib import Path

from shipyard.ci.concurrency import ConcurrencyGroups, Ticket, replaced_reason
from shipyard.ci.orchestrator import RunRequest, WorkflowRunner
from shipyard.core.clock import VirtualClock
from tests.ci.test_orchestrator import PUSH, FakeJobs, results, workflow


class Holder:
    """One run or job in a group: records cancellations and notifications."""

    def __init__(self, groups: ConcurrencyGroups, group: str, *, cancel_running: bool = False):
        self.cancelled: list[str] = []
        self.notified: list[str] = []
        self.ticket: Ticket = groups.request(
            group, label=f"holder{id(self)}", cancel_in_progress=cancel_running,
            cancel=self.cancelled.append, notify=lambda t: self.notified.append(t.state),
        )  # fmt: skip


def test_a_free_group_runs_at_once_and_a_busy_one_queues() -> None:
    groups = ConcurrencyGroups()
    first, second = Holder(groups, "deploy"), Holder(groups, "deploy")
    assert (first.ticket.state, second.ticket.state) == ("running", "pending")
    groups.release(first.ticket)
    assert second.ticket.state == "running"
    assert second.notified == ["running"]
    assert first.cancelled == []


def test_a_new_pending_holder_replaces_the_older_pending_one() -> None:
    groups = ConcurrencyGroups()
    running, older, newer = (Holder(groups, "deploy") for _ in range(3))
    assert older.ticket.state == "cancelled"
    assert older.cancelled == [replaced_reason("deploy")]
    assert older.notified == ["cancelled"]
    assert running.cancelled == []
    assert groups.holders("deploy") == (running.ticket.label, newer.ticket.label)


def test_cancel_in_progress_cancels_the_running_holder_which_then_hands_over() -> None:
    groups = ConcurrencyGroups()
    running = Holder(groups, "deploy")
    newer = Holder(groups, "deploy", cancel_running=True)
    assert running.cancelled == [replaced_reason("deploy")]
    assert newer.ticket.state == "pending"  # until the cancelled holder has stopped
    groups.release(running.ticket)
    assert groups.holders("deploy") == (newer.ticket.label, None)
    assert newer.notified == ["running"]


def test_group_names_ignore_case_and_groups_are_independent() -> None:
    groups = ConcurrencyGroups()
    prod, other = Holder(groups, "Prod"), Holder(groups, "staging")
    assert Holder(groups, "prod").ticket.state == "pending"
    assert (prod.ticket.state, other.ticket.state) == ("running", "running")


def test_withdrawing_a_pending_holder_leaves_the_group_free_after_the_running_one() -> None:
    groups = ConcurrencyGroups()
    running, pending = Holder(groups, "g"), Holder(groups, "g")
    groups.release(pending.ticket)
    groups.release(running.ticket)
    assert groups.holders("g") == (None, None)
    assert pending.notified == []


# -- across runs -------------------------------------------------------------------------------

GROUPED = """
on: push
concurrency:
  group: deploy-${{{{ github.ref }}}}
  cancel-in-progress: {cancel}
jobs:
  deploy:
    runs-on: local
    steps: [{{run: "${{{{ vars.STEP }}}}"}}]
"""


def test_cancel_in_progress_cancels_the_running_run(tmp_path: Path) -> None:
    jobs = FakeJobs()
    runner = WorkflowRunner(clock=VirtualClock(), job_runner=jobs)
    first = runner.start(RunRequest(workflow(GROUPED.format(cancel="true")), "push", tmp_path,
                                    payload=PUSH, vars={"STEP": "wait"}))  # fmt: skip
    assert jobs.event("deploy").wait(5)
    second = runner.start(RunRequest(workflow(GROUPED.format(cancel="true")), "push", tmp_path,
                                     payload=PUSH, vars={"STEP": "ok"}))  # fmt: skip
    one, two = first.result(), second.result()
    assert (one.conclusion, two.conclusion) == ("cancelled", "success")
    assert one.message == replaced_reason("deploy-refs/heads/main")
    assert results(one) == {"deploy": "cancelled"}


def test_a_newer_pending_run_replaces_the_older_pending_run(tmp_path: Path) -> None:
    jobs = FakeJobs()
    runner = WorkflowRunner(clock=VirtualClock(), job_runner=jobs)
    text = GROUPED.format(cancel="false")

    running = runner.start(RunRequest(workflow(text), "push", tmp_path, payload=PUSH,
                                      vars={"STEP": "hold"}))  # fmt: skip
    assert jobs.event("deploy").wait(5)
    older = runner.start(RunRequest(workflow(text), "push", tmp_path, payload=PUSH,
                                    vars={"STEP": "ok"}))  # fmt: skip
    newer = runner.start(RunRequest(workflow(text), "push", tmp_path, payload=PUSH,
                                    vars={"STEP": "ok"}))  # fmt: skip
    replaced = older.result()  # cancelled while pending, without running anything
    jobs.release()
    assert replaced.conclusion == "cancelled"
    assert replaced.jobs == ()
    assert running.result().conclusion == "success"
    assert newer.result().conclusion == "success"
    assert jobs.started == ["deploy", "deploy"]


class Lines:
    """A log sink that lets a test wait for a line of a job."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.waiting: dict[str, threading.Event] = {}

    def line(self, job: str, text: str) -> None:
        with self.lock:
            self.seen.append((job, text))
        if text.startswith("Waiting"):
            self.waits(job).set()

    def waits(self, job: str) -> threading.Event:
        with self.lock:
            return self.waiting.setdefault(job, threading.Event())


def test_job_level_group_queues_jobs_and_a_newer_pending_job_replaces_an_older(
    tmp_path: Path,
) -> None:
    jobs, lines = FakeJobs(), Lines()
    runner = WorkflowRunner(clock=VirtualClock(), job_runner=jobs, max_jobs=4, log=lines)
    handle = runner.start(RunRequest(workflow("""
        on: push
        jobs:
          first:
            runs-on: local
            concurrency: shared
            steps: [{run: hold}]
          second:
            runs-on: local
            concurrency: {group: Shared}
            steps: [{run: ok}]
          gate:
            runs-on: local
            steps: [{run: ok}]
          third:
            runs-on: local
            needs: gate
            concurrency: {group: shared, cancel-in-progress: false}
            steps: [{run: ok}]
    """), "push", tmp_path, payload=PUSH))  # fmt: skip
    assert lines.waits("third").wait(5)
    jobs.release()
    result = handle.result()
    assert results(result) == {
        "second": "cancelled", "gate": "success", "first": "success", "third": "success",
    }  # fmt: skip
    assert ("second", replaced_reason("shared")) in lines.seen
    assert "second" not in jobs.started
