"""FakeCloud: a CloudProvider for tests that records every call and fails on request.

It chooses offerings exactly as :class:`~shipyard.cloud.simulated.SimulatedCloud` does (the
shared :func:`~shipyard.cloud.selection.select_offering`), but without latency, capacity or
billing: an instance is ``running`` as soon as ``create`` returns and ``terminated`` as soon as
``delete`` does.

What a test controls:

- :attr:`FakeCloud.calls` — every call as a :class:`Call` (method name and arguments), in order;
- :meth:`FakeCloud.fail_next` — queue an exception for the next call of a method
  (``fail_next("create", CreateError("quota"))``; several queue in order);
- :meth:`FakeCloud.insufficient_capacity` — offerings that raise
  :class:`~shipyard.cloud.provider.InsufficientCapacityError` when chosen, the way the
  simulated cloud's exhausted pools do (``zone`` / ``capacity_type`` ``None`` match all);
- :meth:`FakeCloud.set_drift` and :meth:`FakeCloud.push_interruption` — what ``is_drifted``
  and ``interruptions`` report.

Instance ids are deterministic: ``i-`` followed by the launch number as 17 hex digits.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shipyard.cloud.catalog import Catalog
from shipyard.cloud.provider import (
    Instance,
    InstanceType,
    Interruption,
    LaunchRequest,
    Offering,
)
from shipyard.cloud.selection import instance_arch, launch_labels, select_offering
from shipyard.core.clock import Clock
from shipyard.core.errors import NotFoundError

__all__ = ["Call", "FakeCloud"]


@dataclass(frozen=True)
class Call:
    """One recorded call: the method and its arguments by name."""

    method: str
    args: Mapping[str, Any]


class FakeCloud:
    """A recording, scriptable CloudProvider; see the module docstring."""

    name = "fake"

    def __init__(
        self,
        instance_types: Sequence[InstanceType] | Catalog,
        clock: Clock,
        *,
        region: str = "us-east-1",
    ) -> None:
        self._catalog: Catalog | None = None
        self._types: list[InstanceType] = []
        if isinstance(instance_types, Catalog):
            self._catalog = instance_types
        else:
            self._types = list(instance_types)
        self.clock = clock
        self.region = region
        self.calls: list[Call] = []
        self._errors: dict[str, list[BaseException]] = {}
        self._ice: set[tuple[str, str | None, str | None]] = set()
        self._instances: dict[str, Instance] = {}
        self._drift: dict[str, str] = {}
        self._messages: list[Interruption] = []
        self._launched = 0

    # --- scripting -------------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException) -> None:
        """The next call of ``method`` raises ``error`` (after being recorded)."""
        self._errors.setdefault(method, []).append(error)

    def insufficient_capacity(
        self, instance_type: str, zone: str | None = None, capacity_type: str | None = None
    ) -> None:
        """Launches that choose a matching offering raise InsufficientCapacityError."""
        self._ice.add((instance_type, zone, capacity_type))

    def clear_insufficient_capacity(self) -> None:
        self._ice.clear()

    def set_drift(self, provider_id: str, reason: str) -> None:
        self._drift[provider_id] = reason

    def push_interruption(self, message: Interruption) -> None:
        self._messages.append(message)

    def calls_of(self, method: str) -> builtins.list[Call]:
        return [c for c in self.calls if c.method == method]

    # --- CloudProvider ---------------------------------------------------------------------

    def instance_types(
        self, nodepool: Mapping[str, object], node_class: Mapping[str, object] | None = None
    ) -> builtins.list[InstanceType]:
        self._record("instance_types", nodepool=nodepool, node_class=node_class)
        if self._catalog is not None:
            return self._catalog.instance_types(node_class)
        return list(self._types)

    def create(self, request: LaunchRequest) -> Instance:
        """Choose like SimulatedCloud; InsufficientCapacityError when every offering of the
        chosen capacity type is marked insufficient (see ``insufficient_capacity``)."""
        self._record("create", request=request)
        selection = select_offering(
            request.instance_types, request.requirements, has_capacity=self._has_capacity
        )
        instance_type, offering = selection.instance_type, selection.offering
        self._launched += 1
        instance_id = f"i-{self._launched:017x}"
        instance = Instance(
            provider_id=f"aws:///{offering.zone}/{instance_id}",
            instance_id=instance_id,
            instance_type=instance_type.name,
            zone=offering.zone,
            capacity_type=offering.capacity_type,
            price=offering.price,
            state="running",
            launch_time=self.clock.now(),
            capacity=dict(instance_type.capacity),
            allocatable=dict(instance_type.allocatable),
            labels=launch_labels(request.labels, instance_type, offering, self.region),
            taints=tuple(dict(t) for t in request.taints),
            tags=dict(request.tags),
            claim_name=request.claim_name,
            reservation_id=offering.reservation_id,
            arch=instance_arch(instance_type),
        )
        self._instances[instance_id] = instance
        return instance

    def delete(self, provider_id: str) -> None:
        self._record("delete", provider_id=provider_id)
        instance = self._live(provider_id)
        self._instances[instance.instance_id] = replace(instance, state="terminated")

    def get(self, provider_id: str) -> Instance:
        self._record("get", provider_id=provider_id)
        return self._live(provider_id)

    def list(self) -> builtins.list[Instance]:
        self._record("list")
        return [i for i in self._instances.values() if i.state != "terminated"]

    def is_drifted(self, instance: Instance, node_class: Mapping[str, object] | None) -> str:
        self._record("is_drifted", instance=instance, node_class=node_class)
        return self._drift.get(instance.provider_id, "")

    def interruptions(self) -> builtins.list[Interruption]:
        self._record("interruptions")
        messages, self._messages = self._messages, []
        return messages

    # --- internals -------------------------------------------------------------------------

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(Call(method, args))
        queued = self._errors.get(method)
        if queued:
            raise queued.pop(0)

    def _has_capacity(self, instance_type: InstanceType, offering: Offering) -> bool:
        name, zone, capacity_type = instance_type.name, offering.zone, offering.capacity_type
        return not any(
            (name, z, c) in self._ice for z in (zone, None) for c in (capacity_type, None)
        )

    def _live(self, provider_id: str) -> Instance:
        instance = self._instances.get(provider_id.rsplit("/", 1)[-1])
        if instance is None or instance.state == "terminated":
            raise NotFoundError(f'instance "{provider_id}" not found')
        return instance
