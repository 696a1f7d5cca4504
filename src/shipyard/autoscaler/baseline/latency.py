"""How long a node group takes from a scale-up to a Ready node: a documented, seeded model.

With Cluster Autoscaler on Auto Scaling groups, a scale-up only raises the group's desired
capacity; the node is usable after three stages, each commonly observed on EC2:

1. **ASG reaction** (:attr:`LaunchModel.asg_reaction`, default 30 s): the Auto Scaling group
   notices the new desired capacity on its next activity and calls RunInstances.
2. **Boot** (:attr:`LaunchModel.boot`, default 70 s): the instance goes from ``pending`` to
   ``running`` and the OS boots.
3. **Join** (:attr:`LaunchModel.join`, default 50 s): the bootstrap script starts the kubelet,
   the node registers and turns Ready once the CNI is up.

Nominal total: 150 s; each stage is scaled by a seeded ``1 ± jitter`` (default 0.2), so a
node is Ready 120-180 s after the scale-up, the "two to three minutes" usually quoted for
Cluster Autoscaler with ASGs (Karpenter's direct fleet launches take well under a minute in
the same simulation). The reaction is applied by the baseline controller before it asks the
cloud for the instance; boot and join are the :class:`~shipyard.cloud.simulated.SimulatedCloud`
latencies :meth:`LaunchModel.cloud_latency` returns (the cloud jitters them with its own seed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shipyard.cloud.simulated import LaunchLatency

__all__ = ["LaunchModel"]


@dataclass(frozen=True)
class LaunchModel:
    """Seconds per stage of a node group launch (see the module docstring)."""

    asg_reaction: float = 30.0
    boot: float = 70.0
    join: float = 50.0
    jitter: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.asg_reaction, self.boot, self.join) < 0:
            raise ValueError("launch stages must not be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    @property
    def nominal(self) -> float:
        """Seconds from scale-up to Ready without jitter."""
        return self.asg_reaction + self.boot + self.join

    @property
    def bounds(self) -> tuple[float, float]:
        """The shortest and longest scale-up-to-Ready time the jitter allows."""
        return self.nominal * (1 - self.jitter), self.nominal * (1 + self.jitter)

    def reaction_delay(self, group: str, launch: int) -> float:
        """The ASG reaction for the ``launch``-th instance of ``group`` (seeded, stable)."""
        if not self.jitter:
            return self.asg_reaction
        digest = hashlib.blake2b(f"{self.seed}|{group}|{launch}".encode(), digest_size=8)
        unit = int.from_bytes(digest.digest(), "big") / 2**64
        return self.asg_reaction * (1 + self.jitter * (2 * unit - 1))

    def cloud_latency(self) -> LaunchLatency:
        """The SimulatedCloud latencies for the boot and join stages."""
        return LaunchLatency(running=self.boot, ready=self.join, jitter=self.jitter)
