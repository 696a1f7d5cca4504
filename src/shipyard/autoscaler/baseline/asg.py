"""A node group's instances, kept at its desired capacity the way an EC2 Auto Scaling group is.

Cluster Autoscaler never launches machines itself: it sets a group's desired capacity, and the
Auto Scaling group converges. :class:`AutoScalingGroup` models that part:

- :meth:`~AutoScalingGroup.converge` launches one instance per missing unit of capacity (each
  after the :class:`~shipyard.autoscaler.baseline.latency.LaunchModel`'s seeded ASG reaction),
  through the cloud's ``create`` with a :class:`~shipyard.cloud.provider.LaunchRequest` of the
  group's single instance type and capacity type. Like an ASG it balances zones: the zone with
  the fewest of the group's instances first, the next zone when one is out of capacity.
- An instance that dies outside the autoscaler (a spot reclaim, a termination from the
  console) leaves the group below its desired capacity; the next ``converge`` replaces it.
- :meth:`~AutoScalingGroup.terminate` is ``TerminateInstanceInAutoScalingGroup`` with
  ``ShouldDecrementDesiredCapacity``: the instance goes and the desired capacity drops by one.
- A launch that fails in every zone gives the unit of capacity up (the desired capacity drops
  by one) and puts the group in back-off for ``backoff`` seconds, during which scale-up
  skips it — Cluster Autoscaler's node group back-off after a failed scale-up (it notices
  after ``max-node-provision-time``; the simulated cloud reports capacity errors at once).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.cloud.provider import (
    CloudProvider,
    CreateError,
    Instance,
    InstanceType,
    LaunchRequest,
)
from shipyard.core.clock import Clock, TimerHandle
from shipyard.core.errors import FieldError, InvalidError, NotFoundError
from shipyard.core.labels import CAPACITY_TYPE, INSTANCE_TYPE, ZONE
from shipyard.core.requirements import IN, Requirement, Requirements

from .groups import ASG_TAG, GROUP_LABEL, NodeGroup
from .latency import LaunchModel

__all__ = ["AutoScalingGroup", "LaunchFailure", "resolve_groups"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchFailure:
    """A launch the cloud refused in every zone."""

    time: float
    group: str
    message: str


@dataclass
class AutoScalingGroup:
    """One node group's desired capacity and live instances (see the module docstring)."""

    spec: NodeGroup
    instance_type: InstanceType
    zones: tuple[str, ...]
    cloud: CloudProvider
    clock: Clock
    model: LaunchModel = field(default_factory=LaunchModel)
    backoff: float = 300.0
    desired: int = 0
    instances: dict[str, Instance] = field(default_factory=dict)  # provider id -> instance
    backoff_until: float = float("-inf")
    failures: list[LaunchFailure] = field(default_factory=list)
    launched: int = 0
    _waiting: list[TimerHandle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.desired = max(self.desired, self.spec.min_size)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def waiting(self) -> int:
        """Launches waiting for the ASG's reaction."""
        return len(self._waiting)

    def in_backoff(self) -> bool:
        return self.clock.now() < self.backoff_until

    def refresh(self, alive: set[str]) -> list[Instance]:
        """Forget instances the cloud no longer runs; the lost ones."""
        lost = [i for pid, i in self.instances.items() if pid not in alive]
        for instance in lost:
            del self.instances[instance.provider_id]
        return lost

    def converge(self) -> None:
        """Launch what is missing to reach the desired capacity (after the ASG reaction)."""
        missing = self.desired - len(self.instances) - len(self._waiting)
        while missing < 0 and self._waiting:
            self._waiting.pop().cancel()
            missing += 1
        for _ in range(max(0, missing)):
            self._schedule_launch()

    def terminate(self, provider_id: str) -> None:
        """Terminate one instance and lower the desired capacity by one."""
        self.instances.pop(provider_id, None)
        self.desired = max(0, self.desired - 1)
        with contextlib.suppress(NotFoundError):
            self.cloud.delete(provider_id)

    def close(self) -> None:
        for handle in self._waiting:
            handle.cancel()
        self._waiting.clear()

    # -- launching --------------------------------------------------------------------------

    def _schedule_launch(self) -> None:
        self.launched += 1
        delay = self.model.reaction_delay(self.name, self.launched)
        number = self.launched
        holder: list[TimerHandle] = []

        def fire() -> None:
            if holder and holder[0] in self._waiting:
                self._waiting.remove(holder[0])
            self._launch(number)

        handle = self.clock.call_later(delay, fire)
        holder.append(handle)
        self._waiting.append(handle)

    def _zone_order(self) -> list[str]:
        counts = {z: 0 for z in self.zones}
        for instance in self.instances.values():
            if instance.zone in counts:
                counts[instance.zone] += 1
        return sorted(self.zones, key=lambda z: (counts[z], self.zones.index(z)))

    def _launch(self, number: int) -> None:
        errors: list[str] = []
        for zone in self._zone_order():
            try:
                instance = self.cloud.create(self._request(zone, number))
            except CreateError as e:
                errors.append(f"{zone}: {e.message}")
                continue
            self.instances[instance.provider_id] = instance
            return
        self.desired = max(self.spec.min_size, self.desired - 1)
        self.backoff_until = self.clock.now() + self.backoff
        message = "; ".join(errors)
        self.failures.append(LaunchFailure(self.clock.now(), self.name, message))
        log.info("node group %s: launch failed in every zone: %s", self.name, message)

    def _request(self, zone: str, number: int) -> LaunchRequest:
        requirements = Requirements(
            [
                Requirement.create(INSTANCE_TYPE, IN, [self.instance_type.name]),
                Requirement.create(ZONE, IN, [zone]),
                Requirement.create(CAPACITY_TYPE, IN, [self.spec.capacity_type]),
            ]
        )
        return LaunchRequest(
            claim_name=f"{self.name}-{number}",
            nodepool="",
            instance_types=[self.instance_type],
            requirements=requirements,
            labels={**self.spec.labels, GROUP_LABEL: self.name},
            taints=tuple(self.spec.taints),
            tags={ASG_TAG: self.name},
        )


def resolve_groups(
    groups: Sequence[NodeGroup],
    cloud: CloudProvider,
    clock: Clock,
    *,
    model: LaunchModel,
    backoff: float = 300.0,
    path: str = "nodeGroups",
) -> dict[str, AutoScalingGroup]:
    """Each group with its instance type and zones from the cloud; ``InvalidError`` naming the
    field of an unknown type, a zone without an offering, or a duplicate name."""
    offered: Mapping[str, InstanceType] = {t.name: t for t in cloud.instance_types({}, None)}
    problems: list[FieldError] = []
    out: dict[str, AutoScalingGroup] = {}
    for i, group in enumerate(groups):
        at = f"{path}[{i}]"
        itype = offered.get(group.instance_type)
        if itype is None:
            problems.append(
                FieldError(f"{at}.instanceType", f'unknown instance type "{group.instance_type}"')
            )
            continue
        zones = _zones(group, itype)
        if not zones:
            problems.append(
                FieldError(
                    f"{at}.zones",
                    f"{group.instance_type} has no {group.capacity_type} offering in "
                    f"[{', '.join(group.zones)}]",
                )
            )
            continue
        if group.name in out:
            problems.append(FieldError(f"{at}.name", f'duplicate node group "{group.name}"'))
            continue
        out[group.name] = AutoScalingGroup(
            group, itype, zones, cloud, clock, model=model, backoff=backoff
        )
    if problems:
        raise InvalidError("node groups", problems)
    return out


def _zones(group: NodeGroup, instance_type: InstanceType) -> tuple[str, ...]:
    offered = sorted(
        {o.zone for o in instance_type.offerings if o.capacity_type == group.capacity_type}
    )
    if not group.zones:
        return tuple(offered)
    return tuple(z for z in group.zones if z in offered)
