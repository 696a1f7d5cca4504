"""The shipped EC2 instance data, read once into typed, immutable records.

``data/instance_types.csv`` holds one row per instance type (the facts DescribeInstanceTypes
gives, the us-east-1 on-demand price and, as a check, the allocatable values Karpenter reports
with default settings); ``data/vpc_limits.csv`` holds the ENI limits that bound pod density.
Both are loaded with :mod:`importlib.resources`, so they work from an installed wheel, and
cached for the life of the process: the catalog asks for them on every sizing.

Nothing here computes: :mod:`shipyard.cloud.sizing` turns a spec into capacity and overhead,
:mod:`shipyard.cloud.catalog` into labels and offerings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from shipyard.core.errors import NotFoundError

__all__ = [
    "EXTENDED_RESOURCE_COLUMNS",
    "InstanceTypeSpec",
    "VpcLimits",
    "instance_type_specs",
    "spec_by_name",
    "vpc_limits",
]

_PACKAGE = "shipyard.cloud"

# Extended resources a type exposes to pods, keyed by the CSV column that counts them.
EXTENDED_RESOURCE_COLUMNS: Mapping[str, str] = {
    "nvidia_gpu": "nvidia.com/gpu",
    "amd_gpu": "amd.com/gpu",
    "neuron": "aws.amazon.com/neuron",
    "efa": "vpc.amazonaws.com/efa",
    "pod_eni": "vpc.amazonaws.com/pod-eni",
}


@dataclass(frozen=True)
class VpcLimits:
    """How many ENIs and addresses a type has: what bounds pods without prefix delegation."""

    name: str
    interfaces: int
    ipv4_per_interface: int
    default_card_max_enis: int
    eni_max_pods: int

    def max_pods(self, reserved_enis: int = 0) -> int:
        """ENI-limited pods: (ENIs on the default card − reserved) × (addresses − 1) + 2."""
        enis = max(0, self.default_card_max_enis - reserved_enis)
        return enis * (self.ipv4_per_interface - 1) + 2


@dataclass(frozen=True)
class InstanceTypeSpec:
    """One row of the instance data, typed. Optional facts are ``None`` when the row is empty."""

    name: str
    family: str
    category: str
    generation: int
    size: str
    arch: str
    vcpu: int
    memory_mib: int
    max_pods: int  # ENI-limited pods as published
    on_demand_price: float | None  # USD per hour in us-east-1
    cpu_manufacturer: str
    cpu_clock_mhz: int | None
    hypervisor: str  # "" for bare metal
    network_bandwidth_mbps: int | None
    ebs_bandwidth_mbps: int | None
    local_nvme_gb: int | None
    gpu_name: str
    gpu_manufacturer: str
    gpu_count: int | None
    gpu_memory_mib: int | None
    accelerator_name: str
    accelerator_count: int | None
    extended_resources: Mapping[str, int] = field(default_factory=dict)
    capability_flex: bool = False
    bare_metal: bool = False
    # What Karpenter reports for AL2023 with default settings: the check for our sizing.
    reference_allocatable: Mapping[str, str] = field(default_factory=dict)


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _flag(text: str) -> bool:
    return text.strip().lower() == "true"


def _row_to_spec(row: Mapping[str, str]) -> InstanceTypeSpec:
    extended = {
        resource: count
        for column, resource in EXTENDED_RESOURCE_COLUMNS.items()
        if (count := _int(row[column])) is not None and count > 0
    }
    price = row["od_price_usd_hr_us_east_1"].strip()
    return InstanceTypeSpec(
        name=row["name"],
        family=row["family"],
        category=row["category"],
        generation=int(row["generation"]),
        size=row["size"],
        arch=row["arch"],
        vcpu=int(row["vcpu"]),
        memory_mib=int(row["memory_mib"]),
        max_pods=int(row["max_pods"]),
        on_demand_price=float(price) if price else None,
        cpu_manufacturer=row["cpu_manufacturer"],
        cpu_clock_mhz=_int(row["cpu_clock_mhz"]),
        hypervisor=row["hypervisor"],
        network_bandwidth_mbps=_int(row["network_bandwidth_mbps"]),
        ebs_bandwidth_mbps=_int(row["ebs_bandwidth_mbps"]),
        local_nvme_gb=_int(row["local_nvme_gb"]),
        gpu_name=row["gpu_name"],
        gpu_manufacturer=row["gpu_manufacturer"],
        gpu_count=_int(row["gpu_count"]),
        gpu_memory_mib=_int(row["gpu_memory_mib"]),
        accelerator_name=row["accelerator_name"],
        accelerator_count=_int(row["accelerator_count"]),
        extended_resources=extended,
        capability_flex=_flag(row["capability_flex"]),
        bare_metal=_flag(row["bare_metal"]),
        reference_allocatable={
            "cpu": f"{row['alloc_cpu_m']}m",
            "memory": f"{row['alloc_memory_mib']}Mi",
            "ephemeral-storage": row["alloc_ephemeral_storage"],
            "formula-cpu": f"{row['formula_alloc_cpu_m']}m",
            "formula-memory": f"{row['formula_alloc_memory_mib']}Mi",
        },
    )


def _read(filename: str) -> list[dict[str, str]]:
    text = resources.files(_PACKAGE).joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def instance_type_specs() -> tuple[InstanceTypeSpec, ...]:
    """Every instance type in the shipped data, in file order (by family, then size)."""
    return tuple(_row_to_spec(row) for row in _read("instance_types.csv"))


@cache
def _specs_by_name() -> dict[str, InstanceTypeSpec]:
    return {spec.name: spec for spec in instance_type_specs()}


def spec_by_name(name: str) -> InstanceTypeSpec:
    """The spec of one type; ``NotFoundError`` naming the type when the data has no such row."""
    found = _specs_by_name().get(name)
    if found is None:
        raise NotFoundError(f'instance type "{name}" is not in the shipped instance data')
    return found


@cache
def vpc_limits() -> Mapping[str, VpcLimits]:
    """ENI limits by type name (a few types in the instance data have none)."""
    return {
        row["name"]: VpcLimits(
            name=row["name"],
            interfaces=int(row["interfaces"]),
            ipv4_per_interface=int(row["ipv4_per_interface"]),
            default_card_max_enis=int(row["default_card_max_enis"]),
            eni_max_pods=int(row["eni_max_pods"]),
        )
        for row in _read("vpc_limits.csv")
    }
