"""The provisioning batch window: gather pending pods for a moment, then plan them together.

Karpenter's documented batching: the first pending pod opens a window; every *new* pending pod
keeps it open, and the window closes once ``idle_seconds`` (1 s) pass without one, or
``max_seconds`` (10 s) after it opened, whichever comes first. Pods that arrive together — a
Deployment scaled up, a Job's parallel pods — are then bin-packed in one plan instead of one
node each.

:class:`Batcher` is plain bookkeeping on the times it is given (the caller reads the
:class:`~shipyard.core.clock.Clock`): ``add`` a pod, ask ``wait`` how long until the window
closes, ``close`` it when the plan runs. A pod seen again while the window is open (another
status update of the same pod) does not extend it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BatchOptions", "Batcher"]


@dataclass(frozen=True)
class BatchOptions:
    """The window's two limits, in seconds (Karpenter's defaults: 1 s idle, 10 s at most)."""

    idle_seconds: float = 1.0
    max_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.idle_seconds < 0 or self.max_seconds < 0:
            raise ValueError(
                f"batch durations must not be negative (idle_seconds={self.idle_seconds}, "
                f"max_seconds={self.max_seconds})"
            )


@dataclass
class Batcher:
    """One batch window (see the module docstring)."""

    options: BatchOptions = field(default_factory=BatchOptions)
    opened_at: float | None = None
    last_added_at: float | None = None
    members: set[str] = field(default_factory=set)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def add(self, pod_uid: str, now: float) -> bool:
        """Count a pending pod at ``now``; True when it opened the window or extended it."""
        if pod_uid in self.members:
            return False
        self.members.add(pod_uid)
        if self.opened_at is None:
            self.opened_at = now
        self.last_added_at = now
        return True

    def closes_at(self) -> float | None:
        """When the window closes (``None`` when none is open)."""
        if self.opened_at is None or self.last_added_at is None:
            return None
        idle = self.last_added_at + self.options.idle_seconds
        return min(idle, self.opened_at + self.options.max_seconds)

    def wait(self, now: float) -> float | None:
        """Seconds until the window closes (0 once it has); ``None`` when none is open."""
        due = self.closes_at()
        return None if due is None else max(0.0, due - now)

    def close(self) -> int:
        """End the window; returns how many pods it gathered."""
        gathered = len(self.members)
        self.opened_at = self.last_added_at = None
        self.members = set()
        return gathered
