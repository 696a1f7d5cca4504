"""The Job controller: run pods to a number of completions, within a failure budget and deadline.

Reproduces ``pkg/controller/job`` of current Kubernetes (1.31+, where the
``JobPodReplacementPolicy`` and ``JobManagedBy`` gates delay terminal conditions):

- **Pods**: ``<job>-`` named, controlled by the Job, labelled with its template labels (the
  API server adds ``batch.kubernetes.io/controller-uid`` and ``batch.kubernetes.io/job-name``
  to the template when it defaults the Job), and carrying the ``batch.kubernetes.io/job-tracking``
  finalizer so that no finished pod is lost before it is counted.
- **Counting with finalizers**: a finished pod — ``Succeeded``, ``Failed``, or deleted while
  not succeeded (unless ``podReplacementPolicy: Failed``) — is first recorded by uid in
  ``status.uncountedTerminatedPods``, then its finalizer is removed, and only once the
  finalizer is gone does it move into ``succeeded``/``failed``. Kubernetes does the two steps
  in one sync with two status writes; here each reconcile writes the Job status once, so the
  second step happens in the reconcile the finalizer removal triggers. Decisions use the
  counted and uncounted pods together, as Kubernetes does.
- **Parallelism** (``manageJob``): ``min(parallelism, completions - succeeded)`` pods active
  (``parallelism`` while nothing succeeded for a work-queue Job without ``completions``);
  surplus pods are deleted, not-ready and unscheduled ones first. ``Indexed`` Jobs run one
  pod per pending completion index (``batch.kubernetes.io/job-completion-index`` annotation
  and label, ``JOB_COMPLETION_INDEX`` env, hostname ``<job>-<index>``) and report
  ``completedIndexes`` ("1,3-5").
- **Back-off**: after failures, new pods wait 10 s · 2^(failures since the last success − 1),
  at most 6 min, from the last failure (the documented cap; pods failing together count once
  each). ``restartPolicy: OnFailure`` pods restart in place, so their container restarts
  count against ``backoffLimit`` (``pastBackoffLimitOnFailure``).
- **Failure**: more failed pods than ``backoffLimit`` → ``BackoffLimitExceeded`` ("Job has
  reached the specified backoff limit"); running longer than ``activeDeadlineSeconds`` since
  ``startTime`` → ``DeadlineExceeded`` ("Job was active longer than specified deadline"). The
  Job gets ``FailureTarget`` at once, every active pod is deleted (and counted failed), and
  ``Failed`` (with a Warning event of the same reason) once no pod is terminating.
- **Success**: ``completions`` succeeded pods (any success with all others finished, for a
  work-queue Job) → ``SuccessCriteriaMet``, then ``Complete`` (both ``CompletionsReached``,
  "Reached expected number of succeeded pods") with ``completionTime`` and the ``Completed``
  event once nothing is terminating or uncounted.
- ``ttlSecondsAfterFinished`` (the TTL-after-finished controller): the Job is deleted, in the
  foreground, that long after its terminal condition.

Status fields follow the API's omit-empty rules: ``active``/``succeeded``/``failed`` only when
non-zero, ``ready``, ``terminating`` and ``uncountedTerminatedPods`` always.

Not reproduced: ``suspend`` (a suspended Job runs as if it were not), ``podFailurePolicy``,
``successPolicy``, ``backoffLimitPerIndex``/``maxFailedIndexes``, ``managedBy``, adoption of
orphan pods, the ``TooManySucceededPods`` event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import condition, controller_ref, is_ready
from shipyard.cluster.runtime import Result, Watches, owner_keys
from shipyard.core.clock import format_time, parse_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta
from shipyard.core.selectors import LabelSelector

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "COMPLETION_INDEX",
    "JOB_NAME_LABEL",
    "TRACKING_FINALIZER",
    "JobController",
    "backoff_delay",
    "format_indexes",
    "parse_indexes",
]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0

COMPLETE, FAILED = "Complete", "Failed"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


# --- pure helpers ---------------------------------------------------------------------------


def backoff_delay(failures: int) -> float:
    """The wait before a new pod after ``failures`` consecutive failures (0: none)."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_BASE * (1 << min(failures - 1, 32)))


