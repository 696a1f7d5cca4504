"""Taints and tolerations with Kubernetes semantics.

* :func:`tolerates` is ``Toleration.ToleratesTaint``: a set effect must match, a set key must
  match, ``Equal`` (or empty) compares values, ``Exists`` accepts any value; an empty key with
  ``Exists`` tolerates every taint.
* :func:`untolerated` is ``FindMatchingUntoleratedTaint`` generalised to all matches: taints in
  node order whose effect is filtered in (``NoSchedule`` and ``NoExecute`` by default, as the
  scheduler's TaintToleration filter uses) and that no toleration tolerates. The scheduler
  reports the first one as ``node(s) had untolerated taint {key: value}``, and ``str(taint)``
  is exactly that ``{key: value}`` part; :meth:`Taint.kubectl_form` is ``key=value:Effect``.
* :func:`did_not_tolerate` is Karpenter's ``Taints.Tolerates`` message (every effect counts).
* :func:`parse_taint` / :func:`parse_taint_change` read kubectl's ``key=value:Effect``,
  ``key:Effect`` and removal forms ``key-`` / ``key:Effect-``.
* ``validate_taints`` / ``validate_tolerations`` reproduce the API server's checks with field
  paths (label-syntax keys and values, known effects, unique key+effect, ``Exists`` without a
  value, an empty key only with ``Exists``, ``tolerationSeconds`` only with ``NoExecute``).

Not reproduced: the alpha ``Gt``/``Lt`` toleration operators of recent Kubernetes releases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import BadRequestError, FieldError, InvalidError
from shipyard.core.labels import validate_label_key, validate_label_value

__all__ = [
    "DO_NOT_SCHEDULE",
    "EFFECTS",
    "EQUAL",
    "EXISTS",
    "NO_EXECUTE",
    "NO_SCHEDULE",
    "PREFER_NO_SCHEDULE",
    "Taint",
    "TaintRemoval",
    "TaintSpecError",
    "Toleration",
    "did_not_tolerate",
    "parse_taint",
    "parse_taint_change",
    "taints_from_list",
    "tolerates",
    "tolerates_all",
    "tolerations_from_list",
    "untolerated",
    "validate_taint",
    "validate_taints",
    "validate_toleration",
    "validate_tolerations",
]

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
EFFECTS: tuple[str, ...] = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)
DO_NOT_SCHEDULE: tuple[str, ...] = (NO_SCHEDULE, NO_EXECUTE)
EQUAL = "Equal"
EXISTS = "Exists"
_SUPPORTED_EFFECTS = ", ".join(f'"{e}"' for e in EFFECTS)


class TaintSpecError(BadRequestError, ValueError):
    """A kubectl-style taint string that cannot be parsed; the message quotes it."""


@dataclass(frozen=True)
class Taint:
    """A node taint. ``time_added`` (RFC 3339, NoExecute only) does not take part in equality."""

    key: str
    value: str = ""
    effect: str = NO_SCHEDULE
    time_added: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, path: str = "taint") -> Taint:
        """A validated taint; raises ``InvalidError`` naming the bad fields."""
        if causes := validate_taint(d, path):
            raise InvalidError("taint", causes)
        return cls._build(d)

    @classmethod
    def _build(cls, d: Mapping[str, Any]) -> Taint:
        return cls(d["key"], d.get("value") or "", d["effect"], d.get("timeAdded"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        if self.value:
            out["value"] = self.value
        out["effect"] = self.effect
        if self.time_added is not None:
            out["timeAdded"] = self.time_added
        return out

    def matches(self, other: Taint) -> bool:
        """Same key and effect: the identity of a taint on a node (Taint.MatchTaint)."""
        return self.key == other.key and self.effect == other.effect

    def kubectl_form(self) -> str:
        """``key=value:Effect`` (``key:Effect`` without a value), as ``kubectl taint`` takes it."""
        head = f"{self.key}={self.value}" if self.value else self.key
        return f"{head}:{self.effect}"

    def __str__(self) -> str:
        # kube-scheduler: "node(s) had untolerated taint {%s: %s}".
        return f"{{{self.key}: {self.value}}}"


@dataclass(frozen=True)
class TaintRemoval:
    """``kubectl taint key[:Effect]-``: remove taints with this key (and effect, if given)."""

    key: str
    effect: str = ""

    def applies_to(self, taint: Taint) -> bool:
        return taint.key == self.key and (not self.effect or taint.effect == self.effect)


@dataclass(frozen=True)
class Toleration:
    """A pod toleration; an empty ``effect`` matches every effect."""

    key: str = ""
    operator: str = EQUAL
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, path: str = "toleration") -> Toleration:
        """A validated toleration; raises ``InvalidError`` naming the bad fields."""
        if causes := validate_toleration(d, path):
            raise InvalidError("toleration", causes)
        return cls._build(d)

    @classmethod
    def _build(cls, d: Mapping[str, Any]) -> Toleration:
        return cls(
            d.get("key") or "",
            d.get("operator") or EQUAL,
            d.get("value") or "",
            d.get("effect") or "",
            d.get("tolerationSeconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operator": self.operator}
        for name, value in (("key", self.key), ("value", self.value), ("effect", self.effect)):
            if value:
                out[name] = value
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out

    def tolerates(self, taint: Taint) -> bool:
        return tolerates(self, taint)


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' ToleratesTaint."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator in ("", EQUAL):
        return toleration.value == taint.value
    return toleration.operator == EXISTS


def untolerated(
    taints: Iterable[Taint],
    tolerations: Iterable[Toleration],
    effects: Iterable[str] = DO_NOT_SCHEDULE,
) -> list[Taint]:
    """Taints with one of ``effects`` that no toleration tolerates, in the node's order."""
    wanted, tols = frozenset(effects), tuple(tolerations)
    return [t for t in taints if t.effect in wanted and not any(tolerates(x, t) for x in tols)]


