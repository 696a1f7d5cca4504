"""The scheduling framework's vocabulary: plugin statuses, reasons and the FitError message.

A filter rejects a node with a :class:`Status`: a code and one or more reasons, in
kube-scheduler's words. The code matters to preemption: ``UNSCHEDULABLE`` may be fixed by
evicting pods, ``UNSCHEDULABLE_AND_UNRESOLVABLE`` (taints, node affinity, a request larger than
the node) cannot, and such nodes are reported as ``Preemption is not helpful for scheduling``.

:func:`fit_error_message` is ``FitError.Error()`` of Kubernetes 1.30–1.33::

    0/<all nodes> nodes are available: <count> <reason>, <count> <reason>. <post-filter message>

Each reason of each rejected node is counted; the ``"<count> <reason>"`` strings are sorted as
strings (so ``"1 node(s) had untolerated taint {dedicated: gpu}"`` comes before
``"2 Insufficient cpu"``, and ``"10 ..."`` before ``"2 ..."``); nodes never evaluated count
under ``absent`` reasons. The post-filter (preemption) message is appended as is, e.g.
``preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.``
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "ERR_AFFINITY",
    "ERR_ANTI_AFFINITY",
    "ERR_EXISTING_ANTI_AFFINITY",
    "ERR_NODE_AFFINITY",
    "ERR_NODE_NAME",
    "ERR_NODE_PORTS",
    "ERR_SPREAD",
    "ERR_SPREAD_LABEL",
    "ERR_UNSCHEDULABLE",
    "NO_NODES",
    "NO_VICTIMS",
    "PREEMPTION_NOT_HELPFUL",
    "UNSCHEDULABLE",
    "UNSCHEDULABLE_AND_UNRESOLVABLE",
    "Status",
    "fit_error_message",
]

UNSCHEDULABLE = 2
UNSCHEDULABLE_AND_UNRESOLVABLE = 3

ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_SPREAD = "node(s) didn't match pod topology spread constraints"
ERR_SPREAD_LABEL = ERR_SPREAD + " (missing required label)"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
NO_NODES = "no nodes available to schedule pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


class Status(NamedTuple):
    """Why a plugin rejected a node."""

    code: int
    reasons: tuple[str, ...]
    plugin: str

    @property
    def resolvable(self) -> bool:
        """Could evicting pods from the node help (``Unschedulable``, not ``...Unresolvable``)?"""
        return self.code == UNSCHEDULABLE

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


def fit_error_message(
    num_nodes: int,
    statuses: Iterable[Status],
    *,
    absent: tuple[str, ...] = (),
    num_absent: int = 0,
    post_filter: str = "",
) -> str:
    """Kubernetes' FitError text for the rejected nodes' statuses (see the module docstring)."""
    counts: Counter[str] = Counter()
    for status in statuses:
        counts.update(status.reasons)
    if num_absent > 0:
        for reason in absent:
            counts[reason] += num_absent
    message = f"0/{num_nodes} nodes are available:"
    if counts:
        message += " " + ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items())) + "."
    if post_filter:
        message += " " + post_filter
    return message
