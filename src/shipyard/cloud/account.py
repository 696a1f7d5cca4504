"""The simulated AWS account: AMIs, subnets and security groups, and what a node class selects.

An EC2NodeClass names its images, subnets and security groups with selector terms
(``amiSelectorTerms``, ``subnetSelectorTerms``, ``securityGroupSelectorTerms``); the terms of
one list are ORed, the fields of one term ANDed. :meth:`SimulatedAccount.resolve` answers them
the way EC2 would for this account:

- ``alias: <family>@<version>`` (families ``al2``, ``al2023``, ``bottlerocket``,
  ``windows2019``, ``windows2022``, ``windows2025``): ``@latest`` is the newest image of the
  family for each architecture — :meth:`SimulatedAccount.publish_ami` makes a new one newest;
  any other version resolves to that version's images (the account has every version ever
  released, so pinned aliases always resolve; Windows accepts ``@latest`` only, as Karpenter).
- ``id``: that image, subnet or group. The account has any id you name: an unknown image is
  taken to serve both architectures, an unknown subnet sits in a zone derived from its id.
- ``tags`` (``"*"`` matches any value) and ``name`` (glob) with ``owner`` accepted and ignored:
  the registered resources that match. **A term that matches nothing registered matches the
  account's defaults** (the al2023 images, one subnet per zone, the default security group),
  so manifests written for a real cluster (``karpenter.sh/discovery: my-cluster``) work
  unchanged; register resources to test selection precisely.

Ids are deterministic for the seed (BLAKE2b of what they name). Drift
(:meth:`SimulatedAccount.drift`) is Karpenter's: ``AMIDrift`` when the instance's image is no
longer among the node class's images for its architecture, ``SubnetDrift`` when its subnet is
no longer selected, ``SecurityGroupDrift`` when its groups differ from the selected ones.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.cloud.provider import Instance
from shipyard.cloud.sizing import ami_family_of
from shipyard.core.errors import FieldError, InvalidError

__all__ = [
    "ALIAS_FAMILIES",
    "DEFAULT_AMI_VERSION",
    "Image",
    "ResolvedNodeClass",
    "SecurityGroup",
    "SimulatedAccount",
    "Subnet",
]

ALIAS_FAMILIES = ("al2", "al2023", "bottlerocket", "windows2019", "windows2022", "windows2025")
ARCHITECTURES = ("amd64", "arm64")
DEFAULT_AMI_VERSION = "v20260101"
DEFAULT_FAMILY = "al2023"
_WINDOWS = frozenset({"windows2019", "windows2022", "windows2025"})


def _hex_id(prefix: str, *parts: object) -> str:
    text = "|".join(str(p) for p in parts)
    return f"{prefix}-{hashlib.blake2b(text.encode(), digest_size=9).hexdigest()[:17]}"


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    family: str  # "" for an image that is not one of an alias family's
    arch: str  # "amd64" | "arm64" | "" (serves both)
    version: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    sequence: int = 0  # publish order: newer images have larger numbers


@dataclass(frozen=True)
class Subnet:
    id: str
    zone: str
    tags: Mapping[str, str] = field(default_factory=dict)
    default: bool = False


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    default: bool = False


@dataclass(frozen=True)
class ResolvedNodeClass:
    """What a node class selects in the account right now."""

    family: str
    images: tuple[Image, ...]
    subnets: tuple[Subnet, ...]
    security_groups: tuple[SecurityGroup, ...]

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(sorted({s.zone for s in self.subnets}))

    def image_for(self, arch: str) -> Image | None:
        """The newest selected image that runs on ``arch``."""
        usable = [i for i in self.images if i.arch in (arch, "")]
        return max(usable, key=lambda i: (i.sequence, i.id)) if usable else None

    def subnet_for(self, zone: str) -> Subnet | None:
        return next((s for s in sorted(self.subnets, key=lambda s: s.id) if s.zone == zone), None)


def _tags_match(wanted: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    return all(k in tags and (v == "*" or tags[k] == str(v)) for k, v in wanted.items())


class SimulatedAccount:
    """AMIs, subnets and security groups of one region; see the module docstring."""

    def __init__(self, region: str, zones: Sequence[str], *, seed: int = 0) -> None:
        self.region = region
        self.zones = tuple(zones)
        self.seed = seed
        self._sequence = 0
        self._images: dict[str, Image] = {}
        self._latest: dict[tuple[str, str], str] = {}  # (family, arch) -> image id
        self._subnets: dict[str, Subnet] = {}
        self._groups: dict[str, SecurityGroup] = {}
        for family in ALIAS_FAMILIES:
            for arch in ARCHITECTURES:
                self._publish(family, DEFAULT_AMI_VERSION, arch)
        for zone in self.zones:
            subnet_id = _hex_id("subnet", seed, region, zone, "default")
            self._subnets[subnet_id] = Subnet(subnet_id, zone, {"Name": f"default-{zone}"}, True)
        group_id = _hex_id("sg", seed, region, "default")
        self._groups[group_id] = SecurityGroup(group_id, "default", {}, True)

    # --- images ----------------------------------------------------------------------------

    def publish_ami(
        self,
        family: str,
        image_id: str | None = None,
        *,
        arch: str | None = None,
        version: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Image:
        """Release a new image of ``family``; ``<family>@latest`` resolves to it from now on.

        ``arch=None`` publishes one image for both architectures.
        """
        if family not in ALIAS_FAMILIES:
            raise ValueError(f"unknown AMI family {family!r}; expected one of {ALIAS_FAMILIES}")
        if arch not in (None, *ARCHITECTURES):
            raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
        version = version or f"v{self._sequence + 1:08d}"
        return self._publish(family, version, arch or "", image_id=image_id, name=name, tags=tags)

    def register_image(
        self,
        image_id: str,
        *,
        arch: str = "",
        name: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Image:
        """Add a custom image (selected by id, name or tags, never by an alias)."""
        self._sequence += 1
        image = Image(image_id, name or image_id, "", arch, "", dict(tags or {}), self._sequence)
        self._images[image_id] = image
        return image

    def image(self, image_id: str) -> Image | None:
        return self._images.get(image_id)

    def latest(self, family: str, arch: str) -> Image:
        image_id = self._latest.get((family, arch)) or self._latest[(family, "")]
        return self._images[image_id]

    def _publish(
        self,
        family: str,
        version: str,
        arch: str,
        *,
        image_id: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        latest: bool = True,
    ) -> Image:
        self._sequence += 1
        image_id = image_id or _hex_id("ami", self.seed, family, version, arch)
        image = Image(
            image_id,
            name or f"{family}-{version}-{arch or 'multiarch'}",
            family,
            arch,
            version,
            dict(tags or {}),
            self._sequence,
        )
        self._images[image_id] = image
        if latest:
            for each in (arch,) if arch else ARCHITECTURES:
                self._latest[(family, each)] = image_id
        return image

    def _version_images(self, family: str, version: str) -> list[Image]:
        found = [i for i in self._images.values() if i.family == family and i.version == version]
        if not found:  # an older release, looked up for the first time: not the latest
            found = [self._publish(family, version, arch, latest=False) for arch in ARCHITECTURES]
        return found

    # --- subnets and security groups ------------------------------------------------------

    def add_subnet(
        self, zone: str, subnet_id: str | None = None, *, tags: Mapping[str, str] | None = None
    ) -> Subnet:
        if zone not in self.zones:
            raise ValueError(f"zone {zone!r} is not one of this account's zones {self.zones}")
        subnet_id = subnet_id or _hex_id("subnet", self.seed, zone, len(self._subnets))
        subnet = Subnet(subnet_id, zone, dict(tags or {}))
        self._subnets[subnet_id] = subnet
        return subnet

    def add_security_group(
        self, name: str, group_id: str | None = None, *, tags: Mapping[str, str] | None = None
    ) -> SecurityGroup:
        group_id = group_id or _hex_id("sg", self.seed, name, len(self._groups))
        group = SecurityGroup(group_id, name, dict(tags or {}))
        self._groups[group_id] = group
        return group

    # --- resolution -----------------------------------------------------------------------

    def resolve(self, node_class: Mapping[str, Any] | None) -> ResolvedNodeClass:
        """What the node class selects; ``InvalidError`` for malformed selector terms."""
        spec: Mapping[str, Any] = (node_class or {}).get("spec") or {}
        family = ami_family_of(spec)
        errors: list[FieldError] = []
        images = self._resolve_images(spec, family, errors)
        subnets = self._resolve_subnets(spec, errors)
        groups = self._resolve_groups(spec, errors)
        if errors:
            raise InvalidError("EC2NodeClass", errors)
        return ResolvedNodeClass(family, images, subnets, groups)

    def _terms(
        self, spec: Mapping[str, Any], key: str, errors: list[FieldError]
    ) -> list[tuple[str, Mapping[str, Any]]]:
        terms = spec.get(key) or []
        if not isinstance(terms, list):
            errors.append(FieldError(f"spec.{key}", "must be a list of selector terms"))
            return []
        out = []
        for i, term in enumerate(terms):
            path = f"spec.{key}[{i}]"
            if not isinstance(term, Mapping) or not term:
                errors.append(FieldError(path, "must be an object with at least one selector"))
                continue
            tags = term.get("tags")
            if tags is not None and (not isinstance(tags, Mapping) or not tags):
                errors.append(FieldError(f"{path}.tags", "must be a non-empty map of tags"))
                continue
            if "id" in term and len(set(term) - {"id"}) > 0:
                errors.append(FieldError(path, "'id' is mutually exclusive with other fields"))
                continue
            out.append((path, term))
        return out

    def _resolve_images(
        self, spec: Mapping[str, Any], family: str, errors: list[FieldError]
    ) -> tuple[Image, ...]:
        terms = self._terms(spec, "amiSelectorTerms", errors)
        if not terms:
            default = family if family in ALIAS_FAMILIES else DEFAULT_FAMILY
            return self._latest_images(default)
        found: dict[str, Image] = {}
        for path, term in terms:
            for image in self._images_for_term(path, term, errors):
                found[image.id] = image
        return tuple(found[k] for k in sorted(found))

    def _latest_images(self, family: str) -> tuple[Image, ...]:
        ids = sorted({self.latest(family, arch).id for arch in ARCHITECTURES})
        return tuple(self._images[i] for i in ids)

    def _images_for_term(
        self, path: str, term: Mapping[str, Any], errors: list[FieldError]
    ) -> list[Image]:
        if "alias" in term:
            return self._alias_images(f"{path}.alias", term["alias"], errors)
        if "id" in term:
            image_id = str(term["id"])
            known = self._images.get(image_id)
            return [known or self.register_image(image_id)]
        name, tags = term.get("name"), term.get("tags") or {}
        matched = [
            image
            for image in self._images.values()
            if (name is None or fnmatch.fnmatchcase(image.name, str(name)))
            and _tags_match(tags, image.tags)
            and (tags or name is not None)
        ]
        return matched or list(self._latest_images(DEFAULT_FAMILY))

    def _alias_images(self, path: str, alias: Any, errors: list[FieldError]) -> list[Image]:
        family, sep, version = str(alias).partition("@")
        family = family.lower()
        if not sep or not version or family not in ALIAS_FAMILIES:
            errors.append(
                FieldError(
                    path,
                    f"Invalid value: {alias!r}: must be <family>@<version> with family one of "
                    f"{', '.join(ALIAS_FAMILIES)} (for example al2023@latest)",
                )
            )
            return []
        if family in _WINDOWS and version != "latest":
            errors.append(
                FieldError(path, f"Invalid value: {alias!r}: Windows aliases must use @latest")
            )
            return []
        if version == "latest":
            return list(self._latest_images(family))
        return self._version_images(family, version)

    def _resolve_subnets(
        self, spec: Mapping[str, Any], errors: list[FieldError]
    ) -> tuple[Subnet, ...]:
        defaults = [s for s in self._subnets.values() if s.default]
        found: dict[str, Subnet] = {}
        for _path, term in self._terms(spec, "subnetSelectorTerms", errors):
            if "id" in term:
                subnet = self._subnets.get(str(term["id"])) or self._adopt_subnet(str(term["id"]))
                found[subnet.id] = subnet
                continue
            tags = term.get("tags") or {}
            matched = [
                s for s in self._subnets.values() if not s.default and _tags_match(tags, s.tags)
            ]
            for subnet in matched or defaults:
                found[subnet.id] = subnet
        if not found and not spec.get("subnetSelectorTerms"):
            found = {s.id: s for s in defaults}
        return tuple(found[k] for k in sorted(found))

    def _adopt_subnet(self, subnet_id: str) -> Subnet:
        index = int(hashlib.blake2b(subnet_id.encode(), digest_size=4).hexdigest(), 16)
        subnet = Subnet(subnet_id, self.zones[index % len(self.zones)])
        self._subnets[subnet_id] = subnet
        return subnet

    def _resolve_groups(
        self, spec: Mapping[str, Any], errors: list[FieldError]
    ) -> tuple[SecurityGroup, ...]:
        defaults = [g for g in self._groups.values() if g.default]
        found: dict[str, SecurityGroup] = {}
        for _path, term in self._terms(spec, "securityGroupSelectorTerms", errors):
            if "id" in term:
                group_id = str(term["id"])
                group = self._groups.get(group_id) or SecurityGroup(group_id, group_id)
                self._groups[group.id] = group
                found[group.id] = group
                continue
            name, tags = term.get("name"), term.get("tags") or {}
            matched = [
                g
                for g in self._groups.values()
                if not g.default
                and (name is None or fnmatch.fnmatchcase(g.name, str(name)))
                and _tags_match(tags, g.tags)
            ]
            for group in matched or defaults:
                found[group.id] = group
        if not found and not spec.get("securityGroupSelectorTerms"):
            found = {g.id: g for g in defaults}
        return tuple(found[k] for k in sorted(found))

    # --- drift ----------------------------------------------------------------------------

    def drift(self, instance: Instance, node_class: Mapping[str, Any] | None) -> str:
        """``AMIDrift``, ``SubnetDrift``, ``SecurityGroupDrift`` or ``""`` (checked in order)."""
        resolved = self.resolve(node_class)
        arch = instance.arch
        image_ids = {i.id for i in resolved.images if not arch or i.arch in (arch, "")}
        if instance.image_id and instance.image_id not in image_ids:
            return "AMIDrift"
        if instance.subnet_id and instance.subnet_id not in {s.id for s in resolved.subnets}:
            return "SubnetDrift"
        groups = {g.id for g in resolved.security_groups}
        if instance.security_group_ids and set(instance.security_group_ids) != groups:
            return "SecurityGroupDrift"
        return ""
