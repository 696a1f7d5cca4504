"""The HorizontalPodAutoscaler's ``spec.behavior``: stabilization, then the scale rate.

Reproduces ``normalizeDesiredReplicasWithBehaviors`` of ``pkg/controller/podautoscaler``
(``autoscaling/v2``), as pure arithmetic over what the controller (:mod:`.hpa`) remembers:

- **Rules** (:func:`behavior_of`): ``spec.behavior`` with Kubernetes' defaults filled in, one
  set of rules per direction: ``stabilizationWindowSeconds``, ``selectPolicy``, the
  ``Pods``/``Percent`` policies per ``periodSeconds`` and the direction's ``tolerance``.
- **Stabilization** (:meth:`History.stabilize`, ``stabilizeRecommendationWithBehaviors``):
  the lowest recommendation of the scale-up window (default 0 s) and the highest of the
  scale-down window (default 300 s) from an in-memory recommendation history; the new
  recommendation takes the slot of one older than both windows (``ScaleUpStabilized``,
  ``ScaleDownStabilized``).
- **Rate** (:func:`limit_rate`, ``convertDesiredReplicasWithBehaviorRate``): the rate policies
  (``selectPolicy`` ``Max``/``Min``/``Disabled``) are applied to the replica count at the start
  of each period, from the history of scale events (:meth:`History.store_event`, which reuses
  the slot of an event older than the longest period); then ``minReplicas``/``maxReplicas``,
  with the ``ScalingLimited`` reason and message (``ScaleUpLimit``, ``ScaleDownLimit``,
  ``TooManyReplicas``, ``TooFewReplicas``, ``DesiredWithinRange``).

A :class:`History` is what Kubernetes keeps in memory per HPA; the controller starts a new one
for a new HPA (a new uid) and forgets it with the HPA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.objects import Obj, json_copy
from shipyard.core.quantity import Quantity, QuantityError
from shipyard.store.validation.autoscaling import default_behavior

__all__ = ["Behavior", "History", "behavior_of", "limit_rate", "stabilized_message"]


@dataclass(frozen=True)
class _Rules:
    """One direction of ``spec.behavior``."""

    window: float
    select: str
    policies: tuple[tuple[str, int, float], ...]  # (type, value, periodSeconds)
    tolerance: float | None

    @classmethod
    def of(cls, rules: dict[str, Any]) -> _Rules:
        policies = tuple(
            (str(p["type"]), int(p["value"]), float(p["periodSeconds"]))
            for p in rules.get("policies") or ()
        )
        tolerance = None
        if rules.get("tolerance") is not None:
            try:
                tolerance = Quantity.parse(rules["tolerance"]).as_float()
            except QuantityError:
                tolerance = None
        window = float(rules.get("stabilizationWindowSeconds") or 0)
        return cls(window, str(rules.get("selectPolicy") or "Max"), policies, tolerance)


@dataclass
class _ScaleEvent:
    change: int
    at: float
    outdated: bool = False


_STABILIZED = {
    True: ("ScaleUpStabilized", "lower", "lowest"),
    False: ("ScaleDownStabilized", "higher", "highest"),
}


@dataclass
class History:
    """What Kubernetes keeps in memory per HPA: recommendations and scale events, and the
    behavior arithmetic over them."""

    uid: str
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up: list[_ScaleEvent] = field(default_factory=list)
    scale_down: list[_ScaleEvent] = field(default_factory=list)

    def stabilize(self, rules: Behavior, current: int, desired: int, now: float) -> tuple[int, str]:
        """``stabilizeRecommendationWithBehaviors``: (recommendation, reason) clamped into the
        recent recommendations; this one is recorded (over a sample older than both windows)."""
        up_cutoff, down_cutoff = now - rules.up.window, now - rules.down.window
        up_rec = down_rec = desired
        old_index = None
        for i, (at, replicas) in enumerate(self.recommendations):
            if at > up_cutoff and replicas < up_rec:
                up_rec = replicas
            if at > down_cutoff and replicas > down_rec:
                down_rec = replicas
            if at < up_cutoff and at < down_cutoff:
                old_index = i
        if old_index is not None:
            self.recommendations[old_index] = (now, desired)
        else:
            self.recommendations.append((now, desired))
        return min(max(current, up_rec), down_rec), _STABILIZED[desired >= current][0]

    def rate_limit(self, rules: _Rules, current: int, now: float, *, up: bool) -> int:
        """The most (``up``) or fewest replicas the policies allow now, from the replica count
        at the start of each policy's period (``calculateScale{Up,Down}Limit...``)."""
        if rules.select == "Disabled" or not rules.policies:
            return current
        proposals = []
        for kind, value, period in rules.policies:
            added = sum(e.change for e in self.scale_up if e.at > now - period)
            removed = sum(e.change for e in self.scale_down if e.at > now - period)
            start = current - added + removed
            if kind == "Pods":
                proposals.append(start + value if up else start - value)
            elif up:
                proposals.append(math.ceil(start * (1 + value / 100)))
            else:
                proposals.append(int(start * (1 - value / 100)))
        most_change = max if up else min
        least_change = min if up else max
        return (least_change if rules.select == "Min" else most_change)(proposals)

    def store_event(self, rules: _Rules, before: int, after: int, now: float) -> None:
        """Record a scale event, reusing a slot older than the longest policy period."""
        events = self.scale_up if after > before else self.scale_down
        longest = max((p[2] for p in rules.policies), default=0.0)
        for event in events:
            event.outdated = event.outdated or event.at < now - longest
        new = _ScaleEvent(abs(after - before), now)
        outdated = [i for i, e in enumerate(events) if e.outdated]
        if outdated:
            events[outdated[-1]] = new
        else:
            events.append(new)


def stabilized_message(reason: str) -> str:
    _, than, which = _STABILIZED[reason == "ScaleUpStabilized"]
    return (
        f"recent recommendations were {than} than current one, "
        f"applying the {which} recent recommendation"
    )


@dataclass(frozen=True)
class Behavior:
    up: _Rules
    down: _Rules


def limit_rate(
    history: History,
    rules: Behavior,
    bounds: tuple[int, int],
    change: tuple[int, int],
    now: float,
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the rate policies, then min/max, for a
    change from ``change[0]`` to ``change[1]`` replicas; (replicas, reason, message)."""
    (low, high), (current, desired) = bounds, change
    if desired > current:
        limit = max(history.rate_limit(rules.up, current, now, up=True), current)
        if high > limit:
            high, why = limit, ("ScaleUpLimit", "increasing faster than the maximum scale rate")
        else:
            why = ("TooManyReplicas", "more than the maximum replica count")
        if desired > high:
            return high, why[0], f"the desired replica count is {why[1]}"
    elif desired < current:
        limit = min(history.rate_limit(rules.down, current, now, up=False), current)
        if low < limit:
            low, why = limit, ("ScaleDownLimit", "decreasing faster than the maximum scale rate")
        else:
            why = ("TooFewReplicas", "less than the minimum replica count")
        if desired < low:
            return low, why[0], f"the desired replica count is {why[1]}"
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def behavior_of(spec: Obj) -> Behavior:
    behavior: dict[str, Any] = json_copy(spec.get("behavior") or {})
    default_behavior(behavior)
    return Behavior(_Rules.of(behavior["scaleUp"]), _Rules.of(behavior["scaleDown"]))
