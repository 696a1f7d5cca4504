"""The Deployment controller: hashed ReplicaSets, rolling and Recreate rollouts, pausing,
proportional scaling, history cleanup, progress deadlines, conditions and events."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster.podutil import condition, controller_ref, is_ready
from shipyard.cluster.workloads.deployment import DeploymentController
from shipyard.cluster.workloads.replicaset import ReplicaSetController
from shipyard.cluster.workloads.rollout import (
    fnv32a,
    max_surge,
    max_unavailable,
    pod_template_hash,
    resolve_fenceposts,
    safe_encode,
)
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj
from tests.cluster.fixtures import make_deployment
from tests.cluster.workloads.test_replicaset import (
    HOLD,
    NS,
    Cluster,
    RejectingPods,
    event_messages,
    pods,
    ready_pods,
    start_cluster,
)

# --- helpers -------------------------------------------------------------------------------------


def deploy_cluster(**options: Any) -> Cluster:
    return start_cluster(ReplicaSetController, DeploymentController, **options)


def get_deployment(client: Any, name: str = "web") -> Obj:
    d: Obj = client.get("apps/v1", "Deployment", name, namespace=NS)
    return d


def replica_sets(client: Any) -> list[Obj]:
    """The namespace's ReplicaSets, oldest revision first."""
    found = list(client.list("apps/v1", "ReplicaSet", namespace=NS))
    found.sort(key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, 0)))
    return found


def rs_with_image(client: Any, image: str) -> Obj:
    (rs,) = [
        rs
        for rs in client.list("apps/v1", "ReplicaSet", namespace=NS)
        if rs["spec"]["template"]["spec"]["containers"][0]["image"] == image
    ]
    return rs


def set_image(client: Any, image: str, name: str = "web") -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
    client.patch("apps/v1", "Deployment", name, patch, namespace=NS, patch_type="strategic")


def patch_spec(client: Any, name: str = "web", **spec: Any) -> None:
    client.patch("apps/v1", "Deployment", name, {"spec": spec}, namespace=NS)


def images(client: Any) -> list[str]:
    return sorted(p["spec"]["containers"][0]["image"] for p in pods(client, app="web"))


def progressing(d: Obj) -> tuple[str, str, str]:
    cond = condition(d, "Progressing")
    assert cond is not None
    return cond["status"], cond["reason"], cond["message"]


def rolled_out(cluster: Cluster, **overrides: Any) -> Obj:
    """A Deployment created and fully rolled out (all pods ready)."""
    created: Obj = cluster.client.create(make_deployment(**overrides))
    cluster.clock.advance(30)
    d = get_deployment(cluster.client)
    assert progressing(d)[1] == "NewReplicaSetAvailable"
    return created


REVISION = "deployment.kubernetes.io/revision"


# --- creating a Deployment -----------------------------------------------------------------------


def test_a_new_deployment_gets_a_hashed_replica_set_and_reports_progress() -> None:
    cluster = deploy_cluster(start_delay=2)
    client = cluster.client
    d = client.create(make_deployment(replicas=3))

    cluster.clock.advance(1)
    (rs,) = replica_sets(client)
    pod_hash = pod_template_hash(d["spec"]["template"])
    labels = {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["labels"] == labels
    assert rs["spec"]["selector"] == {"matchLabels": labels}
    assert rs["spec"]["template"]["metadata"]["labels"] == labels
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert controller_ref(rs)["uid"] == d["metadata"]["uid"]
    assert all(p["metadata"]["labels"] == labels for p in pods(client, app="web"))
    waiting = get_deployment(client)
    assert waiting["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert condition(waiting, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert progressing(waiting) == (
        "True",
        "ReplicaSetUpdated",
        f'ReplicaSet "web-{pod_hash}" is progressing.',
    )

    cluster.clock.advance(2)
    done = get_deployment(client)
    assert {k: v for k, v in done["status"].items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert done["status"]["conditions"] == [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": "2026-01-01T00:00:02Z",
            "lastTransitionTime": "2026-01-01T00:00:02Z",
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "lastUpdateTime": "2026-01-01T00:00:02Z",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "web-{pod_hash}" has successfully progressed.',
        },
    ]
    assert event_messages(client, "ScalingReplicaSet") == [
        f"Scaled up replica set web-{pod_hash} from 0 to 3"
    ]


def test_an_orphan_replica_set_with_the_template_is_adopted_as_the_new_one() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    manifest = make_deployment(replicas=2)
    legacy = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-legacy", "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": manifest["spec"]["selector"],
            "template": manifest["spec"]["template"],
        },
    }
    client.create(legacy)
    cluster.clock.advance(1)
    d = client.create(manifest)
    cluster.clock.advance(1)

    (rs,) = replica_sets(client)
    assert rs["metadata"]["name"] == "web-legacy"
    assert controller_ref(rs)["uid"] == d["metadata"]["uid"]
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert event_messages(client, "ScalingReplicaSet") == []
    _, reason, message = progressing(get_deployment(client))
    assert reason == "NewReplicaSetAvailable"
    assert message == 'ReplicaSet "web-legacy" has successfully progressed.'


