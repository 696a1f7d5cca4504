"""Probe bookkeeping and restart back-off: the kubelet's prober workers and ``flowcontrol.Backoff``.

A :class:`ProbeTracker` is one prober worker for one container instance, reproducing
Kubernetes' semantics:

- The first probe runs ``initialDelaySeconds`` after the container started, then one every
  ``periodSeconds``. (Kubernetes' worker ticks from when the pod was seen, with jitter, and
  skips ticks inside the initial delay; the observable effect is the same, deterministically.)
- A result flips only after ``successThreshold`` consecutive successes or
  ``failureThreshold`` consecutive failures. Before that, readiness starts as failure (not
  ready), liveness as success and startup as not yet started.
- While a startup probe has not succeeded, liveness and readiness do not run; once it has,
  it never runs again for that instance.
- When the runtime promises that a success holds until some time, the runs before it are
  skipped (``hold_until``): they could not change the result, and passing probes record
  nothing — so the observable behaviour is the same.

:class:`BackOff` is client-go's ``flowcontrol.Backoff`` as the kubelet uses it for crashed
containers (``CrashLoopBackOff``) and image pulls (``ImagePullBackOff``): 10 s doubling up to
300 s, forgotten when the thing ran for longer than twice the maximum (10 minutes) before
failing again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cluster.kubelet.runtime import ProbeKind

__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "BackOff",
    "ProbeSpec",
    "ProbeTracker",
]

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
# Times are floats; comparisons at a timer's own instant must not miss by one ulp.
EPSILON = 1e-6


@dataclass(frozen=True)
class ProbeSpec:
    """A container's probe with the API defaults applied."""

    kind: ProbeKind
    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: float | None = None  # probe-level terminationGracePeriodSeconds

    @classmethod
    def of(cls, container: Mapping[str, Any], kind: ProbeKind) -> ProbeSpec | None:
        probe = container.get(kind.value)
        if not isinstance(probe, Mapping):
            return None
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(
            kind,
            probe,
            float(probe.get("initialDelaySeconds") or 0),
            float(probe.get("periodSeconds") or 10),
            int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3),
            float(grace) if grace is not None else None,
        )


class ProbeTracker:
    """One prober worker: schedule, consecutive counts and the current result."""

    def __init__(self, spec: ProbeSpec, started_at: float) -> None:
        self.spec = spec
        self.result = spec.kind is ProbeKind.LIVENESS
        self.next_at = started_at + spec.initial_delay
        self.successes = 0
        self.failures = 0

    def due(self, now: float) -> bool:
        return self.next_at <= now + EPSILON

    def skip(self, now: float) -> None:
        """Let the tick pass without probing (startup has not succeeded yet)."""
        self._advance(now)

    def record(self, success: bool, now: float) -> bool:
        """Count one result; returns whether the probe's result flipped."""
        before = self.result
        if success:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.spec.success_threshold:
                self.result = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.spec.failure_threshold:
                self.result = False
        self._advance(now)
        return self.result != before

    def hold_until(self, until: float) -> None:
        """The result is known to stay until ``until``: skip the runs before it."""
        if until == math.inf:
            self.next_at = math.inf
        elif until > self.next_at:
            period = max(self.spec.period, 1.0)
            self.next_at += math.ceil((until - self.next_at) / period - EPSILON) * period

    def resume(self, now: float) -> None:
        """A worker taking over a running instance: the runs that fell due while nobody
        watched are not made up; the next is the instance's first tick at or after ``now``."""
        if self.next_at < now - EPSILON:
            period = max(self.spec.period, 1.0)
            self.next_at += math.ceil((now - self.next_at) / period - EPSILON) * period

    def restore(self, result: bool) -> None:
        """Take over a result reported before (a restarted kubelet): as if reached by as
        many consecutive results as its threshold asks."""
        self.result = result
        if result:
            self.successes, self.failures = self.spec.success_threshold, 0
        else:
            self.successes, self.failures = 0, self.spec.failure_threshold

    def _advance(self, now: float) -> None:
        period = max(self.spec.period, 1.0)
        if self.next_at <= now + EPSILON:
            self.next_at += (math.floor((now + EPSILON - self.next_at) / period) + 1) * period


@dataclass
class BackOff:
    """Per-item exponential back-off (see the module docstring)."""

    initial: float = BACKOFF_INITIAL
    maximum: float = BACKOFF_MAX
    delay: float = 0.0  # 0 until the first failure
    updated: float = 0.0

    def _expired(self, event_time: float) -> bool:
        return self.delay == 0 or event_time - self.updated > 2 * self.maximum

    def in_backoff_since(self, event_time: float, now: float) -> bool:
        """Whether a restart for a failure at ``event_time`` must still wait at ``now``."""
        if self._expired(event_time):
            return False
        return now - event_time < self.delay - EPSILON

    def next(self, event_time: float, now: float) -> None:
        """Record one more retry: the first waits ``initial``, each later one twice as long."""
        if self._expired(event_time):
            self.delay = self.initial
        else:
            self.delay = min(self.delay * 2, self.maximum)
        self.updated = now