def parse_indexes(text: str | None) -> set[int]:
    """``"1,3-5"`` -> {1, 3, 4, 5} (``completedIndexes``)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} -> ``"1,3-5"``; two neighbours print as ``"1,2"``, as Kubernetes does."""
    parts: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        first, last = ordered[i], ordered[j]
        if last == first:
            parts.append(str(first))
        else:
            parts.append(f"{first}{',' if last == first + 1 else '-'}{last}")
        i = j + 1
    return ",".join(parts)


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _deleting(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def _terminal(pod: Obj) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def _uid(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def _index(pod: Obj) -> int | None:
    text = (meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    return int(text) if isinstance(text, str) and text.isdigit() else None


def _finish_time(pod: Obj, now: float) -> float:
    """When a pod finished: its Ready=False transition, its last container exit, its deletion."""
    ready = condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False" and ready.get("lastTransitionTime"):
        return parse_time(str(ready["lastTransitionTime"]))
    status = pod.get("status") or {}
    finished = [
        parse_time(str(s["state"]["terminated"]["finishedAt"]))
        for key in ("initContainerStatuses", "containerStatuses")
        for s in status.get(key) or ()
        if ((s.get("state") or {}).get("terminated") or {}).get("finishedAt")
    ]
    if finished:
        return max(finished)
    md = meta(pod)
    if not md.get("deletionTimestamp"):
        return now
    # the deletion was requested a grace period before the timestamp
    return parse_time(str(md["deletionTimestamp"])) - float(
        md.get("deletionGracePeriodSeconds") or 0
    )


def _deletion_order(pod: Obj) -> tuple[bool, int, bool, float]:
    """Which active pod to delete first (``controller.ActivePods``): unscheduled, pending,
    not ready, then the newest."""
    phases = {"Pending": 0, "Unknown": 1, "Running": 2}
    created = meta(pod).get("creationTimestamp")
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        phases.get(_phase(pod), 3),
        is_ready(pod),
        -(parse_time(str(created)) if created else 0.0),
    )


# --- one sync -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Backoff:
    """Failures since the last success and when the latest one happened (kept in memory, as
    Kubernetes' backoff record store)."""

    failures: int = 0
    last_failure: float | None = None

    def remaining(self, now: float) -> float:
        if self.last_failure is None:
            return 0.0
        return max(0.0, self.last_failure + backoff_delay(self.failures) - now)

    def after(self, succeeded: list[Obj], failed: list[Obj], now: float) -> _Backoff:
        """Kubernetes' ``newBackoffRecord``: a success resets, failures after it count."""
        failed_at = sorted(_finish_time(p, now) for p in failed)
        failures, last = self.failures, self.last_failure
        if succeeded:
            last_success = max(_finish_time(p, now) for p in succeeded)
            failed_at = [t for t in failed_at if t > last_success]
            failures, last = 0, None
        if failed_at:
            failures, last = failures + len(failed_at), failed_at[-1]
        return _Backoff(failures, last)


@dataclass
class _Sync:
    """What one reconcile knows and decides about a Job, built up in memory."""

    job: Obj
    pods: list[Obj]
    now: float
    status: Obj
    uncounted_succeeded: list[str] = field(default_factory=list)
    uncounted_failed: list[str] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)
    new_succeeded: list[Obj] = field(default_factory=list)
    new_failed: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)
    active: list[Obj] = field(default_factory=list)
    terminating: int = 0
    finishing: tuple[str, str, str] | None = None  # (condition type, reason, message)

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.job.get("spec") or {})

    @property
    def indexed(self) -> bool:
        return self.spec.get("completionMode") == "Indexed"

    @property
    def completions(self) -> int | None:
        value = self.spec.get("completions")
        return int(value) if value is not None else None

    @property
    def succeeded(self) -> int:
        if self.indexed:
            return len(self.completed)
        return int(self.status.get("succeeded") or 0) + len(self.uncounted_succeeded)

    @property
    def failed(self) -> int:
        return int(self.status.get("failed") or 0) + len(self.uncounted_failed)

    @property
    def failing(self) -> bool:
        return self.finishing is not None and self.finishing[0] == FAILURE_TARGET

    def counts_as_failed(self, pod: Obj) -> bool:
        """Kubernetes' ``isPodFailed``; once the Job is failing, every unfinished pod is."""
        if _phase(pod) == "Failed" or (self.failing and _phase(pod) != "Succeeded"):
            return True
        if self.spec.get("podReplacementPolicy") == "Failed":
            return False
        return _deleting(pod) and _phase(pod) != "Succeeded"


