"""What the scheduler reads from a pod: requests, priority, affinity terms."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster.scheduler.podinfo import PodInfo
from shipyard.cluster.scheduler.snapshot import Snapshot
from tests.cluster.scheduler.helpers import pod

MI = 1024 * 1024


def container(name: str, **requests: str) -> dict[str, Any]:
    return {"name": name, "image": "x", "resources": {"requests": requests}}


def test_requests_and_the_non_zero_requests_scoring_uses() -> None:
    manifest = pod(
        {
            "spec": {
                "containers": [container("a", cpu="250m"), container("b", memory="64Mi")],
                "initContainers": [container("init", cpu="1", memory="1Mi")],
                "overhead": {"cpu": "50m"},
            }
        }
    )
    res = PodInfo(manifest).resources
    assert (res.cpu, res.memory) == (1050, 64 * MI)  # init container's cpu is the larger
    # a has no memory request and b no cpu request: 200Mi and 100m stand in for them.
    assert (res.nonzero_cpu, res.nonzero_memory) == (1050, 264 * MI)


def test_explicit_zero_requests_stay_zero() -> None:
    res = PodInfo(pod({"cpu": "0", "memory": "0"})).resources
    assert (res.nonzero_cpu, res.nonzero_memory) == (0, 0)
    assert res.is_empty()


PRIORITY_CLASSES = [
    {"metadata": {"name": "high"}, "value": 1000},
    {"metadata": {"name": "standard"}, "value": 10, "globalDefault": True},
    {"metadata": {"name": "polite"}, "value": 500, "preemptionPolicy": "Never"},
]


@pytest.mark.parametrize(
    ("spec", "priority", "policy"),
    [
        ({"priority": 7}, 7, "PreemptLowerPriority"),
        ({"priorityClassName": "high"}, 1000, "PreemptLowerPriority"),
        ({}, 10, "PreemptLowerPriority"),  # the global default
        ({"priorityClassName": "polite"}, 500, "Never"),
        ({"priorityClassName": "polite", "preemptionPolicy": "PreemptLowerPriority"}, 500,
         "PreemptLowerPriority"),
        ({"priorityClassName": "system-node-critical"}, 2_000_001_000, "PreemptLowerPriority"),
    ],
)  # fmt: skip
def test_priority_resolution(spec: dict[str, Any], priority: int, policy: str) -> None:
    snap = Snapshot.from_objects(priority_classes=PRIORITY_CLASSES)
    resolved = snap.pod_info(pod({"spec": spec}))
    assert (resolved.priority, resolved.preemption_policy) == (priority, policy)


def test_no_classes_means_priority_zero() -> None:
    assert PodInfo(pod()).priority == 0


def term(**extra: Any) -> dict[str, Any]:
    return {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "db"}}, **extra}


def anti(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}
        }
    }


def test_affinity_terms_default_to_the_pods_namespace() -> None:
    parsed = PodInfo(pod({"namespace": "shop", "spec": anti(term())}))
    (only,) = parsed.required_anti_affinity
    assert only.namespaces == frozenset({"shop"})
    assert only.namespace_selector is None


def test_an_empty_namespace_selector_means_every_namespace() -> None:
    parsed = PodInfo(pod({"namespace": "shop", "spec": anti(term(namespaceSelector={}))}))
    (only,) = parsed.required_anti_affinity
    other = PodInfo(pod({"namespace": "elsewhere", "labels": {"app": "db"}}))
    assert only.matches(other, lambda ns: {})


def test_match_label_keys_join_the_selector() -> None:
    parsed = PodInfo(
        pod({"labels": {"app": "db", "rev": "2"}, "spec": anti(term(matchLabelKeys=["rev"]))})
    )
    (only,) = parsed.required_anti_affinity
    assert str(only.selector) == "app=db,rev in (2)"


def test_a_new_version_reuses_the_parse() -> None:
    first = PodInfo(pod())
    status_only = {**first.obj, "status": {"phase": "Pending", "conditions": []}}
    assert first.with_object(status_only).resources is first.resources
    bound = first.assumed_on("n1")
    assert bound.node_name == "n1" and bound.resources is first.resources
    relabelled = {**first.obj, "metadata": {**first.obj["metadata"], "labels": {"app": "x"},
                                            "resourceVersion": "2"}}  # fmt: skip
    assert first.with_object(relabelled).labels == {"app": "x"}
