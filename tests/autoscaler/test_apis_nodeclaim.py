"""NodeClaim admission (Karpenter v1's CRD), its default, the immutable spec, and its view."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import NodeClaimView, NodeClassRef
from shipyard.autoscaler.apis.nodeclaim import default_nodeclaim, validate_nodeclaim
from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.taints import Taint
from tests.autoscaler.test_apis_manifests import DELETE, NODECLAIM_V1, Obj, load, patched


def admit(obj: Obj, old: Obj | None = None) -> list[FieldError]:
    default_nodeclaim(obj)
    if old is not None:
        default_nodeclaim(old)
    return validate_nodeclaim(obj, old)


INVALID = [
    ("spec.requirements[0].key", "kubernetes.io/hostname", "spec.requirements[0].key",
     'label "kubernetes.io/hostname" is restricted'),
    ("spec.requirements[0].key", "karpenter.sh/owner", "spec.requirements[0].key",
     'label domain "karpenter.sh" is restricted'),
    ("spec.requirements[1].values", [], "spec.requirements[1].values",
     "operator 'In' must have a value"),
    ("spec.requirements[1].minValues", 3, "spec.requirements[1].minValues",
     "must have at least that many values"),
    ("spec.requirements", DELETE, "spec.requirements", "Required value"),
    ("spec.resources.requests.cpu", "lots", "spec.resources.requests.cpu",
     "quantities must match"),
    ("spec.resources.limits", {"cpu": "1"}, "spec.resources.limits", 'unknown field "'),
    ("spec.taints", [{"key": "a", "effect": "Never"}], "spec.taints[0].effect",
     "Unsupported value"),
    ("spec.startupTaints", [{"key": "a", "effect": "NoSchedule"}] * 2, "spec.startupTaints[1]",
     "taints must be unique by key and effect pair"),
    ("spec.nodeClassRef", DELETE, "spec.nodeClassRef", "Required value"),
    ("spec.nodeClassRef.kind", "", "spec.nodeClassRef.kind", "kind may not be empty"),
    ("spec.expireAfter", "forever", "spec.expireAfter", "or Never"),
    ("spec.terminationGracePeriod", "1d", "spec.terminationGracePeriod", "should match"),
    ("spec.kubelet", {"maxPods": 110}, "spec.kubelet", 'unknown field "'),
    ("spec", DELETE, "spec", "Required value"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "words"), INVALID)
def test_invalid_nodeclaim_is_rejected_with_path_and_reason(
    field: str, value: Any, path: str, words: str
) -> None:
    causes = admit(patched(NODECLAIM_V1, field, value))
    assert any(c.path == path and words in c.message for c in causes), causes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spec.requirements[0].key", "karpenter.sh/nodepool"),  # allowed here, not in NodePools
        ("spec.requirements[1].operator", "NotIn"),
        ("spec.terminationGracePeriod", "24h"),
        ("spec.expireAfter", "Never"),
        ("spec.resources", DELETE),
        ("status", {"providerID": "aws:///us-west-2a/i-0abc", "capacity": {"cpu": "2"}}),
    ],
)
def test_valid_nodeclaim_is_admitted(field: str, value: Any) -> None:
    assert admit(patched(NODECLAIM_V1, field, value)) == []


def test_expire_after_defaults_to_720h() -> None:
    obj = patched(NODECLAIM_V1, "spec.expireAfter", DELETE)
    default_nodeclaim(obj)
    assert obj["spec"]["expireAfter"] == "720h"
    kept = patched(NODECLAIM_V1, "spec.expireAfter", "Never")
    default_nodeclaim(kept)
    assert kept["spec"]["expireAfter"] == "Never"
    default_nodeclaim({"spec": "x"})  # bad shapes are admission's to report


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spec.expireAfter", "24h"),
        ("spec.requirements[1].values", ["m5.large"]),
        ("spec.nodeClassRef.name", "other"),
        ("spec.taints", [{"key": "a", "effect": "NoSchedule"}]),
    ],
)
def test_spec_is_immutable(field: str, value: Any) -> None:
    old = load(NODECLAIM_V1)
    assert [str(c) for c in admit(patched(old, field, value), old)] == [
        'spec: Invalid value: "object": spec is immutable'
    ]


def test_metadata_and_status_may_change() -> None:
    old = load(NODECLAIM_V1)
    new = patched(old, "metadata.labels.example", "x")
    new = patched(new, "status", {"nodeName": "ip-10-0-0-1", "conditions": []})
    assert admit(new, old) == []


def test_view() -> None:
    obj = patched(NODECLAIM_V1, "spec.taints", [{"key": "gpu", "effect": "NoSchedule"}])
    obj = patched(obj, "spec.terminationGracePeriod", "2h")
    view = NodeClaimView.from_object(obj)
    assert view.name == "default-x7k2p"
    assert view.requests == {"cpu": 1500, "memory": 3 * 2**30, "pods": 5}
    assert view.requirements.get("node.kubernetes.io/instance-type").values() == {
        "m5.large",
        "m5.xlarge",
    }
    assert view.taints == (Taint("gpu"),)
    assert view.startup_taints == ()
    assert view.node_class_ref == NodeClassRef("karpenter.k8s.aws", "EC2NodeClass", "default")
    assert (view.expire_after, view.termination_grace_period) == (720 * 3600, 7200)
    with pytest.raises(InvalidError, match=r"spec\.nodeClassRef: Required value"):
        NodeClaimView.from_object(patched(obj, "spec.nodeClassRef", DELETE))
