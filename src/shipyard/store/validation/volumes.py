"""Pod volumes and the PersistentVolumeClaim spec (also used by ephemeral volumes).

Each volume has a DNS-1123 label name and exactly one source (``Required value: must specify
a volume type`` / ``Forbidden: may not specify more than 1 volume type``). The sources a
simulated cluster meets (configMap, secret, emptyDir, hostPath, persistentVolumeClaim,
projected, downwardAPI, csi, ephemeral, nfs, image) are checked field by field; sources only
a real kubelet would use (``awsElasticBlockStore``, ``rbd``, ``vsphereVolume``…) are accepted
as any object.
"""

from __future__ import annotations

from typing import Any

from shipyard.store.validation.containers import (
    LOCAL_REF,
    MODE,
    OBJECT_FIELD_SELECTOR,
    RESOURCE_FIELD_SELECTOR,
    RESOURCE_LIST,
    TYPED_LOCAL_REF,
)
from shipyard.store.validation.formats import (
    dns1123_label,
)
from shipyard.store.validation.meta import LABEL_SELECTOR, template_meta
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Qty,
    Schema,
    Str,
    forbidden,
    get_dict,
    is_empty,
    required,
)

# --- volumes --------------------------------------------------------------------------------

_KEY_TO_PATH = Obj({"key": Str(), "mode": MODE, "path": Str()}, required=("key", "path"))
_DOWNWARD_FILE = Obj(
    {
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "mode": MODE,
        "path": Str(),
        "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
    },
    required=("path",),
)
_ANY_OBJECT = AnyValue(object_only=True)
_PROJECTION = Obj(
    {
        "clusterTrustBundle": _ANY_OBJECT,
        "configMap": Obj({"items": ListOf(_KEY_TO_PATH), "name": Str(), "optional": Bool()}),
        "downwardAPI": Obj({"items": ListOf(_DOWNWARD_FILE)}),
        "podCertificate": _ANY_OBJECT,
        "secret": Obj({"items": ListOf(_KEY_TO_PATH), "name": Str(), "optional": Bool()}),
        "serviceAccountToken": Obj(
            {
                "audience": Str(),
                "expirationSeconds": Int(
                    600, message="may not specify a duration less than 10 minutes"
                ),
                "path": Str(),
            },
            required=("path",),
        ),
    }
)

__all__ = [
    "PVC_SPEC",
    "VOLUME",
    "VOLUME_SOURCES",
]


def _pvc_spec_rule(spec: dict[str, Any], path: str, errs: Errors) -> None:
    if is_empty(spec.get("accessModes")):
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    requests = get_dict(get_dict(spec, "resources"), "requests")
    if spec.get("volumeName") is None and "storage" not in requests:
        errs.append(required(f"{path}.resources.requests.storage"))


PVC_SPEC = Obj(
    {
        "accessModes": ListOf(
            Enum("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
        ),
        "dataSource": TYPED_LOCAL_REF,
        "dataSourceRef": TYPED_LOCAL_REF.extend({"namespace": Str()}),
        "resources": Obj({"limits": RESOURCE_LIST, "requests": RESOURCE_LIST}),
        "selector": LABEL_SELECTOR,
        "storageClassName": Str(),
        "volumeAttributesClassName": Str(),
        "volumeMode": Enum("Block", "Filesystem"),
        "volumeName": Str(),
    },
    rules=(_pvc_spec_rule,),
)

_CHECKED_SOURCES: dict[str, Schema] = {
    "configMap": Obj(
        {"defaultMode": MODE, "items": ListOf(_KEY_TO_PATH), "name": Str(), "optional": Bool()}
    ),
    "csi": Obj(
        {
            "driver": Str(),
            "fsType": Str(),
            "nodePublishSecretRef": LOCAL_REF,
            "readOnly": Bool(),
            "volumeAttributes": MapOf(Str()),
        },
        required=("driver",),
    ),
    "downwardAPI": Obj({"defaultMode": MODE, "items": ListOf(_DOWNWARD_FILE)}),
    "emptyDir": Obj({"medium": Str(), "sizeLimit": Qty()}),
    "ephemeral": Obj(
        {
            "volumeClaimTemplate": Obj(
                {"metadata": template_meta(), "spec": PVC_SPEC}, required=("spec",)
            )
        },
        required=("volumeClaimTemplate",),
    ),
    "hostPath": Obj(
        {
            "path": Str(),
            "type": Enum(
                "DirectoryOrCreate",
                "Directory",
                "FileOrCreate",
                "File",
                "Socket",
                "CharDevice",
                "BlockDevice",
                allow_empty=True,
            ),
        },
        required=("path",),
    ),
    "image": Obj({"pullPolicy": Enum("Always", "IfNotPresent", "Never"), "reference": Str()}),
    "nfs": Obj({"path": Str(), "readOnly": Bool(), "server": Str()}, required=("path", "server")),
    "persistentVolumeClaim": Obj({"claimName": Str(), "readOnly": Bool()}, required=("claimName",)),
    "projected": Obj({"defaultMode": MODE, "sources": ListOf(_PROJECTION)}),
    "secret": Obj(
        {
            "defaultMode": MODE,
            "items": ListOf(_KEY_TO_PATH),
            "optional": Bool(),
            "secretName": Str(),
        }
    ),
}
# Sources only a real kubelet would use: accepted as any object.
_OPAQUE_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "iscsi",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
)
VOLUME_SOURCES: dict[str, Schema] = {
    **_CHECKED_SOURCES,
    **dict.fromkeys(_OPAQUE_SOURCES, _ANY_OBJECT),
}


def _one_volume_source(volume: dict[str, Any], path: str, errs: Errors) -> None:
    present = [k for k in volume if k in VOLUME_SOURCES and volume[k] is not None]
    if not present:
        errs.append(required(path, "must specify a volume type"))
    for extra in present[1:]:
        errs.append(forbidden(f"{path}.{extra}", "may not specify more than 1 volume type"))


VOLUME = Obj(
    {"name": Str(dns1123_label), **VOLUME_SOURCES},
    required=("name",),
    rules=(_one_volume_source,),
)
