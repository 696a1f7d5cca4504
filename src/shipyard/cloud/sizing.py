"""Capacity and kubelet overhead of an instance type: Karpenter's documented AWS formulas.

Pure functions of an :class:`~shipyard.cloud.specs.InstanceTypeSpec`, the sizing inputs of an
EC2NodeClass (:class:`NodeClassSizing`) and two catalog-wide options (:class:`SizingOptions`).
Resources use the scheduler's units: ``cpu`` in millicores, ``memory`` and
``ephemeral-storage`` in bytes, ``pods`` and extended resources in units.

**Capacity**

- ``cpu`` = vCPUs × 1000.
- ``memory`` = the type's MiB, less 64 MiB on arm64 (Graviton kernels reserve it for CMA), less
  the VM overhead ``ceil(MiB × vmMemoryOverheadPercent)`` MiB (default 7.5 %), computed in
  float64 and rounded up to a whole MiB as Karpenter does.
- ``pods`` = ``kubelet.maxPods`` when set, else the ENI-limited count
  ``(ENIs on the default network card − reservedENIs) × (IPv4 per ENI − 1) + 2`` from the VPC
  limits (the published ``max_pods`` when a type has no limits row, 110 without either); then
  ``kubelet.podsPerCore × vCPUs`` caps it when set (ignored for Bottlerocket, as Karpenter does).
- ``ephemeral-storage`` = the root volume: the ``blockDeviceMappings`` entry marked
  ``rootVolume``, else the entry on the AMI family's data device (``/dev/xvda``; Bottlerocket
  ``/dev/xvdb``; Windows ``/dev/sda1``; a Custom family uses the last entry), else 20 GiB. With
  ``instanceStorePolicy: RAID0`` and local NVMe, the NVMe size (decimal GB) instead.
- extended resources (``nvidia.com/gpu``, ``amd.com/gpu``, ``aws.amazon.com/neuron``,
  ``vpc.amazonaws.com/efa``, ``vpc.amazonaws.com/pod-eni``) from the data's count columns.

**Overhead** (what :attr:`InstanceType.allocatable` subtracts)

- kube-reserved ``cpu``: 6 % of the first core, 1 % of the second, 0.5 % of the third and
  fourth, 0.25 % of every core above four (millicores, each range truncated);
  ``memory``: 11 MiB × pods + 255 MiB; ``ephemeral-storage``: 1 GiB. ``kubelet.kubeReserved``
  replaces a default per resource.
- system-reserved: nothing unless ``kubelet.systemReserved`` says so.
- eviction threshold: ``memory.available`` 100 MiB and ``nodefs.available`` 10 % of the
  ephemeral storage; ``kubelet.evictionHard`` / ``evictionSoft`` replace a default per signal
  (when both name a signal the larger wins). A percentage is of the capacity after VM overhead
  (memory) or of the ephemeral storage (nodefs), rounded up to a byte.

With every default this reproduces, for all 1,363 rows of the shipped data, the allocatable
cpu, memory and ephemeral storage Karpenter publishes for AL2023 (``tests/cloud`` checks it).

Deliberate differences from Karpenter: Windows AMI families are sized like Linux ones (the
catalog serves ``kubernetes.io/os=linux`` only); ``aws.amazon.com/neuroncore`` and
``habana.ai/gaudi`` are not exposed because the data has no per-device core counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.cloud.provider import Overhead, Resources
from shipyard.cloud.specs import InstanceTypeSpec, vpc_limits
from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.quantity import Quantity, QuantityError

__all__ = [
    "DEFAULT_ROOT_VOLUME_BYTES",
    "DEFAULT_VM_MEMORY_OVERHEAD_PERCENT",
    "GIB",
    "MIB",
    "NodeClassSizing",
    "SizingOptions",
    "Threshold",
    "capacity",
    "ephemeral_storage_bytes",
    "eviction_threshold",
    "kube_reserved",
    "kube_reserved_cpu_millis",
    "kube_reserved_memory_mib",
    "max_pods",
    "memory_capacity_mib",
    "overhead",
    "size",
]

MIB = 1024**2
GIB = 1024**3
DEFAULT_VM_MEMORY_OVERHEAD_PERCENT = 0.075
DEFAULT_ROOT_VOLUME_BYTES = 20 * GIB
DEFAULT_MAX_PODS = 110
ARM64_RESERVED_MIB = 64  # contiguous memory allocator on Graviton kernels
KUBE_RESERVED_MEMORY_PER_POD_MIB = 11
KUBE_RESERVED_MEMORY_BASE_MIB = 255
KUBE_RESERVED_EPHEMERAL_BYTES = 1 * GIB
EVICTION_MEMORY_BYTES = 100 * MIB
EVICTION_NODEFS_PERCENT = 10.0

# (first millicore, end millicore, share reserved) for kube-reserved cpu.
_CPU_RESERVED_RANGES = ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005))
_CPU_RESERVED_ABOVE = (4000, 0.0025)

MEMORY_AVAILABLE = "memory.available"
NODEFS_AVAILABLE = "nodefs.available"
_EVICTION_SIGNALS = frozenset(
    {
        MEMORY_AVAILABLE,
        NODEFS_AVAILABLE,
        "nodefs.inodesFree",
        "imagefs.available",
        "imagefs.inodesFree",
        "pid.available",
    }
)
_RESERVED_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pid"})
_DATA_DEVICE = {"bottlerocket": "/dev/xvdb", "windows2019": "/dev/sda1"}
_DATA_DEVICE.update({"windows2022": "/dev/sda1", "windows2025": "/dev/sda1"})
_DEFAULT_DATA_DEVICE = "/dev/xvda"
AMI_FAMILIES = frozenset(
    {"al2", "al2023", "bottlerocket", "windows2019", "windows2022", "windows2025", "custom"}
)


@dataclass(frozen=True)
class Threshold:
    """An eviction threshold: a quantity of bytes, or a percentage of the capacity."""

    bytes: int = 0
    percent: float | None = None

    def of(self, capacity: int) -> int:
        if self.percent is None:
            return self.bytes
        return math.ceil(capacity / 100 * self.percent)


@dataclass(frozen=True)
class SizingOptions:
    """Catalog-wide settings (Karpenter's controller options, not the node class's)."""

    vm_memory_overhead_percent: float = DEFAULT_VM_MEMORY_OVERHEAD_PERCENT
    reserved_enis: int = 0


@dataclass(frozen=True)
class NodeClassSizing:
    """What of an EC2NodeClass changes the size of a node; hashable, so it keys caches."""

    ami_family: str = "al2023"
    max_pods: int | None = None
    pods_per_core: int | None = None
    kube_reserved: tuple[tuple[str, int], ...] = ()
    system_reserved: tuple[tuple[str, int], ...] = ()
    eviction_hard: tuple[tuple[str, Threshold], ...] = ()
    eviction_soft: tuple[tuple[str, Threshold], ...] = ()
    root_volume_bytes: int | None = None  # None: the AMI family's default
    instance_store_raid0: bool = False

    @classmethod
    def from_node_class(cls, node_class: Mapping[str, Any] | None) -> NodeClassSizing:
        """Read an EC2NodeClass object (or ``None``); ``InvalidError`` names bad fields."""
        if not node_class:
            return cls()
        spec = node_class.get("spec") or {}
        if not isinstance(spec, Mapping):
            raise InvalidError("EC2NodeClass", [FieldError("spec", "must be an object")])
        errors: list[FieldError] = []
        family = ami_family_of(spec)
        kubelet = spec.get("kubelet") or {}
        if not isinstance(kubelet, Mapping):
            errors.append(FieldError("spec.kubelet", "must be an object"))
            kubelet = {}
        sizing = cls(
            ami_family=family,
            max_pods=_non_negative_int(kubelet, "maxPods", errors),
            pods_per_core=_non_negative_int(kubelet, "podsPerCore", errors),
            kube_reserved=_reserved(kubelet, "kubeReserved", errors),
            system_reserved=_reserved(kubelet, "systemReserved", errors),
            eviction_hard=_thresholds(kubelet, "evictionHard", errors),
            eviction_soft=_thresholds(kubelet, "evictionSoft", errors),
            root_volume_bytes=_root_volume(spec, family, errors),
            instance_store_raid0=spec.get("instanceStorePolicy") == "RAID0",
        )
        if errors:
            raise InvalidError("EC2NodeClass", errors)
        return sizing


def ami_family_of(spec: Mapping[str, Any]) -> str:
    """``spec.amiFamily``, else the family of the first alias term, else al2023 (lowercase)."""
    family = spec.get("amiFamily")
    if isinstance(family, str) and family:
        return family.lower()
    for term in spec.get("amiSelectorTerms") or ():
        alias = term.get("alias") if isinstance(term, Mapping) else None
        if isinstance(alias, str) and alias:
            return alias.partition("@")[0].lower()
    if spec.get("amiSelectorTerms"):
        return "custom"
    return "al2023"


def _non_negative_int(kubelet: Mapping[str, Any], key: str, errors: list[FieldError]) -> int | None:
    value = kubelet.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.append(
            FieldError(f"spec.kubelet.{key}", f"Invalid value: {value!r}: must be an integer >= 0")
        )
        return None
    return value


def _quantity_units(resource: str, value: Any, path: str, errors: list[FieldError]) -> int | None:
    try:
        quantity = Quantity.parse(value)
    except QuantityError as e:
        errors.append(FieldError(path, f"Invalid value: {value!r}: {e}"))
        return None
    if quantity.nanos < 0:
        errors.append(FieldError(path, f"Invalid value: {value!r}: must not be negative"))
        return None
    return quantity.milli_value() if resource == "cpu" else quantity.value()


def _reserved(
    kubelet: Mapping[str, Any], key: str, errors: list[FieldError]
) -> tuple[tuple[str, int], ...]:
    items = kubelet.get(key) or {}
    path = f"spec.kubelet.{key}"
    if not isinstance(items, Mapping):
        errors.append(FieldError(path, "must be a map of resource names to quantities"))
        return ()
    out = []
    for name, value in sorted(items.items()):
        if name not in _RESERVED_RESOURCES:
            allowed = ", ".join(sorted(_RESERVED_RESOURCES))
            errors.append(FieldError(f"{path}[{name}]", f"Unsupported key: allowed {allowed}"))
            continue
        units = _quantity_units(name, value, f"{path}[{name}]", errors)
        if units is not None:
            out.append((name, units))
    return tuple(out)


def _threshold(value: Any, path: str, errors: list[FieldError]) -> Threshold | None:
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = float(value[:-1])
        except ValueError:
            percent = -1.0
        if not 0 <= percent <= 100:
            errors.append(FieldError(path, f"Invalid value: {value!r}: must be a percentage"))
            return None
        return Threshold(percent=percent)
    units = _quantity_units("", value, path, errors)
    return None if units is None else Threshold(bytes=units)


def _thresholds(
    kubelet: Mapping[str, Any], key: str, errors: list[FieldError]
) -> tuple[tuple[str, Threshold], ...]:
    items = kubelet.get(key) or {}
    path = f"spec.kubelet.{key}"
    if not isinstance(items, Mapping):
        errors.append(FieldError(path, "must be a map of eviction signals to thresholds"))
        return ()
    out = []
    for signal, value in sorted(items.items()):
        if signal not in _EVICTION_SIGNALS:
            allowed = ", ".join(sorted(_EVICTION_SIGNALS))
            errors.append(FieldError(f"{path}[{signal}]", f"Unsupported key: allowed {allowed}"))
            continue
        threshold = _threshold(value, f"{path}[{signal}]", errors)
        if threshold is not None:
            out.append((signal, threshold))
    return tuple(out)


def _root_volume(spec: Mapping[str, Any], family: str, errors: list[FieldError]) -> int | None:
    mappings = spec.get("blockDeviceMappings") or []
    if not isinstance(mappings, list) or not mappings:
        return None
    chosen: tuple[int, Mapping[str, Any]] | None = None
    for i, mapping in enumerate(mappings):
        if isinstance(mapping, Mapping) and mapping.get("rootVolume") is True:
            chosen = (i, mapping)
            break
    if chosen is None and family == "custom":
        chosen = (len(mappings) - 1, mappings[-1])
    if chosen is None:
        device = _DATA_DEVICE.get(family, _DEFAULT_DATA_DEVICE)
        chosen = next(
            (
                (i, m)
                for i, m in enumerate(mappings)
                if isinstance(m, Mapping) and m.get("deviceName") == device
            ),
            None,
        )
    if chosen is None or not isinstance(chosen[1], Mapping):
        return None
    index, mapping = chosen
    size = (mapping.get("ebs") or {}).get("volumeSize")
    if size is None:
        return None
    path = f"spec.blockDeviceMappings[{index}].ebs.volumeSize"
    return _quantity_units("", size, path, errors)


# --- formulas ----------------------------------------------------------------------------------


def kube_reserved_cpu_millis(vcpu: int) -> int:
    """Kube-reserved cpu for a machine of ``vcpu`` cores (millicores)."""
    millis = vcpu * 1000
    reserved = 0
    for start, end, share in _CPU_RESERVED_RANGES:
        if millis > start:
            reserved += int((min(millis, end) - start) * share)
    above, share = _CPU_RESERVED_ABOVE
    if millis > above:
        reserved += int((millis - above) * share)
    return reserved


def kube_reserved_memory_mib(pods: int) -> int:
    """Kube-reserved memory for a node that runs at most ``pods`` pods (MiB)."""
    return KUBE_RESERVED_MEMORY_PER_POD_MIB * pods + KUBE_RESERVED_MEMORY_BASE_MIB


def memory_capacity_mib(spec: InstanceTypeSpec, options: SizingOptions = SizingOptions()) -> int:
    """The memory the node reports: the type's MiB less the arm64 reserve and the VM overhead."""
    mib = spec.memory_mib - (ARM64_RESERVED_MIB if spec.arch == "arm64" else 0)
    return mib - math.ceil(mib * options.vm_memory_overhead_percent)


