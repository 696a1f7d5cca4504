"""Pod facts every cluster component agrees on: conditions, readiness, requests, ownership.

Kept in one place so the scheduler, the workload controllers, the kubelet, endpoints and
disruption budgets judge a pod the same way Kubernetes does:

- **Ready** is the ``Ready`` condition being ``True``; **available** is ready for at least
  ``minReadySeconds`` (measured from the condition's ``lastTransitionTime``), as the
  Deployment and ReplicaSet controllers count it.
- **Requests** are what kube-scheduler charges a node: the sum over containers, raised to
  the largest init container where that is bigger (per resource), plus ``spec.overhead``.
  CPU is in millicores, memory and storage in bytes; every other resource in whole units
  (milli-units where the quantity is fractional).
- **Terminal** pods (``Succeeded``/``Failed``) hold no resources and count for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.clock import format_time, parse_time
from shipyard.core.objects import Obj, meta
from shipyard.core.quantity import Quantity, QuantityError

__all__ = [
    "RESOURCE_PODS",
    "condition",
    "controller_ref",
    "controller_uid",
    "is_available",
    "is_ready",
    "is_terminal",
    "is_terminating",
    "pod_requests",
    "quantity_units",
    "set_condition",
]

RESOURCE_PODS = "pods"
_MILLI_RESOURCES = frozenset({"cpu"})


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The status condition of that type, if present."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return None


def set_condition(
    obj: Obj, type_: str, status: str, *, now: float, reason: str = "", message: str = ""
) -> bool:
    """Set a status condition in place; ``lastTransitionTime`` moves only when status changes.

    Returns whether anything changed.
    """
    conditions: list[dict[str, Any]] = obj.setdefault("status", {}).setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") != type_:
            continue
        changed = cond.get("status") != status
        if not changed and cond.get("reason", "") == reason and cond.get("message", "") == message:
            return False
        if changed:
            cond["lastTransitionTime"] = format_time(now)
        cond.update(status=status, reason=reason, message=message)
        _drop_empty(cond)
        return True
    new = {
        "type": type_,
        "status": status,
        "lastTransitionTime": format_time(now),
        "reason": reason,
        "message": message,
    }
    _drop_empty(new)
    conditions.append(new)
    return True


def _drop_empty(cond: dict[str, Any]) -> None:
    for key in ("reason", "message"):
        if not cond.get(key):
            cond.pop(key, None)


def is_ready(pod: Mapping[str, Any]) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_available(pod: Mapping[str, Any], min_ready_seconds: float, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (Kubernetes' IsPodAvailable)."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = cond.get("lastTransitionTime")
    return since is not None and parse_time(str(since)) + min_ready_seconds <= now


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the controller's ownerReference ("" if it has none), None without a
    controller: ``controller_ref`` for callers that only compare uids, without its copy."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return None


def quantity_units(resource: str, value: Any) -> int:
    """A quantity in the integer unit the scheduler counts: millicores for cpu, else base units
    (rounded up, as Kubernetes' ``Value()``)."""
    try:
        q = Quantity.parse(value)
    except QuantityError:
        return 0
    return q.milli_value() if resource in _MILLI_RESOURCES else q.value()


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """What the pod charges a node, per resource (see the module docstring)."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        for name, value in _requests_of(container).items():
            total[name] = total.get(name, 0) + value
    for container in spec.get("initContainers") or ():
        for name, value in _requests_of(container).items():
            if value > total.get(name, 0):
                total[name] = value
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + quantity_units(name, value)
    return total


def _requests_of(container: Mapping[str, Any]) -> dict[str, int]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    return {name: quantity_units(name, value) for name, value in requests.items()}
