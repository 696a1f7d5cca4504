"""The hashes of a NodePool's template and of an EC2NodeClass that drift compares.

A NodeClaim carries the hash of the NodePool template it was made from
(``karpenter.sh/nodepool-hash``, stamped by the provisioner when it creates the claim) and of
its node class (``karpenter.k8s.aws/ec2nodeclass-hash``), each with the version of the hashing
scheme. Like a Deployment's pod template hash, the NodePool hash covers the template's static
fields and leaves out the requirements (judged by value); the node class hash leaves out the
selector terms (they resolve dynamically). Nulls and empty maps or lists hash as absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from shipyard.autoscaler.apis.nodeclass import default_nodeclass
from shipyard.autoscaler.apis.nodepool import default_nodepool
from shipyard.core.objects import json_copy

__all__ = [
    "DYNAMIC_NODECLASS_FIELDS",
    "HASH_VERSION",
    "NODECLASS_HASH",
    "NODECLASS_HASH_VERSION",
    "NODEPOOL_HASH",
    "NODEPOOL_HASH_VERSION",
    "digest",
    "hash_annotations",
    "nodeclass_hash",
    "nodepool_hash",
]

NODEPOOL_HASH = "karpenter.sh/nodepool-hash"
NODEPOOL_HASH_VERSION = "karpenter.sh/nodepool-hash-version"
NODECLASS_HASH = "karpenter.k8s.aws/ec2nodeclass-hash"
NODECLASS_HASH_VERSION = "karpenter.k8s.aws/ec2nodeclass-hash-version"
HASH_VERSION = "v1"  # Shipyard's hashing scheme; bump it when the hashed fields change
# resolved dynamically (images, subnets, groups): drift comes from the cloud, not the hash
DYNAMIC_NODECLASS_FIELDS = ("amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms")


def _pruned(value: Any) -> Any:
    """Without null, empty maps and empty lists (absent and empty mean the same in a spec)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def digest(value: Any) -> str:
    """A short stable hash of plain data (nulls and empty maps or lists left out)."""
    text = json.dumps(_pruned(value), sort_keys=True, separators=(",", ":"))
    return str(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big"))


def nodepool_hash(pool: Mapping[str, Any]) -> str:
    """The hash of a NodePool's ``spec.template`` without its requirements (defaults applied,
    so a defaulted and an explicit ``expireAfter: 720h`` hash the same)."""
    obj: dict[str, Any] = json_copy(dict(pool))
    default_nodepool(obj)
    template = json_copy((obj.get("spec") or {}).get("template") or {})
    (template.get("spec") or {}).pop("requirements", None)
    return digest(template)


def nodeclass_hash(node_class: Mapping[str, Any]) -> str:
    """The hash of an EC2NodeClass's static fields (its spec without the selector terms)."""
    obj: dict[str, Any] = json_copy(dict(node_class))
    default_nodeclass(obj)
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in DYNAMIC_NODECLASS_FIELDS}
    return digest(spec)


def hash_annotations(pool_hash: str, class_hash: str | None) -> dict[str, str]:
    """The hash annotations a claim made from the current pool and node class would carry."""
    out = {NODEPOOL_HASH: pool_hash, NODEPOOL_HASH_VERSION: HASH_VERSION}
    if class_hash is not None:
        out[NODECLASS_HASH] = class_hash
        out[NODECLASS_HASH_VERSION] = HASH_VERSION
    return out
