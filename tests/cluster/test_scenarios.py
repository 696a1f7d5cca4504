"""Issue-level scenarios on the whole embedded cluster, in virtual time.

Every component runs (scheduler, workload controllers, kubelets with the simulated runtime,
endpoints, disruption budgets, traffic); the test only applies manifests and steps the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.cluster.drain import Drain
from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.cluster.kubelet.simulated import ImageProfile
from shipyard.cluster.podutil import condition, is_ready
from shipyard.cluster.workloads.rollout import rollout_undo
from shipyard.core.clock import VirtualClock
from shipyard.platform.wiring import memory_cluster
from tests.cluster.fixtures import make_deployment, make_node, make_pdb, make_service, merge

GOOD = ImageProfile(startup_seconds=2, ready_after_seconds=3, capacity_rps=100)
BAD = ImageProfile(startup_seconds=2, ready=False, capacity_rps=100)


def new_cluster(nodes: int = 4, *, cpu: str = "8") -> EmbeddedCluster:
    clock = VirtualClock()
    cluster = EmbeddedCluster(
        memory_cluster(clock),
        profiles={"example/web:1": GOOD, "example/web:2": GOOD, "example/web:bad": BAD},
    )
    for i in range(nodes):
        cluster.client.create(make_node(f"node-{i}", cpu=cpu, memory="32Gi"))
    return cluster.start()


def pods_of(cluster: EmbeddedCluster, app: str) -> list[dict[str, Any]]:
    return list(
        cluster.client.list("v1", "Pod", namespace="default", label_selector=f"app={app}").items
    )


def ready_count(cluster: EmbeddedCluster, app: str) -> int:
    return sum(
        1
        for p in pods_of(cluster, app)
        if is_ready(p) and not p["metadata"].get("deletionTimestamp")
    )


def images(cluster: EmbeddedCluster, app: str) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, app)}


def deployment(cluster: EmbeddedCluster, name: str = "web") -> dict[str, Any]:
    return cluster.client.get("apps/v1", "Deployment", name, namespace="default")


def step_until(
    cluster: EmbeddedCluster,
    done: Callable[[], bool],
    *,
    limit: float = 900,
    every: Callable[[], None] | None = None,
) -> float:
    """Advance one second at a time until ``done()``; returns the virtual seconds it took."""
    start = cluster.clock.now()
    while not done():
        if cluster.clock.now() - start > limit:
            pytest.fail(f"not done after {limit}s of virtual time")
        cluster.run_for(1)
        if every is not None:
            every()
    return cluster.clock.now() - start


def set_image(cluster: EmbeddedCluster, image: str, name: str = "web") -> None:
    cluster.client.patch(
        "apps/v1",
        "Deployment",
        name,
        {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}},
        namespace="default",
        patch_type="strategic",
    )


def rolling(replicas: int = 10, **overrides: Any) -> dict[str, Any]:
    return make_deployment(
        "web",
        replicas=replicas,
        spec={
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "progressDeadlineSeconds": 120,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example/web:1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": 8080},
                                "periodSeconds": 2,
                            },
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                }
            },
        },
        **overrides,
    )


def test_a_rolling_update_under_traffic_loses_no_request_and_never_dips_below_ten() -> None:
    cluster = new_cluster()
    cluster.client.create(rolling())
    cluster.client.create(make_service("web", port=80, target_port="http"))
    step_until(cluster, lambda: ready_count(cluster, "web") == 10)
    cluster.traffic.add_load("default", "web", 500.0)
    cluster.run_for(10)

    set_image(cluster, "example/web:2")
    lowest = [10]

    def watch_ready() -> None:
        lowest[0] = min(lowest[0], ready_count(cluster, "web"))

    step_until(
        cluster,
        lambda: images(cluster, "web") == {"example/web:2"} and ready_count(cluster, "web") == 10,
        every=watch_ready,
    )
    cluster.run_for(10)
    stats = cluster.traffic.stats("default", "web")
    assert stats.sent > 0
    assert stats.failed == 0
    assert lowest[0] >= 10
    status = deployment(cluster)["status"]
    assert status["updatedReplicas"] == 10 and status["availableReplicas"] == 10


def test_a_release_that_never_gets_ready_exceeds_its_deadline_and_undo_restores_it() -> None:
    cluster = new_cluster()
    cluster.client.create(rolling(replicas=4))
    cluster.client.create(make_service("web", port=80, target_port="http"))
    step_until(cluster, lambda: ready_count(cluster, "web") == 4)
    cluster.traffic.add_load("default", "web", 200.0)

    set_image(cluster, "example/web:bad")

    def deadline_exceeded() -> bool:
        cond = condition(deployment(cluster), "Progressing")
        return cond is not None and cond.get("reason") == "ProgressDeadlineExceeded"

    step_until(cluster, deadline_exceeded, limit=400)
    assert condition(deployment(cluster), "Progressing")["status"] == "False"  # type: ignore[index]
    assert ready_count(cluster, "web") == 4  # the old pods keep serving
    assert cluster.traffic.stats("default", "web").failed == 0

    rollout_undo(cluster.client, "default", "web")
    step_until(
        cluster,
        lambda: images(cluster, "web") == {"example/web:1"} and ready_count(cluster, "web") == 4,
    )
    template = deployment(cluster)["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "example/web:1"


def test_a_budget_blocks_a_drain_until_replacements_are_ready() -> None:
    cluster = new_cluster(nodes=2)
    cluster.client.create(
        merge(
            rolling(replicas=2),
            {
                "spec": {
                    "template": {
                        "spec": {
                            "affinity": {
                                "podAntiAffinity": {
                                    "requiredDuringSchedulingIgnoredDuringExecution": [
                                        {
                                            "labelSelector": {"matchLabels": {"app": "web"}},
                                            "topologyKey": "kubernetes.io/hostname",
                                        }
                                    ]
                                }
                            }
                        }
                    }
                }
            },
        )
    )
    cluster.client.create(make_pdb("web", min_available=2))
    step_until(cluster, lambda: ready_count(cluster, "web") == 2)
    victim = next(p for p in pods_of(cluster, "web"))["spec"]["nodeName"]

    drain = Drain(cluster.client, cluster.clock, victim, timeout=600)
    drain.start()
    cluster.run_for(60)
    assert not drain.done  # the budget allows no disruption: nowhere for a replacement to go
    assert ready_count(cluster, "web") == 2

    cluster.client.create(make_node("node-new", cpu="8", memory="32Gi"))
    cluster.client.patch(
        "apps/v1", "Deployment", "web", {"spec": {"replicas": 3}}, namespace="default"
    )
    step_until(cluster, lambda: drain.done, limit=600, every=lambda: _assert_at_least(cluster, 2))
    assert drain.succeeded
    on_victim = [p for p in pods_of(cluster, "web") if p["spec"].get("nodeName") == victim]
    assert on_victim == []


def _assert_at_least(cluster: EmbeddedCluster, n: int) -> None:
    assert ready_count(cluster, "web") >= n


def test_an_hpa_scales_three_to_five_on_a_surge_and_back_after_the_window() -> None:
    cluster = new_cluster()
    cluster.client.create(rolling(replicas=3))
    cluster.client.create(make_service("web", port=80, target_port="http"))
    cluster.client.create(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 3,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        }
    )
    step_until(cluster, lambda: ready_count(cluster, "web") == 3)
    cluster.traffic.add_load("default", "web", 30.0)  # 10 rps a pod: 15m of 100m, 15 %
    cluster.run_for(120)
    assert deployment(cluster)["spec"]["replicas"] == 3

    cluster.traffic.add_load("default", "web", 300.0)  # 100 rps a pod: 105 %
    step_until(cluster, lambda: deployment(cluster)["spec"]["replicas"] == 5, limit=300)
    surge_end = cluster.clock.now()
    cluster.traffic.add_load("default", "web", 30.0)
    step_until(cluster, lambda: deployment(cluster)["spec"]["replicas"] == 3, limit=900)
    assert cluster.clock.now() - surge_end >= 300  # the scale-down stabilization window
