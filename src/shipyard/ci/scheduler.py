"""The loop that drives one workflow run (see :mod:`shipyard.ci.orchestrator` for the rules).

A :class:`RunScheduler` holds a run's whole scheduling state — scopes (the top-level
workflow and each called reusable workflow), job states and job instances (one per matrix
combination), the records of :mod:`shipyard.ci.run_state` — and is touched only by the
thread that calls :meth:`RunScheduler.execute`.
Everything else talks to it through its event queue:

======================  =====================================================================
event                   sent by
======================  =====================================================================
``done``                a pool worker, when ``job_runner`` returned the job's record
``ticket``              a concurrency group, when a waiting job starts or is replaced
``run-ticket``          a concurrency group, for the workflow-level group
``cancel``              the run's Cancellation (``WorkflowRunner.cancel``, cancel-in-progress)
``cancel-call``         a reusable-workflow caller's Cancellation (fail-fast, run cancel)
======================  =====================================================================

Each turn handles one event, then *pumps*: it decides every job whose needs have all
finished (``if``, strategy, instances), starts queued instances up to ``max-parallel``,
closes finished scopes (a called workflow's end finishes its caller job) and repeats until
nothing changes; then it writes the run's status if anything changed. A run whose loop has
nothing in flight but is not finished is a bug and fails loudly instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets as secrets_module
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from shipyard.ci.concurrency import Ticket
from shipyard.ci.contexts import (
    RunFacts,
    event_path,
    needs_context,
    runner_context,
    strategy_context,
    values_to_mask,
)
from shipyard.ci.execution import (
    Cancellation,
    Conclusion,
    JobRecord,
    JobRequest,
)
from shipyard.ci.expressions import evaluate_condition, interpolate, truthy
from shipyard.ci.masking import SecretMasker
from shipyard.ci.matrix import expand_matrix, job_display_name
from shipyard.ci.records import RunRecorder
from shipyard.ci.reusable import call_inputs, call_outputs, call_secrets, load_called_workflow
from shipyard.ci.run_request import RunRequest, RunResult, RunSettings, github_for, run_facts
from shipyard.ci.run_state import (
    JobInstance,
    JobState,
    RunLog,
    WorkflowScope,
    ancestors,
    combined,
    job_entry,
    only_jobs,
    resolve,
)
from shipyard.ci.schema import Workflow, WorkflowError
from shipyard.core.clock import format_time
from shipyard.core.errors import ShipyardError

__all__ = ["RunScheduler"]

_IF = ("github", "needs", "vars", "inputs")
_JOB = ("github", "needs", "strategy", "matrix", "vars", "inputs")
_WORKFLOW = ("github", "inputs", "vars")
_ENV = ("github", "secrets", "inputs", "vars")


_Event = tuple[str, "JobInstance | None", object]


# -- the loop ----------------------------------------------------------------------------------


class RunScheduler:
    """Drives one run on the thread that calls :meth:`execute` (see the module docstring)."""

    def __init__(
        self,
        settings: RunSettings,
        request: RunRequest,
        inputs: Mapping[str, object],
        record: RunRecorder | None,
        *,
        run_id: int,
        run_number: int,
    ) -> None:
        self.settings = settings
        self.request = request
        self.inputs = dict(inputs)
        self.record = record
        self.run_id, self.run_number = run_id, run_number
        self.name = record.name if record is not None else ""
        self.cancel = Cancellation()
        self.outcome: RunResult | None = None
        self._events: queue.Queue[_Event] = queue.Queue()
        self._log = RunLog(settings.log)
        self._masker = SecretMasker()
        self._records: list[tuple[JobRecord, Conclusion]] = []
        self._running: list[JobInstance] = []
        self._keys: set[str] = set()
        self._scopes: list[WorkflowScope] = []
        self._message = ""
        self._started: str | None = None
        self._temp: Path | None = None
        self._job_dirs = 0
        self._pool: ThreadPoolExecutor | None = None
        self._ready: list[tuple[JobInstance, JobRequest]] = []
        self._dirty = True
        self._claimed = False
        self._token = ""
        self._base: dict[str, Any] = {}
        self._ticket: Ticket | None = None
        self._group_error: ShipyardError | None = None
        self.cancel.on_cancel(lambda reason: self._events.put(("cancel", None, reason)))

    # -- the run as a whole ---------------------------------------------------------------------

    def execute(self) -> None:
        """Run to the end; the outcome is in :attr:`outcome`. Never raises for the workflow."""
        self._started = self._now()
        self._write("in_progress")
        workflow = self.request.workflow
        if isinstance(workflow, WorkflowError):
            self._message = workflow.message
            self._finish("failure")
            return
        self._temp = self.request.temp_dir or Path(tempfile.mkdtemp(prefix="shipyard-ci-"))
        self._pool = ThreadPoolExecutor(self.settings.max_jobs, thread_name_prefix="ci-job")
        try:
            self._run(workflow)
        except Exception as err:  # a bug: end the run as failed (not left in progress), re-raise
            self._stop_everything("internal error")
            self._message = self._masker.mask(f"internal error: {err!r}")
            self._finish("failure")
            raise
        finally:
            self._pool.shutdown(wait=True)
            if self.request.temp_dir is None:
                shutil.rmtree(self._temp, ignore_errors=True)

    def _stop_everything(self, reason: str) -> None:
        for inst in self._running:
            inst.cancel.cancel(reason)

    def claim_group(self) -> None:
        """Join the workflow-level concurrency group now, before the run's thread starts, so
        that runs started one after another queue in that order (a run started later
        replaces an earlier pending one, never the reverse). Idempotent; a group that cannot
        be evaluated fails the run when it executes."""
        if self._claimed:
            return
        self._claimed = True
        workflow = self.request.workflow
        if isinstance(workflow, WorkflowError):
            return
        token = self.request.token or "ghs_" + secrets_module.token_hex(20)
        self._token = token
        self._facts: RunFacts = run_facts(self.request, self.run_id, self.run_number, token)
        github = github_for(self.request, self._facts, self.inputs)
        self._base = {"github": github, "vars": dict(self.request.vars), "inputs": self.inputs}
        try:
            self._ticket = self._enter_workflow_group(workflow, self._base)
        except ShipyardError as err:
            self._group_error = err

    def _run(self, workflow: Workflow) -> None:
        self.claim_group()
        base, token = self._base, self._token
        secrets = {**self.request.secrets, "GITHUB_TOKEN": token}
        for value in (*secrets.values(), *values_to_mask(base["github"])):
            self._masker.add(value)
        ticket = self._ticket
        try:
            if self._group_error is not None:
                raise self._group_error
            if ticket is not None and not self._wait_for_run_ticket(ticket):
                self._finish("cancelled")
                return
            root = self._open_scope(workflow, {**base, "secrets": secrets})
            root.jobs = {
                j.id: JobState(root, j) for j in only_jobs(workflow, self.request.only_jobs)
            }
            self._loop(root)
        except ShipyardError as err:
            self._stop_everything(err.message)
            self._message = self._masker.mask(err.message)
        finally:
            if ticket is not None:
                self.settings.groups.release(ticket)
        self._finish(self._conclusion())

    def _conclusion(self) -> Conclusion:
        if self.cancel.cancelled:
            return "cancelled"
        if self._message:
            return "failure"
        return combined([c for _, c in self._records]) if self._records else "success"

    def _finish(self, conclusion: Conclusion) -> None:
        if self.cancel.cancelled and not self._message:
            self._message = self.cancel.reason
        self._write("completed", conclusion)
        self.outcome = RunResult(
            self.run_id, self.run_number, self.name, conclusion,
            tuple(r for r, _ in self._records), self._message,
        )  # fmt: skip

    def _loop(self, root: WorkflowScope) -> None:
        while True:
            self._pump()
            if root.done:
                return
            if not self._running:
                raise ShipyardError("internal error: the run has jobs left but none in flight")
            if self._dirty:
                self._write("in_progress")
            self._submit_ready()  # after the write: a job shows as running before it runs
            self._handle(self._events.get())

    def _handle(self, event: _Event) -> None:
        kind, inst, payload = event
        if kind == "done" and inst is not None and isinstance(payload, JobRecord):
            self._finish_instance(inst, payload)
        elif kind == "ticket" and inst is not None:
            self._ticket_changed(inst)
        elif kind == "cancel":
            self._cancel_all(str(payload))
        elif kind == "cancel-call" and inst is not None and inst.child is not None:
            self._cancel_scope(inst.child, str(payload))

    # -- workflow-level concurrency -------------------------------------------------------------

    def _enter_workflow_group(self, workflow: Workflow, base: dict[str, Any]) -> Ticket | None:
        if not workflow.concurrency:
            return None
        group = interpolate(str(workflow.concurrency.get("group") or ""), base,
                            named_values=_WORKFLOW)  # fmt: skip
        cancel_running = truthy(resolve(workflow.concurrency.get("cancel-in-progress"), base,
                                        _WORKFLOW))  # fmt: skip
        if not group:
            return None
        return self.settings.groups.request(
            group, label=self.name or f"run {self.run_id}", cancel_in_progress=cancel_running,
            cancel=self.cancel.cancel,
            notify=lambda t: self._events.put(("run-ticket", None, t)),
        )  # fmt: skip

    def _wait_for_run_ticket(self, ticket: Ticket) -> bool:
        while ticket.state == "pending":
            kind, _, _ = self._events.get()
            if kind == "cancel":
                self.settings.groups.release(ticket)
                return False
        if ticket.state == "cancelled":
            self._message = ticket.reason
            return False
        return not self.cancel.cancelled

    # -- scopes ---------------------------------------------------------------------------------

    def _open_scope(
        self,
        workflow: Workflow,
        contexts: dict[str, Any],
        *,
        prefix: tuple[str, str] = ("", ""),
        depth: int = 1,
        caller: JobInstance | None = None,
    ) -> WorkflowScope:
        key_prefix, name_prefix = prefix
        env_context = {k: contexts[k] for k in _ENV}
        env = {k: interpolate(v, env_context, named_values=_ENV) for k, v in workflow.env.items()}
        scope = WorkflowScope(workflow, key_prefix, name_prefix, depth, {**contexts, "env": env},
                              caller.cancel if caller is not None else self.cancel,
                              caller)  # fmt: skip
        scope.jobs = {j.id: JobState(scope, j) for j in workflow.jobs}
        self._scopes.append(scope)
        return scope

    def _scope_cancelled(self, scope: WorkflowScope) -> bool:
        if self.cancel.cancelled or scope.cancel.cancelled:
            return True
        caller = scope.caller
        return caller is not None and self._scope_cancelled(caller.state.scope)

    def _close_scope(self, scope: WorkflowScope) -> None:
        scope.done = True
        self._scopes.remove(scope)
        caller = scope.caller
        if caller is None:
            return
        result = combined([s.result for s in scope.jobs.values()])
        jobs = {jid: (s.result, s.outputs) for jid, s in scope.jobs.items()}
        outputs: dict[str, str] = {}
        error = ""
        try:
            outputs = call_outputs(scope.workflow, jobs, scope.contexts)
        except ShipyardError as err:
            error = f"Error evaluating the called workflow's outputs: {err.message}"
            result = "failure"
        record = JobRecord(caller.key, caller.state.job.id, caller.name, result,
                           {k: self._masker.mask(v) for k, v in outputs.items()}, (),
                           caller.started, self._now(), error=self._masker.mask(error))  # fmt: skip
        self._finish_instance(caller, record, keep=bool(error))

    # -- pumping --------------------------------------------------------------------------------

    def _pump(self) -> None:
        changed = True
        while changed:
            changed = False
            for scope in list(self._scopes):
                changed |= self._pump_scope(scope)

    def _pump_scope(self, scope: WorkflowScope) -> bool:
        changed = False
        for state in scope.jobs.values():
            if state.phase == "waiting" and all(
                scope.jobs[n].phase == "done" for n in state.job.needs
            ):
                self._decide(state)
                changed = True
            if state.phase == "active":
                changed |= self._start_queued(state)
        if all(s.phase == "done" for s in scope.jobs.values()):
            self._close_scope(scope)
            changed = True
        return changed

    def _start_queued(self, state: JobState) -> bool:
        started = False
        limit = state.max_parallel or len(state.instances)
        while state.queued and state.in_progress < limit:
            inst = state.queued.popleft()
            state.in_progress += 1
            self._start(inst)
            started = True
        return started

    # -- deciding a job -------------------------------------------------------------------------

    def _status(self, state: JobState) -> str:
        scope = state.scope
        if self._scope_cancelled(scope):
            return "cancelled"
        results = [scope.jobs[a].result for a in ancestors(scope, state.job)]
        if "failure" in results:
            return "failure"
        if "cancelled" in results:
            return "cancelled"
        if any(scope.jobs[n].result != "success" for n in state.job.needs):
            return "skipped"
        return "success"

    def _decide(self, state: JobState) -> None:
        scope, job = state.scope, state.job
        needs = needs_context({n: (scope.jobs[n].result, scope.jobs[n].outputs)
                               for n in job.needs})  # fmt: skip
        base = {"github": {**scope.contexts["github"], "job": job.id}, "needs": needs,
                "vars": scope.contexts["vars"], "inputs": scope.contexts["inputs"]}  # fmt: skip
        status = self._status(state)
        try:
            runs = evaluate_condition(job.if_ or "", {**base, "job": {"status": status}},
                                      named_values=_IF)  # fmt: skip
        except ShipyardError as err:
            self._settle(state, "failure", f"Error when evaluating 'if' for job "
                         f"'{job.id}': {err.message}")  # fmt: skip
            return
        if not runs:
            self._settle(state, "cancelled" if self._scope_cancelled(scope) else "skipped", "")
            return
        try:
            combos = self._strategy(state, base)
        except ShipyardError as err:
            self._settle(state, "failure", f"Error when evaluating 'strategy' for job "
                         f"'{job.id}': {err.message}")  # fmt: skip
            return
        state.phase = "active"
        for index, combo in enumerate(combos):
            state.instances.append(self._instance(state, base, combo, index, len(combos)))
        state.queued.extend(state.instances)

    def _strategy(self, state: JobState, base: dict[str, Any]) -> list[dict[str, object]]:
        strategy = state.job.strategy
        if strategy is None:
            return [{}]
        matrix = resolve(strategy.matrix, base, _IF)
        combos = expand_matrix(matrix, where=f"jobs.{state.job.id}.strategy.matrix")
        state.fail_fast = truthy(resolve(strategy.fail_fast, base, _IF))
        limit = resolve(strategy.max_parallel, base, _IF)
        if limit is not None:
            if not isinstance(limit, int | float) or isinstance(limit, bool) or limit < 1:
                raise ShipyardError(f"max-parallel must be a positive number, got {limit!r}")
            state.max_parallel = int(limit)
        return combos

    def _instance(
        self, state: JobState, base: dict[str, Any], combo: dict[str, object], index: int,
        total: int,
    ) -> JobInstance:  # fmt: skip
        job = state.job
        contexts = {**base, "matrix": combo, "strategy": strategy_context(
            fail_fast=state.fail_fast, job_index=index, job_total=total,
            max_parallel=state.max_parallel)}  # fmt: skip
        name = job.name or job.id
        with contextlib.suppress(ShipyardError):  # a bad name shows as written
            name = interpolate(name, contexts, named_values=_JOB) if job.name else name
        if not (job.name and "${{" in job.name and "matrix" in job.name):
            name = job_display_name(name, combo)
        inst = JobInstance(state, self._unique(state.scope.key_prefix
                                               + job_display_name(job.id, combo)),
                           state.scope.name_prefix + name, contexts)  # fmt: skip
        try:
            inst.continue_on_error = truthy(resolve(job.continue_on_error, contexts, _JOB))
        except ShipyardError as err:
            self._say(inst.key, f"Error evaluating continue-on-error: {err.message}")
        return inst

    def _unique(self, key: str) -> str:
        candidate, n = key, 1
        while candidate in self._keys:
            n += 1
            candidate = f"{key} #{n}"
        self._keys.add(candidate)
        return candidate

    def _settle(self, state: JobState, result: Conclusion, error: str) -> None:
        """A job that runs no instance: skipped, cancelled, or failed before it started."""
        state.phase = "active"
        job = state.job
        inst = JobInstance(state, self._unique(state.scope.key_prefix + job.id),
                           state.scope.name_prefix + (job.name or job.id), {})  # fmt: skip
        state.instances.append(inst)
        state.in_progress += 1
        self._running.append(inst)
        if error:
            self._say(inst.key, error)
        now = self._now() if error else None
        self._finish_instance(inst, self._synthetic(inst, result, error, now), keep=True)

    # -- starting an instance -------------------------------------------------------------------

    def _start(self, inst: JobInstance) -> None:
        self._running.append(inst)
        concurrency = inst.state.job.concurrency
        if not concurrency:
            return self._launch(inst)
        try:
            group = interpolate(str(concurrency.get("group") or ""), inst.contexts,
                                named_values=_JOB)  # fmt: skip
            cancel_running = truthy(resolve(concurrency.get("cancel-in-progress"),
                                            inst.contexts, _JOB))  # fmt: skip
        except ShipyardError as err:
            return self._fail_early(inst, f"Error evaluating concurrency: {err.message}")
        if not group:
            return self._launch(inst)
        inst.ticket = self.settings.groups.request(
            group, label=f"{self.name or self.run_id}/{inst.key}",
            cancel_in_progress=cancel_running, cancel=inst.cancel.cancel,
            notify=lambda t: self._events.put(("ticket", inst, t)),
        )  # fmt: skip
        if inst.ticket.state == "running":
            return self._launch(inst)
        inst.phase = "waiting"
        self._say(inst.key, f"Waiting for a pending job in concurrency group '{group}'")
        return None

    def _ticket_changed(self, inst: JobInstance) -> None:
        ticket = inst.ticket
        if inst.phase != "waiting" or ticket is None:
            return
        if ticket.state == "running":
            self._launch(inst)
        elif ticket.state == "cancelled":
            self._say(inst.key, ticket.reason)
            self._finish_instance(inst, self._synthetic(inst, "cancelled", "", self._now()))

    def _launch(self, inst: JobInstance) -> None:
        inst.phase = "running"
        inst.started = self._now()
        self._dirty = True
        if inst.state.job.uses:
            return self._call(inst)
        self._ready.append((inst, self._job_request(inst)))
        return None

    def _submit_ready(self) -> None:
        assert self._pool is not None
        for inst, request in self._ready:
            self._pool.submit(self._run_instance, inst, request)
        self._ready.clear()

    def _job_request(self, inst: JobInstance) -> JobRequest:
        scope = inst.state.scope
        self._job_dirs += 1
        assert self._temp is not None
        temp = self._temp / str(self._job_dirs)
        facts = replace(self._facts, temp_dir=str(temp))
        payload = Path(event_path(facts))
        payload.parent.mkdir(parents=True, exist_ok=True)
        payload.write_text(json.dumps(scope.contexts["github"].get("event", {})), "utf-8")
        contexts = {
            **inst.contexts, "env": scope.contexts["env"],
            "secrets": scope.contexts["secrets"],
            "runner": runner_context(facts, machine=self.settings.machine),
        }  # fmt: skip
        return JobRequest(
            key=inst.key, job=inst.state.job, name=inst.name, facts=facts, contexts=contexts,
            workflow_defaults_run=scope.workflow.defaults_run,
            repository_root=self.request.repository_root, masker=self._masker,
        )  # fmt: skip

    def _run_instance(self, inst: JobInstance, request: JobRequest) -> None:
        # Whatever happens here, "done" is posted: the loop waits for it and would hang.
        record: JobRecord | None = None
        try:
            record = self.settings.job_runner(
                request, executor=self.settings.executor, actions=self.settings.actions,
                log=self._log, cancel=inst.cancel, clock=self.settings.clock,
            )  # fmt: skip
        except Exception as err:  # a crashed runner must fail its job, not hang the run
            message = self._masker.mask(f"internal error while running the job: {err!r}")
            record = self._synthetic(inst, "failure", message, self._now())
            self._log.line(inst.key, message)
        finally:
            if record is None:  # not even the synthetic record could be made
                record = self._synthetic(inst, "failure", "internal error", None)
            self._events.put(("done", inst, record))

    def _call(self, inst: JobInstance) -> None:
        job, scope = inst.state.job, inst.state.scope
        assert job.uses is not None
        try:
            called = load_called_workflow(job.uses, self.request.repository_root,
                                          depth=scope.depth)  # fmt: skip
            inputs = call_inputs(job, called, inst.contexts)
            secrets = call_secrets(job, called, scope.contexts["secrets"], inst.contexts)
            contexts = {"github": scope.contexts["github"], "vars": scope.contexts["vars"],
                        "inputs": inputs, "secrets": secrets}  # fmt: skip
            inst.child = self._open_scope(
                called, contexts, prefix=(f"{inst.key} / ", f"{inst.name} / "),
                depth=scope.depth + 1, caller=inst,
            )  # fmt: skip
        except ShipyardError as err:
            return self._fail_early(inst, err.message)
        inst.cancel.on_cancel(lambda reason: self._events.put(("cancel-call", inst, reason)))
        return None

    def _fail_early(self, inst: JobInstance, message: str) -> None:
        self._say(inst.key, message)
        inst.started = inst.started or self._now()
        self._finish_instance(inst, self._synthetic(inst, "failure", message, self._now()),
                              keep=True)  # fmt: skip

    # -- finishing ------------------------------------------------------------------------------

    def _finish_instance(self, inst: JobInstance, record: JobRecord, *, keep: bool = True) -> None:
        state = inst.state
        if inst.phase == "done":
            return
        inst.phase = "done"
        self._running.remove(inst)
        state.in_progress -= 1
        if inst.ticket is not None:
            self.settings.groups.release(inst.ticket)
        inst.result = record.result
        if record.result == "failure" and inst.continue_on_error:
            inst.result = "success"
        state.outputs.update({k: v for k, v in record.outputs.items() if v})
        if keep:
            self._keep(record, inst.result)
        if inst.result == "failure" and state.fail_fast:
            self._fail_fast(state, inst)
        if all(i.phase == "done" for i in state.instances) and not state.queued:
            state.phase = "done"
            state.result = combined([i.result for i in state.instances])
        self._dirty = True

    def _keep(self, record: JobRecord, conclusion: Conclusion) -> None:
        sink_error = self._log.sink_error(record.key)
        if sink_error:
            error = self._masker.mask(sink_error)
            record = replace(record, error=f"{record.error}; {error}" if record.error else error)
        self._records.append((record, conclusion))
        text = self._log.take(record.key)
        if self.record is not None and text is not None:
            self.record.write_log(record.key, text)

    def _fail_fast(self, state: JobState, failed: JobInstance) -> None:
        reason = f"The strategy configuration was canceled because '{failed.key}' failed"
        while state.queued:
            inst = state.queued.popleft()
            state.in_progress += 1
            self._running.append(inst)
            self._finish_instance(inst, self._synthetic(inst, "cancelled", "", None))
        for inst in state.instances:
            self._stop(inst, reason)

    def _stop(self, inst: JobInstance, reason: str) -> None:
        if inst.phase == "running":
            inst.cancel.cancel(reason)
        elif inst.phase == "waiting":
            self._say(inst.key, reason)
            self._finish_instance(inst, self._synthetic(inst, "cancelled", "", self._now()))

    def _cancel_all(self, reason: str) -> None:
        for scope in list(self._scopes):
            self._cancel_scope(scope, reason)

    def _cancel_scope(self, scope: WorkflowScope, reason: str) -> None:
        for state in scope.jobs.values():
            while state.queued:
                inst = state.queued.popleft()
                state.in_progress += 1
                self._running.append(inst)
                self._finish_instance(inst, self._synthetic(inst, "cancelled", "", None))
            for inst in list(state.instances):
                self._stop(inst, reason)

    # -- records --------------------------------------------------------------------------------

    def _synthetic(
        self, inst: JobInstance, result: Conclusion, error: str, finished: str | None
    ) -> JobRecord:
        return JobRecord(inst.key, inst.state.job.id, inst.name, result, {}, (),
                         inst.started, finished, error=error)  # fmt: skip

    def _say(self, key: str, text: str) -> None:
        self._log.line(key, self._masker.mask(text))

    def _now(self) -> str:
        return format_time(self.settings.clock.now())

    def _write(self, phase: str, conclusion: str = "") -> None:
        self._dirty = False
        if self.record is None:
            return
        jobs = [job_entry(r, c) for r, c in self._records]
        jobs += [{"key": i.key, "jobId": i.state.job.id, "name": i.name, "status": i.phase,
                  "result": "", "startedAt": i.started}
                 for i in self._running if not i.state.job.uses]  # fmt: skip
        status: dict[str, Any] = {"phase": phase, "conclusion": conclusion, "jobs": jobs,
                                  "startedAt": self._started}  # fmt: skip
        if phase == "completed":
            status["finishedAt"] = self._now()
        if self._message:
            status["message"] = self._message
        self.record.update(status)
