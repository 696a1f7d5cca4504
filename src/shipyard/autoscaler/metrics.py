"""The node autoscaler's metrics: plain counters, gauges and histograms, read as a dict.

No metrics library and no HTTP endpoint yet: each metric is a small object keyed by a tuple of
label values, and :meth:`AutoscalerMetrics.snapshot` turns them into a ``dict`` that tests,
reports and (later) a ``/metrics`` page read. Names follow Karpenter's where it has one:

- ``karpenter_pods_pending_duration_seconds`` (histogram): per pod the provisioner saw
  pending, the time from its creation to its binding to a node;
- ``karpenter_nodeclaims_launched_total`` (counter) by ``nodepool``, ``instance_type``,
  ``capacity_type`` and ``zone``: claims whose instance the cloud launched;
- ``karpenter_nodeclaims_created_total`` (counter) by ``nodepool``: claims the provisioner
  wrote;
- ``karpenter_cloudprovider_cost_per_hour`` (gauge): USD per hour of the instances running
  now, from the cloud's own list;
- ``karpenter_nodes_total`` (gauge) by ``nodepool``: registered nodes.

The two gauges are computed when read (:func:`refresh_gauges`), from the cloud and the
cluster, so they can never drift from what is really running.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.core.labels import NODEPOOL

__all__ = [
    "COST_PER_HOUR",
    "CREATED",
    "DEFAULT_BUCKETS",
    "LAUNCHED",
    "NODES",
    "PENDING_DURATION",
    "AutoscalerMetrics",
    "Counter",
    "Gauge",
    "Histogram",
    "refresh_gauges",
]

PENDING_DURATION = "karpenter_pods_pending_duration_seconds"
LAUNCHED = "karpenter_nodeclaims_launched_total"
CREATED = "karpenter_nodeclaims_created_total"
COST_PER_HOUR = "karpenter_cloudprovider_cost_per_hour"
NODES = "karpenter_nodes_total"
DEFAULT_BUCKETS: tuple[float, ...] = (1, 5, 10, 20, 30, 45, 60, 120, 300, 600)

Labels = tuple[str, ...]


@dataclass
class Counter:
    """A monotonically growing count per label set."""

    label_names: tuple[str, ...] = ()
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, *labels: str, by: float = 1.0) -> None:
        if by < 0:
            raise ValueError(f"a counter only grows; got an increment of {by}")
        key = _key(self.label_names, labels)
        self.values[key] = self.values.get(key, 0.0) + by

    def value(self, *labels: str) -> float:
        return self.values.get(tuple(labels), 0.0)

    def total(self) -> float:
        return sum(self.values.values())

    def export(self) -> dict[str, Any]:
        return {"type": "counter", "labels": list(self.label_names), "values": _rows(self.values)}


@dataclass
class Gauge:
    """A value per label set that is set, not accumulated."""

    label_names: tuple[str, ...] = ()
    values: dict[Labels, float] = field(default_factory=dict)

    def set(self, value: float, *labels: str) -> None:
        self.values[_key(self.label_names, labels)] = value

    def reset(self) -> None:
        self.values = {}

    def value(self, *labels: str) -> float:
        return self.values.get(tuple(labels), 0.0)

    def export(self) -> dict[str, Any]:
        return {"type": "gauge", "labels": list(self.label_names), "values": _rows(self.values)}


@dataclass
class Histogram:
    """Observations in cumulative buckets (upper bounds, as Prometheus counts them)."""

    buckets: Sequence[float] = DEFAULT_BUCKETS
    counts: list[int] = field(default_factory=list)
    count: int = 0
    sum: float = 0.0
    observations: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if list(self.buckets) != sorted(self.buckets):
            raise ValueError("histogram buckets must be in ascending order")
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.observations.append(value)
        for i in range(bisect_left(self.buckets, value), len(self.buckets)):
            self.counts[i] += 1

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the observations themselves (nearest rank); None if empty."""
        if not self.observations:
            return None
        ordered = sorted(self.observations)
        rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[rank]

    def export(self) -> dict[str, Any]:
        return {
            "type": "histogram",
            "count": self.count,
            "sum": self.sum,
            "buckets": {_bound(b): c for b, c in zip(self.buckets, self.counts, strict=True)},
        }


@dataclass
class AutoscalerMetrics:
    """Every metric the autoscaler keeps (see the module docstring)."""

    pending_duration: Histogram = field(default_factory=Histogram)
    launched: Counter = field(
        default_factory=lambda: Counter(("nodepool", "instance_type", "capacity_type", "zone"))
    )
    created: Counter = field(default_factory=lambda: Counter(("nodepool",)))
    cost_per_hour: Gauge = field(default_factory=Gauge)
    nodes: Gauge = field(default_factory=lambda: Gauge(("nodepool",)))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            PENDING_DURATION: self.pending_duration.export(),
            LAUNCHED: self.launched.export(),
            CREATED: self.created.export(),
            COST_PER_HOUR: self.cost_per_hour.export(),
            NODES: self.nodes.export(),
        }


def refresh_gauges(metrics: AutoscalerMetrics, cloud: CloudProvider, client: Client) -> None:
    """Set the gauges from what runs now: the cloud's instances and the cluster's nodes."""
    metrics.cost_per_hour.set(sum(i.price for i in cloud.list() if i.state == "running"))
    metrics.nodes.reset()
    counts: dict[str, int] = {}
    for node in client.list("v1", "Node", copy=False).items:
        pool = ((node.get("metadata") or {}).get("labels") or {}).get(NODEPOOL)
        if pool:
            counts[str(pool)] = counts.get(str(pool), 0) + 1
    for pool, count in sorted(counts.items()):
        metrics.nodes.set(float(count), pool)


def _key(names: tuple[str, ...], labels: tuple[str, ...]) -> Labels:
    if len(labels) != len(names):
        raise ValueError(f"expected labels {list(names)}, got {list(labels)}")
    return tuple(labels)


def _rows(values: dict[Labels, float]) -> list[dict[str, Any]]:
    return [{"labels": list(k), "value": v} for k, v in sorted(values.items())]


def _bound(bound: float) -> str:
    return f"{bound:g}"