def test_a_hash_collision_bumps_collision_count_and_picks_another_name() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    manifest = make_deployment()
    stored_template = client.create(manifest, dry_run=True)["spec"]["template"]
    taken = f"web-{pod_template_hash(stored_template)}"
    client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": taken, "namespace": NS, "labels": {"app": "other"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "other"}},
                "template": {
                    "metadata": {"labels": {"app": "other"}},
                    "spec": {"containers": [{"name": "main", "image": "other:1"}]},
                },
            },
        }
    )
    client.create(manifest)
    cluster.clock.advance(5)

    d = get_deployment(client)
    assert d["status"]["collisionCount"] == 1
    ours = f"web-{pod_template_hash(stored_template, 1)}"
    assert client.get("apps/v1", "ReplicaSet", ours, namespace=NS)["spec"]["replicas"] == 3
    assert len(ready_pods(client, app="web")) == 3


# --- the hash and the arithmetic -----------------------------------------------------------------


def test_pod_template_hash_is_fnv32a_rendered_with_the_safe_alphabet() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert safe_encode("0123456789") == "456789bcdf"
    template = make_deployment()["spec"]["template"]
    first = pod_template_hash(template)
    assert first == pod_template_hash(make_deployment()["spec"]["template"])
    assert set(first) <= set("456789bcdf") and 1 <= len(first) <= 10
    assert first != pod_template_hash(make_deployment(image="example/web:2")["spec"]["template"])
    assert first != pod_template_hash(template, 1)
    assert pod_template_hash(template, 1) != pod_template_hash(template, 2)


