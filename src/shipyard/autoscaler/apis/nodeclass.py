"""``karpenter.k8s.aws/v1`` EC2NodeClass: defaults, admission and the sizing view.

An EC2NodeClass says *how* to launch a node on AWS: IAM role or instance profile, AMI
selection, subnets and security groups, tags, block devices, kubelet settings and instance
metadata options. Shipyard's clouds are simulated, so most of it is only stored and shown;
what changes a node's size is honoured through :class:`NodeClassView`: ``kubelet.maxPods``,
``podsPerCore``, ``kubeReserved``, ``systemReserved``, ``evictionHard`` and the root volume
(the node's ephemeral storage).

- **Defaults**: ``metadataOptions`` ``{httpEndpoint: enabled, httpProtocolIPv6: disabled,
  httpPutResponseHopLimit: 1, httpTokens: required}``, field by field when the block is
  partly written. Karpenter v1 sets no kubelet defaults in the CRD (the AWS provider computes
  kube-reserved and max pods per instance type when they are absent), so neither does this.
- **Validation**: the CRD's schema and CEL rules with their messages — exactly one of
  ``role`` / ``instanceProfile``; ``amiSelectorTerms`` (1..30 terms, each with one of tags,
  id, name, alias or ssmParameter; ``id`` and ``alias`` exclusive with the other fields; an
  alias ``family@version`` with family al2, al2023, bottlerocket, windows2019 or windows2022,
  windows only ``@latest``, and alone in the list; ``amiFamily`` required without an alias
  and consistent with it); subnet and security-group terms (id xor tags/name, at most 20
  non-empty tags); restricted tag keys; at most one root volume among the block devices,
  each EBS volume with a size or a snapshot; the kubelet settings (:mod:`.kubelet`); metadata
  options enums and hop limit 1..64.

Deliberate differences: the CRD checks "id is exclusive" with ``self.all(...)``, which only
fires when *every* term is wrong; Shipyard checks each term, as the message intends, and also
counts ``ssmParameter`` as one of the fields ``id`` and ``alias`` exclude. ``volumeSize`` is
read as a quantity in Gi, G, Ti or T from 1Gi to 64Ti (the EBS maximum) instead of the CRD's
digit pattern. EC2 ids are matched whole (``subnet-0a1b``; the CRD's unanchored patterns
also pass ``my-subnet-0a1b``). ``role`` is mutable, as in current Karpenter releases (1.0 froze it).
``amiFamily`` stays accepted although Karpenter deprecates it in favour of aliases. Names are
limited to 63 characters: each node carries its class's name as the
``karpenter.k8s.aws/ec2nodeclass`` label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.autoscaler.apis.fields import Pattern, label_safe_name, object_rule, present
from shipyard.autoscaler.apis.kubelet import KUBELET, EvictionThreshold, thresholds
from shipyard.autoscaler.apis.nodepool import scheduler_units
from shipyard.core.errors import InvalidError
from shipyard.core.objects import json_copy
from shipyard.core.quantity import Quantity
from shipyard.store.validation.meta import object_meta, object_schema
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Rule,
    Schema,
    Str,
    Validator,
    get_list,
    invalid,
    parse_quantity,
    too_many,
    validator,
)

__all__ = [
    "AMI_FAMILIES",
    "DEFAULT_METADATA_OPTIONS",
    "DEFAULT_ROOT_VOLUME_SIZE",
    "AmiAlias",
    "EvictionThreshold",
    "NodeClassView",
    "SelectorTerm",
    "alias_of",
    "default_nodeclass",
    "root_volume_size",
    "validate_nodeclass",
]

AMI_FAMILIES = ("AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022")
_ALIAS_FAMILIES = {
    "al2": "AL2",
    "al2023": "AL2023",
    "bottlerocket": "Bottlerocket",
    "windows2019": "Windows2019",
    "windows2022": "Windows2022",
}
DEFAULT_METADATA_OPTIONS: dict[str, Any] = {
    "httpEndpoint": "enabled",
    "httpProtocolIPv6": "disabled",
    "httpPutResponseHopLimit": 1,
    "httpTokens": "required",
}
RESTRICTED_TAGS = (
    "eks:eks-cluster-name",
    "karpenter.sh/nodepool",
    "karpenter.sh/nodeclaim",
    "karpenter.k8s.aws/ec2nodeclass",
)
DEFAULT_ROOT_VOLUME_SIZE = Quantity.parse("20Gi").value()
MAX_VOLUME_SIZE = Quantity.parse("64Ti").value()

# --- defaults -------------------------------------------------------------------------------


def default_nodeclass(obj: dict[str, Any]) -> None:
    """Karpenter v1's CRD defaults, in place: the instance metadata options."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("metadataOptions") is None:
        spec["metadataOptions"] = dict(DEFAULT_METADATA_OPTIONS)
    options = spec["metadataOptions"]
    if isinstance(options, dict):
        for key, value in DEFAULT_METADATA_OPTIONS.items():
            if options.get(key) is None:
                options[key] = value


