"""A SimulatedCloud's state as JSON, so that a cloud outlives the process that ran it.

The CLI's persisted cluster is a simulation that runs one command at a time; its cloud has to
come back the way it was left, or the NodeClaim garbage collector would find every claim's
instance gone and delete it. :func:`save_cloud` writes what
:meth:`~shipyard.cloud.simulated.SimulatedCloud.export_state` returns, plus the account's
images, subnets and security groups, to one file (written beside itself, then renamed over
the old one, so a crash never leaves half a file); :func:`load_cloud` reads it into a fresh
cloud, re-arming every pending step (an instance still booting, a node about to turn Ready, a
shutdown under way, a spot reclaim) at its saved time.

What is saved is what a run changes; the rest is configuration and comes from the
constructor: catalog, prices, hidden capacity limits and reservations, latency, billing
minimum. The capacity instances hold is re-acquired from the instances themselves. Two things
are deliberately not saved: the 3-minute insufficient-capacity marks (a lost mark costs one
more failed launch, which marks the offering again) and subscriptions (the platform
re-attaches its own).

The format (``"version": 1``) is a JSON object::

    {"version": 1, "region": "us-east-1", "seed": 0, "launched": 2, "costUSD": 0.0123,
     "instances": [{"instance": {"providerID": ..., "state": "running", "price": 0.0336, ...},
                    "runningSince": 1767225616.0, "billedUntil": null, "holdsCapacity": true,
                    "scheduled": [{"action": "ready", "due": 1767225626.0, ...}]}],
     "messages": [...], "account": {"sequence": 12, "images": [...], "latest": [...],
                                    "subnets": [...], "securityGroups": [...]}}

Times are clock seconds (floats, so nothing is rounded); ``costUSD`` is informational (what
was billed when the file was written). A file that is not this — bad JSON, a missing or
mistyped field, another region or seed than the cloud it is loaded into — raises
:class:`CloudStateError` naming the file and the field path: instances are never dropped
silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.cloud.account import Image, SecurityGroup, SimulatedAccount, Subnet
from shipyard.cloud.provider import Instance, Interruption
from shipyard.cloud.simulated import (
    ACTIONS,
    CloudState,
    InstanceState,
    Scheduled,
    SimulatedCloud,
)
from shipyard.core.errors import PermanentError

__all__ = [
    "STATE_VERSION",
    "CloudStateError",
    "cloud_to_json",
    "load_cloud",
    "restore_cloud",
    "save_cloud",
]

STATE_VERSION = 1
INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")


class CloudStateError(PermanentError):
    """A saved cloud state that cannot be read; ``source`` names the file."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(
            f"cannot restore the simulated cloud from {source}: {problem}. Its instances are "
            "not restored; repair the file, or remove it to start with an empty cloud (every "
            "launched NodeClaim is then deleted as its instance is gone)"
        )
        self.source = source
        self.problem = problem


# --- writing ---------------------------------------------------------------------------------


def cloud_to_json(cloud: SimulatedCloud) -> dict[str, Any]:
    """The cloud's state (see the module docstring for the format)."""
    state = cloud.export_state()
    return {
        "version": STATE_VERSION,
        "region": cloud.region,
        "seed": cloud.seed,
        "launched": state.launched,
        "costUSD": cloud.cost(),
        "instances": [_instance_state_json(s) for s in state.instances],
        "messages": [_message_json(m) for m in state.messages],
        "account": _account_json(cloud.account),
    }


