"""Watch and listeners: event types, filters, selector transitions, resume, expiry, threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.errors import BadRequestError, GoneError
from shipyard.core.objects import Obj
from shipyard.core.selectors import parse_label_selector
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent, WatchFilter
from tests.store.store_helpers import (
    BACKENDS,
    closing,
    event_summary,
    make_configmap,
    make_pod,
    make_store,
    rv,
)

# Real-time bound for the few tests that wait on another thread; they never sleep.
PATIENCE = 10.0


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from closing(make_store(request.param, tmp_path, namespaces=["default", "shop"]))


def relabel(store: Store, name: str, labels: dict[str, str], namespace: str = "") -> Obj:
    pod = store.get("v1", "Pod", name, namespace=namespace)
    pod["metadata"]["labels"] = labels
    return store.update(pod)


# -- event types and filters -------------------------------------------------------------------


def test_watch_from_now_sees_added_modified_deleted(store: Store) -> None:
    store.create(make_pod("before"))
    watch = store.watch("v1", "Pod")

    created = store.create(make_pod("web-1"))
    updated = relabel(store, "web-1", {"app": "web", "v": "2"})
    deleted = store.delete("v1", "Pod", "web-1")

    events = watch.poll()
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", created["metadata"]["resourceVersion"]),
        ("MODIFIED", updated["metadata"]["resourceVersion"]),
        ("DELETED", deleted["metadata"]["resourceVersion"]),
    ]
    assert events[1].object == updated
    assert watch.poll() == []


def test_watch_filters_by_kind_and_namespace(store: Store) -> None:
    pods_in_shop = store.watch("v1", "Pod", namespace="shop")
    configmaps = store.watch("v1", "ConfigMap")
    everything = store.watch()

    store.create(make_pod("a", namespace="default"))
    store.create(make_pod("b", namespace="shop"))
    store.create(make_configmap("c"))

    assert event_summary(pods_in_shop.poll()) == [("ADDED", "b")]
    assert event_summary(configmaps.poll()) == [("ADDED", "c")]
    assert event_summary(everything.poll()) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_a_filter_parses_text_selectors_and_leaves_empty_ones_out() -> None:
    flt = WatchFilter.of("v1", "Pod", "shop", labels="app=web", fields="spec.nodeName=n1")
    assert flt.labels == parse_label_selector("app=web")
    assert flt.fields is not None
    web = {"metadata": {"labels": {"app": "web"}}, "spec": {"nodeName": "n1"}}
    other = {"metadata": {"labels": {"app": "web"}}, "spec": {"nodeName": "n2"}}
    assert flt.matches(web)
    assert not flt.matches(other)
    assert WatchFilter.of(labels="", fields="") == WatchFilter()
    assert WatchFilter.of(labels=parse_label_selector("")) == WatchFilter()


def test_list_and_watch_select_the_same_objects(store: Store) -> None:
    watch = store.watch("v1", "Pod", label_selector="app=web,tier!=db")
    store.create(make_pod("a", labels={"app": "web"}))
    store.create(make_pod("b", labels={"app": "web", "tier": "db"}))
    store.create(make_pod("c", labels={"app": "shop"}))
    listed = store.list("v1", "Pod", label_selector="app=web,tier!=db")
    assert [o["metadata"]["name"] for o in listed] == ["a"]
    assert event_summary(watch.poll()) == [("ADDED", "a")]


def test_watch_of_one_api_version_or_kind_across_groups(store: Store) -> None:
    core = store.watch("v1")
    any_pod = store.watch(kind="Pod")

    store.create(make_pod("a"))
    store.create(make_configmap("c"))

    assert event_summary(core.poll()) == [("ADDED", "a"), ("ADDED", "c")]
    assert event_summary(any_pod.poll()) == [("ADDED", "a")]


def test_label_selected_watch_sees_objects_enter_and_leave(store: Store) -> None:
    store.create(make_pod("web-1", labels={"app": "web"}))
    watch = store.watch("v1", "Pod", label_selector="app=web")

    relabel(store, "web-1", {"app": "api"})
    left = watch.poll()
    relabel(store, "web-1", {"app": "api", "v": "2"})
    ignored = watch.poll()
    back = relabel(store, "web-1", {"app": "web"})
    entered = watch.poll()

    assert [(e.type, e.object["metadata"]["labels"]) for e in left] == [
        ("DELETED", {"app": "web"})  # the last state it matched in...
    ]
    assert rv(left[0].object) == int(left[0].resource_version)  # ...at the event's version
    assert ignored == []
    assert [(e.type, e.object) for e in entered] == [("ADDED", back)]


def test_field_selected_watch_follows_the_node_a_pod_is_bound_to(store: Store) -> None:
    store.create(make_pod("web-1"))
    watch = store.watch("v1", "Pod", field_selector="spec.nodeName=n1")

    store.patch("v1", "Pod", "web-1", {"spec": {"nodeName": "n1"}})
    store.patch("v1", "Pod", "web-1", {"metadata": {"labels": {"x": "y"}}})
    store.delete("v1", "Pod", "web-1", grace_period_seconds=0)  # bound: force, as a kubelet

    assert [e.type for e in watch.poll()] == ["ADDED", "MODIFIED", "DELETED"]


def test_deleting_an_object_that_never_matched_sends_nothing(store: Store) -> None:
    store.create(make_pod("db-1", labels={"app": "db"}))
    watch = store.watch("v1", "Pod", label_selector="app=web")

    store.delete("v1", "Pod", "db-1")

    assert watch.poll() == []


def test_event_objects_are_shared_between_watchers(store: Store) -> None:
    first, second = store.watch("v1", "Pod"), store.watch("v1", "Pod")

    store.create(make_pod("web-1"))

    (a,), (b,) = first.poll(), second.poll()
    assert a.object is b.object  # read-only by contract: copy before changing


# -- resume, "0" and expiry --------------------------------------------------------------------


def test_watch_resumes_after_a_resource_version(store: Store) -> None:
    store.create(make_pod("a"))
    mark = store.create(make_pod("b"))["metadata"]["resourceVersion"]
    store.create(make_pod("c"))
    store.delete("v1", "Pod", "a")

    watch = store.watch("v1", "Pod", resource_version=mark)
    store.create(make_pod("d"))

    assert event_summary(watch.poll()) == [("ADDED", "c"), ("DELETED", "a"), ("ADDED", "d")]


def test_resume_from_the_current_version_replays_nothing(store: Store) -> None:
    store.create(make_pod("a"))

    watch = store.watch("v1", "Pod", resource_version=store.resource_version)

    assert watch.poll() == []


def test_resume_replays_selector_transitions(store: Store) -> None:
    store.create(make_pod("web-1", labels={"app": "web"}))
    mark = store.resource_version
    relabel(store, "web-1", {"app": "api"})

    watch = store.watch("v1", "Pod", resource_version=mark, label_selector="app=web")

    assert [e.type for e in watch.poll()] == ["DELETED"]


def test_watch_from_zero_sends_everything_then_continues(store: Store) -> None:
    store.create(make_pod("b", namespace="shop"))
    a = store.create(make_pod("a"))
    store.create(make_pod("x", labels={"app": "other"}))

    watch = store.watch("v1", "Pod", resource_version="0", label_selector="app=web")
    store.create(make_pod("c"))

    events = watch.poll()
    assert event_summary(events) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    assert events[0].resource_version == a["metadata"]["resourceVersion"]


def test_watch_everything_from_zero_orders_by_kind_then_key(store: Store) -> None:
    store.create(make_pod("p"))
    store.create(make_configmap("c"))

    watch = store.watch(resource_version="0", namespace="default")

    assert event_summary(watch.poll()) == [("ADDED", "c"), ("ADDED", "p")]


def test_too_old_resource_version_is_gone(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path, history=3)
    for i in range(6):
        store.create(make_pod(f"p{i}"))
    # versions 1..7 exist (namespace + 6 pods); the last 3 changes are 5, 6, 7

    with pytest.raises(GoneError, match=r"^too old resource version: 2 \(4\)$") as err:
        store.watch("v1", "Pod", resource_version="2")
    watch = store.watch("v1", "Pod", resource_version="4")

    assert err.value.code == 410
    assert event_summary(watch.poll()) == [("ADDED", "p3"), ("ADDED", "p4"), ("ADDED", "p5")]


def test_without_history_only_the_current_version_can_be_resumed(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path, history=0)
    store.create(make_pod("a"))

    with pytest.raises(GoneError):
        store.watch("v1", "Pod", resource_version="1")
    assert store.watch("v1", "Pod", resource_version=store.resource_version).poll() == []


def test_a_malformed_resource_version_is_a_bad_request(store: Store) -> None:
    with pytest.raises(BadRequestError, match="invalid resource version"):
        store.watch("v1", "Pod", resource_version="yesterday")


def test_no_op_updates_and_dry_runs_send_no_events(store: Store) -> None:
    pod = store.create(make_pod("web-1"))
    watch = store.watch()

    store.update(pod)
    store.create(make_pod("web-2"), dry_run=True)
    store.delete("v1", "Pod", "web-1", dry_run=True)

    assert watch.poll() == []


# -- lifecycle and threads ---------------------------------------------------------------------


def test_a_stopped_watch_gets_nothing_more(store: Store) -> None:
    watch = store.watch("v1", "Pod")
    store.create(make_pod("a"))

    watch.stop()
    store.create(make_pod("b"))

    assert watch.stopped
    assert watch.next(timeout=0) is None


def test_watch_as_context_manager_stops(store: Store) -> None:
    with store.watch("v1", "Pod") as watch:
        store.create(make_pod("a"))
        assert [e.type for e in watch.poll()] == ["ADDED"]
    assert watch.stopped


def test_next_returns_none_when_nothing_arrives(store: Store) -> None:
    watch = store.watch("v1", "Pod")

    assert watch.next(timeout=0) is None


def test_next_wakes_up_for_a_write_from_another_thread(store: Store) -> None:
    watch = store.watch("v1", "Pod")
    writer = threading.Thread(target=lambda: store.create(make_pod("a")))

    writer.start()
    event = watch.next(timeout=PATIENCE)
    writer.join(PATIENCE)

    assert event is not None and event.object["metadata"]["name"] == "a"


def test_iterating_a_watch_ends_when_it_is_stopped(store: Store) -> None:
    watch = store.watch("v1", "Pod")
    store.create(make_pod("a"))
    store.create(make_pod("b"))
    seen: list[str] = []

    def consume() -> None:
        for event in watch:
            seen.append(event.object["metadata"]["name"])
            if len(seen) == 2:
                watch.stop()

    consumer = threading.Thread(target=consume)
    consumer.start()
    consumer.join(PATIENCE)

    assert not consumer.is_alive()
    assert seen == ["a", "b"]


def test_closing_the_store_stops_its_watches(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path)
    watch = store.watch()

    store.close()

    assert watch.stopped
    assert watch.next(timeout=0) is None


def test_a_consumer_that_falls_too_far_behind_is_told_to_relist(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path, history=10)
    watch = store.watch("v1", "Pod")

    for i in range(10_001):
        store.create(make_pod(f"p{i}"))

    with pytest.raises(GoneError, match="fell 10000 events behind"):
        watch.poll()
    assert watch.stopped
    assert watch.poll() == []


# -- listeners ---------------------------------------------------------------------------------


def test_listeners_see_every_change_in_order(store: Store) -> None:
    seen: list[WatchEvent] = []
    store.add_listener(seen.append)

    a = store.create(make_pod("a"))
    store.delete("v1", "Pod", "a")

    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
    ]
    assert seen[0].resource_version == a["metadata"]["resourceVersion"]


def test_unsubscribed_listener_is_not_called(store: Store) -> None:
    seen: list[WatchEvent] = []
    unsubscribe = store.add_listener(seen.append)

    store.create(make_pod("a"))
    unsubscribe()
    store.create(make_pod("b"))

    assert len(seen) == 1


def test_listener_sees_each_change_of_a_cascade(store: Store) -> None:
    seen: list[str] = []
    store.add_listener(lambda e: seen.append(f"{e.type} {e.object['metadata']['name']}"))
    store.create(make_pod("a", namespace="shop"))

    store.delete("v1", "Namespace", "shop")

    assert seen == ["ADDED a", "MODIFIED shop", "DELETED a", "DELETED shop"]


def test_a_listener_writing_to_the_store_gets_its_events_after_the_current_one(
    store: Store,
) -> None:
    order: list[str] = []

    def react(event: WatchEvent) -> None:
        name = event.object["metadata"]["name"]
        order.append(f"{event.type} {name}")
        if event.type == "ADDED" and name == "a":
            store.create(make_pod("b"))
            order.append("created b")

    store.add_listener(react)
    store.create(make_pod("a"))

    assert order == ["ADDED a", "created b", "ADDED b"]


def test_listeners_run_outside_the_write_lock(store: Store) -> None:
    results: list[bool] = []

    def write_from_another_thread(event: WatchEvent) -> None:
        if event.object["metadata"]["name"] != "a":
            return
        other = threading.Thread(target=lambda: store.create(make_pod("b")))
        other.start()
        other.join(PATIENCE)
        results.append(not other.is_alive())

    store.add_listener(write_from_another_thread)
    store.create(make_pod("a"))

    assert results == [True]
    assert store.get("v1", "Pod", "b")


def test_a_failing_listener_does_not_undo_the_write_or_starve_others(store: Store) -> None:
    seen: list[str] = []

    def broken(event: WatchEvent) -> None:
        raise RuntimeError("listener bug")

    store.add_listener(broken)
    store.add_listener(lambda e: seen.append(e.object["metadata"]["name"]))

    with pytest.raises(RuntimeError, match="listener bug"):
        store.create(make_pod("a"))
    store.get("v1", "Pod", "a")
    assert seen == ["a"]
    with pytest.raises(RuntimeError):
        store.create(make_pod("b"))  # delivery was not left stuck
    assert seen == ["a", "b"]
