"""A command-line session on the persisted embedded cluster, in virtual time.

Until live mode runs the control plane as a service, the cluster in ``--data-dir`` is a
simulation that moves only when asked: every command opens the SQLite store with a
:class:`VirtualClock` set to the cluster's saved time (``clock.json`` beside the database),
and ``run_for`` starts every control-plane component (scheduler, controllers, simulated
kubelets), advances the clock, stops them and saves the new time. So ``apply`` then
``run-for 2m`` then ``get pods`` shows what two minutes of a real cluster would have done.

The simulated container runtime keeps its state in memory; a pod found running when a
session starts is taken over by its node's kubelet as the runtime reports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.core.clock import DEFAULT_EPOCH, VirtualClock
from shipyard.platform.wiring import open_cluster
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent

__all__ = ["ClusterSession"]

CLOCK_FILE = "clock.json"


class ClusterSession:
    """The persisted cluster and its virtual clock, for one command."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self.clock = VirtualClock(start=_load_time(data_dir))
        self.store: Store = open_cluster(data_dir, clock=self.clock)

    def run_for(
        self, seconds: float, *, on_event: Callable[[WatchEvent], None] | None = None
    ) -> None:
        """Run the whole control plane for ``seconds`` of virtual time."""
        cluster = EmbeddedCluster(self.store).start()
        unsubscribe = self.store.add_listener(on_event) if on_event else None
        try:
            cluster.run_for(seconds)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            cluster.stop()
            self.save()

    def save(self) -> None:
        path = self._data_dir / CLOCK_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"now": self.clock.now()}))
        tmp.replace(path)

    def close(self) -> None:
        self.save()
        self.store.close()


def _load_time(data_dir: Path) -> float:
    try:
        return float(json.loads((data_dir / CLOCK_FILE).read_text())["now"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_EPOCH
