"""Deployments our controllers produce carry the fields of Argo CD's health fixtures.

Argo CD judges a Deployment from ``spec.paused``, ``metadata.generation`` against
``status.observedGeneration``, the replica counts and the ``Progressing`` condition. For
each fixture we drive a Deployment into the same situation on the embedded cluster and
check that every status field of the fixture is present in ours with the same structure,
and that the values Argo CD's judgement reads agree.
"""

from __future__ import annotations

from typing import Any

import yaml

from shipyard.cluster.podutil import condition
from tests.cluster.fixtures import merge
from tests.cluster.test_scenarios import (
    deployment,
    new_cluster,
    ready_count,
    rolling,
    set_image,
    step_until,
)
from tests.compat import compat_dir

Obj = dict[str, Any]


def fixture(name: str) -> Obj:
    loaded: Obj = yaml.load(
        (compat_dir() / "argocd-health" / name).read_text(), Loader=yaml.BaseLoader
    )
    return loaded


def missing(expected: Any, actual: Any, path: str) -> list[str]:
    """Fields of ``expected`` absent from ``actual`` (recursively, lists by first element)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [
            m
            for k, v in expected.items()
            for m in (missing(v, actual[k], f"{path}.{k}") if k in actual else [f"{path}.{k}"])
        ]
    if isinstance(expected, list) and expected:
        return missing(expected[0], actual[0], f"{path}[0]") if actual else [path]
    return []


def conditions_by_type(obj: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in obj["status"]["conditions"]}


def test_a_deployment_past_its_deadline_looks_like_the_degraded_fixture() -> None:
    cluster = new_cluster(nodes=2)
    cluster.client.create(
        merge(
            rolling(replicas=1),
            {"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}},
        )
    )
    step_until(cluster, lambda: ready_count(cluster, "web") == 1)
    set_image(cluster, "example/web:bad")
    step_until(
        cluster,
        lambda: (
            conditions_by_type(deployment(cluster))["Progressing"][1] == "ProgressDeadlineExceeded"
        ),
        limit=400,
    )
    ours, theirs = deployment(cluster), fixture("deployment-degraded.yaml")
    assert missing(theirs["status"], ours["status"], "status") == []
    assert conditions_by_type(ours) == conditions_by_type(theirs)
    progressing = condition(ours, "Progressing")
    assert progressing is not None
    assert progressing["message"].endswith("has timed out progressing.")
    assert ours["status"]["observedGeneration"] == ours["metadata"]["generation"]
    assert (ours["status"]["replicas"], ours["status"]["updatedReplicas"]) == (2, 1)


def test_a_rollout_under_way_looks_like_the_progressing_fixture_and_paused_like_suspended() -> None:
    cluster = new_cluster(nodes=2)
    cluster.client.create(
        merge(
            rolling(replicas=1),
            {"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}},
        )
    )
    step_until(cluster, lambda: ready_count(cluster, "web") == 1)
    set_image(cluster, "example/web:bad")
    cluster.run_for(20)
    ours, theirs = deployment(cluster), fixture("deployment-progressing.yaml")
    assert missing(theirs["status"], ours["status"], "status") == []
    assert conditions_by_type(ours) == conditions_by_type(theirs)

    cluster.client.patch(
        "apps/v1", "Deployment", "web", {"spec": {"paused": True}}, namespace="default"
    )
    cluster.run_for(5)
    paused, suspended = deployment(cluster), fixture("deployment-suspended.yaml")
    assert paused["spec"]["paused"] is True and suspended["spec"]["paused"] == "true"
    assert missing(suspended["status"], paused["status"], "status") == []
