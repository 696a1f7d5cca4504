"""The DaemonSet controller: one pod on every eligible node, replaced by RollingUpdate or OnDelete.

Reproduces ``pkg/controller/daemon`` of current Kubernetes:

- **Eligibility** (``NodeShouldRunDaemonPod``): the template's ``nodeName`` (when set) must be
  the node, its ``nodeSelector`` and required node affinity must match the node's labels (and
  ``matchFields`` its name), and the pod — with the automatic tolerations below — must
  tolerate the node's ``NoSchedule`` and ``NoExecute`` taints to *start* there. A pod already
  there *keeps running* as long as the ``NoExecute`` taints are tolerated.
- **Automatic tolerations** (``AddOrUpdateDaemonPodTolerations``): ``not-ready`` and
  ``unreachable`` ``NoExecute`` without ``tolerationSeconds`` (daemon pods survive node
  problems), ``disk-pressure``, ``memory-pressure``, ``pid-pressure`` and ``unschedulable``
  ``NoSchedule`` (a cordoned node still gets its daemons), and ``network-unavailable``
  ``NoSchedule`` for host-network pods. They are part of eligibility as well as of the pods.
- **Placement**: since Kubernetes 1.12 (``ScheduleDaemonSetPods``, GA in 1.17) the controller
  does not bind pods itself. Each pod is created with its required node affinity replaced by
  one term ``matchFields: metadata.name In [<node>]`` (``ReplaceDaemonSetPodNodeNameNodeAffinity``)
  and the default scheduler binds it, so preemption and resource fit apply. A pod the
  scheduler cannot bind stays ``Pending`` and still counts as scheduled on its target node.
- **Per node** (``podsShouldBeOnNode``): create a pod where one should run and none exists (a
  terminating pod counts as existing, so a replacement waits for it); delete failed pods
  (``FailedDaemonPod``, with a per-node back-off of 1 s doubling to 15 min) and succeeded
  ones; keep only the oldest running pod (with surge: the oldest old and the oldest new
  pod until the new one is available); delete every pod from a node where it may not keep
  running. Pods are matched to a DaemonSet by its selector and controller reference.
- **RollingUpdate** (``rollingUpdate``): pods are "updated" when their
  ``controller-revision-hash`` label is the hash of the current template. Without
  ``maxSurge``, old pods are deleted while at most ``maxUnavailable`` nodes are unavailable
  (unavailable old pods are replaced at once); with ``maxSurge``, new pods are created next to
  old ones on up to ``maxSurge`` nodes and the old pod goes once the new one is available. Both
  are resolved against ``desiredNumberScheduled`` rounding up, and a zero pair means
  ``maxUnavailable: 1``. As in Kubernetes, a rolling step only runs in a reconcile in which the
  per-node pass changed nothing. ``OnDelete`` replaces a pod only once a user deletes it.
- **Status** (``updateDaemonSetStatus``): per eligible node the oldest daemon pod decides
  ``numberReady``, ``numberAvailable`` (ready for ``minReadySeconds``) and
  ``updatedNumberScheduled``; ``numberMisscheduled`` counts ineligible nodes with a pod;
  ``numberUnavailable = desired - available``. Fields Kubernetes omits when zero are omitted.
  The status is written once per reconcile, only when it changed.

Not reproduced: ControllerRevision objects (so no ``kubectl rollout history/undo``) and
``collisionCount``; adoption of orphan pods that match the selector; the
``pod-template-generation`` label. Events: ``SuccessfulCreate``/``SuccessfulDelete``
(``Created pod: <name>``), ``FailedCreate``, ``FailedDaemonPod``, ``SucceededDaemonPod``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.events import NORMAL, WARNING, EventRecorder
from shipyard.cluster.podutil import condition, controller_ref, is_available, is_ready
from shipyard.cluster.runtime import Result, Watches, owner_keys
from shipyard.core.clock import parse_time
from shipyard.core.errors import InvalidError, NotFoundError, ShipyardError
from shipyard.core.objects import Obj, ObjectKey, json_copy, key_of, labels_of, meta
from shipyard.core.requirements import pod_requirement_terms
from shipyard.core.selectors import LabelSelector
from shipyard.core.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    Taint,
    Toleration,
    taints_from_list,
    tolerations_from_list,
    untolerated,
)

__all__ = [
    "DAEMON_TOLERATIONS",
    "REVISION_HASH_LABEL",
    "DaemonSetController",
    "add_daemon_tolerations",
    "node_should_run",
    "pin_to_node",
    "target_node",
    "template_hash",
]

REVISION_HASH_LABEL = "controller-revision-hash"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE),
    ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
_NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)
_FAILED_BACKOFF_START = 1.0
_FAILED_BACKOFF_MAX = 900.0
# Kubernetes' utilrand alphabet: SafeEncodeString maps each byte onto it.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# --- pure judgement -------------------------------------------------------------------------


def template_hash(template: Mapping[str, Any]) -> str:
    """The ``controller-revision-hash`` of a pod template: FNV-1a 32 of its canonical JSON,
    rendered with Kubernetes' safe alphabet (the shape of ``controller.ComputeHash``)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(h))


