"""Schema pieces shared by NodePool, NodeClaim and EC2NodeClass admission.

Everything here is a :mod:`shipyard.store.validation.schema` node or rule, so the three kinds
are validated by the same declarative walk as the built-in kinds: every problem is a
:class:`~shipyard.core.errors.FieldError` with its field path, and nothing raises.

What is reproduced from Karpenter v1's CRDs (their OpenAPI schema and CEL rules):

- **Requirements** (:class:`RequirementList`): at most 100; each entry's shape here, then the
  semantics (operators In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte; one non-negative
  integer for the numeric ones; In with ``minValues`` needs that many values; minValues
  1..50; label-key and label-value syntax) from
  :meth:`shipyard.core.requirements.Requirements.from_node_selector_requirements`; and the
  CRD's restricted-domain rules on keys, with the CRD's own messages (``label domain
  "kubernetes.io" is restricted``). NodePools also may not name ``karpenter.sh/nodepool``;
  NodeClaims may (Karpenter writes it there).
- **Template labels** (:data:`TEMPLATE_LABELS`): label syntax, at most 100, the same
  restricted-domain rules.
- **Taints** (:data:`TAINTS`): the core ``Taint`` shape (effect enum, key and value syntax),
  plus unique key/effect pairs — a duplicate would make the launched Node invalid.
- **nodeClassRef** (:data:`NODE_CLASS_REF`): group, kind and name required and not empty,
  group without ``/``; :func:`node_class_ref_immutable` keeps group and kind on update.
- **Durations** (:class:`Pattern` with :data:`EXPIRE_AFTER` and friends): the CRD's patterns,
  which are stricter than Go durations (whole numbers of h, m and s; ``Never`` where allowed).

The restricted-domain rules use the CRD's CEL wording rather than the longer
``IsRestrictedLabel`` message of :func:`shipyard.core.labels.restricted_label_error`: it is
what ``kubectl apply`` prints against Karpenter v1, and the CRD also admits
``karpenter.k8s.aws/ec2nodeclass``, which the core list does not know.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.labels import NODEPOOL, WELL_KNOWN_LABELS, label_domain
from shipyard.core.requirements import Requirements
from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import ANNOTATIONS, LabelMap
from shipyard.store.validation.placement import TAINT, check_unique_taints
from shipyard.store.validation.schema import (
    AnyValue,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Qty,
    Rule,
    Schema,
    Str,
    UpdateRule,
    duplicate,
    invalid,
    required,
    too_many,
    value_at,
)

__all__ = [
    "BUDGET_DURATION",
    "CONSOLIDATE_AFTER",
    "EXPIRE_AFTER",
    "MAX_REQUIREMENTS",
    "NODE_CLASS_REF",
    "REQUESTS",
    "STATUS",
    "TAINTS",
    "TEMPLATE_LABELS",
    "TEMPLATE_META",
    "TERMINATION_GRACE_PERIOD",
    "Pattern",
    "RequirementList",
    "label_safe_name",
    "node_class_ref_immutable",
    "object_rule",
    "present",
    "restricted_key_problems",
    "unique_items",
]

MAX_REQUIREMENTS = 100
MAX_TEMPLATE_LABELS = 100
STATUS = AnyValue(object_only=True)

# --- patterns -------------------------------------------------------------------------------


class Pattern(Schema):
    """A string matching one of the CRD's patterns; ``hint`` says in words what is expected."""

    __slots__ = ("hint", "pattern", "regex")

    def __init__(self, pattern: str, hint: str) -> None:
        super().__init__()
        self.pattern = pattern
        # Go's "$" is the end of the text; Python's also matches before a final newline.
        self.regex = re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)
        self.hint = hint
        self.fast, self.ok = str, _MatchSet(self.regex)

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, str):
            errs.append(invalid(path, value, "must be of type string"))
        elif not self.regex.search(value):
            errs.append(invalid(path, value, f"{self.hint} (should match '{self.pattern}')"))


class _MatchSet:
    """``value in _MatchSet(regex)``: the fast path of :class:`Pattern` without a call."""

    __slots__ = ("regex",)

    def __init__(self, regex: re.Pattern[str]) -> None:
        self.regex = regex

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.regex.search(value) is not None


