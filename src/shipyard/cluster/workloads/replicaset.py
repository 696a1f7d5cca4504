"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector alive.

:class:`ReplicaSetController` (``cluster.replicaset``) reproduces Kubernetes'
``pkg/controller/replicaset`` as users see it:

- **Claiming** (``ControllerRefManager``). Of the namespace's active pods (not
  ``Succeeded``/``Failed``, no ``deletionTimestamp``), a ReplicaSet keeps the ones it controls
  that match its selector, *adopts* orphans that match (a strategic merge patch adding a
  controller ``ownerReference`` with ``blockOwnerDeletion: true``, guarded by the pod's
  ``uid``) and *releases* pods it controls whose labels stopped matching (the reference is
  removed). Pods controlled by someone else are never touched; a ReplicaSet being deleted
  adopts and releases nothing. Terminating pods are ignored, so a pod being deleted is
  replaced at once.
- **Scaling up** creates pods from the template: ``metadata.generateName: <rs-name>-`` (the
  API server adds five random characters), the template's labels, annotations and
  finalizers, and the controller reference. Creation runs in Kubernetes' *slow start*
  batches (1, 2, 4, …, at most 500 per sync) and stops at the first batch with a failure, so
  a template that cannot be admitted costs one request, not five hundred. Each pod gets a
  ``SuccessfulCreate`` Event (``Created pod: web-7d4b9c8f5d-x2x8k``), each failure a
  ``FailedCreate`` warning (``Error creating: …``).
