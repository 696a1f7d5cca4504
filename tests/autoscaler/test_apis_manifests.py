"""Karpenter's getting-started manifests through a real store: names, defaults, admission, columns.

The manifests below are the ones Karpenter's getting-started guide and its v1beta1/v1alpha5
predecessors show (with the cluster name filled in); the other ``test_apis_*`` files build
their cases from them with :func:`patched`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from shipyard.autoscaler import apis
from shipyard.autoscaler.apis import karpenter_kinds, v1beta1_kinds
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError
from shipyard.core.objects import json_copy
from shipyard.store.backends import MemoryBackend
from shipyard.store.kinds import builtin_scheme
from shipyard.store.scheme import KindInfo, Scheme
from shipyard.store.store import Store

Obj = dict[str, Any]

NODEPOOL_V1 = """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: ["amd64"]
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
        - key: karpenter.sh/capacity-type
          operator: In
          values: ["on-demand"]
        - key: karpenter.k8s.aws/instance-category
          operator: In
          values: ["c", "m", "r"]
        - key: karpenter.k8s.aws/instance-generation
          operator: Gt
          values: ["2"]
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: default
      expireAfter: 720h # 30 * 24h = 720h
  limits:
    cpu: 1000
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1m
"""

EC2NODECLASS_V1 = """
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  role: "KarpenterNodeRole-shipyard-demo"
  amiSelectorTerms:
    - alias: "al2023@latest"
  subnetSelectorTerms:
    - tags:
        karpenter.sh/discovery: "shipyard-demo"
  securityGroupSelectorTerms:
    - tags:
        karpenter.sh/discovery: "shipyard-demo"
"""

NODECLAIM_V1 = """
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: default-x7k2p
  labels:
    karpenter.sh/nodepool: default
    node.kubernetes.io/instance-type: m5.large
    karpenter.sh/capacity-type: on-demand
    topology.kubernetes.io/zone: us-west-2a
  annotations:
    shipyard.dev/price: "0.096"
spec:
  requirements:
    - key: karpenter.sh/nodepool
      operator: In
      values: ["default"]
    - key: node.kubernetes.io/instance-type
      operator: In
      values: ["m5.large", "m5.xlarge"]
    - key: karpenter.sh/capacity-type
      operator: In
      values: ["on-demand"]
  resources:
    requests:
      cpu: 1500m
      memory: 3Gi
      pods: "5"
  nodeClassRef:
    group: karpenter.k8s.aws
    kind: EC2NodeClass
    name: default
  expireAfter: 720h
"""

NODEPOOL_V1BETA1 = """
apiVersion: karpenter.sh/v1beta1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: ["amd64"]
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
        - key: karpenter.sh/capacity-type
          operator: In
          values: ["spot"]
        - key: karpenter.k8s.aws/instance-category
          operator: In
          values: ["c", "m", "r"]
        - key: karpenter.k8s.aws/instance-generation
          operator: Gt
          values: ["2"]
      nodeClassRef:
        apiVersion: karpenter.k8s.aws/v1beta1
        kind: EC2NodeClass
        name: default
  limits:
    cpu: 1000
  disruption:
    consolidationPolicy: WhenUnderutilized
    expireAfter: 720h # 30 * 24h = 720h
"""

EC2NODECLASS_V1BETA1 = """
apiVersion: karpenter.k8s.aws/v1beta1
kind: EC2NodeClass
metadata:
  name: default
spec:
  amiFamily: AL2 # Amazon Linux 2
  role: "KarpenterNodeRole-shipyard-demo"
  subnetSelectorTerms:
    - tags:
        karpenter.sh/discovery: "shipyard-demo"
  securityGroupSelectorTerms:
    - tags:
        karpenter.sh/discovery: "shipyard-demo"
"""

PROVISIONER_V1ALPHA5 = """
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: default
spec:
  requirements:
    - key: karpenter.sh/capacity-type
      operator: In
      values: ["spot"]
  limits:
    resources:
      cpu: 1000
  providerRef:
    name: default
  ttlSecondsAfterEmpty: 30
"""

AWSNODETEMPLATE_V1ALPHA1 = """
apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata:
  name: default
spec:
  instanceProfile: KarpenterNodeInstanceProfile-shipyard-demo
  subnetSelector:
    karpenter.sh/discovery: shipyard-demo
  securityGroupSelector:
    karpenter.sh/discovery: shipyard-demo
