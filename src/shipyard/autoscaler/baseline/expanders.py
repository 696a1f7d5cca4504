"""Expanders: which node group a scale-up grows when several could help.

Each scale-up candidate is an :class:`Option`: a node group, how many nodes it would add, the
pending pods those nodes would take, and what they would cost. :func:`choose` runs a chain of
expanders, as Cluster Autoscaler's ``--expander=priority,least-waste`` does: each keeps only
its best options (ties kept) and hands them to the next; whatever is still tied at the end is
decided by a seeded random pick. The expanders, by Cluster Autoscaler's documented behaviour:

- ``least-waste`` (the baseline's default): the least idle capacity after the scale-up —
  the fraction of the new nodes' cpu left unrequested plus the fraction of their memory;
- ``most-pods``: the option that schedules the most pending pods;
- ``price``: the lowest hourly price of the new nodes per pending pod scheduled. Cluster
  Autoscaler's price expander also penalises nodes far from a "preferred" node size derived
  from the cluster; Shipyard leaves that penalty out;
- ``priority``: the group whose name matches the highest-priority pattern of
  ``priorities`` (``{10: ["t3\\..*"], 50: [".*spot.*"]}``; a pattern matches anywhere in the
  name). When no group matches any pattern every option stays;
- ``random``: one option at random (seeded), kept for comparison.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.core.errors import FieldError, InvalidError

__all__ = [
    "DEFAULT_EXPANDERS",
    "EXPANDERS",
    "Expander",
    "Option",
    "check_expanders",
    "choose",
    "compile_priorities",
]

EXPANDERS = ("least-waste", "most-pods", "price", "priority", "random")
DEFAULT_EXPANDERS = ("least-waste",)
_EPSILON = 1e-9


@dataclass(frozen=True)
class Option:
    """Growing ``group`` by ``node_count`` nodes would schedule ``pods``."""

    group: str
    node_count: int
    pods: tuple[str, ...]  # "namespace/name" of the pending pods the new nodes would take
    requested: Mapping[str, int]  # their summed requests (cpu millicores, memory bytes)
    node_allocatable: Mapping[str, int]  # what one new node offers
    price: float  # USD per hour of one new node

    def waste(self) -> float:
        """Idle cpu fraction plus idle memory fraction of the new nodes after the scale-up."""
        total = 0.0
        for resource in ("cpu", "memory"):
            offered = self.node_allocatable.get(resource, 0) * self.node_count
            if offered > 0:
                total += (offered - self.requested.get(resource, 0)) / offered
        return total

    def price_per_pod(self) -> float:
        return self.price * self.node_count / max(1, len(self.pods))


Expander = Callable[[list[Option]], list[Option]]
Priorities = Sequence[tuple[int, re.Pattern[str]]]


def _best(options: list[Option], score: Callable[[Option], float]) -> list[Option]:
    if not options:
        return []
    low = min(score(o) for o in options)
    return [o for o in options if score(o) <= low + _EPSILON]


def least_waste(options: list[Option]) -> list[Option]:
    return _best(options, Option.waste)


def most_pods(options: list[Option]) -> list[Option]:
    return _best(options, lambda o: -len(o.pods))


def cheapest(options: list[Option]) -> list[Option]:
    return _best(options, Option.price_per_pod)


def by_priority(options: list[Option], priorities: Priorities) -> list[Option]:
    def priority(option: Option) -> int | None:
        found = [p for p, pattern in priorities if pattern.search(option.group)]
        return max(found) if found else None

    ranked = [(priority(o), o) for o in options]
    top = max((p for p, _ in ranked if p is not None), default=None)
    if top is None:
        return options
    return [o for p, o in ranked if p == top]


def compile_priorities(
    priorities: Mapping[int, Sequence[str]], *, path: str = "priorities"
) -> list[tuple[int, re.Pattern[str]]]:
    """The priority expander's configuration, checked: ``InvalidError`` for a bad pattern."""
    out: list[tuple[int, re.Pattern[str]]] = []
    problems: list[FieldError] = []
    for level in sorted(priorities):
        for i, text in enumerate(priorities[level]):
            try:
                out.append((int(level), re.compile(text)))
            except (re.error, TypeError) as e:
                problems.append(FieldError(f"{path}[{level}][{i}]", f"invalid pattern: {e}"))
    if problems:
        raise InvalidError("priority expander", problems)
    return out


def check_expanders(names: Sequence[str], *, path: str = "expander") -> None:
    """``InvalidError`` for an unknown expander name or an empty chain."""
    problems = [
        FieldError(f"{path}[{i}]", f'unknown expander "{n}"; known: {", ".join(EXPANDERS)}')
        for i, n in enumerate(names)
        if n not in EXPANDERS
    ]
    if not names:
        problems.append(FieldError(path, "at least one expander is required"))
    if problems:
        raise InvalidError("expander chain", problems)


@dataclass
class _Chain:
    rng: random.Random
    priorities: Priorities = field(default_factory=list)

    def step(self, name: str, options: list[Option]) -> list[Option]:
        match name:
            case "least-waste":
                return least_waste(options)
            case "most-pods":
                return most_pods(options)
            case "price":
                return cheapest(options)
            case "priority":
                return by_priority(options, self.priorities)
            case _:
                return [self.rng.choice(options)]


def choose(
    options: Sequence[Option],
    expanders: Sequence[str] = DEFAULT_EXPANDERS,
    *,
    rng: random.Random,
    priorities: Priorities = (),
) -> Option | None:
    """The option the expander chain picks (see the module docstring); None without options."""
    check_expanders(expanders)
    remaining = sorted(options, key=lambda o: o.group)
    if not remaining:
        return None
    chain = _Chain(rng, list(priorities))
    for name in expanders:
        remaining = chain.step(name, remaining)
        if len(remaining) == 1:
            return remaining[0]
    return rng.choice(remaining)