FENCEPOSTS = [
    # (maxSurge, maxUnavailable, replicas, (surge, unavailable))
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 3, (1, 0)),
    ("25%", "25%", 1, (1, 0)),
    (1, 0, 10, (1, 0)),
    (0, "10%", 5, (0, 1)),  # unavailable rounds down to 0; both 0 makes it 1
    ("50%", "33%", 3, (2, 0)),
    ("10%", "10%", 15, (2, 1)),
    (2, 3, 10, (2, 3)),
    ("100%", "100%", 7, (7, 7)),
]


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), FENCEPOSTS)
def test_fenceposts_round_surge_up_and_unavailable_down(
    surge: Any, unavailable: Any, replicas: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected
    d = make_deployment(
        replicas=replicas,
        spec={"strategy": {"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}},
    )
    assert (max_surge(d), max_unavailable(d)) == expected


def test_max_unavailable_is_capped_by_replicas_and_zero_for_recreate() -> None:
    rolling = {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 5}}}
    assert max_unavailable(make_deployment(replicas=3, spec=rolling)) == 3
    assert max_unavailable(make_deployment(replicas=0, spec=rolling)) == 0
    recreate = make_deployment(spec={"strategy": {"type": "Recreate"}})
    assert (max_surge(recreate), max_unavailable(recreate)) == (0, 0)


# --- rolling update ------------------------------------------------------------------------------


def test_rolling_update_with_surge_1_never_drops_below_10_available() -> None:
    cluster = deploy_cluster(start_delay=3)
    client = cluster.client
    strategy = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    rolled_out(cluster, replicas=10, spec={"strategy": strategy})
    old = rs_with_image(client, "example/web:1")["metadata"]["name"]
    problems: list[str] = []

    def check(_: object = None) -> None:
        live = pods(client, app="web")
        ready = [p for p in live if is_ready(p)]
        if len(ready) < 10 or len(live) > 11:
            problems.append(f"t={cluster.clock.now()}: {len(ready)} ready of {len(live)}")

    client.add_listener(check)
    set_image(client, "example/web:2")
    for _ in range(120):
        cluster.clock.advance(1)
        check()

    assert problems == []
    assert images(client) == ["example/web:2"] * 10
    new = rs_with_image(client, "example/web:2")["metadata"]["name"]
    assert rs_with_image(client, "example/web:1")["spec"]["replicas"] == 0
    steps = event_messages(client, "ScalingReplicaSet")[1:]
    expected = []
    for i in range(10):
        expected.append(f"Scaled up replica set {new} from {i} to {i + 1}")
        expected.append(f"Scaled down replica set {old} from {10 - i} to {9 - i}")
    assert steps == expected
    d = get_deployment(client)
    assert d["metadata"]["annotations"][REVISION] == "2"
    assert progressing(d)[1] == "NewReplicaSetAvailable"


def test_unhealthy_old_pods_are_scaled_away_first() -> None:
    cluster = deploy_cluster(start_delay=2, broken_images=frozenset({"example/web:broken"}))
    client = cluster.client
    strategy = {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    rolled_out(cluster, replicas=3, spec={"strategy": strategy})
    set_image(client, "example/web:broken")  # one old pod goes, one broken pod comes
    cluster.clock.advance(30)
    assert len(ready_pods(client, app="web")) == 2

    set_image(client, "example/web:2")
    cluster.clock.advance(30)

    assert images(client) == ["example/web:2"] * 3
    broken = rs_with_image(client, "example/web:broken")["metadata"]["name"]
    assert f"Scaled down replica set {broken} from 1 to 0" in event_messages(
        client, "ScalingReplicaSet"
    )


# --- Recreate ------------------------------------------------------------------------------------


def test_recreate_removes_every_old_pod_before_creating_new_ones() -> None:
    cluster = deploy_cluster(start_delay=2, stop_delay=5)
    client = cluster.client
    spec = {"strategy": {"type": "Recreate"}, "template": {"metadata": {"finalizers": [HOLD]}}}
    rolled_out(cluster, replicas=3, spec=spec)
    old = rs_with_image(client, "example/web:1")["metadata"]["name"]
    overlaps: list[float] = []

    def check(_: object) -> None:
        every = client.list("v1", "Pod", namespace=NS).items  # terminating ones included
        versions = {p["spec"]["containers"][0]["image"] for p in every}
        if len(versions) > 1:
            overlaps.append(cluster.clock.now())

    client.add_listener(check)
    set_image(client, "example/web:2")
    cluster.clock.advance(3)  # old pods are still terminating
    assert [rs["metadata"]["name"] for rs in replica_sets(client)] == [old]
    assert pods(client, app="web") == []

    cluster.clock.advance(30)
    assert overlaps == []
    assert images(client) == ["example/web:2"] * 3
    new = rs_with_image(client, "example/web:2")["metadata"]["name"]
    assert event_messages(client, "ScalingReplicaSet")[1:] == [
        f"Scaled down replica set {old} from 3 to 0",
        f"Scaled up replica set {new} from 0 to 3",
    ]
    assert progressing(get_deployment(client))[1] == "NewReplicaSetAvailable"


# --- pausing and scaling -------------------------------------------------------------------------


def test_a_paused_deployment_scales_but_does_not_roll_out_until_resumed() -> None:
    cluster = deploy_cluster(start_delay=1)
    client = cluster.client
    rolled_out(cluster, replicas=3)

    patch_spec(client, paused=True)
    set_image(client, "example/web:2")
    cluster.clock.advance(60)
    d = get_deployment(client)
    assert progressing(d) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"] == 3
    assert len(replica_sets(client)) == 1
    assert images(client) == ["example/web:1"] * 3

    patch_spec(client, replicas=5)
    cluster.clock.advance(10)
    assert images(client) == ["example/web:1"] * 5
    assert get_deployment(client)["status"]["availableReplicas"] == 5

    patch_spec(client, paused=False)
    cluster.clock.advance(60)
    assert images(client) == ["example/web:2"] * 5
    assert progressing(get_deployment(client))[1] == "NewReplicaSetAvailable"


def test_scaling_a_rolled_out_deployment_scales_its_replica_set() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    rolled_out(cluster, replicas=3)
    (rs,) = replica_sets(client)
    name = rs["metadata"]["name"]

    patch_spec(client, replicas=5)
    cluster.clock.advance(5)
    patch_spec(client, replicas=2)
    cluster.clock.advance(5)

    assert len(ready_pods(client, app="web")) == 2
    assert event_messages(client, "ScalingReplicaSet")[1:] == [
        f"Scaled up replica set {name} from 3 to 5",
        f"Scaled down replica set {name} from 5 to 2",
    ]
    annotations = replica_sets(client)[0]["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/desired-replicas"] == "2"
    assert annotations["deployment.kubernetes.io/max-replicas"] == "3"


def test_scaling_mid_rollout_is_proportional() -> None:
    # The example of the Kubernetes documentation ("Proportional scaling").
    cluster = deploy_cluster(broken_images=frozenset({"example/web:broken"}))
    client = cluster.client
    strategy = {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    rolled_out(cluster, replicas=10, spec={"strategy": strategy})
    set_image(client, "example/web:broken")
    cluster.clock.advance(30)
    old, new = rs_with_image(client, "example/web:1"), rs_with_image(client, "example/web:broken")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (8, 5)

    patch_spec(client, replicas=15)
    cluster.clock.advance(5)

    old, new = rs_with_image(client, "example/web:1"), rs_with_image(client, "example/web:broken")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (11, 7)
    for rs in (old, new):
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "15"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "18"
    assert event_messages(client, "ScalingReplicaSet")[-2:] == [
        f"Scaled up replica set {old['metadata']['name']} from 8 to 11",
        f"Scaled up replica set {new['metadata']['name']} from 5 to 7",
    ]
    assert len(ready_pods(client, app="web")) == 11


# --- history, deadlines, failures ----------------------------------------------------------------


def test_revision_history_limit_deletes_the_oldest_empty_replica_sets() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    rolled_out(cluster, replicas=2, spec={"revisionHistoryLimit": 1})
    for version in (2, 3, 4):
        set_image(client, f"example/web:{version}")
        cluster.clock.advance(30)

    kept = replica_sets(client)
    assert [rs["metadata"]["annotations"][REVISION] for rs in kept] == ["3", "4"]
    assert [rs["spec"]["replicas"] for rs in kept] == [0, 2]
    assert get_deployment(client)["metadata"]["annotations"][REVISION] == "4"


def test_a_bad_release_times_out_and_the_old_pods_stay() -> None:
    cluster = deploy_cluster(broken_images=frozenset({"example/web:broken"}))
    client = cluster.client
    rolled_out(cluster, replicas=3, spec={"progressDeadlineSeconds": 60})
    set_image(client, "example/web:broken")
    cluster.clock.advance(1)
    new = rs_with_image(client, "example/web:broken")["metadata"]["name"]

    cluster.clock.advance(59)
    assert progressing(get_deployment(client))[0] == "True"
    cluster.clock.advance(2)

    d = get_deployment(client)
    assert progressing(d) == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{new}" has timed out progressing.',
    )
    assert condition(d, "Available")["status"] == "True"
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 2,
        "replicas": 4,
        "updatedReplicas": 1,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 1,
    }
    assert images(client) == ["example/web:1"] * 3 + ["example/web:broken"]
    assert len(ready_pods(client, app="web")) == 3


def test_replica_failure_of_the_new_replica_set_shows_on_the_deployment() -> None:
    cluster = deploy_cluster(client=RejectingPods)
    cluster.client.create(make_deployment(replicas=2))
    cluster.clock.advance(1)

    failure = condition(get_deployment(cluster.client), "ReplicaFailure")
    assert failure is not None
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert "is invalid" in failure["message"]


def test_min_ready_seconds_is_copied_to_the_replica_set_and_delays_availability() -> None:
    cluster = deploy_cluster(start_delay=1)
    client = cluster.client
    client.create(make_deployment(replicas=2, spec={"minReadySeconds": 20}))
    cluster.clock.advance(10)
    (rs,) = replica_sets(client)
    assert rs["spec"]["minReadySeconds"] == 20
    d = get_deployment(client)
    assert d["status"]["readyReplicas"] == 2
    assert "availableReplicas" not in d["status"]

    cluster.clock.advance(15)
    assert get_deployment(client)["status"]["availableReplicas"] == 2


def test_deleting_a_deployment_deletes_its_replica_sets_and_pods() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    rolled_out(cluster, replicas=2)
    client.delete("apps/v1", "Deployment", "web", namespace=NS)
    cluster.clock.advance(5)

    assert replica_sets(client) == []
    assert pods(client, app="web") == []
    with pytest.raises(NotFoundError):
        get_deployment(client)