# --- selector terms -------------------------------------------------------------------------


class _SelectorTags(MapOf):
    """Tags a selector term matches: at most 20, no empty key or value."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(Str())

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        if not isinstance(value, dict):
            return
        if len(value) > 20:
            errs.append(too_many(path, len(value), 20))
        if any(k == "" or v == "" for k, v in value.items()):
            errs.append(object_rule(path, "empty tag keys or values aren't supported"))


def _one_of(*keys: str) -> Rule:
    listed = ", ".join(f"'{k}'" for k in keys)

    def rule(term: dict[str, Any], path: str, errs: Errors) -> None:
        if all(term.get(k) is None for k in keys):
            errs.append(object_rule(path, f"expected at least one, got none, [{listed}]"))

    return rule


def _exclusive(key: str, others: tuple[str, ...], where: str) -> Rule:
    def rule(term: dict[str, Any], path: str, errs: Errors) -> None:
        if term.get(key) is not None and any(term.get(o) is not None for o in others):
            errs.append(
                object_rule(
                    path,
                    f"'{key}' is mutually exclusive, cannot be set with a combination of "
                    f"other fields in {where}",
                )
            )

    return rule


def _id(prefix: str) -> Pattern:
    return Pattern(f"^{prefix}-[0-9a-z]+$", f"must be an EC2 id such as {prefix}-0123abcd")


SUBNET_TERM = Obj(
    {"tags": _SelectorTags(), "id": _id("subnet")},
    rules=(_one_of("tags", "id"), _exclusive("id", ("tags",), "a subnet selector term")),
)
SECURITY_GROUP_TERM = Obj(
    {"tags": _SelectorTags(), "id": _id("sg"), "name": Str()},
    rules=(
        _one_of("tags", "id", "name"),
        _exclusive("id", ("tags", "name"), "a security group selector term"),
        _exclusive("name", ("tags", "id"), "a security group selector term"),
    ),
)
CAPACITY_RESERVATION_TERM = Obj(
    {
        "tags": _SelectorTags(),
        "id": _id("cr"),
        "ownerID": Pattern(r"^[0-9]{12}$", "must be a 12-digit AWS account id"),
        "instanceMatchCriteria": Enum("open", "targeted"),
    },
    rules=(
        _one_of("tags", "id", "instanceMatchCriteria"),
        _exclusive(
            "id", ("tags", "ownerID", "instanceMatchCriteria"), "a capacity reservation term"
        ),
    ),
)

_ALIAS_RE = re.compile(r"^[a-zA-Z0-9]+@.+\Z")


class _Alias(Schema):
    """``family@version``: a known family; Windows families only ``@latest``."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(invalid(path, value, "must be of type string"))
            return
        if len(value) > 30:
            errs.append(invalid(path, value, "may not be more than 30 characters"))
        if not _ALIAS_RE.match(value):
            message = "'alias' is improperly formatted, must match the format 'family@version'"
            errs.append(invalid(path, value, message))
            return
        family, _, version = value.partition("@")
        if family not in _ALIAS_FAMILIES:
            supported = ", ".join(f"'{f}'" for f in _ALIAS_FAMILIES)
            message = f"family is not supported, must be one of the following: {supported}"
            errs.append(invalid(path, value, message))
        elif family.startswith("windows") and version != "latest":
            errs.append(invalid(path, value, "windows families may only specify version 'latest'"))


