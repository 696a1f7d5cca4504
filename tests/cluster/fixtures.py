"""Builders for cluster tests: ``make_pod(**overrides)``, ``make_node(...)``, ``make_deployment``.

Every builder returns a plain manifest dict; ``overrides`` are deep-merged (a nested dict
merges, anything else replaces), so a test states only what matters to it.
"""

from __future__ import annotations

from typing import Any

from shipyard.cluster.client import EmbeddedClient
from shipyard.core.clock import VirtualClock
from shipyard.platform.wiring import memory_cluster

Obj = dict[str, Any]


def merge(base: Obj, overrides: Obj) -> Obj:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def make_pod(
    name: str = "web-1",
    *,
    namespace: str = "default",
    cpu: str = "100m",
    memory: str = "128Mi",
    labels: dict[str, str] | None = None,
    image: str = "example/web:1",
    **overrides: Any,
) -> Obj:
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ]
        },
    }
    return merge(pod, overrides)


def make_node(
    name: str = "node-1",
    *,
    cpu: str = "4",
    memory: str = "16Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    **overrides: Any,
) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **(labels or {}),
            },
        },
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": dict(allocatable), "allocatable": dict(allocatable)},
    }
    return merge(node, overrides)


def make_deployment(
    name: str = "web",
    *,
    namespace: str = "default",
    replicas: int = 3,
    image: str = "example/web:1",
    cpu: str = "100m",
    memory: str = "128Mi",
    **overrides: Any,
) -> Obj:
    labels = {"app": name}
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        }
                    ]
                },
            },
        },
    }
    return merge(deployment, overrides)


def new_client(clock: VirtualClock | None = None) -> tuple[VirtualClock, EmbeddedClient]:
    """A fresh in-memory cluster (bootstrap namespaces only) on a virtual clock."""
    clock = clock or VirtualClock()
    return clock, EmbeddedClient(memory_cluster(clock))


def make_service(
    name: str = "web",
    *,
    namespace: str = "default",
    selector: dict[str, str] | None = None,
    port: int = 80,
    target_port: int | str = 8080,
    **overrides: Any,
) -> Obj:
    """A ClusterIP Service with one port (``http``) selecting ``app=<name>``."""
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": selector if selector is not None else {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": target_port}],
        },
    }
    return merge(service, overrides)


def make_pdb(
    name: str = "web",
    *,
    namespace: str = "default",
    match_labels: dict[str, str] | None = None,
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
    **overrides: Any,
) -> Obj:
    """A policy/v1 PodDisruptionBudget selecting ``app=<name>`` (maxUnavailable 1 by default)."""
    spec: Obj = {"selector": {"matchLabels": match_labels or {"app": name}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    elif max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    else:
        spec["maxUnavailable"] = 1
    pdb: Obj = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return merge(pdb, overrides)
