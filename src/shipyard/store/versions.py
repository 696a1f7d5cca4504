"""How a write becomes the next stored version of an object, and what it may share.

The :class:`~shipyard.store.store.Store` turns each request into a candidate version with the
pure functions here, as the API server's update path does around etcd:

- **Preconditions.** An update's (or delete's) ``uid`` and ``resourceVersion``, when given,
  must be the stored ones, else a ``ConflictError`` with Kubernetes' wording ("the object has
  been modified; please apply your changes to the latest version and try again").
- **Candidates.** ``update`` keeps the stored system fields (uid, creationTimestamp,
  deletionTimestamp, generation, resourceVersion) and, for kinds with a status subresource,
  the stored status (:func:`spec_and_meta`); ``update_status`` keeps everything but the status
  (:func:`status_only`). :func:`spec_changed` decides whether ``generation`` grows.
- **Admission rules of the store itself.** The metadata shapes its indexes and GC rely on
  (:func:`metadata_shape`) and Kubernetes' rule that no finalizer may be added to an object
  being deleted (:func:`finalizer_rules`); each kind validates the rest.
- **Sharing.** Objects handed to the store are copied (:func:`own`) unless handed off, and
  stored objects are never changed in place: a new version shares its unchanged parts with
  the old one (:func:`share_unchanged`), so validation of an update skips what is shared and
  memory is saved. With ``verify_shared`` on, the store fingerprints what it stored
  (:func:`fingerprint`, :func:`check_fingerprint`) to catch a reader that wrote into a
  shared object.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import BadRequestError, ConflictError, FieldError, InvalidError
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta
from shipyard.store.gc import finalizers, is_terminating
from shipyard.store.scheme import KindInfo
from shipyard.store.validation.formats import dns1123_subdomain

__all__ = [
    "bound_pod",
    "check_delete_preconditions",
    "check_fingerprint",
    "check_preconditions",
    "finalizer_rules",
    "fingerprint",
    "metadata_shape",
    "own",
    "share_unchanged",
    "spec_and_meta",
    "spec_changed",
    "status_only",
    "with_rv",
]

# System fields a client cannot set or change on update: always carried from the stored object.
_SYSTEM_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)
_MODIFIED_MSG = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


_CHANGED_IN_PLACE = (
    "stored object {key} was changed in place: a reader of a shared object (copy=False, "
    "handoff=True or a watch event) wrote into it"
)


def fingerprint(obj: Obj) -> bytes:
    return marshal.dumps(obj, 2)


def check_fingerprint(prints: dict[ObjectKey, bytes], key: ObjectKey, stored: Obj) -> None:
    printed = prints.get(key)
    if printed is not None and fingerprint(stored) != printed:
        raise AssertionError(_CHANGED_IN_PLACE.format(key=key))


def own(obj: Any, handoff: bool = False) -> Obj:
    if not isinstance(obj, dict):
        raise BadRequestError(f"an object must be a JSON object, not {type(obj).__name__}")
    if handoff:
        # The store writes the top level and metadata (resourceVersion, system fields) in
        # place, so those two maps are made its own: a caller may build ``{**shared, ...}``.
        # Other parts may be shared with stored objects when unchanged since they were read
        # (defaulting leaves an already-stored part as it is).
        md = obj.get("metadata")
        return {**obj, "metadata": {**md}} if isinstance(md, dict) else {**obj}
    copied: Obj = json_copy(obj)
    return copied


def _conflict(info: KindInfo, name: str, detail: str) -> ConflictError:
    return ConflictError(f'Operation cannot be fulfilled on {info.resource} "{name}": {detail}')


def check_preconditions(info: KindInfo, obj: Obj, old: Obj) -> None:
    """An update's uid and resourceVersion, when given, must be the stored ones."""
    md, old_md = meta(obj), meta(old)
    uid = md.get("uid")
    if uid and uid != old_md.get("uid"):
        raise _conflict(
            info,
            str(old_md.get("name")),
            f"Precondition failed: UID in precondition: {uid}, "
            f"UID in object meta: {old_md.get('uid')}",
        )
    rv = md.get("resourceVersion")
    if rv and str(rv) != old_md.get("resourceVersion"):
        raise _conflict(info, str(old_md.get("name")), _MODIFIED_MSG)