def _observe(job: Obj, pods: list[Obj], now: float) -> _Sync:
    """The Job's pods classified, and uncounted pods whose finalizer is off moved to counts."""
    status: Obj = json_copy(job.get("status") or {})
    sync = _Sync(job, pods, now, status)
    uncounted = status.get("uncountedTerminatedPods") or {}
    sync.completed = parse_indexes(status.get("completedIndexes"))
    tracked = {_uid(p) for p in pods if _tracked(p)}
    buckets = (("succeeded", sync.uncounted_succeeded), ("failed", sync.uncounted_failed))
    for field_name, bucket in buckets:
        for uid in uncounted.get(field_name) or ():
            if uid in tracked:  # its finalizer is not off yet: it stays uncounted
                bucket.append(uid)
            else:
                status[field_name] = int(status.get(field_name) or 0) + 1
    sync.active = [p for p in pods if not _terminal(p) and not _deleting(p)]
    sync.terminating = sum(1 for p in pods if _deleting(p) and not _terminal(p))
    sync.finishing = _finishing_condition(status)
    return sync


def _finishing_condition(status: Obj) -> tuple[str, str, str] | None:
    for type_ in (FAILURE_TARGET, SUCCESS_CRITERIA_MET):
        cond = condition({"status": status}, type_)
        if cond is not None and cond.get("status") == "True":
            return type_, str(cond.get("reason") or ""), str(cond.get("message") or "")
    return None


def _account_finished(sync: _Sync) -> None:
    """Newly finished tracked pods become uncounted (or completed indexes) and lose their
    finalizer; uncounted pods still holding it lose it again."""
    known = set(sync.uncounted_succeeded) | set(sync.uncounted_failed)
    for pod in sync.pods:
        if not _tracked(pod):
            continue
        uid = _uid(pod)
        if uid in known:
            sync.release.append(pod)
        elif _phase(pod) == "Succeeded":
            sync.new_succeeded.append(pod)
            sync.release.append(pod)
            _count_success(sync, pod)
        elif sync.counts_as_failed(pod):
            sync.new_failed.append(pod)
            sync.release.append(pod)
            sync.uncounted_failed.append(uid)


def _count_success(sync: _Sync, pod: Obj) -> None:
    if not sync.indexed:
        sync.uncounted_succeeded.append(_uid(pod))
        return
    index = _index(pod)
    if index is not None and index < (sync.completions or 0):
        sync.completed.add(index)


def _end_unfinished(sync: _Sync) -> None:
    """The Job is finishing: tracked pods not accounted for yet lose their finalizer, and
    count as failed when the Job fails (Kubernetes' ``trackJobStatusAndRemoveFinalizers``)."""
    handled = {_uid(p) for p in sync.release}
    for pod in sync.pods:
        if not _tracked(pod) or _uid(pod) in handled:
            continue
        sync.release.append(pod)
        if sync.failing and _phase(pod) != "Succeeded":
            sync.uncounted_failed.append(_uid(pod))


def _restarts(pods: Iterable[Obj]) -> int:
    return sum(
        int(s.get("restartCount") or 0)
        for pod in pods
        if _phase(pod) in ("Pending", "Running")
        for key in ("initContainerStatuses", "containerStatuses")
        for s in (pod.get("status") or {}).get(key) or ()
    )


