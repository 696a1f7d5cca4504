"""ObjectMeta, labels, annotations and label selectors, validated as the API server does.

What is checked (``k8s.io/apimachinery/pkg/api/validation/objectmeta.go`` and the core
``ValidateObjectMeta``):

- ``name`` is required unless ``generateName`` is set, and follows the kind's name rule
  (a DNS-1123 subdomain for most kinds, a DNS-1123 label for Namespaces, a DNS-1035 label
  for Services); ``generateName`` follows the same rule with a trailing ``-`` allowed;
- ``namespace`` is required on namespaced kinds (a DNS-1123 label) and forbidden on
  cluster-scoped ones;
- label keys are qualified names and values valid label values; annotation keys are
  qualified names and all annotations together are at most 256 KiB;
- finalizers are qualified names, and those without a ``/`` must be a standard one;
- each ownerReference names apiVersion, kind, name and uid; at most one is the controller.

The store owns uid, resourceVersion, generation and timestamps, so they are only type-checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import InvalidError
from shipyard.core.selectors import LabelSelector
from shipyard.store.validation.formats import (
    dns1123_label,
    label_value,
    qualified_name,
    rfc3339_time,
)
from shipyard.store.validation.schema import (
    AnyValue,
    Bool,
    Errors,
    Int,
    ListOf,
    Obj,
    Rule,
    Schema,
    Seen,
    Str,
    StringCheck,
    forbidden,
    get_str,
    invalid,
    required,
    too_long,
)

__all__ = [
    "ANNOTATIONS",
    "LABELS",
    "LABEL_SELECTOR",
    "TIME",
    "LabelMap",
    "check_selector_matches_template",
    "object_meta",
    "object_schema",
    "template_meta",
]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})

TIME = Str(rfc3339_time, cached=True)  # timestamps repeat within a second


class LabelMap(Schema):
    """``map[string]string`` of labels; problems are reported at the map's own path.

    Label sets found valid are remembered (replicas share theirs), like ``Obj(memo=True)``.
    """

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__()
        self.seen = Seen(2048)

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, dict):
            errs.append(invalid(path, value, "must be of type object"))
            return
        try:
            pairs = frozenset(value.items())
        except TypeError:  # an unhashable value: certainly not a valid label set
            pairs = None
        if pairs is not None and pairs in self.seen.values:
            return
        before = len(errs)
        self._check_pairs(value, path, errs)
        if pairs is not None and len(errs) == before:
            self.seen.add(pairs)

    def _check_pairs(self, value: dict[Any, Any], path: str, errs: Errors) -> None:
        for key, item in value.items():
            if not isinstance(key, str):
                errs.append(invalid(path, key, "keys must be strings"))
                continue
            for message in qualified_name(key):
                errs.append(invalid(path, key, message))
            if not isinstance(item, str):
                errs.append(invalid(f"{path}.{key}", item, "must be of type string"))
                continue
            for message in label_value(item):
                errs.append(invalid(path, item, message))


class AnnotationMap(Schema):
    """Annotations: qualified-name keys (case-insensitive), string values, 256 KiB in all."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, dict):
            errs.append(invalid(path, value, "must be of type object"))
            return
        total = 0
        for key, item in value.items():
            if not isinstance(key, str):
                errs.append(invalid(path, key, "keys must be strings"))
                continue
            for message in qualified_name(key.lower()):
                errs.append(invalid(path, key, message))
            if not isinstance(item, str):
                errs.append(invalid(f"{path}.{key}", item, "must be of type string"))
                continue
            total += len(key) + len(item)
        if total > TOTAL_ANNOTATION_SIZE_LIMIT:
            errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))


LABELS = LabelMap()
ANNOTATIONS = AnnotationMap()


# --- label selectors ------------------------------------------------------------------------

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _selector_requirement_rule(req: dict[str, Any], path: str, errs: Errors) -> None:
    operator = get_str(req, "operator")
    values = req.get("values")
    has_values = isinstance(values, list) and len(values) > 0
    if operator in ("In", "NotIn") and not has_values:
        errs.append(
            required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        )
    elif operator in ("Exists", "DoesNotExist") and has_values:
        errs.append(
            forbidden(
                f"{path}.values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        )
    elif operator is not None and operator not in _SELECTOR_OPERATORS:
        errs.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))


SELECTOR_REQUIREMENT = Obj(
    {
        "key": Str(qualified_name),
        "operator": Str(),
        "values": ListOf(Str(label_value)),
    },
    required=("key", "operator"),
    rules=(_selector_requirement_rule,),
)

LABEL_SELECTOR = Obj({"matchLabels": LABELS, "matchExpressions": ListOf(SELECTOR_REQUIREMENT)})


# --- ObjectMeta -----------------------------------------------------------------------------


