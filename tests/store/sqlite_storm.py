"""A write storm against a SQLite-backed store, for the crash test (run as a subprocess).

``python -m tests.store.sqlite_storm DB`` creates pods and updates earlier ones forever,
printing ``<name> <resourceVersion>`` for each write the store has acknowledged (flushed at
once), until it is killed.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import AlreadyExistsError
from shipyard.store.backends import SqliteBackend
from shipyard.store.store import Store
from tests.store.store_helpers import make_namespace, make_pod, make_scheme


def acknowledge(obj: dict[str, object]) -> None:
    md = obj["metadata"]
    assert isinstance(md, dict)
    sys.stdout.write(f"{md['name']} {md['resourceVersion']}\n")
    sys.stdout.flush()


def storm(db: Path) -> None:
    store = Store(SqliteBackend(db), make_scheme(), VirtualClock())
    with contextlib.suppress(AlreadyExistsError):  # a rerun on an existing database
        store.create(make_namespace("default"))
    i = 0
    while True:
        acknowledge(store.create(make_pod(f"p{i}", labels={"round": str(i)})))
        if i % 3 == 2:
            target = f"p{i // 2}"
            patch = {"metadata": {"labels": {"touched": str(i)}}}
            acknowledge(store.patch("v1", "Pod", target, patch))
        i += 1


if __name__ == "__main__":
    storm(Path(sys.argv[1]))
