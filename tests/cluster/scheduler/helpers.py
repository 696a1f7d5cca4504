"""Builders and runners for scheduler tests: compact node/pod specs, snapshots, one cycle.

Table fixtures (``data/*.yaml``) describe nodes and pods compactly::

    nodes:
      - {name: n1, cpu: "2", labels: {zone: a}, taints: [{key: k, value: v, effect: NoSchedule}]}
    pods:          # existing pods; ``node`` binds them
      - {name: p1, node: n1, cpu: "1", labels: {app: web}}
    pod: {cpu: "1", spec: {tolerations: [...]}}   # the incoming pod

Node keys: ``name``, ``cpu``, ``memory``, ``pods``, ``labels``, ``taints``, ``unschedulable``,
``ready`` (``"False"``/``"Unknown"`` adds that Ready condition), ``allocatable`` (extra
resources). Pod keys: ``name``, ``namespace``, ``node``, ``cpu``, ``memory``, ``requests``
(extra), ``labels``, ``phase``, ``terminating``, ``priority``, ``uid``, ``started``, ``spec``
(merged into the spec) and ``status`` (merged into the status).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from shipyard.cluster.scheduler.podinfo import PodInfo
from shipyard.cluster.scheduler.profile import Profile, ScheduleResult
from shipyard.cluster.scheduler.snapshot import Snapshot
from tests.cluster.fixtures import make_node, merge

Obj = dict[str, Any]
DATA = Path(__file__).parent / "data"
CREATED = "2026-01-01T00:00:00Z"


def load_cases(name: str) -> list[Obj]:
    cases: list[Obj] = yaml.safe_load((DATA / name).read_text())
    return cases


def node(spec: Obj) -> Obj:
    """A Node manifest from a compact spec (see the module docstring)."""
    name = spec["name"]
    extra = {k: str(v) for k, v in (spec.get("allocatable") or {}).items()}
    obj = make_node(
        name,
        cpu=str(spec.get("cpu", "4")),
        memory=str(spec.get("memory", "16Gi")),
        pods=str(spec.get("pods", "110")),
        labels=spec.get("labels"),
        taints=spec.get("taints"),
    )
    obj["status"]["allocatable"].update(extra)
    if spec.get("unschedulable"):
        obj["spec"]["unschedulable"] = True
    if spec.get("ready") is not None:
        obj["status"]["conditions"] = [{"type": "Ready", "status": str(spec["ready"])}]
    return obj


def pod(spec: Obj | None = None, **overrides: Any) -> Obj:
    """A Pod manifest from a compact spec (see the module docstring)."""
    spec = {**(spec or {}), **overrides}
    name = spec.get("name", "incoming")
    requests = {"cpu": str(spec.get("cpu", "100m")), "memory": str(spec.get("memory", "128Mi"))}
    requests.update({k: str(v) for k, v in (spec.get("requests") or {}).items()})
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": spec.get("namespace", "default"),
            "uid": spec.get("uid", f"uid-{name}"),
            "labels": spec.get("labels", {"app": "web"}),
            "creationTimestamp": spec.get("created", CREATED),
            "resourceVersion": "1",
        },
        "spec": {
            "schedulerName": "default-scheduler",
            "containers": [
                {"name": "main", "image": "example/web:1", "resources": {"requests": requests}}
            ],
        },
        "status": {"phase": spec.get("phase", "Running" if spec.get("node") else "Pending")},
    }
    if spec.get("node"):
        obj["spec"]["nodeName"] = spec["node"]
    if spec.get("priority") is not None:
        obj["spec"]["priority"] = spec["priority"]
    if spec.get("terminating"):
        obj["metadata"]["deletionTimestamp"] = CREATED
    if spec.get("started"):
        obj["status"]["startTime"] = spec["started"]
    obj["spec"] = merge(obj["spec"], spec.get("spec") or {})
    obj["status"] = merge(obj["status"], spec.get("status") or {})
    return obj


def snapshot(nodes: Sequence[Obj], pods: Sequence[Obj] = (), **kw: Any) -> Snapshot:
    return Snapshot.from_objects([node(n) for n in nodes], [pod(p) for p in pods], **kw)


def run(case: Obj, profile: Profile | None = None) -> ScheduleResult:
    """One explained scheduling cycle of the case's incoming pod."""
    snap = snapshot(case["nodes"], case.get("pods") or [], namespaces=namespaces(case))
    info = snap.pod_info(pod(case.get("pod") or {}))
    return (profile or Profile()).schedule(info, snap, explain=True)


def namespaces(case: Obj) -> list[Obj]:
    return [
        {"metadata": {"name": name, "labels": labels}}
        for name, labels in (case.get("namespaces") or {}).items()
    ]


def info(spec: Obj | None = None, **overrides: Any) -> PodInfo:
    return PodInfo(pod(spec, **overrides))
