"""PodDisruptionBudgets: the disruption controller and the Eviction API.

**Budget math** (``pkg/controller/disruption``), pure functions tested from a table:

- ``maxUnavailable`` (int or %): ``expectedPods`` is the summed scale of the pods'
  controllers (each Deployment, ReplicaSet or StatefulSet counted once, a pod of a
  Deployment's ReplicaSet counting the Deployment's ``spec.replicas``);
  ``desiredHealthy = max(0, expected - maxUnavailable)`` with a percentage rounded **up**.
- ``minAvailable`` as an int: ``desiredHealthy`` is that number and ``expectedPods`` the
  number of matching pods. As a percentage: of the controllers' scale, rounded **up**.
- ``currentHealthy``: matching pods that are Ready, not terminating, and not recorded in
  ``disruptedPods`` by an eviction less than two minutes ago (``DeletionTimeout``).
- ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)``, and 0 while
  ``expectedPods`` is 0.
- Pods without a controller are skipped when counting the scale (Event ``UnmanagedPods``);
  a pod whose controller cannot be found makes the sync fail: ``disruptionsAllowed: 0`` and
  the condition ``DisruptionAllowed=False`` with reason ``SyncFailed`` (the controller's
  ``failSafe``), plus the Event ``CalculateExpectedPodCountFailed``.
- Condition ``DisruptionAllowed``: ``True``/``SufficientPods`` when disruptions are allowed,
  ``False``/``InsufficientPods`` otherwise; ``observedGeneration`` is the budget's generation.
- ``disruptedPods`` entries are dropped once the pod is terminating or gone; one still there
  after two minutes is dropped with a ``NotDeleted`` Warning on the pod. The controller
  re-checks the budget when the earliest entry expires.

A selector of ``{}`` selects every pod of the namespace, a missing one nothing (policy/v1).

**The Eviction API** (``pkg/registry/core/pod/storage/eviction.go``), :class:`EvictionAPI`,
the :class:`~shipyard.cluster.client.Evictor` behind ``Client.evict``:

- Pods that are ``Succeeded``, ``Failed``, ``Pending`` or already terminating are deleted
  without looking at budgets (``canIgnorePDB``).
- More than one budget selecting the pod: an error 500, ``This pod has more than one
  PodDisruptionBudget, which the eviction subresource does not support.``
- An unready pod is deleted without spending the budget when the policy is ``AlwaysAllow``,
  or (``IfHealthyBudget``, the default) when ``currentHealthy >= desiredHealthy > 0``.
- Otherwise, with ``disruptionsAllowed`` 0: :class:`DisruptionBudgetError` (429, ``Cannot evict
  pod as it would violate the pod's disruption budget.``, cause ``The disruption budget web
  needs 2 healthy pods and has 2 currently``). With budget left, the pod is recorded in
  ``status.disruptedPods``, ``disruptionsAllowed`` is decremented (and the condition updated
  when it reaches 0), and the pod is deleted.
- Every deletion first sets the pod condition ``DisruptionTarget=True`` (reason
  ``EvictionByEvictionAPI``, message ``Eviction API: evicting``), then deletes the pod
  gracefully (``grace_period_seconds`` or the pod's own ``terminationGracePeriodSeconds``).

Deviations: the eviction judges the budget from live state at the moment of the request
(the same computation as the controller, including ``disruptedPods``) instead of trusting a
status the controller may not have refreshed yet, so there is no "still being processed"
429; Kubernetes returns ``Retry-After: 0`` with a budget 429, Shipyard suggests
``retry_after`` (5 s, kubectl drain's pause) so that callers on a virtual clock do not spin.
The condition and the deletion are two writes (the API server does both in one update).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import controller_ref, is_ready, is_terminating, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.clock import format_time, parse_time
from shipyard.core.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    ShipyardError,
    TooManyRequestsError,
)
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

__all__ = [
    "DELETION_TIMEOUT",
    "DisruptionBudgetError",
    "DisruptionController",
    "EvictionAPI",
    "budget_pods",
    "delete_pod",
    "disruptions_allowed",
    "expected_and_desired",
    "scaled_value",
]

DELETION_TIMEOUT = 120.0
EVICTION_RETRY_AFTER = 5.0
CONDITION = "DisruptionAllowed"
SUFFICIENT = "SufficientPods"
INSUFFICIENT = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
BUDGET_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_BUDGETS = (
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
    "support."
)
_CONFLICT_RETRIES = 20


# --- the math -------------------------------------------------------------------------------


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total``."""
    if isinstance(value, bool):
        raise BadRequestError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%") or not text[:-1].isdigit():
        raise BadRequestError(
            f'invalid value for IntOrString: invalid type: string is not a percentage: "{text}"'
        )
    percent = int(text[:-1])
    scaled = percent * total
    return -(-scaled // 100) if round_up else scaled // 100


def expected_and_desired(
    spec: Mapping[str, Any], *, matching_pods: int, scale: Callable[[], int]
) -> tuple[int, int]:
    """(``expectedPods``, ``desiredHealthy``) for a budget spec; ``scale`` is asked only when
    the spec needs the controllers' scale."""
    max_unavailable = spec.get("maxUnavailable")
    min_available = spec.get("minAvailable")
    if max_unavailable is not None:
        expected = scale()
        unavailable = scaled_value(max_unavailable, expected, round_up=True)
        return expected, max(0, expected - unavailable)
    if isinstance(min_available, int) and not isinstance(min_available, bool):
        return matching_pods, min_available
    if min_available is not None:
        expected = scale()
        return expected, scaled_value(min_available, expected, round_up=True)
    return 0, 0


def disruptions_allowed(expected: int, desired: int, healthy: int) -> int:
    if expected <= 0:
        return 0
    return max(0, healthy - desired)


# --- reading the cluster --------------------------------------------------------------------


def budget_pods(client: Client, pdb: Mapping[str, Any]) -> list[Obj]:
    """The pods a budget selects (``{}`` every pod of its namespace, no selector none)."""
    selector = LabelSelector.from_dict((pdb.get("spec") or {}).get("selector"))
    if selector.match_nothing:
        return []
    namespace = str(meta(pdb).get("namespace") or "")
    return client.list(
        "v1", "Pod", namespace=namespace, label_selector=selector, copy=False
    ).items  # shared, read-only: a budget only counts them


class _NoController(ShipyardError):
    pass


def _replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _get(client: Client, api_version: str, kind: str, name: str, namespace: str) -> Obj | None:
    try:
        return client.get(api_version, kind, name, namespace=namespace, copy=False)
    except NotFoundError:
        return None


def _controller_scale(
    client: Client, ref: Mapping[str, Any], namespace: str
) -> tuple[str, int] | None:
    """(uid, replicas) of the workload that sets the pod's scale, as the finders do."""
    kind, name = ref.get("kind"), str(ref.get("name") or "")
    if ref.get("apiVersion") != "apps/v1" or kind not in ("ReplicaSet", "StatefulSet"):
        return None
    owner = _get(client, "apps/v1", str(kind), name, namespace)
    if owner is None or meta(owner).get("uid") != ref.get("uid"):
        return None
    parent = controller_ref(owner)
    if kind == "ReplicaSet" and parent is not None and parent.get("kind") == "Deployment":
        deployment = _get(client, "apps/v1", "Deployment", str(parent.get("name")), namespace)
        if deployment is None or meta(deployment).get("uid") != parent.get("uid"):
            return None
        return str(parent["uid"]), _replicas(deployment)
    return str(meta(owner).get("uid")), _replicas(owner)


def _expected_scale(client: Client, pods: Iterable[Obj], unmanaged: list[str]) -> int:
    scales: dict[str, int] = {}
    seen: set[str] = set()
    for pod in pods:
        ref = _controller_of(pod)
        if ref is None:
            unmanaged.append(str(meta(pod).get("name")))
            continue
        if str(ref.get("uid")) in seen:
            continue
        found = _controller_scale(client, ref, str(meta(pod).get("namespace") or ""))
        if found is None:
            raise _NoController(f'found no controllers for pod "{meta(pod).get("name")}"')
        seen.add(str(ref.get("uid")))
        scales[found[0]] = found[1]
    return sum(scales.values())


@dataclass
class Assessment:
    """A budget judged against live state: the status fields and what to tell users."""

    pods: list[Obj]
    expected: int = 0
    desired: int = 0
    healthy: int = 0
    allowed: int = 0
    disrupted: dict[str, str] = field(default_factory=dict)
    recheck_at: float | None = None
    unmanaged: list[str] = field(default_factory=list)
    not_deleted: list[Obj] = field(default_factory=list)
    error: str | None = None


def assess(client: Client, pdb: Mapping[str, Any], now: float) -> Assessment:
    """Compute a budget's status from the cluster as it is (shared by controller and API)."""
    pods = budget_pods(client, pdb)
    result = Assessment(pods)
    spec = pdb.get("spec") or {}
    try:
        result.expected, result.desired = expected_and_desired(
            spec,
            matching_pods=len(pods),
            scale=lambda: _expected_scale(client, pods, result.unmanaged),
        )
    except (_NoController, BadRequestError) as e:
        result.error = e.message
        return result
    recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
    disrupted = result.disrupted
    healthy = 0
    for pod in pods:  # one pass: a pod's own entry is all that decides whether it counts
        terminating, name, ready = _health(pod)
        if terminating:
            continue
        if name in recorded:
            _check_disrupted(result, pod, recorded, now)
        if ready and name not in disrupted:
            healthy += 1
    result.healthy = healthy
    result.allowed = disruptions_allowed(result.expected, result.desired, result.healthy)
    return result


def _controller_of(pod: Obj) -> Mapping[str, Any] | None:
    """``controller_ref``, once per stored pod (shared, read-only)."""
    found = _CONTROLLERS.get(pod)
    if found is None:
        found = _CONTROLLERS.put(pod, (controller_ref(pod),))
    return found[0]


# Per stored pod (shared, never changed in place): its controller reference.
_CONTROLLERS: IdentityCache[tuple[Mapping[str, Any] | None]] = IdentityCache(100_000)

# Per stored pod (shared, never changed in place): (terminating, name, ready).
_HEALTH: IdentityCache[tuple[bool, str, bool]] = IdentityCache(100_000)


def _health(pod: Obj) -> tuple[bool, str, bool]:
    found = _HEALTH.get(pod)
    if found is None:
        found = _HEALTH.put(pod, (is_terminating(pod), str(meta(pod).get("name")), is_ready(pod)))
    return found


def _check_disrupted(result: Assessment, pod: Obj, recorded: Mapping[str, str], now: float) -> None:
    name = str(meta(pod).get("name"))
    if is_terminating(pod) or name not in recorded:
        return
    expires = parse_time(recorded[name]) + DELETION_TIMEOUT
    if expires <= now:  # (Kubernetes: Before(now); at equality a virtual clock would spin)
        result.not_deleted.append(pod)
        return
    result.disrupted[name] = recorded[name]
    if result.recheck_at is None or expires < result.recheck_at:
        result.recheck_at = expires


def _allowed_condition(
    status: dict[str, Any],
    old: Mapping[str, Any] | None,
    now: float,
    *,
    allowed: bool,
    reason: str,
    message: str = "",
) -> None:
    """metav1.Condition semantics: lastTransitionTime moves only when the status changes."""
    old_cond = next(
        (c for c in (old or {}).get("conditions") or () if c.get("type") == CONDITION), None
    )
    value = "True" if allowed else "False"
    since = format_time(now)
    if old_cond is not None and old_cond.get("status") == value:
        since = str(old_cond.get("lastTransitionTime") or since)
    others = [c for c in (old or {}).get("conditions") or () if c.get("type") != CONDITION]
    status["conditions"] = [
        *others,
        {
            "type": CONDITION,
            "status": value,
            "observedGeneration": status.get("observedGeneration", 0),
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        },
    ]


def budget_status(pdb: Mapping[str, Any], judged: Assessment, now: float) -> dict[str, Any]:
    """The ``status`` the controller writes for this assessment."""
    old = pdb.get("status") or {}
    generation = int(meta(pdb).get("generation") or 0)
    if judged.error is not None:
        status = {k: v for k, v in old.items() if k != "conditions"}
        status["disruptionsAllowed"] = 0
        status.setdefault("observedGeneration", 0)
        _allowed_condition(
            status, old, now, allowed=False, reason=SYNC_FAILED, message=judged.error
        )
        return status
    status = {
        "observedGeneration": generation,
        "disruptionsAllowed": judged.allowed,
        "currentHealthy": judged.healthy,
        "desiredHealthy": judged.desired,
        "expectedPods": judged.expected,
    }
    if judged.disrupted:
        status["disruptedPods"] = dict(sorted(judged.disrupted.items()))
    allowed = judged.allowed > 0
    _allowed_condition(
        status, old, now, allowed=allowed, reason=SUFFICIENT if allowed else INSUFFICIENT
    )
    return status


# --- the controller -------------------------------------------------------------------------


class DisruptionController:
    """Keeps every PodDisruptionBudget's status current (see the module docstring)."""

    name = "cluster.disruption"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "controllermanager")
        # Budget selectors by namespace; the version moves whenever one of them changes.
        self._selectors: dict[str, dict[ObjectKey, LabelSelector]] = {}
        self._version = 0
        self._pod_budgets: dict[ObjectKey, set[ObjectKey]] = {}
        self._members: dict[ObjectKey, set[ObjectKey]] = {}
        self._facts: dict[ObjectKey, tuple[Any, ...]] = {}  # pod -> what budgets count of it
        # pod -> (its labels object, selector version, the budgets whose selector matched)
        self._matched: dict[ObjectKey, tuple[object, int, tuple[ObjectKey, ...]]] = {}

    def watches(self) -> list[Watches]:
        return [
            Watches("policy/v1", "PodDisruptionBudget", self._budget_keys),
            Watches("v1", "Pod", self._pod_keys),
        ]

    def _budget_keys(self, pdb: Obj) -> tuple[ObjectKey, ...]:
        key = key_of(pdb)
        try:
            selector = LabelSelector.from_dict((pdb.get("spec") or {}).get("selector"))
        except ShipyardError:
            selector = LabelSelector.nothing()
        known = self._selectors.setdefault(key.namespace, {})
        if known.get(key) != selector:
            known[key] = selector
            self._version += 1
        return (key,)

    def _forget_budget(self, key: ObjectKey) -> None:
        known = self._selectors.get(key.namespace)
        if known is not None and known.pop(key, None) is not None:
            self._version += 1
            if not known:
                del self._selectors[key.namespace]

    def _pod_keys(self, pod: Obj) -> list[ObjectKey]:
        pod_key = key_of(pod)
        selectors = self._selectors.get(pod_key.namespace)
        if pod_key not in self._pod_budgets and not selectors:
            # No budget can count this pod; a budget created later lists its pods itself.
            self._facts.pop(pod_key, None)
            self._matched.pop(pod_key, None)
            return []
        if not self._changed(pod_key, pod):
            return []
        labels = meta(pod).get("labels")
        found = self._matched.get(pod_key)
        if found is not None and found[0] is labels and found[1] == self._version:
            matched = found[2]  # the very same labels, the same selectors: the same budgets
        else:
            matched = tuple(
                key for key, selector in (selectors or {}).items() if selector.matches(labels or {})
            )
            self._matched[pod_key] = (labels, self._version, matched)
        return sorted(set(self._pod_budgets.get(pod_key, ())).union(matched))

    def _changed(self, pod_key: ObjectKey, pod: Obj) -> bool:
        """Whether a pod event can change a budget: what it counts changed, or the pod is gone
        (a deletion event carries the pod's last state, so existence is checked)."""
        ref = controller_ref(pod) or {}
        facts = (
            meta(pod).get("labels") or {},
            is_ready(pod),
            is_terminating(pod),
            ref.get("uid"),
        )
        if self._facts.get(pod_key) != facts:
            self._facts[pod_key] = facts
            return True
        try:
            self._client.get("v1", "Pod", pod_key.name, namespace=pod_key.namespace, copy=False)
        except NotFoundError:
            del self._facts[pod_key]
            self._matched.pop(pod_key, None)
            return True
        return False

    def reconcile(self, key: ObjectKey) -> Result | None:
        try:
            pdb = self._client.get(
                "policy/v1", "PodDisruptionBudget", key.name, namespace=key.namespace
            )
        except NotFoundError:
            self._forget_budget(key)
            self._track(key, [])
            return None
        self._budget_keys(pdb)
        now = self._client.clock.now()
        judged = assess(self._client, pdb, now)
        self._track(key, judged.pods)
        self._report(pdb, judged)
        status = budget_status(pdb, judged, now)
        if status != (pdb.get("status") or {}):
            pdb["status"] = status
            self._client.update_status(pdb)
        if judged.error is None and judged.recheck_at is not None:
            return Result(requeue_after=max(0.0, judged.recheck_at - now))
        return None

    def _report(self, pdb: Obj, judged: Assessment) -> None:
        if not judged.pods:
            self._recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        if judged.error is not None:
            self._recorder.event(
                pdb,
                WARNING,
                "CalculateExpectedPodCountFailed",
                f"Failed to calculate the number of expected pods: {judged.error}",
            )
        if judged.unmanaged:
            selector = (pdb.get("spec") or {}).get("selector")
            self._recorder.event(
                pdb,
                WARNING,
                "UnmanagedPods",
                f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found "
                "to be unmanaged. As a result, the status of the PDB cannot be calculated "
                "correctly, which may result in undefined behavior. To account for these pods "
                'please set ".spec.minAvailable" field of the PDB to an integer value.',
            )
        md = meta(pdb)
        for pod in judged.not_deleted:
            self._recorder.event(
                pod,
                WARNING,
                "NotDeleted",
                f"Pod was expected by PDB {md.get('namespace')}/{md.get('name')} to be deleted "
                "but it wasn't",
            )

    def _track(self, key: ObjectKey, pods: Iterable[Obj]) -> None:
        now = {key_of(p) for p in pods}
        before = self._members.pop(key, set())
        for pod_key in before - now:
            budgets = self._pod_budgets.get(pod_key)
            if budgets is not None:
                budgets.discard(key)
                if not budgets:
                    del self._pod_budgets[pod_key]
        for pod_key in now - before:
            self._pod_budgets.setdefault(pod_key, set()).add(key)
        if now:
            self._members[key] = now


