"""Older Karpenter manifests to v1: ``v1beta1`` kinds and the alpha-era fields tutorials still show.

:func:`convert` turns a ``karpenter.sh/v1beta1`` NodePool or NodeClaim or a
``karpenter.k8s.aws/v1beta1`` EC2NodeClass into its ``v1`` form and returns one warning per
field it moved, rewrote or dropped; what has no faithful v1 form is rejected with an
``InvalidError`` whose causes name the field and say what to write instead. The older
``karpenter.sh/v1alpha5`` Provisioner and ``karpenter.k8s.aws/v1alpha1`` AWSNodeTemplate are
converted the same way (they are where the alpha-era fields come from); a v1alpha5 Machine is
rejected. :func:`conversion_for` gives the store the function for an apiVersion and kind.

What changes, following Karpenter's documented v1 migration guide:

NodePool
  - ``spec.disruption.expireAfter`` moves to ``spec.template.spec.expireAfter``;
  - ``consolidationPolicy: WhenUnderutilized`` becomes ``WhenEmptyOrUnderutilized``; v1
    requires ``consolidateAfter`` in a written ``disruption`` block, so ``0s`` is filled in
    (v1beta1 consolidated underutilized nodes at once); ``WhenEmpty`` without
    ``consolidateAfter`` was already invalid and is rejected;
  - ``spec.template.spec.kubelet`` moves to the EC2NodeClass (``spec.kubelet``): it is kept,
    as Karpenter keeps it, in the ``compatibility.karpenter.sh/v1beta1-kubelet-conversion``
    annotation, and a warning says to move it (Shipyard does not apply it from there);
  - ``nodeClassRef.apiVersion`` becomes ``group`` (``karpenter.k8s.aws`` when empty), and an
    empty ``kind`` becomes ``EC2NodeClass``; ``spec.template.spec.resources`` is dropped;
  - requirements repeating a key are merged into one entry when the merge is exact (``In`` ∩
    ``In``, ``In`` ∩ ``NotIn``, ``NotIn`` ∪ ``NotIn``, repeated ``Exists``); when the
    repeated entries have no value in common the NodePool could never launch a node, so it is
    rejected with the one requirement to write instead.

Alpha-era NodePool fields (a v1alpha5 Provisioner's, often pasted into newer manifests)
  ``ttlSecondsAfterEmpty: N`` → ``consolidationPolicy: WhenEmpty`` + ``consolidateAfter: Ns``;
  ``ttlSecondsUntilExpired: N`` → ``spec.template.spec.expireAfter``; ``consolidation.enabled:
  true`` → ``WhenEmptyOrUnderutilized`` (``false`` → ``consolidateAfter: Never``);
  ``providerRef`` → ``nodeClassRef`` (EC2NodeClass); ``requirements``, ``labels``,
  ``annotations``, ``taints``, ``startupTaints`` move into the template;
  ``limits.resources`` → ``limits``; ``kubeletConfiguration`` as ``kubelet`` above;
  ``disruption.nodes`` → ``budgets: [{nodes}]``. Rejected: an inline ``provider`` block, and
  ``ttlSecondsAfterEmpty`` together with ``consolidation.enabled: true`` (v1alpha5 refused it too).

EC2NodeClass
  - ``amiFamily`` AL2, AL2023, Bottlerocket, Windows2019 or Windows2022 without
    ``amiSelectorTerms`` becomes the alias ``<family>@latest``; with terms it stays;
  - ``amiFamily: Ubuntu`` becomes AL2 (same bootstrap format) with Karpenter's Ubuntu root
    volume when no block devices are given; without AMI terms it is rejected (there is no
    Ubuntu alias);
  - ``httpPutResponseHopLimit`` keeps v1beta1's default 2 when it was left out (v1 defaults 1);
  - alpha selectors (``subnetSelector``, ``securityGroupSelector``, ``amiSelector`` maps, with
    ``aws-ids`` / ``aws::ids``, ``aws::name``, ``aws::owners``) become selector terms;
    ``launchTemplate`` is rejected.

NodeClaim
  ``nodeClassRef`` as for NodePools; ``spec.kubelet`` is dropped (its EC2NodeClass holds it).

A manifest already at v1 is returned unchanged with no warnings.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.core.errors import BadRequestError, FieldError, InvalidError
from shipyard.core.labels import normalize_label_key
from shipyard.core.objects import json_copy
from shipyard.core.requirements import Requirement

__all__ = [
    "AWS_V1",
    "AWS_V1ALPHA1",
    "AWS_V1BETA1",
    "KARPENTER_V1",
    "KARPENTER_V1ALPHA5",
    "KARPENTER_V1BETA1",
    "KUBELET_COMPATIBILITY_ANNOTATION",
    "Converter",
    "conversion_for",
    "convert",
]

KARPENTER_V1 = "karpenter.sh/v1"
KARPENTER_V1BETA1 = "karpenter.sh/v1beta1"
KARPENTER_V1ALPHA5 = "karpenter.sh/v1alpha5"
AWS_V1 = "karpenter.k8s.aws/v1"
AWS_V1BETA1 = "karpenter.k8s.aws/v1beta1"
AWS_V1ALPHA1 = "karpenter.k8s.aws/v1alpha1"
AWS_GROUP = "karpenter.k8s.aws"
NODE_CLASS_KIND = "EC2NodeClass"
KUBELET_COMPATIBILITY_ANNOTATION = "compatibility.karpenter.sh/v1beta1-kubelet-conversion"
_ALIAS_FAMILIES = ("AL2", "AL2023", "Bottlerocket", "Windows2019", "Windows2022")
# Karpenter's root volume for Ubuntu nodes converted to the AL2 family.
_UBUNTU_ROOT_VOLUME = {
    "deviceName": "/dev/sda1",
    "rootVolume": True,
    "ebs": {"encrypted": True, "volumeType": "gp3", "volumeSize": "20Gi"},
}
_V1BETA1_HOP_LIMIT = 2

Converter = Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[str]]]
Keys = tuple[str, ...]


def _path(keys: Keys) -> str:
    return ".".join(keys)


def _keys(path: str) -> Keys:
    return tuple(path.split("."))


class _Conversion:
    """One object being converted: the copy, the warnings so far and the reasons to reject."""

    def __init__(self, obj: Mapping[str, Any], api_version: str, kind: str) -> None:
        self.obj: dict[str, Any] = json_copy(dict(obj))
        self.kind = kind
        self.warnings: list[str] = []
        self.causes: list[FieldError] = []
        if self.obj.get("kind") != kind:
            self.warn(f"kind {self.obj.get('kind')} ({self.obj.get('apiVersion')}) became {kind}")
        self.obj["apiVersion"] = api_version
        self.obj["kind"] = kind

    # -- plumbing --------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def reject(self, path: str, message: str) -> None:
        self.causes.append(FieldError(path, message))

    def get(self, path: str) -> Any:
        value: Any = self.obj
        for key in _keys(path):
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def parent(self, path: str, *, create: bool) -> dict[str, Any] | None:
        """The object holding the last key of ``path`` (made on the way when ``create``)."""
        value: Any = self.obj
        for key in _keys(path)[:-1]:
            if not isinstance(value, dict):
                return None
            if create and value.get(key) is None:
                value[key] = {}
            value = value.get(key)
        return value if isinstance(value, dict) else None

    def pop(self, path: str) -> Any:
        holder = self.parent(path, create=False)
        return None if holder is None else holder.pop(_keys(path)[-1], None)

    def put(self, path: str, value: Any, *, source: str) -> bool:
        """Set ``path`` unless it already holds something else (then reject ``source``)."""
        existing = self.get(path)
        if existing is not None and existing != value:
            self.reject(source, f"Forbidden: also set at {path}; keep only {path}")
            return False
        holder = self.parent(path, create=True)
        if holder is None:
            self.reject(source, f"Forbidden: cannot move to {path}, which is not an object")
            return False
        holder[_keys(path)[-1]] = value
        return True

    def move(self, source: str, target: str) -> None:
        value = self.pop(source)
        if value is not None and self.put(target, value, source=source):
            self.warn(f"{source} moved to {target}")

    def finish(self) -> tuple[dict[str, Any], list[str]]:
        if self.causes:
            name = self.get("metadata.name") or ""
            raise InvalidError(f'{self.kind} "{name}"', self.causes)
        return self.obj, self.warnings

    # -- shared steps ----------------------------------------------------------------------

    def node_class_ref(self, path: str) -> None:
        ref = self.get(path)
        if not isinstance(ref, dict):
            return
        if "apiVersion" in ref:
            api_version = ref.pop("apiVersion")
            group = str(api_version).split("/", 1)[0] if api_version else AWS_GROUP
            if ref.get("group") is None:
                ref["group"] = group
            self.warn(f"{path}.apiVersion {api_version} became group {ref['group']}")
        elif ref.get("group") is None:
            ref["group"] = AWS_GROUP
            self.warn(f"{path}.group set to {AWS_GROUP}")
        if not ref.get("kind"):
            ref["kind"] = NODE_CLASS_KIND
            self.warn(f"{path}.kind set to {NODE_CLASS_KIND}")

    def kubelet_to_annotation(self, path: str) -> None:
        kubelet = self.pop(path)
        if kubelet is None:
            return
        text = json.dumps(kubelet, sort_keys=True, separators=(",", ":"))
        annotations = self.get("metadata.annotations")
        if not isinstance(annotations, dict):
            annotations = {}
            metadata = self.parent("metadata.annotations", create=True)
            if metadata is not None:
                metadata["annotations"] = annotations
        annotations[KUBELET_COMPATIBILITY_ANNOTATION] = text
        self.warn(
            f"{path} moved to the EC2NodeClass (spec.kubelet): set it there; it is kept in the "
            f"annotation {KUBELET_COMPATIBILITY_ANNOTATION} and not applied"
        )

    def merge_requirements(self, path: str) -> None:
        items = self.get(path)
        if not isinstance(items, list):
            return
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            if _well_formed(item):
                groups.setdefault(normalize_label_key(item["key"]), []).append(index)
        replaced: dict[int, dict[str, Any]] = {}
        dropped: set[int] = set()
        for key, indexes in groups.items():
            if len(indexes) > 1 and (entry := self._merged(path, key, items, indexes)):
                replaced[indexes[0]] = entry
                dropped.update(indexes[1:])
                values = entry.get("values")
                shown = f"{key} {entry['operator']}" + (f" [{' '.join(values)}]" if values else "")
                for index in indexes[1:]:
                    self.warn(f"{path}[{index}] merged into {path}[{indexes[0]}]: {shown}")
        holder = self.parent(path, create=False)
        if replaced and holder is not None:
            holder[_keys(path)[-1]] = [
                replaced.get(i, item) for i, item in enumerate(items) if i not in dropped
            ]

    def _merged(
        self, path: str, key: str, items: list[Any], indexes: list[int]
    ) -> dict[str, Any] | None:
        entries = [items[i] for i in indexes]
        reqs = [
            Requirement.create(e["key"], e["operator"], e.get("values") or (), e.get("minValues"))
            for e in entries
        ]
        result = functools.reduce(Requirement.intersection, reqs)
        operators = {e["operator"] for e in entries}
        if result.is_empty() and operators != {"DoesNotExist"}:
            union = sorted({v for e in entries for v in e.get("values") or ()})
            self.reject(
                f"{path}[{indexes[1]}]",
                f"Invalid value: {json.dumps(key)}: requirements on {key} have no value in "
                f"common ({'; '.join(str(r) for r in reqs)}) and are ANDed, so no node could "
                f"match; to allow any of the values write one requirement: "
                f"{{key: {key}, operator: In, values: [{', '.join(union)}]}}",
            )
            return None
        if result.is_finite() or operators in ({"NotIn"}, {"Exists"}):
            entry = result.to_node_selector_requirement()
            if not entry["values"]:
                del entry["values"]  # Exists and DoesNotExist take none
            return entry
        return None  # bounds and mixtures stay as written: they already mean the intersection


def _well_formed(item: Any) -> bool:
    """An entry whose merge is meaningful; anything else is left for validation to report."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        return False
    if item.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
        return False
    values = item.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return False
    min_values = item.get("minValues")
    if min_values is not None and type(min_values) is not int:
        return False
    try:
        Requirement.create(item["key"], item["operator"], values)
    except ValueError:
        return False
    return True


