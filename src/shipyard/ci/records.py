"""Persisted workflow runs: the ``WorkflowRun`` and ``WorkflowJobLog`` kinds and their views.

Kinds (group ``ci.shipyard.dev``, version ``v1``, namespaced; runs live in ``default``):

* ``WorkflowRun`` (``workflowruns``, short ``wfrun``), named ``run-<run id>``. ``spec`` says
  what ran (workflow path and name, the display title from ``run-name``, event, ref, sha,
  actor, inputs); ``status`` how it went: ``phase`` (``queued`` → ``in_progress`` →
  ``completed``), ``conclusion``, ``startedAt``/``finishedAt``, a ``message`` (why a broken
  workflow failed, why a run was cancelled) and ``jobs[]`` with each job's result, timings,
  steps, outputs, annotations and error. The orchestrator rewrites ``status`` as the run
  progresses, always from the thread that drives the run, so writes never race.
* ``WorkflowJobLog`` (``workflowjoblogs``), one per job of a run, named
  ``run-<run id>-<n>`` (``n`` = the job's place in the run), holding the job's whole log as
  one string, written once when the job ends. One object per job rather than chunks: a job's
  log is read as a whole (``shipyard ci logs RUN --job J``), a store write is a whole object,
  and per-job objects keep each write bounded by one job's output (capped at
  :data:`MAX_LOG_CHARS`, with a note saying so) instead of growing one object per run. Each
  log has the run as its owner, so deleting a run deletes its logs (ownerReference garbage
  collection). Logs are masked before they get here.

Run ids are unique and increasing across all workflows (the next id after the highest stored
one; a name clash with a concurrent writer retries with the next id). Run numbers count the
runs of one workflow file, as GitHub's ``run_number`` does.

Deliberate difference from GitHub: the log of a job is stored when the job ends; a live view
reads the orchestrator's log sink instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shipyard.core.errors import AlreadyExistsError, FieldError, NotFoundError
from shipyard.core.objects import Obj
from shipyard.store.scheme import KindInfo

__all__ = [
    "API_VERSION",
    "GROUP",
    "LOG_KIND",
    "MAX_LOG_CHARS",
    "RUN_ID_LABEL",
    "RUN_KIND",
    "JobEntry",
    "RecordStore",
    "RunRecorder",
    "RunView",
    "ci_kinds",
    "get_run",
    "list_runs",
    "run_logs",
    "run_view",
]

GROUP = "ci.shipyard.dev"
API_VERSION = f"{GROUP}/v1"
RUN_KIND = "WorkflowRun"
LOG_KIND = "WorkflowJobLog"
RUN_ID_LABEL = f"{GROUP}/run-id"
NAMESPACE = "default"
MAX_LOG_CHARS = 4 * 1024 * 1024
_PHASES = ("queued", "in_progress", "completed")
_CONCLUSIONS = ("", "success", "failure", "cancelled", "skipped")
_JOB_RESULTS = ("", "success", "failure", "cancelled", "skipped")
_ALLOCATE = threading.Lock()


class RecordStore(Protocol):
    """The store verbs records need (``Store`` and the cluster ``Client`` both fit)."""

    def get(
        self, api_version: str, kind: str, name: str, *, namespace: str = "", copy: bool = True
    ) -> Obj: ...

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: Any = None, field_selector: Any = None,
             copy: bool = True) -> Any: ...  # fmt: skip

    def create(self, obj: Obj, *, dry_run: bool = False, handoff: bool = False) -> Obj: ...

    def update_status(self, obj: Obj, *, handoff: bool = False) -> Obj: ...


# -- kinds -------------------------------------------------------------------------------------


def _default_run(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("inputs", {})
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "queued")
        status.setdefault("conclusion", "")
        status.setdefault("jobs", [])


def _positive_int(errors: list[FieldError], value: object, path: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        errors.append(FieldError(path, f"must be a positive integer, got {value!r}"))


def _one_of(errors: list[FieldError], value: object, allowed: Sequence[str], path: str) -> None:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed if a)
        errors.append(FieldError(path, f"must be one of {shown}, got {value!r}"))


def _validate_run(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errors: list[FieldError] = []
    spec, status = obj.get("spec"), obj.get("status")
    if not isinstance(spec, dict):
        return [FieldError("spec", "must be a mapping")]
    _positive_int(errors, spec.get("runId"), "spec.runId")
    _positive_int(errors, spec.get("runNumber"), "spec.runNumber")
    workflow = spec.get("workflow")
    if not isinstance(workflow, dict) or not isinstance(workflow.get("path"), str):
        errors.append(FieldError("spec.workflow.path", "must be the workflow file's path"))
    if not isinstance(spec.get("event"), str) or not spec.get("event"):
        errors.append(FieldError("spec.event", "must name the triggering event"))
    if old is not None and old.get("spec", {}).get("runId") != spec.get("runId"):
        errors.append(FieldError("spec.runId", "is immutable"))
    if not isinstance(status, dict):
        return [*errors, FieldError("status", "must be a mapping")]
    _one_of(errors, status.get("phase"), _PHASES, "status.phase")
    _one_of(errors, status.get("conclusion"), _CONCLUSIONS, "status.conclusion")
    jobs = status.get("jobs")
    if not isinstance(jobs, list):
        return [*errors, FieldError("status.jobs", "must be a list")]
    for index, job in enumerate(jobs):
        where = f"status.jobs[{index}]"
        if not isinstance(job, dict) or not isinstance(job.get("key"), str):
            errors.append(FieldError(f"{where}.key", "every job needs its key"))
            continue
        _one_of(errors, job.get("result", ""), _JOB_RESULTS, f"{where}.result")
    return errors


def _validate_log(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "must be a mapping")]
    errors: list[FieldError] = []
    _positive_int(errors, spec.get("runId"), "spec.runId")
    for key in ("job", "text"):
        if not isinstance(spec.get(key), str):
            errors.append(FieldError(f"spec.{key}", "must be a string"))
    return errors


def _column(*path: str) -> Any:
    def read(obj: dict[str, Any]) -> str:
        value: Any = obj
        for key in path:
            value = value.get(key, "") if isinstance(value, dict) else ""
        return str(value)

    return read


def ci_kinds() -> list[KindInfo]:
    """``ci.shipyard.dev/v1`` WorkflowRun and WorkflowJobLog, for the platform's scheme."""
    return [
        KindInfo(GROUP, "v1", RUN_KIND, "workflowruns", namespaced=True,
                 short_names=("wfrun",), has_status=True, default=_default_run,
                 validate=_validate_run,
                 columns=(("WORKFLOW", _column("spec", "workflow", "name")),
                          ("EVENT", _column("spec", "event")),
                          ("STATUS", _column("status", "phase")),
                          ("CONCLUSION", _column("status", "conclusion")))),
        KindInfo(GROUP, "v1", LOG_KIND, "workflowjoblogs", namespaced=True,
                 has_status=False, validate=_validate_log,
                 columns=(("JOB", _column("spec", "job")),)),
    ]  # fmt: skip