- **Scaling down** deletes the pods Kubernetes' ``ActivePodsWithRanks`` puts first:
  unassigned before assigned; ``Pending`` before ``Unknown`` before ``Running``; not ready
  before ready; lower ``controller.kubernetes.io/pod-deletion-cost`` first; pods doubled up on
  a node with more pods of the same owner (the Deployment's other ReplicaSets included)
  first; ready for less time first; more container restarts first; newer first. Times are
  compared in logarithmic buckets (``LogarithmicScaleDown``: ``floor(log2(age in ns))``) with
  the pod UID breaking ties inside a bucket, as Kubernetes has done by default since 1.22.
  ``SuccessfulDelete`` Events read ``Deleted pod: …``.
- **Status** (written once per sync, only when it changes): ``replicas`` (active claimed
  pods), ``fullyLabeledReplicas`` (those also carrying every template label),
  ``readyReplicas``, ``availableReplicas`` (ready for ``minReadySeconds``),
  ``observedGeneration`` and the ``ReplicaFailure`` condition (reason ``FailedCreate`` or
  ``FailedDelete``, the API error as message) while creating or deleting pods fails. Zero
  counts are omitted as the API server's JSON does (``replicas`` is always present). When a
  ready pod still has to wait out ``minReadySeconds`` the sync asks to run again at the exact
  moment it becomes available.

Cost: Kubernetes lists the namespace's pods from an informer cache on every sync; here a
list copies every object it returns, so a sync lists only the pods its selector matches (the
store indexes labels) plus the pods it controlled at its previous sync (:class:`Dependents`),
which keeps a sync proportional to its own pods.

Differences from Kubernetes, none of them visible in the converged state: there are no
*expectations* (the embedded store is read-your-writes, so a sync never sees a stale cache),
and the status is computed after this sync's creations and deletions rather than before, which
saves the extra status write Kubernetes makes on the next sync. Errors from creating or
deleting pods are re-raised after the status is written so the runtime backs off and retries,
as a failed sync does in Kubernetes.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import (
    condition,
    controller_ref,
    controller_uid,
    is_available,
    is_ready,
    is_terminal,
    is_terminating,
)
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import format_time, parse_time
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.core.objects import (
    IdentityCache,
    Obj,
    ObjectKey,
    json_copy,
    key_of,
    labels_of,
    meta,
)
from shipyard.core.selectors import LabelSelector
from shipyard.store.store import ForbiddenError
from shipyard.store.watch import WatchEvent

__all__ = [
    "BURST_REPLICAS",
    "POD_DELETION_COST",
    "Dependents",
    "ReplicaSetController",
    "claim",
    "controller_ref_to",
    "is_pod_active",
    "pod_from_template",
    "pods_to_delete",
    "replica_set_status",
]

APPS = "apps/v1"
REPLICA_SET = "ReplicaSet"
BURST_REPLICAS = 500
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
REPLICA_FAILURE = "ReplicaFailure"
# The API server's generated names: a prefix of at most 58 characters plus five random ones.
_MAX_GENERATE_PREFIX = 58
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# --- ownership ------------------------------------------------------------------------------


def controller_ref_to(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ownerReference`` a controller puts on what it creates (``NewControllerRef``)."""
    md = meta(owner)
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Counted by a workload controller: not terminal and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def claim(
    client: Client,
    owner: Obj,
    selector: LabelSelector,
    candidates: Iterable[Obj],
) -> list[Obj]:
    """Kubernetes' ``ClaimObject`` over ``candidates``: what ``owner`` controls after adopting
    matching orphans and releasing what stopped matching (see the module docstring).

    Adoption and release are strategic merge patches guarded by the dependent's ``uid``; a
    dependent that disappeared meanwhile is skipped, any other error is raised.
    """
    uid = meta(owner).get("uid")
    deleting = is_terminating(owner)
    claimed: list[Obj] = []
    for obj in candidates:
        ref_uid = controller_uid(obj)
        matches = selector.matches(labels_of(obj))
        if ref_uid is not None:
            if ref_uid != uid:
                continue
            if matches:
                claimed.append(obj)
            elif not deleting:
                _patch_owner_refs(client, obj, [{"$patch": "delete", "uid": uid}])
            continue
        if deleting or not matches or is_terminating(obj):
            continue
        adopted = _patch_owner_refs(client, obj, [controller_ref_to(owner)])
        if adopted is not None:
            claimed.append(adopted)
    return claimed


def _patch_owner_refs(client: Client, obj: Obj, refs: list[dict[str, Any]]) -> Obj | None:
    md = meta(obj)
    patch = {"metadata": {"ownerReferences": refs, "uid": md.get("uid")}}
    try:
        return client.patch(
            str(obj.get("apiVersion")),
            str(obj.get("kind")),
            str(md.get("name")),
            patch,
            namespace=str(md.get("namespace") or ""),
            patch_type="strategic",
        )
    except NotFoundError:
        return None


class Dependents:
    """Which objects of one kind each owner might claim, without listing the whole namespace.

    Candidates are the objects its selector matches (an indexed list) plus those the owner
    controlled after its previous sync, which may have to be released. The first sync of
    an owner (or of a new object under the same name) looks up what it controls in an index
    of controller uids instead, so nothing is missed after a restart; later syncs cost O(its
    own dependents). The index is built by one list of the kind, on first use, and kept up to
    date from the change stream (a namespace scan per new owner made creating 1,000
    ReplicaSets among 10,000 pods quadratic). Only an ownerReference added to a non-matching
    object by someone else goes unnoticed. ``include`` filters the candidates (a ReplicaSet
    claims active pods only).
    """

    def __init__(
        self,
        client: Client,
        api_version: str,
        kind: str,
        *,
        include: Callable[[Obj], bool] = lambda obj: True,
        shared: bool = False,
    ) -> None:
        self._client = client
        self._api_version = api_version
        self._kind = kind
        # shared=True: candidates are the stored objects themselves, for owners that only
        # read them (a ReplicaSet its pods); otherwise copies the owner may change
        self._copy = not shared
        self._include = include
        self._owned: dict[ObjectKey, tuple[str, frozenset[str]]] = {}
        # controller uid -> names of the objects it controls, by namespace; None until used
        self._controlled: dict[tuple[str, str], set[str]] | None = None
        self._controller_of: dict[tuple[str, str], str] = {}

    def candidates(self, key: ObjectKey, owner: Obj, selector: LabelSelector) -> list[Obj]:
        namespace = key.namespace
        matching = self._client.list(
            self._api_version,
            self._kind,
            namespace=namespace,
            label_selector=selector,
            copy=self._copy,
        )
        found = [obj for obj in matching if self._include(obj)]
        seen = {meta(obj).get("name") for obj in matching}
        uid = meta(owner).get("uid")
        known = self._owned.get(key)
        names: AbstractSet[str] = (
            self.controlled_by(namespace, str(uid))
            if known is None or known[0] != uid
            else known[1]
        )
        others = [o for o in (self.get(namespace, n) for n in sorted(names - seen)) if o]
        found += [
            obj
            for obj in others
            if meta(obj).get("name") not in seen
            and self._include(obj)
            and controller_uid(obj) == uid
        ]
        return found

    def controlled_by(self, namespace: str, uid: str) -> set[str]:
        """Names of the objects in ``namespace`` whose controller has ``uid``."""
        if self._controlled is None:
            self._controlled = {}
            self._client.add_listener(self._observe, kinds=[(self._api_version, self._kind)])
            for obj in self._client.list(self._api_version, self._kind, copy=False).items:
                self._index(obj, deleted=False)
        return set(self._controlled.get((namespace, uid), ()))

    def _observe(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.get("kind") == self._kind and obj.get("apiVersion") == self._api_version:
            self._index(obj, deleted=event.type == "DELETED")

    def _index(self, obj: Obj, *, deleted: bool) -> None:
        controlled = self._controlled
        if controlled is None:
            return
        md = meta(obj)
        at = (str(md.get("namespace") or ""), str(md.get("name")))
        ref = None if deleted else controller_ref(obj)
        uid = str(ref.get("uid")) if ref else None
        before = self._controller_of.get(at)
        if before == uid:
            return
        if before is not None:
            names = controlled.get((at[0], before), set())
            names.discard(at[1])
            if not names:
                controlled.pop((at[0], before), None)
            del self._controller_of[at]
        if uid is not None:
            controlled.setdefault((at[0], uid), set()).add(at[1])
            self._controller_of[at] = uid

    def remember(self, key: ObjectKey, owner: Obj, dependents: Iterable[Obj]) -> None:
        names = frozenset(str(meta(obj).get("name")) for obj in dependents)
        self._owned[key] = (str(meta(owner).get("uid")), names)

    def forget(self, key: ObjectKey) -> None:
        self._owned.pop(key, None)

    def get(self, namespace: str, name: str) -> Obj | None:
        """The object, or None when it is gone."""
        try:
            return self._client.get(
                self._api_version, self._kind, name, namespace=namespace, copy=self._copy
            )
        except NotFoundError:
            return None


# --- creating pods ----------------------------------------------------------------------------


def pod_from_template(rs: Mapping[str, Any]) -> Obj:
    """A new pod for the ReplicaSet (Kubernetes' ``GetPodFromTemplate``)."""
    md = meta(rs)
    template = (rs.get("spec") or {}).get("template") or {}
    template_md = template.get("metadata") or {}
    pod_md: dict[str, Any] = {
        "generateName": f"{md.get('name', '')}-"[:_MAX_GENERATE_PREFIX],
        "namespace": md.get("namespace") or "default",
    }
    for field in ("labels", "annotations", "finalizers"):
        if template_md.get(field):
            pod_md[field] = json_copy(template_md[field])
    pod_md["ownerReferences"] = [controller_ref_to(rs)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_md,
        "spec": json_copy(template.get("spec") or {}),
    }


# --- choosing pods to delete ------------------------------------------------------------------


def pods_to_delete(
    pods: Sequence[Obj], related: Iterable[Obj], count: int, now: float
) -> list[Obj]:
    """The ``count`` pods a ReplicaSet deletes first (``getPodsToDelete``).

    ``related`` are the pods of every ReplicaSet with the same owner (doubled-up pods on a
    node are deleted first); see the module docstring for the order.
    """
    if count >= len(pods):
        return list(pods)
    on_node = Counter(_node(p) for p in related if is_pod_active(p))
    ranked = [_Rank(pod, on_node[_node(pod)], now) for pod in pods]
    ranked.sort(key=functools.cmp_to_key(_delete_first))
    return [rank.pod for rank in ranked[:count]]


def _node(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


class _Rank:
    """What ``ActivePodsWithRanks.Less`` compares of one pod, read once before the sort."""

    __slots__ = ("created", "keys", "on_node", "pod", "ready", "ready_bucket", "restarts", "uid")

    def __init__(self, pod: Obj, on_node: int, now: float) -> None:
        self.pod = pod
        self.on_node = on_node
        self.ready = is_ready(pod)
        self.keys = (_assigned(pod), _phase_ordinal(pod), self.ready, _deletion_cost(pod))
        ready_time = _ready_time(pod) if self.ready else None
        self.ready_bucket = _bucket(ready_time, now)
        self.restarts = _restarts(pod)
        self.created = _bucket(_created(pod), now)
        self.uid = str(meta(pod).get("uid", ""))


def _delete_first(a: _Rank, b: _Rank) -> int:
    """Negative when ``a`` goes before ``b`` (``ActivePodsWithRanks.Less``)."""
    if a.keys != b.keys:
        return -1 if a.keys < b.keys else 1
    if a.on_node != b.on_node:
        return -1 if a.on_node > b.on_node else 1
    if a.ready and b.ready:
        order = _compare_times(a.ready_bucket, b.ready_bucket, a.uid, b.uid)
        if order:
            return order
    if a.restarts != b.restarts:
        return -1 if a.restarts > b.restarts else 1
    return _compare_times(a.created, b.created, a.uid, b.uid)


def _assigned(pod: Mapping[str, Any]) -> bool:
    return bool(_node(pod))


def _phase_ordinal(pod: Mapping[str, Any]) -> int:
    return _PHASE_ORDINAL.get(str((pod.get("status") or {}).get("phase")), 0)


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    value = (meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _restarts(pod: Mapping[str, Any]) -> tuple[int, int]:
    """(max restarts of a regular container, of an init/sidecar container)."""
    status = pod.get("status") or {}

    def most(field: str) -> int:
        return max((int(s.get("restartCount") or 0) for s in status.get(field) or ()), default=0)

    return most("containerStatuses"), most("initContainerStatuses")


def _ready_time(pod: Mapping[str, Any]) -> float | None:
    cond = condition(pod, "Ready")
    since = cond.get("lastTransitionTime") if cond else None
    return parse_time(str(since)) if since else None


def _created(pod: Mapping[str, Any]) -> float | None:
    since = meta(pod).get("creationTimestamp")
    return parse_time(str(since)) if since else None


def _bucket(since: float | None, now: float) -> tuple[float | None, int]:
    """A time and its log2 bucket of age (``None``: missing)."""
    return since, (_age_bucket(since, now) if since is not None else 0)


def _compare_times(
    ta: tuple[float | None, int], tb: tuple[float | None, int], uid_a: str, uid_b: str
) -> int:
    """Missing or more recent first, in log2 buckets of the age; UID breaks a bucket tie."""
    if ta[0] == tb[0]:
        return 0
    if ta[0] is None or tb[0] is None:
        return -1 if ta[0] is None else 1
    if ta[1] != tb[1]:
        return -1 if ta[1] < tb[1] else 1
    return -1 if uid_a < uid_b else (1 if uid_a > uid_b else 0)


def _age_bucket(since: float, now: float) -> int:
    nanos = (now - since) * 1e9
    return int(math.log2(nanos)) if nanos > 0 else -1


# --- status ------------------------------------------------------------------------------------


def replica_set_status(
    rs: Mapping[str, Any],
    pods: Iterable[Obj],
    now: float,
    failure: tuple[str, str] | None = None,
) -> Obj:
    """The status Kubernetes' ``calculateStatus`` derives from the claimed active pods.

    ``failure`` is ``(reason, message)`` when creating or deleting pods failed in this sync.
    """
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    wanted = dict(template_labels).items()
    min_ready = int(spec.get("minReadySeconds") or 0)
    replicas = fully_labeled = ready = available = 0
    for pod in pods:
        replicas += 1
        if wanted <= labels_of(pod).items():  # every template label, with its value
            fully_labeled += 1
        if _is_ready(pod):
            ready += 1
            available += min_ready <= 0 or is_available(pod, min_ready, now)
    status: Obj = {"replicas": replicas}
    for field, value in (
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("observedGeneration", int(meta(rs).get("generation") or 0)),
    ):
        if value:
            status[field] = value
    conditions = _conditions(rs, failure, now)
    if conditions:
        status["conditions"] = conditions
    return status


def _is_ready(pod: Obj) -> bool:
    """``is_ready``, once per stored pod (shared, never changed in place)."""
    found = _READY.get(pod)
    if found is None:
        found = _READY.put(pod, (is_ready(pod),))
    return found[0]


_READY: IdentityCache[tuple[bool]] = IdentityCache(100_000)


def _conditions(
    rs: Mapping[str, Any], failure: tuple[str, str] | None, now: float
) -> list[dict[str, Any]]:
    """Keep other conditions; add ReplicaFailure on a failure, drop it once a sync succeeds."""
    current = [dict(c) for c in (rs.get("status") or {}).get("conditions") or ()]
    has_failure = any(c.get("type") == REPLICA_FAILURE for c in current)
    if failure is None:
        return [c for c in current if c.get("type") != REPLICA_FAILURE]
    if has_failure:
        return current
    reason, message = failure
    current.append(
        {
            "type": REPLICA_FAILURE,
            "status": "True",
            "lastTransitionTime": format_time(now),
            "reason": reason,
            "message": message,
        }
    )
    return current


# --- the controller ------------------------------------------------------------------------------


class ReplicaSetController:
    """Reconciles a ReplicaSet's pods and status (see the module docstring)."""

    name = "cluster.replicaset"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "replicaset-controller")
        self._pods = Dependents(client, "v1", "Pod", include=is_pod_active, shared=True)
        self._siblings = Dependents(client, APPS, REPLICA_SET, shared=True)

    def watches(self) -> list[Watches]:
        return [Watches(APPS, REPLICA_SET), Watches("v1", "Pod", self._replica_sets_of_pod)]

    def _replica_sets_of_pod(self, pod: Obj) -> list[ObjectKey]:
        """Its controller if that is a ReplicaSet; for an orphan, every ReplicaSet that
        selects it (one of them will adopt it)."""
        namespace = str(meta(pod).get("namespace") or "")
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") == REPLICA_SET and ref.get("apiVersion") == APPS:
                return [ObjectKey(APPS, REPLICA_SET, namespace, str(ref.get("name")))]
            return []
        if not is_pod_active(pod):
            return []
        labels = labels_of(pod)
        return [
            key_of(rs)
            for rs in self._client.list(APPS, REPLICA_SET, namespace=namespace, copy=False)
            if _selector(rs).matches(labels)
        ]

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            rs = self._client.get(APPS, REPLICA_SET, key.name, namespace=key.namespace, copy=False)
        except NotFoundError:
            self._pods.forget(key)
            raise
        now = self._client.clock.now()
        selector = _selector(rs)
        pods = claim(self._client, rs, selector, self._pods.candidates(key, rs, selector))
        error: tuple[str, ShipyardError] | None = None
        if not is_terminating(rs):
            pods, error = self._manage(rs, pods, now)
        self._pods.remember(key, rs, pods)
        failure = (error[0], str(error[1])) if error else None
        status = replica_set_status(rs, pods, now, failure)
        if status != rs.get("status"):
            self._client.update_status({**rs, "status": status}, handoff=True)
        if error is not None:
            raise error[1]
        return _availability_requeue(rs, pods, now)

    # -- scaling ---------------------------------------------------------------------------

    def _manage(
        self, rs: Obj, pods: list[Obj], now: float
    ) -> tuple[list[Obj], tuple[str, ShipyardError] | None]:
        """Create or delete pods towards ``spec.replicas``; the pods after, and any error."""
        diff = len(pods) - int((rs.get("spec") or {}).get("replicas", 1))
        if diff < 0:
            created, error = self._create(rs, min(-diff, BURST_REPLICAS))
            return pods + created, ("FailedCreate", error) if error else None
        if diff > 0:
            related = self._related_pods(rs, pods)
            victims = pods_to_delete(pods, related, min(diff, BURST_REPLICAS), now)
            deleted, error = self._delete(rs, victims)
            gone = {meta(p).get("uid") for p in deleted}
            kept = [p for p in pods if meta(p).get("uid") not in gone]
            return kept, ("FailedDelete", error) if error else None
        return pods, None

    def _create(self, rs: Obj, count: int) -> tuple[list[Obj], ShipyardError | None]:
        """Slow start: batches of 1, 2, 4, …; stop after the first batch with a failure."""
        created: list[Obj] = []
        remaining, batch = count, min(count, 1)
        while batch > 0:
            errors = [e for e in (self._create_one(rs, created) for _ in range(batch)) if e]
            if errors:
                return created, errors[0]
            remaining -= batch
            batch = min(2 * batch, remaining)
        return created, None

    def _create_one(self, rs: Obj, created: list[Obj]) -> ShipyardError | None:
        try:
            pod = self._client.create(pod_from_template(rs), handoff=True)
        except ShipyardError as e:
            if not _namespace_terminating(e):
                self._recorder.event(rs, WARNING, "FailedCreate", f"Error creating: {e}")
            return e
        created.append(pod)
        self._recorder.event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")
        return None

    def _delete(self, rs: Obj, victims: list[Obj]) -> tuple[list[Obj], ShipyardError | None]:
        deleted: list[Obj] = []
        first_error: ShipyardError | None = None
        for pod in victims:
            name = str(meta(pod).get("name"))
            try:
                self._client.delete(
                    "v1", "Pod", name, namespace=str(meta(rs)["namespace"]), copy=False
                )
            except NotFoundError:
                deleted.append(pod)
                continue
            except ShipyardError as e:
                self._recorder.event(rs, WARNING, "FailedDelete", f"Error deleting: {e}")
                first_error = first_error or e
                continue
            deleted.append(pod)
            self._recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")
        return deleted, first_error

    def _related_pods(self, rs: Obj, own: list[Obj]) -> list[Obj]:
        """Active pods of every ReplicaSet controlled by this one's controller (a Deployment's
        old and new ReplicaSets), or just its own pods when it has no controller."""
        owner = controller_ref(rs)
        if owner is None:
            return own
        namespace = str(meta(rs).get("namespace") or "")
        related: list[Obj] = []
        names = sorted(self._siblings.controlled_by(namespace, str(owner.get("uid"))))
        for sibling in (self._siblings.get(namespace, name) for name in names):
            if sibling is None or controller_uid(sibling) != owner.get("uid"):
                continue
            uid = meta(sibling).get("uid")
            pods = self._client.list(
                "v1", "Pod", namespace=namespace, label_selector=_selector(sibling), copy=False
            )
            related += [p for p in pods if controller_uid(p) == uid]
        return related


def _selector(rs: Mapping[str, Any]) -> LabelSelector:
    return LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))


def _namespace_terminating(error: ShipyardError) -> bool:
    return isinstance(error, ForbiddenError) and "being terminated" in str(error)


def _availability_requeue(rs: Obj, pods: list[Obj], now: float) -> Result | None:
    """When the next ready pod becomes available (ready for ``minReadySeconds``)."""
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = [
        since + min_ready - now
        for since in (_ready_time(p) for p in pods if is_ready(p))
        if since is not None and since + min_ready > now
    ]
    return Result(requeue_after=min(waits)) if waits else None
