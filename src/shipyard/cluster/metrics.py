"""Seams between the container runtime, traffic and the autoscalers that read usage.

``PodMetrics`` is what metrics-server gives a HorizontalPodAutoscaler: current CPU usage per
pod. ``GroupedPodMetrics`` adds usage per *group* of pods whose usage is always equal (same
running containers, same traffic), so an autoscaler of hundreds of identical replicas
evaluates one formula per group and re-reads a pod only when the runtime says its group may
have changed. ``ServingPods`` is how a traffic model learns how much load a pod can take
right now and tells the runtime how much it got, so CPU usage follows traffic: ``route``
states, per Service, the pods it sends to and the rate each gets, so a runtime can answer in
work proportional to what changed rather than to the number of pods. The simulated runtime
implements all three; a runtime that only knows ``capacity`` and ``record_load`` (a live one,
a test fake) gets ``route`` from :class:`PerPodRouting`, pod by pod.

A pod's load is its ``record_load`` value plus the ``rps_each`` of every source routing to
it, added in the order of the sources ((namespace, name) sorted).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

__all__ = [
    "GroupedPodMetrics",
    "PerPodRouting",
    "PodMetrics",
    "PodServing",
    "RouteTable",
    "ServingPods",
]

PodRef = tuple[str, str]


class PodMetrics(Protocol):
    def pod_cpu_usage(self, namespace: str, name: str) -> float | None:
        """Current CPU usage of the pod in millicores, or None when not known (not running)."""
        ...


class GroupedPodMetrics(PodMetrics, Protocol):
    def usage_key(self, namespace: str, name: str) -> tuple[Hashable, float]:
        """A key shared by pods whose CPU usage is always equal (same running containers'
        profiles and limits, same load sources / explicit load), and the virtual time until
        which this pod keeps that key unless a listener is told otherwise (math.inf: until
        told). A pod with no running container has a key whose usage is None."""
        ...

    def usage_of(self, key: Hashable) -> float | None:
        """The current CPU usage (millicores) of any pod with this key; None: no metrics."""
        ...

    def add_usage_listener(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """callback(namespace, name) whenever a pod's usage key may have changed other than
        by time passing (start/stop/remove/adopt of the pod, a change of the sources routing
        to it, a record_load); returns an unsubscribe function."""
        ...


class PodServing(Protocol):
    def capacity(self, namespace: str, name: str) -> float:
        """Requests per second the pod can serve right now (0 when it is not serving)."""
        ...

    def record_load(self, namespace: str, name: str, rps: float) -> None:
        """The rate of requests the pod is receiving now (drives its CPU usage)."""
        ...


class ServingPods(PodServing, Protocol):
    def route(self, source: PodRef, pods: Sequence[PodRef], rps_each: float) -> float:
        """The Service ``source`` (namespace, name) sends ``rps_each`` requests/s to each of
        ``pods``, replacing what it routed before (``pods`` empty: nothing). Returns the
        requests/s those pods serve in total: the sum over pods of
        ``min(rps_each, capacity(pod))``."""
        ...


class PerPodRouting:
    """``route`` for a runtime that only knows ``capacity`` and ``record_load``: each call
    asks every routed pod its capacity and records the new total load of every pod whose
    sources changed or that ``source`` routes to. Work per call is proportional to the
    pods involved; the simulated runtime has its own, incremental ``route``."""

    def __init__(self, pods: PodServing) -> None:
        self._pods = pods
        self._routes: dict[PodRef, tuple[tuple[PodRef, ...], float]] = {}
        self._sources: dict[PodRef, list[PodRef]] = {}

    def route(self, source: PodRef, pods: Sequence[PodRef], rps_each: float) -> float:
        before = self._routes.pop(source, ((), 0.0))[0]
        for pod in before:
            self._sources[pod].remove(source)
        after = tuple(pods)
        if after:
            self._routes[source] = (after, rps_each)
        for pod in after:
            self._sources.setdefault(pod, []).append(source)
        for pod in dict.fromkeys(before + after):
            self._pods.record_load(pod[0], pod[1], self.load(pod))
            if not self._sources.get(pod, True):
                del self._sources[pod]
        return sum(min(rps_each, max(0.0, self._pods.capacity(*pod))) for pod in after)

    def load(self, pod: PodRef) -> float:
        """The requests/s routed to ``pod``: every source's ``rps_each``, in source order."""
        total = 0.0
        for source in sorted(self._sources.get(pod, ())):
            total += self._routes[source][1]
        return total


class _Route:
    """What one source routes: its pods (as passed), each pod's multiplicity, the rate each
    gets, and the multiset of their capacities ({capacity: pods})."""

    __slots__ = ("caps", "members", "pods", "rps_each")

    def __init__(self, pods: tuple[PodRef, ...], members: dict[PodRef, int]) -> None:
        self.pods = pods
        self.members = members
        self.rps_each = 0.0
        self.caps: dict[float, int] = {}

    def served(self) -> float:
        rps = self.rps_each
        return sum(count * min(rps, cap) for cap, count in sorted(self.caps.items()))


