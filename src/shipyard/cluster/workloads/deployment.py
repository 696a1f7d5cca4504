"""The Deployment controller: rollouts as a sequence of ReplicaSet scalings.

:class:`DeploymentController` (``cluster.deployment``) reproduces Kubernetes'
``pkg/controller/deployment`` as users see it. A Deployment owns ReplicaSets; the *new* one is
the ReplicaSet whose template equals the Deployment's ignoring the ``pod-template-hash`` label
(the oldest, if several), every other one is *old*. One sync:

1. **Claims** ReplicaSets (adopts matching orphans, releases what stopped matching).
2. Keeps the ``Progressing`` condition honest about pausing: ``Unknown`` with
   ``DeploymentPaused`` / ``DeploymentResumed`` (never over a ``ProgressDeadlineExceeded``).
3. Paused, or a **scaling event** (an active ReplicaSet's ``desired-replicas`` annotation is
   not ``spec.replicas``): only **scale**. With one active ReplicaSet it gets
   ``spec.replicas``; if the new one is saturated the old ones go to 0; otherwise, in a rolling
   update, the difference to ``replicas + maxSurge`` is shared **proportionally** to each
   ReplicaSet's size relative to the ``max-replicas`` annotation it was scaled for
   (``round(size * newMax / oldMax) - size``), larger ReplicaSets first (newer first when
   adding, older first when removing), leftovers to the first. No rollout progresses while
   paused, but the status is still written, and old ReplicaSets are cleaned up.
4. Otherwise **rolls out**:

   - *RollingUpdate*: ``maxSurge`` rounds up and ``maxUnavailable`` down from a percentage of
     ``spec.replicas``; if both come to 0, ``maxUnavailable`` is 1. Scale the new ReplicaSet
     up to at most ``replicas + maxSurge`` pods in total; else scale old ones down, first
     their unavailable pods, then available ones as long as ``replicas - maxUnavailable``
     stay available — never more than ``total - minAvailable - newUnavailable`` so that
     pods of the new ReplicaSet that are not available yet cannot be counted twice.
   - *Recreate*: scale every old ReplicaSet to 0, wait until none of their pods exists any
     more (terminating ones included), then create the new ReplicaSet at full size.

   The new ReplicaSet is ``<deployment>-<pod-template-hash>`` with the label added to its
   selector, template and labels; the hash is FNV-32a over the template (canonical JSON —
   Kubernetes hashes the Go struct dump, so values differ from a real cluster's) and the
   ``collisionCount``, rendered with the API server's ``SafeEncodeString`` (each decimal digit
   mapped into ``bcdfghjklmnpqrstvwxz2456789``, so up to ten characters such as
   ``7d4b9c8f5d``). A name taken by a ReplicaSet that is not this Deployment's with this
   template is a hash collision: ``status.collisionCount`` is incremented and the next sync
   tries another name.
5. Once the rollout is complete, deletes old ReplicaSets with no pods beyond
   ``revisionHistoryLimit`` (lowest revision first).
6. Writes the **status** as ``calculateStatus`` does: ``observedGeneration``, ``replicas``
   (pods of all ReplicaSets), ``updatedReplicas`` (of the new one), ``readyReplicas``,
   ``availableReplicas``, ``unavailableReplicas`` (desired pods not available),
   ``collisionCount``; zero counts omitted as in the API's JSON. Conditions: ``Available``
   (``MinimumReplicasAvailable`` when at least ``replicas - maxUnavailable`` pods are
   available, else ``MinimumReplicasUnavailable``) and ``Progressing`` —
   ``NewReplicaSetCreated``, ``FoundNewReplicaSet``, ``ReplicaSetUpdated`` (refreshed on every
   sign of progress), ``NewReplicaSetAvailable`` when complete, and ``False`` with
   ``ProgressDeadlineExceeded`` when ``progressDeadlineSeconds`` passed since the last
   progress; the sync asks to run again right after that deadline. A ReplicaSet's
   ``ReplicaFailure`` condition is copied to the Deployment.

Revisions: the new ReplicaSet gets ``deployment.kubernetes.io/revision`` = highest old
revision + 1 (an old template coming back keeps its earlier numbers in ``revision-history``),
the Deployment carries the same annotation, and the Deployment's own annotations
(``kubernetes.io/change-cause`` …) are copied to it. Every scaling writes the
``desired-replicas`` and ``max-replicas`` annotations and records ``ScalingReplicaSet``
(``Scaled up replica set web-7d4b9c8f5d from 0 to 3``).

Writes: each object at most once per sync. ReplicaSet changes are planned on copies and
written at the end (a ReplicaSet Kubernetes would update twice in one sync — unhealthy pods
first, then available ones — gets one update and one Event covering both); the Deployment's
status is written once. The one exception is a new revision: our store's status subresource
keeps ``metadata`` (Kubernetes' deployment status strategy lets ``UpdateStatus`` change
annotations), so the revision annotation is a metadata patch before the status write.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import controller_ref, is_terminal, is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.cluster.workloads.replicaset import Dependents, claim, controller_ref_to
from shipyard.cluster.workloads.rollout import (
    DESIRED_REPLICAS_ANNOTATION,
    FAILED_RS_CREATE_REASON,
    FOUND_NEW_RS_REASON,
    NEW_RS_AVAILABLE_REASON,
    NEW_RS_REASON,
    PAUSED_REASON,
    POD_TEMPLATE_HASH_LABEL,
    PROGRESSING,
    REPLICA_FAILURE,
    RESUMED_REASON,
    REVISION_ANNOTATION,
    RS_UPDATED_REASON,
    TIMED_OUT_REASON,
    active_replica_sets,
    by_creation,
    calculate_status,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    equal_ignore_hash,
    field_count,
    get_condition,
    int_annotation,
    max_surge,
    max_unavailable,
    new_condition,
    new_rs_replicas,
    pod_template_hash,
    progress_deadline,
    remove_condition,
    replica_set_proportion,
    replicas_annotations_differ,
    revision_of,
    rolling_update,
    set_condition,
    set_new_rs_annotations,
    set_replicas_annotations,
    spec_replicas,
    status_count,
)
from shipyard.core.clock import parse_time
from shipyard.core.errors import AlreadyExistsError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, json_copy, key_of, labels_of, meta
from shipyard.core.selectors import LabelSelector
from shipyard.store.store import ForbiddenError

__all__ = ["DeploymentController"]

APPS = "apps/v1"
DEPLOYMENT = "Deployment"
REPLICA_SET = "ReplicaSet"


# --- one sync ------------------------------------------------------------------------------------


class _Stop(Exception):
    """End the sync early: write what is known, then raise ``error`` (if any) to the runtime."""

    def __init__(self, error: ShipyardError | None = None) -> None:
        super().__init__(str(error or "stop"))
        self.error = error


PodsByOwner = Callable[[Obj, list[Obj]], dict[str, list[Obj]]]


class _Sync:
    """One reconcile of one Deployment: decisions on in-memory copies, writes at the end."""

    def __init__(
        self,
        client: Client,
        recorder: EventRecorder,
        d: Obj,
        rss: list[Obj],
        *,
        now: float,
        pods_by_owner: PodsByOwner,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.d = d
        self.rss = rss
        self.now = now
        self.pods_by_owner = pods_by_owner
        self.stored_status: Obj = json_copy(d.get("status") or {})
        d["status"] = json_copy(self.stored_status)  # conditions change here, as in Kubernetes
        self.status: Obj | None = None
        self.rollout = False
        self.revision: str | None = None
        self.original: dict[str, int] = {}
        self.dirty: dict[str, Obj] = {}

    # -- the strategy switch --

    def run(self) -> None:
        spec = self.d.get("spec") or {}
        if is_terminating(self.d):
            new_rs, old = self.replica_sets(create=False)
            self.status = calculate_status([*old, new_rs], new_rs, self.d, self.now)
            return
        self.check_paused_conditions()
        if spec.get("paused") or self.is_scaling_event():
            self.sync()
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            self.rollout_recreate()
        else:
            self.rollout_rolling()

    def check_paused_conditions(self) -> None:
        if progress_deadline(self.d) is None:
            return
        status = self.d["status"]
        cond = get_condition(status, PROGRESSING)
        if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
            return
        paused = bool((self.d.get("spec") or {}).get("paused"))
        paused_shown = cond is not None and cond.get("reason") == PAUSED_REASON
        if paused and not paused_shown:
            set_condition(
                status,
                new_condition(
                    PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused", self.now
                ),
            )
        elif not paused and paused_shown:
            set_condition(
                status,
                new_condition(
                    PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed", self.now
                ),
            )

    def is_scaling_event(self) -> bool:
        new_rs, old = self.replica_sets(create=False)
        for rs in active_replica_sets([*old, new_rs]):
            desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
            if desired is not None and desired != spec_replicas(self.d):
                return True
        return False

    # -- paused or scaling --

    def sync(self) -> None:
        new_rs, old = self.replica_sets(create=False)
        self.scale(new_rs, old)
        if (self.d.get("spec") or {}).get("paused"):
            self.cleanup(old)
        self.status = calculate_status([*old, new_rs], new_rs, self.d, self.now)

    def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        want = spec_replicas(self.d)
        target = _active_or_latest(new_rs, old)
        if target is not None:
            self.scale_and_record(target, want)
            return
        if _is_saturated(self.d, new_rs):
            for rs in active_replica_sets(old):
                self.scale_and_record(rs, 0)
            return
        if rolling_update(self.d) is not None:
            self.scale_proportionally(active_replica_sets([*old, new_rs]))

    def scale_proportionally(self, active: list[Obj]) -> None:
        want = spec_replicas(self.d)
        allowed = want + max_surge(self.d) if want > 0 else 0
        to_add = allowed - sum(spec_replicas(rs) for rs in active)
        if to_add > 0:  # larger first; newer first among equals
            active.sort(key=by_creation, reverse=True)
            active.sort(key=spec_replicas, reverse=True)
        elif to_add < 0:  # larger first; older first among equals
            active.sort(key=by_creation)
            active.sort(key=spec_replicas, reverse=True)
        added, sizes = 0, []
        for rs in active:
            share = replica_set_proportion(rs, self.d, to_add, added)
            sizes.append(spec_replicas(rs) + share)
            added += share
        if active and to_add != 0:  # leftovers go to the first (largest) ReplicaSet
            sizes[0] = max(sizes[0] + to_add - added, 0)
        for rs, size in zip(active, sizes, strict=True):
            self.scale_rs(rs, size)

    # -- rolling update --

    def rollout_rolling(self) -> None:
        new_rs, old = self.replica_sets(create=True)
        assert new_rs is not None
        all_rs = [*old, new_rs]
        if self.reconcile_new(all_rs, new_rs) or self.reconcile_old(
            all_rs, active_replica_sets(old), new_rs
        ):
            self.sync_rollout_status(all_rs, new_rs)
            return
        if deployment_complete(self.d, self.d["status"]):
            self.cleanup(old)
        self.sync_rollout_status(all_rs, new_rs)

    def reconcile_new(self, all_rs: list[Obj], new_rs: Obj) -> bool:
        want = spec_replicas(self.d)
        if spec_replicas(new_rs) == want:
            return False
        if spec_replicas(new_rs) > want:
            return self.scale_and_record(new_rs, want)
        return self.scale_and_record(new_rs, new_rs_replicas(self.d, all_rs, new_rs))

    def reconcile_old(self, all_rs: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
        if sum(spec_replicas(rs) for rs in old) == 0:
            return False
        min_available = spec_replicas(self.d) - max_unavailable(self.d)
        new_unavailable = spec_replicas(new_rs) - status_count(new_rs, "availableReplicas")
        max_scaled_down = sum(spec_replicas(rs) for rs in all_rs) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(old, max_scaled_down)
        if cleaned is None:
            return False
        return cleaned + self.scale_down_old(old, [*old, new_rs], min_available) > 0

    def cleanup_unhealthy(self, old: list[Obj], limit: int) -> int | None:
        """Scale away old pods that are not available first: that costs no availability."""
        total = 0
        for rs in sorted(old, key=by_creation):
            if total >= limit:
                break
            size, available = spec_replicas(rs), status_count(rs, "availableReplicas")
            if size in (0, available):
                continue
            if available > size:
                return None  # a stale status; Kubernetes aborts the scale-down for this sync
            count = min(limit - total, size - available)
            self.scale_and_record(rs, size - count)
            total += count
        return total

    def scale_down_old(self, old: list[Obj], counted: list[Obj], min_available: int) -> int:
        available = sum(status_count(rs, "availableReplicas") for rs in counted)
        if available <= min_available:
            return 0
        budget, total = available - min_available, 0
        for rs in sorted(old, key=by_creation):
            if total >= budget:
                break
            if spec_replicas(rs) == 0:
                continue
            count = min(spec_replicas(rs), budget - total)
            self.scale_and_record(rs, spec_replicas(rs) - count)
            total += count
        return total

    # -- recreate --

    def rollout_recreate(self) -> None:
        new_rs, old = self.replica_sets(create=False)
        pods = self.pods_by_owner(self.d, self.rss)
        scaled = False
        for rs in active_replica_sets(old):
            scaled = self.scale_and_record(rs, 0) or scaled
        if scaled or _old_pods_running(new_rs, old, pods):
            self.sync_rollout_status([*old, new_rs], new_rs)
            return
        if new_rs is None:
            new_rs, old = self.replica_sets(create=True)
            assert new_rs is not None
        self.scale_and_record(new_rs, spec_replicas(self.d))
        if deployment_complete(self.d, self.d["status"]):
            self.cleanup(old)
        self.sync_rollout_status([*old, new_rs], new_rs)

    # -- the new ReplicaSet and revisions --

    def replica_sets(self, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new, old), syncing the new one's annotations; create it if asked and missing."""
        self.rss.sort(key=by_creation)
        template = (self.d.get("spec") or {}).get("template") or {}
        new_rs = next(
            (
                rs
                for rs in self.rss
                if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template)
            ),
            None,
        )
        old = [rs for rs in self.rss if rs is not new_rs]
        revision = max((revision_of(rs) or 0 for rs in old), default=0) + 1
        if new_rs is not None:
            self.sync_new_rs(new_rs, revision)
        elif create:
            new_rs = self.create_new_rs(old, revision)
        return new_rs, old

    def sync_new_rs(self, rs: Obj, revision: int) -> None:
        spec = rs.setdefault("spec", {})
        min_ready = int((self.d.get("spec") or {}).get("minReadySeconds") or 0)
        changed = set_new_rs_annotations(self.d, rs, revision, exists=True)
        if changed or int(spec.get("minReadySeconds") or 0) != min_ready:
            self.touch(rs)
            _set_min_ready(spec, min_ready)
        self.set_revision(str((meta(rs).get("annotations") or {}).get(REVISION_ANNOTATION, "")))
        if (
            progress_deadline(self.d) is not None
            and get_condition(self.d["status"], PROGRESSING) is None
        ):
            message = f'Found new replica set "{meta(rs)["name"]}"'
            set_condition(
                self.d["status"],
                new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON, message, self.now),
            )

    def create_new_rs(self, old: list[Obj], revision: int) -> Obj:
        rs = _new_replica_set(self.d)
        spec = rs["spec"]
        spec["replicas"] = new_rs_replicas(self.d, [*old, rs], rs)
        set_new_rs_annotations(self.d, rs, revision, exists=False)
        name = meta(rs)["name"]
        try:
            created = self.client.create(rs)
        except AlreadyExistsError:
            self.hash_collision(name)
        except ShipyardError as e:
            self.failed_create(name, e)
        if spec["replicas"] > 0:
            self.recorder.event(
                self.d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {spec['replicas']}",
            )
        self.set_revision(str(revision))
        if progress_deadline(self.d) is not None:
            set_condition(
                self.d["status"],
                new_condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_REASON,
                    f'Created new replica set "{name}"',
                    self.now,
                ),
            )
        self.rss.append(created)
        return created

    def hash_collision(self, name: str) -> NoReturn:
        """The name is taken by a ReplicaSet that is not ours with this template (ours would
        have been found): count the collision so the next sync hashes differently."""
        existing = self.client.get(
            APPS, REPLICA_SET, name, namespace=str(meta(self.d)["namespace"])
        )
        template = (self.d.get("spec") or {}).get("template") or {}
        ours = (controller_ref(existing) or {}).get("uid") == meta(self.d).get("uid")
        if ours and equal_ignore_hash((existing.get("spec") or {}).get("template") or {}, template):
            raise _Stop()  # found after all; the next sync sees it in the list
        status = self.d["status"]
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        raise _Stop()

    def failed_create(self, name: str, error: ShipyardError) -> NoReturn:
        if isinstance(error, ForbiddenError) and "being terminated" in str(error):
            raise _Stop(error)
        message = f'Failed to create new replica set "{name}": {error}'
        if progress_deadline(self.d) is not None:
            set_condition(
                self.d["status"],
                new_condition(PROGRESSING, "False", FAILED_RS_CREATE_REASON, message, self.now),
            )
        self.recorder.event(self.d, WARNING, FAILED_RS_CREATE_REASON, message)
        raise _Stop(error)

    def set_revision(self, revision: str) -> None:
        annotations = meta(self.d).setdefault("annotations", {})
        if annotations.get(REVISION_ANNOTATION) != revision:
            annotations[REVISION_ANNOTATION] = revision
            self.revision = revision

    # -- scaling a ReplicaSet (planned; written by flush) --

    def scale_and_record(self, rs: Obj, size: int) -> bool:
        return spec_replicas(rs) != size and self.scale_rs(rs, size)

    def scale_rs(self, rs: Obj, size: int) -> bool:
        """Plan ``spec.replicas = size`` with fresh replica annotations; whether it resizes."""
        resize = spec_replicas(rs) != size
        desired, most = spec_replicas(self.d), spec_replicas(self.d) + max_surge(self.d)
        if not resize and not replicas_annotations_differ(rs, desired, most):
            return False
        self.touch(rs)
        rs.setdefault("spec", {})["replicas"] = size
        set_replicas_annotations(rs, desired, most)
        return resize

    def touch(self, rs: Obj) -> None:
        name = str(meta(rs).get("name"))
        self.original.setdefault(name, spec_replicas(rs))
        self.dirty[name] = rs

    def cleanup(self, old: list[Obj]) -> None:
        """Delete old ReplicaSets with no pods beyond ``revisionHistoryLimit``."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old if not is_terminating(rs)]
        excess = len(alive) - int(limit)
        if excess <= 0:
            return
        alive.sort(key=lambda rs: (revision_of(rs) or 0, *by_creation(rs)))
        for rs in alive[:excess]:
            md = meta(rs)
            observed = status_count(rs, "observedGeneration")
            if (
                status_count(rs, "replicas")
                or spec_replicas(rs)
                or int(md.get("generation") or 0) > observed
            ):
                continue
            if md.get("name") in self.dirty:
                continue
            with contextlib.suppress(NotFoundError):
                self.client.delete(
                    APPS, REPLICA_SET, str(md["name"]), namespace=str(md["namespace"])
                )

    # -- status --

    def sync_rollout_status(self, all_rs: Sequence[Obj | None], new_rs: Obj | None) -> None:
        status = calculate_status(all_rs, new_rs, self.d, self.now)
        deadline = progress_deadline(self.d)
        if deadline is None:
            remove_condition(status, PROGRESSING)
        current = get_condition(self.d["status"], PROGRESSING)
        complete = (
            field_count(status, "replicas") == field_count(status, "updatedReplicas")
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE_REASON
        )
        if deadline is not None and not complete:
            self.estimate_progress(status, new_rs, current)
        failures = _replica_failures(all_rs, new_rs)
        if failures:
            set_condition(status, failures[0])
        else:
            remove_condition(status, REPLICA_FAILURE)
        self.status = status
        self.rollout = True

    def estimate_progress(self, status: Obj, new_rs: Obj | None, current: Obj | None) -> None:
        subject = (
            f'ReplicaSet "{meta(new_rs)["name"]}"'
            if new_rs is not None
            else f'Deployment "{meta(self.d)["name"]}"'
        )
        if deployment_complete(self.d, status):
            message = f"{subject} has successfully progressed."
            cond = new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, message, self.now)
            set_condition(status, cond)
        elif deployment_progressing(self.d, status):
            message = f"{subject} is progressing."
            cond = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, message, self.now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif deployment_timed_out(self.d, status, self.now):
            message = f"{subject} has timed out progressing."
            set_condition(
                status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON, message, self.now)
            )

    def requeue(self) -> Result | None:
        """Run again just after the progress deadline of a rollout that is not done."""
        deadline = progress_deadline(self.d)
        if not self.rollout or self.status is None or deadline is None:
            return None
        cond = get_condition(self.status, PROGRESSING)
        if cond is None or cond.get("reason") == TIMED_OUT_REASON:
            return None
        if deployment_complete(self.d, self.status):
            return None
        after = parse_time(str(cond["lastUpdateTime"])) + deadline - self.now
        return Result(requeue_after=max(after, 0.0) + 1.0)

    # -- writing --

    def finish(self) -> None:
        # The ReplicaSets and the status were built for these writes alone: handed to the
        # store rather than copied (and only read after, by ``requeue``).
        for name, rs in self.dirty.items():
            before, after = self.original[name], spec_replicas(rs)
            self.client.update(rs, handoff=True)
            if before != after:
                direction = "up" if after > before else "down"
                self.recorder.event(
                    self.d,
                    NORMAL,
                    "ScalingReplicaSet",
                    f"Scaled {direction} replica set {name} from {before} to {after}",
                )
        md = meta(self.d)
        version = md.get("resourceVersion")
        if self.revision is not None:
            patch = {
                "metadata": {
                    "annotations": {REVISION_ANNOTATION: self.revision},
                    "resourceVersion": version,
                }
            }
            patched = self.client.patch(
                APPS, DEPLOYMENT, str(md["name"]), patch, namespace=str(md["namespace"])
            )
            version = meta(patched).get("resourceVersion")
        status = _render(self.status if self.status is not None else self.d["status"])
        if status != self.stored_status:
            updated = {**self.d, "metadata": {**md, "resourceVersion": version}, "status": status}
            self.client.update_status(updated, handoff=True)


def _new_replica_set(d: Obj) -> Obj:
    md, spec = meta(d), d.get("spec") or {}
    template: Obj = json_copy(spec.get("template") or {})
    pod_hash = pod_template_hash(template, (d.get("status") or {}).get("collisionCount"))
    template_md = template.setdefault("metadata", {})
    labels = {**(template_md.get("labels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
    template_md["labels"] = labels
    selector: Obj = json_copy(spec.get("selector") or {})
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        POD_TEMPLATE_HASH_LABEL: pod_hash,
    }
    rs_spec: Obj = {"replicas": 0, "selector": selector, "template": template}
    _set_min_ready(rs_spec, int(spec.get("minReadySeconds") or 0))
    return {
        "apiVersion": APPS,
        "kind": REPLICA_SET,
        "metadata": {
            "name": f"{md['name']}-{pod_hash}",
            "namespace": md.get("namespace") or "default",
            "labels": dict(labels),
            "ownerReferences": [controller_ref_to(d)],
        },
        "spec": rs_spec,
    }


def _set_min_ready(spec: Obj, min_ready: int) -> None:
    if min_ready:
        spec["minReadySeconds"] = min_ready
    else:
        spec.pop("minReadySeconds", None)


def _active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """The only active ReplicaSet; with none active the newest; None when several are."""
    if new_rs is None and not old:
        return None
    newest_first = sorted(old, key=by_creation, reverse=True)
    active = active_replica_sets([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def _is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    want = spec_replicas(d)
    return (
        spec_replicas(rs) == want
        and int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == want
        and status_count(rs, "availableReplicas") == want
    )


def _old_pods_running(new_rs: Obj | None, old: list[Obj], pods: dict[str, list[Obj]]) -> bool:
    """Recreate waits until no pod of an old ReplicaSet exists (terminating ones count)."""
    if sum(status_count(rs, "replicas") for rs in old) > 0:
        return True
    new_uid = meta(new_rs).get("uid") if new_rs is not None else None
    return any(
        not is_terminal(pod) for uid, owned in pods.items() if uid != new_uid for pod in owned
    )


def _render(status: Obj) -> Obj:
    """The status as the API serialises it: zero counts and empty lists omitted."""
    return {k: v for k, v in status.items() if v or (k == "collisionCount" and v is not None)}


def _replica_failures(all_rs: Sequence[Obj | None], new_rs: Obj | None) -> list[Obj]:
    """ReplicaFailure conditions as Deployment conditions, the new ReplicaSet's first."""

    def of(rs: Obj) -> list[Obj]:
        return [
            {
                "type": REPLICA_FAILURE,
                "status": c.get("status"),
                "lastUpdateTime": c.get("lastTransitionTime"),
                "lastTransitionTime": c.get("lastTransitionTime"),
                "reason": c.get("reason", ""),
                "message": c.get("message", ""),
            }
            for c in (rs.get("status") or {}).get("conditions") or ()
            if c.get("type") == REPLICA_FAILURE
        ]

    if new_rs is not None and of(new_rs):
        return of(new_rs)
    return [c for rs in all_rs if rs is not None for c in of(rs)]


