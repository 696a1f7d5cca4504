"""Create, get and list: metadata, naming, namespaces, selectors, dry runs and rejections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import (
    AlreadyExistsError,
    BadRequestError,
    InvalidError,
    NotFoundError,
)
from shipyard.core.objects import ObjectKey
from shipyard.store.backends import ADDED, MODIFIED, Change, MemoryBackend
from shipyard.store.store import ForbiddenError, Store
from tests.store.store_helpers import (
    BACKENDS,
    closing,
    make_configmap,
    make_namespace,
    make_pod,
    make_replicaset,
    make_scheme,
    make_store,
    names,
    rv,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from closing(make_store(request.param, tmp_path, namespaces=["default", "shop"]))


# -- create and get ----------------------------------------------------------------------------


def test_create_fills_system_metadata(store: Store) -> None:
    before = int(store.resource_version)

    pod = store.create(make_pod("web-1"))

    md = pod["metadata"]
    assert UUID.match(md["uid"])
    assert md["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert md["generation"] == 1
    assert md["resourceVersion"] == str(before + 1) == store.resource_version
    assert md["namespace"] == "default"
    assert md["labels"] == {"app": "web"}


def test_create_runs_the_kinds_defaulting(store: Store) -> None:
    pod = store.create(make_pod("web-1"))

    assert pod["spec"]["restartPolicy"] == "Always"
    assert store.get("v1", "Pod", "web-1")["spec"]["restartPolicy"] == "Always"


def test_creation_timestamp_comes_from_the_injected_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = make_store("memory", tmp_path, clock=clock)
    clock.advance(90)

    pod = store.create(make_pod("web-1"))

    assert pod["metadata"]["creationTimestamp"] == "2026-01-01T00:01:30Z"


def test_objects_in_and_out_are_copies(store: Store) -> None:
    mine = make_pod("web-1")
    created = store.create(mine)

    mine["metadata"]["labels"]["app"] = "changed-by-caller"
    created["spec"]["containers"].clear()
    got = store.get("v1", "Pod", "web-1")
    got["metadata"]["labels"]["app"] = "changed-again"

    stored = store.get("v1", "Pod", "web-1")
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert len(stored["spec"]["containers"]) == 1


def test_get_missing_object_uses_kubernetes_wording(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r'^pods "nope" not found$'):
        store.get("v1", "Pod", "nope")
    with pytest.raises(NotFoundError, match=r'^replicasets\.apps "nope" not found$'):
        store.get("apps/v1", "ReplicaSet", "nope", namespace="shop")


def test_get_looks_in_the_given_namespace_only(store: Store) -> None:
    store.create(make_pod("web-1", namespace="shop"))

    assert store.get("v1", "Pod", "web-1", namespace="shop")["metadata"]["namespace"] == "shop"
    with pytest.raises(NotFoundError):
        store.get("v1", "Pod", "web-1")  # "" means default for a namespaced kind


def test_create_of_an_existing_name_is_already_exists(store: Store) -> None:
    store.create(make_pod("web-1"))
    rv_before = store.resource_version

    with pytest.raises(AlreadyExistsError, match=r'^pods "web-1" already exists$'):
        store.create(make_pod("web-1"))
    assert store.resource_version == rv_before


def test_same_name_in_another_namespace_is_another_object(store: Store) -> None:
    a = store.create(make_pod("web-1"))
    b = store.create(make_pod("web-1", namespace="shop"))

    assert a["metadata"]["uid"] != b["metadata"]["uid"]


def test_generate_name_appends_a_five_character_suffix(store: Store) -> None:
    pod = make_pod("ignored")
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "web-"

    created = [store.create(pod) for _ in range(20)]

    for obj in created:
        assert re.match(r"^web-[bcdfghjklmnpqrstvwxz2456789]{5}$", obj["metadata"]["name"])
        assert obj["metadata"]["generateName"] == "web-"
    assert len(set(names(created))) == 20


def test_generated_names_and_uids_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    def run() -> list[tuple[str, str]]:
        store = make_store("memory", tmp_path)
        pod = make_pod("x")
        del pod["metadata"]["name"]
        pod["metadata"]["generateName"] = "web-"
        made = [store.create(pod)["metadata"] for _ in range(3)]
        return [(m["name"], m["uid"]) for m in made]

    assert run() == run()


def test_create_without_name_or_generate_name_is_invalid(store: Store) -> None:
    pod = make_pod()
    del pod["metadata"]["name"]

    with pytest.raises(InvalidError) as err:
        store.create(pod)
    assert err.value.causes[0].path == "metadata.name"
    assert "name or generateName is required" in str(err.value)


def test_create_with_a_resource_version_is_rejected(store: Store) -> None:
    pod = make_pod(metadata={"resourceVersion": "7"})

    with pytest.raises(BadRequestError, match="resourceVersion should not be set"):
        store.create(pod)


def test_client_supplied_system_fields_are_replaced(store: Store) -> None:
    pod = make_pod(
        metadata={
            "uid": "not-a-uid",
            "creationTimestamp": "1999-01-01T00:00:00Z",
            "generation": 42,
            "deletionTimestamp": "1999-01-01T00:00:00Z",
        }
    )

    md = store.create(pod)["metadata"]

    assert UUID.match(md["uid"])
    assert md["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert md["generation"] == 1
    assert "deletionTimestamp" not in md


def test_unknown_kind_is_a_bad_request_naming_it(store: Store) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}

    with pytest.raises(BadRequestError, match='no kind "Widget" is registered'):
        store.create(widget)
    with pytest.raises(BadRequestError, match="served versions: v1"):
        store.get("v2", "Pod", "x")


def test_object_without_kind_is_a_bad_request(store: Store) -> None:
    with pytest.raises(BadRequestError, match="apiVersion and kind"):
        store.create({"metadata": {"name": "x"}})
    with pytest.raises(BadRequestError):
        store.create(["not", "an", "object"])  # type: ignore[arg-type]


# -- namespaces --------------------------------------------------------------------------------


def test_namespaced_object_needs_an_existing_namespace(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r'^namespaces "nope" not found$'):
        store.create(make_pod("web-1", namespace="nope"))


def test_missing_namespace_means_default(store: Store) -> None:
    pod = make_pod("web-1")
    del pod["metadata"]["namespace"]

    assert store.create(pod)["metadata"]["namespace"] == "default"


def test_cluster_scoped_objects_have_no_namespace(store: Store) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "shop"}}

    created = store.create(node)

    assert "namespace" not in created["metadata"]
    assert store.get("v1", "Node", "n1", namespace="whatever")["metadata"]["name"] == "n1"


def test_creating_in_a_terminating_namespace_is_forbidden(store: Store) -> None:
    store.create(make_configmap("held", namespace="shop", metadata={"finalizers": ["x/y"]}))
    store.delete("v1", "Namespace", "shop")

    with pytest.raises(ForbiddenError) as err:
        store.create(make_pod("web-1", namespace="shop"))
    assert str(err.value) == (
        "unable to create new content in namespace shop because it is being terminated"
    )
    assert err.value.code == 403


def test_without_a_namespace_kind_namespaces_are_not_checked(tmp_path: Path) -> None:
    scheme = make_scheme()
    bare = type(scheme)([info for info in scheme if info.kind != "Namespace"])
    store = Store(MemoryBackend(), bare, VirtualClock())

    assert store.create(make_pod("web-1", namespace="anything"))["metadata"]["uid"]


# -- list --------------------------------------------------------------------------------------


def test_list_orders_by_namespace_then_name(store: Store) -> None:
    for ns, name in [("shop", "b"), ("default", "c"), ("shop", "a"), ("default", "a")]:
        store.create(make_pod(name, namespace=ns))

    everywhere = store.list("v1", "Pod")
    in_shop = store.list("v1", "Pod", namespace="shop")

    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in everywhere.items] == [
        ("default", "a"),
        ("default", "c"),
        ("shop", "a"),
        ("shop", "b"),
    ]
    assert names(in_shop) == ["a", "b"]


def test_list_reports_the_current_resource_version(store: Store) -> None:
    store.create(make_pod("a"))

    listed = store.list("v1", "Pod")

    assert listed.resource_version == store.resource_version
    assert len(listed) == 1


def test_list_of_a_kind_with_no_objects_is_empty(store: Store) -> None:
    assert store.list("apps/v1", "Deployment").items == []


def test_list_by_label_selector(store: Store) -> None:
    store.create(make_pod("web-1", labels={"app": "web", "tier": "front"}))
    store.create(make_pod("web-2", labels={"app": "web", "tier": "back"}))
    store.create(make_pod("db-1", labels={"app": "db", "tier": "back"}))
    store.create(make_pod("bare", labels={}))

    def select(selector: str) -> list[str]:
        return names(store.list("v1", "Pod", label_selector=selector))

    assert select("app=web") == ["web-1", "web-2"]
    assert select("app=web,tier=back") == ["web-2"]
    assert select("tier in (front, back),app!=db") == ["web-1", "web-2"]
    assert select("app!=web") == ["bare", "db-1"]
    assert select("!tier") == ["bare"]
    assert select("tier") == ["db-1", "web-1", "web-2"]
    assert select("app=nothing") == []
    assert select("") == ["bare", "db-1", "web-1", "web-2"]


def test_label_index_follows_relabeling_and_deletion(store: Store) -> None:
    store.create(make_pod("web-1"))
    pod = store.get("v1", "Pod", "web-1")
    pod["metadata"]["labels"] = {"app": "api"}
    store.update(pod)
    store.create(make_pod("web-2"))
    store.delete("v1", "Pod", "web-2")

    assert names(store.list("v1", "Pod", label_selector="app=web")) == []
    assert names(store.list("v1", "Pod", label_selector="app=api")) == ["web-1"]


def test_list_by_field_selector(store: Store) -> None:
    store.create(make_pod("a", spec={"nodeName": "n1"}, status={"phase": "Running"}))
    store.create(make_pod("b", spec={"nodeName": "n2"}, status={"phase": "Pending"}))
    store.create(make_pod("c", namespace="shop", spec={"nodeName": "n1"}))

    def select(selector: str, namespace: str | None = None) -> list[str]:
        return names(store.list("v1", "Pod", namespace=namespace, field_selector=selector))

    assert select("spec.nodeName=n1") == ["a", "c"]
    assert select("spec.nodeName=n1", "shop") == ["c"]
    assert select("spec.nodeName!=n1") == ["b"]
    assert select("status.phase=Running") == ["a"]
    assert select("metadata.name=b") == ["b"]
    assert select("metadata.namespace=shop") == ["c"]
    assert select("spec.nodeName=") == []


def test_field_index_follows_each_version_whether_its_parts_are_shared_or_new() -> None:
    backend = MemoryBackend(indexed_fields=("spec.nodeName", "status.phase"))
    key = ObjectKey("v1", "Pod", "default", "a")
    versions = [make_pod("a", spec={"nodeName": "n1"}, status={"phase": "Pending"})]
    versions.append({**versions[0], "status": {"phase": "Running"}})  # spec shared
    versions.append({**versions[1], "spec": {**versions[1]["spec"], "nodeName": "n2"}})
    versions.append({**versions[2], "spec": {**versions[2]["spec"]}})  # new, equal spec
    expected = [("n1", "Pending"), ("n1", "Running"), ("n2", "Running"), ("n2", "Running")]
    for revision, (version, (node, phase)) in enumerate(zip(versions, expected, strict=True), 1):
        old = backend.get(key)
        backend.commit([Change(ADDED if old is None else MODIFIED, key, version, old, revision)])
        for field, value in (("spec.nodeName", node), ("status.phase", phase)):
            for other in ("n1", "n2", "Pending", "Running"):
                found = backend.select("v1", "Pod", None, {}, {field: other})
                assert found == ([version] if other == value else []), (revision, field, other)


def test_list_by_label_and_field_selector_together(store: Store) -> None:
    store.create(make_pod("a", labels={"app": "web"}, spec={"nodeName": "n1"}))
    store.create(make_pod("b", labels={"app": "db"}, spec={"nodeName": "n1"}))
    store.create(make_pod("c", labels={"app": "web"}, spec={"nodeName": "n2"}))

    found = store.list("v1", "Pod", label_selector="app=web", field_selector="spec.nodeName=n1")

    assert names(found) == ["a"]


def test_a_malformed_selector_is_a_bad_request(store: Store) -> None:
    with pytest.raises(BadRequestError):
        store.list("v1", "Pod", label_selector="app in (web")
    with pytest.raises(BadRequestError):
        store.list("v1", "Pod", field_selector="spec.nodeName")


# -- dry run and rejected writes ---------------------------------------------------------------


def test_dry_run_create_returns_the_object_and_stores_nothing(store: Store) -> None:
    rv_before = store.resource_version
    watch = store.watch("v1", "Pod")

    shown = store.create(make_pod("web-1"), dry_run=True)

    assert shown["metadata"]["uid"] and shown["spec"]["restartPolicy"] == "Always"
    assert "resourceVersion" not in shown["metadata"]
    assert store.resource_version == rv_before
    assert watch.poll() == []
    with pytest.raises(NotFoundError):
        store.get("v1", "Pod", "web-1")


def test_dry_run_create_still_validates(store: Store) -> None:
    with pytest.raises(InvalidError):
        store.create(make_pod("web-1", spec={"containers": []}), dry_run=True)


def test_invalid_create_lists_every_cause_with_its_path(store: Store) -> None:
    bad = make_pod("Web-1", spec={"containers": [{"name": "app"}, {"name": "side"}]})

    with pytest.raises(InvalidError) as err:
        store.create(bad)

    assert err.value.subject == 'Pod "Web-1"'
    assert [c.path for c in err.value.causes] == [
        "spec.containers[0].image",
        "spec.containers[1].image",
        "metadata.name",
    ]
    assert str(err.value).startswith('Pod "Web-1" is invalid: spec.containers[0].image:')


def test_rejected_create_leaves_nothing_behind(store: Store) -> None:
    rv_before = store.resource_version
    watch = store.watch()

    with pytest.raises(InvalidError):
        store.create(make_pod("web-1", spec={"containers": []}))

    assert store.resource_version == rv_before
    assert store.list("v1", "Pod").items == []
    assert watch.poll() == []


def test_metadata_the_store_indexes_must_have_the_right_shape(store: Store) -> None:
    bad_labels = make_pod("web-1", metadata={"labels": {"app": ["not", "a", "string"]}})
    bad_refs = make_pod("web-2", metadata={"ownerReferences": [{"name": "x"}]})
    bad_finalizers = make_pod("web-3", metadata={"finalizers": "x"})

    for bad, path in [
        (bad_labels, "metadata.labels"),
        (bad_refs, "metadata.ownerReferences"),
        (bad_finalizers, "metadata.finalizers"),
    ]:
        with pytest.raises(InvalidError) as err:
            store.create(bad)
        assert err.value.causes[0].path == path
    assert store.list("v1", "Pod").items == []


def test_every_object_gets_a_distinct_uid(store: Store) -> None:
    uids = {store.create(make_pod(f"p{i}"))["metadata"]["uid"] for i in range(50)}
    uids.add(store.create(make_replicaset("rs"))["metadata"]["uid"])

    assert len(uids) == 51


def test_resource_versions_are_one_global_increasing_counter(store: Store) -> None:
    versions = [rv(store.create(make_pod(f"p{i}"))) for i in range(3)]
    versions.append(rv(store.create(make_namespace("other"))))
    versions.append(rv(store.create(make_configmap("c"))))

    assert versions == list(range(versions[0], versions[0] + 5))
    assert store.resource_version == str(versions[-1])
