"""EC2NodeClass admission (Karpenter v1's CRD and CEL rules), defaults, and the sizing view."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import AmiAlias, EvictionThreshold, NodeClassView, SelectorTerm
from shipyard.autoscaler.apis.nodeclass import (
    DEFAULT_ROOT_VOLUME_SIZE,
    default_nodeclass,
    validate_nodeclass,
)
from shipyard.core.errors import FieldError, InvalidError
from tests.autoscaler.test_apis_manifests import DELETE, EC2NODECLASS_V1, Obj, load, patched

GiB = 2**30


def admit(obj: Obj) -> list[FieldError]:
    default_nodeclass(obj)
    return validate_nodeclass(obj, None)


def bdm(size: str | None = "100Gi", **extra: Any) -> dict[str, Any]:
    ebs = {"volumeType": "gp3"} if size is None else {"volumeSize": size, "volumeType": "gp3"}
    return {"deviceName": "/dev/xvda", "ebs": ebs, **extra}


AMI = "spec.amiSelectorTerms"
SUBNETS = "spec.subnetSelectorTerms"
GROUPS = "spec.securityGroupSelectorTerms"
KUBELET = "spec.kubelet"
SIGNALS = (
    "valid keys for evictionHard are ['memory.available','nodefs.available',"
    "'nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']"
)

INVALID = [
    # role and instance profile
    ("spec.role", DELETE, "spec", "must specify exactly one of ['role', 'instanceProfile']"),
    ("spec.instanceProfile", "KarpenterNodeInstanceProfile", "spec",
     "must specify exactly one of ['role', 'instanceProfile']"),
    ("spec.role", "", "spec.role", "role cannot be empty"),
    # AMI selection
    (AMI, DELETE, AMI, "Required value"),
    (AMI, [], AMI, "should have at least 1 items"),
    (AMI, [{"alias": "al2023"}], f"{AMI}[0].alias",
     "'alias' is improperly formatted, must match the format 'family@version'"),
    (AMI, [{"alias": "ubuntu@latest"}], f"{AMI}[0].alias",
     "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', "
     "'windows2019', 'windows2022'"),
    (AMI, [{"alias": "windows2022@v20240101"}], f"{AMI}[0].alias",
     "windows families may only specify version 'latest'"),
    (AMI, [{"alias": "bottlerocket@v1.20.3-0123456789abcdef"}], f"{AMI}[0].alias",
     "may not be more than 30 characters"),
    (AMI, [{"alias": "al2023@latest", "owner": "amazon"}], f"{AMI}[0]",
     "'alias' is mutually exclusive, cannot be set with a combination of other fields in "
     "amiSelectorTerms"),
    (AMI, [{"alias": "al2023@latest"}, {"id": "ami-0123"}], AMI,
     "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms"),
    (AMI, [{"id": "ami-0123", "tags": {"team": "ml"}}], f"{AMI}[0]",
     "'id' is mutually exclusive, cannot be set with a combination of other fields in "
     "amiSelectorTerms"),
    (AMI, [{"owner": "self"}], f"{AMI}[0]",
     "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']"),
    (AMI, [{"id": "ami_0123"}], f"{AMI}[0].id", "should match '^ami-[0-9a-z]+$'"),
    (AMI, [{"tags": {"team": ""}}], f"{AMI}[0].tags", "empty tag keys or values aren't supported"),
    (AMI, [{"name": "al2023-*"}], "spec",
     "must specify amiFamily if amiSelectorTerms does not contain an alias"),
    (AMI, [{"alias": "al2023@latest"}] * 31, AMI, "must have at most 30 items"),
    ("spec.amiFamily", "AL2", "spec",
     "if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias"),
    ("spec.amiFamily", "Ubuntu", "spec.amiFamily", 'Unsupported value: "Ubuntu"'),
    # subnets and security groups
    (SUBNETS, [], SUBNETS, "subnetSelectorTerms cannot be empty"),
    (SUBNETS, DELETE, SUBNETS, "Required value"),
    (SUBNETS, [{}], f"{SUBNETS}[0]", "expected at least one, got none, ['tags', 'id']"),
    (SUBNETS, [{"id": "subnet-0a1b", "tags": {"a": "b"}}], f"{SUBNETS}[0]",
     "'id' is mutually exclusive, cannot be set with a combination of other fields in a "
     "subnet selector term"),
    (SUBNETS, [{"id": "sg-0a1b"}], f"{SUBNETS}[0].id", "should match '^subnet-[0-9a-z]+$'"),
    (SUBNETS, [{"tags": {f"k{i}": "v" for i in range(21)}}], f"{SUBNETS}[0].tags",
     "must have at most 20 items"),
    (GROUPS, [], GROUPS, "securityGroupSelectorTerms cannot be empty"),
    (GROUPS, [{"name": "nodes", "tags": {"a": "b"}}], f"{GROUPS}[0]",
     "'name' is mutually exclusive, cannot be set with a combination of other fields in a "
     "security group selector term"),
    (GROUPS, [{"id": "sg-0a1b", "name": "nodes"}], f"{GROUPS}[0]",
     "'id' is mutually exclusive"),
    (GROUPS, [{"owner": "me"}], f"{GROUPS}[0].owner", 'unknown field "'),
    ("spec.capacityReservationSelectorTerms", [{"ownerID": "123"}],
     "spec.capacityReservationSelectorTerms[0].ownerID", "12-digit"),
    # tags
    ("spec.tags", {"kubernetes.io/cluster/demo": "owned"}, "spec.tags",
     "tag contains a restricted tag matching kubernetes.io/cluster/"),
    ("spec.tags", {"karpenter.sh/nodepool": "x"}, "spec.tags",
     "tag contains a restricted tag matching karpenter.sh/nodepool"),
    ("spec.tags", {"karpenter.sh/nodeclaim": "x"}, "spec.tags",
     "tag contains a restricted tag matching karpenter.sh/nodeclaim"),
    ("spec.tags", {"karpenter.k8s.aws/ec2nodeclass": "x"}, "spec.tags",
     "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass"),
    ("spec.tags", {"eks:eks-cluster-name": "x"}, "spec.tags",
     "tag contains a restricted tag matching eks:eks-cluster-name"),
    ("spec.tags", {"": "x"}, "spec.tags", "empty tag keys aren't supported"),
    # block devices
    ("spec.blockDeviceMappings", [bdm(rootVolume=True), bdm(rootVolume=True)],
     "spec.blockDeviceMappings", "must have only one blockDeviceMappings with rootVolume"),
    ("spec.blockDeviceMappings", [bdm(None)], "spec.blockDeviceMappings[0].ebs",
     "snapshotID or volumeSize must be defined"),
    ("spec.blockDeviceMappings", [bdm("65Ti")], "spec.blockDeviceMappings[0].ebs.volumeSize",
     "from 1Gi to 64Ti"),
    ("spec.blockDeviceMappings", [bdm("100Mi")], "spec.blockDeviceMappings[0].ebs.volumeSize",
     "whole number of Gi, G, Ti or T"),
    ("spec.blockDeviceMappings", [bdm("0Gi")], "spec.blockDeviceMappings[0].ebs.volumeSize",
     "from 1Gi"),
    ("spec.blockDeviceMappings", [bdm("1.5Ti")], "spec.blockDeviceMappings[0].ebs.volumeSize",
     "whole number"),
    ("spec.blockDeviceMappings", [{"ebs": {"volumeSize": "20Gi", "volumeType": "gp4"}}],
     "spec.blockDeviceMappings[0].ebs.volumeType", 'Unsupported value: "gp4"'),
    ("spec.blockDeviceMappings", [{"ebs": {"volumeSize": "20Gi", "volumeInitializationRate": 200}}],
     "spec.blockDeviceMappings[0].ebs", "snapshotID must be set when volumeInitializationRate"),
    # kubelet
    (f"{KUBELET}.maxPods", -1, f"{KUBELET}.maxPods", "must be greater than or equal to 0"),
    (f"{KUBELET}.podsPerCore", -2, f"{KUBELET}.podsPerCore", "must be greater than or equal to 0"),
    (f"{KUBELET}.kubeReserved", {"gpu": "1"}, f"{KUBELET}.kubeReserved",
     "valid keys for kubeReserved are ['cpu','memory','ephemeral-storage','pid']"),
    (f"{KUBELET}.systemReserved", {"memory": "-1Gi"}, f"{KUBELET}.systemReserved.memory",
     "systemReserved value cannot be a negative resource quantity"),
    (f"{KUBELET}.kubeReserved", {"cpu": "lots"}, f"{KUBELET}.kubeReserved.cpu",
     "must be a resource quantity"),
    (f"{KUBELET}.evictionHard", {"memory.free": "5%"}, f"{KUBELET}.evictionHard", SIGNALS),
    (f"{KUBELET}.evictionHard", {"memory.available": "101%"},
     f"{KUBELET}.evictionHard.memory.available", "a percentage up to 100%"),
    (f"{KUBELET}.evictionHard", {"memory.available": "5.123%"},
     f"{KUBELET}.evictionHard.memory.available", "a percentage up to 100%"),
    (f"{KUBELET}.evictionSoft", {"memory.available": "500Mi"}, KUBELET,
     "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"),
    (f"{KUBELET}.evictionSoftGracePeriod", {"memory.available": "1m"}, KUBELET,
     "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"),
    (f"{KUBELET}.evictionSoftGracePeriod", {"memory.available": "a minute"},
     f"{KUBELET}.evictionSoftGracePeriod.memory.available", "Invalid value"),
    (f"{KUBELET}.imageGCHighThresholdPercent", 101, f"{KUBELET}.imageGCHighThresholdPercent",
     "must be between 0 and 100"),
    (KUBELET, {"imageGCHighThresholdPercent": 50, "imageGCLowThresholdPercent": 50}, KUBELET,
     "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"),
    (f"{KUBELET}.maxpods", 110, f"{KUBELET}.maxpods", 'unknown field "'),
    # metadata options and the rest
    ("spec.metadataOptions.httpTokens", "sometimes", "spec.metadataOptions.httpTokens",
     'supported values: "required", "optional"'),
    ("spec.metadataOptions.httpEndpoint", "on", "spec.metadataOptions.httpEndpoint",
     'supported values: "enabled", "disabled"'),
    ("spec.metadataOptions.httpPutResponseHopLimit", 65,
     "spec.metadataOptions.httpPutResponseHopLimit", "must be between 1 and 64"),
    ("spec.instanceStorePolicy", "RAID1", "spec.instanceStorePolicy", 'supported values: "RAID0"'),
    ("spec.detailedMonitoring", "yes", "spec.detailedMonitoring", "must be of type boolean"),
    ("spec", DELETE, "spec", "Required value"),
    ("metadata.name", "n" * 64, "metadata.name", "must be no more than 63 characters"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "words"), INVALID)
def test_invalid_nodeclass_is_rejected_with_path_and_reason(
    field: str, value: Any, path: str, words: str
) -> None:
    causes = admit(patched(EC2NODECLASS_V1, field, value))
    assert any(c.path == path and words in c.message for c in causes), causes


VALID = [
    ("spec.amiFamily", "AL2023"),
    ("spec.amiFamily", DELETE),
    (AMI, [{"alias": "bottlerocket@v1.20.3"}]),
    (AMI, [{"alias": "windows2019@latest"}]),
    (AMI, [{"ssmParameter": "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/"
                            "standard/recommended/image_id"}]),
    (AMI, [{"tags": {"team": "ml"}, "owner": "self"}, {"name": "al2023-*", "owner": "amazon"}]),
    (SUBNETS, [{"id": "subnet-0a1b2c"}, {"tags": {"karpenter.sh/discovery": "*"}}]),
    (GROUPS, [{"id": "sg-0a1b2c"}, {"name": "eks-cluster-sg"}]),
    ("spec.tags", {"team": "ml", "kubernetes.io/role": "node"}),
    ("spec.blockDeviceMappings", [bdm("100Gi", rootVolume=True), bdm("1T"), bdm("64Ti")]),
    ("spec.blockDeviceMappings", [{"deviceName": "/dev/xvdb", "ebs": {"snapshotID": "snap-1",
                                   "volumeInitializationRate": 100}}]),
    (KUBELET, {
        "maxPods": 110, "podsPerCore": 10, "clusterDNS": ["10.100.0.10"],
        "kubeReserved": {"cpu": "100m", "memory": "1Gi", "ephemeral-storage": "1Gi", "pid": "100"},
        "systemReserved": {"cpu": "100m", "memory": "100Mi"},
        "evictionHard": {"memory.available": "5%", "nodefs.available": "10%",
                         "nodefs.inodesFree": "5%", "imagefs.available": "500Mi"},
        "evictionSoft": {"memory.available": "100.0%", "pid.available": ""},
        "evictionSoftGracePeriod": {"memory.available": "1m", "pid.available": "30s"},
        "evictionMaxPodGracePeriod": 60,
        "imageGCHighThresholdPercent": 85, "imageGCLowThresholdPercent": 80,
        "cpuCFSQuota": True,
    }),
    ("spec.metadataOptions", {"httpEndpoint": "disabled", "httpTokens": "optional"}),
    ("spec.userData", "#!/bin/bash\necho hello\n"),
    ("spec.instanceStorePolicy", "RAID0"),
    ("spec.associatePublicIPAddress", False),
    ("status", {"amis": [], "conditions": [{"type": "Ready", "status": "True"}]}),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), VALID)
def test_valid_nodeclass_is_admitted(field: str, value: Any) -> None:
    # Custom may accompany any alias, and an amiFamily is required without one.
    base = patched(EC2NODECLASS_V1, "spec.amiFamily", "Custom")
    assert admit(patched(base, field, value)) == []


def test_instance_profile_instead_of_role() -> None:
    obj = patched(EC2NODECLASS_V1, "spec.role", DELETE)
    obj = patched(obj, "spec.instanceProfile", "KarpenterNodeInstanceProfile")
    assert admit(obj) == []
    assert [str(c) for c in admit(patched(obj, "spec.instanceProfile", ""))] == [
        'spec.instanceProfile: Invalid value: "": instanceProfile cannot be empty'
    ]


def test_metadata_options_defaults() -> None:
    obj = load(EC2NODECLASS_V1)
    default_nodeclass(obj)
    assert obj["spec"]["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpProtocolIPv6": "disabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }
    partial = patched(EC2NODECLASS_V1, "spec.metadataOptions", {"httpPutResponseHopLimit": 2})
    default_nodeclass(partial)
    assert partial["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 2
    assert partial["spec"]["metadataOptions"]["httpTokens"] == "required"
    assert "kubelet" not in partial["spec"]  # Karpenter's CRD sets no kubelet defaults
    default_nodeclass({"spec": {"metadataOptions": "x"}})  # admission reports the shape


# --- the view -----------------------------------------------------------------------------


def test_view_of_the_getting_started_nodeclass() -> None:
    view = NodeClassView.from_object(load(EC2NODECLASS_V1))
    assert view.name == "default"
    assert (view.ami_family, view.ami_alias) == ("AL2023", AmiAlias("AL2023", "latest"))
    assert view.ami_selector_terms == (SelectorTerm(alias="al2023@latest"),)
    assert view.subnet_selector_terms == (
        SelectorTerm(tags={"karpenter.sh/discovery": "shipyard-demo"}),
    )
    assert (view.role, view.instance_profile) == ("KarpenterNodeRole-shipyard-demo", None)
    assert (view.max_pods, view.pods_per_core) == (None, None)
    assert view.kube_reserved == view.system_reserved == {}
    assert view.eviction_hard == {}
    assert view.root_volume_size is None
    assert view.ephemeral_storage == DEFAULT_ROOT_VOLUME_SIZE == 20 * GiB
    assert view.metadata_options["httpTokens"] == "required"


def test_view_carries_the_sizing_inputs() -> None:
    obj = patched(
        EC2NODECLASS_V1,
        "spec.kubelet",
        {
            "maxPods": 58,
            "podsPerCore": 4,
            "kubeReserved": {"cpu": "250m", "memory": "1Gi", "pid": "1000"},
            "systemReserved": {"ephemeral-storage": "1Gi"},
            "evictionHard": {"memory.available": "5%", "nodefs.available": "500Mi"},
            "evictionSoft": {"memory.available": "10%"},
            "evictionSoftGracePeriod": {"memory.available": "1m"},
            "clusterDNS": ["10.100.0.10"],
        },
    )
    view = NodeClassView.from_object(obj)
    assert (view.max_pods, view.pods_per_core) == (58, 4)
    assert view.kube_reserved == {"cpu": 250, "memory": GiB, "pid": 1000}
    assert view.system_reserved == {"ephemeral-storage": GiB}
    memory = view.eviction_hard["memory.available"]
    assert memory == EvictionThreshold(percent=5.0)
    assert memory.amount(8 * GiB) == int(8 * GiB * 0.05)
    assert view.eviction_hard["nodefs.available"].amount(100 * GiB) == 500 * 2**20
    assert view.eviction_soft == {"memory.available": EvictionThreshold(percent=10.0)}
    assert view.cluster_dns == ("10.100.0.10",)


@pytest.mark.parametrize(
    ("family", "alias", "mappings", "size"),
    [
        # the mapping marked rootVolume wins
        (None, "al2023@latest", [bdm("50Gi"), bdm("80Gi", rootVolume=True)], 80 * GiB),
        # else the family's root device: /dev/xvda for AL2023 ...
        (None, "al2023@latest", [bdm("60Gi")], 60 * GiB),
        # ... /dev/xvdb (the data volume) for Bottlerocket
        (None, "bottlerocket@latest",
         [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "4Gi"}},
          {"deviceName": "/dev/xvdb", "ebs": {"volumeSize": "100Gi"}}], 100 * GiB),
        (None, "windows2022@latest", [{"deviceName": "/dev/sda1", "ebs": {"volumeSize": "1T"}}],
         10**12),
        # Custom AMIs: the last mapping
        ("Custom", None, [bdm("30Gi"), {"deviceName": "/dev/sdf", "ebs": {"volumeSize": "40Gi"}}],
         40 * GiB),
        # a mapping on another device says nothing about the root volume
        (None, "al2023@latest", [{"deviceName": "/dev/sdf", "ebs": {"volumeSize": "40Gi"}}], None),
        (None, "al2023@latest", [], None),
    ],
)  # fmt: skip
def test_root_volume_size_follows_the_ami_family(
    family: str | None, alias: str | None, mappings: list[dict[str, Any]], size: int | None
) -> None:
    obj = patched(EC2NODECLASS_V1, "spec.blockDeviceMappings", mappings)
    if family is not None:
        obj = patched(obj, "spec.amiFamily", family)
        obj = patched(obj, "spec.amiSelectorTerms", [{"id": "ami-0123abcd"}])
    elif alias is not None:
        obj = patched(obj, "spec.amiSelectorTerms", [{"alias": alias}])
    view = NodeClassView.from_object(obj)
    assert view.root_volume_size == size
    assert view.ephemeral_storage == (size or DEFAULT_ROOT_VOLUME_SIZE)


def test_view_family_comes_from_ami_family_first() -> None:
    obj = patched(EC2NODECLASS_V1, "spec.amiFamily", "Custom")
    view = NodeClassView.from_object(obj)
    assert (view.ami_family, view.ami_alias) == ("Custom", AmiAlias("AL2023", "latest"))


def test_view_rejects_an_invalid_nodeclass() -> None:
    with pytest.raises(InvalidError) as caught:
        NodeClassView.from_object(patched(EC2NODECLASS_V1, "spec.role", DELETE))
    assert caught.value.subject == 'EC2NodeClass "default"'
    assert [c.path for c in caught.value.causes] == ["spec"]
