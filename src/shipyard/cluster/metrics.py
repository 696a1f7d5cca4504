"""Seams between the container runtime, traffic and the autoscalers that read usage.

``PodMetrics`` is what metrics-server gives a HorizontalPodAutoscaler: current CPU usage per
pod. ``ServingPods`` is how a traffic model learns how much load a pod can take right now and
tells the runtime how much it got, so CPU usage follows traffic. The simulated runtime
implements both; a live runtime reads cgroup usage instead.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["PodMetrics", "ServingPods"]


class PodMetrics(Protocol):
    def pod_cpu_usage(self, namespace: str, name: str) -> float | None:
        """Current CPU usage of the pod in millicores, or None when not known (not running)."""
        ...


class ServingPods(Protocol):
    def capacity(self, namespace: str, name: str) -> float:
        """Requests per second the pod can serve right now (0 when it is not serving)."""
        ...

    def record_load(self, namespace: str, name: str, rps: float) -> None:
        """The rate of requests the pod is receiving now (drives its CPU usage)."""
        ...
