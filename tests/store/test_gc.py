"""Deletion: finalizers, preconditions, cascading by ownerReferences, namespace termination."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import BadRequestError, ConflictError, InvalidError, NotFoundError
from shipyard.core.objects import Obj
from shipyard.store.backends import Backend, Change, MemoryBackend
from shipyard.store.store import Store
from tests.store.store_helpers import (
    BACKENDS,
    closing,
    event_summary,
    exists,
    make_configmap,
    make_deployment,
    make_namespace,
    make_pod,
    make_replicaset,
    make_scheme,
    make_store,
    names,
    owned,
)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from closing(make_store(request.param, tmp_path, namespaces=["default", "shop"]))


def with_finalizers(obj: Obj, *finalizers: str) -> Obj:
    obj["metadata"]["finalizers"] = list(finalizers)
    return obj


def release(store: Store, obj: Obj) -> Obj:
    """Remove every finalizer from the stored object (what a controller does when done)."""
    md = obj["metadata"]
    current = store.get(
        obj["apiVersion"], obj["kind"], md["name"], namespace=md.get("namespace", "")
    )
    current["metadata"]["finalizers"] = []
    return store.update(current)


def make_family(store: Store, *, block: bool | None = None) -> tuple[Obj, Obj, list[Obj]]:
    """A Deployment owning a ReplicaSet owning two Pods."""
    deploy = store.create(make_deployment("web"))
    rs = store.create(owned(make_replicaset("web-abc"), deploy, block=block))
    pods = [store.create(owned(make_pod(f"web-abc-{i}"), rs, block=block)) for i in (1, 2)]
    return deploy, rs, pods


# -- plain deletion and finalizers -------------------------------------------------------------


def test_delete_removes_the_object_and_returns_it(store: Store) -> None:
    pod = store.create(make_pod("web-1"))
    watch = store.watch("v1", "Pod")

    deleted = store.delete("v1", "Pod", "web-1")

    assert deleted["metadata"]["uid"] == pod["metadata"]["uid"]
    assert deleted["metadata"]["resourceVersion"] == store.resource_version
    with pytest.raises(NotFoundError):
        store.get("v1", "Pod", "web-1")
    (event,) = watch.poll()
    assert (event.type, event.resource_version) == ("DELETED", store.resource_version)


def test_delete_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match='pods "ghost" not found'):
        store.delete("v1", "Pod", "ghost")


def test_finalizers_hold_the_object_marked_for_deletion(store: Store) -> None:
    clock_time = "2026-01-01T00:00:00Z"
    store.create(with_finalizers(make_pod("web-1"), "example.com/cleanup"))

    marked = store.delete("v1", "Pod", "web-1")

    md = marked["metadata"]
    assert md["deletionTimestamp"] == clock_time
    assert md["deletionGracePeriodSeconds"] == 0
    assert md["generation"] == 2
    assert store.get("v1", "Pod", "web-1")["metadata"]["finalizers"] == ["example.com/cleanup"]


def test_removing_the_last_finalizer_removes_the_object(store: Store) -> None:
    pod = store.create(with_finalizers(make_pod("web-1"), "a/one", "a/two"))
    store.delete("v1", "Pod", "web-1")
    watch = store.watch("v1", "Pod")

    current = store.get("v1", "Pod", "web-1")
    current["metadata"]["finalizers"] = ["a/two"]
    store.update(current)
    assert exists(store, pod)
    gone = release(store, pod)

    assert not exists(store, pod)
    assert gone["metadata"].get("finalizers", []) == []
    assert event_summary(watch.poll()) == [("MODIFIED", "web-1"), ("DELETED", "web-1")]


def test_deleting_again_while_held_changes_nothing(store: Store) -> None:
    store.create(with_finalizers(make_pod("web-1"), "a/one"))
    first = store.delete("v1", "Pod", "web-1")

    second = store.delete("v1", "Pod", "web-1")

    assert second == first
    assert store.resource_version == first["metadata"]["resourceVersion"]


def test_no_new_finalizers_on_an_object_being_deleted(store: Store) -> None:
    store.create(with_finalizers(make_pod("web-1"), "a/one"))
    store.delete("v1", "Pod", "web-1")
    current = store.get("v1", "Pod", "web-1")
    current["metadata"]["finalizers"] = ["a/one", "b/two"]

    with pytest.raises(InvalidError) as err:
        store.update(current)

    assert err.value.causes[0].path == "metadata.finalizers"
    assert "no new finalizers can be added if the object is being deleted" in str(err.value)


def test_update_cannot_clear_the_deletion_timestamp(store: Store) -> None:
    store.create(with_finalizers(make_pod("web-1"), "a/one"))
    marked = store.delete("v1", "Pod", "web-1")
    del marked["metadata"]["deletionTimestamp"]
    marked["metadata"]["labels"]["x"] = "y"

    updated = store.update(marked)

    assert updated["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:00Z"


def test_delete_preconditions(store: Store) -> None:
    pod = store.create(make_pod("web-1"))
    md = pod["metadata"]

    with pytest.raises(ConflictError, match="Precondition failed: UID in precondition: nope"):
        store.delete("v1", "Pod", "web-1", preconditions={"uid": "nope"})
    with pytest.raises(ConflictError, match="ResourceVersion in precondition: 1,"):
        store.delete("v1", "Pod", "web-1", preconditions={"resourceVersion": "1"})
    store.delete(
        "v1",
        "Pod",
        "web-1",
        preconditions={"uid": md["uid"], "resourceVersion": md["resourceVersion"]},
    )
    assert not exists(store, pod)


def test_unknown_propagation_policy_is_a_bad_request(store: Store) -> None:
    store.create(make_pod("web-1"))

    with pytest.raises(BadRequestError, match="propagationPolicy"):
        store.delete("v1", "Pod", "web-1", propagation_policy="Sideways")


def test_dry_run_delete_changes_nothing(store: Store) -> None:
    deploy, rs, pods = make_family(store)
    rv_before = store.resource_version

    shown = store.delete("apps/v1", "Deployment", "web", dry_run=True)

    assert shown["metadata"]["name"] == "web"
    assert store.resource_version == rv_before
    assert all(exists(store, o) for o in [deploy, rs, *pods])


# -- Background --------------------------------------------------------------------------------


def test_background_deletes_owner_first_then_dependents(store: Store) -> None:
    deploy, rs, pods = make_family(store)
    watch = store.watch()

    store.delete("apps/v1", "Deployment", "web")

    assert not any(exists(store, o) for o in [deploy, rs, *pods])
    assert event_summary(watch.poll()) == [
        ("DELETED", "web"),
        ("DELETED", "web-abc"),
        ("DELETED", "web-abc-1"),
        ("DELETED", "web-abc-2"),
    ]


def test_background_keeps_a_dependent_that_has_another_owner(store: Store) -> None:
    a = store.create(make_replicaset("a"))
    b = store.create(make_replicaset("b"))
    shared = store.create(owned(make_pod("shared"), a, b))
    only_a = store.create(owned(make_pod("only-a"), a))

    store.delete("apps/v1", "ReplicaSet", "a")

    assert not exists(store, only_a)
    kept = store.get("v1", "Pod", "shared")
    assert [r["name"] for r in kept["metadata"]["ownerReferences"]] == ["b"]
    assert exists(store, shared)


def test_background_waits_for_a_dependents_finalizer_before_its_own_dependents(
    store: Store,
) -> None:
    deploy = store.create(make_deployment("web"))
    rs = store.create(with_finalizers(owned(make_replicaset("web-abc"), deploy), "a/hold"))
    pod = store.create(owned(make_pod("web-abc-1"), rs))

    store.delete("apps/v1", "Deployment", "web")

    assert not exists(store, deploy)
    assert store.get("apps/v1", "ReplicaSet", "web-abc")["metadata"]["deletionTimestamp"]
    assert exists(store, pod)
    release(store, rs)
    assert not exists(store, rs)
    assert not exists(store, pod)


def test_owner_with_finalizers_keeps_its_dependents_until_removed(store: Store) -> None:
    rs = store.create(with_finalizers(make_replicaset("web-abc"), "a/hold"))
    pod = store.create(owned(make_pod("web-abc-1"), rs))

    store.delete("apps/v1", "ReplicaSet", "web-abc")
    assert exists(store, pod)
    release(store, rs)

    assert not exists(store, pod)


# -- Foreground --------------------------------------------------------------------------------


def test_foreground_removes_dependents_then_owner_in_one_call(store: Store) -> None:
    deploy, rs, pods = make_family(store, block=True)
    watch = store.watch()

    result = store.delete("apps/v1", "Deployment", "web", propagation_policy="Foreground")

    assert not any(exists(store, o) for o in [deploy, rs, *pods])
    assert "deletionTimestamp" in result["metadata"]
    summary = event_summary(watch.poll())
    assert summary[0] == ("MODIFIED", "web")  # marked with the foregroundDeletion finalizer
    assert summary[-1] == ("DELETED", "web")
    assert summary.index(("DELETED", "web-abc-1")) < summary.index(("DELETED", "web-abc"))


def test_foreground_owner_waits_for_a_blocking_dependents_finalizer(store: Store) -> None:
    rs = store.create(make_replicaset("web-abc"))
    pod = store.create(with_finalizers(owned(make_pod("web-abc-1"), rs, block=True), "a/drain"))

    marked = store.delete("apps/v1", "ReplicaSet", "web-abc", propagation_policy="Foreground")

    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert marked["metadata"]["deletionTimestamp"]
    assert store.get("v1", "Pod", "web-abc-1")["metadata"]["deletionTimestamp"]
    watch = store.watch()
    release(store, pod)
    assert not exists(store, pod)
    assert not exists(store, rs)
    assert event_summary(watch.poll()) == [("DELETED", "web-abc-1"), ("DELETED", "web-abc")]


def test_foreground_is_not_blocked_by_non_blocking_dependents(store: Store) -> None:
    rs = store.create(make_replicaset("web-abc"))
    pod = store.create(with_finalizers(owned(make_pod("web-abc-1"), rs, block=False), "a/drain"))

    store.delete("apps/v1", "ReplicaSet", "web-abc", propagation_policy="Foreground")

    assert not exists(store, rs)
    assert store.get("v1", "Pod", "web-abc-1")["metadata"]["deletionTimestamp"]
    release(store, pod)
    assert not exists(store, pod)


def test_foreground_cascades_through_levels_and_waits_at_the_bottom(store: Store) -> None:
    deploy = store.create(make_deployment("web"))
    rs = store.create(owned(make_replicaset("web-abc"), deploy, block=True))
    pod = store.create(with_finalizers(owned(make_pod("web-abc-1"), rs, block=True), "a/drain"))

    store.delete("apps/v1", "Deployment", "web", propagation_policy="Foreground")

    for obj in (deploy, rs, pod):
        assert exists(store, obj)
    assert (
        "foregroundDeletion"
        in store.get("apps/v1", "ReplicaSet", "web-abc")["metadata"]["finalizers"]
    )
    release(store, pod)
    assert not any(exists(store, o) for o in (deploy, rs, pod))


def test_dependent_dropping_its_owner_reference_unblocks_the_owner(store: Store) -> None:
    rs = store.create(make_replicaset("web-abc"))
    store.create(with_finalizers(owned(make_pod("web-abc-1"), rs, block=True), "a/drain"))
    store.delete("apps/v1", "ReplicaSet", "web-abc", propagation_policy="Foreground")

    pod = store.get("v1", "Pod", "web-abc-1")
    pod["metadata"]["ownerReferences"] = []
    store.update(pod)

    assert not exists(store, rs)
    assert exists(store, pod)


def test_foreground_without_dependents_deletes_at_once(store: Store) -> None:
    rs = store.create(make_replicaset("lonely"))

    store.delete("apps/v1", "ReplicaSet", "lonely", propagation_policy="Foreground")

    assert not exists(store, rs)


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
def test_an_ownership_cycle_is_deleted_without_looping(store: Store, policy: str) -> None:
    a = store.create(make_replicaset("a"))
    b = store.create(owned(make_replicaset("b"), a, block=True))
    store.update(owned(store.get("apps/v1", "ReplicaSet", "a"), b, block=True))

    store.delete("apps/v1", "ReplicaSet", "a", propagation_policy=policy)

    assert not exists(store, a)
    assert exists(store, b) == (policy == "Orphan")


# -- Orphan ------------------------------------------------------------------------------------


def test_orphan_keeps_dependents_without_the_owner_reference(store: Store) -> None:
    deploy, rs, _ = make_family(store)
    other = store.create(make_replicaset("other"))
    pod = store.get("v1", "Pod", "web-abc-1")
    pod["metadata"]["ownerReferences"].append(
        owned(make_pod(), other)["metadata"]["ownerReferences"][0]
    )
    store.update(pod)

    store.delete("apps/v1", "ReplicaSet", "web-abc", propagation_policy="Orphan")

    assert not exists(store, rs)
    assert exists(store, deploy)
    assert store.get("v1", "Pod", "web-abc-2")["metadata"].get("ownerReferences") is None
    refs = store.get("v1", "Pod", "web-abc-1")["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["other"]


# -- namespaces --------------------------------------------------------------------------------


def test_namespace_deletion_removes_its_content_then_itself(store: Store) -> None:
    store.create(make_pod("a", namespace="shop"))
    store.create(make_configmap("c", namespace="shop"))
    survivor = store.create(make_pod("a", namespace="default"))
    watch = store.watch()

    store.delete("v1", "Namespace", "shop")

    with pytest.raises(NotFoundError):
        store.get("v1", "Namespace", "shop")
    assert store.list("v1", "Pod", namespace="shop").items == []
    assert exists(store, survivor)
    events = watch.poll()
    assert events[0].type == "MODIFIED"
    assert events[0].object["status"]["phase"] == "Terminating"
    assert event_summary(events[1:]) == [("DELETED", "c"), ("DELETED", "a"), ("DELETED", "shop")]


def test_namespace_stays_terminating_until_content_finalizers_are_gone(store: Store) -> None:
    held = store.create(with_finalizers(make_pod("held", namespace="shop"), "a/drain"))
    store.create(make_pod("free", namespace="shop"))

    store.delete("v1", "Namespace", "shop")

    ns = store.get("v1", "Namespace", "shop")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"]
    assert names(store.list("v1", "Pod", namespace="shop")) == ["held"]
    release(store, held)
    with pytest.raises(NotFoundError):
        store.get("v1", "Namespace", "shop")


def test_empty_namespace_is_removed_at_once(store: Store) -> None:
    store.delete("v1", "Namespace", "shop")

    with pytest.raises(NotFoundError):
        store.get("v1", "Namespace", "shop")


def test_namespace_with_its_own_finalizer_waits_for_it(store: Store) -> None:
    ns = store.create(with_finalizers(make_namespace("tmp"), "example.com/audit"))

    store.delete("v1", "Namespace", "tmp")
    assert store.get("v1", "Namespace", "tmp")["status"]["phase"] == "Terminating"
    release(store, ns)

    with pytest.raises(NotFoundError):
        store.get("v1", "Namespace", "tmp")


def test_a_namespace_can_be_recreated_after_deletion(store: Store) -> None:
    store.create(make_pod("a", namespace="shop"))
    store.delete("v1", "Namespace", "shop")

    store.create(make_namespace("shop"))
    pod = store.create(make_pod("a", namespace="shop"))

    assert pod["metadata"]["namespace"] == "shop"


# -- atomicity ---------------------------------------------------------------------------------


class FailingBackend(MemoryBackend):
    """A memory backend whose next commit fails, like a disk error in the middle of a write."""

    fail_next = False

    def commit(self, changes: Sequence[Change]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk on fire")
        super().commit(changes)


def test_a_failed_cascade_commit_leaves_everything_as_it_was() -> None:
    backend = FailingBackend()
    store = Store(backend, make_scheme(), VirtualClock())
    store.create(make_namespace("default"))
    deploy, rs, pods = make_family(store)
    rv_before = store.resource_version
    watch = store.watch()
    backend.fail_next = True

    with pytest.raises(OSError, match="disk on fire"):
        store.delete("apps/v1", "Deployment", "web")

    assert store.resource_version == rv_before
    assert all(exists(store, o) for o in [deploy, rs, *pods])
    assert watch.poll() == []
    store.delete("apps/v1", "Deployment", "web")  # indexes are intact: the retry cascades
    assert not any(exists(store, o) for o in [deploy, rs, *pods])


def test_backend_protocol_is_satisfied_by_both_backends(tmp_path: Path) -> None:
    from shipyard.store.backends import SqliteBackend

    backends: list[Backend] = [MemoryBackend(), SqliteBackend(tmp_path / "x.db")]
    for backend in backends:
        assert backend.resource_version == 0
        backend.close()
