"""A simulated request load on Services, routed the way kube-proxy would route it.

:class:`TrafficModel` is not a controller but a simulation driver. Each load sends requests
to one Service at a rate (constant, or a function of the seconds since the load was added).
Every ``tick_seconds`` of virtual time it does what a client plus kube-proxy would do at
that instant:

1. **Route.** Read the Service's EndpointSlices (the Endpoints object when there are none)
   and take the endpoints that are ``ready``. Like kube-proxy since Kubernetes 1.28
   (``ProxyTerminatingEndpoints``), when no endpoint is ready it falls back to the ones that
   are ``serving`` and ``terminating``, so a pod draining during a rollout still answers.
   The routed pods of a Service are kept until one of its EndpointSlices (or its Endpoints)
   changes, as kube-proxy's rules are.
2. **Spread.** The tick's requests are shared evenly between the routed pods (kube-proxy's
   iptables/nftables modes balance at random per connection; the even split is its
   expectation, and keeps a run deterministic).
3. **Serve and load.** One call per Service, ``route(service, pods, share)`` on the
   :class:`~shipyard.cluster.metrics.ServingPods` seam, tells the runtime that each routed
   pod receives ``share`` from this Service (a pod's load is the sum over every Service
   routed to it), so CPU usage — and through it a HorizontalPodAutoscaler — follows
   traffic, and returns what the pods serve: each ``min(share, capacity)``, the capacity
   being 0 when the pod is not actually serving — stopped, crashed, gone — although the
   endpoints still list it: exactly the window in which a real rollout drops requests. The
   rest fails. No routable endpoint: everything fails. A Service no longer routed (no
   endpoint, its load removed, the model stopped) is routed to no pod, so its pods' load
   drops to 0.

The routed pods are the same tuple from tick to tick until the endpoints change, so a
runtime can tell that only the rate changed: the simulated runtime then answers from the
multiset of its pods' capacities, and a tick costs work per Service rather than per pod.
(Served is summed per group of equal capacities, ``count × min(share, capacity)``; it may
differ from a pod-by-pod sum in the last bits of the float.)

The tick at time ``t`` accounts for the interval ``(t - tick, t]`` with the routing seen at
``t``. Totals per Service and a per-tick time series are kept for reports:
``stats(namespace, service)`` and ``series(namespace, service)``. A zero-downtime rollout is
one whose ``failed`` stays 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.cluster.client import Client
from shipyard.cluster.metrics import ServingPods
from shipyard.cluster.services import SERVICE_NAME_LABEL
from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.errors import NotFoundError
from shipyard.core.selectors import LabelSelector
from shipyard.store.watch import WatchEvent

__all__ = ["Rate", "TrafficModel", "TrafficSample", "TrafficStats", "routable_pods"]

Rate = float | Callable[[float], float]
PodRef = tuple[str, str]
_ROUTING_KINDS = (("discovery.k8s.io/v1", "EndpointSlice"), ("v1", "Endpoints"))


@dataclass(frozen=True)
class TrafficSample:
    """One tick of one load: rates in requests per second, at virtual time ``time``."""

    time: float
    rps: float
    served_rps: float
    failed_rps: float
    ready_endpoints: int


@dataclass
class TrafficStats:
    """Totals for one Service since its load was added (requests, not rates)."""

    sent: float = 0.0
    served: float = 0.0
    failed: float = 0.0
    ticks: int = 0
    failed_ticks: int = 0
    min_ready_endpoints: int | None = None
    max_ready_endpoints: int = 0
    first_failure: float | None = None
    last_failure: float | None = None

    @property
    def success_rate(self) -> float:
        """Served over sent (1.0 before anything was sent)."""
        return self.served / self.sent if self.sent else 1.0

    def add(self, sample: TrafficSample, tick: float) -> None:
        self.ticks += 1
        self.sent += sample.rps * tick
        self.served += sample.served_rps * tick
        self.failed += sample.failed_rps * tick
        endpoints = sample.ready_endpoints
        if self.min_ready_endpoints is None or endpoints < self.min_ready_endpoints:
            self.min_ready_endpoints = endpoints
        self.max_ready_endpoints = max(self.max_ready_endpoints, endpoints)
        if sample.failed_rps > 0:
            self.failed_ticks += 1
            if self.first_failure is None:
                self.first_failure = sample.time
            self.last_failure = sample.time


@dataclass
class _Load:
    namespace: str
    service: str
    rate: Rate
    since: float
    stats: TrafficStats = field(default_factory=TrafficStats)
    series: list[TrafficSample] = field(default_factory=list)

    def rps(self, now: float) -> float:
        value = self.rate(now - self.since) if callable(self.rate) else self.rate
        return max(0.0, float(value))


def routable_pods(slices: Sequence[Mapping[str, Any]]) -> list[PodRef]:
    """The pods kube-proxy sends new connections to: ready endpoints, else serving terminating
    ones. Each as (namespace, name), in slice order, without repeats."""
    ready: list[PodRef] = []
    terminating: list[PodRef] = []
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or ():
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind") != "Pod":
                continue
            pod = (str(ref.get("namespace") or ""), str(ref.get("name") or ""))
            cond = endpoint.get("conditions") or {}
            if cond.get("ready", True) is not False:
                ready.append(pod)
            elif cond.get("serving") and cond.get("terminating"):
                terminating.append(pod)
    return list(dict.fromkeys(ready or terminating))


def _endpoints_pods(endpoints: Mapping[str, Any]) -> list[PodRef]:
    pods: list[PodRef] = []
    for subset in endpoints.get("subsets") or ():
        for address in subset.get("addresses") or ():
            ref = address.get("targetRef") or {}
            if ref.get("kind") == "Pod":
                pods.append((str(ref.get("namespace") or ""), str(ref.get("name") or "")))
    return list(dict.fromkeys(pods))


class TrafficModel:
    """Drives request load at Services in virtual time (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        serving: ServingPods,
        clock: Clock,
        *,
        tick_seconds: float = 1.0,
    ) -> None:
        if tick_seconds <= 0:
            raise ValueError(f"tick_seconds must be positive, not {tick_seconds}")
        self._client = client
        self._serving = serving
        self._clock = clock
        self._tick = float(tick_seconds)
        self._loads: dict[tuple[str, str], _Load] = {}
        self._routed: set[tuple[str, str]] = set()  # the Services routed to last tick
        self._timer: TimerHandle | None = None
        # The routed pods of each Service, until its EndpointSlices or Endpoints change: the
        # same tuple each tick tells the runtime that the membership is unchanged.
        self._routes: dict[tuple[str, str], tuple[PodRef, ...]] = {}
        self._unlisten: Callable[[], None] | None = None

    # -- configuration -----------------------------------------------------------------------

    def add_load(self, namespace: str, service: str, rate: Rate) -> None:
        """Send ``rate`` requests per second to the Service (replacing any earlier load on it);
        a callable gets the seconds since this call. Starts the ticks if they are not running."""
        self._loads[(namespace, service)] = _Load(namespace, service, rate, self._clock.now())
        self.start()

    def remove_load(self, namespace: str, service: str) -> None:
        self._loads.pop((namespace, service), None)

    def start(self) -> None:
        if self._unlisten is None:
            self._routes.clear()
            self._unlisten = self._client.add_listener(self._on_change, kinds=_ROUTING_KINDS)
        if self._timer is None:
            self._timer = self._clock.call_later(self._tick, self._on_tick)

    def _on_change(self, event: WatchEvent) -> None:
        md = event.object.get("metadata") or {}
        if event.object.get("kind") == "Endpoints":
            service = str(md.get("name") or "")
        else:
            service = str((md.get("labels") or {}).get(SERVICE_NAME_LABEL) or "")
        self._routes.pop((str(md.get("namespace") or ""), service), None)

    def stop(self) -> None:
        """Stop ticking; the pods that were receiving load are told they receive none."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._routes.clear()
        for source in sorted(self._routed):
            self._serving.route(source, (), 0.0)
        self._routed.clear()

    # -- results -----------------------------------------------------------------------------

    def stats(self, namespace: str, service: str) -> TrafficStats:
        return self._get(namespace, service).stats

    def series(self, namespace: str, service: str) -> list[TrafficSample]:
        return list(self._get(namespace, service).series)

    def _get(self, namespace: str, service: str) -> _Load:
        try:
            return self._loads[(namespace, service)]
        except KeyError:
            raise NotFoundError(f'no load on service "{namespace}/{service}"') from None

    # -- the tick ----------------------------------------------------------------------------

    def _on_tick(self) -> None:
        self._timer = self._clock.call_later(self._tick, self._on_tick)
        self.step()

    def step(self) -> None:
        """Account one tick ending now (the timer calls this; tests may too)."""
        now = self._clock.now()
        for source in sorted(self._routed - self._loads.keys()):  # loads removed since
            self._serving.route(source, (), 0.0)
        self._routed &= self._loads.keys()
        for key in sorted(self._loads):
            load = self._loads[key]
            sample = self._route(key, load, now)
            load.stats.add(sample, self._tick)
            load.series.append(sample)

    def _route(self, key: tuple[str, str], load: _Load, now: float) -> TrafficSample:
        rps = load.rps(now)
        pods = self._routable(load.namespace, load.service)
        if not pods:
            if key in self._routed:
                self._serving.route(key, (), 0.0)
                self._routed.discard(key)
            return TrafficSample(now, rps, 0.0, rps, 0)
        served = min(self._serving.route(key, pods, rps / len(pods)), rps)
        self._routed.add(key)
        return TrafficSample(now, rps, served, rps - served, len(pods))

    def _routable(self, namespace: str, service: str) -> tuple[PodRef, ...]:
        key = (namespace, service)
        pods = self._routes.get(key)
        if pods is None:
            pods = self._routes[key] = tuple(self._read_routes(namespace, service))
        return pods

    def _read_routes(self, namespace: str, service: str) -> list[PodRef]:
        slices = self._client.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace=namespace,
            label_selector=LabelSelector.from_labels({SERVICE_NAME_LABEL: service}),
            copy=False,
        ).items
        if slices:
            ordered = sorted(slices, key=lambda s: str((s.get("metadata") or {}).get("name")))
            return routable_pods(ordered)
        try:
            endpoints = self._client.get(
                "v1", "Endpoints", service, namespace=namespace, copy=False
            )
        except NotFoundError:
            return []
        return _endpoints_pods(endpoints)
