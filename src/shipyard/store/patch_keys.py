"""Strategic-merge metadata of the built-in kinds, kept as data: field path -> struct tag.

Kubernetes decides how a strategic merge patch treats a list from the Go struct tags of the
field (``patchStrategy:"merge" patchMergeKey:"name"``). Shipyard keeps no Go structs, so the
tags are written down here as a table, one row per tagged field::

    "containers": ("merge", "name")          # PodSpec.Containers
    "volumes":    ("merge,retainKeys", "name")

A dotted path walks into maps and, past a list field, into that list's elements:
``containers.env`` is the ``env`` field of every element of ``containers``. A field with no
row is a plain map (merged key by key) or an atomic list (replaced whole), which is what the
Go code does for an untagged field. Rows follow ``k8s.io/api`` as of Kubernetes 1.31; notable
untagged (atomic) lists are ``tolerations``, ``spec.taints`` of a Node, ``readinessGates``,
``envFrom`` and Endpoints ``subsets``.

Kubernetes' strategic merge supports a single merge key per list, even where the API later
documented composite identities (``+listMapKey``) for server-side apply: container ports merge
by ``containerPort``, Service ports by ``port`` and topology spread constraints by
``topologyKey``. The table keeps those single keys so patches written by kubectl mean the same
thing here.

Kinds outside the built-in API groups (custom resources) have no schema:
:func:`schema_for` returns ``None`` and callers fall back to JSON merge patch, as the
Kubernetes API server does for custom resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from shipyard.core.objects import split_api_version

__all__ = ["BUILTIN_GROUPS", "PatchSchema", "Tag", "kind_tags", "schema_for"]

# (patchStrategy, patchMergeKey) exactly as the Go struct tag spells them.
Tag = tuple[str, str]

MERGE_BY_NAME: Tag = ("merge", "name")
MERGE_BY_TYPE: Tag = ("merge", "type")
MERGE_SET: Tag = ("merge", "")  # a list of primitives merged as a set (finalizers)


@dataclass(frozen=True)
class PatchSchema:
    """Patch metadata of one field, and of the fields below it.

    For a list field, ``fields`` describes the fields of its elements. ``merge`` lists merge
    element by element (by ``merge_key`` for lists of maps, as a set for primitives); other
    lists are atomic. ``retain_keys`` marks maps (or the elements of a list) whose patches
    carry ``$retainKeys``.
    """

    merge: bool = False
    merge_key: str = ""
    retain_keys: bool = False
    fields: Mapping[str, PatchSchema] = field(default_factory=dict)

    def child(self, name: str) -> PatchSchema:
        """The schema of field ``name``; an untagged field gets the default (atomic) schema."""
        return self.fields.get(name, _DEFAULT)

    @property
    def keyed(self) -> bool:
        """A list of maps merged by key."""
        return self.merge and bool(self.merge_key)


_DEFAULT = PatchSchema()

BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)

# ObjectMeta: every built-in kind has it, and so does every pod template.
_OBJECT_META: dict[str, Tag] = {
    "finalizers": MERGE_SET,
    "ownerReferences": ("merge", "uid"),
}

# Container, InitContainer and EphemeralContainer (EphemeralContainerCommon) share these.
_CONTAINER: dict[str, Tag] = {
    "ports": ("merge", "containerPort"),
    "env": MERGE_BY_NAME,
    "volumeMounts": ("merge", "mountPath"),
    "volumeDevices": ("merge", "devicePath"),
}

_POD_SPEC: dict[str, Tag] = {
    "volumes": ("merge,retainKeys", "name"),
    "containers": MERGE_BY_NAME,
    "initContainers": MERGE_BY_NAME,
    "ephemeralContainers": MERGE_BY_NAME,
    "imagePullSecrets": MERGE_BY_NAME,
    "hostAliases": ("merge", "ip"),
    "topologySpreadConstraints": ("merge", "topologyKey"),
    "schedulingGates": MERGE_BY_NAME,
    "resourceClaims": ("merge,retainKeys", "name"),
    **{
        f"{containers}.{path}": tag
        for containers in ("containers", "initContainers", "ephemeralContainers")
        for path, tag in _CONTAINER.items()
    },
}

_POD_STATUS: dict[str, Tag] = {
    "conditions": MERGE_BY_TYPE,
    "podIPs": ("merge", "ip"),
    "hostIPs": ("merge", "ip"),
}

_CONDITIONS: dict[str, Tag] = {"status.conditions": MERGE_BY_TYPE}


def _under(prefix: str, table: Mapping[str, Tag]) -> dict[str, Tag]:
    return {f"{prefix}.{path}": tag for path, tag in table.items()}


def _pod_template(prefix: str) -> dict[str, Tag]:
    """Rows of a PodTemplateSpec found at ``prefix``."""
    return {**_under(f"{prefix}.metadata", _OBJECT_META), **_under(f"{prefix}.spec", _POD_SPEC)}


def _workload(prefix: str = "spec.template") -> dict[str, Tag]:
    return {**_pod_template(prefix), **_CONDITIONS}


_KINDS: dict[tuple[str, str], dict[str, Tag]] = {
    ("", "Pod"): {**_under("spec", _POD_SPEC), **_under("status", _POD_STATUS)},
    ("", "PodTemplate"): _pod_template("template"),
    ("", "ReplicationController"): _workload(),
    ("", "Node"): {
        "spec.podCIDRs": MERGE_SET,
        "status.conditions": MERGE_BY_TYPE,
        "status.addresses": MERGE_BY_TYPE,
    },
    ("", "Service"): {"spec.ports": ("merge", "port"), **_CONDITIONS},
    ("", "ServiceAccount"): {"secrets": MERGE_BY_NAME},
    ("", "Namespace"): _CONDITIONS,
    ("", "PersistentVolumeClaim"): _CONDITIONS,
    ("apps", "Deployment"): {**_workload(), "spec.strategy": ("retainKeys", "")},
    ("apps", "ReplicaSet"): _workload(),
    ("apps", "DaemonSet"): _workload(),
    ("apps", "StatefulSet"): _workload(),
    ("batch", "Job"): _workload(),
    ("batch", "CronJob"): _pod_template("spec.jobTemplate.spec.template"),
    ("autoscaling", "HorizontalPodAutoscaler"): _CONDITIONS,
    ("policy", "PodDisruptionBudget"): _CONDITIONS,
}


def kind_tags(group: str, kind: str) -> dict[str, Tag]:
    """Every tagged field path of a built-in kind, ObjectMeta's included."""
    return {**_under("metadata", _OBJECT_META), **_KINDS.get((group, kind), {})}


