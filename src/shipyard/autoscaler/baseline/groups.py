"""Node groups: the Auto Scaling groups a Cluster Autoscaler baseline scales.

A :class:`NodeGroup` is one instance type with a minimum and maximum size, a capacity type
(``on-demand`` or ``spot``) and the zones it may launch in (empty: every zone of the cloud),
plus the labels and taints its nodes register with. Every node of a group carries the label
:data:`GROUP_LABEL` and every instance the tag :data:`ASG_TAG`, as EC2 tags the members of an
Auto Scaling group.

:func:`node_groups_from_list` reads groups from plain data (a scenario file) with every
problem reported at its field path (``nodeGroups[1].maxSize``); the same checks run when a
:class:`NodeGroup` is built directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.labels import CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_SPOT
from shipyard.core.taints import validate_taints

__all__ = ["ASG_TAG", "GROUP_LABEL", "NodeGroup", "node_groups_from_list"]

GROUP_LABEL = "shipyard.dev/node-group"
ASG_TAG = "aws:autoscaling:groupName"
CAPACITY_TYPES = (CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_SPOT)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
_KEYS = {
    "name": "name",
    "instanceType": "instance_type",
    "minSize": "min_size",
    "maxSize": "max_size",
    "capacityType": "capacity_type",
    "zones": "zones",
    "labels": "labels",
    "taints": "taints",
}


@dataclass(frozen=True)
class NodeGroup:
    """One Auto Scaling group: a single instance type between ``min_size`` and ``max_size``."""

    name: str
    instance_type: str
    min_size: int = 0
    max_size: int = 10
    capacity_type: str = CAPACITY_TYPE_ON_DEMAND
    zones: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidError(f'NodeGroup "{self.name}"', problems)

    def problems(self, path: str = "") -> list[FieldError]:
        """Everything wrong with the group, each at its field path under ``path``."""
        at = (lambda f: f"{path}.{f}") if path else (lambda f: f)
        out: list[FieldError] = []
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            out.append(FieldError(at("name"), "must be a DNS label such as 'general-purpose'"))
        if not isinstance(self.instance_type, str) or not self.instance_type:
            out.append(FieldError(at("instanceType"), "is required, e.g. 't3.xlarge'"))
        out.extend(_size_problems(self.min_size, self.max_size, at))
        if self.capacity_type not in CAPACITY_TYPES:
            out.append(
                FieldError(at("capacityType"), f"must be one of {', '.join(CAPACITY_TYPES)}")
            )
        if isinstance(self.zones, str) or not all(isinstance(z, str) and z for z in self.zones):
            out.append(FieldError(at("zones"), "must be a list of zone names"))
        out.extend(validate_taints(list(self.taints), at("taints")))
        return out


def _size_problems(min_size: Any, max_size: Any, at: Any) -> list[FieldError]:
    out: list[FieldError] = []
    for key, value in (("minSize", min_size), ("maxSize", max_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            out.append(FieldError(at(key), f"must be a non-negative integer, got {value!r}"))
    if not out and min_size > max_size:
        out.append(FieldError(at("minSize"), f"must not exceed maxSize ({min_size} > {max_size})"))
    return out


def node_groups_from_list(items: Any, *, path: str = "nodeGroups") -> list[NodeGroup]:
    """Node groups from plain data (``[{name, instanceType, minSize, maxSize, ...}]``);
    ``InvalidError`` naming every problem with its field path, duplicate names included."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InvalidError("node groups", [FieldError(path, "must be a list of node groups")])
    problems: list[FieldError] = []
    groups: list[NodeGroup] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        kwargs = _kwargs(item, at, problems)
        if kwargs is None:
            continue
        try:
            group = NodeGroup(**kwargs)
        except InvalidError as e:
            problems.extend(FieldError(f"{at}.{c.path}", c.message) for c in e.causes)
            continue
        except TypeError as e:
            problems.append(FieldError(at, str(e)))
            continue
        if group.name in seen:
            problems.append(FieldError(f"{at}.name", f'duplicate node group "{group.name}"'))
        seen.add(group.name)
        groups.append(group)
    if problems:
        raise InvalidError("node groups", problems)
    return groups


def _kwargs(item: Any, at: str, problems: list[FieldError]) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        problems.append(FieldError(at, "must be an object"))
        return None
    unknown = sorted(set(item) - set(_KEYS))
    for key in unknown:
        problems.append(FieldError(f"{at}.{key}", f"unknown field; known: {', '.join(_KEYS)}"))
    if unknown:
        return None
    kwargs = {_KEYS[k]: v for k, v in item.items()}
    if "zones" in kwargs and isinstance(kwargs["zones"], list):
        kwargs["zones"] = tuple(kwargs["zones"])
    if "taints" in kwargs and isinstance(kwargs["taints"], list):
        kwargs["taints"] = tuple(kwargs["taints"])
    kwargs.setdefault("name", "")
    kwargs.setdefault("instance_type", "")
    return kwargs
