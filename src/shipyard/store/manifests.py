"""Manifests in, objects out: reading YAML/JSON files and applying them the way kubectl does.

``load_manifests`` reads a file, a directory (``*.yaml``, ``*.yml``, ``*.json``, sorted, not
recursive — kubectl's default) or standard input; multi-document YAML and ``kind: List`` are
expanded. A document that is not a Kubernetes object fails with the file, line and column.

``apply_object`` is kubectl's client-side apply: create with the last-applied annotation when
the object is new, otherwise send the three-way patch computed from the last-applied
configuration, the manifest and the live object, so fields that others own (an HPA's
``replicas``, a controller's ``status``) are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from shipyard.core.errors import BadRequestError, FieldError, InvalidError, NotFoundError
from shipyard.core.objects import Obj, json_copy, meta
from shipyard.store.apply import last_applied, three_way_patch, with_last_applied
from shipyard.store.patch import PatchType
from shipyard.store.scheme import KindInfo, Scheme

__all__ = [
    "ApplyResult",
    "Manifest",
    "ManifestError",
    "apply_object",
    "load_manifests",
    "parse_manifests",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(BadRequestError):
    """A manifest file that cannot be read as Kubernetes objects; says where."""


@dataclass(frozen=True)
class Manifest:
    obj: Obj
    source: str
    line: int  # 1-based line where the document starts

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


class _Writer(Protocol):
    """What apply needs of a store (the embedded Store, or later a remote client)."""

    @property
    def scheme(self) -> Scheme: ...

    def get(self, api_version: str, kind: str, name: str, *, namespace: str = "") -> Obj: ...

    def create(self, obj: Obj, *, dry_run: bool = False) -> Obj: ...

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> Obj: ...


@dataclass(frozen=True)
class ApplyResult:
    action: Literal["created", "configured", "unchanged"]
    obj: Obj
    info: KindInfo
    warnings: list[str] = field(default_factory=list)  # from converting an older version

    def __str__(self) -> str:
        return (
            f"{self.info.singular}{_group_suffix(self.info)}/{meta(self.obj)['name']} {self.action}"
        )


def _group_suffix(info: KindInfo) -> str:
    return f".{info.group}" if info.group else ""


def load_manifests(path: str, stdin_text: str | None = None) -> list[Manifest]:
    """Read ``path`` (a file, a directory, or ``-`` for ``stdin_text``) into manifests."""
    if path == "-":
        return parse_manifests(stdin_text or "", "<stdin>")
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in MANIFEST_SUFFIXES and f.is_file())
        return [m for f in files for m in parse_manifests(f.read_text(), str(f))]
    if not p.exists():
        raise ManifestError(f'the path "{path}" does not exist')
    return parse_manifests(p.read_text(), str(p))


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """Every object in a YAML/JSON stream, ``kind: List`` expanded, empty documents skipped."""
    return [m for doc, line in _documents(text, source) for m in _expand(doc, source, line)]


def _documents(text: str, source: str) -> Iterator[tuple[Any, int]]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield loader.construct_document(node), node.start_mark.line + 1
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ManifestError(f"{where}: invalid YAML: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise ManifestError(f"{source}: invalid YAML: {e}") from e
    finally:
        loader.dispose()


def _expand(doc: Any, source: str, line: int) -> list[Manifest]:
    if doc is None:
        return []
    where = f"{source}:{line}"
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected a Kubernetes object (a mapping), got {_type(doc)}")
    doc = json.loads(json.dumps(doc, default=str))  # YAML timestamps and the like become strings
    if str(doc.get("kind", "")).endswith("List") and "items" in doc:
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise ManifestError(f"{where}: items: expected a list, got {_type(items)}")
        return [m for item in items for m in _expand(item, source, line)]
    missing = [f for f in ("apiVersion", "kind") if not doc.get(f)]
    if missing:
        raise ManifestError(f"{where}: object has no {' or '.join(missing)}")
    if not isinstance(doc.get("metadata"), dict):
        raise ManifestError(f"{where}: {doc['kind']}: metadata: Required value")
    return [Manifest(doc, source, line)]


def _type(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)


def apply_object(store: _Writer, obj: Obj, *, namespace: str = "default") -> ApplyResult:
    """kubectl apply of one object: create, or three-way patch; says which happened."""
    info = store.scheme.get(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    desired = json_copy(obj)
    warnings: list[str] = []
    if info.convert is not None:  # an older version: diffed and written as the stored one
        desired, warnings = info.convert(desired)
        info = store.scheme.get(str(desired.get("apiVersion", "")), str(desired.get("kind", "")))
    md = desired.setdefault("metadata", {})
    if info.namespaced:
        md["namespace"] = md.get("namespace") or namespace
    else:
        md.pop("namespace", None)
    if not md.get("name"):
        raise InvalidError(
            info.kind, [FieldError("metadata.name", "Required value: name is required")]
        )
    desired = with_last_applied(desired)
    ns = md.get("namespace", "")
    try:
        live = store.get(info.api_version, info.kind, md["name"], namespace=ns)
    except NotFoundError:
        return ApplyResult("created", store.create(desired), info, warnings)
    patch = three_way_patch(
        last_applied(live), desired, live, api_version=info.api_version, kind=info.kind
    )
    if not patch:
        return ApplyResult("unchanged", live, info, warnings)
    updated = store.patch(
        info.api_version,
        info.kind,
        md["name"],
        patch,
        namespace=ns,
        patch_type=PatchType.STRATEGIC.value,
    )
    changed = meta(updated).get("resourceVersion") != meta(live).get("resourceVersion")
    return ApplyResult("configured" if changed else "unchanged", updated, info, warnings)
