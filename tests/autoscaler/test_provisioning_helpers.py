"""Builders for the provisioning tests: instance types sized like Karpenter's AWS provider,
pods, pools, existing nodes, and a brute-force cost oracle. (No tests live here.)

Instance types follow Karpenter's AWS allocatable formulas: VM memory overhead 7.5 %,
kube-reserved cpu (6 % of the first core, 1 % of the second, 0.5 % of the next two, 0.25 %
above), kube-reserved memory ``11 MiB × maxPods + 255 MiB``, eviction threshold 100 MiB.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from shipyard.autoscaler.provisioning import ExistingNode, PoolTemplate
from shipyard.cloud.provider import InstanceType, Offering, Overhead, add_resources, fits
from shipyard.core.labels import (
    ARCH,
    CAPACITY_TYPE,
    INSTANCE_CPU,
    INSTANCE_FAMILY,
    INSTANCE_MEMORY,
    INSTANCE_TYPE,
    OS,
    ZONE,
)
from shipyard.core.requirements import IN, Requirement, Requirements, pod_requirement_terms
from shipyard.core.taints import Taint

Obj = dict[str, Any]
MI = 1024 * 1024
GI = 1024 * MI
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
ON_DEMAND, SPOT = "on-demand", "spot"


def kube_reserved_cpu(vcpus: int) -> int:
    millis = 0.0
    for core in range(vcpus):
        millis += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
    return math.ceil(millis)


def instance_type(
    name: str,
    vcpus: int,
    memory_gib: float,
    max_pods: int,
    price: float,
    *,
    arch: str = "amd64",
    zones: Sequence[str] = ZONES,
    spot_discount: float | None = None,
    unavailable: Iterable[tuple[str, str]] = (),
    extra_labels: Mapping[str, str] | None = None,
    aws_overhead: bool = True,
) -> InstanceType:
    """An instance type with on-demand offerings in ``zones`` (and spot at a discount)."""
    memory_mib = int(memory_gib * 1024)
    capacity = {"cpu": vcpus * 1000, "pods": max_pods}
    if aws_overhead:
        capacity["memory"] = (memory_mib - math.ceil(memory_mib * 0.075)) * MI
        overhead = Overhead(
            kube_reserved={"cpu": kube_reserved_cpu(vcpus), "memory": (11 * max_pods + 255) * MI},
            eviction_threshold={"memory": 100 * MI},
        )
    else:
        capacity["memory"] = memory_mib * MI
        overhead = Overhead()
    off = set(unavailable)
    offerings = [Offering(z, ON_DEMAND, price, (z, ON_DEMAND) not in off) for z in zones]
    capacity_types = [ON_DEMAND]
    if spot_discount is not None:
        capacity_types.append(SPOT)
        for i, z in enumerate(zones):
            spot = round(price * (1 - spot_discount) * (1 + 0.05 * i), 5)
            offerings.append(Offering(z, SPOT, spot, (z, SPOT) not in off))
    labels = {
        INSTANCE_TYPE: name,
        ARCH: arch,
        OS: "linux",
        INSTANCE_FAMILY: name.split(".", 1)[0],
        INSTANCE_CPU: str(vcpus),
        INSTANCE_MEMORY: str(memory_mib),
        **(extra_labels or {}),
    }
    reqs = Requirements.from_labels(labels).add(
        Requirement.create(ZONE, IN, list(zones)),
        Requirement.create(CAPACITY_TYPE, IN, capacity_types),
    )
    return InstanceType(name, reqs, capacity, overhead, tuple(offerings))


# Real vCPU / GiB / max pods / us-east-1 on-demand $/h (Linux).
T3_MEDIUM = ("t3.medium", 2, 4, 17, 0.0416, "amd64")
T3_LARGE = ("t3.large", 2, 8, 35, 0.0832, "amd64")
T4G_MEDIUM = ("t4g.medium", 2, 4, 17, 0.0336, "arm64")
T4G_LARGE = ("t4g.large", 2, 8, 35, 0.0672, "arm64")
T3_XLARGE = ("t3.xlarge", 4, 16, 58, 0.1664, "amd64")
T3_2XLARGE = ("t3.2xlarge", 8, 32, 58, 0.3328, "amd64")
C5_LARGE = ("c5.large", 2, 4, 29, 0.085, "amd64")
C5_XLARGE = ("c5.xlarge", 4, 8, 58, 0.17, "amd64")
M5_LARGE = ("m5.large", 2, 8, 29, 0.096, "amd64")
M5_XLARGE = ("m5.xlarge", 4, 16, 58, 0.192, "amd64")
R5_LARGE = ("r5.large", 2, 16, 29, 0.126, "amd64")


def aws_types(*specs: tuple[str, int, int, int, float, str], **kw: Any) -> list[InstanceType]:
    return [
        instance_type(name, cpu, mem, pods, price, arch=arch, **kw)
        for name, cpu, mem, pods, price, arch in specs
    ]


def acceptance_types(**kw: Any) -> list[InstanceType]:
    return aws_types(T3_MEDIUM, T3_LARGE, T4G_MEDIUM, T4G_LARGE, **kw)


def pool(
    types: Sequence[InstanceType],
    name: str = "default",
    *,
    weight: int = 0,
    requirements: Iterable[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
    taints: Iterable[Taint] = (),
    startup_taints: Iterable[Taint] = (),
    limits: Mapping[str, int] | None = None,
) -> PoolTemplate:
    return PoolTemplate(
        name=name,
        instance_types=list(types),
        weight=weight,
        requirements=Requirements.from_node_selector_requirements(list(requirements)),
        labels=dict(labels or {}),
        taints=tuple(taints),
        startup_taints=tuple(startup_taints),
        remaining_limits=None if limits is None else dict(limits),
    )


def req(key: str, operator: str, *values: str, min_values: int | None = None) -> Obj:
    out: Obj = {"key": key, "operator": operator, "values": list(values)}
    if min_values is not None:
        out["minValues"] = min_values
    return out


_counter = itertools.count()


def pod(
    name: str | None = None,
    cpu: str = "100m",
    memory: str = "128Mi",
    *,
    labels: Mapping[str, str] | None = None,
    namespace: str = "default",
    **spec: Any,
) -> Obj:
    """A pending pod; ``spec`` keys are merged into ``spec`` (nodeSelector, affinity, ...)."""
    name = name or f"pod-{next(_counter)}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "labels": dict(labels or {}),
        },
        "spec": {
            "containers": [
                {"name": "main", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
            **spec,
        },
    }


def spread(
    key: str, labels: Mapping[str, str], *, skew: int = 1, hard: bool = True, **extra: Any
) -> Obj:
    return {
        "maxSkew": skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": {"matchLabels": dict(labels)},
        **extra,
    }


def pod_affinity(key: str, labels: Mapping[str, str], *, anti: bool = False) -> Obj:
    term = {"topologyKey": key, "labelSelector": {"matchLabels": dict(labels)}}
    kind = "podAntiAffinity" if anti else "podAffinity"
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def node(
    name: str,
    *,
    cpu: int = 2000,
    memory: int = 4 * GI,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    requested: Mapping[str, int] | None = None,
    taints: Iterable[Taint] = (),
    bound: Sequence[Obj] = (),
    initialized: bool = True,
    nodepool: str = "",
    startup_taints: Iterable[Taint] = (),
) -> ExistingNode:
    return ExistingNode(
        name=name,
        labels={"kubernetes.io/hostname": name, **(labels or {})},
        allocatable={"cpu": cpu, "memory": memory, "pods": pods},
        requested=dict(requested or {}),
        taints=tuple(taints),
        pods=list(bound),
        nodepool=nodepool,
        startup_taints=tuple(startup_taints),
        initialized=initialized,
    )


def requests_of(p: Obj) -> dict[str, int]:
    from shipyard.cluster.podutil import pod_requests

    out = {k: v for k, v in pod_requests(p).items() if v}
    out["pods"] = 1
    return out


# --- the brute-force oracle --------------------------------------------------------------------


def partitions(items: list[int]) -> Iterator[list[list[int]]]:
    """Every set partition of ``items`` (Bell-number many)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in partitions(rest):
        for i in range(len(smaller)):
            yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1 :]]
        yield [[first], *smaller]


def block_price(
    pods: Sequence[Obj], p: PoolTemplate, overhead: Mapping[str, int] | None = None
) -> float:
    """The cheapest offering of any allowed type that holds the pods together (inf: none)."""
    reqs = p.template_requirements()
    for member in pods:
        pod_reqs = pod_requirement_terms(member)[0]
        if reqs.compatible(pod_reqs) is not None:
            return math.inf
        reqs = reqs.intersection(pod_reqs)
    total = add_resources(overhead or {}, *(requests_of(m) for m in pods))
    best = math.inf
    for it in p.instance_types:
        if any(
            not it.requirements.get(k).intersects(reqs.get(k)) for k in it.requirements if k in reqs
        ):
            continue
        if not fits(total, it.allocatable):
            continue
        price = it.cheapest_price(reqs)
        if price is not None:
            best = min(best, price)
    return best


def oracle_cost(
    pods: Sequence[Obj], p: PoolTemplate, overhead: Mapping[str, int] | None = None
) -> float:
    """Minimum over every partition of the pods of the summed block prices."""
    best = math.inf
    for parts in partitions(list(range(len(pods)))):
        total = sum(block_price([pods[i] for i in part], p, overhead) for part in parts)
        best = min(best, total)
    return best