def check_delete_preconditions(info: KindInfo, obj: Obj, pre: Mapping[str, Any]) -> None:
    md = meta(obj)
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        want = pre.get(field)
        if want and str(want) != str(md.get(field)):
            raise _conflict(
                info,
                str(md.get("name")),
                f"Precondition failed: {label} in precondition: {want}, "
                f"{label} in object meta: {md.get(field)}",
            )


def bound_pod(info: KindInfo, name: str, old: Obj, node: str, *, rv: str | None, now: str) -> Obj:
    """The ``pods/binding`` candidate: the stored pod with ``spec.nodeName`` set and its
    ``PodScheduled`` condition replaced by ``True`` (reason and message go), as the API
    server's binding does; the rest is shared with the stored version."""
    problems = dns1123_subdomain(node) if isinstance(node, str) else ["must be a string"]
    if problems:
        raise InvalidError(
            f'Binding "{name}"',
            [FieldError("target.name", f"Invalid value: {node!r}: {'; '.join(problems)}")],
        )
    old_md = meta(old)
    if rv is not None and rv != old_md.get("resourceVersion"):
        raise _conflict(info, name, _MODIFIED_MSG)
    spec = old.get("spec") or {}
    assigned = spec.get("nodeName")
    if assigned:
        raise ConflictError(f'pod {name} is already assigned to node "{assigned}"')
    if is_terminating(old):
        raise ConflictError(f"pod {name} is being deleted, cannot be assigned to a host")
    status = old.get("status") or {}
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}
    conditions = list(status.get("conditions") or ())
    at = next((i for i, c in enumerate(conditions) if c.get("type") == "PodScheduled"), None)
    if at is None:
        conditions.append(scheduled)
    else:
        conditions[at] = scheduled
    return {
        **old,
        "metadata": {**old_md},
        "spec": {**spec, "nodeName": node},
        "status": {**status, "conditions": conditions},
    }


def spec_and_meta(info: KindInfo, obj: Obj, old: Obj) -> Obj:
    """The update candidate: the client's object with system fields (and status) kept."""
    md, old_md = obj["metadata"], meta(old)
    for field in _SYSTEM_FIELDS:
        if field in old_md:
            md[field] = old_md[field]
        else:
            md.pop(field, None)
    if info.has_status:
        if "status" in old:
            obj["status"] = json_copy(old["status"])
        else:
            obj.pop("status", None)
    return obj


def status_only(obj: Obj, old: Obj) -> Obj:
    """The status-update candidate: the stored object with the client's status.

    Everything but ``status`` and the top-level metadata map is shared with the stored
    version (stored objects are immutable; a status write is not defaulted, so nothing
    writes into the shared parts)."""
    new: Obj = {**old, "metadata": {**meta(old)}}
    if "status" in obj:
        new["status"] = obj["status"]
    else:
        new.pop("status", None)
    return new


def spec_changed(info: KindInfo, new: Obj, old: Obj) -> bool:
    """Whether anything outside metadata (and status, with a status subresource) changed;
    a missing field counts as null."""
    skip = _NOT_SPEC_WITH_STATUS if info.has_status else _NOT_SPEC
    for k, value in new.items():
        if k not in skip:
            before = old.get(k)
            if value is not before and value != before:
                return True
    gone = old.keys() - new.keys()  # usually none
    return bool(gone) and any(old[k] is not None for k in gone - skip)


_NOT_SPEC = frozenset({"metadata"})
_NOT_SPEC_WITH_STATUS = frozenset({"metadata", "status"})


def share_unchanged(new: Obj, old: Obj) -> None:
    """Let the new version share unchanged parts with the stored one (both are immutable).

    Equal parts are replaced by the stored ones down to a few levels: map values, and list
    items (at the same position, or — for maps in a list that changed length, such as
    endpoints — anywhere in the stored list), and the entries of the metadata map (not the
    map itself: the store writes the resourceVersion into it). Validation of an update skips
    what is shared, and memory is saved.
    """
    for k, value in new.items():
        if k == "metadata" or k not in old:
            continue
        before = old[k]
        if before is value:
            continue
        if before == value:
            new[k] = before
        else:
            _share_parts(value, before, _SHARE_DEPTH)
    md, old_md = new["metadata"], meta(old)
    for k, value in md.items():
        before = old_md.get(k, _ABSENT)
        if before is value or before is _ABSENT:
            continue
        if k in _SHARED_METADATA:
            if value == before:
                md[k] = before
        elif type(value) is str and type(before) is str and value == before:
            md[k] = before  # a copied name or namespace: the metadata may be all stored parts


