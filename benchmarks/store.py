"""Benchmark of the object store, on the memory and SQLite backends.

Run ``.venv/bin/python benchmarks/store.py [--quick]``. For each backend it measures, through
the whole :class:`~shipyard.store.store.Store` (admission included):

- creates/s of 10,000 realistic pods (a container with requests and limits, two labels, an
  ownerReference to one of 100 ReplicaSets), with the built-in scheme (defaulting and
  validation of real Pods) and with a minimal scheme (no admission work: the store's own cost);
  also the same creates with ``handoff=True`` (the store keeps the caller's dict and returns
  the stored object read-only instead of copying in and out: what controllers use);
- updates/s (a label change on each pod, with optimistic concurrency);
- a label-selected list over the 10,000 pods (``app=app-7``: 100 pods), median of several, and
  for comparison an unindexed one (``tier!=db``, a scan);
- watch fan-out: writes while 100 watchers follow the pods, per write and per delivered event;
- memory per 10,000 pods (tracemalloc, memory backend: objects, indexes and history);
- SQLite durable writes/s with ``synchronous=FULL`` (fsync per write) for information.

It prints a table, then one JSON line with every figure, the targets and a pass flag per
target: 10,000 pod creates in under 1 s (memory backend, built-in scheme), a selected list in
under 20 ms, at least 2,000 durable SQLite writes/s (WAL, synchronous=NORMAL: durable against
a killed process).

The process runs with the garbage-collector settings real runs get: it calls the same
:func:`shipyard.platform.runtime.tune_gc` that the cluster builders in
:mod:`shipyard.platform.wiring` call, and reports the settings in its output (``gc``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.core.clock import VirtualClock
from shipyard.core.objects import json_copy
from shipyard.platform.runtime import tune_gc
from shipyard.store.backends import Backend, MemoryBackend, SqliteBackend
from shipyard.store.kinds import builtin_scheme
from shipyard.store.scheme import KindInfo, Scheme
from shipyard.store.store import Store

PODS = 10_000
APPS = 100  # ReplicaSets, each owning PODS / APPS pods
WATCHERS = 100
TARGETS = {
    "memory_create_10k_pods_s": ("<", 1.0),
    "memory_selected_list_ms": ("<", 20.0),
    "sqlite_durable_writes_per_s": (">=", 2000.0),
}

Obj = dict[str, Any]


def minimal_scheme() -> Scheme:
    return Scheme(
        [
            KindInfo("", "v1", "Namespace", "namespaces", False),
            KindInfo("", "v1", "Pod", "pods", True),
            KindInfo("apps", "v1", "ReplicaSet", "replicasets", True),
        ]
    )


def replicaset(i: int) -> Obj:
    labels = {"app": f"app-{i}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"app-{i}-7d9f8", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": PODS // APPS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": f"registry.local/app-{i}:1"}]},
            },
        },
    }


def pod(i: int, owners: list[Obj]) -> Obj:
    owner = owners[i % APPS]
    app = f"app-{i % APPS}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-7d9f8-{i:05d}",
            "namespace": "default",
            "labels": {"app": app, "pod-template-hash": "7d9f8", "tier": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.local/{app}:1",
                    "ports": [{"containerPort": 8080}],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"memory": "512Mi"},
                    },
                }
            ]
        },
    }


def new_store(backend: Backend, scheme: Scheme) -> tuple[Store, list[Obj]]:
    store = Store(backend, scheme, VirtualClock())
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    owners = [store.create(replicaset(i)) for i in range(APPS)]
    return store, owners


def timed(fn: Callable[[], object]) -> float:
    gc.collect()  # start each measurement without garbage left by the previous one
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_creates(store: Store, pods: list[Obj], *, handoff: bool = False) -> float:
    def run() -> None:
        for p in pods:
            store.create(p, handoff=handoff)

    return timed(run)


def bench_updates(store: Store, count: int) -> float:
    current = store.list("v1", "Pod").items[:count]
    for p in current:
        p["metadata"]["labels"]["rollout"] = "2"

    def run() -> None:
        for p in current:
            store.update(p)

    return count / timed(run)


def bench_admission(scheme: Scheme, pods: list[Obj]) -> float:
    """The kind's own defaulting and validation of 10,000 pods, without the store."""
    info = scheme.get("v1", "Pod")
    copies = [json_copy(p) for p in pods]
    for p in copies:
        p["metadata"].update(uid="0b8f8b5e-1111-4a4a-9a9a-123456789abc", generation=1)

    def run() -> None:
        for p in copies:
            info.default(p)
            info.validate(p, None)

    return timed(run)


def bench_list(store: Store, selector: str, runs: int) -> tuple[float, int]:
    found = store.list("v1", "Pod", label_selector=selector)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        store.list("v1", "Pod", label_selector=selector)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, len(found)