_AMI_FIELDS = ("tags", "id", "name", "alias", "ssmParameter")
AMI_TERM = Obj(
    {
        "alias": _Alias(),
        "tags": _SelectorTags(),
        "id": _id("ami"),
        "name": Str(),
        "owner": Str(),
        "ssmParameter": Str(),
    },
    rules=(
        _one_of(*_AMI_FIELDS),
        _exclusive("id", ("alias", "tags", "name", "owner", "ssmParameter"), "amiSelectorTerms"),
        _exclusive("alias", ("id", "tags", "name", "owner", "ssmParameter"), "amiSelectorTerms"),
    ),
)


class _Terms(ListOf):
    """A list of selector terms; ``empty`` is the CRD's message for ``[]``."""

    __slots__ = ("empty",)

    def __init__(self, item: Schema, empty: str) -> None:
        super().__init__(item, max_items=30)
        self.empty = empty

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        if value == []:
            errs.append(invalid(path, "[]", self.empty))


def _alias_alone(spec: dict[str, Any], path: str, errs: Errors) -> None:
    terms = [t for t in get_list(spec, "amiSelectorTerms") if isinstance(t, dict)]
    if len(terms) > 1 and any(t.get("alias") is not None for t in terms):
        errs.append(
            object_rule(
                f"{path}.amiSelectorTerms",
                "'alias' is mutually exclusive, cannot be set with a combination of other "
                "amiSelectorTerms",
            )
        )


def alias_of(spec: Mapping[str, Any]) -> str | None:
    """The alias of the spec's AMI selector terms, if any."""
    for term in spec.get("amiSelectorTerms") or []:
        if isinstance(term, dict) and isinstance(term.get("alias"), str):
            return str(term["alias"])
    return None


def _ami_family_rules(spec: dict[str, Any], path: str, errs: Errors) -> None:
    if not isinstance(spec.get("amiSelectorTerms"), list):
        return
    family = spec.get("amiFamily")
    alias = alias_of(spec)
    if alias is None:
        if family is None:
            errs.append(
                object_rule(
                    path, "must specify amiFamily if amiSelectorTerms does not contain an alias"
                )
            )
        return
    expected = _ALIAS_FAMILIES.get(alias.partition("@")[0])
    if expected is not None and family is not None and family not in (expected, "Custom"):
        article = "an" if expected.startswith("AL") else "a"
        errs.append(
            object_rule(
                path,
                f"if set, amiFamily must be '{expected}' or 'Custom' when using {article} "
                f"{expected} alias",
            )
        )


# --- block devices, metadata, tags ----------------------------------------------------------

_VOLUME_SIZE_RE = re.compile(r"^[0-9]+(Gi|G|Ti|T)\Z")


class _VolumeSize(Schema):
    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        size = parse_quantity(value) if isinstance(value, str) else None
        if (
            not isinstance(value, str)
            or not _VOLUME_SIZE_RE.match(value)
            or size is None
            or not 0 < size.value() <= MAX_VOLUME_SIZE
        ):
            message = "must be a whole number of Gi, G, Ti or T from 1Gi to 64Ti (such as 100Gi)"
            errs.append(invalid(path, value, message))


def _ebs_rules(ebs: dict[str, Any], path: str, errs: Errors) -> None:
    if ebs.get("snapshotID") is None and ebs.get("volumeSize") is None:
        errs.append(object_rule(path, "snapshotID or volumeSize must be defined"))
    if ebs.get("volumeInitializationRate") is not None and not ebs.get("snapshotID"):
        errs.append(
            object_rule(path, "snapshotID must be set when volumeInitializationRate is set")
        )


EBS = Obj(
    {
        "deleteOnTermination": Bool(),
        "encrypted": Bool(),
        "iops": Int(),
        "kmsKeyID": Str(),
        "snapshotID": Str(),
        "throughput": Int(),
        "volumeInitializationRate": Int(100, 300),
        "volumeSize": _VolumeSize(),
        "volumeType": Enum("standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"),
    },
    rules=(_ebs_rules,),
)
BLOCK_DEVICE_MAPPING = Obj({"deviceName": Str(), "ebs": EBS, "rootVolume": Bool()})


class _BlockDeviceMappings(ListOf):
    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        items = value if isinstance(value, list) else []
        roots = [m for m in items if isinstance(m, dict) and m.get("rootVolume") is True]
        if len(roots) > 1:
            errs.append(
                invalid(path, "array", "must have only one blockDeviceMappings with rootVolume")
            )