_SHARED_METADATA = frozenset(
    {"labels", "annotations", "ownerReferences", "finalizers", "managedFields"}
)
_ABSENT: Any = object()  # a key that is missing (None is a value)


_SHARE_DEPTH = 3


def _share_parts(value: Any, before: Any, depth: int) -> None:
    """Within two unequal containers of one type, share the equal parts (see above)."""
    if type(value) is dict and type(before) is dict:
        get = before.get
        for name, item in value.items():
            stored = get(name, _ABSENT)
            if stored is item or stored is _ABSENT:
                continue
            if stored == item:
                value[name] = stored
            elif depth > 0 and type(item) in _CONTAINERS:  # unequal scalars share nothing
                _share_parts(item, stored, depth - 1)
    elif type(value) is list and type(before) is list:
        _share_items(value, before, depth)


_CONTAINERS = frozenset({dict, list})


def _share_items(value: list[Any], before: list[Any], depth: int) -> None:
    by_content: dict[bytes, Any] | None = None
    shared: set[int] | None = None
    for i, item in enumerate(value):
        stored = before[i] if i < len(before) else None
        if stored is item:
            continue
        if shared is None:  # items that are stored ones already (the writer reused them)
            shared = {id(x) for x in before}
        if id(item) in shared:
            continue
        if stored is not None and stored == item:
            value[i] = stored
            continue
        if type(item) is dict and len(value) != len(before):
            # a list that grew or shrank may have moved its items: find them by content (a
            # same-length list is compared by position only, the common case of an item
            # changed in place, where the lookup would find nothing)
            if by_content is None:
                by_content = {_content(x): x for x in before if type(x) is dict}
                by_content.pop(b"", None)
            key = _content(item)
            found = by_content.get(key) if key else None
            if found is not None:
                value[i] = found
                continue
        if stored is not None and depth > 0 and type(item) in _CONTAINERS:
            _share_parts(item, stored, depth - 1)


def _content(item: Any) -> bytes:
    try:
        return marshal.dumps(item, 2)
    except ValueError:  # not plain data: matched by position only
        return b""


def with_rv(obj: Obj, rv: Any) -> Obj:
    md = {**meta(obj)}
    if rv is None:
        md.pop("resourceVersion", None)
    else:
        md["resourceVersion"] = rv
    return {**obj, "metadata": md}


def finalizer_rules(new: Obj, old: Obj) -> list[FieldError]:
    if not is_terminating(old):
        return []
    added = [f for f in finalizers(new) if f not in finalizers(old)]
    if not added:
        return []
    return [
        FieldError(
            "metadata.finalizers",
            "Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {added}",
        )
    ]


# ``_STR_ONLY.issuperset(map(type, values))``: are all values exactly ``str``? It walks them
# in C and builds no set.
_STR_ONLY = frozenset({str})


def _is_string_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _STR_ONLY.issuperset(map(type, value))
        and _STR_ONLY.issuperset(map(type, value.values()))
    )


def metadata_shape(md: Mapping[str, Any]) -> list[FieldError]:
    """The shapes the store itself relies on (indexes, GC); the kind validates the rest."""
    causes = []
    for field in ("labels", "annotations"):
        value = md.get(field)
        if value is not None and not _is_string_map(value):
            causes.append(
                FieldError(f"metadata.{field}", "Invalid value: must be a map of string to string")
            )
    fins = md.get("finalizers")
    strings = isinstance(fins, list) and _STR_ONLY.issuperset(map(type, fins))
    if fins is not None and not strings:
        causes.append(FieldError("metadata.finalizers", "Invalid value: must be a list of strings"))
    refs = md.get("ownerReferences")
    if refs is not None and not (
        isinstance(refs, list)
        and all(isinstance(r, dict) and isinstance(r.get("uid"), str) for r in refs)
    ):
        causes.append(
            FieldError("metadata.ownerReferences", "Invalid value: each needs a string uid")
        )
    if not isinstance(md.get("name"), str):
        causes.append(FieldError("metadata.name", "Invalid value: must be a string"))
    return causes
