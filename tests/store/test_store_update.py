"""Update, update_status and patch: generation, status subresource, conflicts and no-ops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.errors import BadRequestError, ConflictError, InvalidError, NotFoundError
from shipyard.core.objects import Obj
from shipyard.store.store import Store
from tests.store.store_helpers import (
    BACKENDS,
    closing,
    event_summary,
    make_configmap,
    make_pod,
    make_store,
    rv,
)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from closing(make_store(request.param, tmp_path))


def created_pod(store: Store, name: str = "web-1", **overrides: object) -> Obj:
    return store.create(make_pod(name, **overrides))


def expect_conflict_message(err: pytest.ExceptionInfo[ConflictError], resource: str) -> None:
    assert str(err.value) == (
        f"Operation cannot be fulfilled on {resource}: the object has been modified; "
        "please apply your changes to the latest version and try again"
    )


# -- generation ------------------------------------------------------------------------------


def test_spec_change_bumps_generation_and_resource_version(store: Store) -> None:
    pod = created_pod(store)
    pod["spec"]["containers"][0]["image"] = "registry.local/web:2"

    updated = store.update(pod)

    assert updated["metadata"]["generation"] == 2
    assert rv(updated) == rv(pod) + 1
    assert updated["spec"]["containers"][0]["image"] == "registry.local/web:2"


def test_metadata_change_keeps_generation(store: Store) -> None:
    pod = created_pod(store)
    pod["metadata"]["labels"]["tier"] = "front"
    pod["metadata"]["annotations"] = {"note": "hi"}

    updated = store.update(pod)

    assert updated["metadata"]["generation"] == 1
    assert rv(updated) == rv(pod) + 1
    assert updated["metadata"]["annotations"] == {"note": "hi"}


def test_status_change_keeps_generation(store: Store) -> None:
    pod = created_pod(store)
    pod["status"] = {"phase": "Running"}

    updated = store.update_status(pod)

    assert updated["metadata"]["generation"] == 1
    assert updated["status"] == {"phase": "Running"}


def test_kind_without_status_subresource_bumps_generation_on_any_non_metadata_change(
    store: Store,
) -> None:
    cm = store.create(make_configmap())
    cm["data"]["color"] = "green"
    cm["status"] = {"note": "a configmap has no status subresource, so this is just data"}

    updated = store.update(cm)

    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == cm["status"]


def test_client_cannot_set_generation(store: Store) -> None:
    pod = created_pod(store)
    pod["metadata"]["generation"] = 99
    pod["metadata"]["labels"]["x"] = "y"

    assert store.update(pod)["metadata"]["generation"] == 1


# -- status subresource ------------------------------------------------------------------------


def test_update_keeps_the_stored_status(store: Store) -> None:
    pod = created_pod(store, status={"phase": "Pending"})
    pod["status"] = {"phase": "Hacked"}
    pod["metadata"]["labels"]["tier"] = "front"

    updated = store.update(pod)

    assert updated["status"] == {"phase": "Pending"}
    assert updated["metadata"]["labels"]["tier"] == "front"


def test_update_status_takes_only_the_status(store: Store) -> None:
    pod = created_pod(store)
    pod["status"] = {"phase": "Running"}
    pod["spec"]["containers"][0]["image"] = "ignored:2"
    pod["metadata"]["labels"] = {"ignored": "yes"}

    updated = store.update_status(pod)

    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["containers"][0]["image"] == "registry.local/web:1"
    assert updated["metadata"]["labels"] == {"app": "web"}


def test_update_status_is_refused_for_kinds_without_status(store: Store) -> None:
    cm = store.create(make_configmap())

    with pytest.raises(BadRequestError, match="configmaps has no status subresource"):
        store.update_status(cm)


def test_update_status_checks_the_resource_version(store: Store) -> None:
    pod = created_pod(store)
    store.update_status({**pod, "status": {"phase": "Running"}})

    with pytest.raises(ConflictError):
        store.update_status({**pod, "status": {"phase": "Failed"}})


# -- optimistic concurrency --------------------------------------------------------------------


def test_stale_resource_version_is_a_conflict(store: Store) -> None:
    stale = created_pod(store)
    fresh = store.get("v1", "Pod", "web-1")
    fresh["metadata"]["labels"]["v"] = "2"
    store.update(fresh)
    stale["metadata"]["labels"]["v"] = "3"

    with pytest.raises(ConflictError) as err:
        store.update(stale)

    expect_conflict_message(err, 'pods "web-1"')
    assert store.get("v1", "Pod", "web-1")["metadata"]["labels"]["v"] == "2"


def test_update_without_resource_version_is_unconditional(store: Store) -> None:
    pod = created_pod(store)
    store.update({**pod, "metadata": {**pod["metadata"], "labels": {"v": "2"}}})
    del pod["metadata"]["resourceVersion"]
    pod["metadata"]["labels"] = {"v": "3"}

    assert store.update(pod)["metadata"]["labels"] == {"v": "3"}


def test_update_with_another_uid_is_a_conflict(store: Store) -> None:
    pod = created_pod(store)
    pod["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
    del pod["metadata"]["resourceVersion"]

    with pytest.raises(ConflictError, match="Precondition failed: UID in precondition"):
        store.update(pod)


def test_update_preserves_immutable_metadata(store: Store) -> None:
    pod = created_pod(store)
    original = dict(pod["metadata"])
    del pod["metadata"]["uid"]
    pod["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z"
    pod["metadata"]["labels"]["v"] = "2"

    md = store.update(pod)["metadata"]

    assert md["uid"] == original["uid"]
    assert md["creationTimestamp"] == original["creationTimestamp"]


def test_update_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match='pods "ghost" not found'):
        store.update(make_pod("ghost"))


def test_no_op_update_keeps_resource_version_and_emits_nothing(store: Store) -> None:
    pod = created_pod(store)
    watch = store.watch("v1", "Pod")

    again = store.update(pod)
    unconditional = store.update({**pod, "metadata": {**pod["metadata"], "resourceVersion": ""}})

    assert again == pod
    assert unconditional["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    assert store.resource_version == pod["metadata"]["resourceVersion"]
    assert watch.poll() == []


def test_update_that_only_restates_defaults_is_a_no_op(store: Store) -> None:
    pod = created_pod(store)
    del pod["spec"]["restartPolicy"]  # defaulting puts it back

    assert rv(store.update(pod)) == rv(pod)


def test_invalid_update_changes_nothing(store: Store) -> None:
    pod = created_pod(store, spec={"nodeName": "n1"})
    watch = store.watch("v1", "Pod")
    pod["spec"]["nodeName"] = "n2"
    pod["spec"]["containers"] = []

    with pytest.raises(InvalidError) as err:
        store.update(pod)

    assert {c.path for c in err.value.causes} == {"spec.containers", "spec.nodeName"}
    assert store.get("v1", "Pod", "web-1")["spec"]["nodeName"] == "n1"
    assert watch.poll() == []


def test_dry_run_update_shows_the_result_without_storing_it(store: Store) -> None:
    pod = created_pod(store)
    pod["spec"]["containers"][0]["image"] = "web:2"

    shown = store.update(pod, dry_run=True)

    assert shown["metadata"]["generation"] == 2
    assert shown["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    assert store.get("v1", "Pod", "web-1")["metadata"]["generation"] == 1
    assert store.resource_version == pod["metadata"]["resourceVersion"]


def test_update_event_carries_the_new_version(store: Store) -> None:
    pod = created_pod(store)
    watch = store.watch("v1", "Pod")
    pod["metadata"]["labels"]["v"] = "2"

    updated = store.update(pod)

    (event,) = watch.poll()
    assert (event.type, event.resource_version) == (
        "MODIFIED",
        updated["metadata"]["resourceVersion"],
    )
    assert event.object == updated


# -- patch ----------------------------------------------------------------------------------


def test_merge_patch_changes_labels(store: Store) -> None:
    created_pod(store)

    patched = store.patch("v1", "Pod", "web-1", {"metadata": {"labels": {"tier": "front"}}})

    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert patched["metadata"]["generation"] == 1


def test_store_keeps_no_reference_to_a_patch(store: Store) -> None:
    created_pod(store)
    patch = {"metadata": {"annotations": {"note": "v1"}}, "spec": {"tolerations": [{"key": "a"}]}}

    store.patch("v1", "Pod", "web-1", patch)
    patch["metadata"]["annotations"]["note"] = "changed by caller"
    patch["spec"]["tolerations"][0]["key"] = "changed by caller"

    stored = store.get("v1", "Pod", "web-1")
    assert stored["metadata"]["annotations"] == {"note": "v1"}
    assert stored["spec"]["tolerations"] == [{"key": "a"}]


def test_patch_of_the_main_resource_ignores_status(store: Store) -> None:
    created_pod(store, status={"phase": "Pending"})

    patched = store.patch("v1", "Pod", "web-1", {"status": {"phase": "Running"}})

    assert patched["status"] == {"phase": "Pending"}


def test_status_patch_changes_only_status(store: Store) -> None:
    created_pod(store)

    patched = store.patch(
        "v1",
        "Pod",
        "web-1",
        {"status": {"phase": "Running"}, "metadata": {"labels": {"x": "y"}}},
        subresource="status",
    )

    assert patched["status"] == {"phase": "Running"}
    assert patched["metadata"]["labels"] == {"app": "web"}


def test_json_patch_bumps_generation_on_spec_change(store: Store) -> None:
    created_pod(store)
    ops = [{"op": "replace", "path": "/spec/containers/0/image", "value": "web:2"}]

    patched = store.patch("v1", "Pod", "web-1", ops, patch_type="json")

    assert patched["spec"]["containers"][0]["image"] == "web:2"
    assert patched["metadata"]["generation"] == 2


def test_patch_with_a_stale_resource_version_is_a_conflict(store: Store) -> None:
    pod = created_pod(store)
    store.patch("v1", "Pod", "web-1", {"metadata": {"labels": {"v": "2"}}})

    with pytest.raises(ConflictError):
        store.patch(
            "v1",
            "Pod",
            "web-1",
            {"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"], "labels": {}}},
        )


def test_patch_cannot_rename(store: Store) -> None:
    created_pod(store)

    with pytest.raises(BadRequestError, match="may not change"):
        store.patch("v1", "Pod", "web-1", {"metadata": {"name": "other"}})


def test_patch_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.patch("v1", "Pod", "ghost", {"metadata": {"labels": {"a": "b"}}})


def test_patch_result_is_validated(store: Store) -> None:
    created_pod(store)

    with pytest.raises(InvalidError):
        store.patch("v1", "Pod", "web-1", {"spec": {"containers": []}})
    assert store.get("v1", "Pod", "web-1")["spec"]["containers"]


def test_patch_to_an_unknown_subresource_is_a_bad_request(store: Store) -> None:
    created_pod(store)

    with pytest.raises(BadRequestError, match='no subresource "scale"'):
        store.patch("v1", "Pod", "web-1", {}, subresource="scale")


def test_updates_appear_in_order_on_a_watch(store: Store) -> None:
    pod = created_pod(store)
    watch = store.watch("v1", "Pod", resource_version=pod["metadata"]["resourceVersion"])

    store.patch("v1", "Pod", "web-1", {"metadata": {"labels": {"v": "2"}}})
    store.patch("v1", "Pod", "web-1", {"status": {"phase": "Running"}}, subresource="status")

    assert event_summary(watch.poll()) == [("MODIFIED", "web-1"), ("MODIFIED", "web-1")]
