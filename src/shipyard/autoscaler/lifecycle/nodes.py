"""What the lifecycle does to a Node, as pure functions on dicts (each returns a new node).

- :func:`register_node` — Karpenter's registration: the node takes the claim's labels and
  annotations, the ``karpenter.sh/registered=true`` label, the claim's taints (and, the first
  time only, its startup taints — once their owner removed them they must not come back),
  loses the ``karpenter.sh/unregistered`` taint, and gets the ``karpenter.sh/termination``
  finalizer and an owner reference to the claim (``blockOwnerDeletion``), so deleting the
  claim is what removes the node.
- :func:`initialization` — whether a registered node is initialized: ``Ready``, none of the
  claim's startup taints or the node's own start-up taints (not-ready, unreachable,
  cloud-provider uninitialized) left, and every extended resource the claim expects (requested
  in ``spec.resources`` or in the instance's ``status.allocatable``) present in the node's
  allocatable. The answer is a condition: status, reason, message.
- :func:`cordon` — the start of termination: ``spec.unschedulable`` and the
  ``karpenter.sh/disrupted:NoSchedule`` taint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.autoscaler.apis import NodeClaimView
from shipyard.autoscaler.lifecycle.model import (
    API_VERSION,
    DISRUPTED_TAINT,
    EPHEMERAL_TAINTS,
    KIND,
    TERMINATION_FINALIZER,
    UNREGISTERED_TAINT,
)
from shipyard.cluster.podutil import condition, quantity_units
from shipyard.core.labels import INITIALIZED, REGISTERED
from shipyard.core.objects import Obj, json_copy, meta
from shipyard.core.taints import Taint

__all__ = [
    "LAST_APPLIED",
    "STANDARD_RESOURCES",
    "Verdict",
    "cordon",
    "has_taint",
    "initialization",
    "mark_initialized",
    "node_taints",
    "register_node",
    "without_finalizer",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
STANDARD_RESOURCES = frozenset({"cpu", "memory", "pods", "ephemeral-storage"})
Verdict = tuple[str, str, str]  # condition status, reason, message


def node_taints(node: Mapping[str, Any]) -> list[Taint]:
    """The node's taints; an entry that is not a valid taint is left out."""
    out = []
    for item in (node.get("spec") or {}).get("taints") or ():
        if isinstance(item, Mapping) and item.get("key") and item.get("effect"):
            out.append(Taint(str(item["key"]), str(item.get("value") or ""), str(item["effect"])))
    return out


def has_taint(node: Mapping[str, Any], taint: Taint) -> bool:
    return any(t.matches(taint) for t in node_taints(node))


def _merge_taints(current: list[dict[str, Any]], extra: Iterable[Taint]) -> list[dict[str, Any]]:
    out = list(current)
    for taint in extra:
        if not any(t.get("key") == taint.key and t.get("effect") == taint.effect for t in out):
            out.append(taint.to_dict())
    return out


def _drop_taint(current: list[dict[str, Any]], taint: Taint) -> list[dict[str, Any]]:
    return [
        t for t in current if not (t.get("key") == taint.key and t.get("effect") == taint.effect)
    ]


def _owner_ref(claim: Mapping[str, Any]) -> dict[str, Any]:
    md = meta(claim)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": md.get("name"),
        "uid": md.get("uid"),
        "blockOwnerDeletion": True,
    }


def register_node(node: Mapping[str, Any], claim: Mapping[str, Any], view: NodeClaimView) -> Obj:
    """The node as registration leaves it (see the module docstring)."""
    out: Obj = json_copy(dict(node))
    md, claim_md = out.setdefault("metadata", {}), meta(claim)
    first = (md.get("labels") or {}).get(REGISTERED) != "true"
    md["labels"] = {
        **(md.get("labels") or {}),
        **(claim_md.get("labels") or {}),
        REGISTERED: "true",
    }
    annotations = {
        k: v for k, v in (claim_md.get("annotations") or {}).items() if k != LAST_APPLIED
    }
    if annotations:
        md["annotations"] = {**(md.get("annotations") or {}), **annotations}
    spec = out.setdefault("spec", {})
    taints = _merge_taints(list(spec.get("taints") or ()), view.taints)
    if first:
        taints = _merge_taints(taints, view.startup_taints)
    spec["taints"] = _drop_taint(taints, UNREGISTERED_TAINT)
    if not spec["taints"]:
        del spec["taints"]
    if TERMINATION_FINALIZER not in (md.get("finalizers") or ()):
        md["finalizers"] = [*(md.get("finalizers") or ()), TERMINATION_FINALIZER]
    refs = list(md.get("ownerReferences") or ())
    if not any(r.get("uid") == claim_md.get("uid") for r in refs):
        md["ownerReferences"] = [*refs, _owner_ref(claim)]
    return out


def _expected_resources(claim: Mapping[str, Any], view: NodeClaimView) -> list[str]:
    allocatable = (claim.get("status") or {}).get("allocatable") or {}
    names = {n for n, v in view.requests.items() if v > 0}
    names |= {n for n, v in allocatable.items() if quantity_units(n, v) > 0}
    return sorted(names - STANDARD_RESOURCES)


def initialization(
    node: Mapping[str, Any], claim: Mapping[str, Any], view: NodeClaimView
) -> Verdict:
    """Whether the registered node is initialized (see the module docstring)."""
    ready = condition(node, "Ready")
    if ready is None or ready.get("status") != "True":
        return ("Unknown", "NodeNotReady", "Node status is NotReady")
    present = node_taints(node)
    for taint in (*view.startup_taints, *EPHEMERAL_TAINTS):
        if any(t.matches(taint) for t in present):
            return (
                "Unknown",
                "StartupTaintsExist",
                f'StartupTaint "{taint.kubectl_form()}" still exists',
            )
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    for name in _expected_resources(claim, view):
        if quantity_units(name, allocatable.get(name, "0")) <= 0:
            return (
                "Unknown",
                "ResourceNotRegistered",
                f'Resource "{name}" was requested but not registered',
            )
    return ("True", "Initialized", "")


def mark_initialized(node: Mapping[str, Any]) -> Obj | None:
    """The node with the ``karpenter.sh/initialized=true`` label, or None if it has it."""
    if (meta(node).get("labels") or {}).get(INITIALIZED) == "true":
        return None
    out: Obj = json_copy(dict(node))
    md = out.setdefault("metadata", {})
    md["labels"] = {**(md.get("labels") or {}), INITIALIZED: "true"}
    return out


def cordon(node: Mapping[str, Any]) -> Obj | None:
    """The node unschedulable and tainted ``karpenter.sh/disrupted``; None if it already is."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable") is True and has_taint(node, DISRUPTED_TAINT):
        return None
    out: Obj = json_copy(dict(node))
    new_spec = out.setdefault("spec", {})
    new_spec["unschedulable"] = True
    new_spec["taints"] = _merge_taints(list(new_spec.get("taints") or ()), [DISRUPTED_TAINT])
    return out


def without_finalizer(obj: Mapping[str, Any], finalizer: str = TERMINATION_FINALIZER) -> Obj | None:
    """A copy without the finalizer, or None when it does not have it."""
    current: Sequence[str] = meta(obj).get("finalizers") or ()
    if finalizer not in current:
        return None
    out: Obj = json_copy(dict(obj))
    kept = [f for f in current if f != finalizer]
    if kept:
        out["metadata"]["finalizers"] = kept
    else:
        out["metadata"].pop("finalizers", None)
    return out