METADATA_OPTIONS = Obj(
    {
        "httpEndpoint": Enum("enabled", "disabled"),
        "httpProtocolIPv6": Enum("enabled", "disabled"),
        "httpPutResponseHopLimit": Int(1, 64),
        "httpTokens": Enum("required", "optional"),
    }
)


class _Tags(MapOf):
    """Tags put on instances: no empty key, none of the keys Karpenter writes itself."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(Str())

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        for key in value if isinstance(value, dict) else ():
            if key == "":
                errs.append(invalid(path, key, "empty tag keys aren't supported"))
            elif key.startswith("kubernetes.io/cluster"):
                message = "tag contains a restricted tag matching kubernetes.io/cluster/"
                errs.append(invalid(path, key, message))
            elif key in RESTRICTED_TAGS:
                errs.append(invalid(path, key, f"tag contains a restricted tag matching {key}"))


def _not_empty(key: str) -> Rule:
    def rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
        if spec.get(key) == "":
            errs.append(invalid(f"{path}.{key}", "", f"{key} cannot be empty"))

    return rule


def _role_xor_profile(spec: dict[str, Any], path: str, errs: Errors) -> None:
    if (spec.get("role") is None) == (spec.get("instanceProfile") is None):
        errs.append(object_rule(path, "must specify exactly one of ['role', 'instanceProfile']"))


SPEC = Obj(
    {
        "subnetSelectorTerms": _Terms(SUBNET_TERM, "subnetSelectorTerms cannot be empty"),
        "securityGroupSelectorTerms": _Terms(
            SECURITY_GROUP_TERM, "securityGroupSelectorTerms cannot be empty"
        ),
        "capacityReservationSelectorTerms": ListOf(CAPACITY_RESERVATION_TERM, max_items=30),
        "associatePublicIPAddress": Bool(),
        "ipPrefixCount": Int(0),
        "amiSelectorTerms": _Terms(AMI_TERM, "should have at least 1 items"),
        "amiFamily": Enum(*AMI_FAMILIES),
        "userData": Str(),
        "role": Str(),
        "instanceProfile": Str(),
        "tags": _Tags(),
        "kubelet": KUBELET,
        "blockDeviceMappings": _BlockDeviceMappings(BLOCK_DEVICE_MAPPING, max_items=50),
        "instanceStorePolicy": Enum("RAID0"),
        "detailedMonitoring": Bool(),
        "metadataOptions": METADATA_OPTIONS,
        "enclaveOptions": Obj({"enabled": Bool()}),
        "context": Str(),
    },
    rules=(
        present("amiSelectorTerms", "securityGroupSelectorTerms", "subnetSelectorTerms"),
        _not_empty("role"),
        _not_empty("instanceProfile"),
        _role_xor_profile,
        _alias_alone,
        _ami_family_rules,
    ),
)
NODECLASS_SCHEMA = object_schema(
    object_meta(label_safe_name, namespaced=False),
    {"spec": SPEC, "status": AnyValue(object_only=True)},
    rules=(present("spec"),),
)
validate_nodeclass: Validator = validator(NODECLASS_SCHEMA)

# --- the view -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectorTerm:
    """One subnet, security group, AMI or capacity reservation selector term (ORed)."""

    id: str | None = None
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    alias: str | None = None
    owner: str | None = None
    ssm_parameter: str | None = None

    @classmethod
    def from_dict(cls, term: Mapping[str, Any]) -> SelectorTerm:
        return cls(
            id=term.get("id"),
            name=term.get("name"),
            tags=dict(term.get("tags") or {}),
            alias=term.get("alias"),
            owner=term.get("owner"),
            ssm_parameter=term.get("ssmParameter"),
        )


@dataclass(frozen=True)
class AmiAlias:
    family: str  # AL2, AL2023, Bottlerocket, Windows2019, Windows2022
    version: str  # "latest" or a pinned release


# The device each AMI family's kubelet root directory lives on, when no rootVolume is marked.
_EPHEMERAL_DEVICE = {
    "AL2": "/dev/xvda",
    "AL2023": "/dev/xvda",
    "Bottlerocket": "/dev/xvdb",
    "Windows2019": "/dev/sda1",
    "Windows2022": "/dev/sda1",
}


@dataclass(frozen=True)
class NodeClassView:
    """A validated EC2NodeClass: the sizing inputs, and the AWS-only settings as data."""

    name: str
    ami_family: str  # spec.amiFamily, else the alias's family
    ami_alias: AmiAlias | None
    ami_selector_terms: tuple[SelectorTerm, ...]
    subnet_selector_terms: tuple[SelectorTerm, ...]
    security_group_selector_terms: tuple[SelectorTerm, ...]
    role: str | None
    instance_profile: str | None
    tags: dict[str, str]
    max_pods: int | None
    pods_per_core: int | None
    kube_reserved: dict[str, int]  # scheduler units: cpu millicores, memory bytes, pid count
    system_reserved: dict[str, int]
    eviction_hard: dict[str, EvictionThreshold]
    eviction_soft: dict[str, EvictionThreshold]
    cluster_dns: tuple[str, ...]
    root_volume_size: int | None  # bytes, when the block devices say; see ephemeral_storage
    instance_store_policy: str | None
    block_device_mappings: tuple[dict[str, Any], ...]
    metadata_options: dict[str, Any]
    user_data: str | None

    @property
    def ephemeral_storage(self) -> int:
        """The node's ephemeral-storage capacity in bytes: the root volume, else 20Gi."""
        return DEFAULT_ROOT_VOLUME_SIZE if self.root_volume_size is None else self.root_volume_size

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NodeClassView:
        """Default, validate and parse an EC2NodeClass; ``InvalidError`` lists every problem."""
        nodeclass: dict[str, Any] = json_copy(dict(obj))
        default_nodeclass(nodeclass)
        name = str((nodeclass.get("metadata") or {}).get("name") or "")
        if causes := validate_nodeclass(nodeclass, None):
            raise InvalidError(f'EC2NodeClass "{name}"', causes)
        spec = nodeclass["spec"]
        kubelet = spec.get("kubelet") or {}
        alias = _alias(spec)
        family = spec.get("amiFamily") or (alias.family if alias else "Custom")
        mappings = tuple(spec.get("blockDeviceMappings") or ())
        return cls(
            name=name,
            ami_family=family,
            ami_alias=alias,
            ami_selector_terms=_terms(spec, "amiSelectorTerms"),
            subnet_selector_terms=_terms(spec, "subnetSelectorTerms"),
            security_group_selector_terms=_terms(spec, "securityGroupSelectorTerms"),
            role=spec.get("role"),
            instance_profile=spec.get("instanceProfile"),
            tags=dict(spec.get("tags") or {}),
            max_pods=kubelet.get("maxPods"),
            pods_per_core=kubelet.get("podsPerCore"),
            kube_reserved=scheduler_units(kubelet.get("kubeReserved") or {}),
            system_reserved=scheduler_units(kubelet.get("systemReserved") or {}),
            eviction_hard=thresholds(kubelet.get("evictionHard")),
            eviction_soft=thresholds(kubelet.get("evictionSoft")),
            cluster_dns=tuple(kubelet.get("clusterDNS") or ()),
            root_volume_size=root_volume_size(mappings, family),
            instance_store_policy=spec.get("instanceStorePolicy"),
            block_device_mappings=mappings,
            metadata_options=dict(spec["metadataOptions"]),
            user_data=spec.get("userData"),
        )


def root_volume_size(mappings: tuple[dict[str, Any], ...], family: str) -> int | None:
    """The size of the volume holding the kubelet's root directory, as Karpenter picks it.

    The mapping marked ``rootVolume``; else, for a known AMI family, the mapping on that
    family's root device; for ``Custom``, the last mapping. ``None`` when none has a size.
    """
    chosen = next((m for m in mappings if m.get("rootVolume") is True), None)
    if chosen is None and family == "Custom" and mappings:
        chosen = mappings[-1]
    if chosen is None:
        device = _EPHEMERAL_DEVICE.get(family)
        chosen = next((m for m in mappings if m.get("deviceName") == device), None)
    size = ((chosen or {}).get("ebs") or {}).get("volumeSize")
    return None if size is None else Quantity.parse(size).value()


def _alias(spec: Mapping[str, Any]) -> AmiAlias | None:
    alias = alias_of(spec)
    if alias is None:
        return None
    family, _, version = alias.partition("@")
    return AmiAlias(_ALIAS_FAMILIES[family], version)


def _terms(spec: Mapping[str, Any], key: str) -> tuple[SelectorTerm, ...]:
    return tuple(SelectorTerm.from_dict(t) for t in spec.get(key) or ())