"""


def load(text: str) -> Obj:
    loaded: Obj = yaml.safe_load(text)
    return loaded


DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def patched(base: str | Obj, path: str, value: Any) -> Obj:
    """A copy of the manifest with ``path`` (``spec.a[0].b``) set to ``value`` (or DELETE)."""
    obj: Obj = load(base) if isinstance(base, str) else json_copy(base)
    steps: list[str | int] = [
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)
    ]
    holder: Any = obj
    for step in steps[:-1]:
        if isinstance(step, str) and holder.get(step) is None:
            holder[step] = {}
        holder = holder[step]
    last = steps[-1]
    if value is DELETE:
        del holder[last]
    else:
        holder[last] = value
    return obj


def karpenter_scheme() -> Scheme:
    scheme = builtin_scheme()
    for info in [*karpenter_kinds(), *v1beta1_kinds()]:
        scheme.add(info)
    return scheme


@pytest.fixture
def store() -> Store:
    return Store(MemoryBackend(), karpenter_scheme(), VirtualClock())


def info_of(obj: Obj) -> KindInfo:
    return karpenter_scheme().get(obj["apiVersion"], obj["kind"])


# --- kinds --------------------------------------------------------------------------------

# (resource, short names, apiVersion, kind) as `kubectl api-resources` lists Karpenter's CRDs.
API_RESOURCES = [
    ("nodeclaims", (), "karpenter.sh/v1", "NodeClaim"),
    ("nodepools", (), "karpenter.sh/v1", "NodePool"),
    ("ec2nodeclasses", ("ec2nc", "ec2ncs"), "karpenter.k8s.aws/v1", "EC2NodeClass"),
]


@pytest.mark.parametrize(("plural", "short", "api_version", "kind"), API_RESOURCES)
def test_kinds_are_served_as_karpenter_names_them(
    plural: str, short: tuple[str, ...], api_version: str, kind: str
) -> None:
    scheme = karpenter_scheme()
    info = scheme.get(api_version, kind)
    assert (info.plural, info.short_names, info.namespaced, info.has_status) == (
        plural,
        short,
        False,
        True,
    )
    for name in (plural, kind.lower(), info.resource, *short):
        assert scheme.resolve(name) is info  # v1 wins over the v1beta1 version of the name


def test_v1beta1_versions_are_served_too() -> None:
    served = {(i.api_version, i.kind) for i in v1beta1_kinds()}
    assert served == {
        ("karpenter.sh/v1beta1", "NodePool"),
        ("karpenter.sh/v1beta1", "NodeClaim"),
        ("karpenter.k8s.aws/v1beta1", "EC2NodeClass"),
    }


def test_public_api_is_exported() -> None:
    for name in apis.__all__:
        assert hasattr(apis, name), name
    assert sorted(apis.__all__) == sorted(set(apis.__all__))


# --- through the store --------------------------------------------------------------------


@pytest.mark.parametrize("manifest", [NODEPOOL_V1, EC2NODECLASS_V1, NODECLAIM_V1])
def test_getting_started_manifests_are_admitted(store: Store, manifest: str) -> None:
    created = store.create(load(manifest))
    assert created["metadata"]["resourceVersion"]


def test_store_applies_nodepool_defaults(store: Store) -> None:
    minimal = patched(NODEPOOL_V1, "spec.disruption", DELETE)
    minimal = patched(minimal, "spec.template.spec.expireAfter", DELETE)
    created = store.create(minimal)
    assert created["spec"]["disruption"] == {
        "consolidateAfter": "0s",
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "budgets": [{"nodes": "10%"}],
    }
    assert created["spec"]["template"]["spec"]["expireAfter"] == "720h"
    assert "weight" not in created["spec"]


def test_store_rejects_an_invalid_nodepool_with_every_path(store: Store) -> None:
    bad = patched(NODEPOOL_V1, "spec.weight", 101)
    bad = patched(bad, "spec.template.spec.requirements[4].values", ["two"])
    with pytest.raises(InvalidError) as caught:
        store.create(bad)
    assert caught.value.subject == 'NodePool "default"'
    messages = {c.path: c.message for c in caught.value.causes}
    assert sorted(messages) == ["spec.template.spec.requirements[4].values", "spec.weight"]
    assert "must be between 1 and 100" in messages["spec.weight"]
    assert (
        "must have a single non-negative integer value"
        in messages["spec.template.spec.requirements[4].values"]
    )
    assert store.list("karpenter.sh/v1", "NodePool").items == []


def test_store_keeps_nodeclaim_spec_immutable(store: Store) -> None:
    claim = store.create(load(NODECLAIM_V1))
    claim["spec"]["expireAfter"] = "24h"
    with pytest.raises(InvalidError, match="spec is immutable"):
        store.update(claim)
    claim = store.get("karpenter.sh/v1", "NodeClaim", "default-x7k2p")
    claim["status"] = {"providerID": "aws:///us-west-2a/i-0abc", "nodeName": "ip-10-0-1-2"}
    assert store.update_status(claim)["status"]["nodeName"] == "ip-10-0-1-2"


def test_store_keeps_nodeclassref_group_and_kind(store: Store) -> None:
    pool = store.create(load(NODEPOOL_V1))
    pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] = "other"
    pool = store.update(pool)  # the name may change
    pool["spec"]["template"]["spec"]["nodeClassRef"]["kind"] = "AKSNodeClass"
    with pytest.raises(InvalidError, match=r"nodeClassRef\.kind is immutable"):
        store.update(pool)


def test_v1beta1_kind_admits_through_conversion() -> None:
    info = info_of(load(NODEPOOL_V1BETA1))
    assert info.version == "v1beta1"
    assert info.validate(load(NODEPOOL_V1BETA1), None) == []
    rejected = patched(NODEPOOL_V1BETA1, "spec.disruption.consolidationPolicy", "WhenEmpty")
    causes = info.validate(rejected, None)
    assert [c.path for c in causes] == ["spec.disruption.consolidateAfter"]
    # What conversion cannot see, v1 admission still reports, at the v1 path.
    bad_weight = patched(NODEPOOL_V1BETA1, "spec.weight", 0)
    assert [c.path for c in info.validate(bad_weight, None)] == ["spec.weight"]


# --- columns ------------------------------------------------------------------------------


def columns(obj: Obj, *, wide: bool = True) -> dict[str, str]:
    return {
        header: fn(obj) for header, fn in info_of(obj).columns if wide or not header.endswith("*")
    }


def test_nodepool_columns() -> None:
    pool = load(NODEPOOL_V1)
    pool["spec"]["weight"] = 10
    pool["status"] = {
        "nodes": 3,
        "resources": {"cpu": "12", "memory": "48Gi", "nodes": "3"},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert columns(pool) == {
        "NODECLASS": "default",
        "NODES": "3",
        "READY": "True",
        "WEIGHT*": "10",
        "CPU*": "12",
        "MEMORY*": "48Gi",
    }
    assert list(columns(load(NODEPOOL_V1), wide=False).values()) == [
        "default",
        "<none>",
        "<none>",
    ]
    older = patched(pool, "status.nodes", DELETE)
    assert columns(older)["NODES"] == "3"  # status.resources.nodes of earlier releases


def test_nodeclaim_columns() -> None:
    claim = load(NODECLAIM_V1)
    claim["status"] = {
        "providerID": "aws:///us-west-2a/i-0123456789abcdef0",
        "nodeName": "ip-192-168-1-20.us-west-2.compute.internal",
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "Launched", "status": "True"},
        ],
    }
    assert columns(claim) == {
        "TYPE": "m5.large",
        "CAPACITY": "on-demand",
        "ZONE": "us-west-2a",
        "NODE": "ip-192-168-1-20.us-west-2.compute.internal",
        "READY": "False",
        "ID*": "aws:///us-west-2a/i-0123456789abcdef0",
        "NODEPOOL*": "default",
        "NODECLASS*": "default",
        "PRICE*": "$0.096/h",
    }
    unlaunched = patched(load(NODECLAIM_V1), "metadata", {"name": "default-abcde"})
    assert set(columns(unlaunched).values()) == {"<none>", "default"}
    odd_price = patched(claim, "metadata.annotations", {"shipyard.dev/price": "n/a"})
    assert columns(odd_price)["PRICE*"] == "n/a"


def test_nodeclass_columns() -> None:
    nodeclass = load(EC2NODECLASS_V1)
    nodeclass["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert columns(nodeclass) == {"READY": "True", "ROLE*": "KarpenterNodeRole-shipyard-demo"}
    profile = patched(nodeclass, "spec.role", DELETE)
    assert columns(profile)["ROLE*"] == "<none>"