# --- the Eviction API -----------------------------------------------------------------------


class DisruptionBudgetError(TooManyRequestsError):
    """429: the eviction would violate ``budget``; ``cause`` says by how much."""

    def __init__(self, budget: str, cause: str, retry_after: float) -> None:
        super().__init__(BUDGET_MESSAGE, retry_after=retry_after)
        self.budget = budget
        self.cause = cause


def delete_pod(
    client: Client,
    name: str,
    *,
    namespace: str,
    grace_period_seconds: int | None,
    preconditions: dict[str, Any] | None = None,
) -> Obj:
    """Delete a pod gracefully (the store's graceful-deletion contract): ``None`` uses the
    pod's ``terminationGracePeriodSeconds``, ``0`` removes it at once."""
    return client.delete(
        "v1",
        "Pod",
        name,
        namespace=namespace,
        preconditions=preconditions,
        grace_period_seconds=grace_period_seconds,
    )


def _can_ignore_budget(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or is_terminating(pod)


class EvictionAPI:
    """The ``pods/eviction`` subresource over a ``Client`` (see the module docstring)."""

    def __init__(self, client: Client, *, retry_after: float = EVICTION_RETRY_AFTER) -> None:
        self._client = client
        self._retry_after = retry_after
        # The last judgement of each budget, and the store revision and instant it holds for:
        # a drain tries every pod of a node in a row, and a refused eviction writes nothing,
        # so the next pod under the same budget finds the cluster as the last one did.
        self._judged: dict[tuple[str, str], tuple[str, float, Assessment]] = {}

    def _judge(self, pdb: Obj, now: float) -> Assessment:
        """``assess``, or the same budget's last assessment if nothing was written since."""
        store = getattr(self._client, "store", None)
        revision = str(store.resource_version) if store is not None else None
        md = meta(pdb)
        key = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        found = self._judged.get(key)
        if revision is not None and found is not None and found[:2] == (revision, now):
            return found[2]
        judged = assess(self._client, pdb, now)
        if revision is not None:
            self._judged[key] = (revision, now, judged)
        return judged

    def evict(self, name: str, *, namespace: str, grace_period_seconds: int | None) -> Obj:
        for _ in range(_CONFLICT_RETRIES):
            try:
                return self._try_evict(name, namespace, grace_period_seconds)
            except ConflictError:
                continue
        raise ConflictError(
            f'Operation cannot be fulfilled on pods "{name}": the pod or its disruption budget '
            "kept changing during the eviction; try again"
        )

    def _try_evict(self, name: str, namespace: str, grace: int | None) -> Obj:
        pod = self._client.get("v1", "Pod", name, namespace=namespace)
        if _can_ignore_budget(pod):
            return self._delete(pod, grace, guard=False)
        budgets = self._budgets_for(pod)
        if len(budgets) > 1:
            raise ShipyardError(MULTIPLE_BUDGETS)
        if not budgets:
            return self._delete(pod, grace, guard=False)
        pdb = budgets[0]
        now = self._client.clock.now()
        judged = self._judge(pdb, now)
        if not is_ready(pod) and self._unhealthy_evictable(pdb, judged):
            return self._delete(pod, grace, guard=True)
        if judged.error is not None or judged.allowed <= 0:
            cause = (
                f"The disruption budget {meta(pdb).get('name')} needs {judged.desired} healthy "
                f"pods and has {judged.healthy} currently"
            )
            raise DisruptionBudgetError(str(meta(pdb).get("name")), cause, self._retry_after)
        self._spend(pdb, judged, name, now)
        return self._delete(pod, grace, guard=False)

    @staticmethod
    def _unhealthy_evictable(pdb: Mapping[str, Any], judged: Assessment) -> bool:
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
        if policy == "AlwaysAllow":
            return True
        return judged.error is None and judged.healthy >= judged.desired > 0

    def _budgets_for(self, pod: Obj) -> list[Obj]:
        namespace = str(meta(pod).get("namespace") or "")
        labels = labels_of(pod)
        found = []
        budgets = self._client.list(
            "policy/v1", "PodDisruptionBudget", namespace=namespace, copy=False
        ).items
        for pdb in budgets:
            try:
                selector = LabelSelector.of_stored((pdb.get("spec") or {}).get("selector"))
            except ShipyardError:
                continue  # an invalid selector matches nothing
            if selector.matches(labels):
                found.append(json_copy(pdb))  # the caller writes its status
        return found

    def _spend(self, pdb: Obj, judged: Assessment, pod_name: str, now: float) -> None:
        """Record the disruption and decrement the budget (one status write)."""
        status = budget_status(pdb, judged, now)
        status["disruptionsAllowed"] = judged.allowed - 1
        disrupted = dict(status.get("disruptedPods") or {})
        disrupted[pod_name] = format_time(now)
        status["disruptedPods"] = dict(sorted(disrupted.items()))
        if judged.allowed - 1 == 0:
            _allowed_condition(status, status, now, allowed=False, reason=INSUFFICIENT)
        pdb["status"] = status
        self._client.update_status(pdb)  # carries the resourceVersion: a race is a conflict

    def _delete(self, pod: Obj, grace: int | None, *, guard: bool) -> Obj:
        """Mark the pod ``DisruptionTarget`` and delete it; with ``guard``, only if it has not
        changed since it was judged (it might have become ready)."""
        md = meta(pod)
        marked = set_condition(
            pod,
            "DisruptionTarget",
            "True",
            now=self._client.clock.now(),
            reason="EvictionByEvictionAPI",
            message="Eviction API: evicting",
        )
        if marked:
            pod = self._client.update_status(pod)
        preconditions = {"resourceVersion": meta(pod).get("resourceVersion")} if guard else None
        return delete_pod(
            self._client,
            str(md["name"]),
            namespace=str(md["namespace"]),
            grace_period_seconds=grace,
            preconditions=preconditions,
        )