def add_daemon_tolerations(spec: dict[str, Any]) -> None:
    """Add (or overwrite) the DaemonSet tolerations in a pod spec, in place."""
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork") is True:
        wanted.append(_NETWORK_UNAVAILABLE)
    tolerations: list[Any] = list(spec.get("tolerations") or [])
    for key, effect in wanted:
        new = {"key": key, "operator": "Exists", "effect": effect}
        for i, old in enumerate(tolerations):
            if _same_toleration(old, new):
                tolerations[i] = new
                break
        else:
            tolerations.append(new)
    spec["tolerations"] = tolerations


def _same_toleration(old: Any, new: Mapping[str, Any]) -> bool:
    if not isinstance(old, dict):
        return False
    return all(
        (old.get(k) or "") == (new.get(k) or "") for k in ("key", "operator", "value", "effect")
    )


def pin_to_node(affinity: Mapping[str, Any] | None, node_name: str) -> dict[str, Any]:
    """The affinity with its required node selector replaced by ``metadata.name In [node]``."""
    out: dict[str, Any] = json_copy(dict(affinity or {}))
    node_affinity = out.setdefault("nodeAffinity", {})
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    node_affinity[_REQUIRED] = {"nodeSelectorTerms": [term]}
    return out


def target_node(pod: Mapping[str, Any]) -> str | None:
    """The node a daemon pod is for: its ``nodeName``, else its ``metadata.name`` affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(_REQUIRED) or {}
    for term in required.get("nodeSelectorTerms") or ():
        for req in term.get("matchFields") or ():
            values = req.get("values") or []
            pinned = req.get("key") == "metadata.name" and req.get("operator") == "In"
            if pinned and len(values) == 1:
                return str(values[0])
    return None


def node_should_run(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, bool]:
    """(should run, should continue running) for a daemon pod spec (with the automatic
    tolerations) on ``node``: Kubernetes' ``NodeShouldRunDaemonPod``."""
    name = str(meta(node).get("name") or "")
    pinned = pod_spec.get("nodeName")
    if pinned and pinned != name:
        return False, False
    if not _fits_affinity(pod_spec, node):
        return False, False
    taints = _taints(node)
    tolerations = _tolerations(pod_spec)
    if untolerated(taints, tolerations, (NO_EXECUTE,)):
        return False, False
    return not untolerated(taints, tolerations, (NO_SCHEDULE,)), True


def _taints(node: Mapping[str, Any]) -> list[Taint]:
    try:
        return taints_from_list((node.get("spec") or {}).get("taints") or [])
    except InvalidError:
        return []


def _tolerations(spec: Mapping[str, Any]) -> list[Toleration]:
    try:
        return tolerations_from_list(spec.get("tolerations") or [])
    except InvalidError:
        return []