# -- writing -----------------------------------------------------------------------------------


def _items(store: RecordStore, kind: str, **selector: Any) -> list[Obj]:
    result = store.list(API_VERSION, kind, namespace=NAMESPACE, copy=False, **selector)
    return list(result)


class RunRecorder:
    """Writes one run: created queued, status rewritten as it goes, a log per finished job."""

    def __init__(self, store: RecordStore, obj: Obj) -> None:
        self._store = store
        self._obj = obj
        self._logs = 0

    @classmethod
    def create(cls, store: RecordStore, spec: Mapping[str, Any]) -> RunRecorder:
        """Create a queued run for ``spec`` (without ``runId``/``runNumber``: allocated here)."""
        path = spec["workflow"]["path"]
        with _ALLOCATE:
            runs = _items(store, RUN_KIND)
            run_id = max((_spec_int(r, "runId") for r in runs), default=0) + 1
            number = 1 + max(
                (_spec_int(r, "runNumber") for r in runs if _workflow_path(r) == path),
                default=0,
            )
            while True:
                obj = _run_object(run_id, {**spec, "runId": run_id, "runNumber": number})
                try:
                    return cls(store, store.create(obj))
                except AlreadyExistsError:
                    run_id += 1

    @property
    def run_id(self) -> int:
        return int(self._obj["spec"]["runId"])

    @property
    def run_number(self) -> int:
        return int(self._obj["spec"]["runNumber"])

    @property
    def name(self) -> str:
        return str(self._obj["metadata"]["name"])

    def update(self, status: Mapping[str, Any]) -> None:
        """Replace the run's status (unconditionally: this recorder is its only writer)."""
        obj = {**self._obj, "status": dict(status)}
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        self._obj = self._store.update_status(obj)

    def write_log(self, job: str, text: str) -> None:
        """Store the finished job's (already masked) log."""
        self._logs += 1
        if len(text) > MAX_LOG_CHARS:
            text = text[:MAX_LOG_CHARS] + f"\n[log truncated at {MAX_LOG_CHARS} characters]"
        meta = self._obj["metadata"]
        self._store.create(
            {
                "apiVersion": API_VERSION,
                "kind": LOG_KIND,
                "metadata": {
                    "name": f"{self.name}-{self._logs}",
                    "namespace": NAMESPACE,
                    "labels": {RUN_ID_LABEL: str(self.run_id)},
                    "ownerReferences": [
                        {"apiVersion": API_VERSION, "kind": RUN_KIND, "name": meta["name"],
                         "uid": meta.get("uid", "")}
                    ],
                },
                "spec": {"runId": self.run_id, "job": job, "text": text},
            },
            handoff=True,
        )  # fmt: skip