def _failure(sync: _Sync) -> tuple[str, str] | None:
    """Why the Job fails now, if it does (the backoff limit before the deadline)."""
    spec = sync.spec
    limit = int(spec["backoffLimit"]) if spec.get("backoffLimit") is not None else 6
    if sync.failed > limit:
        return BACKOFF_LIMIT_EXCEEDED
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") == "OnFailure":
        restarts = _restarts(sync.pods)
        if restarts > 0 and restarts >= max(limit, 1):
            return BACKOFF_LIMIT_EXCEEDED
    if _deadline_in(sync) == 0.0:
        return DEADLINE_EXCEEDED
    return None


def _deadline_in(sync: _Sync) -> float | None:
    deadline = sync.spec.get("activeDeadlineSeconds")
    started = sync.status.get("startTime")
    if deadline is None or not started:
        return None
    return max(0.0, parse_time(str(started)) + float(deadline) - sync.now)


def _complete(sync: _Sync) -> bool:
    if sync.active:
        return False
    if sync.completions is None:
        return sync.succeeded > 0
    return sync.succeeded >= sync.completions


def _want_active(sync: _Sync) -> int:
    spec = sync.spec
    parallelism = int(spec["parallelism"]) if spec.get("parallelism") is not None else 1
    if sync.completions is None:
        return len(sync.active) if sync.succeeded > 0 else parallelism
    return max(0, min(sync.completions - sync.succeeded, parallelism))


def _set_condition(status: Obj, type_: str, reason: str, message: str, now: float) -> None:
    """Add a True Job condition (with ``lastProbeTime``, as the Job controller writes them)."""
    stamp = format_time(now)
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == type_:
            if cond.get("status") != "True":
                cond.update(status="True", lastTransitionTime=stamp, lastProbeTime=stamp)
            cond.update(reason=reason, message=message)
            return
    conditions.append(
        {
            "type": type_,
            "status": "True",
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }
    )


def _put(status: Obj, key: str, value: Any) -> None:
    """Set a field the API omits when empty."""
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def _fill_status(sync: _Sync) -> bool:
    """Complete ``sync.status``; returns whether the Job reaches its terminal condition."""
    status = sync.status
    uncounted: dict[str, list[str]] = {}
    _put(uncounted, "succeeded", sync.uncounted_succeeded)
    _put(uncounted, "failed", sync.uncounted_failed)
    status["uncountedTerminatedPods"] = uncounted
    _put(status, "active", len(sync.active))
    status["ready"] = sum(1 for p in sync.active if is_ready(p))
    status["terminating"] = sync.terminating
    if sync.indexed:
        _put(status, "succeeded", len(sync.completed))
        _put(status, "completedIndexes", format_indexes(sync.completed))
    _put(status, "succeeded", status.get("succeeded"))
    _put(status, "failed", status.get("failed"))
    if sync.finishing is None:
        return False
    type_, reason, message = sync.finishing
    _set_condition(status, type_, reason, message, sync.now)
    if uncounted or sync.terminating:
        return False  # terminal conditions wait for every pod to be counted and gone
    terminal = FAILED if type_ == FAILURE_TARGET else COMPLETE
    _set_condition(status, terminal, reason, message, sync.now)
    if terminal == COMPLETE:
        status["completionTime"] = format_time(sync.now)
    return True


def _finished_at(job: Obj) -> float | None:
    for type_ in (COMPLETE, FAILED):
        cond = condition(job, type_)
        if cond is not None and cond.get("status") == "True":
            since = cond.get("lastTransitionTime")
            return parse_time(str(since)) if since else 0.0
    return None


# --- the controller -------------------------------------------------------------------------


