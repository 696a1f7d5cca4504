"""Names, options and status conditions shared by the NodeClaim lifecycle controllers.

The names are Karpenter's (they appear on objects users look at): the
``karpenter.sh/termination`` finalizer on claims and nodes, the ``karpenter.sh/unregistered``
and ``karpenter.sh/disrupted`` taints, the ``karpenter.sh/registered`` and
``karpenter.sh/initialized`` node labels, and the claim's status conditions.

Conditions follow Karpenter v1: ``Launched``, ``Registered`` and ``Initialized`` start
``Unknown`` (reason ``AwaitingReconciliation``) and become ``True`` in that order; ``Ready``
rolls them up (``True`` when all three are, else the status, reason and message of the first
one that is not). While a claim is being deleted, ``Drained`` and ``InstanceTerminating``
tell how far termination got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.podutil import condition, set_condition
from shipyard.core.taints import NO_EXECUTE, NO_SCHEDULE, Taint

__all__ = [
    "API_VERSION",
    "AWAITING",
    "CONDITION_TYPES",
    "DISRUPTED_TAINT",
    "DO_NOT_DISRUPT",
    "DRAINED",
    "INITIALIZED",
    "INSTANCE_TERMINATING",
    "KIND",
    "LAUNCHED",
    "READY",
    "REGISTERED",
    "TERMINATION_FINALIZER",
    "UNREGISTERED_TAINT",
    "LifecycleOptions",
    "condition_status",
    "init_conditions",
    "roll_up_ready",
    "set_claim_condition",
]

API_VERSION = "karpenter.sh/v1"
KIND = "NodeClaim"
NODECLASS_VERSION = "v1"

TERMINATION_FINALIZER = "karpenter.sh/termination"
UNREGISTERED_TAINT = Taint("karpenter.sh/unregistered", "", NO_EXECUTE)
DISRUPTED_TAINT = Taint("karpenter.sh/disrupted", "", NO_SCHEDULE)
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
# Taints the node's own components put on and take off while it starts: Karpenter waits for
# them to be gone before it calls a node initialized.
EPHEMERAL_TAINTS = (
    Taint("node.kubernetes.io/not-ready", "", NO_SCHEDULE),
    Taint("node.kubernetes.io/unreachable", "", NO_SCHEDULE),
    Taint("node.cloudprovider.kubernetes.io/uninitialized", "true", NO_SCHEDULE),
)

LAUNCHED, REGISTERED, INITIALIZED, READY = "Launched", "Registered", "Initialized", "Ready"
DRAINED, INSTANCE_TERMINATING = "Drained", "InstanceTerminating"
CONDITION_TYPES = (LAUNCHED, REGISTERED, INITIALIZED)
AWAITING = ("AwaitingReconciliation", "object is awaiting reconciliation")


@dataclass(frozen=True)
class LifecycleOptions:
    """Timeouts and polling periods (seconds); the defaults are Karpenter's."""

    launch_timeout: float = 300.0
    registration_timeout: float = 900.0
    drain_poll: float = 5.0  # re-check a node whose pods are still leaving
    termination_poll: float = 5.0  # re-check an instance that is shutting down
    backoff_base: float = 1.0  # launch retries: base * 2^(failures - 1) ...
    backoff_max: float = 300.0  # ... up to this

    def __post_init__(self) -> None:
        for name in ("launch_timeout", "registration_timeout", "drain_poll", "termination_poll"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.backoff_base <= self.backoff_max:
            raise ValueError("backoff_base must be positive and at most backoff_max")

    def backoff(self, failures: int) -> float:
        """The wait before launch attempt ``failures + 1``."""
        return float(min(self.backoff_max, self.backoff_base * 2 ** max(0, failures - 1)))


def condition_status(claim: Mapping[str, Any], type_: str) -> str:
    """``True``, ``False`` or ``Unknown`` (also for a condition not set yet)."""
    cond = condition(claim, type_)
    return str(cond.get("status") or "Unknown") if cond else "Unknown"


def set_claim_condition(
    claim: dict[str, Any], type_: str, status: str, reason: str, message: str, *, now: float
) -> bool:
    """Set a condition in place (``lastTransitionTime`` moves with the status)."""
    return set_condition(claim, type_, status, now=now, reason=reason, message=message)


def init_conditions(claim: dict[str, Any], now: float) -> None:
    """Give a new claim its lifecycle conditions, ``Unknown`` until reconciled."""
    for type_ in (*CONDITION_TYPES, READY):
        if condition(claim, type_) is None:
            set_claim_condition(claim, type_, "Unknown", *AWAITING, now=now)


def roll_up_ready(claim: dict[str, Any], now: float) -> None:
    """``Ready`` from ``Launched``, ``Registered`` and ``Initialized`` (module docstring)."""
    for type_ in CONDITION_TYPES:
        cond = condition(claim, type_) or {}
        if cond.get("status") != "True":
            status = str(cond.get("status") or "Unknown")
            reason = str(cond.get("reason") or AWAITING[0])
            message = str(cond.get("message") or AWAITING[1])
            set_claim_condition(claim, READY, status, reason, message, now=now)
            return
    set_claim_condition(claim, READY, "True", READY, "", now=now)
