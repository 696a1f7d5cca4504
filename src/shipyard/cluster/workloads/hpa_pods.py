"""The pods each HorizontalPodAutoscaler scales, kept current from the change stream.

Kubernetes' HPA lists its target's pods and reads every pod's metrics at each sync. With a
metrics source that can say which pods use exactly the same CPU
(:class:`~shipyard.cluster.metrics.GroupedPodMetrics`: the simulated runtime, where the pods
of one template behind the same Services are alike), the HPA controller keeps each target's
pods here instead, sorted into groups, so a sync costs work for the pods that changed since the
last one and for each group, not for every pod. The samples are the ones reading every pod
would give (:func:`~shipyard.cluster.workloads.hpa_calculator.classify_pod`):

- a pod's *class* is ``ignored`` (being deleted, or failed), ``pending``, or its readiness
  verdict (``ready``/``unready``) with the time until which that verdict holds; with its CPU
  request it is worked out when the stored pod changes, and again when that time runs out;
- its *usage key* comes from the metrics source, with the time until which it holds; the source
  calls back when a pod's key may have changed before then (a container started or stopped,
  the Services routing to it changed);
- at a sync each group — (class, request, usage key) — is one
  :class:`~shipyard.cluster.workloads.hpa_calculator.PodSample` with a ``count``: its usage
  is read once and rounded once (every pod of the group has that usage), and a pending pod
  is ``unready``, a running one without usage ``missing``, as for a single pod.

:class:`PodTrackers` follows the Pod change stream for all of them: a changed pod is offered to
the trackers of its namespace whose selector pins one of its labels (or pins none), and to the
ones it already belongs to, so a pod change costs a few dictionary lookups.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from shipyard.cluster.client import Client
from shipyard.cluster.metrics import GroupedPodMetrics
from shipyard.core.objects import Obj, ObjectKey, meta
from shipyard.core.selectors import LabelSelector
from shipyard.store.watch import WatchEvent

__all__ = ["PodTrackers", "TrackedPods"]

# (class, cpu request, container missing a request, usage key)
_Group = tuple[str, int, str, Hashable]
Classify = Callable[[Obj, float], tuple[str, float]]  # pod, now -> (class, valid until)
Request = Callable[[Obj], tuple[int, str]]  # pod -> (cpu request, container without one)


@dataclass(eq=False)
class _Member:
    pod: Obj
    group: _Group | None = None


class TrackedPods:
    """The pods of one namespace that one selector matches, in groups of equal samples."""

    def __init__(
        self,
        namespace: str,
        selector: LabelSelector,
        metrics: GroupedPodMetrics,
        classify: Classify,
        request: Request,
    ) -> None:
        self.namespace = namespace
        self.selector = selector
        self._metrics = metrics
        self._classify = classify
        self._request = request
        self._members: dict[str, _Member] = {}
        self._dirty: set[str] = set()
        self._due: list[tuple[float, str]] = []  # (when a member's sample may change, name)
        self._counts: Counter[_Group] = Counter()

    def __len__(self) -> int:
        return len(self._members)

    def has(self, name: str, labels: object) -> bool:
        """True when ``name`` is a member last seen with this very labels object."""
        member = self._members.get(name)
        return member is not None and meta(member.pod).get("labels") is labels

    def put(self, pod: Obj) -> None:
        """A pod the selector matches, new or changed."""
        name = str(meta(pod).get("name") or "")
        member = self._members.get(name)
        if member is None:
            self._members[name] = _Member(pod)
        else:
            member.pod = pod
        self._dirty.add(name)

    def drop(self, name: str) -> None:
        member = self._members.pop(name, None)
        if member is not None and member.group is not None:
            self._uncount(member.group)
        self._dirty.discard(name)

    def touch(self, name: str) -> None:
        """The metrics source says the pod's usage key may have changed."""
        if name in self._members:
            self._dirty.add(name)

    def samples(self, now: float) -> list[tuple[_Group, int]]:
        """Every group and its number of pods, brought up to date for ``now``."""
        due = self._due
        while due and due[0][0] <= now:
            self._dirty.add(heapq.heappop(due)[1])
        for name in sorted(self._dirty):
            member = self._members.get(name)
            if member is not None:
                self._refresh(name, member, now)
        self._dirty.clear()
        return [(group, n) for group, n in self._counts.items() if n > 0]

    def first_name(self, group: _Group) -> str:
        """The first pod of the group by name (for the messages that name a pod)."""
        return min(name for name, m in self._members.items() if m.group == group)

    def _refresh(self, name: str, member: _Member, now: float) -> None:
        pod = member.pod
        key, key_until = self._metrics.usage_key(self.namespace, name)
        request, missing = self._request(pod)
        kind, until = self._classify(pod, now)
        group: _Group = (kind, request, missing, key)
        if group != member.group:
            if member.group is not None:
                self._uncount(member.group)
            self._counts[group] += 1
            member.group = group
        when = min(until, key_until)
        if when < math.inf:
            heapq.heappush(self._due, (when, name))

    def _uncount(self, group: _Group) -> None:
        left = self._counts[group] - 1
        if left > 0:
            self._counts[group] = left
        else:
            del self._counts[group]