def tolerates_all(
    tolerations: Iterable[Toleration],
    taints: Iterable[Taint],
    effects: Iterable[str] = DO_NOT_SCHEDULE,
) -> bool:
    """True when every taint with one of ``effects`` is tolerated."""
    return not untolerated(taints, tolerations, effects)


def did_not_tolerate(taints: Iterable[Taint], tolerations: Iterable[Toleration]) -> str | None:
    """Karpenter's Taints.Tolerates error: every untolerated taint, whatever its effect."""
    missing = untolerated(taints, tolerations, EFFECTS)
    if not missing:
        return None
    return "; ".join(f"did not tolerate {t.key}={t.value}:{t.effect}" for t in missing)


# --- kubectl taint syntax ---------------------------------------------------------------------


def parse_taint(text: str) -> Taint:
    """``key=value:Effect`` or ``key:Effect``; raises :class:`TaintSpecError`."""
    change = parse_taint_change(text)
    if isinstance(change, TaintRemoval):
        raise TaintSpecError(f"invalid taint spec {text!r}: it removes a taint (trailing '-')")
    return change


def parse_taint_change(text: str) -> Taint | TaintRemoval:
    """A kubectl taint argument: a taint to add, or a :class:`TaintRemoval` for ``key[:E]-``."""
    if text.endswith("-"):
        key, _, effect = text[:-1].partition(":")
        _check_spec_key(key, text)
        if effect:
            _check_spec_effect(effect, text)
        return TaintRemoval(key, effect)
    parts = text.split(":")
    if len(parts) != 2:
        raise TaintSpecError(
            f"invalid taint spec {text!r}: expected key=value:Effect or key:Effect, "
            f"with Effect one of {_SUPPORTED_EFFECTS}"
        )
    head, effect = parts
    _check_spec_effect(effect, text)
    key, has_value, value = head.partition("=")
    if "=" in value:
        raise TaintSpecError(f"invalid taint spec {text!r}: more than one '=' in {head!r}")
    _check_spec_key(key, text)
    if has_value and (msg := validate_label_value(value)) is not None:
        raise TaintSpecError(f"invalid taint spec {text!r}: value {value!r}: {msg}")
    return Taint(key, value, effect)


def _check_spec_key(key: str, text: str) -> None:
    if (msg := validate_label_key(key)) is not None:
        raise TaintSpecError(f"invalid taint spec {text!r}: key {key!r}: {msg}")


def _check_spec_effect(effect: str, text: str) -> None:
    if effect not in EFFECTS:
        raise TaintSpecError(
            f"invalid taint spec {text!r}: unsupported taint effect {effect!r}, "
            f"expected one of {_SUPPORTED_EFFECTS}"
        )


# --- API validation ---------------------------------------------------------------------------


def _effect_errors(effect: Any, path: str, *, allow_empty: bool) -> list[FieldError]:
    if not effect and not allow_empty:
        return [FieldError(path, f"Required value: one of {_SUPPORTED_EFFECTS}")]
    if effect and effect not in EFFECTS:
        return [
            FieldError(
                path, f"Unsupported value: {effect!r}: supported values: {_SUPPORTED_EFFECTS}"
            )
        ]
    return []


