"""The catalog: allocatable against the published columns, labels, node-class sizing, caching."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from shipyard.cloud import sizing
from shipyard.cloud.catalog import Catalog, zone_id
from shipyard.cloud.pricing import Availability, CapacityReservation, Pricing
from shipyard.cloud.provider import subtract_resources
from shipyard.cloud.specs import instance_type_specs, spec_by_name, vpc_limits
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.core.quantity import Quantity
from shipyard.core.requirements import Requirements

from .helpers import reqs, small_catalog

MIB, GIB = 1024**2, 1024**3
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "aws"
PACKAGED = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "cloud" / "data"


def node_class(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "spec": spec}


def allocatable(name: str, nc: dict[str, Any] | None = None) -> dict[str, int]:
    capacity, overhead = sizing.size(spec_by_name(name), sizing.NodeClassSizing.from_node_class(nc))
    return subtract_resources(capacity, overhead.total())


# --- the data ----------------------------------------------------------------------------------


def test_the_csv_loads_every_row() -> None:
    specs = instance_type_specs()
    assert len(specs) == 1363
    assert len({s.name for s in specs}) == 1363
    assert sum(1 for s in specs if s.on_demand_price is None) == 18


@pytest.mark.skipif(not SHARED.exists(), reason="the team's reference data is not beside the repo")
@pytest.mark.parametrize("filename", ["instance_types.csv", "vpc_limits.csv"])
def test_packaged_data_is_an_unmodified_copy(filename: str) -> None:
    assert (PACKAGED / filename).read_bytes() == (SHARED / filename).read_bytes()


def test_eni_limited_pods_from_vpc_limits_match_the_published_max_pods() -> None:
    limits = vpc_limits()
    checked = 0
    for spec in instance_type_specs():
        if spec.name in limits:
            assert limits[spec.name].max_pods() == spec.max_pods, spec.name
            checked += 1
    assert checked == 1363 - 8  # eight hpc/trn2 rows have no VPC-limit row


# --- allocatable vs Karpenter's published values ----------------------------------------------


def test_allocatable_equals_the_published_columns_for_every_row() -> None:
    mismatches = []
    for spec in instance_type_specs():
        got = allocatable(spec.name)
        ref = spec.reference_allocatable
        expected = {
            "cpu": Quantity.parse(ref["cpu"]).milli_value(),
            "memory": Quantity.parse(ref["memory"]).value(),
            "ephemeral-storage": Quantity.parse(ref["ephemeral-storage"]).value(),
        }
        assert ref["cpu"] == ref["formula-cpu"] and ref["memory"] == ref["formula-memory"]
        if {k: got[k] for k in expected} != expected:
            mismatches.append((spec.name, got, expected))
    assert mismatches == []


def test_allocatable_arithmetic_for_m5_large() -> None:
    # 8192 MiB - ceil(7.5 %) = 7577; kube-reserved 11*29+255 = 574; eviction 100.
    assert allocatable("m5.large") == {
        "cpu": 2000 - 70,
        "memory": (7577 - 574 - 100) * MIB,
        "ephemeral-storage": 20 * GIB - 1 * GIB - 2 * GIB,
        "pods": 29,
        "vpc.amazonaws.com/pod-eni": 9,
    }


def test_arm64_loses_64_mib_before_the_vm_overhead() -> None:
    # t4g.medium: (4096 - 64) - ceil(3032 * 0.075 = 302.4) = 3729
    assert sizing.memory_capacity_mib(spec_by_name("t4g.medium")) == 3729
    assert sizing.memory_capacity_mib(spec_by_name("t3.medium")) == 4096 - 308


@pytest.mark.parametrize(
    ("vcpu", "reserved"),
    [(1, 60), (2, 70), (3, 75), (4, 80), (8, 90), (96, 310), (192, 550)],
)
def test_kube_reserved_cpu_ranges(vcpu: int, reserved: int) -> None:
    assert sizing.kube_reserved_cpu_millis(vcpu) == reserved


def test_vm_overhead_percent_is_configurable() -> None:
    options = sizing.SizingOptions(vm_memory_overhead_percent=0.0)
    assert sizing.memory_capacity_mib(spec_by_name("m5.large"), options) == 8192
    assert sizing.capacity(spec_by_name("m5.large"), options=options)["memory"] == 8192 * MIB


def test_gpu_and_accelerator_types_expose_extended_resources() -> None:
    assert sizing.capacity(spec_by_name("g4dn.xlarge"))["nvidia.com/gpu"] == 1
    assert sizing.capacity(spec_by_name("g4ad.16xlarge"))["amd.com/gpu"] == 4
    assert sizing.capacity(spec_by_name("inf2.48xlarge"))["aws.amazon.com/neuron"] == 12
    p4d = sizing.capacity(spec_by_name("p4d.24xlarge"))
    assert p4d["nvidia.com/gpu"] == 8 and p4d["vpc.amazonaws.com/efa"] == 4
    assert "nvidia.com/gpu" not in sizing.capacity(spec_by_name("m5.large"))


# --- node-class overrides -------------------------------------------------------------------


def test_max_pods_override_changes_pods_and_kube_reserved_memory() -> None:
    got = allocatable("m5.large", node_class(kubelet={"maxPods": 110}))
    assert got["pods"] == 110
    assert got["memory"] == (7577 - (11 * 110 + 255) - 100) * MIB


def test_pods_per_core_caps_pods_except_on_bottlerocket() -> None:
    assert allocatable("m5.large", node_class(kubelet={"podsPerCore": 4}))["pods"] == 8
    bottlerocket = node_class(amiFamily="Bottlerocket", kubelet={"podsPerCore": 4})
    assert allocatable("m5.large", bottlerocket)["pods"] == 29


def test_kube_and_system_reserved_override_per_resource() -> None:
    nc = node_class(
        kubelet={"kubeReserved": {"cpu": "200m"}, "systemReserved": {"memory": "300Mi"}}
    )
    got = allocatable("m5.large", nc)
    assert got["cpu"] == 2000 - 200
    assert got["memory"] == (7577 - 574 - 300 - 100) * MIB  # kube-reserved memory still default


def test_eviction_hard_percentages_and_soft_maximum() -> None:
    nc = node_class(
        kubelet={
            "evictionHard": {"memory.available": "5%", "nodefs.available": "15%"},
            "evictionSoft": {"memory.available": "500Mi"},
        }
    )
    capacity, overhead = sizing.size(
        spec_by_name("m5.large"), sizing.NodeClassSizing.from_node_class(nc)
    )
    memory = capacity["memory"]
    assert overhead.eviction_threshold["memory"] == max(-(-memory * 5 // 100), 500 * MIB)
    assert overhead.eviction_threshold["ephemeral-storage"] == -(-20 * GIB * 15 // 100)


def test_root_volume_size_from_block_device_mappings() -> None:
    nc = node_class(
        blockDeviceMappings=[
            {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": "50Gi"}},
            {"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "100Gi"}},
        ]
    )
    assert allocatable("m5.large", nc)["ephemeral-storage"] == 100 * GIB - GIB - 10 * GIB


def test_root_volume_follows_the_ami_family_data_device() -> None:
    mappings = [
        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "4Gi"}},
        {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": "60Gi"}},
    ]
    al2023 = node_class(amiSelectorTerms=[{"alias": "al2023@latest"}], blockDeviceMappings=mappings)
    bottlerocket = node_class(
        amiSelectorTerms=[{"alias": "bottlerocket@latest"}], blockDeviceMappings=mappings
    )
    assert (
        sizing.capacity(spec_by_name("m5.large"), sizing.NodeClassSizing.from_node_class(al2023))[
            "ephemeral-storage"
        ]
        == 4 * GIB
    )
    assert (
        sizing.capacity(
            spec_by_name("m5.large"), sizing.NodeClassSizing.from_node_class(bottlerocket)
        )["ephemeral-storage"]
        == 60 * GIB
    )


def test_raid0_instance_store_uses_local_nvme() -> None:
    nc = node_class(instanceStorePolicy="RAID0")
    got = sizing.capacity(spec_by_name("c5ad.large"), sizing.NodeClassSizing.from_node_class(nc))
    assert got["ephemeral-storage"] == 75 * 1000**3
    # a type without NVMe keeps the root volume
    assert allocatable("m5.large", nc)["ephemeral-storage"] == 17 * GIB


def test_invalid_kubelet_settings_name_the_field() -> None:
    nc = node_class(
        kubelet={
            "maxPods": -1,
            "kubeReserved": {"cpu": "lots", "gpu": "1"},
            "evictionHard": {"memory.available": "120%", "memory.free": "1Gi"},
        },
        blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "big"}}],
    )
    with pytest.raises(InvalidError) as caught:
        sizing.NodeClassSizing.from_node_class(nc)
    paths = {c.path for c in caught.value.causes}
    assert paths == {
        "spec.kubelet.maxPods",
        "spec.kubelet.kubeReserved[cpu]",
        "spec.kubelet.kubeReserved[gpu]",
        "spec.kubelet.evictionHard[memory.available]",
        "spec.kubelet.evictionHard[memory.free]",
        "spec.blockDeviceMappings[0].ebs.volumeSize",
    }


# --- labels and offerings ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_catalog() -> Catalog:
    return Catalog(unavailable=None)


def labels_of(catalog: Catalog, name: str) -> dict[str, str]:
    return catalog.get(name).requirements.labels()


def test_t3_medium_labels(full_catalog: Catalog) -> None:
    labels = labels_of(full_catalog, "t3.medium")
    assert labels == {
        "node.kubernetes.io/instance-type": "t3.medium",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/region": "us-east-1",
        "karpenter.k8s.aws/instance-family": "t3",
        "karpenter.k8s.aws/instance-category": "t",
        "karpenter.k8s.aws/instance-generation": "3",
        "karpenter.k8s.aws/instance-size": "medium",
        "karpenter.k8s.aws/instance-cpu": "2",
        "karpenter.k8s.aws/instance-memory": "4096",
        "karpenter.k8s.aws/instance-cpu-manufacturer": "intel",
        "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz": "2500",
        "karpenter.k8s.aws/instance-hypervisor": "nitro",
        "karpenter.k8s.aws/instance-network-bandwidth": "256",
        "karpenter.k8s.aws/instance-ebs-bandwidth": "2085",
    }
    it = full_catalog.get("t3.medium")
    assert it.requirements.get("topology.kubernetes.io/zone").value_set == {
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    }
    assert it.requirements.get("karpenter.sh/capacity-type").value_set == {"spot", "on-demand"}
    assert it.requirements.get("topology.k8s.aws/zone-id").value_set == {
        "use1-az1",
        "use1-az2",
        "use1-az3",
    }


def test_m5_large_t4g_medium_and_g4dn_xlarge_labels(full_catalog: Catalog) -> None:
    m5 = labels_of(full_catalog, "m5.large")
    assert m5["karpenter.k8s.aws/instance-memory"] == "8192"
    assert m5["karpenter.k8s.aws/instance-category"] == "m"
    t4g = labels_of(full_catalog, "t4g.medium")
    assert t4g["kubernetes.io/arch"] == "arm64"
    assert t4g["karpenter.k8s.aws/instance-cpu-manufacturer"] == "aws"
    g4dn = labels_of(full_catalog, "g4dn.xlarge")
    assert g4dn["karpenter.k8s.aws/instance-gpu-name"] == "t4"
    assert g4dn["karpenter.k8s.aws/instance-gpu-manufacturer"] == "nvidia"
    assert g4dn["karpenter.k8s.aws/instance-gpu-count"] == "1"
    assert g4dn["karpenter.k8s.aws/instance-gpu-memory"] == "16384"
    assert g4dn["karpenter.k8s.aws/instance-local-nvme"] == "125"
    inf1 = labels_of(full_catalog, "inf1.xlarge")
    assert inf1["karpenter.k8s.aws/instance-accelerator-name"] == "inferentia"
    assert inf1["karpenter.k8s.aws/instance-accelerator-manufacturer"] == "aws"


def test_bare_metal_has_an_empty_hypervisor(full_catalog: Catalog) -> None:
    assert labels_of(full_catalog, "c6a.metal")["karpenter.k8s.aws/instance-hypervisor"] == ""


def test_missing_facts_are_does_not_exist(full_catalog: Catalog) -> None:
    m5 = full_catalog.get("m5.large").requirements
    wants_gpu = reqs(("karpenter.k8s.aws/instance-gpu-count", "Exists", []))
    assert m5.compatible(wants_gpu) is not None
    assert full_catalog.get("g4dn.xlarge").requirements.compatible(wants_gpu) is None


def test_numeric_labels_work_with_gt_lt_gte_lte(full_catalog: Catalog) -> None:
    pod = reqs(
        ("karpenter.k8s.aws/instance-cpu", "Gt", ["2"]),
        ("karpenter.k8s.aws/instance-memory", "Lte", ["16384"]),
        ("karpenter.k8s.aws/instance-generation", "Gte", ["5"]),
        ("karpenter.k8s.aws/instance-cpu", "Lt", ["8"]),
    )
    fits = sorted(
        t.name for t in full_catalog.instance_types() if t.requirements.compatible(pod) is None
    )
    assert "m5.xlarge" in fits and "c5.xlarge" in fits
    assert "m5.large" not in fits  # 2 cpus
    assert "m4.xlarge" not in fits  # generation 4
    assert "m5.2xlarge" not in fits  # 8 cpus
    for name in fits:
        spec = spec_by_name(name)
        assert 2 < spec.vcpu < 8 and spec.memory_mib <= 16384 and spec.generation >= 5


def test_offerings_are_zone_by_capacity_type_with_prices(full_catalog: Catalog) -> None:
    it = full_catalog.get("m5.large")
    assert [(o.zone, o.capacity_type) for o in it.offerings] == [
        (z, ct) for z in ("us-east-1a", "us-east-1b", "us-east-1c") for ct in ("spot", "on-demand")
    ]
    on_demand = {o.price for o in it.offerings if o.capacity_type == "on-demand"}
    assert on_demand == {0.096}
    assert all(
        0.096 * 0.3 <= o.price <= 0.096 * 0.4 for o in it.offerings if o.capacity_type == "spot"
    )


def test_unpriced_types_are_not_offered(full_catalog: Catalog) -> None:
    names = {t.name for t in full_catalog.instance_types()}
    assert len(names) == 1363 - 18
    assert "p5e.48xlarge" not in names
    with pytest.raises(NotFoundError, match="has no price"):
        full_catalog.get("p5e.48xlarge")
    with pytest.raises(NotFoundError, match="not in the catalog"):
        full_catalog.get("m99.huge")
    assert full_catalog.spec("p5e.48xlarge").gpu_name == "h200"


def test_an_on_demand_override_prices_an_unpriced_type() -> None:
    catalog = Catalog(
        [spec_by_name("p5e.48xlarge")], pricing=Pricing(on_demand_overrides={"p5e.48xlarge": 80.0})
    )
    assert {
        o.price for o in catalog.get("p5e.48xlarge").offerings if o.capacity_type == "on-demand"
    } == {80.0}


def test_zones_and_region_are_arguments() -> None:
    clock = VirtualClock()
    catalog = small_catalog(clock)
    it = catalog.get("m5.large", zones=["us-east-1b"])
    assert {o.zone for o in it.offerings} == {"us-east-1b"}
    west = catalog.get("m5.large", zones=["us-west-2a"], region="us-west-2")
    assert west.requirements.labels()["topology.kubernetes.io/region"] == "us-west-2"
    assert west.requirements.labels()["topology.k8s.aws/zone-id"] == "usw2-az1"
    assert zone_id("ap-southeast-2", "ap-southeast-2c") == "apse2-az3"


# --- caching and availability ----------------------------------------------------------------


def test_repeated_calls_reuse_the_built_types() -> None:
    clock = VirtualClock()
    catalog = small_catalog(clock)
    first = catalog.instance_types()
    assert catalog.instance_types() == first
    assert all(a is b for a, b in zip(catalog.instance_types(), first, strict=True))
    # a node class with other sizing inputs gets its own sizing
    other = catalog.instance_types(node_class(kubelet={"maxPods": 20}))
    assert {t.capacity["pods"] for t in other} == {20}


def test_an_unavailable_offering_is_reported_until_the_ttl_passes() -> None:
    clock = VirtualClock()
    catalog = small_catalog(clock)
    before = {t.name: t for t in catalog.instance_types()}
    assert catalog.unavailable is not None
    catalog.unavailable.mark("m5.large", "us-east-1a", "spot")
    after = {t.name: t for t in catalog.instance_types()}
    down = [o for o in after["m5.large"].offerings if not o.available]
    assert [(o.zone, o.capacity_type) for o in down] == [("us-east-1a", "spot")]
    assert after["t3.medium"] is before["t3.medium"]  # unchanged types are reused
    assert (
        after["m5.large"].compatible_offerings(
            reqs(
                ("topology.kubernetes.io/zone", "In", ["us-east-1a"]),
                ("karpenter.sh/capacity-type", "In", ["spot"]),
            )
        )
        == ()
    )
    clock.advance(179)
    assert not all(o.available for o in catalog.get("m5.large").offerings)
    clock.advance(1)
    assert all(o.available for o in catalog.get("m5.large").offerings)


def test_zone_requirement_lists_only_available_zones() -> None:
    clock = VirtualClock()
    catalog = small_catalog(clock)
    assert catalog.unavailable is not None
    for ct in ("spot", "on-demand"):
        catalog.unavailable.mark("m5.large", "us-east-1c", ct)
    zone = catalog.get("m5.large").requirements.get("topology.kubernetes.io/zone")
    assert zone.value_set == {"us-east-1a", "us-east-1b"}


def test_reserved_offerings_come_from_reservations_and_count_down() -> None:
    clock = VirtualClock()
    availability = Availability(
        reservations=[CapacityReservation("cr-1", "m5.large", "us-east-1a", 2)]
    )
    catalog = small_catalog(clock, availability=availability)
    reserved = [o for o in catalog.get("m5.large").offerings if o.capacity_type == "reserved"]
    assert len(reserved) == 1 and reserved[0].reservation_id == "cr-1"
    assert reserved[0].remaining == 2 and reserved[0].available
    cheapest_other = min(
        o.price
        for t in catalog.instance_types()
        for o in t.offerings
        if o.capacity_type != "reserved"
    )
    assert 0 < reserved[0].price < cheapest_other
    labels = catalog.get("m5.large").requirements
    assert labels.get("karpenter.k8s.aws/capacity-reservation-id").value_set == {"cr-1"}
    assert labels.get("karpenter.sh/capacity-type").value_set == {"spot", "on-demand", "reserved"}
    availability.acquire("m5.large", "us-east-1a", "reserved", "cr-1")
    availability.acquire("m5.large", "us-east-1a", "reserved", "cr-1")
    used_up = next(o for o in catalog.get("m5.large").offerings if o.capacity_type == "reserved")
    assert used_up.remaining == 0 and not used_up.available


def test_published_types_read_from_csv_match_the_packaged_rows() -> None:
    with (PACKAGED / "instance_types.csv").open() as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    spec = spec_by_name("g4dn.xlarge")
    row = rows["g4dn.xlarge"]
    assert spec.vcpu == int(row["vcpu"]) and spec.memory_mib == int(row["memory_mib"])
    assert spec.on_demand_price == float(row["od_price_usd_hr_us_east_1"])
    with pytest.raises(NotFoundError, match=r"m99\.huge"):
        spec_by_name("m99.huge")


def test_empty_requirements_see_every_zone(full_catalog: Catalog) -> None:
    it = full_catalog.get("c5.large")
    assert len(it.compatible_offerings(Requirements())) == 6
