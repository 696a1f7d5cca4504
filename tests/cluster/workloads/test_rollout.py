"""``kubectl rollout history|undo|status`` over the embedded cluster, with kubectl's texts."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cluster.workloads.rollout import (
    RolloutError,
    RolloutRevision,
    history_table,
    rollout_history,
    rollout_status,
    rollout_undo,
    status_message,
)
from shipyard.core.objects import Obj
from tests.cluster.fixtures import make_deployment
from tests.cluster.workloads.test_deployment import (
    REVISION,
    deploy_cluster,
    get_deployment,
    images,
    patch_spec,
    rs_with_image,
    set_image,
)
from tests.cluster.workloads.test_replicaset import NS, Cluster

CAUSE = "kubernetes.io/change-cause"


def release(cluster: Cluster, version: int, cause: str | None = None) -> None:
    """Roll out ``example/web:<version>`` (annotated with a change cause) and let it finish."""
    client = cluster.client
    if cause is not None:
        patch = {"metadata": {"annotations": {CAUSE: cause}}}
        client.patch("apps/v1", "Deployment", "web", patch, namespace=NS)
    set_image(client, f"example/web:{version}")
    cluster.clock.advance(30)


def first_release(cluster: Cluster, cause: str | None = None, **overrides: Any) -> None:
    manifest = make_deployment(replicas=2, **overrides)
    if cause is not None:
        manifest["metadata"]["annotations"] = {CAUSE: cause}
    cluster.client.create(manifest)
    cluster.clock.advance(30)


def template_image(template: Obj) -> str:
    image: str = template["spec"]["containers"][0]["image"]
    return image


# --- history -------------------------------------------------------------------------------------


def test_history_lists_each_revision_with_its_change_cause_and_template() -> None:
    cluster = deploy_cluster()
    first_release(cluster, cause="kubectl create deployment web --image=example/web:1")
    release(cluster, 2)
    release(cluster, 3, cause="kubectl set image deployment/web main=example/web:3")

    history = rollout_history(cluster.client, NS, "web")

    assert [(h.revision, h.change_cause) for h in history] == [
        (1, "kubectl create deployment web --image=example/web:1"),
        (2, "kubectl create deployment web --image=example/web:1"),  # still annotated
        (3, "kubectl set image deployment/web main=example/web:3"),
    ]
    assert [template_image(h.template) for h in history] == [
        "example/web:1",
        "example/web:2",
        "example/web:3",
    ]
    newest = history[-1].template["metadata"]
    assert newest["labels"]["pod-template-hash"]
    assert newest["annotations"][CAUSE] == "kubectl set image deployment/web main=example/web:3"


def test_history_table_is_kubectls() -> None:
    table = history_table(
        [RolloutRevision(1, None, {}), RolloutRevision(12, "kubectl apply -f web.yaml", {})]
    )
    assert table == (
        "REVISION  CHANGE-CAUSE\n1         <none>\n12        kubectl apply -f web.yaml\n"
    )


# --- undo ----------------------------------------------------------------------------------------


def test_undo_restores_the_previous_template_as_a_new_revision() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    first_release(cluster, cause="v1")
    release(cluster, 2, cause="v2")

    assert rollout_undo(client, NS, "web") == "rolled back"
    d = get_deployment(client)
    assert template_image(d["spec"]["template"]) == "example/web:1"
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    assert d["metadata"]["annotations"][CAUSE] == "v1"

    cluster.clock.advance(30)
    assert images(client) == ["example/web:1"] * 2
    restored = rs_with_image(client, "example/web:1")["metadata"]["annotations"]
    assert restored[REVISION] == "3"
    assert restored["deployment.kubernetes.io/revision-history"] == "1"
    assert get_deployment(client)["metadata"]["annotations"][REVISION] == "3"
    assert [h.revision for h in rollout_history(client, NS, "web")] == [2, 3]
    assert rs_with_image(client, "example/web:2")["spec"]["replicas"] == 0


def test_undo_to_a_given_revision_and_back_again_grows_the_revision_history() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    first_release(cluster)
    release(cluster, 2)
    release(cluster, 3)

    assert rollout_undo(client, NS, "web", to_revision=1) == "rolled back"
    cluster.clock.advance(30)
    assert images(client) == ["example/web:1"] * 2
    assert rollout_undo(client, NS, "web", to_revision=2) == "rolled back"
    cluster.clock.advance(30)
    assert rollout_undo(client, NS, "web", to_revision=4) == "rolled back"
    cluster.clock.advance(30)

    restored = rs_with_image(client, "example/web:1")["metadata"]["annotations"]
    assert restored[REVISION] == "6"
    assert restored["deployment.kubernetes.io/revision-history"] == "1,4"


def test_undo_refusals_use_kubectls_messages() -> None:
    cluster = deploy_cluster()
    client = cluster.client
    first_release(cluster)
    with pytest.raises(RolloutError, match=r'^no rollout history found for deployment "web"$'):
        rollout_undo(client, NS, "web")

    release(cluster, 2)
    with pytest.raises(RolloutError, match=r"^unable to find specified revision 7 in history$"):
        rollout_undo(client, NS, "web", to_revision=7)
    assert rollout_undo(client, NS, "web", to_revision=2) == (
        "skipped rollback (current template already matches revision 2)"
    )

    patch_spec(client, paused=True)
    with pytest.raises(RolloutError, match=r"^you cannot rollback a paused deployment; resume"):
        rollout_undo(client, NS, "web")


# --- status --------------------------------------------------------------------------------------


def deployment_state(
    *, generation: int = 1, desired: int = 3, reason: str | None = None, **status: int
) -> Obj:
    """A Deployment wanting ``desired`` pods whose status holds ``status``."""
    conditions = [{"type": "Progressing", "status": "True", "reason": reason}] if reason else []
    return {
        "metadata": {
            "name": "web",
            "generation": generation,
            "annotations": {REVISION: "2"},
        },
        "spec": {"replicas": desired},
        "status": {"observedGeneration": 1, "conditions": conditions, **status},
    }


WAITING = 'Waiting for deployment "web" rollout to finish: '
STATUS_MESSAGES = [
    (
        deployment_state(generation=2),
        (False, "Waiting for deployment spec update to be observed..."),
    ),
    (
        deployment_state(updatedReplicas=1, replicas=3),
        (False, WAITING + "1 out of 3 new replicas have been updated..."),
    ),
    (
        deployment_state(replicas=3, updatedReplicas=3),
        (False, WAITING + "0 of 3 updated replicas are available..."),
    ),
    (
        deployment_state(replicas=3, updatedReplicas=3, availableReplicas=3),
        (True, 'deployment "web" successfully rolled out'),
    ),
]


@pytest.mark.parametrize(("deployment", "expected"), STATUS_MESSAGES)
def test_status_messages(deployment: Obj, expected: tuple[bool, str]) -> None:
    assert status_message(deployment) == expected


def test_status_counts_old_replicas_pending_termination() -> None:
    d = deployment_state(replicas=4, updatedReplicas=3, availableReplicas=3)
    assert status_message(d) == (False, WAITING + "1 old replicas are pending termination...")


def test_status_errors() -> None:
    with pytest.raises(RolloutError, match=r'^deployment "web" exceeded its progress deadline$'):
        status_message(deployment_state(reason="ProgressDeadlineExceeded"))
    with pytest.raises(
        RolloutError, match=r"^desired revision \(3\) is different from the running revision \(2\)$"
    ):
        status_message(deployment_state(), revision=3)
    scaled_to_zero = deployment_state(desired=0)
    assert status_message(scaled_to_zero) == (True, 'deployment "web" successfully rolled out')


def test_status_follows_a_live_rollout_to_its_deadline() -> None:
    cluster = deploy_cluster(start_delay=2, broken_images=frozenset({"example/web:broken"}))
    client = cluster.client
    client.create(make_deployment(replicas=3, spec={"progressDeadlineSeconds": 30}))
    cluster.clock.advance(1)
    assert rollout_status(client, NS, "web") == (
        False,
        WAITING + "0 of 3 updated replicas are available...",
    )
    cluster.clock.advance(2)
    assert rollout_status(client, NS, "web") == (True, 'deployment "web" successfully rolled out')

    set_image(client, "example/web:broken")
    cluster.clock.advance(1)
    assert rollout_status(client, NS, "web") == (
        False,
        WAITING + "1 out of 3 new replicas have been updated...",
    )
    cluster.clock.advance(40)
    with pytest.raises(RolloutError, match=r'^deployment "web" exceeded its progress deadline$'):
        rollout_status(client, NS, "web")
