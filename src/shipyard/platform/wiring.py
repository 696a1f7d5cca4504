"""Building an embedded cluster's API machinery: backend, scheme, clock, bootstrap objects.

``open_cluster(data_dir)`` is the live form (SQLite in WAL mode under the data directory,
real clock); ``memory_cluster(clock)`` is the simulation form (memory backend, any clock).
Both start the way a fresh Kubernetes control plane does, with the ``default``,
``kube-system``, ``kube-public`` and ``kube-node-lease`` namespaces, and both tune the
garbage collector for a process holding a cluster (:func:`~shipyard.platform.runtime.tune_gc`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from shipyard.autoscaler.apis import karpenter_kinds, v1beta1_kinds
from shipyard.ci.records import ci_kinds
from shipyard.core.clock import Clock, RealClock
from shipyard.core.errors import AlreadyExistsError
from shipyard.platform.runtime import tune_gc
from shipyard.store.backends import MemoryBackend, SqliteBackend
from shipyard.store.kinds import builtin_scheme
from shipyard.store.scheme import Scheme
from shipyard.store.store import Store

__all__ = [
    "BOOTSTRAP_NAMESPACES",
    "default_data_dir",
    "memory_cluster",
    "open_cluster",
    "platform_scheme",
]

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DATABASE = "cluster.db"


def platform_scheme() -> Scheme:
    """Every kind a Shipyard cluster serves: Kubernetes' built-in kinds and the products'
    (Karpenter's NodePool, NodeClaim and EC2NodeClass; their v1 before the older versions,
    so that ``nodepools`` names v1; the CI engine's WorkflowRun and WorkflowJobLog)."""
    scheme = builtin_scheme()
    for info in (*karpenter_kinds(), *v1beta1_kinds(), *ci_kinds()):
        scheme.add(info)
    return scheme


def default_data_dir() -> Path:
    """``$SHIPYARD_DATA_DIR``, else ``~/.shipyard``."""
    env = os.environ.get("SHIPYARD_DATA_DIR")
    return Path(env) if env else Path.home() / ".shipyard"


def open_cluster(
    data_dir: Path, *, clock: Clock | None = None, scheme: Scheme | None = None
) -> Store:
    """The embedded cluster persisted in ``data_dir`` (created if missing)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    backend = SqliteBackend(data_dir / DATABASE)
    store = Store(backend, scheme or platform_scheme(), clock or RealClock())
    bootstrap(store)
    tune_gc()  # after the database is loaded: its objects are frozen with the rest
    return store


def memory_cluster(clock: Clock, *, scheme: Scheme | None = None) -> Store:
    """An in-memory cluster for simulations and tests."""
    store = Store(MemoryBackend(), scheme or platform_scheme(), clock)
    bootstrap(store)
    tune_gc()
    return store


def bootstrap(store: Store) -> None:
    """Create the namespaces every cluster starts with; idempotent."""
    for name in BOOTSTRAP_NAMESPACES:
        with contextlib.suppress(AlreadyExistsError):
            store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
