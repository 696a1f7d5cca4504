"""Many writer threads: resourceVersions stay unique, and every watch sees them in order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shipyard.core.errors import ConflictError
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent
from tests.store.store_helpers import BACKENDS, make_pod, make_store

WRITERS = 8
WRITES = 60
PATIENCE = 60.0


def write_storm(store: Store, writer: int) -> None:
    for i in range(WRITES):
        store.create(make_pod(f"w{writer}-{i}"))
        if i % 2:
            store.patch("v1", "Pod", f"w{writer}-{i // 2}", {"metadata": {"labels": {"i": str(i)}}})


def run_writers(store: Store) -> None:
    threads = [threading.Thread(target=write_storm, args=(store, w)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_writers_get_unique_ordered_versions(backend: str, tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    start = int(store.resource_version)
    watch = store.watch("v1", "Pod")
    heard: list[WatchEvent] = []
    store.add_listener(heard.append)

    run_writers(store)

    expected = WRITERS * (WRITES + WRITES // 2)
    seen = [int(e.resource_version) for e in watch.poll()]
    assert seen == list(range(start + 1, start + expected + 1))
    assert [int(e.resource_version) for e in heard] == seen  # listeners too, in order
    assert len(store.list("v1", "Pod")) == WRITERS * WRITES
    store.close()


def test_concurrent_read_modify_write_loses_no_update(tmp_path: Path) -> None:
    store = make_store("memory", tmp_path)
    store.create(make_pod("counter", metadata={"annotations": {"n": "0"}}))

    def increment(times: int) -> None:
        done = 0
        while done < times:
            pod = store.get("v1", "Pod", "counter")
            pod["metadata"]["annotations"]["n"] = str(int(pod["metadata"]["annotations"]["n"]) + 1)
            try:
                store.update(pod)
            except ConflictError:
                continue  # somebody else won: re-read and retry, as controllers do
            done += 1

    threads = [threading.Thread(target=increment, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE)

    assert store.get("v1", "Pod", "counter")["metadata"]["annotations"]["n"] == "200"
