"""The Node status a kubelet posts, as a pure function (the kubelet's ``setNodeStatus``).

What a healthy kubelet reports, with Kubernetes' reasons and messages:

=================  ======  ============================  =======================================
condition          status  reason                        message
=================  ======  ============================  =======================================
MemoryPressure     False   KubeletHasSufficientMemory    kubelet has sufficient memory available
DiskPressure       False   KubeletHasNoDiskPressure      kubelet has no disk pressure
PIDPressure        False   KubeletHasSufficientPID       kubelet has sufficient PID available
Ready              True    KubeletReady                  kubelet is posting ready status
=================  ======  ============================  =======================================

``lastTransitionTime`` moves when a condition's status changes; ``lastHeartbeatTime`` when
the status is posted (on a change, or every ``nodeStatusReportFrequency`` — 5 minutes —
while the Lease carries the 10-second heartbeat). Other conditions (a node problem detector's)
are kept. ``capacity`` and ``allocatable`` are kept as given (allocatable defaults to
capacity, capacity to the kubelet's configured machine), ``addresses`` get an ``InternalIP``
and a ``Hostname`` unless the node has both, and ``daemonEndpoints`` and ``nodeInfo`` are the
kubelet's own. The kubelet's Events name the new state: "Node x status is now: NodeReady".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.clock import format_time
from shipyard.core.objects import Obj, meta

__all__ = [
    "DEFAULT_CAPACITY",
    "KUBELET_PORT",
    "NODE_CONDITIONS",
    "NodeFacts",
    "condition_events",
    "node_status",
]

KUBELET_PORT = 10250
DEFAULT_CAPACITY: Mapping[str, str] = {
    "cpu": "4",
    "memory": "16Gi",
    "pods": "110",
    "ephemeral-storage": "100Gi",
}
# (type, status, reason, message) of a healthy node, in the order the kubelet lists them.
NODE_CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)
_OWN = frozenset(c[0] for c in NODE_CONDITIONS)
# The event reason a kubelet records when a condition turns healthy.
_EVENT_REASONS = {
    "MemoryPressure": "NodeHasSufficientMemory",
    "DiskPressure": "NodeHasNoDiskPressure",
    "PIDPressure": "NodeHasSufficientPID",
    "Ready": "NodeReady",
}


@dataclass(frozen=True)
class NodeFacts:
    """What the kubelet knows of its machine."""

    internal_ip: str
    runtime_version: str
    kubelet_version: str = "v1.31.0"
    boot: int = 0  # bumps the bootID
    default_capacity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))


def _uuid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _node_info(node: Obj, facts: NodeFacts) -> dict[str, str]:
    name = str(meta(node).get("name"))
    labels = meta(node).get("labels") or {}
    return {
        "architecture": str(labels.get("kubernetes.io/arch") or "amd64"),
        "bootID": _uuid(f"boot:{name}:{facts.boot}"),
        "containerRuntimeVersion": facts.runtime_version,
        "kernelVersion": "6.8.0-shipyard",
        "kubeProxyVersion": facts.kubelet_version,
        "kubeletVersion": facts.kubelet_version,
        "machineID": hashlib.sha256(f"machine:{name}".encode()).hexdigest()[:32],
        "operatingSystem": str(labels.get("kubernetes.io/os") or "linux"),
        "osImage": "Shipyard Linux",
        "systemUUID": _uuid(f"system:{name}"),
    }


def _addresses(node: Obj, facts: NodeFacts) -> list[dict[str, str]]:
    existing = [dict(a) for a in (node.get("status") or {}).get("addresses") or ()]
    types = {a.get("type") for a in existing}
    if {"InternalIP", "Hostname"} <= types:
        return existing
    out = [a for a in existing if a.get("type") not in ("InternalIP", "Hostname")]
    return [
        {"type": "InternalIP", "address": facts.internal_ip},
        *out,
        {"type": "Hostname", "address": str(meta(node).get("name"))},
    ]


def _conditions(old: list[Mapping[str, Any]], now: float, heartbeat: bool) -> list[dict[str, Any]]:
    by_type = {c.get("type"): c for c in old}
    stamp = format_time(now)
    out: list[dict[str, Any]] = []
    for type_, status, reason, message in NODE_CONDITIONS:
        prev = by_type.get(type_) or {}
        same = prev.get("status") == status
        out.append(
            {
                "type": type_,
                "status": status,
                "lastHeartbeatTime": stamp
                if heartbeat or not prev
                else prev.get("lastHeartbeatTime"),
                "lastTransitionTime": prev.get("lastTransitionTime") if same else stamp,
                "reason": reason,
                "message": message,
            }
        )
    out += [dict(c) for c in old if c.get("type") not in _OWN]
    return out


def node_status(node: Obj, facts: NodeFacts, *, now: float, heartbeat: bool) -> dict[str, Any]:
    """The status to post; with ``heartbeat`` False, heartbeat times are left as they were
    (so comparing it with the stored status tells whether anything changed)."""
    old = node.get("status") or {}
    status = dict(old)
    capacity = dict(old.get("capacity") or facts.default_capacity)
    status["capacity"] = capacity
    status["allocatable"] = dict(old.get("allocatable") or capacity)
    status["conditions"] = _conditions(list(old.get("conditions") or ()), now, heartbeat)
    status["addresses"] = _addresses(node, facts)
    status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": KUBELET_PORT}}
    status["nodeInfo"] = _node_info(node, facts)
    return status


def condition_events(
    old: Mapping[str, Any], new: Mapping[str, Any], node: str
) -> list[tuple[str, str]]:
    """(reason, message) of the Events for conditions whose status changed."""
    before = {c.get("type"): c.get("status") for c in old.get("conditions") or ()}
    out = []
    for cond in new.get("conditions") or ():
        type_ = cond.get("type")
        if type_ in _EVENT_REASONS and before.get(type_) != cond.get("status"):
            reason = _EVENT_REASONS[str(type_)]
            out.append((reason, f"Node {node} status is now: {reason}"))
    return out