def _key_errors(key: Any, path: str) -> list[FieldError]:
    if not isinstance(key, str):
        return [FieldError(path, f"Invalid value: {key!r}: must be a string")]
    if (msg := validate_label_key(key)) is not None:
        return [FieldError(path, f'Invalid value: "{key}": {msg}')]
    return []


def _value_errors(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [FieldError(path, f"Invalid value: {value!r}: must be a string")]
    if (msg := validate_label_value(value)) is not None:
        return [FieldError(path, f'Invalid value: "{value}": {msg}')]
    return []


def validate_taint(d: Any, path: str = "taint") -> list[FieldError]:
    """Problems with one taint dict, each at its field path."""
    if not isinstance(d, Mapping):
        return [FieldError(path, "must be an object with key, value and effect")]
    errs = _key_errors(d.get("key", ""), f"{path}.key")
    errs += _value_errors(d.get("value") or "", f"{path}.value")
    errs += _effect_errors(d.get("effect"), f"{path}.effect", allow_empty=False)
    if d.get("timeAdded") is not None and not isinstance(d.get("timeAdded"), str):
        errs.append(FieldError(f"{path}.timeAdded", "must be an RFC 3339 timestamp string"))
    return errs


def validate_taints(items: Any, path: str = "spec.taints") -> list[FieldError]:
    """Problems with a taint list, including a repeated key and effect pair."""
    if not isinstance(items, list):
        return [FieldError(path, "must be a list of taints")]
    errs: list[FieldError] = []
    seen: set[tuple[Any, Any]] = set()
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        problems = validate_taint(item, where)
        errs += problems
        if problems:
            continue
        pair = (item["key"], item["effect"])
        if pair in seen:
            errs.append(
                FieldError(
                    where,
                    f'Duplicate value: "{pair[0]}:{pair[1]}": '
                    "taints must be unique by key and effect pair",
                )
            )
        seen.add(pair)
    return errs


def validate_toleration(d: Any, path: str = "toleration") -> list[FieldError]:
    """Problems with one toleration dict, each at its field path."""
    if not isinstance(d, Mapping):
        return [FieldError(path, "must be an object with key, operator, value and effect")]
    key, operator = d.get("key") or "", d.get("operator") or EQUAL
    value, effect, seconds = d.get("value") or "", d.get("effect") or "", d.get("tolerationSeconds")
    errs = _key_errors(key, f"{path}.key") if key else []
    if not key and operator != EXISTS:
        errs.append(
            FieldError(
                f"{path}.operator",
                f"Invalid value: {operator!r}: operator must be Exists when `key` is empty, "
                'which means "match all values and all keys"',
            )
        )
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
        errs.append(
            FieldError(
                f"{path}.tolerationSeconds",
                f"Invalid value: {seconds!r}: must be an integer number of seconds",
            )
        )
    elif seconds is not None and effect != NO_EXECUTE:
        errs.append(
            FieldError(
                f"{path}.effect",
                f"Invalid value: {effect!r}: effect must be 'NoExecute' when "
                "`tolerationSeconds` is set",
            )
        )
    errs += _operator_errors(operator, value, path)
    errs += _effect_errors(effect, f"{path}.effect", allow_empty=True)
    return errs


def _operator_errors(operator: Any, value: Any, path: str) -> list[FieldError]:
    if operator == EQUAL:
        return _value_errors(value, f"{path}.value")
    if operator == EXISTS:
        if value:
            return [
                FieldError(
                    f"{path}.value",
                    f"Invalid value: {value!r}: value must be empty when `operator` is 'Exists'",
                )
            ]
        return []
    return [
        FieldError(
            f"{path}.operator",
            f'Unsupported value: {operator!r}: supported values: "{EQUAL}", "{EXISTS}"',
        )
    ]


def validate_tolerations(items: Any, path: str = "spec.tolerations") -> list[FieldError]:
    if not isinstance(items, list):
        return [FieldError(path, "must be a list of tolerations")]
    return [
        err for i, item in enumerate(items) for err in validate_toleration(item, f"{path}[{i}]")
    ]


def taints_from_list(items: Any, *, path: str = "spec.taints") -> list[Taint]:
    """Validated taints from a list of dicts; raises ``InvalidError`` with every problem."""
    if causes := validate_taints(items, path):
        raise InvalidError("taints", causes)
    return [Taint._build(item) for item in items]


def tolerations_from_list(items: Any, *, path: str = "spec.tolerations") -> list[Toleration]:
    """Validated tolerations from a list of dicts; raises ``InvalidError`` with every problem."""
    if causes := validate_tolerations(items, path):
        raise InvalidError("tolerations", causes)
    return [Toleration._build(item) for item in items]