class RouteTable:
    """The bookkeeping behind an incremental ``ServingPods.route``.

    ``capacity(pod, now)`` gives a pod's capacity and the virtual time until which it holds
    (``math.inf``: until the runtime calls :meth:`invalidate`). The table keeps, per source,
    the multiset of its pods' capacities, so a route whose pods are the same (the same
    sequence object, or an equal one) and whose ``rps_each`` changed costs one pass over its
    distinct capacities. A pod's capacity is asked again only when it was invalidated or its
    validity ran out (a heap of expiry times). Not thread-safe: the runtime holds its lock.
    """

    def __init__(self, capacity: Callable[[PodRef, float], tuple[float, float]]) -> None:
        self._capacity = capacity
        self._routes: dict[PodRef, _Route] = {}
        self._sources: dict[PodRef, tuple[PodRef, ...]] = {}  # sorted, with multiplicity
        self._caps: dict[PodRef, float] = {}
        self._until: dict[PodRef, float] = {}
        self._expiry: list[tuple[float, PodRef]] = []
        self._dirty: set[PodRef] = set()

    def route(
        self, source: PodRef, pods: Sequence[PodRef], rps_each: float, now: float
    ) -> tuple[float, list[PodRef]]:
        """As ``ServingPods.route``; also returns the pods whose sources changed."""
        self._refresh(now)
        current = self._routes.get(source)
        changed: list[PodRef] = []
        if current is None or pods is not current.pods:
            given = tuple(pods)
            if current is None or given != current.pods:
                current, changed = self._replace(source, current, given, now)
            else:  # the same pods in a new sequence: compare by identity from now on
                current.pods = given
        if current is None:
            return 0.0, changed
        current.rps_each = rps_each
        return current.served(), changed

    def invalidate(self, pod: PodRef) -> None:
        """The pod's capacity may have changed (a start, stop, removal, adoption)."""
        if pod in self._caps:
            self._dirty.add(pod)

    def sources(self, pod: PodRef) -> tuple[PodRef, ...]:
        """The sources routing to ``pod``, sorted, a source once per time it lists the pod."""
        return self._sources.get(pod, ())

    def load(self, pod: PodRef, start: float = 0.0) -> float:
        """``start`` plus the ``rps_each`` of every source routing to ``pod``, in source order."""
        sources = self._sources.get(pod)
        if sources is not None:
            routes = self._routes
            for source in sources:
                start += routes[source].rps_each
        return start

    def rps_each(self, source: PodRef) -> float:
        """The rate ``source`` sends each of its pods now (0 when it routes nothing)."""
        found = self._routes.get(source)
        return found.rps_each if found is not None else 0.0

    def _replace(
        self, source: PodRef, old: _Route | None, pods: tuple[PodRef, ...], now: float
    ) -> tuple[_Route | None, list[PodRef]]:
        self._routes.pop(source, None)  # its pods' capacities are counted afresh below
        before = old.members if old is not None else {}
        after: dict[PodRef, int] = {}
        for pod in pods:
            after[pod] = after.get(pod, 0) + 1
        changed = [p for p in after if before.get(p) != after[p]]
        changed += [p for p in before if p not in after]
        for pod in changed:
            self._set_sources(pod, source, after.get(pod, 0), now)
        if not pods:
            return None, changed
        route = self._routes[source] = _Route(pods, after)
        for pod, count in after.items():
            cap = self._caps[pod]
            route.caps[cap] = route.caps.get(cap, 0) + count
        return route, changed

    def _set_sources(self, pod: PodRef, source: PodRef, count: int, now: float) -> None:
        others = [s for s in self._sources.get(pod, ()) if s != source]
        sources = tuple(sorted(others + [source] * count))
        if not sources:
            self._sources.pop(pod, None)
            self._caps.pop(pod, None)
            self._until.pop(pod, None)
            self._dirty.discard(pod)
            return
        self._sources[pod] = sources
        if pod not in self._caps:
            self._caps[pod] = math.inf  # not counted anywhere yet
            self._update(pod, now)

    def _refresh(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            until, pod = heapq.heappop(expiry)
            if self._until.get(pod) == until:
                self._dirty.add(pod)
        if self._dirty:
            for pod in self._dirty:
                self._update(pod, now)
            self._dirty.clear()

    def _update(self, pod: PodRef, now: float) -> None:
        cap, until = self._capacity(pod, now)
        cap = max(0.0, cap)
        old = self._caps[pod]
        if cap != old:
            self._caps[pod] = cap
            for source in dict.fromkeys(self._sources[pod]):
                route = self._routes.get(source)
                if route is None:  # being built by _replace: counted there
                    continue
                count = route.members[pod]
                left = route.caps.get(old, 0) - count
                if left > 0:
                    route.caps[old] = left
                else:
                    route.caps.pop(old, None)
                route.caps[cap] = route.caps.get(cap, 0) + count
        if until != self._until.get(pod):
            self._until[pod] = until
            if until != math.inf:
                heapq.heappush(self._expiry, (until, pod))