def schema_for(api_version: str, kind: str) -> PatchSchema | None:
    """The patch schema of a kind, or ``None`` for a kind outside the built-in API groups."""
    group = split_api_version(api_version)[0]
    if group not in BUILTIN_GROUPS:
        return None
    return _schema(group, kind)


@cache
def _schema(group: str, kind: str) -> PatchSchema:
    tree: dict[str, _Node] = {}
    for path, tag in kind_tags(group, kind).items():
        _insert(tree, path.split("."), tag)
    return PatchSchema(fields=_freeze(tree))


# A node under construction: the tag of the field (if tagged) and its children.
_Node = tuple[list[Tag], dict[str, "_Node"]]


def _insert(tree: dict[str, _Node], parts: list[str], tag: Tag) -> None:
    node = tree.setdefault(parts[0], ([], {}))
    if len(parts) == 1:
        node[0][:] = [tag]
    else:
        _insert(node[1], parts[1:], tag)


def _freeze(tree: dict[str, _Node]) -> Mapping[str, PatchSchema]:
    out: dict[str, PatchSchema] = {}
    for name, (tags, children) in tree.items():
        strategies = set(tags[0][0].split(",")) if tags else set()
        out[name] = PatchSchema(
            merge="merge" in strategies,
            merge_key=tags[0][1] if tags else "",
            retain_keys="retainKeys" in strategies,
            fields=_freeze(children),
        )
    return MappingProxyType(out)