def max_pods(
    spec: InstanceTypeSpec,
    sizing: NodeClassSizing = NodeClassSizing(),
    options: SizingOptions = SizingOptions(),
) -> int:
    """The pods a node of this type admits (see the module docstring for the rules)."""
    if sizing.max_pods is not None:
        count = sizing.max_pods
    elif (limits := vpc_limits().get(spec.name)) is not None:
        count = limits.max_pods(options.reserved_enis)
    else:
        count = spec.max_pods or DEFAULT_MAX_PODS
    if sizing.pods_per_core and sizing.ami_family != "bottlerocket":
        count = min(count, sizing.pods_per_core * spec.vcpu)
    return count


def ephemeral_storage_bytes(spec: InstanceTypeSpec, sizing: NodeClassSizing) -> int:
    if sizing.instance_store_raid0 and spec.local_nvme_gb:
        return spec.local_nvme_gb * 1000**3
    if sizing.root_volume_bytes is not None:
        return sizing.root_volume_bytes
    return DEFAULT_ROOT_VOLUME_BYTES


def capacity(
    spec: InstanceTypeSpec,
    sizing: NodeClassSizing = NodeClassSizing(),
    options: SizingOptions = SizingOptions(),
) -> Resources:
    """What the node reports as capacity."""
    resources: Resources = {
        "cpu": spec.vcpu * 1000,
        "memory": memory_capacity_mib(spec, options) * MIB,
        "ephemeral-storage": ephemeral_storage_bytes(spec, sizing),
        "pods": max_pods(spec, sizing, options),
    }
    resources.update(spec.extended_resources)
    return resources


