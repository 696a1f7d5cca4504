"""What the platform's autoscaled clusters have in common: an embedded cluster plus controllers
on its manager, started, stepped and stopped together.

:class:`ScaledCluster` gives :class:`~shipyard.platform.autoscaling.AutoscaledCluster` and
:class:`~shipyard.platform.baseline.BaselineCluster` one shape (``client``, ``store``,
``start``, ``run_for``, ``stop``), which the simulation runner relies on; each says what it
does on its first start and what it closes when it stops.
"""

from __future__ import annotations

from typing import Self

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.embedded import EmbeddedCluster
from shipyard.store.store import Store

__all__ = ["ScaledCluster"]


class ScaledCluster:
    """An embedded cluster with an autoscaler's controllers on its manager."""

    cluster: EmbeddedCluster
    _started: bool = False  # set on the instance by the first start

    @property
    def client(self) -> EmbeddedClient:
        return self.cluster.client

    @property
    def store(self) -> Store:
        return self.cluster.store

    def start(self) -> Self:
        """Start the control plane (idempotent); the first start runs :meth:`_first_start`."""
        self.cluster.start()
        if not self._started:
            self._started = True
            self._first_start()
        return self

    def run_for(self, seconds: float) -> None:
        """Advance the virtual clock by ``seconds``, running everything that falls due."""
        self.cluster.run_for(seconds)

    def stop(self) -> None:
        self.cluster.stop()
        self._close()

    def _first_start(self) -> None:
        """Anything to queue once the control plane runs (none by default)."""

    def _close(self) -> None:
        """Release what the autoscaler's controllers hold (listeners, timers)."""