# --- the controller ------------------------------------------------------------------------------


class DeploymentController:
    """Rolls Deployments out through their ReplicaSets (see the module docstring)."""

    name = "cluster.deployment"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "deployment-controller")
        self._replica_sets = Dependents(client, APPS, REPLICA_SET)

    def watches(self) -> list[Watches]:
        return [
            Watches(APPS, DEPLOYMENT),
            Watches(APPS, REPLICA_SET, self._deployments_of_replica_set),
            Watches("v1", "Pod", self._recreate_deployment_of_pod),
        ]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            d = self._client.get(APPS, DEPLOYMENT, key.name, namespace=key.namespace)
        except NotFoundError:
            self._replica_sets.forget(key)
            raise
        selector = _selector(d)
        rss = claim(self._client, d, selector, self._replica_sets.candidates(key, d, selector))
        self._replica_sets.remember(key, d, rss)
        sync = _Sync(
            self._client,
            self._recorder,
            d,
            rss,
            now=self._client.clock.now(),
            pods_by_owner=self._pods,
        )
        try:
            sync.run()
        except _Stop as stop:
            sync.finish()
            if stop.error is not None:
                raise stop.error from None
            return None
        sync.finish()
        return sync.requeue()

    def _pods(self, d: Obj, rss: list[Obj]) -> dict[str, list[Obj]]:
        """The pods of each of the Deployment's ReplicaSets, by ReplicaSet uid (all phases)."""
        owners = {str(meta(rs).get("uid")) for rs in rss}
        namespace = str(meta(d).get("namespace") or "")
        grouped: dict[str, list[Obj]] = defaultdict(list)
        for pod in self._client.list("v1", "Pod", namespace=namespace, label_selector=_selector(d)):
            uid = str((controller_ref(pod) or {}).get("uid"))
            if uid in owners:
                grouped[uid].append(pod)
        return grouped

    def _deployments_of_replica_set(self, rs: Obj) -> list[ObjectKey]:
        namespace = str(meta(rs).get("namespace") or "")
        ref = controller_ref(rs)
        if ref is not None:
            if ref.get("kind") == DEPLOYMENT and ref.get("apiVersion") == APPS:
                return [ObjectKey(APPS, DEPLOYMENT, namespace, str(ref.get("name")))]
            return []
        labels = labels_of(rs)
        return [
            key_of(d)
            for d in self._client.list(APPS, DEPLOYMENT, namespace=namespace)
            if _selector(d).matches(labels)
        ]

    def _recreate_deployment_of_pod(self, pod: Obj) -> list[ObjectKey]:
        """A Recreate Deployment waits until its old pods are gone. Every other pod change
        reaches it through its ReplicaSets' status, so only terminating pods are routed (their
        final DELETED event still carries the ``deletionTimestamp``)."""
        namespace = str(meta(pod).get("namespace") or "")
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != REPLICA_SET or not is_terminating(pod):
            return []
        try:
            rs = self._client.get(
                APPS, REPLICA_SET, str(ref.get("name")), namespace=namespace, copy=False
            )
            owner = controller_ref(rs)
            if owner is None or owner.get("kind") != DEPLOYMENT:
                return []
            d = self._client.get(
                APPS, DEPLOYMENT, str(owner.get("name")), namespace=namespace, copy=False
            )
        except NotFoundError:
            return []
        if ((d.get("spec") or {}).get("strategy") or {}).get("type") != "Recreate":
            return []
        return [key_of(d)]


def _selector(obj: Mapping[str, Any]) -> LabelSelector:
    return LabelSelector.from_dict((obj.get("spec") or {}).get("selector"))
