"""Verdicts of failed cycles, reused for equivalent pods while nothing has changed.

When HPAs scale up, thousands of replicas of a few templates wait at once, and every node event
moves all of them back to activeQ: each is tried against every node, runs PostFilter and
builds the same ``0/N nodes are available: ...`` text as the replica before it. A cycle is a
function of the pod's scheduling-relevant spec and the snapshot (kube-scheduler's old
equivalence cache rested on the same fact), so for a pod *equivalent* to one that just failed
— same :meth:`~.podinfo.PodInfo.equivalence_key`: namespace, labels, spec, priority and
preemption policy — on an unchanged snapshot the verdict is known.

:class:`FailureCache` keeps such verdicts (the FitError message with its preemption part and
the plugins that rejected nodes) until the snapshot's ``version`` or the profile's
``next_start_index`` moves; the controller then writes the pod's status and Event and requeues
it exactly as after computing. Only verdicts where preemption found no candidate are kept (a
candidate means evictions, which change the snapshot), and only for pods neither nominated to
a node nor carrying ``nominatedNodeName`` (a nomination makes a cycle depend on the pod's
identity). Such a verdict does not depend on PodDisruptionBudgets: budgets only rank
candidates.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

from shipyard.cluster.scheduler.podinfo import PodInfo
from shipyard.cluster.scheduler.profile import Profile
from shipyard.cluster.scheduler.snapshot import Snapshot

__all__ = ["FailureCache", "Verdict"]


class Verdict(NamedTuple):
    """What a failed cycle leaves for the controller to report."""

    message: str
    rejected_by: frozenset[str]


class FailureCache:
    """Failed cycles' verdicts by equivalence key, for one snapshot version."""

    __slots__ = ("_stamp", "_verdicts", "hits")

    def __init__(self) -> None:
        self._stamp: tuple[int, int] = (-1, -1)
        self._verdicts: dict[Hashable, Verdict] = {}
        self.hits = 0
        """Cycles answered from the cache (for tests and profiling)."""

    def lookup(self, pod: PodInfo, snapshot: Snapshot, profile: Profile) -> Verdict | None:
        """The verdict of an equivalent pod's failed cycle on this very snapshot, if any."""
        if not self._verdicts:
            return None
        if self._stamp != (snapshot.version, profile.next_start_index):
            self._verdicts.clear()
            return None
        if not _reusable(pod, snapshot):
            return None
        key = pod.equivalence_key()
        verdict = None if key is None else self._verdicts.get(key)
        if verdict is not None:
            self.hits += 1
        return verdict

    def remember(
        self, pod: PodInfo, snapshot: Snapshot, profile: Profile, verdict: Verdict
    ) -> None:
        """Keep the verdict of ``pod``'s failed cycle, which found no preemption candidate
        and changed nothing (call it before writing the pod's status)."""
        if not _reusable(pod, snapshot):
            return
        key = pod.equivalence_key()
        if key is None:
            return
        stamp = (snapshot.version, profile.next_start_index)
        if stamp != self._stamp:
            self._verdicts.clear()
            self._stamp = stamp
        self._verdicts[key] = verdict


def _reusable(pod: PodInfo, snapshot: Snapshot) -> bool:
    """A cycle that does not depend on the pod's identity: no nomination of its own."""
    return not pod.nominated_node and not (snapshot.nominated and snapshot.is_nominated(pod.key))
