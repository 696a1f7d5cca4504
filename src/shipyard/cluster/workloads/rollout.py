"""Rollouts: the arithmetic, the status judgement, revisions, and the ``kubectl rollout`` verbs.

This is Kubernetes' ``pkg/controller/deployment/util`` (pure functions the Deployment
controller decides with) plus kubectl's client side of ``rollout history|undo|status``.

**Arithmetic.** ``maxSurge`` and ``maxUnavailable`` are a number of pods or a percentage of
``spec.replicas``; surge rounds up, unavailability down, and when both come to 0
``maxUnavailable`` is 1 (:func:`resolve_fenceposts`). The new ReplicaSet may grow to
``replicas + maxSurge`` pods in total (:func:`new_rs_replicas`). Scaling a Deployment in the
middle of a rollout shares the change proportionally (:func:`replica_set_proportion`:
``round(size * newMax / oldMax) - size``, ``oldMax`` from the ReplicaSet's ``max-replicas``
annotation). The ``pod-template-hash`` is FNV-32a over the template and the collision count,
rendered with the API server's ``SafeEncodeString`` (:func:`pod_template_hash`).

**Status.** :func:`calculate_status` adds the ReplicaSets' counts up and sets ``Available``;
:func:`deployment_complete`, :func:`deployment_progressing` and :func:`deployment_timed_out`
are the judgements behind the ``Progressing`` condition; :func:`set_condition` is
``SetDeploymentCondition`` (same status and reason is no change, the transition time moves
only with the status).

**Revisions.** A Deployment's history is its ReplicaSets: each carries the pod template of one
rollout and ``deployment.kubernetes.io/revision`` (the Deployment carries its current one).
When a rollout returns to an older template (``undo``), that ReplicaSet gets the next revision
number and keeps the numbers it had before in ``deployment.kubernetes.io/revision-history``
("1,3", at most 2000 characters); the history therefore lists every ReplicaSet once, at its
latest revision. The Deployment's annotations (``kubernetes.io/change-cause`` …) are copied to
the ReplicaSet of each rollout (:func:`set_new_rs_annotations`).

**kubectl** (``pkg/polymorphichelpers``), with its texts:

- :func:`rollout_history` lists ``(revision, change-cause, template)`` by revision, as
  ``kubectl rollout history`` does (:func:`history_table` prints its table).
- :func:`rollout_undo` copies the template of the previous revision (or ``to_revision``),
  without its ``pod-template-hash`` label, back into the Deployment together with the
  ReplicaSet's annotations, in one JSON patch — ``rolled back``, or ``skipped rollback
  (current template already matches revision N)``. A paused Deployment cannot be rolled
  back.
- :func:`rollout_status` reads the Deployment's status the way ``kubectl rollout status``
  does and returns ``(done, message)``; a rollout that exceeded its progress deadline is a
  :class:`RolloutError` (kubectl exits with ``error: deployment "web" exceeded its progress
  deadline``). Messages are kubectl's without the trailing newline.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from shipyard.cluster.client import Client
from shipyard.cluster.podutil import condition, controller_ref
from shipyard.core.clock import format_time, parse_time
from shipyard.core.errors import PermanentError
from shipyard.core.objects import Obj, json_copy, meta
from shipyard.core.selectors import LabelSelector
from shipyard.store.validation.schema import memo_key

__all__ = [
    "ANNOTATIONS_TO_SKIP",
    "AVAILABLE",
    "CHANGE_CAUSE_ANNOTATION",
    "DESIRED_REPLICAS_ANNOTATION",
    "FAILED_RS_CREATE_REASON",
    "FOUND_NEW_RS_REASON",
    "MAX_REPLICAS_ANNOTATION",
    "MIN_AVAILABLE_REASON",
    "MIN_UNAVAILABLE_REASON",
    "NEW_RS_AVAILABLE_REASON",
    "NEW_RS_REASON",
    "PAUSED_REASON",
    "POD_TEMPLATE_HASH_LABEL",
    "PROGRESSING",
    "REPLICA_FAILURE",
    "RESUMED_REASON",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "RS_UPDATED_REASON",
    "TIMED_OUT_REASON",
    "RolloutError",
    "RolloutRevision",
    "active_replica_sets",
    "by_creation",
    "calculate_status",
    "controlled_replica_sets",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "equal_ignore_hash",
    "field_count",
    "fnv32a",
    "get_condition",
    "history_table",
    "int_annotation",
    "max_surge",
    "max_unavailable",
    "new_condition",
    "new_rs_replicas",
    "pod_template_hash",
    "progress_deadline",
    "remove_condition",
    "replica_set_proportion",
    "replicas_annotations_differ",
    "resolve_fenceposts",
    "revision_of",
    "rolling_update",
    "rollout_history",
    "rollout_status",
    "rollout_undo",
    "safe_encode",
    "scaled_value",
    "set_condition",
    "set_new_rs_annotations",
    "set_replicas_annotations",
    "spec_replicas",
    "status_count",
    "status_message",
    "without_hash",
]

APPS = "apps/v1"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
# Annotations that belong to one object and are never copied between Deployment and RS.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_REVISION_HISTORY_CHARS = 2000
_NO_DEADLINE = 2**31 - 1
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


class RolloutError(PermanentError):
    """A rollout verb cannot do what was asked; the message says why (kubectl's text)."""

    reason = "BadRequest"
    code = 400


class RolloutRevision(NamedTuple):
    """One line of ``kubectl rollout history``: the revision, its change cause, its template."""

    revision: int
    change_cause: str | None
    template: Obj


# --- the arithmetic (pure) -----------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """``GetScaledValueFromIntOrPercent``: an int, or a percentage of ``total``, rounded."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.endswith("%"):
        percent = int(value[:-1])
        return -(-percent * total // 100) if round_up else percent * total // 100
    raise ValueError(f"invalid value for IntOrString: {value!r} is not an integer or percentage")


def resolve_fenceposts(
    surge: int | str | None, unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers of pods; both 0 makes maxUnavailable 1."""
    max_surge_pods = scaled_value(surge, desired, round_up=True)
    max_unavailable_pods = scaled_value(unavailable, desired, round_up=False)
    if max_surge_pods == 0 and max_unavailable_pods == 0:
        max_unavailable_pods = 1
    return max_surge_pods, max_unavailable_pods


def rolling_update(d: Mapping[str, Any]) -> dict[str, Any] | None:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else {"maxSurge": "25%", "maxUnavailable": "25%"}


def max_surge(d: Mapping[str, Any]) -> int:
    rolling = rolling_update(d)
    if rolling is None:
        return 0
    return resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), spec_replicas(d)
    )[0]


def max_unavailable(d: Mapping[str, Any]) -> int:
    rolling = rolling_update(d)
    if rolling is None or spec_replicas(d) == 0:
        return 0
    unavailable = resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), spec_replicas(d)
    )[1]
    return min(unavailable, spec_replicas(d))


def fnv32a(data: bytes, h: int = _FNV_OFFSET) -> int:
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """The API server's ``rand.SafeEncodeString``: no vowels, no look-alike characters."""
    return "".join(HASH_ALPHABET[ord(c) % len(HASH_ALPHABET)] for c in text)


def pod_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a template (``controller.ComputeHash``)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = fnv32a(canonical.encode())
    if collision_count is not None:
        h = fnv32a(struct.pack("<Q", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))


def new_rs_replicas(d: Mapping[str, Any], all_rs: Iterable[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now (``NewRSNewReplicas``)."""
    if rolling_update(d) is None:
        return spec_replicas(d)
    rolling = rolling_update(d) or {}
    surge = scaled_value(rolling.get("maxSurge"), spec_replicas(d), round_up=True)
    current = sum(spec_replicas(rs) for rs in all_rs if rs is not None)
    max_total = spec_replicas(d) + surge
    if current >= max_total:
        return spec_replicas(new_rs)
    return spec_replicas(new_rs) + min(
        max_total - current, spec_replicas(d) - spec_replicas(new_rs)
    )


def replica_set_proportion(
    rs: Mapping[str, Any], d: Mapping[str, Any], to_add: int, added: int
) -> int:
    """This ReplicaSet's share of ``to_add`` (``GetReplicaSetProportion``)."""
    if spec_replicas(rs) == 0 or to_add in (0, added):
        return 0
    fraction = _replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _replica_set_fraction(rs: Mapping[str, Any], d: Mapping[str, Any]) -> int:
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    new_max = spec_replicas(d) + max_surge(d)
    old_max = int_annotation(rs, MAX_REPLICAS_ANNOTATION) or status_count(d, "replicas")
    if old_max == 0:
        return 0
    # round(size * new_max / old_max), halves away from zero, in exact integers
    return (2 * spec_replicas(rs) * new_max + old_max) // (2 * old_max) - spec_replicas(rs)


def calculate_status(
    all_rs: Iterable[Obj | None], new_rs: Obj | None, d: Mapping[str, Any], now: float
) -> Obj:
    """The Deployment status its ReplicaSets add up to, with ``Available`` set."""
    replica_sets = [rs for rs in all_rs if rs is not None]
    available = sum(status_count(rs, "availableReplicas") for rs in replica_sets)
    desired = sum(spec_replicas(rs) for rs in replica_sets)
    current = d.get("status") or {}
    status: Obj = {
        "observedGeneration": int(meta(d).get("generation") or 0),
        "replicas": sum(status_count(rs, "replicas") for rs in replica_sets),
        "updatedReplicas": status_count(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in replica_sets),
        "availableReplicas": available,
        "unavailableReplicas": max(desired - available, 0),
        "conditions": json_copy(current.get("conditions") or []),
    }
    if current.get("collisionCount") is not None:
        status["collisionCount"] = current["collisionCount"]
    if available >= spec_replicas(d) - max_unavailable(d):
        cond = new_condition(
            AVAILABLE, "True", MIN_AVAILABLE_REASON, "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            AVAILABLE,
            "False",
            MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, cond)
    return status


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = spec_replicas(d)
    return (
        field_count(status, "updatedReplicas") == want
        and field_count(status, "replicas") == want
        and field_count(status, "availableReplicas") == want
        and field_count(status, "observedGeneration") >= int(meta(d).get("generation") or 0)
    )


def deployment_progressing(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}
    old_pending = field_count(old, "replicas") - field_count(old, "updatedReplicas")
    new_pending = field_count(status, "replicas") - field_count(status, "updatedReplicas")
    return (
        field_count(status, "updatedReplicas") > field_count(old, "updatedReplicas")
        or new_pending < old_pending
        or field_count(status, "readyReplicas") > field_count(old, "readyReplicas")
        or field_count(status, "availableReplicas") > field_count(old, "availableReplicas")
    )


def deployment_timed_out(d: Mapping[str, Any], status: Mapping[str, Any], now: float) -> bool:
    deadline = progress_deadline(d)
    cond = get_condition(status, PROGRESSING)
    if deadline is None or cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    return parse_time(str(cond["lastUpdateTime"])) + deadline < now


# --- conditions ----------------------------------------------------------------------------------


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    at = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": at,
        "lastTransitionTime": at,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Mapping[str, Any], type_: str) -> Obj | None:
    for cond in status.get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """``SetDeploymentCondition``: same status and reason is no change; the transition time
    moves only when the status does; the condition goes to the end of the list."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"]:
        if current.get("reason") == cond["reason"]:
            return
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != type_]


# --- small readers -------------------------------------------------------------------------------


def spec_replicas(obj: Mapping[str, Any] | None) -> int:
    """``spec.replicas`` (defaulted to 1 by the API server)."""
    if obj is None:
        return 0
    return int((obj.get("spec") or {}).get("replicas", 1))


def status_count(obj: Mapping[str, Any] | None, field: str) -> int:
    return field_count((obj or {}).get("status") or {}, field)


def field_count(status: Mapping[str, Any], field: str) -> int:
    return int(status.get(field) or 0)


def int_annotation(obj: Mapping[str, Any], key: str) -> int | None:
    value = (meta(obj).get("annotations") or {}).get(key)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def progress_deadline(d: Mapping[str, Any]) -> int | None:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return None if deadline is None or deadline == _NO_DEADLINE else int(deadline)


def by_creation(rs: Mapping[str, Any]) -> tuple[str, str]:
    md = meta(rs)
    return str(md.get("creationTimestamp") or ""), str(md.get("name") or "")


def active_replica_sets(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


# --- ReplicaSet annotations ----------------------------------------------------------------------


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    annotations = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in (
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max_replicas),
    ):
        if annotations.get(key) != str(value):
            annotations[key] = str(value)
            changed = True
    return changed


def replicas_annotations_differ(rs: Obj, desired: int, max_replicas: int) -> bool:
    annotations = meta(rs).get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or annotations.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(max_replicas)


def set_new_rs_annotations(
    d: Mapping[str, Any], rs: Obj, new_revision: int, *, exists: bool
) -> bool:
    """Copy the Deployment's annotations, raise the revision (remembering the old one in the
    revision history) and, for a ReplicaSet about to be created, the replica annotations."""
    annotations = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in (meta(d).get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP and annotations.get(key, "") != value:
            annotations[key] = value
            changed = True
    old_text = annotations.get(REVISION_ANNOTATION)
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old_text is not None:
            _append_revision_history(annotations, old_text)
    if not exists and set_replicas_annotations(
        rs, spec_replicas(d), spec_replicas(d) + max_surge(d)
    ):
        changed = True
    return changed


def _append_revision_history(annotations: dict[str, Any], old: str) -> None:
    history = str(annotations.get(REVISION_HISTORY_ANNOTATION) or "")
    if not history:
        annotations[REVISION_HISTORY_ANNOTATION] = old
        return
    revisions = history.split(",")
    total, start = len(history) + len(old) + 1, 0
    while total > MAX_REVISION_HISTORY_CHARS and start < len(revisions):
        total -= len(revisions[start]) + 1
        start += 1
    if total <= MAX_REVISION_HISTORY_CHARS:
        annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*revisions[start:], old])


# --- revisions -----------------------------------------------------------------------------------


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """The revision annotation as a number: 0 when absent, None when it is not a number."""
    value = (meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(str(value))
    except ValueError:
        return None


def without_hash(template: Mapping[str, Any]) -> Obj:
    """A copy of a pod template without the ``pod-template-hash`` label."""
    out: Obj = json_copy(dict(template))
    md = out.get("metadata")
    if isinstance(md, dict) and isinstance(md.get("labels"), dict):
        md["labels"].pop(POD_TEMPLATE_HASH_LABEL, None)
        if not md["labels"]:
            del md["labels"]
    return out


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two pod templates are the same but for ``pod-template-hash`` (``EqualIgnoreHash``);
    empty and missing maps count as equal, as in Kubernetes' semantic equality."""
    return bool(_normalized(a) == _normalized(b))


# A Deployment compares its template with every ReplicaSet's on each sync: the normal forms
# are remembered by the templates' bytes (``memo_key``), bounded.
_NORMALIZED: dict[bytes, Any] = {}
_NORMALIZED_MAX = 8192


def _normalized(template: Mapping[str, Any]) -> Any:
    key = memo_key(template)
    if key is None:
        return _semantic(without_hash(template))
    found = _NORMALIZED.get(key)
    if found is None:
        if len(_NORMALIZED) >= _NORMALIZED_MAX:
            _NORMALIZED.clear()
        found = _NORMALIZED[key] = _semantic(without_hash(template))
    return found


def _semantic(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def controlled_replica_sets(client: Client, deployment: Mapping[str, Any]) -> list[Obj]:
    """The ReplicaSets the Deployment selects and controls (kubectl's ``GetAllReplicaSets``)."""
    md = meta(deployment)
    selector = LabelSelector.from_dict((deployment.get("spec") or {}).get("selector"))
    return [
        rs
        for rs in client.list(APPS, "ReplicaSet", namespace=str(md.get("namespace") or ""))
        if (controller_ref(rs) or {}).get("uid") == md.get("uid")
        and selector.matches(meta(rs).get("labels") or {})
    ]


# --- kubectl rollout history ---------------------------------------------------------------------


def rollout_history(client: Client, namespace: str, name: str) -> list[RolloutRevision]:
    """Every revision of the Deployment, oldest first."""
    deployment = client.get(APPS, "Deployment", name, namespace=namespace)
    history: dict[int, RolloutRevision] = {}
    for rs in controlled_replica_sets(client, deployment):
        revision = revision_of(rs)
        if revision is None:
            continue
        template: Obj = json_copy((rs.get("spec") or {}).get("template") or {})
        cause = (meta(rs).get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION) or None
        if cause is not None:
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                CHANGE_CAUSE_ANNOTATION
            ] = cause
        history[revision] = RolloutRevision(revision, cause, template)
    return [history[r] for r in sorted(history)]


def history_table(entries: Iterable[RolloutRevision]) -> str:
    """The ``REVISION  CHANGE-CAUSE`` table kubectl prints (columns padded by two)."""
    rows = [("REVISION", "CHANGE-CAUSE")]
    rows += [(str(e.revision), e.change_cause or "<none>") for e in entries]
    width = max(len(r[0]) for r in rows) + 2
    return "\n".join(f"{rev.ljust(width)}{cause}" for rev, cause in rows) + "\n"


# --- kubectl rollout undo ------------------------------------------------------------------------


def rollout_undo(client: Client, namespace: str, name: str, to_revision: int = 0) -> str:
    """Roll the Deployment back to ``to_revision`` (0: the previous one); kubectl's message."""
    deployment = client.get(APPS, "Deployment", name, namespace=namespace)
    if (deployment.get("spec") or {}).get("paused"):
        raise RolloutError(
            "you cannot rollback a paused deployment; resume it first with "
            "'kubectl rollout resume' and try again"
        )
    rs = _replica_set_for_revision(client, deployment, to_revision)
    template = (rs.get("spec") or {}).get("template") or {}
    if equal_ignore_hash(template, (deployment.get("spec") or {}).get("template") or {}):
        return f"skipped rollback (current template already matches revision {to_revision})"
    current = meta(deployment).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in ANNOTATIONS_TO_SKIP}
    for key, value in (meta(rs).get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    patch = [
        {"op": "replace", "path": "/spec/template", "value": without_hash(template)},
        # kubectl says "replace"; "add" does the same and also works without annotations
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]
    client.patch(APPS, "Deployment", name, patch, namespace=namespace, patch_type="json")
    return "rolled back"


def _replica_set_for_revision(client: Client, deployment: Obj, to_revision: int) -> Obj:
    """kubectl's ``rsForRevision``: that revision, or the second newest when it is 0."""
    by_revision: dict[int, Obj] = {}
    for rs in controlled_replica_sets(client, deployment):
        revision = revision_of(rs)
        if revision is not None:
            by_revision[revision] = rs
    if to_revision > 0:
        if to_revision not in by_revision:
            raise RolloutError(f"unable to find specified revision {to_revision} in history")
        return by_revision[to_revision]
    newest_first = sorted(by_revision, reverse=True)
    if len(newest_first) < 2:
        name = meta(deployment).get("name")
        raise RolloutError(f'no rollout history found for deployment "{name}"')
    return by_revision[newest_first[1]]


# --- kubectl rollout status ----------------------------------------------------------------------


def rollout_status(
    client: Client, namespace: str, name: str, revision: int = 0
) -> tuple[bool, str]:
    """``kubectl rollout status deployment/NAME`` once: whether it is done, and what to say."""
    return status_message(client.get(APPS, "Deployment", name, namespace=namespace), revision)


def status_message(deployment: Mapping[str, Any], revision: int = 0) -> tuple[bool, str]:
    """kubectl's ``DeploymentStatusViewer``; RolloutError when the rollout cannot finish."""
    name = meta(deployment).get("name", "")
    if revision > 0:
        current = revision_of(deployment)
        if current is None:
            raise RolloutError(f'cannot get the revision of deployment "{name}"')
        if current != revision:
            raise RolloutError(
                f"desired revision ({revision}) is different from the running revision ({current})"
            )
    status = deployment.get("status") or {}
    generation = int(meta(deployment).get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return False, "Waiting for deployment spec update to be observed..."
    progressing = condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == TIMED_OUT_REASON:
        raise RolloutError(f'deployment "{name}" exceeded its progress deadline')
    desired = (deployment.get("spec") or {}).get("replicas")
    replicas, updated, available = (
        int(status.get(f) or 0) for f in ("replicas", "updatedReplicas", "availableReplicas")
    )
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if desired is not None and updated < int(desired):
        return False, f"{waiting}{updated} out of {desired} new replicas have been updated..."
    if replicas > updated:
        return False, f"{waiting}{replicas - updated} old replicas are pending termination..."
    if available < updated:
        return False, f"{waiting}{available} of {updated} updated replicas are available..."
    return True, f'deployment "{name}" successfully rolled out'
