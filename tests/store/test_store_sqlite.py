"""The SQLite backend: everything survives a reopen — objects, indexes, history, the counter."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import BadRequestError, GoneError, TemporaryError
from shipyard.store.backends import MemoryBackend, SqliteBackend
from shipyard.store.store import Store
from tests.store.store_helpers import (
    event_summary,
    exists,
    make_deployment,
    make_namespace,
    make_pod,
    make_replicaset,
    make_scheme,
    names,
    owned,
    rv,
)


def open_store(path: Path, *, history: int = 100_000, synchronous: str = "NORMAL") -> Store:
    backend = SqliteBackend(path, synchronous=synchronous)  # type: ignore[arg-type]
    return Store(backend, make_scheme(), VirtualClock(), history=history)


def test_objects_survive_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db)
    store.create(make_namespace("default"))
    pod = store.create(make_pod("web-1"))
    store.close()

    reopened = open_store(db)

    assert reopened.get("v1", "Pod", "web-1") == pod
    assert reopened.resource_version == pod["metadata"]["resourceVersion"]


def test_the_counter_continues_after_a_reopen_even_after_a_delete(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db)
    store.create(make_namespace("default"))
    store.create(make_pod("web-1"))
    last = rv(store.delete("v1", "Pod", "web-1"))
    store.close()

    reopened = open_store(db)
    created = reopened.create(make_pod("web-2"))

    assert rv(created) == last + 1


def test_uids_stay_unique_across_reopens(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    uids = set()
    for round_ in range(3):
        store = open_store(db)
        if round_ == 0:
            store.create(make_namespace("default"))
        uids |= {store.create(make_pod(f"p{round_}-{i}"))["metadata"]["uid"] for i in range(5)}
        store.close()

    assert len(uids) == 15


def test_a_watch_resumes_across_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db)
    store.create(make_namespace("default"))
    mark = store.create(make_pod("a"))["metadata"]["resourceVersion"]
    store.create(make_pod("b"))
    store.patch("v1", "Pod", "a", {"metadata": {"labels": {"v": "2"}}})
    store.delete("v1", "Pod", "b")
    store.close()

    reopened = open_store(db)
    watch = reopened.watch("v1", "Pod", resource_version=mark)

    assert event_summary(watch.poll()) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


def test_selector_transitions_replay_across_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db)
    store.create(make_namespace("default"))
    store.create(make_pod("a", labels={"app": "web"}))
    mark = store.resource_version
    store.patch("v1", "Pod", "a", {"metadata": {"labels": {"app": "api"}}})
    store.close()

    watch = open_store(db).watch("v1", "Pod", resource_version=mark, label_selector="app=web")

    assert [e.type for e in watch.poll()] == ["DELETED"]


def test_history_is_pruned_to_its_size_on_disk(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db, history=50)
    store.create(make_namespace("default"))
    for i in range(1100):
        store.create(make_pod(f"p{i}"))
    store.close()

    with sqlite3.connect(db) as raw:
        (kept,) = raw.execute("SELECT COUNT(*) FROM events").fetchone()
    reopened = open_store(db, history=50)

    assert kept < 1100
    with pytest.raises(GoneError, match="too old resource version: 10 "):
        reopened.watch("v1", "Pod", resource_version="10")
    tail = reopened.watch("v1", "Pod", resource_version=str(1101 - 50))
    assert len(tail.poll()) == 50


def test_label_and_owner_indexes_are_rebuilt_on_open(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db)
    store.create(make_namespace("default"))
    deploy = store.create(make_deployment("web"))
    rs = store.create(owned(make_replicaset("web-abc"), deploy))
    store.create(owned(make_pod("web-abc-1", labels={"app": "web"}), rs))
    store.create(make_pod("other", labels={"app": "db"}))
    store.close()

    reopened = open_store(db)

    assert names(reopened.list("v1", "Pod", label_selector="app=web")) == ["web-abc-1"]
    reopened.delete("apps/v1", "Deployment", "web")
    assert names(reopened.list("v1", "Pod")) == ["other"]
    assert not exists(reopened, rs)


def test_full_synchronous_mode_works_the_same(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = open_store(db, synchronous="FULL")
    store.create(make_namespace("default"))
    store.create(make_pod("web-1"))
    store.close()

    with sqlite3.connect(db) as raw:
        (mode,) = raw.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    assert open_store(db).get("v1", "Pod", "web-1")


def test_an_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        SqliteBackend(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


def test_a_non_json_object_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db")
    store.create(make_namespace("default"))
    before = store.resource_version

    with pytest.raises(BadRequestError, match="not JSON"):
        store.create(make_pod("web-1", spec={"weird": {1, 2}}))

    assert store.resource_version == before
    assert store.list("v1", "Pod").items == []


def test_an_unopenable_database_is_a_temporary_error(tmp_path: Path) -> None:
    with pytest.raises(TemporaryError, match="cannot open store database"):
        SqliteBackend(tmp_path / "missing-dir" / "store.db")


def test_memory_and_sqlite_give_identical_results(tmp_path: Path) -> None:
    def run(store: Store) -> list[object]:
        store.create(make_namespace("default"))
        rs = store.create(make_replicaset("rs"))
        for i in range(5):
            store.create(owned(make_pod(f"p{i}", labels={"i": str(i % 2)}), rs))
        store.patch("v1", "Pod", "p1", {"status": {"phase": "Running"}}, subresource="status")
        store.delete("apps/v1", "ReplicaSet", "rs", propagation_policy="Orphan")
        store.delete("v1", "Pod", "p2")
        return [
            store.resource_version,
            store.list("v1", "Pod").items,
            store.list("v1", "Pod", label_selector="i=1").items,
            [(e.type, e.object) for e in store.watch(resource_version="0").poll()],
        ]

    memory = run(Store(MemoryBackend(), make_scheme(), VirtualClock()))
    sqlite = run(open_store(tmp_path / "store.db"))

    assert memory == sqlite
