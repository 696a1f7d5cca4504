"""Karpenter's node-selector requirement algebra: sets of label values that can be intersected.

A :class:`Requirement` is the set of values a label key may take, in Karpenter's
representation (``pkg/scheduling/requirement.go``): a finite set (``In``; empty means
``DoesNotExist``) or the complement of a finite set (``NotIn``; nothing excluded means
``Exists``), optionally narrowed by integer bounds (``Gt``/``Lt``; ``Gte n`` is ``Gt n-1`` and
``Lte n`` is ``Lt n+1``). Numeric bounds admit only strings Go's ``strconv.Atoi`` reads as an
int64, so they drop non-integer values from an ``In`` set. Intersection is exact set
intersection, so it is commutative, associative and idempotent, and ``a.intersection(b).has(v)
== a.has(v) and b.has(v)`` for every string ``v``. Every requirement is kept in a canonical form
(bounds only on complements, excluded values only inside the bounds, an empty integer range
becomes ``DoesNotExist``), so equal sets compare equal.

:class:`Requirements` maps keys to requirements; adding a key twice intersects. Its
``compatible`` matches Karpenter's ``Requirements.Compatible``: a custom key the other side asks
for must be defined here unless it is asked with ``NotIn``/``DoesNotExist`` (well-known keys may
be undefined), and every shared key must intersect unless both sides only exclude. Messages
are Karpenter's (``label "x" does not have known values (typo of "y"?)``, ``key k, <incoming>
not in <existing>``), joined with ``"; "`` like ``multierr``; Karpenter's scheduler prefixes
them with ``incompatible requirements, ``. Keys are normalised (``beta.kubernetes.io/arch`` ->
``kubernetes.io/arch``) everywhere, as Karpenter does.

Deliberate differences from Karpenter: ``any()`` is deterministic (smallest member, or the
smallest non-negative integer not excluded) instead of random; an empty ``Gt``/``Lt`` range is
detected with exclusive bounds (Karpenter's newer inclusive-bound code does the same);
``labels()`` returns single-valued ``In`` requirements (what a launched node is labelled with),
while ``template_labels()`` is Karpenter's ``Requirements.Labels``. Like Karpenter, ``NotIn``
intersected with ``Exists`` is just ``NotIn`` (the algebra cannot say "present and not x").
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.labels import (
    RESTRICTED_LABELS,
    WELL_KNOWN_LABELS,
    is_restricted_node_label,
    normalize_label_key,
    restricted_label_error,
    validate_label_key,
    validate_label_value,
)
from shipyard.core.selectors import parse_int64

__all__ = [
    "DOES_NOT_EXIST",
    "EXISTS",
    "GT",
    "GTE",
    "IN",
    "LT",
    "LTE",
    "MIN_VALUES_MAX",
    "NOT_IN",
    "OPERATORS",
    "Requirement",
    "Requirements",
    "pod_requirement_terms",
    "preferred_terms",
]

IN = "In"
NOT_IN = "NotIn"
EXISTS = "Exists"
DOES_NOT_EXIST = "DoesNotExist"
GT = "Gt"
LT = "Lt"
GTE = "Gte"
LTE = "Lte"
OPERATORS: tuple[str, ...] = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT, GTE, LTE)
MIN_VALUES_MAX = 50

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NUMERIC = frozenset({GT, LT, GTE, LTE})


@dataclass(frozen=True)
class Requirement:
    """The values one label key may take; see the module docstring for the representation.

    ``complement`` False: exactly ``value_set``. ``complement`` True: any string not in
    ``value_set`` that also lies strictly between ``greater_than`` and ``less_than`` (when set).
    Build one with :meth:`create`; the constructor canonicalises whatever it is given.
    """

    key: str
    complement: bool
    value_set: frozenset[str] = frozenset()
    greater_than: int | None = None
    less_than: int | None = None
    min_values: int | None = None

    def __post_init__(self) -> None:
        gt, lt = self.greater_than, self.less_than
        values = frozenset(v for v in self.value_set if _within(v, gt, lt))
        complement = self.complement
        if _empty_range(gt, lt):
            complement, values = False, frozenset()
        if not complement:
            gt = lt = None
        object.__setattr__(self, "key", normalize_label_key(self.key))
        object.__setattr__(self, "complement", complement)
        object.__setattr__(self, "value_set", values)
        object.__setattr__(self, "greater_than", gt)
        object.__setattr__(self, "less_than", lt)

    @classmethod
    def create(
        cls,
        key: str,
        operator: str,
        values: Iterable[str] = (),
        min_values: int | None = None,
    ) -> Requirement:
        """A requirement from one node selector term; ``ValueError`` for a bad operator or value."""
        values = tuple(values)
        if operator in (IN, NOT_IN):
            return cls(key, operator == NOT_IN, frozenset(values), min_values=min_values)
        if operator in (EXISTS, DOES_NOT_EXIST):
            return cls(key, operator == EXISTS, min_values=min_values)
        if operator not in _NUMERIC:
            raise ValueError(
                f"key {key}: unknown operator {operator!r}, expected one of {OPERATORS}"
            )
        number = parse_int64(values[0]) if len(values) == 1 else None
        if number is None:
            raise ValueError(
                f"key {key}: operator {operator} needs one integer value, got {values}"
            )
        if operator in (GT, GTE):
            return cls(key, True, greater_than=number - (operator == GTE), min_values=min_values)
        return cls(key, True, less_than=number + (operator == LTE), min_values=min_values)

    def has(self, value: str) -> bool:
        """True when ``value`` is allowed."""
        if self.complement:
            return value not in self.value_set and _within(value, self.greater_than, self.less_than)
        return value in self.value_set

    def intersection(self, other: Requirement) -> Requirement:
        """The values both allow (Karpenter's Requirement.Intersection)."""
        if other.key != self.key:
            raise ValueError(f"cannot intersect requirements on {self.key!r} and {other.key!r}")
        if self.complement and other.complement:
            values = self.value_set | other.value_set
        elif self.complement:
            values = other.value_set - self.value_set
        elif other.complement:
            values = self.value_set - other.value_set
        else:
            values = self.value_set & other.value_set
        return Requirement(
            self.key,
            self.complement and other.complement,
            values,
            _max_opt(self.greater_than, other.greater_than),
            _min_opt(self.less_than, other.less_than),
            _max_opt(self.min_values, other.min_values),
        )

    def intersects(self, other: Requirement) -> bool:
        """True when some value satisfies both."""
        return not self.intersection(other).is_empty()

    def is_empty(self) -> bool:
        """True when no value is allowed (a complement is never empty once canonical)."""
        return not self.complement and not self.value_set

    def is_finite(self) -> bool:
        return not self.complement

    def values(self) -> frozenset[str]:
        """The allowed values; only a finite (``In``/``DoesNotExist``) requirement has them."""
        if self.complement:
            raise ValueError(f"{self} allows infinitely many values")
        return self.value_set

    def operator(self) -> str:
        """The operator that describes the set now: In, NotIn, Exists or DoesNotExist."""
        if self.complement:
            return NOT_IN if self.value_set else EXISTS
        return IN if self.value_set else DOES_NOT_EXIST

    def __len__(self) -> int:
        # Karpenter's Len: a complement counts as "max int minus what it excludes".
        if self.complement:
            return sys.maxsize - len(self.value_set)
        return len(self.value_set)

    def any(self) -> str | None:
        """A deterministic allowed value (the smallest), or ``None`` when there is none."""
        if not self.complement:
            return min(self.value_set) if self.value_set else None
        lo = _INT64_MIN if self.greater_than is None else self.greater_than + 1
        hi = _INT64_MAX if self.less_than is None else self.less_than - 1
        return next(s for s in _integer_spellings(lo, hi) if s not in self.value_set)

    def allows_absent(self) -> bool:
        """True when a node without this label satisfies it (NotIn without bounds, DoesNotExist)."""
        if self.complement:
            no_bounds = self.greater_than is None and self.less_than is None
            return no_bounds and bool(self.value_set)
        return not self.value_set

    def to_node_selector_requirement(self) -> dict[str, Any]:
        """One NodeSelectorRequirementWithMinValues, chosen as Karpenter does (bounds first)."""
        if self.greater_than is not None:
            return self._entry(*_lower_bound(self.greater_than))
        if self.less_than is not None:
            return self._entry(LT, [str(self.less_than)])
        return self._entry(self.operator(), sorted(self.value_set))

    def to_node_selector_requirements(self) -> list[dict[str, Any]]:
        """Every entry needed to express this requirement exactly (bounds and exclusions)."""
        if not self.complement:
            return [self.to_node_selector_requirement()]
        entries = []
        if self.greater_than is not None:
            entries.append(self._entry(*_lower_bound(self.greater_than)))
        if self.less_than is not None:
            entries.append(self._entry(LT, [str(self.less_than)]))
        if self.value_set or not entries:
            entries.append(self._entry(self.operator(), sorted(self.value_set)))
        return entries

    def _entry(self, operator: str, values: list[str]) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": self.key, "operator": operator, "values": values}
        if self.min_values is not None:
            entry["minValues"] = self.min_values
        return entry

    def __str__(self) -> str:
        op = self.operator()
        text = f"{self.key} {op}"
        if op not in (EXISTS, DOES_NOT_EXIST):
            shown = sorted(self.value_set)
            if len(shown) > 5:
                shown = [*shown[:5], f"and {len(shown) - 5} others"]
            text += " [" + " ".join(shown) + "]"
        if self.greater_than is not None:
            text += f" >{self.greater_than}"
        if self.less_than is not None:
            text += f" <{self.less_than}"
        if self.min_values is not None:
            text += f" minValues {self.min_values}"
        return text


def _within(value: str, gt: int | None, lt: int | None) -> bool:
    if gt is None and lt is None:
        return True
    number = parse_int64(value)
    if number is None:
        return False
    return (gt is None or number > gt) and (lt is None or number < lt)


def _empty_range(gt: int | None, lt: int | None) -> bool:
    if gt is not None and gt >= _INT64_MAX:
        return True
    if lt is not None and lt <= _INT64_MIN:
        return True
    return gt is not None and lt is not None and gt + 1 >= lt


def _max_opt(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _min_opt(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _lower_bound(greater_than: int) -> tuple[str, list[str]]:
    # NodePools reject negative Gt values; "Gt -1" is written as the equivalent "Gte 0".
    if greater_than < 0:
        return GTE, [str(greater_than + 1)]
    return GT, [str(greater_than)]


def _integer_spellings(lo: int, hi: int) -> Iterator[str]:
    """Every string Atoi reads as an integer in [lo, hi]: non-negatives first, then zero-padded."""
    for pad in itertools.count():
        zeros = "0" * pad
        for n in itertools.chain(range(max(lo, 0), hi + 1), range(min(hi, -1), lo - 1, -1)):
            yield f"-{zeros}{-n}" if n < 0 else f"{zeros}{n}"


class Requirements:
    """Requirements by (normalised) key; immutable, and adding a key again intersects it."""

    __slots__ = ("_items",)

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        items: dict[str, Requirement] = {}
        for req in requirements:
            existing = items.get(req.key)
            items[req.key] = req if existing is None else req.intersection(existing)
        self._items = items

    @classmethod
    def from_node_selector_requirements(
        cls,
        items: Iterable[Mapping[str, Any]],
        *,
        path: str = "requirements",
        restricted: bool = False,
    ) -> Requirements:
        """NodePool-style requirements, validated as Karpenter does; raises ``InvalidError``.

        ``restricted=True`` also rejects keys in Karpenter's restricted label domains.
        """
        return _parse(items, path, _NODEPOOL_RULES if not restricted else _RESTRICTED_RULES)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Requirements:
        """``key In [value]`` for every label."""
        return cls(Requirement(k, False, frozenset((v,))) for k, v in labels.items())

    def add(self, *requirements: Requirement) -> Requirements:
        return Requirements(itertools.chain(self._items.values(), requirements))

    def intersection(self, other: Requirements) -> Requirements:
        return self.add(*other._items.values())

    def keys(self) -> frozenset[str]:
        return frozenset(self._items)

    def values(self) -> tuple[Requirement, ...]:
        return tuple(self._items[k] for k in sorted(self._items))

    def get(self, key: str) -> Requirement:
        """The requirement on ``key``; an undefined key allows anything (``Exists``)."""
        key = normalize_label_key(key)
        found = self._items.get(key)
        return Requirement(key, True) if found is None else found

    def has_min_values(self) -> bool:
        return any(r.min_values is not None for r in self._items.values())

    def compatible(
        self, other: Requirements, *, allow_undefined: frozenset[str] = WELL_KNOWN_LABELS
    ) -> str | None:
        """Why ``other`` (a pod's) cannot be met by these (a NodePool's), or ``None``."""
        errors = []
        for key in sorted(other.keys() - allow_undefined):
            if key in self._items or other.get(key).operator() in (NOT_IN, DOES_NOT_EXIST):
                continue
            hint = self._label_hint(key, allow_undefined)
            errors.append(f'label "{key}" does not have known values{hint}')
        if (mismatch := self.intersects(other)) is not None:
            errors.append(mismatch)
        return "; ".join(errors) or None

    def intersects(self, other: Requirements) -> str | None:
        """Why shared keys have no value in common, or ``None`` (undefined keys are fine)."""
        errors = []
        for key in sorted(self.keys() & other.keys()):
            existing, incoming = self._items[key], other._items[key]
            if existing.intersects(incoming):
                continue
            excluding = (NOT_IN, DOES_NOT_EXIST)
            if incoming.operator() in excluding and existing.operator() in excluding:
                continue
            errors.append(f"key {key}, {incoming} not in {existing}")
        return "; ".join(errors) or None

    def _label_hint(self, key: str, allow_undefined: frozenset[str]) -> str:
        # Karpenter's labelHint test, first against allowed-undefined keys, then against the keys
        # defined here; where Karpenter takes whichever its map yields first, the closest wins.
        suffix = key.partition("/")[2] if "/" in key else key
        for pool in (allow_undefined, self._items.keys()):
            scored = []
            for known in pool:
                distance = _edit_distance(key, known)
                if key in known or distance < len(known) // 5 or known.endswith(suffix):
                    scored.append((distance, known))
            if scored:
                return f' (typo of "{min(scored)[1]}"?)'
        return ""

    def satisfied_by(self, labels: Mapping[str, str]) -> bool:
        """True when a node with these labels meets every requirement (k8s node affinity)."""
        view = _normalized(labels)
        for key, req in self._items.items():
            value = view.get(key)
            if not (req.allows_absent() if value is None else req.has(value)):
                return False
        return True

    def labels(self) -> dict[str, str]:
        """Keys pinned to one value (``In [v]``): the labels a node launched for them carries."""
        return {
            k: next(iter(r.value_set))
            for k, r in sorted(self._items.items())
            if not r.complement and len(r.value_set) == 1
        }

    def template_labels(self) -> dict[str, str]:
        """Karpenter's Requirements.Labels: one value for each key Karpenter may label itself."""
        labels = {}
        for key, req in sorted(self._items.items()):
            value = req.any()
            if value is not None and not is_restricted_node_label(key):
                labels[key] = value
        return labels

    def min_values_satisfied(
        self, candidates: Iterable[Mapping[str, str] | Requirements]
    ) -> str | None:
        """Whether the candidates (instance types) offer ``minValues`` distinct values per key."""
        wanted = {k: r for k, r in self._items.items() if r.min_values is not None}
        seen: dict[str, set[str]] = {k: set() for k in wanted}
        for candidate in candidates:
            for key, req in wanted.items():
                seen[key].update(v for v in _candidate_values(candidate, key) if req.has(v))
        short = sorted(k for k, r in wanted.items() if len(seen[k]) < (r.min_values or 0))
        if not short:
            return None
        return f"minValues requirement is not met for label(s) (label(s)=[{' '.join(short)}])"

    def to_node_selector_requirements(self) -> list[dict[str, Any]]:
        return [entry for req in self.values() for entry in req.to_node_selector_requirements()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and normalize_label_key(key) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Requirements) and self._items == other._items

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __str__(self) -> str:
        # Like Karpenter, the hostname placeholder is left out of messages.
        shown = [str(r) for k, r in self._items.items() if k not in RESTRICTED_LABELS]
        return ", ".join(sorted(shown))

    def __repr__(self) -> str:
        return f"Requirements({str(self)!r})"


def _normalized(labels: Mapping[str, str]) -> dict[str, str]:
    view = {normalize_label_key(k): v for k, v in labels.items() if normalize_label_key(k) != k}
    view.update(labels)  # a stable key wins over its deprecated alias
    return view


def _candidate_values(candidate: Mapping[str, str] | Requirements, key: str) -> Iterable[str]:
    if isinstance(candidate, Requirements):
        req = candidate.get(key)
        return req.value_set if req.is_finite() else ()
    value = _normalized(candidate).get(key)
    return () if value is None else (value,)


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# --- Parsing and validation -------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    """Karpenter's NodePool CRD rules, or the API server's rules for a pod's node affinity."""

    operators: tuple[str, ...]
    min_bound: int | None  # smallest integer Gt/Lt/Gte/Lte accept (Karpenter: 0)
    nodepool: bool  # minValues allowed, values must be label values, NotIn may be empty
    restricted: bool


_NODEPOOL_RULES = _Rules(OPERATORS, 0, nodepool=True, restricted=False)
_RESTRICTED_RULES = _Rules(OPERATORS, 0, nodepool=True, restricted=True)
_POD_RULES = _Rules((IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT), None, False, False)


def _parse(items: Iterable[Mapping[str, Any]], path: str, rules: _Rules) -> Requirements:
    if not isinstance(items, Iterable) or isinstance(items, (str, Mapping)):
        raise InvalidError("requirements", [FieldError(path, "must be a list of requirements")])
    causes: list[FieldError] = []
    reqs = []
    for i, item in enumerate(items):
        problems = _item_problems(item, f"{path}[{i}]", rules)
        causes.extend(problems)
        if not problems:
            values = item.get("values") or ()
            reqs.append(
                Requirement.create(item["key"], item["operator"], values, item.get("minValues"))
            )
    if causes:
        raise InvalidError("requirements", causes)
    return Requirements(reqs)


def _item_problems(item: Any, path: str, rules: _Rules) -> list[FieldError]:
    if not isinstance(item, Mapping):
        return [FieldError(path, "must be an object with key, operator and values")]
    key, operator, values = item.get("key"), item.get("operator"), item.get("values")
    errs = _key_problems(key, f"{path}.key", rules)
    if operator not in rules.operators:
        supported = ", ".join(f'"{op}"' for op in rules.operators)
        errs.append(
            FieldError(
                f"{path}.operator",
                f"Unsupported value: {operator!r}: supported values: {supported}",
            )
        )
    values = [] if values is None else values
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return [*errs, FieldError(f"{path}.values", "must be a list of strings")]
    if rules.nodepool and operator not in _NUMERIC:
        errs += _label_value_problems(values, f"{path}.values")
    if isinstance(operator, str):
        errs.extend(_operator_value_problems(operator, values, f"{path}.values", rules))
    errs.extend(_min_values_problems(item, operator, values, path, rules))
    return errs


def _label_value_problems(values: list[str], path: str) -> list[FieldError]:
    return [
        FieldError(f"{path}[{j}]", f'Invalid value: "{value}": {msg}')
        for j, value in enumerate(values)
        if (msg := validate_label_value(value)) is not None
    ]


def _key_problems(key: Any, path: str, rules: _Rules) -> list[FieldError]:
    if not isinstance(key, str):
        return [FieldError(path, "Required value: key must be a label key string")]
    key = normalize_label_key(key)
    if (msg := validate_label_key(key)) is not None:
        return [FieldError(path, f'Invalid value: "{key}": {msg}')]
    if rules.restricted and (msg := restricted_label_error(key)) is not None:
        return [FieldError(path, f'Invalid value: "{key}": {msg}')]
    return []


def _operator_value_problems(
    operator: str, values: list[str], path: str, rules: _Rules
) -> list[FieldError]:
    if operator == IN and not values:
        return [
            FieldError(path, "Required value: requirements with operator 'In' must have a value")
        ]
    if operator == NOT_IN and not values and not rules.nodepool:
        return [FieldError(path, "Required value: must be specified when `operator` is 'NotIn'")]
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        return [FieldError(path, f"Forbidden: values must be empty when operator is '{operator}'")]
    if operator in _NUMERIC and operator in rules.operators:
        number = parse_int64(values[0]) if len(values) == 1 else None
        too_small = number is not None and rules.min_bound is not None and number < rules.min_bound
        if number is None or too_small:
            kind = "non-negative integer" if rules.min_bound == 0 else "integer"
            return [
                FieldError(
                    path,
                    f"Invalid value: {values}: requirements with operator '{operator}' "
                    f"must have a single {kind} value",
                )
            ]
    return []


def _min_values_problems(
    item: Mapping[str, Any], operator: Any, values: list[str], path: str, rules: _Rules
) -> list[FieldError]:
    min_values = item.get("minValues")
    if min_values is None:
        return []
    where = f"{path}.minValues"
    if not rules.nodepool:
        return [FieldError(where, "Forbidden: minValues is not allowed here")]
    if not isinstance(min_values, int) or isinstance(min_values, bool):
        return [FieldError(where, f"Invalid value: {min_values!r}: must be an integer")]
    if not 1 <= min_values <= MIN_VALUES_MAX:
        return [
            FieldError(
                where, f"Invalid value: {min_values}: must be between 1 and {MIN_VALUES_MAX}"
            )
        ]
    if operator == IN and len(set(values)) < min_values:
        return [
            FieldError(
                where,
                f"Invalid value: {min_values}: requirements with 'minValues' must have at least "
                "that many values specified in the 'values' field",
            )
        ]
    return []


# --- Pods -------------------------------------------------------------------------------------

_NODE_AFFINITY = "spec.affinity.nodeAffinity"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _node_affinity(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    return affinity.get("nodeAffinity") or {}


def pod_requirement_terms(pod: Mapping[str, Any]) -> list[Requirements]:
    """The pod's required placement as OR-ed terms, each AND-ed with its nodeSelector.

    Without required node affinity the single term is the nodeSelector. A term with neither
    matchExpressions nor matchFields matches nothing (Kubernetes) and is dropped, so an empty
    list means no node can ever fit. matchFields are ignored, as Karpenter does for new nodes.
    Raises ``InvalidError`` for malformed expressions, naming the field path.
    """
    base = Requirements.from_labels((pod.get("spec") or {}).get("nodeSelector") or {})
    required = _node_affinity(pod).get(_REQUIRED)
    if required is None:
        return [base]
    path = f"{_NODE_AFFINITY}.{_REQUIRED}.nodeSelectorTerms"
    terms = []
    for i, term in enumerate(required.get("nodeSelectorTerms") or []):
        expressions = term.get("matchExpressions") or []
        if not expressions and not term.get("matchFields"):
            continue
        terms.append(
            base.intersection(_parse(expressions, f"{path}[{i}].matchExpressions", _POD_RULES))
        )
    return terms


def preferred_terms(pod: Mapping[str, Any]) -> list[tuple[int, Requirements]]:
    """Preferred node affinity as (weight, requirements), heaviest first (stable for ties).

    Karpenter treats the heaviest preference as required and relaxes preferences one by one
    when they cannot be met; empty preferences are no-ops and are left out.
    """
    path = f"{_NODE_AFFINITY}.{_PREFERRED}"
    out = []
    for i, term in enumerate(_node_affinity(pod).get(_PREFERRED) or []):
        expressions = (term.get("preference") or {}).get("matchExpressions") or []
        if expressions:
            where = f"{path}[{i}].preference.matchExpressions"
            out.append((int(term.get("weight") or 0), _parse(expressions, where, _POD_RULES)))
    return sorted(out, key=lambda pair: -pair[0])
