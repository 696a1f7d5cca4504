"""The DaemonSet controller: one pod per eligible node, taints and selectors, rolling updates.

No scheduler or kubelet runs here: ``run_daemon_pods`` plays both, binding each pending pod
to the node its ``metadata.name`` affinity names and marking it Running and Ready.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.runtime import Manager
from shipyard.cluster.workloads.daemonset import (
    REVISION_HASH_LABEL,
    DaemonSetController,
    add_daemon_tolerations,
    node_should_run,
    pin_to_node,
    target_node,
    template_hash,
)
from shipyard.core.clock import VirtualClock, format_time
from shipyard.core.objects import Obj
from tests.cluster.fixtures import make_node, merge, new_client

Env = tuple[VirtualClock, EmbeddedClient]


# --- builders and helpers -------------------------------------------------------------------


def make_daemonset(name: str = "agent", *, image: str = "example/agent:1", **overrides: Any) -> Obj:
    labels = {"app": name}
    ds: Obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "agent",
                            "image": image,
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }
    return merge(ds, overrides)


@pytest.fixture
def env() -> Env:
    return new_client()


def start(env: Env) -> Manager:
    clock, client = env
    manager = Manager(client, clock)
    manager.add(DaemonSetController(client))
    manager.start()
    settle(env)
    return manager


def settle(env: Env, seconds: float = 1.0) -> None:
    env[0].advance(seconds)


def daemon_pods(client: EmbeddedClient, name: str = "agent") -> list[Obj]:
    return client.list("v1", "Pod", namespace="default", label_selector=f"app={name}").items


def pods_by_node(client: EmbeddedClient) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in daemon_pods(client):
        out.setdefault(target_node(pod) or "?", []).append(pod)
    return out


def status(client: EmbeddedClient, name: str = "agent") -> dict[str, Any]:
    ds = client.get("apps/v1", "DaemonSet", name, namespace="default")
    result: dict[str, Any] = ds.get("status") or {}
    return result


def run_daemon_pods(env: Env) -> None:
    """Scheduler and kubelet: bind pending pods to their target node, mark them Ready."""
    clock, client = env
    now = format_time(clock.now())
    for pod in daemon_pods(client):
        md, spec = pod["metadata"], pod["spec"]
        if md.get("deletionTimestamp") or pod["status"].get("phase") != "Pending":
            continue
        if not spec.get("nodeName"):
            client.patch(
                "v1", "Pod", md["name"], {"spec": {"nodeName": target_node(pod)}},
                namespace="default",
            )  # fmt: skip
        ready = {"type": "Ready", "status": "True", "lastTransitionTime": now}
        client.patch(
            "v1", "Pod", md["name"],
            {"status": {"phase": "Running", "startTime": now, "conditions": [ready]}},
            namespace="default", subresource="status",
        )  # fmt: skip
    settle(env)


def finish_terminations(env: Env) -> None:
    """Kubelet: pods being deleted stop and go (a grace-0 delete once the store has grace)."""
    _, client = env
    graceful = "grace_period_seconds" in inspect.signature(client.delete).parameters
    for pod in client.list("v1", "Pod", namespace="default").items:
        if pod["metadata"].get("deletionTimestamp"):
            extra: dict[str, Any] = {"grace_period_seconds": 0} if graceful else {}
            client.delete("v1", "Pod", pod["metadata"]["name"], namespace="default", **extra)
    settle(env)


def set_pod_phase(env: Env, pod: Obj, phase: str, *, then: float = 1.0) -> None:
    env[1].patch(
        "v1", "Pod", pod["metadata"]["name"], {"status": {"phase": phase, "conditions": []}},
        namespace="default", subresource="status",
    )  # fmt: skip
    settle(env, then)


def add_nodes(client: EmbeddedClient, *names: str, **overrides: Any) -> None:
    for name in names:
        client.create(make_node(name, **overrides))


def events(client: EmbeddedClient, reason: str) -> list[str]:
    return [
        e["message"]
        for e in client.list("v1", "Event", namespace="default").items
        if e["reason"] == reason
    ]


def change_image(client: EmbeddedClient, image: str) -> None:
    ds = client.get("apps/v1", "DaemonSet", "agent", namespace="default")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
    client.update(ds)


def images_by_node(client: EmbeddedClient) -> dict[str, list[str]]:
    return {
        node: sorted(p["spec"]["containers"][0]["image"] for p in pods)
        for node, pods in sorted(pods_by_node(client).items())
    }


# --- one pod per node -----------------------------------------------------------------------


def test_one_pod_per_node_and_a_new_node_gets_one(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1", "node-2", "node-3")
    client.create(make_daemonset())
    start(env)

    assert sorted(pods_by_node(client)) == ["node-1", "node-2", "node-3"]
    assert status(client) == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 0,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberUnavailable": 3,
    }

    run_daemon_pods(env)
    assert status(client)["numberReady"] == 3
    assert status(client)["numberAvailable"] == 3
    assert "numberUnavailable" not in status(client)

    add_nodes(client, "node-4")
    settle(env)
    assert sorted(pods_by_node(client)) == ["node-1", "node-2", "node-3", "node-4"]
    assert status(client)["desiredNumberScheduled"] == 4
    assert len(events(client, "SuccessfulCreate")) == 4


def test_pods_are_pinned_by_node_affinity_for_the_scheduler_to_bind(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1")
    client.create(make_daemonset())
    start(env)

    (pod,) = daemon_pods(client)
    assert "nodeName" not in pod["spec"]
    assert pod["spec"]["affinity"]["nodeAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
            ]
        }
    }
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert pod["metadata"]["labels"][REVISION_HASH_LABEL] == template_hash(
        client.get("apps/v1", "DaemonSet", "agent", namespace="default")["spec"]["template"]
    )
    tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerations
    assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerations
    assert events(client, "SuccessfulCreate") == [f"Created pod: {pod['metadata']['name']}"]


def test_a_node_that_goes_away_takes_nothing_else_with_it(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1", "node-2")
    client.create(make_daemonset())
    start(env)
    run_daemon_pods(env)

    client.delete("v1", "Node", "node-2")
    settle(env)

    assert status(client)["desiredNumberScheduled"] == 1
    assert status(client)["currentNumberScheduled"] == 1
    assert sorted(pods_by_node(client)) == ["node-1", "node-2"]  # pod GC's job, not ours


# --- eligibility ----------------------------------------------------------------------------


def test_node_selector_excludes_nodes_and_follows_label_changes(env: Env) -> None:
    _, client = env
    add_nodes(client, "ssd-1", "ssd-2", labels={"disk": "ssd"})
    add_nodes(client, "hdd-1")
    selector = {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}
    client.create(make_daemonset(spec=selector))
    start(env)
    assert sorted(pods_by_node(client)) == ["ssd-1", "ssd-2"]
    assert status(client)["desiredNumberScheduled"] == 2

    client.patch("v1", "Node", "hdd-1", {"metadata": {"labels": {"disk": "ssd"}}})
    settle(env)
    assert sorted(pods_by_node(client)) == ["hdd-1", "ssd-1", "ssd-2"]

    client.patch("v1", "Node", "ssd-1", {"metadata": {"labels": {"disk": None}}})
    settle(env)
    assert sorted(pods_by_node(client)) == ["hdd-1", "ssd-2"]
    assert len(events(client, "SuccessfulDelete")) == 1


def test_tainted_node_is_skipped_unless_tolerated(env: Env) -> None:
    _, client = env
    gpu_taint = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    add_nodes(client, "node-1")
    add_nodes(client, "gpu-1", taints=gpu_taint)
    client.create(make_daemonset())
    toleration = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    tolerant = {"template": {"spec": {"tolerations": [toleration]}}}
    client.create(make_daemonset("gpu-agent", spec=tolerant))
    start(env)

    assert sorted(pods_by_node(client)) == ["node-1"]
    assert sorted(target_node(p) or "" for p in daemon_pods(client, "gpu-agent")) == [
        "gpu-1",
        "node-1",
    ]
    assert status(client, "gpu-agent")["desiredNumberScheduled"] == 2


def test_cordoned_and_not_ready_nodes_still_run_daemons(env: Env) -> None:
    _, client = env
    add_nodes(client, "cordoned", taints=[{"key": "node.kubernetes.io/unschedulable",
                                           "effect": "NoSchedule"}])  # fmt: skip
    add_nodes(client, "sick", taints=[{"key": "node.kubernetes.io/not-ready",
                                       "effect": "NoExecute"}])  # fmt: skip
    client.create(make_daemonset())
    start(env)
    assert sorted(pods_by_node(client)) == ["cordoned", "sick"]


def test_a_new_no_execute_taint_evicts_the_daemon_pod(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1", "node-2")
    client.create(make_daemonset())
    start(env)
    run_daemon_pods(env)

    taint = {"key": "maintenance", "effect": "NoExecute"}
    client.patch("v1", "Node", "node-2", {"spec": {"taints": [taint]}})
    settle(env)
    finish_terminations(env)

    assert sorted(pods_by_node(client)) == ["node-1"]
    assert status(client)["desiredNumberScheduled"] == 1
    assert status(client)["numberMisscheduled"] == 0


def test_a_new_no_schedule_taint_leaves_the_running_pod_alone(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1")
    client.create(make_daemonset())
    start(env)
    run_daemon_pods(env)

    taint = {"key": "x", "effect": "NoSchedule"}
    client.patch("v1", "Node", "node-1", {"spec": {"taints": [taint]}})
    settle(env)

    assert sorted(pods_by_node(client)) == ["node-1"]
    assert status(client)["numberMisscheduled"] == 1
    assert status(client)["desiredNumberScheduled"] == 0


# --- failures -------------------------------------------------------------------------------


def test_failed_pod_is_replaced_with_a_growing_back_off(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1")
    client.create(make_daemonset())
    start(env)
    run_daemon_pods(env)

    (first,) = daemon_pods(client)
    set_pod_phase(env, first, "Failed", then=0)
    (second,) = daemon_pods(client)
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert len(events(client, "FailedDaemonPod")) == 1

    set_pod_phase(env, second, "Failed", then=0.5)  # within the 1 s back-off: it waits
    assert [p["metadata"]["name"] for p in daemon_pods(client)] == [second["metadata"]["name"]]
    settle(env, 0.5)
    (third,) = daemon_pods(client)
    assert third["metadata"]["name"] != second["metadata"]["name"]

    set_pod_phase(env, third, "Failed", then=1.5)  # the back-off doubled to 2 s
    assert [p["metadata"]["name"] for p in daemon_pods(client)] == [third["metadata"]["name"]]
    settle(env, 0.5)
    assert [p["metadata"]["name"] for p in daemon_pods(client)] != [third["metadata"]["name"]]


def test_extra_pods_on_a_node_are_pruned_to_the_oldest(env: Env) -> None:
    clock, client = env
    add_nodes(client, "node-1")
    client.create(make_daemonset())
    start(env)
    (oldest,) = daemon_pods(client)
    clock.advance(5)
    extra = {k: v for k, v in oldest.items() if k != "status"}
    kept = ("generateName", "namespace", "labels", "ownerReferences")
    extra["metadata"] = {k: v for k, v in oldest["metadata"].items() if k in kept}
    client.create(extra)
    settle(env)

    assert [p["metadata"]["name"] for p in daemon_pods(client)] == [oldest["metadata"]["name"]]


# --- updates --------------------------------------------------------------------------------


def test_rolling_update_replaces_one_node_at_a_time(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1", "node-2", "node-3")
    client.create(make_daemonset())
    start(env)
    run_daemon_pods(env)

    change_image(client, "example/agent:2")
    settle(env)
    rounds = 0
    while (
        status(client).get("updatedNumberScheduled", 0) < 3
        or status(client).get("numberAvailable", 0) < 3
    ):
        images = images_by_node(client)
        assert sum(1 for imgs in images.values() if imgs == ["example/agent:2"]) <= 3
        assert status(client).get("numberUnavailable", 0) <= 1  # maxUnavailable: 1
        finish_terminations(env)
        run_daemon_pods(env)
        rounds += 1
        assert rounds < 10

    assert images_by_node(client) == {
        n: ["example/agent:2"] for n in ("node-1", "node-2", "node-3")
    }
    assert status(client)["observedGeneration"] == 2
    assert len(events(client, "SuccessfulDelete")) == 3


def test_rolling_update_with_surge_starts_the_new_pod_before_stopping_the_old(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    client.create(make_daemonset(spec={"updateStrategy": strategy}))
    start(env)
    run_daemon_pods(env)

    change_image(client, "example/agent:2")
    settle(env)
    assert images_by_node(client) == {"node-1": ["example/agent:1", "example/agent:2"]}
    assert status(client)["numberAvailable"] == 1  # the old pod still serves

    run_daemon_pods(env)
    finish_terminations(env)
    assert images_by_node(client) == {"node-1": ["example/agent:2"]}
    assert status(client)["updatedNumberScheduled"] == 1


def test_on_delete_replaces_a_pod_only_when_a_user_deletes_it(env: Env) -> None:
    _, client = env
    add_nodes(client, "node-1", "node-2")
    client.create(make_daemonset(spec={"updateStrategy": {"type": "OnDelete"}}))
    start(env)
    run_daemon_pods(env)

    change_image(client, "example/agent:2")
    settle(env)
    assert images_by_node(client) == {"node-1": ["example/agent:1"], "node-2": ["example/agent:1"]}
    assert "updatedNumberScheduled" not in status(client)

    victim = pods_by_node(client)["node-2"][0]
    client.delete("v1", "Pod", victim["metadata"]["name"], namespace="default")
    finish_terminations(env)
    assert images_by_node(client) == {"node-1": ["example/agent:1"], "node-2": ["example/agent:2"]}
    assert status(client)["updatedNumberScheduled"] == 1


def test_min_ready_seconds_delays_availability(env: Env) -> None:
    clock, client = env
    add_nodes(client, "node-1")
    client.create(make_daemonset(spec={"minReadySeconds": 30}))
    start(env)
    run_daemon_pods(env)
    assert status(client)["numberReady"] == 1
    assert "numberAvailable" not in status(client)

    clock.advance(30)
    assert status(client)["numberAvailable"] == 1


# --- the pure judgement ---------------------------------------------------------------------


def required(*terms: Obj) -> dict[str, Any]:
    rule = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    return {"nodeAffinity": rule}


def expression(key: str, operator: str, *values: str) -> Obj:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


def name_field(name: str) -> Obj:
    return {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}


def tainted(effect: str) -> Obj:
    return make_node("n", taints=[{"key": "k", "effect": effect}])


def _spec(**fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}], **fields}
    add_daemon_tolerations(spec)
    return spec


@pytest.mark.parametrize(
    ("spec", "node", "expected"),
    [
        (_spec(), make_node("n"), (True, True)),
        (_spec(nodeName="other"), make_node("n"), (False, False)),
        (_spec(nodeSelector={"zone": "a"}), make_node("n"), (False, False)),
        (_spec(nodeSelector={"zone": "a"}), make_node("n", labels={"zone": "a"}), (True, True)),
        (_spec(), tainted("NoSchedule"), (False, True)),
        (_spec(), tainted("NoExecute"), (False, False)),
        (_spec(), tainted("PreferNoSchedule"), (True, True)),
        (
            _spec(affinity=required(expression("zone", "In", "b"), name_field("n"))),
            make_node("n"),
            (True, True),
        ),
        (
            _spec(affinity=required(expression("zone", "NotIn", "a"))),
            make_node("n", labels={"zone": "a"}),
            (False, False),
        ),
    ],
    ids=[
        "plain",
        "other-node-name",
        "selector-miss",
        "selector-hit",
        "no-schedule-taint",
        "no-execute-taint",
        "prefer-no-schedule",
        "match-fields-term",
        "not-in-expression",
    ],
)
def test_node_should_run(spec: dict[str, Any], node: Obj, expected: tuple[bool, bool]) -> None:
    assert node_should_run(spec, node) == expected


def test_daemon_tolerations_replace_a_timed_not_ready_toleration() -> None:
    timed = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
    spec: dict[str, Any] = {
        "tolerations": [{**timed, "tolerationSeconds": 300}],
        "hostNetwork": True,
    }
    add_daemon_tolerations(spec)
    keys = [(t["key"], t["effect"], t.get("tolerationSeconds")) for t in spec["tolerations"]]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute", None),
        ("node.kubernetes.io/unreachable", "NoExecute", None),
        ("node.kubernetes.io/disk-pressure", "NoSchedule", None),
        ("node.kubernetes.io/memory-pressure", "NoSchedule", None),
        ("node.kubernetes.io/pid-pressure", "NoSchedule", None),
        ("node.kubernetes.io/unschedulable", "NoSchedule", None),
        ("node.kubernetes.io/network-unavailable", "NoSchedule", None),
    ]


def test_pin_to_node_replaces_the_required_terms_and_keeps_the_rest() -> None:
    affinity: Obj = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}],
        },
        "podAntiAffinity": {},
    }
    pinned = pin_to_node(affinity, "node-7")
    assert target_node({"spec": {"affinity": pinned}}) == "node-7"
    assert pinned["podAntiAffinity"] == {}
    assert "preferredDuringSchedulingIgnoredDuringExecution" in pinned["nodeAffinity"]
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"]  # the input is not modified


def test_template_hash_is_stable_and_changes_with_the_template() -> None:
    a = make_daemonset()["spec"]["template"]
    b = make_daemonset(image="example/agent:2")["spec"]["template"]
    assert template_hash(a) == template_hash(make_daemonset()["spec"]["template"])
    assert template_hash(a) != template_hash(b)
    assert set(template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")
