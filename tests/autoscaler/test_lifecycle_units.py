"""The lifecycle's pure parts: launch requests, claim details, node registration and
initialization, cordon, the drain plan, options and the Ready roll-up."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import NodeClaimView
from shipyard.autoscaler.lifecycle import (
    DISRUPTED_TAINT,
    LifecycleOptions,
    apply_instance,
    compatible_instance_types,
    cordon,
    format_resources,
    initialization,
    launch_request,
    plan_node_drain,
    register_node,
)
from shipyard.autoscaler.lifecycle.launch import describe_offerings, format_price
from shipyard.autoscaler.lifecycle.model import init_conditions, roll_up_ready
from shipyard.autoscaler.lifecycle.nodes import mark_initialized, without_finalizer
from shipyard.cloud.provider import Instance
from shipyard.core.clock import VirtualClock
from shipyard.core.objects import Obj
from shipyard.core.requirements import IN, Requirement, Requirements
from tests.autoscaler.test_lifecycle_helpers import condition, make_claim, small_catalog

GPU = "nvidia.com/gpu"
UNREGISTERED = {"key": "karpenter.sh/unregistered", "effect": "NoExecute"}
STARTUP = {"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}
DEDICATED = {"key": "dedicated", "value": "web", "effect": "NoSchedule"}


def stored(claim: Obj, uid: str = "uid-1") -> Obj:
    """The claim as the store returns it (a uid, a creation time)."""
    claim["metadata"]["uid"] = uid
    claim["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    return claim


def view_of(claim: Obj) -> NodeClaimView:
    return NodeClaimView.from_object(claim)


def instance(**overrides: Any) -> Instance:
    base: dict[str, Any] = {
        "provider_id": "aws:///us-east-1b/i-00000000000000001",
        "instance_id": "i-00000000000000001",
        "instance_type": "t3.large",
        "zone": "us-east-1b",
        "capacity_type": "on-demand",
        "price": 0.0832,
        "state": "running",
        "launch_time": 0.0,
        "capacity": {"cpu": 2000, "memory": 8 * 2**30, "pods": 35},
        "allocatable": {"cpu": 1930, "memory": 7 * 2**30, "pods": 35},
        "labels": {"node.kubernetes.io/instance-type": "t3.large", "example.com/team": "web"},
        "image_id": "ami-0123",
    }
    base.update(overrides)
    return Instance(**base)


def node(**overrides: Any) -> Obj:
    base: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "ip-10-0-0-1.ec2.internal", "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"providerID": "aws:///us-east-1b/i-00000000000000001", "taints": []},
        "status": {
            "allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "35"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for key, value in overrides.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    return base


# --- launch ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "units", "text"),
    [
        ("cpu", 1930, "1930m"),
        ("cpu", 2000, "2"),
        ("memory", 3403677696, "3246Mi"),
        ("memory", 1536 * 1024, "1536Ki"),
        ("memory", 8 * 2**30, "8Gi"),
        ("ephemeral-storage", 20 * 2**30, "20Gi"),
        ("pods", 17, "17"),
        (GPU, 1, "1"),
        ("hugepages-2Mi", 2**21, "2Mi"),
    ],
)
def test_resources_print_as_kubernetes_quantities(resource: str, units: int, text: str) -> None:
    assert format_resources({resource: units}) == {resource: text}


@pytest.mark.parametrize(
    ("price", "text"),
    [(0.0416, "0.0416"), (0.1, "0.1"), (1.0, "1"), (0.0, "0"), (0.12345678, "0.123457")],
)
def test_price_is_a_short_decimal(price: float, text: str) -> None:
    assert format_price(price) == text


def test_offerings_are_described_ten_at_most() -> None:
    offerings = [("t3.medium", f"us-east-1{z}", "spot") for z in "abcdefghijkl"]
    text = describe_offerings(offerings)
    assert text.startswith("t3.medium/us-east-1a/spot, t3.medium/us-east-1b/spot")
    assert text.endswith("and 2 more")


@pytest.mark.parametrize(
    ("types", "extra", "requests", "expected"),
    [
        (["t3.medium", "t3.large"], [], {}, ["t3.medium", "t3.large"]),
        (["t3.medium", "t3.large"], [], {"memory": 6 * 2**30}, ["t3.large"]),
        (
            ["t3.medium", "m5.large"],
            [("karpenter.k8s.aws/instance-family", IN, ["m5"])],
            {},
            ["m5.large"],
        ),
        (["t3.medium"], [("topology.kubernetes.io/zone", IN, ["us-west-2a"])], {}, []),
        (["t3.medium"], [], {GPU: 1}, []),
    ],
)
def test_compatible_instance_types(
    types: list[str],
    extra: list[tuple[str, str, list[str]]],
    requests: dict[str, int],
    expected: list[str],
) -> None:
    catalog = small_catalog(VirtualClock())
    requirements = Requirements(
        [
            Requirement.create("node.kubernetes.io/instance-type", IN, types),
            *(Requirement.create(k, op, v) for k, op, v in extra),
        ]
    )
    found = compatible_instance_types(catalog.instance_types(), requirements, requests)
    assert [t.name for t in found] == expected


def test_launch_request_carries_labels_taints_and_tags() -> None:
    claim = stored(make_claim(taints=[DEDICATED], startup_taints=[STARTUP]))
    claim["spec"]["requirements"].append(
        {"key": "example.com/tier", "operator": "In", "values": ["gold"]}
    )
    types = small_catalog(VirtualClock()).instance_types()[:2]
    request = launch_request(claim, view_of(claim), types, {"spec": {"tags": {"team": "platform"}}})
    assert request.claim_name == "default-x7k2p"
    assert request.nodepool == "default"
    assert [t.name for t in request.instance_types] == [t.name for t in types]
    # well-known labels (capacity type, instance type) come from the cloud, not the request
    assert request.labels == {
        "karpenter.sh/nodepool": "default",
        "example.com/team": "web",
        "example.com/tier": "gold",
    }
    assert list(request.taints) == [DEDICATED, STARTUP, UNREGISTERED]
    assert request.tags == {
        "team": "platform",
        "karpenter.sh/nodepool": "default",
        "karpenter.sh/nodeclaim": "default-x7k2p",
        "karpenter.k8s.aws/ec2nodeclass": "default",
    }


def test_apply_instance_records_what_the_claim_became() -> None:
    claim = stored(make_claim())
    apply_instance(claim, instance())
    assert claim["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "t3.large"
    assert claim["metadata"]["labels"]["karpenter.sh/nodepool"] == "default"
    assert claim["metadata"]["annotations"] == {
        "example.com/owner": "web-team",
        "shipyard.dev/price": "0.0832",
    }
    assert claim["status"] == {
        "providerID": "aws:///us-east-1b/i-00000000000000001",
        "imageID": "ami-0123",
        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "35"},
        "allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "35"},
    }


# --- registration ------------------------------------------------------------------------------


def test_registration_syncs_labels_taints_finalizer_and_owner() -> None:
    claim = stored(make_claim(taints=[DEDICATED], startup_taints=[STARTUP]))
    claim["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    registered = register_node(
        node(spec={"taints": [UNREGISTERED, STARTUP]}), claim, view_of(claim)
    )
    md = registered["metadata"]
    assert md["labels"] == {
        "kubernetes.io/os": "linux",
        "karpenter.sh/nodepool": "default",
        "example.com/team": "web",
        "karpenter.sh/registered": "true",
    }
    assert md["annotations"] == {"example.com/owner": "web-team"}
    assert registered["spec"]["taints"] == [STARTUP, DEDICATED]
    assert md["finalizers"] == ["karpenter.sh/termination"]
    assert md["ownerReferences"] == [
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "name": "default-x7k2p",
            "uid": "uid-1",
            "blockOwnerDeletion": True,
        }
    ]
    assert register_node(registered, claim, view_of(claim)) == registered  # idempotent


def test_startup_taints_are_added_only_at_the_first_registration() -> None:
    claim = stored(make_claim(startup_taints=[STARTUP]))
    first = register_node(node(spec={"taints": [UNREGISTERED]}), claim, view_of(claim))
    assert first["spec"]["taints"] == [STARTUP]
    first["spec"]["taints"] = []  # the CNI removed its taint
    again = register_node(first, claim, view_of(claim))
    assert "taints" not in again["spec"]


# --- initialization ----------------------------------------------------------------------------

NOT_READY = {"conditions": [{"type": "Ready", "status": "False"}]}


@pytest.mark.parametrize(
    ("node_overrides", "claim_overrides", "expected"),
    [
        ({}, {}, ("True", "Initialized")),
        ({"status": NOT_READY}, {}, ("Unknown", "NodeNotReady")),
        (
            {"spec": {"taints": [STARTUP]}},
            {"startup_taints": [STARTUP]},
            ("Unknown", "StartupTaintsExist"),
        ),
        ({"spec": {"taints": [STARTUP]}}, {}, ("True", "Initialized")),  # not the claim's
        (
            {"spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}},
            {},
            ("Unknown", "StartupTaintsExist"),
        ),
        ({}, {"requests": {"cpu": "1", GPU: "1"}}, ("Unknown", "ResourceNotRegistered")),
        (
            {"status": {"allocatable": {"cpu": "2", GPU: "1"}}},
            {"requests": {"cpu": "1", GPU: "1"}},
            ("True", "Initialized"),
        ),
    ],
)
def test_initialization_verdict(
    node_overrides: dict[str, Any], claim_overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    claim = stored(make_claim(**claim_overrides))
    status, reason, _message = initialization(node(**node_overrides), claim, view_of(claim))
    assert (status, reason) == expected


def test_extended_resources_of_the_instance_must_register() -> None:
    claim = stored(make_claim())
    claim["status"] = {"allocatable": {"cpu": "2", GPU: "4"}}
    status, reason, message = initialization(node(), claim, view_of(claim))
    assert (status, reason) == ("Unknown", "ResourceNotRegistered")
    assert GPU in message


def test_initialized_label_is_added_once() -> None:
    marked = mark_initialized(node())
    assert marked is not None
    assert marked["metadata"]["labels"]["karpenter.sh/initialized"] == "true"
    assert mark_initialized(marked) is None


# --- termination -------------------------------------------------------------------------------


def test_cordon_adds_the_disrupted_taint_once() -> None:
    cordoned = cordon(node(spec={"taints": [DEDICATED]}))
    assert cordoned is not None
    assert cordoned["spec"]["unschedulable"] is True
    assert cordoned["spec"]["taints"] == [DEDICATED, DISRUPTED_TAINT.to_dict()]
    assert cordon(cordoned) is None


def test_finalizer_removal_keeps_the_others() -> None:
    obj = {"metadata": {"name": "n", "finalizers": ["a", "karpenter.sh/termination"]}}
    assert without_finalizer(obj) == {"metadata": {"name": "n", "finalizers": ["a"]}}
    assert without_finalizer({"metadata": {"name": "n"}}) is None
    alone = {"metadata": {"name": "n", "finalizers": ["karpenter.sh/termination"]}}
    assert without_finalizer(alone) == {"metadata": {"name": "n"}}


def pod(name: str, **spec: Any) -> Obj:
    md: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    for key in ("ownerReferences", "annotations", "deletionTimestamp"):
        if key in spec:
            md[key] = spec.pop(key)
    phase = spec.pop("phase", "Running")
    return {"metadata": md, "spec": {"nodeName": "n1", **spec}, "status": {"phase": phase}}


DS_REF = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}]
RS_REF = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "controller": True}]
TOLERATE_ALL = [{"operator": "Exists"}]


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def plan(pods: list[Obj], *, now: float = 100.0, deadline: float | None = None) -> Any:
    return plan_node_drain(pods, now=now, deadline=deadline, daemon_set_exists=lambda ns, n: True)


def test_drain_ignores_daemonsets_mirrors_finished_and_tolerating_pods() -> None:
    result = plan(
        [
            pod("agent", ownerReferences=DS_REF),
            pod("static", annotations={"kubernetes.io/config.mirror": "x"}),
            pod("done", phase="Succeeded"),
            pod("stays", tolerations=TOLERATE_ALL),
            pod("web", ownerReferences=RS_REF),
        ]
    )
    assert names(result.evict) == names(result.waiting) == ["web"]
    assert not result.drained


def test_drain_evicts_critical_pods_after_the_others() -> None:
    dns = pod("coredns", priorityClassName="system-cluster-critical")
    web = pod("web")
    assert names(plan([dns, web]).evict) == ["web"]
    web_leaving = pod("web", deletionTimestamp="2026-01-01T00:00:00Z")
    result = plan([dns, web_leaving])
    assert names(result.evict) == []  # web is still terminating
    assert names(result.waiting) == ["coredns", "web"]
    assert names(plan([dns]).evict) == ["coredns"]


def test_do_not_disrupt_pods_wait_for_the_grace_period() -> None:
    pinned = pod("batch", annotations={"karpenter.sh/do-not-disrupt": "true"})
    result = plan([pinned], now=100.0, deadline=200.0)
    assert (names(result.evict), names(result.delete)) == ([], [])
    assert result.next_deadline == 170.0  # deadline minus its 30 s grace
    late = plan([pinned], now=170.0, deadline=200.0)
    assert names(late.delete) == ["batch"]


def test_pods_with_long_grace_are_deleted_early() -> None:
    slow = pod("slow", terminationGracePeriodSeconds=120)
    quick = pod("quick", terminationGracePeriodSeconds=10)
    result = plan([slow, quick], now=100.0, deadline=200.0)
    assert names(result.delete) == ["slow"]
    assert names(result.evict) == ["quick"]


def test_nothing_to_drain_is_drained() -> None:
    assert plan([pod("agent", ownerReferences=DS_REF)]).drained


# --- options and conditions --------------------------------------------------------------------


def test_backoff_doubles_up_to_the_limit() -> None:
    options = LifecycleOptions(backoff_base=1.0, backoff_max=10.0)
    assert [options.backoff(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"launch_timeout": 0},
        {"drain_poll": -1},
        {"backoff_base": 0},
        {"backoff_base": 5, "backoff_max": 1},
    ],
)
def test_options_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LifecycleOptions(**kwargs)


def test_ready_rolls_up_the_first_condition_not_true() -> None:
    claim: Obj = {"status": {}}
    init_conditions(claim, 0.0)
    roll_up_ready(claim, 0.0)
    assert condition(claim, "Ready") == ("Unknown", "AwaitingReconciliation")
    claim["status"]["conditions"][0].update(status="True", reason="Launched")
    claim["status"]["conditions"][1].update(status="False", reason="UnregisteredTaintNotFound")
    roll_up_ready(claim, 1.0)
    assert condition(claim, "Ready") == ("False", "UnregisteredTaintNotFound")
    for cond in claim["status"]["conditions"][:3]:
        cond["status"] = "True"
    roll_up_ready(claim, 2.0)
    assert condition(claim, "Ready") == ("True", "Ready")


def test_public_api_is_exported() -> None:
    from shipyard.autoscaler import lifecycle

    assert len(set(lifecycle.__all__)) == len(lifecycle.__all__)
    for name in lifecycle.__all__:
        assert getattr(lifecycle, name) is not None, name
    assert {"NodeClaimLifecycle", "NodeClaimGarbageCollector"} <= set(lifecycle.__all__)