def _spec_int(obj: Obj, key: str) -> int:
    value = obj.get("spec", {}).get(key)
    return value if isinstance(value, int) else 0


def _workflow_path(obj: Obj) -> object:
    workflow = obj.get("spec", {}).get("workflow")
    return workflow.get("path") if isinstance(workflow, dict) else None


def _run_object(run_id: int, spec: Mapping[str, Any]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": RUN_KIND,
        "metadata": {
            "name": f"run-{run_id}",
            "namespace": NAMESPACE,
            "labels": {RUN_ID_LABEL: str(run_id)},
        },
        "spec": dict(spec),
        "status": {"phase": "queued", "conclusion": "", "jobs": []},
    }


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobEntry:
    """One job of a stored run, as ``status.jobs[]`` holds it."""

    key: str
    name: str
    result: str
    started: str | None
    finished: str | None
    steps: tuple[Mapping[str, Any], ...]
    outputs: Mapping[str, str]
    error: str


@dataclass(frozen=True)
class RunView:
    """A stored run, for listing and showing."""

    name: str
    run_id: int
    run_number: int
    workflow: str
    workflow_name: str
    title: str
    event: str
    ref: str
    sha: str
    phase: str
    conclusion: str
    started: str | None
    finished: str | None
    message: str
    jobs: tuple[JobEntry, ...]


def run_view(obj: Obj) -> RunView:
    """The typed view of a stored WorkflowRun object."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    workflow = spec.get("workflow", {})
    return RunView(
        name=obj["metadata"]["name"],
        run_id=int(spec.get("runId", 0)),
        run_number=int(spec.get("runNumber", 0)),
        workflow=str(workflow.get("path", "")),
        workflow_name=str(workflow.get("name", "")),
        title=str(spec.get("displayTitle", "")),
        event=str(spec.get("event", "")),
        ref=str(spec.get("ref", "")),
        sha=str(spec.get("sha", "")),
        phase=str(status.get("phase", "")),
        conclusion=str(status.get("conclusion", "")),
        started=status.get("startedAt"),
        finished=status.get("finishedAt"),
        message=str(status.get("message", "")),
        jobs=tuple(_job_entry(j) for j in status.get("jobs", [])),
    )


def _job_entry(job: Mapping[str, Any]) -> JobEntry:
    return JobEntry(
        key=str(job.get("key", "")),
        name=str(job.get("name", "")),
        result=str(job.get("result", "")),
        started=job.get("startedAt"),
        finished=job.get("finishedAt"),
        steps=tuple(job.get("steps", [])),
        outputs=dict(job.get("outputs", {})),
        error=str(job.get("error", "")),
    )


def list_runs(store: RecordStore, *, workflow: str | None = None) -> list[RunView]:
    """Stored runs, newest first; only those of the workflow file ``workflow`` when given."""
    views = [run_view(o) for o in _items(store, RUN_KIND)]
    if workflow is not None:
        views = [v for v in views if v.workflow == workflow]
    return sorted(views, key=lambda v: v.run_id, reverse=True)


def get_run(store: RecordStore, run: int | str) -> RunView:
    """One run by id (``17``) or name (``run-17``); NotFoundError names what exists."""
    name = f"run-{run}" if isinstance(run, int) or str(run).isdigit() else str(run)
    try:
        return run_view(store.get(API_VERSION, RUN_KIND, name, namespace=NAMESPACE))
    except NotFoundError:
        raise NotFoundError(
            f"workflow run {run!s} not found (see `shipyard ci runs` for the stored runs)"
        ) from None


def run_logs(store: RecordStore, run: int | str, *, job: str | None = None) -> dict[str, str]:
    """The logs of a run by job key, in the order the jobs finished; only ``job`` when given.

    ``job`` matches a job key exactly, or else every key that starts with it followed by a
    space (``build`` selects ``build (linux)`` and ``build (mac)``); NotFoundError lists the
    run's jobs when nothing matches.
    """
    view = get_run(store, run)
    logs = _items(store, LOG_KIND, label_selector=f"{RUN_ID_LABEL}={view.run_id}")
    ordered = sorted(logs, key=lambda o: int(o["metadata"]["name"].rsplit("-", 1)[1]))
    texts = {o["spec"]["job"]: o["spec"]["text"] for o in ordered}
    if job is None:
        return texts
    chosen = {k: v for k, v in texts.items() if k == job}
    chosen = chosen or {k: v for k, v in texts.items() if k.startswith(f"{job} ")}
    if not chosen:
        known = ", ".join(texts) or "none"
        raise NotFoundError(f"run {view.run_id} has no log for job {job!r} (jobs: {known})")
    return chosen