EXPIRE_AFTER = Pattern(
    r"^(([0-9]+(s|m|h))+|Never)$",
    "must be a duration of whole hours, minutes or seconds (such as 720h or 1h30m) or Never",
)
CONSOLIDATE_AFTER = EXPIRE_AFTER
TERMINATION_GRACE_PERIOD = Pattern(
    r"^([0-9]+(s|m|h))+$",
    "must be a duration of whole hours, minutes or seconds (such as 48h or 1h30m)",
)
BUDGET_DURATION = Pattern(
    r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$",
    "must be a duration of whole hours and minutes (such as 8h, 30m or 1h30m)",
)

# --- names --------------------------------------------------------------------------------


def label_safe_name(value: str) -> Sequence[str]:
    """An object name that is also a valid label value (NodePool and EC2NodeClass names)."""
    problems = list(dns1123_subdomain(value))
    if len(value) > 63:
        problems.append("must be no more than 63 characters: nodes carry the name as a label value")
    return problems


# --- small rules ----------------------------------------------------------------------------


def present(*keys: str) -> Rule:
    """The CRD's ``required``: each key is there and not null (``[]`` and ``{}`` count)."""

    def rule(obj: dict[str, Any], path: str, errs: Errors) -> None:
        for key in keys:
            if obj.get(key) is None:
                errs.append(required(f"{path}.{key}" if path else key))

    return rule


def object_rule(path: str, message: str) -> FieldError:
    """A CEL rule on an object broke; Kubernetes prints such values as ``"object"``."""
    return FieldError(path, f'Invalid value: "object": {message}')


# --- restricted label domains ---------------------------------------------------------------

_KUBERNETES_IO_ALLOWED = frozenset(
    {
        "beta.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "node.kubernetes.io/windows-build",
    }
)
_KARPENTER_SH_ALLOWED = frozenset({"karpenter.sh/capacity-type", NODEPOOL})
_AWS_DOMAIN = "karpenter.k8s.aws"
_AWS_ALLOWED = frozenset(
    {k for k in WELL_KNOWN_LABELS if label_domain(k) == _AWS_DOMAIN}
    | {f"{_AWS_DOMAIN}/ec2nodeclass"}
)
_HOSTNAME = "kubernetes.io/hostname"


def restricted_key_problems(key: str, *, nodepool: bool) -> list[str]:
    """The CRD's messages for a restricted label key; ``nodepool`` adds the NodePool-only rule.

    The domain is the text before the first ``/`` (the whole key when there is none), matched
    by suffix, as the CRD's ``x.find("^([^/]+)").endsWith(...)`` does.
    """
    domain = key.split("/", 1)[0]
    problems = []
    if (
        key not in _KUBERNETES_IO_ALLOWED
        and domain.endswith("kubernetes.io")
        and not domain.endswith(("node.kubernetes.io", "node-restriction.kubernetes.io"))
    ):
        problems.append('label domain "kubernetes.io" is restricted')
    if domain.endswith("k8s.io") and not domain.endswith("kops.k8s.io"):
        problems.append('label domain "k8s.io" is restricted')
    if domain.endswith("karpenter.sh") and key not in _KARPENTER_SH_ALLOWED:
        problems.append('label domain "karpenter.sh" is restricted')
    if nodepool and key == NODEPOOL:
        problems.append(f'label "{NODEPOOL}" is restricted')
    if key == _HOSTNAME:
        problems.append(f'label "{_HOSTNAME}" is restricted')
    if domain.endswith(_AWS_DOMAIN) and key not in _AWS_ALLOWED:
        problems.append(f'label domain "{_AWS_DOMAIN}" is restricted')
    return problems


# --- requirements ---------------------------------------------------------------------------

_REQUIREMENT_SHAPE = Obj(
    {"key": Str(), "operator": Str(), "values": ListOf(Str()), "minValues": Int()},
    required=("key", "operator"),
)


