"""Shared objects: handoff writes, copy=False reads, and the check that nothing changes them."""

from __future__ import annotations

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.store.backends import MemoryBackend
from shipyard.store.store import Store
from tests.store.store_helpers import make_namespace, make_pod, make_scheme


def new_store(*, verify: bool = True) -> Store:
    store = Store(MemoryBackend(), make_scheme(), VirtualClock(), verify_shared=verify)
    store.create(make_namespace())
    return store


def test_handoff_create_keeps_the_callers_dict_and_returns_the_stored_object() -> None:
    store = new_store()
    pod = make_pod("a")
    created = store.create(pod, handoff=True)
    assert created["spec"] is pod["spec"]
    assert created["metadata"]["resourceVersion"]
    assert store.get("v1", "Pod", "a", copy=False) is created


def test_handoff_update_of_a_shallow_copy_leaves_the_old_version_alone() -> None:
    store = new_store()
    old = store.create(make_pod("a"), handoff=True)
    rv = old["metadata"]["resourceVersion"]
    labels = {"app": "y"}
    store.update({**old, "metadata": {**old["metadata"], "labels": labels}}, handoff=True)
    assert old["metadata"]["resourceVersion"] == rv
    assert store.get("v1", "Pod", "a")["metadata"]["labels"] == labels


def test_default_create_copies_in_and_out() -> None:
    store = new_store()
    pod = make_pod("a")
    created = store.create(pod)
    assert created is not pod
    assert "resourceVersion" not in pod["metadata"]
    assert store.get("v1", "Pod", "a") is not store.get("v1", "Pod", "a")


def test_shared_reads_are_the_stored_objects() -> None:
    store = new_store()
    store.create(make_pod("a", labels={"app": "x"}))
    listed = store.list("v1", "Pod", copy=False).items
    assert listed[0] is store.get("v1", "Pod", "a", copy=False)
    assert store.list("v1", "Pod", label_selector="app=x", copy=False).items == listed


def test_handoff_status_write_shares_the_stored_spec() -> None:
    store = new_store()
    old = store.create(make_pod("a"), handoff=True)
    new = {**old, "status": {"phase": "Running"}}
    written = store.update_status(new, handoff=True)
    assert written["status"] == {"phase": "Running"}
    assert written["spec"] is old["spec"]
    assert store.get("v1", "Pod", "a")["status"]["phase"] == "Running"


def test_copied_and_patched_writes_share_the_unchanged_metadata_entries() -> None:
    store = new_store()
    first = store.create(make_pod("a", labels={"app": "x"}), handoff=True)
    copied = store.get("v1", "Pod", "a")  # a deep copy: none of its parts is a stored one
    copied["metadata"]["annotations"] = {"note": "1"}
    store.update(copied)
    store.patch("v1", "Pod", "a", {"metadata": {"annotations": {"note": "2"}}})
    current = store.get("v1", "Pod", "a", copy=False)
    assert current["metadata"]["annotations"] == {"note": "2"}
    for field in ("name", "namespace", "uid", "creationTimestamp", "labels"):
        assert current["metadata"][field] is first["metadata"][field], field


def test_a_reader_that_changes_a_shared_object_is_caught_on_the_next_write() -> None:
    store = new_store()
    store.create(make_pod("a", labels={"app": "x"}))
    shared = store.get("v1", "Pod", "a", copy=False)
    shared["metadata"]["labels"]["app"] = "changed"
    fresh = store.get("v1", "Pod", "a")
    fresh["metadata"]["labels"]["tier"] = "web"
    with pytest.raises(AssertionError, match=r"changed in place"):
        store.update(fresh)


def test_a_changed_shared_object_is_caught_on_close() -> None:
    store = new_store()
    store.create(make_pod("a"))
    store.list("v1", "Pod", copy=False).items[0]["spec"]["nodeName"] = "n1"
    with pytest.raises(AssertionError, match=r"Pod.*changed in place"):
        store.close()


def test_without_verification_nothing_is_fingerprinted() -> None:
    store = new_store(verify=False)
    store.create(make_pod("a"))
    store.get("v1", "Pod", "a", copy=False)["spec"]["nodeName"] = "n1"
    store.close()  # the contract is broken, but nobody checks: no error
