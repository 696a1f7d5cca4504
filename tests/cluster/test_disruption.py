"""PodDisruptionBudgets: the status math, the disruption controller and the Eviction API."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster import disruption
from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.disruption import (
    DisruptionBudgetError,
    DisruptionController,
    EvictionAPI,
    disruptions_allowed,
    expected_and_desired,
    scaled_value,
)
from shipyard.cluster.runtime import Manager
from shipyard.core.clock import VirtualClock, format_time
from shipyard.core.errors import ShipyardError
from tests.cluster.fixtures import make_deployment, make_pdb, make_pod, new_client

Obj = dict[str, Any]
Env = tuple[VirtualClock, EmbeddedClient]
HOLD = "test.shipyard.io/hold"  # a finalizer: keeps a deleted pod visible, terminating


# --- the math, as a table -----------------------------------------------------------------------

# (spec, matching pods, controllers' scale, healthy) -> (expectedPods, desiredHealthy, allowed)
BUDGETS = [
    ({"maxUnavailable": 1}, 3, 3, 3, (3, 2, 1)),
    ({"maxUnavailable": 1}, 3, 3, 2, (3, 2, 0)),
    ({"maxUnavailable": 0}, 3, 3, 3, (3, 3, 0)),
    ({"maxUnavailable": 5}, 3, 3, 3, (3, 0, 3)),
    ({"maxUnavailable": "50%"}, 3, 3, 3, (3, 1, 2)),  # 1.5 unavailable rounds up to 2
    ({"maxUnavailable": "10%"}, 10, 10, 10, (10, 9, 1)),
    ({"maxUnavailable": "1%"}, 5, 5, 5, (5, 4, 1)),  # 0.05 rounds up to 1
    ({"maxUnavailable": "0%"}, 4, 4, 4, (4, 4, 0)),
    ({"maxUnavailable": 1}, 2, 5, 2, (5, 4, 0)),  # scale counts pods not created yet
    ({"minAvailable": 2}, 4, 9, 4, (4, 2, 2)),  # an int counts pods, not the scale
    ({"minAvailable": 2}, 1, 9, 1, (1, 2, 0)),
    ({"minAvailable": "50%"}, 3, 3, 3, (3, 2, 1)),  # 1.5 rounds up to 2
    ({"minAvailable": "33%"}, 3, 3, 3, (3, 1, 2)),
    ({"minAvailable": "34%"}, 3, 3, 3, (3, 2, 1)),
    ({"minAvailable": "100%"}, 3, 3, 3, (3, 3, 0)),
    ({"minAvailable": "0%"}, 0, 0, 0, (0, 0, 0)),  # nothing expected: nothing allowed
    ({"minAvailable": 0}, 0, 0, 0, (0, 0, 0)),
]


@pytest.mark.parametrize(("spec", "pods", "scale", "healthy", "expected"), BUDGETS)
def test_budget_math(
    spec: Obj, pods: int, scale: int, healthy: int, expected: tuple[int, int, int]
) -> None:
    expected_pods, desired = expected_and_desired(spec, matching_pods=pods, scale=lambda: scale)
    assert (expected_pods, desired, disruptions_allowed(expected_pods, desired, healthy)) == (
        expected
    )


def test_scaled_values_round_either_way_and_reject_non_percentages() -> None:
    assert scaled_value("25%", 10, round_up=True) == 3
    assert scaled_value("25%", 10, round_up=False) == 2
    assert scaled_value(7, 10, round_up=True) == 7
    with pytest.raises(ShipyardError, match="not a percentage"):
        scaled_value("half", 10, round_up=True)


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def env() -> Env:
    clock, client = new_client()
    client.set_evictor(EvictionAPI(client))
    manager = Manager(client, clock)
    manager.add(DisruptionController(client))
    manager.start()
    return clock, client


def deployment_with_replica_set(client: EmbeddedClient, replicas: int) -> Obj:
    """A Deployment and its ReplicaSet; returns the ReplicaSet (pods are added one by one)."""
    deployment = client.create(make_deployment("web", replicas=replicas))
    template = deployment["spec"]["template"]
    return client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-5d4f8",
                "namespace": "default",
                "labels": {"app": "web"},
                "ownerReferences": [owner(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template,
            },
        }
    )


def owner(obj: Obj) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
    }


def running_pod(
    client: EmbeddedClient,
    name: str,
    *,
    owned_by: Obj | None,
    ready: bool = True,
    phase: str = "Running",
    hold: bool = False,
) -> Obj:
    metadata: Obj = {"labels": {"app": "web"}}
    if owned_by is not None:
        metadata["ownerReferences"] = [owner(owned_by)]
    if hold:
        metadata["finalizers"] = [HOLD]
    client.create(make_pod(name, metadata=metadata, spec={"nodeName": "node-1"}))
    return set_ready(client, name, ready, phase=phase)


def set_ready(client: EmbeddedClient, name: str, ready: bool, *, phase: str = "Running") -> Obj:
    status = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return client.patch(
        "v1", "Pod", name, {"status": status}, namespace="default", subresource="status"
    )


def budget(client: EmbeddedClient, name: str = "web") -> Obj:
    return client.get("policy/v1", "PodDisruptionBudget", name, namespace="default")


def allowed_condition(pdb: Obj) -> Obj:
    [cond] = [c for c in pdb["status"]["conditions"] if c["type"] == "DisruptionAllowed"]
    return cond


def events(client: EmbeddedClient, reason: str) -> list[Obj]:
    return [e for e in client.list("v1", "Event").items if e["reason"] == reason]


def pod(client: EmbeddedClient, name: str) -> Obj:
    return client.get("v1", "Pod", name, namespace="default")


def three_ready_pods(env: Env, **pdb: Any) -> Obj:
    clock, client = env
    rs = deployment_with_replica_set(client, replicas=3)
    for i in (1, 2, 3):
        running_pod(client, f"web-{i}", owned_by=rs, hold=True)
    client.create(make_pdb("web", **pdb))
    clock.run_until_idle()
    return rs


# --- the controller -----------------------------------------------------------------------------


def test_status_counts_the_deployment_scale_and_ready_pods(env: Env) -> None:
    clock, client = env
    three_ready_pods(env, max_unavailable=1)
    status = budget(client)["status"]
    assert {k: status[k] for k in ("expectedPods", "desiredHealthy", "currentHealthy")} == {
        "expectedPods": 3,
        "desiredHealthy": 2,
        "currentHealthy": 3,
    }
    assert status["disruptionsAllowed"] == 1
    assert status["observedGeneration"] == 1
    cond = allowed_condition(budget(client))
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "SufficientPods", "")

    clock.advance(30)
    set_ready(client, "web-2", False)
    clock.run_until_idle()
    status = budget(client)["status"]
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 0)
    cond = allowed_condition(budget(client))
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
    assert cond["lastTransitionTime"] == format_time(clock.now())


def test_budget_without_pods_allows_nothing_and_says_so(env: Env) -> None:
    clock, client = env
    client.create(make_pdb("web", min_available="50%"))
    clock.run_until_idle()
    status = budget(client)["status"]
    assert (status["expectedPods"], status["disruptionsAllowed"]) == (0, 0)
    assert events(client, "NoPods")[0]["message"] == "No matching pods found"


def test_pods_of_an_unscalable_controller_fail_the_sync_safely(env: Env) -> None:
    clock, client = env
    job = client.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "batch", "namespace": "default"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "x"}],
                    },
                }
            },
        }
    )
    running_pod(client, "batch-1", owned_by=job)
    client.create(make_pdb("web", max_unavailable=1))
    clock.run_until_idle()
    pdb = budget(client)
    assert pdb["status"]["disruptionsAllowed"] == 0
    cond = allowed_condition(pdb)
    assert (cond["status"], cond["reason"]) == ("False", "SyncFailed")
    assert cond["message"] == 'found no controllers for pod "batch-1"'
    assert events(client, "CalculateExpectedPodCountFailed")


def test_unmanaged_pods_are_reported_and_left_out_of_the_scale(env: Env) -> None:
    clock, client = env
    rs = deployment_with_replica_set(client, replicas=2)
    running_pod(client, "web-1", owned_by=rs)
    running_pod(client, "web-2", owned_by=rs)
    running_pod(client, "stray", owned_by=None)
    client.create(make_pdb("web", max_unavailable=1))
    clock.run_until_idle()
    status = budget(client)["status"]
    assert (status["expectedPods"], status["currentHealthy"], status["disruptionsAllowed"]) == (
        2,
        3,
        2,
    )
    assert events(client, "UnmanagedPods")


def test_disrupted_pods_that_are_not_deleted_expire_after_two_minutes(env: Env) -> None:
    clock, client = env
    three_ready_pods(env, max_unavailable=1)
    pdb = budget(client)
    pdb["status"]["disruptedPods"] = {"web-1": format_time(clock.now())}
    client.update_status(pdb)
    clock.run_until_idle(limit=clock.now() + 1)
    status = budget(client)["status"]
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 0)
    assert status["disruptedPods"] == {"web-1": format_time(clock.now() - 1)}

    clock.advance(121)
    status = budget(client)["status"]
    assert "disruptedPods" not in status
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (3, 1)
    [warning] = events(client, "NotDeleted")
    assert warning["involvedObject"]["name"] == "web-1"


# --- the Eviction API ---------------------------------------------------------------------------


def test_eviction_is_refused_until_a_replacement_is_ready(env: Env) -> None:
    clock, client = env
    rs = three_ready_pods(env, min_available=3)

    with pytest.raises(DisruptionBudgetError) as refused:
        client.evict("web-1", namespace="default")
    assert refused.value.code == 429
    assert refused.value.message == (
        "Cannot evict pod as it would violate the pod's disruption budget."
    )
    assert (
        refused.value.cause == "The disruption budget web needs 3 healthy pods and has 3 currently"
    )
    assert "deletionTimestamp" not in pod(client, "web-1")["metadata"]

    running_pod(client, "web-4", owned_by=rs)  # the replacement becomes ready
    clock.run_until_idle()
    client.evict("web-1", namespace="default")

    evicted = pod(client, "web-1")
    assert evicted["metadata"]["deletionTimestamp"]
    [target] = [c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert (target["status"], target["reason"], target["message"]) == (
        "True",
        "EvictionByEvictionAPI",
        "Eviction API: evicting",
    )
    with pytest.raises(DisruptionBudgetError):  # web-1 no longer counts: budget spent
        client.evict("web-2", namespace="default")


def test_refused_evictions_in_a_row_judge_the_budget_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, client = env
    rs = three_ready_pods(env, min_available=3)
    judged: list[str] = []
    real = disruption.assess

    def counting(client: Any, pdb: Obj, now: float) -> disruption.Assessment:
        judged.append(pdb["metadata"]["name"])
        return real(client, pdb, now)

    monkeypatch.setattr(disruption, "assess", counting)
    for name in ("web-1", "web-2", "web-3"):  # a drain's pass: nothing written in between
        with pytest.raises(DisruptionBudgetError):
            client.evict(name, namespace="default")
    assert judged == ["web"]

    running_pod(client, "web-4", owned_by=rs)  # a write: the budget is judged again
    clock.run_until_idle()
    judged.clear()
    client.evict("web-1", namespace="default")
    assert judged == ["web"]
    with pytest.raises(DisruptionBudgetError):  # the eviction wrote: judged again, spent
        client.evict("web-2", namespace="default")
    assert judged == ["web", "web"]


def test_eviction_records_the_disruption_in_the_budget(env: Env) -> None:
    clock, client = env
    three_ready_pods(env, max_unavailable=1)
    client.evict("web-1", namespace="default")
    status = budget(client)["status"]
    assert status["disruptedPods"] == {"web-1": format_time(clock.now())}
    assert status["disruptionsAllowed"] == 0
    assert allowed_condition(budget(client))["reason"] == "InsufficientPods"
    clock.run_until_idle()  # the controller sees web-1 terminating and drops the record
    status = budget(client)["status"]
    assert "disruptedPods" not in status
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 0)


def test_unready_pods_are_evictable_while_the_budget_is_healthy(env: Env) -> None:
    clock, client = env
    rs = three_ready_pods(env, min_available=2)
    running_pod(client, "web-4", owned_by=rs, ready=False, hold=True)
    clock.run_until_idle()
    assert budget(client)["status"]["disruptionsAllowed"] == 1
    client.evict("web-4", namespace="default")  # unready: does not spend the budget
    assert "disruptedPods" not in budget(client)["status"]
    assert pod(client, "web-4")["metadata"]["deletionTimestamp"]


def test_unready_pods_of_a_broken_budget_need_always_allow(env: Env) -> None:
    clock, client = env
    rs = deployment_with_replica_set(client, replicas=2)
    running_pod(client, "web-1", owned_by=rs, ready=False, hold=True)
    running_pod(client, "web-2", owned_by=rs, ready=False, hold=True)
    client.create(make_pdb("web", min_available=1))
    clock.run_until_idle()
    with pytest.raises(DisruptionBudgetError):
        client.evict("web-1", namespace="default")

    pdb = budget(client)
    pdb["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    client.update(pdb)
    clock.run_until_idle()
    client.evict("web-1", namespace="default")
    assert pod(client, "web-1")["metadata"]["deletionTimestamp"]


@pytest.mark.parametrize("phase", ["Pending", "Succeeded", "Failed"])
def test_pending_and_finished_pods_ignore_budgets(env: Env, phase: str) -> None:
    clock, client = env
    rs = three_ready_pods(env, min_available=3)
    running_pod(client, "web-9", owned_by=rs, ready=False, phase=phase, hold=True)
    clock.run_until_idle()
    client.evict("web-9", namespace="default")
    assert pod(client, "web-9")["metadata"]["deletionTimestamp"]


def test_a_pod_under_two_budgets_cannot_be_evicted(env: Env) -> None:
    clock, client = env
    three_ready_pods(env, max_unavailable=1)
    client.create(make_pdb("web-too", match_labels={"app": "web"}, max_unavailable=1))
    clock.run_until_idle()
    with pytest.raises(ShipyardError) as failed:
        client.evict("web-1", namespace="default")
    assert failed.value.code == 500
    assert failed.value.message == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does "
        "not support."
    )


def test_pods_without_a_budget_are_simply_deleted(env: Env) -> None:
    _, client = env
    running_pod(client, "lonely", owned_by=None, hold=True)
    client.evict("lonely", namespace="default")
    assert pod(client, "lonely")["metadata"]["deletionTimestamp"]
