"""Kill a process mid-write-storm: every acknowledged write must survive, history intact.

A subprocess (``tests/store/sqlite_storm.py``) writes to a SQLite-backed store and prints each
acknowledged write; the test SIGKILLs it part-way, reopens the database and checks what the
store promises for ``synchronous=NORMAL`` in WAL mode: durability against a killed process.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from shipyard.core.clock import VirtualClock
from shipyard.store.backends import SqliteBackend
from shipyard.store.store import Store
from tests.store.store_helpers import make_pod, make_scheme, rv

REPO = Path(__file__).resolve().parents[2]
KILL_AFTER = 1500  # acknowledged writes before the kill


def run_storm_and_kill(db: Path) -> list[tuple[str, int]]:
    """Start the storm, SIGKILL it after KILL_AFTER acknowledgements, return every ack."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.sqlite_storm", str(db)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: list[tuple[str, int]] = []
    for line in proc.stdout:
        name, version = line.split()
        acked.append((name, int(version)))
        if len(acked) == KILL_AFTER:
            proc.send_signal(signal.SIGKILL)
            break
    acked += [(n, int(v)) for n, v in (line.split() for line in proc.stdout)]
    proc.stdout.close()
    assert proc.wait() == -signal.SIGKILL
    return acked


def event_versions(db: Path) -> list[int]:
    with sqlite3.connect(db) as raw:
        return [v for (v,) in raw.execute("SELECT rv FROM events ORDER BY rv")]


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "store.db"

    acked = run_storm_and_kill(db)
    store = Store(SqliteBackend(db), make_scheme(), VirtualClock())

    assert len(acked) >= KILL_AFTER
    for name, version in acked:
        assert rv(store.get("v1", "Pod", name)) >= version, name
    versions = event_versions(db)
    last_acked = max(v for _, v in acked)
    assert versions == list(range(versions[0], versions[-1] + 1)), "gaps in the history"
    assert last_acked <= versions[-1] <= last_acked + 1  # at most the one write in flight
    assert int(store.resource_version) == versions[-1]

    created = store.create(make_pod("after-the-crash"))
    assert rv(created) == versions[-1] + 1

    mark = acked[len(acked) // 2][1]
    replayed = store.watch("v1", "Pod", resource_version=str(mark)).poll()
    assert [int(e.resource_version) for e in replayed] == list(range(mark + 1, rv(created) + 1))
    acked_after_mark = {(n, v) for n, v in acked if v > mark}
    replayed_pairs = {(e.object["metadata"]["name"], int(e.resource_version)) for e in replayed}
    assert acked_after_mark <= replayed_pairs
