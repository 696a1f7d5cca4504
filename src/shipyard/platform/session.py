"""A command-line session on the persisted embedded cluster, in virtual time.

Until live mode runs the control plane as a service, the cluster in ``--data-dir`` is a
simulation that moves only when asked: every command opens the SQLite store with a
:class:`VirtualClock` set to the cluster's saved time (``clock.json`` beside the database),
and ``run_for`` starts every control-plane component — the scheduler, controllers and
simulated kubelets, and the node autoscaler on a simulated cloud
(:class:`~shipyard.platform.autoscaling.AutoscaledCluster`) — advances the clock, stops them
and saves the new time. So ``apply`` then ``run-for 2m`` then ``get pods`` shows what two
minutes of a real cluster would have done, nodes launched for pending pods included.

The simulated cloud is saved too, in ``cloud.json`` (:mod:`shipyard.cloud.state`): its
instances, their billing and their pending steps (a node about to turn Ready, a shutdown under
way). Without it the next session's cloud would be empty and the NodeClaim garbage collector
would delete every claim as its instance gone. The file is read when a session first needs
the cloud (``run_for``, or :attr:`ClusterSession.cloud`), so ``get`` and ``describe`` work
even when it is damaged, and written only by a session that read it: a file that cannot be
read fails ``run_for`` with a message naming it and is never overwritten. A data directory
without ``cloud.json`` starts with an empty cloud.

Within one session each ``run_for`` builds the control plane anew (``rollout status`` calls it
in steps); the cloud is handed from one to the next
(:meth:`~shipyard.cloud.simulated.SimulatedCloud.suspend`) on the same catalog, so the
instance types are sized once per command. Each new control plane learns which Node belongs to
which instance from the Nodes' ``spec.providerID``.

The simulated container runtime keeps its state in memory; a pod found running when a
session starts is taken over by its node's kubelet as the runtime reports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cloud.state import load_cloud, save_cloud
from shipyard.core.clock import DEFAULT_EPOCH, VirtualClock
from shipyard.platform.autoscaling import AutoscaledCluster
from shipyard.platform.wiring import open_cluster
from shipyard.store.store import Store
from shipyard.store.watch import WatchEvent

__all__ = ["CLOCK_FILE", "CLOUD_FILE", "ClusterSession"]

CLOCK_FILE = "clock.json"
CLOUD_FILE = "cloud.json"


class ClusterSession:
    """The persisted cluster, its virtual clock and its simulated cloud, for one command."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self.clock = VirtualClock(start=_load_time(data_dir))
        self.store: Store = open_cluster(data_dir, clock=self.clock)
        self._cloud: SimulatedCloud | None = None

    @property
    def cloud(self) -> SimulatedCloud:
        """The simulated cloud as ``cloud.json`` left it (read on first use).

        Raises :class:`~shipyard.cloud.state.CloudStateError` naming the file when it cannot
        be read.
        """
        if self._cloud is None:
            cloud = SimulatedCloud(self.clock)
            load_cloud(cloud, self._data_dir / CLOUD_FILE)
            self._cloud = cloud
        return self._cloud

    def run_for(
        self, seconds: float, *, on_event: Callable[[WatchEvent], None] | None = None
    ) -> None:
        """Run the whole control plane, autoscaler included, for ``seconds`` of virtual time."""
        auto = AutoscaledCluster(self.store, cloud=self._fresh_cloud())
        _adopt_nodes(auto)
        unsubscribe = self.store.add_listener(on_event) if on_event else None
        try:
            auto.start()
            auto.run_for(seconds)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            auto.stop()
            self.save()

    def save(self) -> None:
        """Write the time, and the cloud if this session read it."""
        path = self._data_dir / CLOCK_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"now": self.clock.now()}))
        tmp.replace(path)
        if self._cloud is not None:
            save_cloud(self._cloud, self._data_dir / CLOUD_FILE)

    def close(self) -> None:
        self.save()
        self.store.close()

    def _fresh_cloud(self) -> SimulatedCloud:
        """The cloud for a new control plane: no subscribers yet, the state carried over."""
        if self._cloud is None:
            return self.cloud
        previous = self._cloud
        successor = SimulatedCloud(
            self.clock, catalog=previous.catalog, account=previous.account, seed=previous.seed
        )
        successor.import_state(previous.suspend())
        self._cloud = successor
        return successor


def _adopt_nodes(auto: AutoscaledCluster) -> None:
    """Tell the node join which Node each instance registered (an earlier session did)."""
    instances = {i.provider_id for i in auto.cloud.list()}
    for node in auto.store.list("v1", "Node", copy=False).items:
        provider_id = (node.get("spec") or {}).get("providerID")
        if provider_id in instances:
            auto.join.nodes[str(provider_id)] = str(node["metadata"]["name"])


def _load_time(data_dir: Path) -> float:
    try:
        return float(json.loads((data_dir / CLOCK_FILE).read_text())["now"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_EPOCH