class RequirementList(Schema):
    """NodeSelectorRequirementWithMinValues entries, validated as Karpenter v1 does."""

    __slots__ = ("nodepool",)

    def __init__(self, *, nodepool: bool) -> None:
        super().__init__()
        self.nodepool = nodepool

    def check(self, value: Any, path: str, errs: Errors) -> None:
        if not isinstance(value, list):
            errs.append(invalid(path, value, "must be of type array"))
            return
        if len(value) > MAX_REQUIREMENTS:
            errs.append(too_many(path, len(value), MAX_REQUIREMENTS))
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            before = len(errs)
            _REQUIREMENT_SHAPE.check(item, where, errs)
            if len(errs) == before:
                errs.extend(_semantic_problems(item, path, index))
                self._check_key(item["key"], f"{where}.key", errs)

    def _check_key(self, key: str, path: str, errs: Errors) -> None:
        for message in restricted_key_problems(key, nodepool=self.nodepool):
            errs.append(invalid(path, key, message))


def _semantic_problems(item: dict[str, Any], path: str, index: int) -> list[FieldError]:
    """Operators, values and minValues of one entry, re-pathed to its index in the list."""
    try:
        Requirements.from_node_selector_requirements([item], path=path)
    except InvalidError as e:
        single = f"{path}[0]"
        return [
            FieldError(f"{path}[{index}]{c.path[len(single) :]}", c.message)
            if c.path.startswith(single)
            else c
            for c in e.causes
        ]
    return []


# --- template metadata ----------------------------------------------------------------------


class _TemplateLabels(LabelMap):
    """Labels of a NodePool template: label syntax, at most 100, no restricted domains."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        if not isinstance(value, dict):
            return
        if len(value) > MAX_TEMPLATE_LABELS:
            errs.append(too_many(path, len(value), MAX_TEMPLATE_LABELS))
        for key in value:
            if isinstance(key, str):
                for message in restricted_key_problems(key, nodepool=True):
                    errs.append(invalid(path, key, message))


TEMPLATE_LABELS = _TemplateLabels()
TEMPLATE_META = Obj({"labels": TEMPLATE_LABELS, "annotations": ANNOTATIONS})

# --- taints ---------------------------------------------------------------------------------


class _TaintList(ListOf):
    """Taints with unique key/effect pairs (a Node may not carry the same pair twice)."""

    __slots__ = ()

    def check(self, value: Any, path: str, errs: Errors) -> None:
        super().check(value, path, errs)
        check_unique_taints(value if isinstance(value, list) else [], path, errs)


TAINTS = _TaintList(TAINT)

# --- resources ------------------------------------------------------------------------------

REQUESTS = Obj({"requests": MapOf(Qty())})

# --- nodeClassRef ---------------------------------------------------------------------------


def _not_empty(*keys: str) -> Rule:
    def rule(ref: dict[str, Any], path: str, errs: Errors) -> None:
        for key in keys:
            if ref.get(key) == "":
                errs.append(invalid(f"{path}.{key}", "", f"{key} may not be empty"))

    return rule


NODE_CLASS_REF = Obj(
    {
        "group": Pattern(r"^[^/]*$", "must be an API group without a version"),
        "kind": Str(),
        "name": Str(),
    },
    rules=(present("group", "kind", "name"), _not_empty("group", "kind", "name")),
)


def node_class_ref_immutable(*keys: str) -> UpdateRule:
    """``nodeClassRef.group`` and ``.kind`` may not change (CEL transition rules)."""
    path = ".".join(keys)

    def rule(new: dict[str, Any], old: dict[str, Any], errs: Errors) -> None:
        before, after = value_at(old, keys), value_at(new, keys)
        if not isinstance(before, dict) or not isinstance(after, dict):
            return
        for field in ("group", "kind"):
            if before.get(field) != after.get(field):
                errs.append(object_rule(path, f"nodeClassRef.{field} is immutable"))

    return rule


def unique_items(path: str, items: Sequence[Any], errs: Errors) -> None:
    """``x-kubernetes-list-type: set``: no value twice."""
    seen: list[Any] = []
    for index, item in enumerate(items):
        if item in seen:
            errs.append(duplicate(f"{path}[{index}]", item))
        seen.append(item)