def _fits_affinity(spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = labels_of(node)
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(_REQUIRED)
    if required is None:
        return True
    return any(_term_matches(t, node) for t in required.get("nodeSelectorTerms") or ())


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches nothing
    name = str(meta(node).get("name") or "")
    if not all(_field_matches(req, name) for req in fields):
        return False
    if not expressions:
        return True
    probe = {"spec": {"affinity": {"nodeAffinity": {_REQUIRED: {"nodeSelectorTerms": [term]}}}}}
    try:
        terms = pod_requirement_terms(probe)
    except InvalidError:
        return False
    return any(t.satisfied_by(labels_of(node)) for t in terms)


def _field_matches(req: Mapping[str, Any], node_name: str) -> bool:
    if req.get("key") != "metadata.name":
        return False
    values = req.get("values") or []
    if req.get("operator") == "In":
        return node_name in values
    if req.get("operator") == "NotIn":
        return node_name not in values
    return False


def scaled_value(value: Any, total: int) -> int:
    """An int-or-percent against ``total``, rounding up (``GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(int(value[:-1]) * total / 100)
        except ValueError:
            return 0
    return 0


def _creation_order(pod: Mapping[str, Any]) -> tuple[bool, float, str]:
    """Kubernetes' podByCreationTimestampAndPhase: bound first, then oldest, then by name."""
    md = meta(pod)
    created = md.get("creationTimestamp")
    when = parse_time(str(created)) if created else 0.0
    return (not (pod.get("spec") or {}).get("nodeName"), when, str(md.get("name") or ""))


# --- the controller -------------------------------------------------------------------------


@dataclass
class _Node:
    """One node as a reconcile sees it: eligibility and the DaemonSet's pods aimed at it."""

    name: str
    should_run: bool
    should_continue: bool
    pods: list[Obj] = field(default_factory=list)

    def live_pods(self) -> list[Obj]:
        return [p for p in self.pods if not meta(p).get("deletionTimestamp")]


@dataclass
class _Actions:
    create: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    requeue: float | None = None

    def later(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def __bool__(self) -> bool:
        return bool(self.create or self.delete)


@dataclass
class _Backoff:
    delay: float
    last: float


class DaemonSetController:
    """Runs one pod per eligible node for every DaemonSet (see the module docstring)."""

    name = "cluster.daemonset"

    def __init__(self, client: Client, *, recorder: EventRecorder | None = None) -> None:
        self._client = client
        self._recorder = recorder or EventRecorder(client, "daemonset-controller")
        self._nodes: dict[str, tuple[Any, ...] | None] = {}
        self._failed_backoff: dict[tuple[str, str], _Backoff] = {}

    def watches(self) -> list[Watches]:
        return [
            Watches("apps/v1", "DaemonSet"),
            Watches("v1", "Pod", owner_keys("apps/v1", "DaemonSet")),
            Watches("v1", "Node", self._node_changed),
        ]

    # -- watches ----------------------------------------------------------------------------

    def _node_changed(self, node: Obj) -> list[ObjectKey]:
        """Every DaemonSet, when a node appears, goes, or changes labels or taints (the
        ``shouldIgnoreNodeUpdate`` filter: heartbeats alone do not wake the controller)."""
        name = str(meta(node).get("name") or "")
        try:
            current: Obj | None = self._client.get("v1", "Node", name, copy=False)
        except NotFoundError:
            current = None
        fingerprint = None if current is None else _node_fingerprint(current)
        if name in self._nodes and self._nodes[name] == fingerprint:
            return []
        self._nodes[name] = fingerprint
        return [key_of(ds) for ds in self._client.list("apps/v1", "DaemonSet").items]

    # -- reconcile --------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        ds = self._client.get("apps/v1", "DaemonSet", key.name, namespace=key.namespace)
        if meta(ds).get("deletionTimestamp"):
            return None
        template = (ds.get("spec") or {}).get("template") or {}
        hash_ = template_hash(template)
        nodes = self._observe(ds)
        actions = self._manage(ds, nodes, hash_)
        if not actions and _is_rolling(ds):
            actions.create, actions.delete = _rolling_update(ds, nodes, hash_, self._now())
        if actions:
            self._execute(ds, actions, hash_)
            nodes = self._observe(ds)
        status, available_in = _status(ds, nodes, hash_, self._now())
        if available_in is not None:
            actions.later(available_in)
        if status != ds.get("status"):
            ds["status"] = status
            self._client.update_status(ds)
        return Result(requeue_after=actions.requeue) if actions.requeue is not None else None

    def _now(self) -> float:
        return self._client.clock.now()

    def _observe(self, ds: Obj) -> list[_Node]:
        """Every node with its eligibility and the DaemonSet's pods targeting it."""
        spec = _daemon_pod_spec(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in self._daemon_pods(ds):
            if meta(pod).get("deletionTimestamp") and _terminal(pod):
                continue  # already on its way out; nothing left for the controller to do
            node_name = target_node(pod)
            if node_name is not None:
                by_node.setdefault(node_name, []).append(pod)
        nodes = []
        for node in sorted(self._client.list("v1", "Node").items, key=lambda n: meta(n)["name"]):
            name = str(meta(node)["name"])
            run, keep = node_should_run(spec, node)
            pods = sorted(by_node.get(name, []), key=_creation_order)
            nodes.append(_Node(name, run, keep, pods))
        return nodes

    def _daemon_pods(self, ds: Obj) -> list[Obj]:
        md = meta(ds)
        try:
            selector = LabelSelector.from_dict((ds.get("spec") or {}).get("selector"))
        except InvalidError:
            return []
        if selector.is_empty():
            return []  # an empty selector would claim every pod; validation forbids it
        pods = self._client.list("v1", "Pod", namespace=md["namespace"], label_selector=selector)
        return [p for p in pods.items if (controller_ref(p) or {}).get("uid") == md.get("uid")]

    def _manage(self, ds: Obj, nodes: list[_Node], hash_: str) -> _Actions:
        actions = _Actions()
        surge = _allows_surge(ds)
        for node in nodes:
            if node.should_run and not node.pods:
                actions.create.append(node.name)
            elif node.should_continue:
                self._prune(ds, node, hash_, surge, actions)
            elif node.pods:
                actions.delete.extend(node.live_pods())
        return actions

    def _prune(self, ds: Obj, node: _Node, hash_: str, surge: bool, actions: _Actions) -> None:
        """Failed and succeeded pods go; of the running ones, only the right one or two stay."""
        running = []
        for pod in node.live_pods():
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Failed":
                self._delete_failed(ds, node.name, pod, actions)
            elif phase == "Succeeded":
                name = f"{meta(pod)['namespace']}/{meta(pod)['name']}"
                message = f"Found succeeded daemon pod {name} on node {node.name}, "
                self._recorder.event(
                    ds, NORMAL, "SucceededDaemonPod", message + "will try to delete it"
                )
                actions.delete.append(pod)
            else:
                running.append(pod)
        if surge:
            actions.delete.extend(_surplus_with_surge(running, hash_, ds, self._now()))
        else:
            actions.delete.extend(running[1:])

    def _delete_failed(self, ds: Obj, node_name: str, pod: Obj, actions: _Actions) -> None:
        key = (str(meta(ds).get("uid")), node_name)
        now = self._now()
        backoff = self._failed_backoff.get(key)
        if backoff is not None and now - backoff.last < backoff.delay:
            actions.later(backoff.last + backoff.delay - now)
            return
        if backoff is None or now - backoff.last > 2 * _FAILED_BACKOFF_MAX:
            delay = _FAILED_BACKOFF_START
        else:
            delay = min(backoff.delay * 2, _FAILED_BACKOFF_MAX)
        self._failed_backoff[key] = _Backoff(delay, now)
        name = f"{meta(pod)['namespace']}/{meta(pod)['name']}"
        self._recorder.event(
            ds,
            WARNING,
            "FailedDaemonPod",
            f"Found failed daemon pod {name} on node {node_name}, will try to kill it",
        )
        actions.delete.append(pod)

    def _execute(self, ds: Obj, actions: _Actions, hash_: str) -> None:
        for pod in actions.delete:
            self._delete(ds, pod)
        for node_name in actions.create:
            self._create(ds, node_name, hash_)

    def _create(self, ds: Obj, node_name: str, hash_: str) -> None:
        try:
            pod = self._client.create(_new_pod(ds, node_name, hash_))
        except ShipyardError as e:
            self._recorder.event(ds, WARNING, "FailedCreate", f"Error creating: {e.message}")
            raise
        self._recorder.event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")

    def _delete(self, ds: Obj, pod: Obj) -> None:
        md = meta(pod)
        try:
            self._client.delete("v1", "Pod", md["name"], namespace=md["namespace"])
        except NotFoundError:
            return
        except ShipyardError as e:
            self._recorder.event(ds, WARNING, "FailedDelete", f"Error deleting: {e.message}")
            raise
        self._recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")


def _node_fingerprint(node: Obj) -> tuple[Any, ...]:
    spec = node.get("spec") or {}
    return (
        json.dumps(labels_of(node), sort_keys=True),
        json.dumps(spec.get("taints") or [], sort_keys=True),
        bool(spec.get("unschedulable")),
    )


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _daemon_pod_spec(ds: Obj) -> dict[str, Any]:
    spec: dict[str, Any] = json_copy(((ds.get("spec") or {}).get("template") or {}).get("spec"))
    add_daemon_tolerations(spec)
    return spec


def _new_pod(ds: Obj, node_name: str, hash_: str) -> Obj:
    md = meta(ds)
    template = (ds.get("spec") or {}).get("template") or {}
    template_md = template.get("metadata") or {}
    spec = _daemon_pod_spec(ds)
    spec["affinity"] = pin_to_node(spec.get("affinity"), node_name)
    pod_md: dict[str, Any] = {
        "generateName": f"{md['name']}-",
        "namespace": md["namespace"],
        "labels": {**(template_md.get("labels") or {}), REVISION_HASH_LABEL: hash_},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "name": md["name"],
                "uid": md["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template_md.get("annotations"):
        pod_md["annotations"] = dict(template_md["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_md, "spec": spec}


# --- rolling update -------------------------------------------------------------------------


def _strategy(ds: Obj) -> dict[str, Any]:
    return dict((ds.get("spec") or {}).get("updateStrategy") or {})


def _is_rolling(ds: Obj) -> bool:
    return bool(_strategy(ds).get("type", "RollingUpdate") == "RollingUpdate")


def _rolling_params(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) against the desired count (``updatedDesiredNodeCounts``)."""
    rolling = (_strategy(ds).get("rollingUpdate") or {}) if _is_rolling(ds) else {}
    surge = scaled_value(rolling.get("maxSurge", 0), desired)
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _allows_surge(ds: Obj) -> bool:
    return _rolling_params(ds, 1)[0] > 0


def _is_updated(pod: Obj, hash_: str) -> bool:
    return labels_of(pod).get(REVISION_HASH_LABEL) == hash_


def _min_ready(ds: Obj) -> float:
    return float((ds.get("spec") or {}).get("minReadySeconds") or 0)


def _split(node: _Node, hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """(new pod, old pod, ok) on a node; not ok with two of a kind (``findUpdatedPodsOnNode``)."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in node.live_pods():
        if _is_updated(pod, hash_):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def _surplus_with_surge(running: list[Obj], hash_: str, ds: Obj, now: float) -> list[Obj]:
    """With surge, keep the oldest new pod, and the oldest old one while the new one is not
    available yet (unless the old one is not ready either)."""
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    surplus = []
    for pod in running:
        if _is_updated(pod, hash_) and oldest_new is None:
            oldest_new = pod
        elif not _is_updated(pod, hash_) and oldest_old is None:
            oldest_old = pod
        else:
            surplus.append(pod)
    if oldest_new is None or oldest_old is None:
        return surplus
    if not is_ready(oldest_old) or is_available(oldest_new, _min_ready(ds), now):
        surplus.append(oldest_old)
    return surplus


def _rolling_update(
    ds: Obj, nodes: list[_Node], hash_: str, now: float
) -> tuple[list[str], list[Obj]]:
    """(nodes to create a new pod on, old pods to delete) for one rolling step."""
    desired = sum(1 for n in nodes if n.should_run)
    surge, unavailable = _rolling_params(ds, desired)
    considered = [n for n in nodes if n.should_run or n.pods]
    if surge == 0:
        return [], _replace_in_place(ds, considered, hash_, unavailable, now)
    return _replace_with_surge(ds, considered, hash_, surge, now)


def _replace_in_place(
    ds: Obj, nodes: list[_Node], hash_: str, max_unavailable: int, now: float
) -> list[Obj]:
    min_ready = _min_ready(ds)
    unavailable = 0
    replace_now: list[Obj] = []
    candidates: list[Obj] = []
    for node in nodes:
        new, old, ok = _split(node, hash_)
        if not ok or (new is None) == (old is None):
            unavailable += 1  # the per-node pass sorts these out; count them as unavailable
        elif new is not None:
            unavailable += 0 if is_available(new, min_ready, now) else 1
        elif old is not None and not is_available(old, min_ready, now):
            replace_now.append(old)
        elif old is not None and unavailable < max_unavailable:
            candidates.append(old)
    room = max(0, min(max_unavailable - unavailable, len(candidates)))
    return replace_now + candidates[:room]


def _replace_with_surge(
    ds: Obj, nodes: list[_Node], hash_: str, max_surge: int, now: float
) -> tuple[list[str], list[Obj]]:
    min_ready = _min_ready(ds)
    surged = 0
    create_now: list[str] = []
    candidates: list[str] = []
    delete: list[Obj] = []
    for node in nodes:
        new, old, ok = _split(node, hash_)
        if not ok:
            surged += 1
        elif old is None:
            continue  # nothing old here: the per-node pass creates what is missing
        elif new is None and not is_available(old, min_ready, now):
            create_now.append(node.name)
        elif new is None and surged < max_surge:
            candidates.append(node.name)
        elif new is not None and not is_available(new, min_ready, now):
            surged += 1
        elif new is not None:
            delete.append(old)
    room = max(0, min(max_surge - surged, len(candidates)))
    return create_now + candidates[:room], delete


# --- status ---------------------------------------------------------------------------------


def _status(ds: Obj, nodes: list[_Node], hash_: str, now: float) -> tuple[Obj, float | None]:
    """The DaemonSet status, and when a ready pod becomes available (for a requeue)."""
    min_ready = _min_ready(ds)
    counts = dict.fromkeys(
        ("desired", "current", "misscheduled", "ready", "available", "updated"), 0
    )
    available_in: float | None = None
    for node in nodes:
        if not node.should_run:
            counts["misscheduled"] += 1 if node.pods else 0
            continue
        counts["desired"] += 1
        if not node.pods:
            continue
        counts["current"] += 1
        pod = node.pods[0]
        if is_ready(pod):
            counts["ready"] += 1
            if is_available(pod, min_ready, now):
                counts["available"] += 1
            else:
                available_in = _soonest(available_in, _available_after(pod, min_ready, now))
        counts["updated"] += 1 if _is_updated(pod, hash_) else 0
    status: Obj = {
        k: v for k, v in (ds.get("status") or {}).items() if k in ("collisionCount", "conditions")
    }
    status.update(
        currentNumberScheduled=counts["current"],
        numberMisscheduled=counts["misscheduled"],
        desiredNumberScheduled=counts["desired"],
        numberReady=counts["ready"],
        observedGeneration=meta(ds).get("generation"),
        updatedNumberScheduled=counts["updated"],
        numberAvailable=counts["available"],
        numberUnavailable=counts["desired"] - counts["available"],
    )
    omit_when_zero = ("updatedNumberScheduled", "numberAvailable", "numberUnavailable")
    return {k: v for k, v in status.items() if not (k in omit_when_zero and not v)}, available_in


def _available_after(pod: Obj, min_ready: float, now: float) -> float:
    since = (condition(pod, "Ready") or {}).get("lastTransitionTime")
    return max(0.0, parse_time(str(since)) + min_ready - now) if since else min_ready


def _soonest(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)