def save_cloud(cloud: SimulatedCloud, path: Path) -> None:
    """Write the cloud's state to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cloud_to_json(cloud), indent=1) + "\n")
    os.replace(tmp, path)


_INSTANCE_FIELDS: tuple[tuple[str, str, str], ...] = (
    # (JSON key, Instance attribute, kind)
    ("providerID", "provider_id", "str"),
    ("instanceID", "instance_id", "str"),
    ("instanceType", "instance_type", "str"),
    ("zone", "zone", "str"),
    ("capacityType", "capacity_type", "str"),
    ("price", "price", "num"),
    ("state", "state", "str"),
    ("launchTime", "launch_time", "num"),
    ("capacity", "capacity", "int_map"),
    ("allocatable", "allocatable", "int_map"),
    ("labels", "labels", "str_map"),
    ("taints", "taints", "str_maps"),
    ("tags", "tags", "str_map"),
    ("imageID", "image_id", "str"),
    ("claimName", "claim_name", "str"),
    ("subnetID", "subnet_id", "str"),
    ("securityGroupIDs", "security_group_ids", "str_list"),
    ("reservationID", "reservation_id", "str"),
    ("arch", "arch", "str"),
)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _instance_state_json(saved: InstanceState) -> dict[str, Any]:
    instance = {key: _plain(getattr(saved.instance, attr)) for key, attr, _ in _INSTANCE_FIELDS}
    return {
        "instance": instance,
        "runningSince": saved.running_since,
        "billedUntil": saved.billed_until,
        "holdsCapacity": saved.holds_capacity,
        "scheduled": [
            {"action": s.action, "due": s.due, "external": s.external, "deadline": s.deadline}
            for s in saved.scheduled
        ],
    }


def _message_json(message: Interruption) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "instanceID": message.instance_id,
        "providerID": message.provider_id,
        "time": message.time,
        "deadline": message.deadline,
        "state": message.state,
    }


def _account_json(account: SimulatedAccount) -> dict[str, Any]:
    # The account is this package's own; its registries are read directly rather than
    # widening its public surface for the one reader that needs all of them.
    return {
        "sequence": account._sequence,
        "images": [
            {
                "id": i.id,
                "name": i.name,
                "family": i.family,
                "arch": i.arch,
                "version": i.version,
                "tags": dict(i.tags),
                "sequence": i.sequence,
            }
            for i in account._images.values()
        ],
        "latest": [
            {"family": family, "arch": arch, "image": image_id}
            for (family, arch), image_id in account._latest.items()
        ],
        "subnets": [
            {"id": s.id, "zone": s.zone, "tags": dict(s.tags), "default": s.default}
            for s in account._subnets.values()
        ],
        "securityGroups": [
            {"id": g.id, "name": g.name, "tags": dict(g.tags), "default": g.default}
            for g in account._groups.values()
        ],
    }


# --- reading ---------------------------------------------------------------------------------


class _Bad(Exception):
    """A problem at a field path; turned into a CloudStateError naming the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass(frozen=True)
class _Node:
    """A JSON value and its field path, with typed accessors that fail naming the path."""

    value: Any
    path: str = ""

    def at(self, key: str) -> _Node:
        if not isinstance(self.value, dict):
            raise _Bad(self.path, f"expected an object, got {_kind(self.value)}")
        if key not in self.value:
            raise _Bad(self._join(key), "missing")
        return _Node(self.value[key], self._join(key))

    def items(self, key: str) -> list[_Node]:
        node = self.at(key)
        if not isinstance(node.value, list):
            raise _Bad(node.path, f"expected a list, got {_kind(node.value)}")
        return [_Node(v, f"{node.path}[{i}]") for i, v in enumerate(node.value)]

    def text(self, key: str) -> str:
        value: str = self.at(key).expect(str, "a string")
        return value

    def number(self, key: str) -> float:
        node = self.at(key)
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _Bad(node.path, f"expected a number, got {_kind(node.value)}")
        return float(node.value)

    def optional_number(self, key: str) -> float | None:
        return None if self.at(key).value is None else self.number(key)

    def count(self, key: str) -> int:
        node = self.at(key)
        if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 0:
            raise _Bad(node.path, f"expected a non-negative integer, got {_kind(node.value)}")
        return node.value

    def flag(self, key: str) -> bool:
        value: bool = self.at(key).expect(bool, "true or false")
        return value

    def mapping(self, value_type: type, what: str) -> dict[str, Any]:
        """This value as an object whose values are all ``value_type``."""
        if not isinstance(self.value, dict):
            raise _Bad(self.path, f"expected an object, got {_kind(self.value)}")
        for k, v in self.value.items():
            _Node(v, f"{self.path}.{k}").expect(value_type, what)
        return dict(self.value)

    def expect(self, value_type: type, what: str) -> Any:
        wrong_bool = value_type is int and isinstance(self.value, bool)
        if wrong_bool or not isinstance(self.value, value_type):
            raise _Bad(self.path, f"expected {what}, got {_kind(self.value)}")
        return self.value

    def _join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)[:40]}"
    return "a list" if isinstance(value, list) else "an object"


_READERS: dict[str, Callable[[_Node, str], Any]] = {
    "str": lambda node, key: node.text(key),
    "num": lambda node, key: node.number(key),
    "int_map": lambda node, key: node.at(key).mapping(int, "an integer"),
    "str_map": lambda node, key: node.at(key).mapping(str, "a string"),
    "str_maps": lambda node, key: tuple(i.mapping(str, "a string") for i in node.items(key)),
    "str_list": lambda node, key: tuple(i.expect(str, "a string") for i in node.items(key)),
}


def _instance(node: _Node) -> Instance:
    values = {attr: _READERS[kind](node, key) for key, attr, kind in _INSTANCE_FIELDS}
    if values["state"] not in INSTANCE_STATES:
        raise _Bad(node._join("state"), f"expected one of {', '.join(INSTANCE_STATES)}")
    if not values["instance_id"]:
        raise _Bad(node._join("instanceID"), "must not be empty")
    return Instance(**values)