class JobController:
    """Runs Jobs' pods to completion or failure (see the module docstring)."""

    name = "cluster.job"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "job-controller")
        self._backoff: dict[ObjectKey, tuple[str, _Backoff]] = {}

    def watches(self) -> list[Watches]:
        return [
            Watches("batch/v1", "Job"),
            Watches("v1", "Pod", owner_keys("batch/v1", "Job")),
        ]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            job = self._client.get("batch/v1", "Job", key.name, namespace=key.namespace)
        except NotFoundError:
            self._backoff.pop(key, None)
            self._release_orphans(key)
            return None
        pods = self._pods(job)
        finished = _finished_at(job)
        if meta(job).get("deletionTimestamp") or finished is not None:
            self._backoff.pop(key, None)
            self._release([p for p in pods if _tracked(p)])
            return None if finished is None else self._expire(job, finished)
        return self._sync(key, job, pods)

    def _now(self) -> float:
        return self._client.clock.now()

    def _pods(self, job: Obj) -> list[Obj]:
        md = meta(job)
        try:
            selector = LabelSelector.from_dict((job.get("spec") or {}).get("selector"))
        except InvalidError:
            return []
        found = self._client.list("v1", "Pod", namespace=md["namespace"], label_selector=selector)
        return [p for p in found.items if (controller_ref(p) or {}).get("uid") == md.get("uid")]

    # -- one sync ---------------------------------------------------------------------------

    def _sync(self, key: ObjectKey, job: Obj, pods: list[Obj]) -> Result | None:
        now = self._now()
        sync = _observe(job, pods, now)
        sync.status.setdefault("startTime", format_time(now))
        _account_finished(sync)
        backoff = self._backoff_of(key, job).after(sync.new_succeeded, sync.new_failed, now)
        requeue: list[float] = []
        if sync.finishing is None and (failure := _failure(sync)) is not None:
            sync.finishing = (FAILURE_TARGET, *failure)
        if sync.failing:
            self._delete(job, sync.active)
            sync.terminating += len(sync.active)
            sync.active = []
        elif sync.finishing is None:
            requeue += self._manage(job, sync, backoff)
            if _complete(sync):
                sync.finishing = (SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
            elif (deadline := _deadline_in(sync)) is not None:
                requeue.append(deadline)
        if sync.finishing is not None:
            _end_unfinished(sync)
        finished = _fill_status(sync)
        if sync.status != job.get("status"):
            job["status"] = sync.status
            self._client.update_status(job)
        self._backoff[key] = (_uid(job), backoff)
        self._release(sync.release)
        if finished:
            self._record_finished(job, sync)
            if (ttl := sync.spec.get("ttlSecondsAfterFinished")) is not None:
                requeue.append(float(ttl))
        return Result(requeue_after=min(requeue)) if requeue else None

    def _backoff_of(self, key: ObjectKey, job: Obj) -> _Backoff:
        uid, record = self._backoff.get(key, ("", _Backoff()))
        return record if uid == _uid(job) else _Backoff()

    def _manage(self, job: Obj, sync: _Sync, backoff: _Backoff) -> list[float]:
        """Create or delete pods towards the wanted number of active ones; returns waits."""
        want = _want_active(sync)
        if sync.indexed:
            self._drop_extra_indexed(job, sync)
        if len(sync.active) > want:
            surplus = sorted(sync.active, key=_surplus_order(sync))[: len(sync.active) - want]
            self._delete(job, surplus)
            sync.active = [p for p in sync.active if p not in surplus]
            return []
        missing = want - len(sync.active)
        if sync.spec.get("podReplacementPolicy") == "Failed":
            missing -= sync.terminating
        if missing <= 0:
            return []
        if (wait := backoff.remaining(sync.now)) > 0:
            return [wait]
        for index in _next_indexes(sync, missing):
            sync.active.append(self._create(job, index))
        return []

    def _drop_extra_indexed(self, job: Obj, sync: _Sync) -> None:
        """One active pod per pending index; pods of completed or unknown indexes go."""
        keep: dict[int, Obj] = {}
        drop: list[Obj] = []
        for pod in sorted(sync.active, key=_deletion_order, reverse=True):
            index = _index(pod)
            taken = set(keep) | sync.completed
            if index is None or index >= (sync.completions or 0) or index in taken:
                drop.append(pod)
            else:
                keep[index] = pod
        if drop:
            self._delete(job, drop)
            sync.active = list(keep.values())

    # -- writes -----------------------------------------------------------------------------

    def _record_finished(self, job: Obj, sync: _Sync) -> None:
        assert sync.finishing is not None
        type_, reason, message = sync.finishing
        if type_ == SUCCESS_CRITERIA_MET:
            self._recorder.event(job, NORMAL, "Completed", "Job completed")
        else:
            self._recorder.event(job, WARNING, reason, message)

    def _create(self, job: Obj, index: int | None) -> Obj:
        try:
            pod = self._client.create(_new_pod(job, index))
        except ShipyardError as e:
            self._recorder.event(job, WARNING, "FailedCreate", f"Error creating: {e.message}")
            raise
        self._recorder.event(job, NORMAL, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")
        return pod

    def _delete(self, job: Obj, pods: Iterable[Obj]) -> None:
        for pod in pods:
            md = meta(pod)
            try:
                self._client.delete("v1", "Pod", md["name"], namespace=md["namespace"])
            except NotFoundError:
                continue
            self._recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")

    def _release(self, pods: Iterable[Obj]) -> None:
        """Remove the tracking finalizer (a strategic merge patch, as Kubernetes sends)."""
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        for pod in pods:
            md = meta(pod)
            with contextlib.suppress(NotFoundError):
                self._client.patch(
                    "v1", "Pod", md["name"], patch, namespace=md["namespace"],
                    patch_type="strategic",
                )  # fmt: skip

    def _release_orphans(self, key: ObjectKey) -> None:
        """The pods of a Job that is gone keep no tracking finalizer (orphan cleanup)."""
        pods = self._client.list(
            "v1", "Pod", namespace=key.namespace, label_selector=f"{JOB_NAME_LABEL}={key.name}"
        )
        self._release(
            p for p in pods.items if _tracked(p) and (controller_ref(p) or {}).get("kind") == "Job"
        )

    def _expire(self, job: Obj, finished: float) -> Result | None:
        """``ttlSecondsAfterFinished``: delete the Job (foreground) once its time is up."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        left = finished + float(ttl) - self._now()
        if left > 0:
            return Result(requeue_after=left)
        md = meta(job)
        with contextlib.suppress(NotFoundError):
            self._client.delete(
                "batch/v1", "Job", md["name"], namespace=md["namespace"],
                propagation_policy="Foreground", preconditions={"uid": md.get("uid")},
            )  # fmt: skip
        return None


def _surplus_order(sync: _Sync) -> Any:
    """Which active pods go first: highest index for Indexed Jobs, else ``_deletion_order``."""
    if sync.indexed:
        return lambda pod: -(_index(pod) or 0)
    return _deletion_order


def _next_indexes(sync: _Sync, count: int) -> list[int | None]:
    """The indexes the next ``count`` pods run: the lowest pending ones (None: NonIndexed)."""
    if not sync.indexed:
        return [None] * count
    busy = set(sync.completed)
    holders = sync.active
    if sync.spec.get("podReplacementPolicy") == "Failed":
        holders = holders + [p for p in sync.pods if _deleting(p) and not _terminal(p)]
    for pod in holders:
        index = _index(pod)
        if index is not None:
            busy.add(index)
    free: list[int | None] = [i for i in range(sync.completions or 0) if i not in busy]
    return free[:count]


def _tracked(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or ())


def _new_pod(job: Obj, index: int | None) -> Obj:
    md = meta(job)
    template = (job.get("spec") or {}).get("template") or {}
    template_md = template.get("metadata") or {}
    spec: dict[str, Any] = json_copy(template.get("spec") or {})
    labels = dict(template_md.get("labels") or {})
    annotations = dict(template_md.get("annotations") or {})
    name_prefix = f"{md['name']}-"
    if index is not None:
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
        name_prefix = f"{md['name']}-{index}-"
        spec.setdefault("hostname", f"{md['name']}-{index}")
        _add_index_env(spec)
    pod_md: dict[str, Any] = {
        "generateName": name_prefix,
        "namespace": md["namespace"],
        "labels": labels,
        "finalizers": [TRACKING_FINALIZER],
        "ownerReferences": [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": md["name"],
                "uid": md["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if annotations:
        pod_md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_md, "spec": spec}


def _add_index_env(spec: dict[str, Any]) -> None:
    field_path = f"metadata.annotations['{COMPLETION_INDEX}']"
    env = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": field_path}}}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            names = {e.get("name") for e in container.get("env") or ()}
            if env["name"] not in names:
                container["env"] = [*(container.get("env") or []), json_copy(env)]