class PodTrackers:
    """One :class:`TrackedPods` per HPA, fed by one Pod listener and the metrics source."""

    def __init__(
        self,
        client: Client,
        metrics: GroupedPodMetrics,
        classify: Classify,
        request: Request,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._classify = classify
        self._request = request
        self._lock = threading.RLock()
        self._of_hpa: dict[ObjectKey, TrackedPods] = {}
        # Trackers by a (namespace, label, value) their selector pins; by namespace otherwise.
        self._pinned: dict[tuple[str, str, str], list[TrackedPods]] = {}
        self._unpinned: dict[str, list[TrackedPods]] = {}
        self._member_of: dict[tuple[str, str], list[TrackedPods]] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def of(self, hpa: ObjectKey, namespace: str, selector: LabelSelector) -> TrackedPods:
        """The tracker of this HPA's pods (a new one when its namespace or selector changed)."""
        with self._lock:
            found = self._of_hpa.get(hpa)
            if found is not None and found.namespace == namespace and found.selector == selector:
                return found
            if found is not None:
                self.forget(hpa)
            if not self._unsubscribe:
                self._unsubscribe = [
                    self._client.add_listener(self._on_pod, kinds=[("v1", "Pod")]),
                    self._metrics.add_usage_listener(self._on_usage),
                ]
            tracked = TrackedPods(namespace, selector, self._metrics, self._classify, self._request)
            self._of_hpa[hpa] = tracked
            self._index(tracked).append(tracked)
            pods = self._client.list(
                "v1", "Pod", namespace=namespace, label_selector=selector, copy=False
            ).items
            for pod in pods:
                self._join(tracked, pod)
            return tracked

    def forget(self, hpa: ObjectKey) -> None:
        """Stop tracking the pods of an HPA that is gone."""
        with self._lock:
            tracked = self._of_hpa.pop(hpa, None)
            if tracked is None:
                return
            self._index(tracked).remove(tracked)
            for ref, trackers in list(self._member_of.items()):
                if tracked in trackers:
                    trackers.remove(tracked)
                    if not trackers:
                        del self._member_of[ref]

    def close(self) -> None:
        with self._lock:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []
            for hpa in list(self._of_hpa):
                self.forget(hpa)

    def _index(self, tracked: TrackedPods) -> list[TrackedPods]:
        pairs = tracked.selector.equality_pairs()
        if pairs:
            label, value = min(pairs.items())
            return self._pinned.setdefault((tracked.namespace, label, value), [])
        return self._unpinned.setdefault(tracked.namespace, [])

    def _join(self, tracked: TrackedPods, pod: Obj) -> None:
        tracked.put(pod)
        md = meta(pod)
        ref = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        trackers = self._member_of.setdefault(ref, [])
        if tracked not in trackers:
            trackers.append(tracked)

    def _leave(self, tracked: TrackedPods, ref: tuple[str, str]) -> None:
        tracked.drop(ref[1])
        trackers = self._member_of.get(ref)
        if trackers is not None and tracked in trackers:
            trackers.remove(tracked)
            if not trackers:
                del self._member_of[ref]

    def _on_pod(self, event: WatchEvent) -> None:
        pod = event.object
        md = meta(pod)
        ref = (str(md.get("namespace") or ""), str(md.get("name") or ""))
        with self._lock:
            current = self._member_of.get(ref)
            if event.type == "DELETED":
                for tracked in self._member_of.pop(ref, ()):
                    tracked.drop(ref[1])
                return
            stored_labels = md.get("labels")
            if current and all(t.has(ref[1], stored_labels) for t in current):
                # Same labels object, so the same labels: membership is as it was (a tracker
                # made since then listed the pod with these labels).
                for tracked in current:
                    tracked.put(pod)
                return
            labels = stored_labels or {}
            candidates = self._offered(ref[0], labels)
            candidates += [t for t in current or () if t not in candidates]
            for tracked in candidates:
                if tracked.selector.matches(labels):
                    self._join(tracked, pod)
                else:
                    self._leave(tracked, ref)

    def _offered(self, namespace: str, labels: dict[str, str]) -> list[TrackedPods]:
        """The trackers whose selector could match a pod with these labels."""
        out: list[TrackedPods] = []
        for label, value in labels.items():
            out.extend(self._pinned.get((namespace, label, value), ()))
        out.extend(self._unpinned.get(namespace, ()))
        return out

    def _on_usage(self, namespace: str, name: str) -> None:
        with self._lock:
            for tracked in self._member_of.get((namespace, name), ()):
                tracked.touch(name)