def _scheduled(node: _Node) -> Scheduled:
    action = node.text("action")
    if action not in ACTIONS:
        raise _Bad(node._join("action"), f"unknown step; expected one of {', '.join(ACTIONS)}")
    return Scheduled(
        action, node.number("due"), node.flag("external"), node.optional_number("deadline")
    )


def _instance_state(node: _Node) -> InstanceState:
    return InstanceState(
        instance=_instance(node.at("instance")),
        running_since=node.optional_number("runningSince"),
        billed_until=node.optional_number("billedUntil"),
        holds_capacity=node.flag("holdsCapacity"),
        scheduled=tuple(_scheduled(s) for s in node.items("scheduled")),
    )


def _message(node: _Node) -> Interruption:
    return Interruption(
        kind=node.text("kind"),
        instance_id=node.text("instanceID"),
        provider_id=node.text("providerID"),
        time=node.number("time"),
        deadline=node.optional_number("deadline"),
        state=node.text("state"),
    )


def _cloud_state(root: _Node) -> CloudState:
    instances = tuple(_instance_state(n) for n in root.items("instances"))
    seen: set[str] = set()
    for i, saved in enumerate(instances):
        if saved.instance.instance_id in seen:
            raise _Bad(f"instances[{i}].instance.instanceID", "listed twice")
        seen.add(saved.instance.instance_id)
    launched = root.count("launched")
    if launched < len(instances):
        raise _Bad("launched", f"{launched} is fewer than the {len(instances)} instances listed")
    return CloudState(launched, instances, tuple(_message(n) for n in root.items("messages")))


def _check_identity(root: _Node, cloud: SimulatedCloud) -> None:
    version = root.count("version")
    if version != STATE_VERSION:
        raise _Bad("version", f"this Shipyard reads version {STATE_VERSION}, not {version}")
    region, seed = root.text("region"), root.count("seed")
    if (region, seed) != (cloud.region, cloud.seed):
        raise _Bad(
            "region",
            f"saved for region {region} seed {seed}; this cloud is region {cloud.region} "
            f"seed {cloud.seed}",
        )


@dataclass(frozen=True)
class _AccountState:
    sequence: int
    images: dict[str, Image]
    latest: dict[tuple[str, str], str]
    subnets: dict[str, Subnet]
    groups: dict[str, SecurityGroup]

    def apply(self, account: SimulatedAccount) -> None:
        account._sequence = self.sequence
        account._images = dict(self.images)
        account._latest = dict(self.latest)
        account._subnets = dict(self.subnets)
        account._groups = dict(self.groups)


def _tags(node: _Node) -> dict[str, Any]:
    return node.at("tags").mapping(str, "a string")


def _image(i: _Node) -> Image:
    return Image(
        i.text("id"),
        i.text("name"),
        i.text("family"),
        i.text("arch"),
        i.text("version"),
        _tags(i),
        i.count("sequence"),
    )


def _account(node: _Node) -> _AccountState:
    images = {image.id: image for image in map(_image, node.items("images"))}
    latest: dict[tuple[str, str], str] = {}
    for entry in node.items("latest"):
        image_id = entry.text("image")
        if image_id not in images:
            raise _Bad(entry._join("image"), f"names no image of account.images: {image_id}")
        latest[(entry.text("family"), entry.text("arch"))] = image_id
    subnets = [
        Subnet(s.text("id"), s.text("zone"), _tags(s), s.flag("default"))
        for s in node.items("subnets")
    ]
    groups = [
        SecurityGroup(g.text("id"), g.text("name"), _tags(g), g.flag("default"))
        for g in node.items("securityGroups")
    ]
    return _AccountState(
        node.count("sequence"),
        images,
        latest,
        {s.id: s for s in subnets},
        {g.id: g for g in groups},
    )


def restore_cloud(cloud: SimulatedCloud, data: Any, *, source: str = "the saved state") -> None:
    """Load ``data`` (what :func:`cloud_to_json` returned) into a cloud that has launched
    nothing.

    ``CloudStateError`` naming ``source`` and the field path when ``data`` is not a valid
    state for this cloud; the cloud is left unchanged then (the whole file is read first).
    """
    root = _Node(data)
    try:
        if not isinstance(data, dict):
            raise _Bad("", f"expected a JSON object, got {_kind(data)}")
        _check_identity(root, cloud)
        state = _cloud_state(root)
        account = _account(root.at("account"))
    except _Bad as e:
        raise CloudStateError(source, str(e)) from None
    account.apply(cloud.account)
    cloud.import_state(state)


def load_cloud(cloud: SimulatedCloud, path: Path) -> bool:
    """Restore the cloud saved in ``path``; False (the cloud untouched) when there is no file.

    ``CloudStateError`` naming the file when it cannot be read or is not a valid state.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError) as e:
        raise CloudStateError(str(path), f"cannot read it ({e})") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CloudStateError(str(path), f"not valid JSON ({e})") from None
    restore_cloud(cloud, data, source=str(path))
    return True