def _seconds(value: Any, path: str, conversion: _Conversion) -> str | None:
    """``N`` seconds as the shortest whole-unit duration (``2592000`` → ``720h``)."""
    if type(value) is not int or value < 0:
        conversion.reject(path, f"Invalid value: {json.dumps(value)}: must be whole seconds")
        return None
    for unit, size in (("h", 3600), ("m", 60)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


# --- NodePool -------------------------------------------------------------------------------

_TEMPLATE = "spec.template"
_TEMPLATE_SPEC = "spec.template.spec"
_DISRUPTION = "spec.disruption"


def _nodepool(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    c = _Conversion(obj, KARPENTER_V1, "NodePool")
    if isinstance(c.obj.get("spec"), dict):
        _alpha_nodepool_fields(c)
        _alpha_disruption(c)
        _v1beta1_disruption(c)
        c.node_class_ref(f"{_TEMPLATE_SPEC}.nodeClassRef")
        c.kubelet_to_annotation(f"{_TEMPLATE_SPEC}.kubelet")
        if c.pop(f"{_TEMPLATE_SPEC}.resources") is not None:
            c.warn(f"{_TEMPLATE_SPEC}.resources dropped: a v1 NodePool template has no resources")
        c.merge_requirements(f"{_TEMPLATE_SPEC}.requirements")
    return c.finish()


def _alpha_nodepool_fields(c: _Conversion) -> None:
    if c.get("spec.provider") is not None:
        c.reject(
            "spec.provider",
            "Forbidden: inline provider settings are not supported: put them in an "
            "EC2NodeClass (karpenter.k8s.aws/v1) and reference it with "
            "spec.template.spec.nodeClassRef",
        )
    for source, target in (
        ("spec.requirements", f"{_TEMPLATE_SPEC}.requirements"),
        ("spec.taints", f"{_TEMPLATE_SPEC}.taints"),
        ("spec.startupTaints", f"{_TEMPLATE_SPEC}.startupTaints"),
        ("spec.labels", f"{_TEMPLATE}.metadata.labels"),
        ("spec.annotations", f"{_TEMPLATE}.metadata.annotations"),
    ):
        c.move(source, target)
    limits = c.get("spec.limits")
    if isinstance(limits, dict) and isinstance(limits.get("resources"), dict):
        resources = limits.pop("resources")
        limits.update({k: v for k, v in resources.items() if k not in limits})
        c.warn("spec.limits.resources moved to spec.limits")
    for source in ("spec.providerRef", f"{_TEMPLATE_SPEC}.providerRef"):
        _provider_ref(c, source)
    c.kubelet_to_annotation("spec.kubeletConfiguration")
    _expiry(c)


def _expiry(c: _Conversion) -> None:
    source = "spec.ttlSecondsUntilExpired"
    expiry = c.pop(source)
    text = None if expiry is None else _seconds(expiry, source, c)
    if text and c.put(f"{_TEMPLATE_SPEC}.expireAfter", text, source=source):
        c.warn(f"{source}: {expiry} became {_TEMPLATE_SPEC}.expireAfter: {text}")


def _provider_ref(c: _Conversion, source: str) -> None:
    ref = c.pop(source)
    if ref is None:
        return
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name:
        c.reject(f"{source}.name", "Required value: the name of the EC2NodeClass to use")
        return
    target = f"{_TEMPLATE_SPEC}.nodeClassRef"
    new = {"group": AWS_GROUP, "kind": NODE_CLASS_KIND, "name": name}
    if c.put(target, new, source=source):
        c.warn(
            f"{source} was replaced by {target} "
            f"(group: {AWS_GROUP}, kind: {NODE_CLASS_KIND}, name: {name})"
        )


def _alpha_disruption(c: _Conversion) -> None:
    after_empty = c.pop("spec.ttlSecondsAfterEmpty")
    consolidation = c.pop("spec.consolidation")
    enabled = consolidation.get("enabled") if isinstance(consolidation, dict) else None
    if after_empty is not None and enabled is True:
        c.reject(
            "spec.ttlSecondsAfterEmpty",
            "Forbidden: cannot be combined with consolidation.enabled: true; in v1 write "
            "spec.disruption.consolidationPolicy: WhenEmptyOrUnderutilized (it removes empty "
            "nodes too) and spec.disruption.consolidateAfter",
        )
        return
    if after_empty is not None:
        if text := _seconds(after_empty, "spec.ttlSecondsAfterEmpty", c):
            _set_disruption(c, "spec.ttlSecondsAfterEmpty", "WhenEmpty", text)
            c.warn(
                f"spec.ttlSecondsAfterEmpty: {after_empty} became "
                f"{_DISRUPTION}.consolidationPolicy: WhenEmpty with consolidateAfter: {text}"
            )
    elif enabled is True:
        _set_disruption(c, "spec.consolidation", "WhenEmptyOrUnderutilized", None)
        c.warn(
            f"spec.consolidation.enabled: true became {_DISRUPTION}.consolidationPolicy: "
            "WhenEmptyOrUnderutilized"
        )
    elif enabled is False:
        _set_disruption(c, "spec.consolidation", None, "Never")
        c.warn(
            f"spec.consolidation.enabled: false became {_DISRUPTION}.consolidateAfter: Never "
            "(no consolidation)"
        )


def _set_disruption(c: _Conversion, source: str, policy: str | None, after: str | None) -> None:
    if policy is not None:
        c.put(f"{_DISRUPTION}.consolidationPolicy", policy, source=source)
    if after is not None:
        c.put(f"{_DISRUPTION}.consolidateAfter", after, source=source)


def _v1beta1_disruption(c: _Conversion) -> None:
    disruption = c.get(_DISRUPTION)
    if not isinstance(disruption, dict):
        return
    c.move(f"{_DISRUPTION}.expireAfter", f"{_TEMPLATE_SPEC}.expireAfter")
    if disruption.get("consolidationPolicy") == "WhenUnderutilized":
        disruption["consolidationPolicy"] = "WhenEmptyOrUnderutilized"
        c.warn(
            f"{_DISRUPTION}.consolidationPolicy: WhenUnderutilized is now WhenEmptyOrUnderutilized"
        )
    nodes = disruption.pop("nodes", None)
    if nodes is not None and c.put(
        f"{_DISRUPTION}.budgets", [{"nodes": nodes}], source=(f"{_DISRUPTION}.nodes")
    ):
        c.warn(f"{_DISRUPTION}.nodes became {_DISRUPTION}.budgets: [{{nodes: {nodes}}}]")
    if disruption.get("consolidateAfter") is None:
        if disruption.get("consolidationPolicy") == "WhenEmpty":
            c.reject(
                f"{_DISRUPTION}.consolidateAfter",
                "Required value: consolidationPolicy WhenEmpty needs consolidateAfter, how long "
                "a node must stay empty before it is removed (for example 30s)",
            )
        else:
            disruption["consolidateAfter"] = "0s"
            c.warn(
                f"{_DISRUPTION}.consolidateAfter set to 0s: v1 requires it, and 0s consolidates "
                "as soon as possible, as v1beta1 did"
            )


# --- NodeClaim ------------------------------------------------------------------------------


def _nodeclaim(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    c = _Conversion(obj, KARPENTER_V1, "NodeClaim")
    if isinstance(c.obj.get("spec"), dict):
        c.node_class_ref("spec.nodeClassRef")
        if c.pop("spec.kubelet") is not None:
            c.warn(
                "spec.kubelet dropped: a v1 NodeClaim takes its kubelet settings from its "
                "EC2NodeClass (spec.kubelet)"
            )
        c.merge_requirements("spec.requirements")
    return c.finish()


def _machine(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    raise InvalidError(
        f'Machine "{(obj.get("metadata") or {}).get("name") or ""}"',
        [
            FieldError(
                "kind",
                "Forbidden: Machine (karpenter.sh/v1alpha5) is no longer served; its successor, "
                "the karpenter.sh/v1 NodeClaim, is created by the provisioner from a NodePool: "
                "write a NodePool instead",
            )
        ],
    )


# --- EC2NodeClass ---------------------------------------------------------------------------


def _nodeclass(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    c = _Conversion(obj, AWS_V1, NODE_CLASS_KIND)
    alpha = obj.get("apiVersion") == AWS_V1ALPHA1
    if isinstance(c.obj.get("spec"), dict):
        for name in ("launchTemplate", "launchTemplateName"):
            if c.get(f"spec.{name}") is not None:
                c.reject(
                    f"spec.{name}",
                    "Forbidden: launch templates are not supported: describe the nodes with "
                    "the EC2NodeClass fields (amiSelectorTerms, userData, blockDeviceMappings, "
                    "securityGroupSelectorTerms, metadataOptions)",
                )
        for source, target in (
            ("spec.subnetSelector", "spec.subnetSelectorTerms"),
            ("spec.securityGroupSelector", "spec.securityGroupSelectorTerms"),
            ("spec.amiSelector", "spec.amiSelectorTerms"),
        ):
            _selector_terms(c, source, target)
        _ami_family(c, default_al2=alpha)
        _hop_limit(c)
        if alpha and c.get("spec.role") is None and c.get("spec.instanceProfile") is None:
            c.reject(
                "spec.role",
                "Required value: v1alpha1 nodes used the controller's default instance profile; "
                "name the nodes' IAM role (spec.role) or instance profile (spec.instanceProfile)",
            )
    return c.finish()


def _selector_terms(c: _Conversion, source: str, target: str) -> None:
    selector = c.pop(source)
    if selector is None:
        return
    if not isinstance(selector, dict):
        c.reject(source, "Invalid value: must be a map of tags")
        return
    tags = {str(k): v for k, v in selector.items() if not str(k).startswith("aws")}
    ids = _split(selector.get("aws-ids") or selector.get("aws::ids"))
    owners = _split(selector.get("aws::owners"))
    name = selector.get("aws::name")
    if ids and (tags or name or owners):
        c.reject(
            source,
            "Forbidden: aws-ids cannot be combined with tags or names; write "
            f"{target} with one term per id and another term for the tags",
        )
        return
    if ids:
        terms: list[dict[str, Any]] = [{"id": i} for i in ids]
    else:
        base: dict[str, Any] = {}
        if tags:
            base["tags"] = tags
        if name:
            base["name"] = name
        terms = [{**base, "owner": o} for o in owners] if owners else [base]
    if c.put(target, terms, source=source):
        c.warn(f"{source} became {target}: {json.dumps(terms, separators=(',', ':'))}")


def _split(value: Any) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else []


def _ami_family(c: _Conversion, *, default_al2: bool) -> None:
    family = c.get("spec.amiFamily")
    terms = c.get("spec.amiSelectorTerms")
    if family is None and default_al2:
        family = "AL2"
        c.warn("spec.amiFamily was not set: AL2, the v1alpha1 default, assumed")
        c.put("spec.amiFamily", family, source="spec.amiFamily")
    if family in _ALIAS_FAMILIES and not terms:
        alias = f"{str(family).lower()}@latest"
        c.pop("spec.amiFamily")
        c.put("spec.amiSelectorTerms", [{"alias": alias}], source="spec.amiFamily")
        c.warn(
            f"spec.amiFamily: {family} without spec.amiSelectorTerms became "
            f"spec.amiSelectorTerms: [{{alias: {alias}}}]"
        )
    elif family == "Ubuntu":
        _ubuntu(c, terms)
    elif family is None and not terms:
        c.reject(
            "spec.amiFamily",
            "Required value: choose the AMIs, for example spec.amiSelectorTerms: "
            "[{alias: al2023@latest}]",
        )


def _ubuntu(c: _Conversion, terms: Any) -> None:
    if not terms:
        c.reject(
            "spec.amiFamily",
            'Unsupported value: "Ubuntu": v1 has no Ubuntu alias: select your Ubuntu AMIs '
            "with spec.amiSelectorTerms (id, name or tags) and set amiFamily: AL2, whose "
            "bootstrap format Ubuntu shares",
        )
        return
    spec = c.obj["spec"]
    spec["amiFamily"] = "AL2"
    c.warn("spec.amiFamily: Ubuntu became AL2 (the same bootstrap format)")
    if spec.get("blockDeviceMappings") is None:
        spec["blockDeviceMappings"] = [json_copy(_UBUNTU_ROOT_VOLUME)]
        c.warn(
            "spec.blockDeviceMappings set to Ubuntu's root volume "
            "(/dev/sda1, 20Gi gp3, encrypted), which AL2 does not default to"
        )


def _hop_limit(c: _Conversion) -> None:
    options = c.get("spec.metadataOptions")
    if options is None or (isinstance(options, dict) and "httpPutResponseHopLimit" not in options):
        c.put(
            "spec.metadataOptions.httpPutResponseHopLimit",
            _V1BETA1_HOP_LIMIT,
            source="spec.metadataOptions",
        )
        c.warn(
            f"spec.metadataOptions.httpPutResponseHopLimit set to {_V1BETA1_HOP_LIMIT}, the "
            "default before v1 (v1 defaults to 1)"
        )


# --- dispatch -------------------------------------------------------------------------------

_CONVERTERS: dict[tuple[str, str], Converter] = {
    (KARPENTER_V1BETA1, "NodePool"): _nodepool,
    (KARPENTER_V1BETA1, "NodeClaim"): _nodeclaim,
    (AWS_V1BETA1, NODE_CLASS_KIND): _nodeclass,
    (KARPENTER_V1ALPHA5, "Provisioner"): _nodepool,
    (KARPENTER_V1ALPHA5, "Machine"): _machine,
    (AWS_V1ALPHA1, "AWSNodeTemplate"): _nodeclass,
}
_CURRENT = frozenset(
    {(KARPENTER_V1, "NodePool"), (KARPENTER_V1, "NodeClaim"), (AWS_V1, NODE_CLASS_KIND)}
)


def conversion_for(api_version: str, kind: str) -> Converter | None:
    """The function converting that apiVersion and kind to v1, or ``None`` if there is none."""
    return _CONVERTERS.get((api_version, kind))


def convert(obj: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``obj`` as its v1 kind and the warnings; ``InvalidError`` when it has no v1 form."""
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    if key in _CURRENT:
        return json_copy(dict(obj)), []
    converter = _CONVERTERS.get(key)
    if converter is None:
        raise BadRequestError(f"no conversion to Karpenter v1 for {key[1]} {key[0]}")
    return converter(obj)
