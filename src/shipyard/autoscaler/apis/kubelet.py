"""The kubelet settings of an EC2NodeClass: admission and the eviction thresholds they set.

``spec.kubelet`` is validated as Karpenter v1's CRD does it: ``maxPods`` and ``podsPerCore``
not negative; ``kubeReserved`` / ``systemReserved`` keyed by cpu, memory, ephemeral-storage
or pid with non-negative quantities; ``evictionHard`` / ``evictionSoft`` /
``evictionSoftGracePeriod`` keyed by the kubelet's eviction signals, thresholds being a
percentage up to 100 % (two decimals at most) or a quantity, soft thresholds and their grace
periods paired; image GC thresholds 0..100 with high above low. The messages are the CRD's
(``valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']``).

:class:`EvictionThreshold` is a parsed threshold; the provider's sizing turns it into an
amount of a node's capacity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.apis.fields import object_rule
from shipyard.core.quantity import Quantity
from shipyard.store.validation.schema import (
    Bool,
    Duration,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Schema,
    Str,
    get_dict,
    invalid,
    parse_quantity,
)

__all__ = ["EVICTION_SIGNALS", "KUBELET", "RESERVED_KEYS", "EvictionThreshold", "thresholds"]

RESERVED_KEYS = ("cpu", "memory", "ephemeral-storage", "pid")
EVICTION_SIGNALS = (
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
)
_INT32_MAX = 2**31 - 1

_PERCENT_RE = re.compile(r"^(\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)%\Z")


class _KeyedMap(MapOf):
    """A map whose keys come from a fixed list, with the CRD's message for any other key."""

    __slots__ = ("keys", "message")

    def __init__(self, value: Schema, name: str, keys: tuple[str, ...]) -> None:
        super().__init__(value)
        self.keys = frozenset(keys)
        listed = ",".join(f"'{k}'" for k in keys)
        self.message = f"valid keys for {name} are [{listed}]"

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        if isinstance(value, dict):
            for key in value:
                if key not in self.keys:
                    errs.append(invalid(path, key, self.message))


class _Reserved(Schema):
    """A reserved-resource quantity; negative values get the CRD's message."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def check(self, value: Any, path: str, errs: Errors) -> None:
        quantity = parse_quantity(value) if isinstance(value, str) else None
        if quantity is None:
            errs.append(invalid(path, value, "must be a resource quantity such as 100m or 1Gi"))
        elif value.startswith("-"):
            message = f"{self.name} value cannot be a negative resource quantity"
            errs.append(invalid(path, value, message))


class _Threshold(Schema):
    """An eviction threshold: a percentage up to 100% or a non-negative quantity."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(invalid(path, value, "must be of type string"))
            return
        if value == "" or _PERCENT_RE.match(value):
            return
        quantity = parse_quantity(value)
        if quantity is None or value.startswith("-"):
            message = "must be a percentage up to 100% (such as 10%) or a quantity (such as 100Mi)"
            errs.append(invalid(path, value, message))


def _gc_thresholds(kubelet: dict[str, Any], path: str, errs: Errors) -> None:
    high, low = (
        kubelet.get("imageGCHighThresholdPercent"),
        kubelet.get("imageGCLowThresholdPercent"),
    )
    if type(high) is int and type(low) is int and high <= low:
        errs.append(
            object_rule(
                path, "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"
            )
        )


def _soft_eviction_pairs(kubelet: dict[str, Any], path: str, errs: Errors) -> None:
    soft, grace = kubelet.get("evictionSoft"), kubelet.get("evictionSoftGracePeriod")
    if isinstance(soft, dict) and not set(soft) <= set(
        get_dict(kubelet, "evictionSoftGracePeriod")
    ):
        message = "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"
        errs.append(object_rule(path, message))
    if isinstance(grace, dict) and not set(grace) <= set(get_dict(kubelet, "evictionSoft")):
        message = "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"
        errs.append(object_rule(path, message))


_INT32 = Int(-(2**31), _INT32_MAX)
KUBELET = Obj(
    {
        "clusterDNS": ListOf(Str()),
        "maxPods": Int(0),
        "podsPerCore": Int(0),
        "systemReserved": _KeyedMap(_Reserved("systemReserved"), "systemReserved", RESERVED_KEYS),
        "kubeReserved": _KeyedMap(_Reserved("kubeReserved"), "kubeReserved", RESERVED_KEYS),
        "evictionHard": _KeyedMap(_Threshold(), "evictionHard", EVICTION_SIGNALS),
        "evictionSoft": _KeyedMap(_Threshold(), "evictionSoft", EVICTION_SIGNALS),
        "evictionSoftGracePeriod": _KeyedMap(
            Duration(), "evictionSoftGracePeriod", EVICTION_SIGNALS
        ),
        "evictionMaxPodGracePeriod": _INT32,
        "imageGCHighThresholdPercent": Int(0, 100),
        "imageGCLowThresholdPercent": Int(0, 100),
        "cpuCFSQuota": Bool(),
    },
    rules=(_gc_thresholds, _soft_eviction_pairs),
)


@dataclass(frozen=True)
class EvictionThreshold:
    """An eviction threshold: a percentage of capacity or an absolute quantity (base units)."""

    percent: float | None = None
    quantity: int | None = None

    @classmethod
    def parse(cls, text: str) -> EvictionThreshold:
        if text.endswith("%"):
            return cls(percent=float(text[:-1]))
        return cls(quantity=Quantity.parse(text).value() if text else 0)

    def amount(self, capacity: int) -> int:
        """The threshold for a node with that capacity (a percentage is truncated)."""
        if self.percent is not None:
            return int(capacity * self.percent / 100)
        return self.quantity or 0


def thresholds(values: Mapping[str, str] | None) -> dict[str, EvictionThreshold]:
    """Parsed thresholds of a validated ``evictionHard`` / ``evictionSoft`` map."""
    return {k: EvictionThreshold.parse(v) for k, v in (values or {}).items()}
