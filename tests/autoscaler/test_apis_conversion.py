"""Conversion of v1beta1 and alpha-era Karpenter manifests to v1: each warning, each rejection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.autoscaler.apis import (
    KUBELET_COMPATIBILITY_ANNOTATION,
    conversion_for,
    convert,
    default_nodeclass,
    default_nodepool,
    validate_nodeclass,
    validate_nodepool,
)
from shipyard.autoscaler.apis.nodeclaim import default_nodeclaim, validate_nodeclaim
from shipyard.core.errors import BadRequestError, InvalidError
from tests.autoscaler.test_apis_manifests import (
    AWSNODETEMPLATE_V1ALPHA1,
    DELETE,
    EC2NODECLASS_V1,
    EC2NODECLASS_V1BETA1,
    NODECLAIM_V1,
    NODEPOOL_V1,
    NODEPOOL_V1BETA1,
    PROVISIONER_V1ALPHA5,
    Obj,
    load,
    patched,
)

TSPEC = "spec.template.spec"


def converted(obj: str | Obj) -> tuple[Obj, list[str]]:
    return convert(load(obj) if isinstance(obj, str) else obj)


def admitted_as_v1(obj: Obj) -> list[str]:
    """The v1 admission problems of a converted object (none expected)."""
    defaults = {"NodePool": default_nodepool, "NodeClaim": default_nodeclaim}
    validators = {"NodePool": validate_nodepool, "NodeClaim": validate_nodeclaim}
    default = defaults.get(obj["kind"], default_nodeclass)
    validate = validators.get(obj["kind"], validate_nodeclass)
    default(obj)
    return [str(c) for c in validate(obj, None)]


def rejection(obj: Obj) -> list[str]:
    with pytest.raises(InvalidError) as caught:
        convert(obj)
    return [str(c) for c in caught.value.causes]


# --- whole manifests ----------------------------------------------------------------------


def test_getting_started_v1beta1_nodepool() -> None:
    pool, warnings = converted(NODEPOOL_V1BETA1)
    assert pool["apiVersion"] == "karpenter.sh/v1"
    assert pool["spec"]["disruption"] == {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "0s",
    }
    assert pool["spec"]["template"]["spec"]["expireAfter"] == "720h"
    assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "default",
    }
    assert warnings == [
        "spec.disruption.expireAfter moved to spec.template.spec.expireAfter",
        "spec.disruption.consolidationPolicy: WhenUnderutilized is now WhenEmptyOrUnderutilized",
        "spec.disruption.consolidateAfter set to 0s: v1 requires it, and 0s consolidates as "
        "soon as possible, as v1beta1 did",
        "spec.template.spec.nodeClassRef.apiVersion karpenter.k8s.aws/v1beta1 became group "
        "karpenter.k8s.aws",
    ]
    assert admitted_as_v1(pool) == []


def test_getting_started_v1beta1_nodeclass() -> None:
    nodeclass, warnings = converted(EC2NODECLASS_V1BETA1)
    assert nodeclass["apiVersion"] == "karpenter.k8s.aws/v1"
    assert "amiFamily" not in nodeclass["spec"]
    assert nodeclass["spec"]["amiSelectorTerms"] == [{"alias": "al2@latest"}]
    assert warnings == [
        "spec.amiFamily: AL2 without spec.amiSelectorTerms became spec.amiSelectorTerms: "
        "[{alias: al2@latest}]",
        "spec.metadataOptions.httpPutResponseHopLimit set to 2, the default before v1 "
        "(v1 defaults to 1)",
    ]
    assert admitted_as_v1(nodeclass) == []
    assert nodeclass["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 2


def test_v1alpha5_provisioner_becomes_a_nodepool() -> None:
    pool, warnings = converted(PROVISIONER_V1ALPHA5)
    assert (pool["apiVersion"], pool["kind"]) == ("karpenter.sh/v1", "NodePool")
    assert pool["spec"] == {
        "limits": {"cpu": 1000},
        "template": {
            "spec": {
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
                ],
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": "default",
                },
            }
        },
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"},
    }
    assert warnings == [
        "kind Provisioner (karpenter.sh/v1alpha5) became NodePool",
        "spec.requirements moved to spec.template.spec.requirements",
        "spec.limits.resources moved to spec.limits",
        "spec.providerRef was replaced by spec.template.spec.nodeClassRef (group: "
        "karpenter.k8s.aws, kind: EC2NodeClass, name: default)",
        "spec.ttlSecondsAfterEmpty: 30 became spec.disruption.consolidationPolicy: WhenEmpty "
        "with consolidateAfter: 30s",
    ]
    assert admitted_as_v1(pool) == []


def test_v1alpha1_awsnodetemplate_becomes_an_ec2nodeclass() -> None:
    nodeclass, warnings = converted(AWSNODETEMPLATE_V1ALPHA1)
    assert (nodeclass["apiVersion"], nodeclass["kind"]) == ("karpenter.k8s.aws/v1", "EC2NodeClass")
    assert nodeclass["spec"]["subnetSelectorTerms"] == [
        {"tags": {"karpenter.sh/discovery": "shipyard-demo"}}
    ]
    assert nodeclass["spec"]["amiSelectorTerms"] == [{"alias": "al2@latest"}]
    assert warnings[0] == "kind AWSNodeTemplate (karpenter.k8s.aws/v1alpha1) became EC2NodeClass"
    assert 'spec.subnetSelector became spec.subnetSelectorTerms: [{"tags":' in warnings[1]
    assert "spec.securityGroupSelector became spec.securityGroupSelectorTerms" in warnings[2]
    assert warnings[3] == "spec.amiFamily was not set: AL2, the v1alpha1 default, assumed"
    assert admitted_as_v1(nodeclass) == []


@pytest.mark.parametrize("manifest", [NODEPOOL_V1, EC2NODECLASS_V1, NODECLAIM_V1])
def test_v1_manifests_pass_unchanged(manifest: str) -> None:
    obj = load(manifest)
    assert convert(obj) == (obj, [])
    assert convert(obj)[0] is not obj
    assert conversion_for(obj["apiVersion"], obj["kind"]) is None


def test_conversion_for_names_every_older_kind() -> None:
    for api_version, kind in [
        ("karpenter.sh/v1beta1", "NodePool"),
        ("karpenter.sh/v1beta1", "NodeClaim"),
        ("karpenter.k8s.aws/v1beta1", "EC2NodeClass"),
        ("karpenter.sh/v1alpha5", "Provisioner"),
        ("karpenter.sh/v1alpha5", "Machine"),
        ("karpenter.k8s.aws/v1alpha1", "AWSNodeTemplate"),
    ]:
        assert conversion_for(api_version, kind) is not None, kind
    assert conversion_for("karpenter.sh/v1beta1", "Provisioner") is None
    with pytest.raises(BadRequestError, match="no conversion to Karpenter v1 for Foo"):
        convert({"apiVersion": "karpenter.sh/v1beta1", "kind": "Foo"})


def test_odd_shapes_are_left_for_v1_admission_to_report() -> None:
    shapes: list[Any] = ["x", None, []]
    for spec in shapes:
        pool, warnings = convert(patched(BETA, "spec", spec))
        assert (pool["apiVersion"], pool["spec"], warnings) == ("karpenter.sh/v1", spec, [])
    odd = patched(BETA, f"{TSPEC}.requirements", [{"key": 5, "operator": "In"}, "x"])
    assert convert(odd)[0]["spec"]["template"]["spec"]["requirements"] == [
        {"key": 5, "operator": "In"},
        "x",
    ]


def test_conversion_leaves_its_input_alone() -> None:
    obj = load(NODEPOOL_V1BETA1)
    convert(obj)
    assert obj == load(NODEPOOL_V1BETA1)


# --- NodePool: one warning per converted field --------------------------------------------

BETA = load(NODEPOOL_V1BETA1)

# The alpha-era rows start from a NodePool without the v1beta1 field they replace.
NO_DISRUPTION = patched(BETA, "spec.disruption", DELETE)
NO_REF = patched(BETA, f"{TSPEC}.nodeClassRef", DELETE)

KUBELET_NOTE = f"metadata.annotations.{KUBELET_COMPATIBILITY_ANNOTATION}"
REF = f"{TSPEC}.nodeClassRef"
AWS_REF = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
CONSOLIDATE_AFTER = "spec.disruption.consolidateAfter"

# (v1beta1 NodePool, {field set: value}, {where it lands: what it is there}, warning)
NODEPOOL_WARNINGS = [
    (BETA, {REF: {"name": "gpu"}}, {REF: {"name": "gpu", **AWS_REF}},
     "spec.template.spec.nodeClassRef.kind set to EC2NodeClass"),
    (BETA, {REF: {"kind": "EC2NodeClass", "name": "gpu"}}, {REF: {"name": "gpu", **AWS_REF}},
     "spec.template.spec.nodeClassRef.group set to karpenter.k8s.aws"),
    (BETA, {REF: {"apiVersion": "", "kind": "EC2NodeClass", "name": "gpu"}},
     {f"{REF}.group": "karpenter.k8s.aws"},
     "spec.template.spec.nodeClassRef.apiVersion  became group karpenter.k8s.aws"),
    (BETA, {f"{TSPEC}.kubelet": {"maxPods": 110, "kubeReserved": {"cpu": "200m"}}},
     {KUBELET_NOTE: '{"kubeReserved":{"cpu":"200m"},"maxPods":110}', f"{TSPEC}.kubelet": None},
     "spec.template.spec.kubelet moved to the EC2NodeClass (spec.kubelet): set it there; it is "
     "kept in the annotation compatibility.karpenter.sh/v1beta1-kubelet-conversion and not "
     "applied"),
    (BETA, {f"{TSPEC}.resources": {"requests": {"cpu": "1"}}}, {f"{TSPEC}.resources": None},
     "spec.template.spec.resources dropped: a v1 NodePool template has no resources"),
    (BETA, {"spec.disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}},
     {"spec.disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}}, None),
    (BETA, {"spec.disruption": {"consolidationPolicy": "WhenUnderutilized",
                                "consolidateAfter": "Never"}},
     {CONSOLIDATE_AFTER: "Never"},
     "spec.disruption.consolidationPolicy: WhenUnderutilized is now WhenEmptyOrUnderutilized"),
    (BETA, {"spec.disruption": {"budgets": [{"nodes": "0"}]}}, {CONSOLIDATE_AFTER: "0s"},
     "spec.disruption.consolidateAfter set to 0s: v1 requires it, and 0s consolidates as soon "
     "as possible, as v1beta1 did"),
    (BETA, {"spec.disruption": {"consolidateAfter": "1m", "nodes": "20%"}},
     {"spec.disruption.budgets": [{"nodes": "20%"}]},
     "spec.disruption.nodes became spec.disruption.budgets: [{nodes: 20%}]"),
    (BETA, {"spec.disruption": DELETE}, {"spec.disruption": None}, None),  # v1 defaults apply
    # alpha-era fields pasted into a v1beta1 NodePool
    (NO_DISRUPTION, {"spec.ttlSecondsUntilExpired": 604800}, {f"{TSPEC}.expireAfter": "168h"},
     "spec.ttlSecondsUntilExpired: 604800 became spec.template.spec.expireAfter: 168h"),
    (NO_DISRUPTION, {"spec.ttlSecondsUntilExpired": 90}, {f"{TSPEC}.expireAfter": "90s"},
     "spec.ttlSecondsUntilExpired: 90 became spec.template.spec.expireAfter: 90s"),
    (NO_DISRUPTION, {"spec.ttlSecondsAfterEmpty": 300},
     {CONSOLIDATE_AFTER: "5m", "spec.disruption.consolidationPolicy": "WhenEmpty"},
     "spec.ttlSecondsAfterEmpty: 300 became spec.disruption.consolidationPolicy: WhenEmpty "
     "with consolidateAfter: 5m"),
    (NO_DISRUPTION, {"spec.consolidation": {"enabled": True}},
     {"spec.disruption.consolidationPolicy": "WhenEmptyOrUnderutilized", CONSOLIDATE_AFTER: "0s"},
     "spec.consolidation.enabled: true became spec.disruption.consolidationPolicy: "
     "WhenEmptyOrUnderutilized"),
    (NO_DISRUPTION, {"spec.consolidation": {"enabled": False}}, {CONSOLIDATE_AFTER: "Never"},
     "spec.consolidation.enabled: false became spec.disruption.consolidateAfter: Never "
     "(no consolidation)"),
    (NO_REF, {"spec.providerRef": {"name": "gpu"}}, {REF: {**AWS_REF, "name": "gpu"}},
     "spec.providerRef was replaced by spec.template.spec.nodeClassRef (group: "
     "karpenter.k8s.aws, kind: EC2NodeClass, name: gpu)"),
    (NO_REF, {f"{TSPEC}.providerRef": {"name": "gpu", "kind": "AWSNodeTemplate"}},
     {REF: {**AWS_REF, "name": "gpu"}, f"{TSPEC}.providerRef": None},
     "spec.template.spec.providerRef was replaced by spec.template.spec.nodeClassRef"),
    (BETA, {"spec.labels": {"team": "ml"}}, {"spec.template.metadata.labels": {"team": "ml"}},
     "spec.labels moved to spec.template.metadata.labels"),
    (BETA, {"spec.annotations": {"example.com/a": "b"}},
     {"spec.template.metadata.annotations": {"example.com/a": "b"}},
     "spec.annotations moved to spec.template.metadata.annotations"),
    (BETA, {"spec.taints": [{"key": "gpu", "effect": "NoSchedule"}]},
     {f"{TSPEC}.taints": [{"key": "gpu", "effect": "NoSchedule"}]},
     "spec.taints moved to spec.template.spec.taints"),
    (BETA, {"spec.startupTaints": [{"key": "cni", "effect": "NoExecute"}]},
     {f"{TSPEC}.startupTaints": [{"key": "cni", "effect": "NoExecute"}]},
     "spec.startupTaints moved to spec.template.spec.startupTaints"),
    (BETA, {"spec.kubeletConfiguration": {"maxPods": 20}}, {KUBELET_NOTE: '{"maxPods":20}'},
     "spec.kubeletConfiguration moved to the EC2NodeClass (spec.kubelet)"),
    (BETA, {"spec.limits": {"resources": {"cpu": "64", "memory": "256Gi"}}},
     {"spec.limits": {"cpu": "64", "memory": "256Gi"}},
     "spec.limits.resources moved to spec.limits"),
]  # fmt: skip


def value_at(obj: Obj, path: str) -> Any:
    """The value at a dotted path; an annotation key (which has dots) is taken whole."""
    prefix = "metadata.annotations."
    if path.startswith(prefix):
        return (obj["metadata"].get("annotations") or {}).get(path.removeprefix(prefix))
    holder: Any = obj
    for key in path.split("."):
        holder = holder.get(key) if isinstance(holder, dict) else None
    return holder


@pytest.mark.parametrize(("base", "changes", "expected", "warning"), NODEPOOL_WARNINGS)
def test_nodepool_field_conversion(
    base: Obj, changes: dict[str, Any], expected: dict[str, Any], warning: str | None
) -> None:
    for field, value in changes.items():
        base = patched(base, field, value)
    pool, warnings = convert(base)
    assert {path: value_at(pool, path) for path in expected} == expected
    if warning is not None:
        assert sum(w.startswith(warning) for w in warnings) == 1, warnings
    assert admitted_as_v1(pool) == []


def test_v1beta1_nodeclaim() -> None:
    claim = load(NODECLAIM_V1)
    claim["apiVersion"] = "karpenter.sh/v1beta1"
    claim["spec"]["nodeClassRef"] = {"apiVersion": "karpenter.k8s.aws/v1beta1", "name": "default"}
    claim["spec"]["kubelet"] = {"maxPods": 110}
    del claim["spec"]["expireAfter"]
    out, warnings = convert(claim)
    assert out["spec"]["nodeClassRef"] == {
        "name": "default",
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
    }
    assert "kubelet" not in out["spec"]
    assert warnings == [
        "spec.nodeClassRef.apiVersion karpenter.k8s.aws/v1beta1 became group karpenter.k8s.aws",
        "spec.nodeClassRef.kind set to EC2NodeClass",
        "spec.kubelet dropped: a v1 NodeClaim takes its kubelet settings from its EC2NodeClass "
        "(spec.kubelet)",
    ]
    assert admitted_as_v1(out) == []
    assert out["spec"]["expireAfter"] == "720h"


# --- duplicated requirement keys ----------------------------------------------------------


def req(key: str, operator: str, *values: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": key, "operator": operator, **extra}
    if values:
        entry["values"] = list(values)
    return entry


CATEGORY = "karpenter.k8s.aws/instance-category"

MERGES = [
    ([req(CATEGORY, "In", "c", "m", "r"), req(CATEGORY, "In", "m", "r", "t")],
     req(CATEGORY, "In", "m", "r")),
    ([req(CATEGORY, "In", "c", "m", "r"), req(CATEGORY, "NotIn", "r")],
     req(CATEGORY, "In", "c", "m")),
    ([req(CATEGORY, "NotIn", "t"), req(CATEGORY, "NotIn", "a")], req(CATEGORY, "NotIn", "a", "t")),
    ([req(CATEGORY, "Exists"), req(CATEGORY, "Exists")], req(CATEGORY, "Exists")),
    ([req(CATEGORY, "In", "c", "m", minValues=1), req(CATEGORY, "In", "c", "m", "r", minValues=2)],
     req(CATEGORY, "In", "c", "m", minValues=2)),
    ([req("beta.kubernetes.io/arch", "In", "amd64"), req("kubernetes.io/arch", "In", "amd64")],
     req("kubernetes.io/arch", "In", "amd64")),
]  # fmt: skip


@pytest.mark.parametrize(("entries", "merged"), MERGES)
def test_duplicated_requirement_keys_are_merged(
    entries: list[dict[str, Any]], merged: dict[str, Any]
) -> None:
    first = req("kubernetes.io/os", "In", "linux")
    pool, warnings = convert(patched(BETA, f"{TSPEC}.requirements", [first, *entries]))
    assert pool["spec"]["template"]["spec"]["requirements"] == [first, merged]
    assert f"{TSPEC}.requirements[2] merged into {TSPEC}.requirements[1]: " in warnings[-1]
    assert admitted_as_v1(pool) == []


def test_bounds_on_one_key_stay_as_written() -> None:
    bounds = [req("karpenter.k8s.aws/instance-cpu", "Gt", "3"),
              req("karpenter.k8s.aws/instance-cpu", "Lt", "33")]  # fmt: skip
    pool, warnings = convert(patched(BETA, f"{TSPEC}.requirements", bounds))
    assert pool["spec"]["template"]["spec"]["requirements"] == bounds
    assert not any("merged" in w for w in warnings)


def test_disjoint_duplicated_keys_are_rejected_with_the_requirement_to_write() -> None:
    entries = [
        req("karpenter.sh/capacity-type", "In", "spot"),
        req("karpenter.sh/capacity-type", "In", "on-demand"),
    ]
    (cause,) = rejection(patched(BETA, f"{TSPEC}.requirements", entries))
    assert cause.startswith(f'{TSPEC}.requirements[1]: Invalid value: "karpenter.sh/capacity-type"')
    assert "have no value in common" in cause
    assert "{key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}" in cause


# --- rejections ---------------------------------------------------------------------------

NODEPOOL_REJECTIONS = [
    ("spec.provider", {"subnetSelector": {"a": "b"}}, "spec.provider",
     "Forbidden: inline provider settings are not supported: put them in an EC2NodeClass"),
    ("spec.ttlSecondsAfterEmpty", "30s", "spec.ttlSecondsAfterEmpty", "must be whole seconds"),
    ("spec.ttlSecondsUntilExpired", -1, "spec.ttlSecondsUntilExpired", "must be whole seconds"),
    ("spec.providerRef", {"kind": "AWSNodeTemplate"}, "spec.providerRef.name", "Required value"),
    ("spec.requirements", [req("a", "Exists")], "spec.requirements",
     "Forbidden: also set at spec.template.spec.requirements; keep only "
     "spec.template.spec.requirements"),
    (f"{TSPEC}.expireAfter", "24h", "spec.disruption.expireAfter",
     "Forbidden: also set at spec.template.spec.expireAfter"),
    ("spec.disruption", {"consolidationPolicy": "WhenEmpty"}, "spec.disruption.consolidateAfter",
     "Required value: consolidationPolicy WhenEmpty needs consolidateAfter"),
    ("spec.disruption", {"consolidateAfter": "1m", "nodes": "5", "budgets": [{"nodes": "1"}]},
     "spec.disruption.nodes", "Forbidden: also set at spec.disruption.budgets"),
    ("spec.providerRef", {"name": "other"}, "spec.providerRef",
     "Forbidden: also set at spec.template.spec.nodeClassRef"),
    ("spec.template", "default", "spec.taints",
     "Forbidden: cannot move to spec.template.spec.taints, which is not an object"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "words"), NODEPOOL_REJECTIONS)
def test_nodepool_without_a_faithful_v1_form_is_rejected(
    field: str, value: Any, path: str, words: str
) -> None:
    base = patched(BETA, "spec.taints", [{"key": "gpu", "effect": "NoSchedule"}])
    causes = rejection(patched(base, field, value))
    assert any(c.startswith(f"{path}: ") and words in c for c in causes), causes


def test_ttl_after_empty_and_consolidation_together_are_rejected() -> None:
    obj = patched(PROVISIONER_V1ALPHA5, "spec.consolidation", {"enabled": True})
    (cause,) = rejection(obj)
    assert cause.startswith("spec.ttlSecondsAfterEmpty: Forbidden: cannot be combined with")
    assert "consolidationPolicy: WhenEmptyOrUnderutilized" in cause


def test_machine_is_rejected_with_what_to_write() -> None:
    machine = {"apiVersion": "karpenter.sh/v1alpha5", "kind": "Machine", "metadata": {"name": "m"}}
    (cause,) = rejection(machine)
    assert cause.startswith("kind: Forbidden: Machine (karpenter.sh/v1alpha5) is no longer served")
    assert "write a NodePool instead" in cause


# --- EC2NodeClass -------------------------------------------------------------------------

NODECLASS_BETA = load(EC2NODECLASS_V1BETA1)


@pytest.mark.parametrize(
    ("family", "alias"),
    [
        ("AL2", "al2@latest"),
        ("AL2023", "al2023@latest"),
        ("Bottlerocket", "bottlerocket@latest"),
        ("Windows2019", "windows2019@latest"),
        ("Windows2022", "windows2022@latest"),
    ],
)
def test_ami_family_without_terms_becomes_an_alias(family: str, alias: str) -> None:
    nodeclass, warnings = convert(patched(NODECLASS_BETA, "spec.amiFamily", family))
    assert nodeclass["spec"]["amiSelectorTerms"] == [{"alias": alias}]
    assert "amiFamily" not in nodeclass["spec"]
    assert warnings[0] == (
        f"spec.amiFamily: {family} without spec.amiSelectorTerms became "
        f"spec.amiSelectorTerms: [{{alias: {alias}}}]"
    )
    assert admitted_as_v1(nodeclass) == []


def test_ami_family_with_terms_stays() -> None:
    obj = patched(NODECLASS_BETA, "spec.amiSelectorTerms", [{"id": "ami-0a1b"}, {"id": "ami-2c3d"}])
    nodeclass, warnings = convert(obj)
    assert nodeclass["spec"]["amiFamily"] == "AL2"
    assert nodeclass["spec"]["amiSelectorTerms"] == [{"id": "ami-0a1b"}, {"id": "ami-2c3d"}]
    assert not any("amiFamily" in w for w in warnings)
    assert admitted_as_v1(nodeclass) == []


def test_ubuntu_becomes_al2_with_its_root_volume() -> None:
    obj = patched(NODECLASS_BETA, "spec.amiFamily", "Ubuntu")
    obj = patched(obj, "spec.amiSelectorTerms", [{"name": "ubuntu-eks/k8s_1.30/*"}])
    nodeclass, warnings = convert(obj)
    assert nodeclass["spec"]["amiFamily"] == "AL2"
    assert nodeclass["spec"]["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/sda1",
            "rootVolume": True,
            "ebs": {"encrypted": True, "volumeType": "gp3", "volumeSize": "20Gi"},
        }
    ]
    assert warnings[:2] == [
        "spec.amiFamily: Ubuntu became AL2 (the same bootstrap format)",
        "spec.blockDeviceMappings set to Ubuntu's root volume (/dev/sda1, 20Gi gp3, encrypted), "
        "which AL2 does not default to",
    ]
    assert admitted_as_v1(nodeclass) == []
    own = patched(obj, "spec.blockDeviceMappings", [{"ebs": {"volumeSize": "50Gi"}}])
    assert convert(own)[0]["spec"]["blockDeviceMappings"] == [{"ebs": {"volumeSize": "50Gi"}}]


def test_hop_limit_keeps_the_old_default_only_when_unset() -> None:
    obj = patched(NODECLASS_BETA, "spec.metadataOptions", {"httpTokens": "optional"})
    assert convert(obj)[0]["spec"]["metadataOptions"] == {
        "httpTokens": "optional",
        "httpPutResponseHopLimit": 2,
    }
    written = patched(obj, "spec.metadataOptions.httpPutResponseHopLimit", 1)
    nodeclass, warnings = convert(written)
    assert nodeclass["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert not any("httpPutResponseHopLimit" in w for w in warnings)


ALPHA = load(AWSNODETEMPLATE_V1ALPHA1)

SELECTORS = [
    ("spec.subnetSelector", {"aws-ids": "subnet-0a1b, subnet-2c3d"}, "spec.subnetSelectorTerms",
     [{"id": "subnet-0a1b"}, {"id": "subnet-2c3d"}]),
    ("spec.securityGroupSelector", {"aws-ids": "sg-0a1b"}, "spec.securityGroupSelectorTerms",
     [{"id": "sg-0a1b"}]),
    ("spec.amiSelector", {"aws::ids": "ami-0a1b,ami-2c3d"}, "spec.amiSelectorTerms",
     [{"id": "ami-0a1b"}, {"id": "ami-2c3d"}]),
    ("spec.amiSelector", {"aws::name": "my-ami-*", "aws::owners": "self,123456789012"},
     "spec.amiSelectorTerms",
     [{"name": "my-ami-*", "owner": "self"}, {"name": "my-ami-*", "owner": "123456789012"}]),
    ("spec.amiSelector", {"team": "ml"}, "spec.amiSelectorTerms", [{"tags": {"team": "ml"}}]),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "target", "terms"), SELECTORS)
def test_alpha_selectors_become_terms(field: str, value: Any, target: str, terms: Any) -> None:
    nodeclass, warnings = convert(patched(ALPHA, field, value))
    assert value_at(nodeclass, target) == terms
    assert any(w.startswith(f"{field} became {target}: ") for w in warnings)
    assert admitted_as_v1(nodeclass) == []


NODECLASS_REJECTIONS = [
    (ALPHA, "spec.launchTemplate", "my-template", "spec.launchTemplate",
     "Forbidden: launch templates are not supported"),
    (ALPHA, "spec.instanceProfile", DELETE, "spec.role",
     "Required value: v1alpha1 nodes used the controller's default instance profile"),
    (ALPHA, "spec.subnetSelector", {"aws-ids": "subnet-1", "team": "a"}, "spec.subnetSelector",
     "Forbidden: aws-ids cannot be combined with tags or names"),
    (ALPHA, "spec.subnetSelector", "subnet-1", "spec.subnetSelector", "must be a map of tags"),
    (ALPHA, "spec.subnetSelectorTerms", [{"id": "subnet-9"}], "spec.subnetSelector",
     "Forbidden: also set at spec.subnetSelectorTerms"),
    (NODECLASS_BETA, "spec.amiFamily", "Ubuntu", "spec.amiFamily",
     "v1 has no Ubuntu alias: select your Ubuntu AMIs with spec.amiSelectorTerms"),
    (NODECLASS_BETA, "spec.amiFamily", DELETE, "spec.amiFamily",
     "Required value: choose the AMIs, for example spec.amiSelectorTerms: "
     "[{alias: al2023@latest}]"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "field", "value", "path", "words"), NODECLASS_REJECTIONS)
def test_nodeclass_without_a_faithful_v1_form_is_rejected(
    base: Obj, field: str, value: Any, path: str, words: str
) -> None:
    causes = rejection(patched(base, field, value))
    assert any(c.startswith(f"{path}: ") and words in c for c in causes), causes


def test_rejection_names_the_object() -> None:
    with pytest.raises(InvalidError) as caught:
        convert(patched(BETA, "spec.provider", {}))
    assert caught.value.subject == 'NodePool "default"'
    assert json.dumps(load(NODEPOOL_V1BETA1))  # the fixture itself stays convertible