def bench_fanout(store: Store, writes: int) -> tuple[float, float]:
    watches = [store.watch("v1", "Pod") for _ in range(WATCHERS)]
    targets = store.list("v1", "Pod").items[:writes]
    start = time.perf_counter()
    for p in targets:
        store.patch("v1", "Pod", p["metadata"]["name"], {"metadata": {"labels": {"fan": "out"}}})
    delivered = sum(len(w.poll()) for w in watches)
    elapsed = time.perf_counter() - start
    for w in watches:
        w.stop()
    assert delivered == writes * WATCHERS, delivered
    return elapsed / writes * 1000, delivered / elapsed


def bench_memory(scheme: Scheme) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store, owners = new_store(MemoryBackend(), scheme)
    for i in range(PODS):
        store.create(pod(i, owners))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    store.close()
    return used / 2**20


def run_backend(make: Callable[[], Backend], quick: bool) -> dict[str, float]:
    runs = 5 if quick else 21
    figures: dict[str, float] = {}
    minimal, owners = new_store(make(), minimal_scheme())
    figures["create_10k_pods_minimal_s"] = bench_creates(
        minimal, [pod(i, owners) for i in range(PODS)]
    )
    minimal.close()
    scheme = builtin_scheme()
    store, owners = new_store(make(), scheme)
    pods = [pod(i, owners) for i in range(PODS)]
    figures["admission_only_10k_pods_s"] = bench_admission(scheme, pods)
    seconds = bench_creates(store, pods)
    figures["create_10k_pods_s"] = seconds
    handoff, handoff_owners = new_store(make(), scheme)
    figures["create_10k_pods_handoff_s"] = bench_creates(
        handoff, [pod(i, handoff_owners) for i in range(PODS)], handoff=True
    )
    handoff.close()
    figures["creates_per_s"] = PODS / seconds
    figures["updates_per_s"] = bench_updates(store, 2_000 if quick else PODS)
    figures["selected_list_ms"], figures["selected_list_items"] = bench_list(
        store, "app=app-7", runs
    )
    figures["scan_list_ms"], figures["scan_list_items"] = bench_list(store, "tier!=db", runs)
    per_write, per_s = bench_fanout(store, 200 if quick else 1_000)
    figures["fanout_ms_per_write_100_watchers"] = per_write
    figures["fanout_events_per_s"] = per_s
    store.close()
    return figures


def sqlite_full_writes(tmp: Path, count: int) -> float:
    store, owners = new_store(SqliteBackend(tmp / "full.db", synchronous="FULL"), builtin_scheme())
    pods = [pod(i, owners) for i in range(count)]
    rate = count / bench_creates(store, pods)
    store.close()
    return rate


def gc_settings() -> dict[str, Any]:
    """Tune the collector as the cluster builders do; what the benchmark then runs with."""
    tune_gc()
    return {
        "tuned_by": "shipyard.platform.runtime.tune_gc",
        "thresholds": list(gc.get_threshold()),
        "frozen_objects": gc.get_freeze_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    quick = parser.parse_args().quick
    gc_info = gc_settings()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        counter = iter(range(1_000_000))

        def sqlite() -> SqliteBackend:
            return SqliteBackend(tmp / f"store-{next(counter)}.db")

        results = {
            "memory": run_backend(MemoryBackend, quick),
            "sqlite": run_backend(sqlite, quick),
        }
        full_writes = sqlite_full_writes(tmp, 200 if quick else 1_000)
        results["sqlite"]["full_sync_writes_per_s"] = full_writes
    results["memory"]["memory_mb_per_10k_pods"] = bench_memory(builtin_scheme())
    figures = {
        "memory_create_10k_pods_s": results["memory"]["create_10k_pods_s"],
        "memory_selected_list_ms": results["memory"]["selected_list_ms"],
        "sqlite_durable_writes_per_s": results["sqlite"]["creates_per_s"],
    }
    passed = {name: _meets(figures[name], *TARGETS[name]) for name in TARGETS}
    print_table(results)
    print(
        f"gc: {gc_info['tuned_by']}: thresholds {tuple(gc_info['thresholds'])}, "
        f"{gc_info['frozen_objects']} objects frozen"
    )
    for name, ok in passed.items():
        op, limit = TARGETS[name]
        print(f"target {name} {op} {limit:g}: {figures[name]:.3f} {'PASS' if ok else 'FAIL'}")
    line = {
        "benchmark": "store",
        "quick": quick,
        "gc": gc_info,
        "results": results,
        "targets": {k: f"{op} {limit:g}" for k, (op, limit) in TARGETS.items()},
        "figures": figures,
        "pass": passed,
        "all_pass": all(passed.values()),
    }
    print(json.dumps(line, sort_keys=True))
    return 0 if all(passed.values()) else 1


def _meets(value: float, op: str, limit: float) -> bool:
    return value < limit if op == "<" else value >= limit


def print_table(results: dict[str, dict[str, float]]) -> None:
    rows = sorted({k for figures in results.values() for k in figures})
    print(f"{'figure':<36} {'memory':>14} {'sqlite':>14}")
    for row in rows:
        cells = [results[b].get(row) for b in ("memory", "sqlite")]
        shown = [f"{c:>14.3f}" if c is not None else f"{'-':>14}" for c in cells]
        print(f"{row:<36} {shown[0]} {shown[1]}")


if __name__ == "__main__":
    sys.exit(main())