def kube_reserved(spec: InstanceTypeSpec, pods: int, sizing: NodeClassSizing) -> Resources:
    reserved: Resources = {
        "cpu": kube_reserved_cpu_millis(spec.vcpu),
        "memory": kube_reserved_memory_mib(pods) * MIB,
        "ephemeral-storage": KUBE_RESERVED_EPHEMERAL_BYTES,
    }
    reserved.update(sizing.kube_reserved)
    reserved.pop("pid", None)  # not a schedulable resource
    return reserved


def eviction_threshold(node_capacity: Mapping[str, int], sizing: NodeClassSizing) -> Resources:
    """Memory and nodefs kept free before the kubelet evicts, as bytes of each resource."""
    memory, storage = node_capacity.get("memory", 0), node_capacity.get("ephemeral-storage", 0)
    threshold: Resources = {
        "memory": EVICTION_MEMORY_BYTES,
        "ephemeral-storage": math.ceil(storage / 100 * EVICTION_NODEFS_PERCENT),
    }
    override: Resources = {}
    for signals in (sizing.eviction_hard, sizing.eviction_soft):
        for signal, value in signals:
            if signal == MEMORY_AVAILABLE:
                resource, base = "memory", memory
            elif signal == NODEFS_AVAILABLE:
                resource, base = "ephemeral-storage", storage
            else:
                continue
            override[resource] = max(override.get(resource, 0), value.of(base))
    threshold.update(override)
    return threshold


def overhead(
    spec: InstanceTypeSpec, node_capacity: Mapping[str, int], sizing: NodeClassSizing
) -> Overhead:
    system = dict(sizing.system_reserved)
    system.pop("pid", None)
    return Overhead(
        kube_reserved=kube_reserved(spec, node_capacity.get("pods", 0), sizing),
        system_reserved=system,
        eviction_threshold=eviction_threshold(node_capacity, sizing),
    )


def size(
    spec: InstanceTypeSpec,
    sizing: NodeClassSizing = NodeClassSizing(),
    options: SizingOptions = SizingOptions(),
) -> tuple[Resources, Overhead]:
    """Capacity and overhead of one type under one node class."""
    node_capacity = capacity(spec, sizing, options)
    return node_capacity, overhead(spec, node_capacity, sizing)