def _owner_reference_rule(ref: dict[str, Any], path: str, errs: Errors) -> None:
    for key, what in (("apiVersion", "version"), ("kind", "kind"), ("name", "name")):
        if not get_str(ref, key):
            errs.append(invalid(f"{path}.{key}", ref.get(key, ""), f"{what} must not be empty"))
    if not get_str(ref, "uid"):
        errs.append(invalid(f"{path}.uid", ref.get("uid", ""), "uid must not be empty"))


OWNER_REFERENCE = Obj(
    {
        "apiVersion": Str(),
        "kind": Str(),
        "name": Str(),
        "uid": Str(),
        "controller": Bool(),
        "blockOwnerDeletion": Bool(),
    },
    rules=(_owner_reference_rule,),
    memo=True,  # every Pod of a ReplicaSet has the same one
)


def _finalizer(value: str) -> list[str]:
    problems = list(qualified_name(value))
    if not problems and "/" not in value and value not in STANDARD_FINALIZERS:
        problems.append("name is neither a standard finalizer name nor is it fully qualified")
    return problems


def _one_controller_rule(meta: dict[str, Any], path: str, errs: Errors) -> None:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list) or len(refs) < 2:
        return  # the common case: at most one reference, so at most one controller
    controllers = [
        f"{ref.get('kind')}/{ref.get('name')}"
        for ref in refs
        if isinstance(ref, dict) and ref.get("controller") is True
    ]
    if len(controllers) > 1:
        errs.append(
            invalid(
                f"{path}.ownerReferences",
                ", ".join(controllers),
                "Only one reference can have Controller set to true",
            )
        )


_META_FIELDS: Mapping[str, Schema] = {
    "name": Str(),
    "generateName": Str(),
    "namespace": Str(dns1123_label, cached=True),
    "labels": LABELS,
    "annotations": ANNOTATIONS,
    "finalizers": ListOf(Str(_finalizer)),
    "ownerReferences": ListOf(OWNER_REFERENCE),
    "uid": Str(),
    "resourceVersion": Str(),
    "generation": Int(0),
    "creationTimestamp": TIME,
    "deletionTimestamp": TIME,
    "deletionGracePeriodSeconds": Int(0),
    "selfLink": Str(),
    "managedFields": ListOf(AnyValue(object_only=True)),
}


def _name_rule(name_check: StringCheck) -> Rule:
    def rule(meta: dict[str, Any], path: str, errs: Errors) -> None:
        name = meta.get("name")
        generate = get_str(meta, "generateName")
        if isinstance(name, str) and name:
            for message in name_check(name):
                errs.append(invalid(f"{path}.name", name, message))
        elif (name is None or name == "") and not generate:
            errs.append(required(f"{path}.name", "name or generateName is required"))
        if generate:
            # A generated name gets a random suffix, so a trailing dash is fine.
            masked = generate[:-1] + "a" if generate.endswith("-") else generate
            for message in name_check(masked):
                errs.append(invalid(f"{path}.generateName", generate, message))

    return rule


def _namespace_rule(namespaced: bool) -> Rule:
    def rule(meta: dict[str, Any], path: str, errs: Errors) -> None:
        namespace = meta.get("namespace")
        if namespaced and (namespace is None or namespace == ""):
            errs.append(required(f"{path}.namespace"))
        elif not namespaced and namespace:
            errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))

    return rule


def object_meta(name_check: StringCheck, *, namespaced: bool) -> Obj:
    """ObjectMeta of a kind whose names follow ``name_check``."""
    return Obj(
        _META_FIELDS,
        rules=(_name_rule(name_check), _namespace_rule(namespaced), _one_controller_rule),
    )


def template_meta() -> Obj:
    """The metadata of an embedded template (a pod template): names are not checked."""
    return Obj(_META_FIELDS, rules=(_one_controller_rule,))


def object_schema(meta: Obj, fields: Mapping[str, Schema], **kwargs: Any) -> Obj:
    """A whole object: apiVersion, kind, metadata and the kind's own top-level fields."""
    base: dict[str, Schema] = {"apiVersion": Str(), "kind": Str(), "metadata": meta}
    return Obj({**base, **fields}, **kwargs)


def check_selector_matches_template(
    spec: dict[str, Any], path: str, errs: Errors, *, kind: str, required_selector: bool = True
) -> None:
    """A workload's ``selector`` is set, not empty, and selects its template's labels."""
    selector = spec.get("selector")
    if selector is None:
        if required_selector:
            errs.append(required(f"{path}.selector"))
        return
    if not isinstance(selector, dict):
        return  # the schema walk reported the type
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid(f"{path}.selector", selector, f"empty selector is invalid for {kind}"))
        return
    try:
        parsed = LabelSelector.from_dict(selector, path=f"{path}.selector")
    except InvalidError:
        return  # the schema walk reported each problem with its own path
    template = spec.get("template")
    metadata = template.get("metadata") if isinstance(template, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    labels = (
        {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(labels, dict)
        else {}
    )
    if not parsed.matches(labels):
        errs.append(
            invalid(
                f"{path}.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        )
