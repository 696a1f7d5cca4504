"""Workflow trigger filters: which push or pull_request starts a workflow.

GitHub filters events with glob patterns under ``on.<event>``: ``branches`` /
``branches-ignore`` and ``tags`` / ``tags-ignore`` match Git ref names, ``paths`` /
``paths-ignore`` match the files a push or pull request changed. Shipyard applies them with
GitHub's documented semantics:

- Glob syntax: ``*`` matches any run of characters except ``/``; ``**`` matches any run
  including ``/`` (``**/`` may also match nothing, so ``**/README.md`` matches ``README.md``);
  ``?`` makes the preceding character optional and ``+`` repeats it one or more times;
  ``[abc]`` / ``[0-9]`` are character classes; ``\\`` escapes ``[ ? * + \\ !``. A pattern
  matches the whole ref name or path, never a part of it.
- A leading ``!`` negates a pattern. In a list, the *last* pattern that matches a value
  decides: positive means the value is selected, negative means it is not; a value no pattern
  matches is not selected.
- ``branches`` / ``tags`` / ``paths`` require a selected value; their ``-ignore`` forms skip
  the run when the value is selected by the ignore list. ``paths-ignore`` skips only when
  *every* changed file is ignored, ``paths`` runs when *any* changed file is selected.
- When only branch filters (or only tag filters) are given, pushes of the other ref type do
  not run the workflow; with neither, both run. Path filters are not evaluated for tag pushes.
- ``pull_request`` / ``pull_request_target`` branch filters match the pull request's *base*
  (target) branch; ``types`` defaults to ``opened``, ``synchronize`` and ``reopened``.
- A ``schedule`` event carries the cron that fired (``github.event.schedule``); it starts a
  workflow only when that cron is one of the workflow's ``on.schedule`` crons. Which crons
  are due at a given minute (UTC) is :func:`shipyard.ci.cron.due_crons`.

Invalid patterns are rejected up front with the field path and the reason (the checks follow
the rules static workflow checkers apply: ``?``/``+`` need a preceding ordinary character,
character classes must be closed, non-empty, hold more than one character and have ordered
ranges; ref patterns must be possible Git ref names; path patterns may not be ``.``/``..`` or
carry surrounding whitespace). GitHub itself accepts some of these silently and then never
matches; Shipyard reports them, since such a filter is always a mistake.

Differences from GitHub: when the list of changed files is unknown (``changed_files=None``,
e.g. a diff GitHub could not compute), path filters pass, matching GitHub's documented
"the workflow will always run" for oversized diffs. An empty list means nothing changed:
``paths`` then selects no file (no run) and ``paths-ignore`` finds every (zero) file ignored
(no run either); GitHub does not document this corner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shipyard.core.errors import FieldError, InvalidError

__all__ = [
    "Event",
    "FilterList",
    "Pattern",
    "PatternKind",
    "TriggerDecision",
    "compile_filters",
    "compile_pattern",
    "evaluate_trigger",
    "filter_selects",
    "pattern_problems",
    "schedule_crons",
    "triggers",
]

PatternKind = Literal["ref", "path"]

_ESCAPABLE = frozenset("[?*+\\!")
_REF_FORBIDDEN_ESCAPED = frozenset("[?*")
_REF_FORBIDDEN = frozenset(" \t~^:")
_PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
_PR_DEFAULT_TYPES = ("opened", "synchronize", "reopened")


class _Scanner:
    """Validates one glob (without its leading ``!``) and translates it to a regex."""

    def __init__(self, body: str, kind: PatternKind) -> None:
        self.body = body
        self.kind = kind
        self.pos = 0
        self.atoms: list[str] = []
        self.quantifiable = False
        self.problems: list[str] = []

    def run(self) -> str:
        while self.pos < len(self.body):
            char = self.body[self.pos]
            self.pos += 1
            self._step(char)
        return "".join(self.atoms)

    def _step(self, char: str) -> None:
        if char == "*":
            self._star()
        elif char in "?+":
            self._quantifier(char)
        elif char == "[":
            self._char_class()
        elif char == "\\":
            self._escape()
        else:
            self._literal(char)

    def _problem(self, message: str) -> None:
        self.problems.append(f"{message} (at character {self.pos})")

    def _literal(self, char: str) -> None:
        if char in "\r\n":
            self._problem("a pattern cannot contain a newline")
        elif self.kind == "ref" and char in _REF_FORBIDDEN:
            self._problem(f"{char!r} cannot appear in a Git ref name")
        self.atoms.append(re.escape(char))
        self.quantifiable = True

    def _star(self) -> None:
        self.quantifiable = False
        if not self.body.startswith("*", self.pos):
            self.atoms.append("[^/]*")
            return
        self.pos += 1
        if self.body.startswith("/", self.pos):
            self.pos += 1
            self.atoms.append("(?:.*/)?")
        else:
            self.atoms.append(".*")

    def _quantifier(self, char: str) -> None:
        if not self.quantifiable:
            what = "zero or one" if char == "?" else "one or more"
            self._problem(
                f"{char!r} ({what} of the preceding character) must follow an ordinary "
                f"character, not the start of the pattern or another special character; "
                f"write \\{char} for a literal {char!r}"
            )
        else:
            self.atoms[-1] = f"(?:{self.atoms[-1]}){char}"
        self.quantifiable = False

    def _escape(self) -> None:
        nxt = self.body[self.pos] if self.pos < len(self.body) else ""
        if nxt in _ESCAPABLE and nxt:
            self.pos += 1
            if self.kind == "ref" and nxt in _REF_FORBIDDEN_ESCAPED:
                self._problem(f"{nxt!r} cannot appear in a Git ref name")
            self.atoms.append(re.escape(nxt))
        else:
            if self.kind == "ref":
                self._problem(
                    "'\\' cannot appear in a Git ref name; it may only escape one of "
                    "[ ? * + \\ ! (regular expressions are not supported)"
                )
            self.atoms.append(re.escape("\\"))
        self.quantifiable = True

    def _char_class(self) -> None:
        end = self.body.find("]", self.pos)
        if end == self.pos:
            self.pos += 1
            self._problem("a character class [] cannot be empty")
            self.atoms.append("(?!)")
            self.quantifiable = True
            return
        if end < 0:
            self.pos = len(self.body)
            self._problem("a character class is missing its closing ']'")
            return
        content = self.body[self.pos : end]
        self.pos = end + 1
        self.atoms.append(self._class_regex(content))
        self.quantifiable = True

    def _class_regex(self, content: str) -> str:
        parts: list[str] = []
        i = 0
        while i < len(content):
            if i + 1 < len(content) and content[i + 1] == "-":
                if i + 2 >= len(content):
                    self._problem(f"the range {content[i]}- in [{content}] has no end")
                    parts.append(re.escape(content[i]))
                    i += 2
                    continue
                low, high = content[i], content[i + 2]
                if low > high:
                    self._problem(f"the range {low}-{high} in [{content}] is reversed")
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
                i += 3
            else:
                parts.append(re.escape(content[i]))
                i += 1
        if len(content) == 1:
            self._problem(f"[{content}] matches a single character; write {content} instead")
        return "[" + "".join(parts) + "]"


def _whole_pattern_problems(body: str, kind: PatternKind) -> list[str]:
    problems: list[str] = []
    if kind == "ref":
        if body.startswith("/"):
            problems.append("a Git ref name cannot start with '/'")
        if body.endswith(("/", ".")):
            problems.append("a Git ref name cannot end with '/' or '.'")
    else:
        if body != body.strip():
            problems.append("a path pattern cannot start or end with whitespace")
        if body in (".", ".."):
            problems.append(f"{body!r} never matches: paths are relative to the repository root")
    return problems


def _translate(pattern: str, kind: PatternKind) -> tuple[bool, str, list[str]]:
    if pattern == "":
        return False, "", ["a pattern cannot be empty"]
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if negated and body == "":
        return True, "", ["'!' must be followed by a pattern to negate"]
    scanner = _Scanner(body, kind)
    regex = scanner.run()
    return negated, regex, _whole_pattern_problems(body, kind) + scanner.problems


def pattern_problems(pattern: str, kind: PatternKind) -> list[str]:
    """Every reason ``pattern`` is not a valid ``kind`` filter pattern; empty when it is."""
    return _translate(pattern, kind)[2]


@dataclass(frozen=True)
class Pattern:
    """One compiled filter pattern; ``negated`` when it started with ``!``."""

    source: str
    negated: bool
    regex: re.Pattern[str]

    def matches(self, value: str) -> bool:
        """Whether the glob (ignoring negation) matches the whole of ``value``."""
        return self.regex.fullmatch(value) is not None


def compile_pattern(pattern: str, kind: PatternKind, *, where: str = "pattern") -> Pattern:
    """Compile one glob; raises InvalidError naming ``where`` and every problem."""
    if not isinstance(pattern, str):
        raise InvalidError(
            "filter pattern", [FieldError(where, f"must be a string, got {pattern!r}")]
        )
    negated, regex, problems = _translate(pattern, kind)
    if problems:
        causes = [FieldError(where, f"invalid {kind} pattern {pattern!r}: {p}") for p in problems]
        raise InvalidError("filter pattern", causes)
    return Pattern(pattern, negated, re.compile(regex, re.DOTALL))


@dataclass(frozen=True)
class FilterList:
    """An ordered list of patterns where the last pattern matching a value decides."""

    patterns: tuple[Pattern, ...]

    def selects(self, value: str) -> bool:
        for pattern in reversed(self.patterns):
            if pattern.matches(value):
                return not pattern.negated
        return False


def compile_filters(patterns: object, kind: PatternKind, *, where: str = "filter") -> FilterList:
    """Compile a filter list (a sequence of strings, or a single string)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, Sequence):
        raise InvalidError("trigger filter", [FieldError(where, "must be a list of glob patterns")])
    causes: list[FieldError] = []
    compiled: list[Pattern] = []
    for index, raw in enumerate(patterns):
        try:
            compiled.append(compile_pattern(raw, kind, where=f"{where}[{index}]"))
        except InvalidError as err:
            causes.extend(err.causes)
    if causes:
        raise InvalidError("trigger filter", causes)
    return FilterList(tuple(compiled))


def filter_selects(patterns: Sequence[str], value: str, kind: PatternKind) -> bool:
    """Whether the pattern list selects ``value`` (last matching pattern wins)."""
    return compile_filters(patterns, kind).selects(value)


@dataclass(frozen=True)
class Event:
    """What happened: ``name`` is the event (``push``, ``pull_request``, ...).

    ``ref`` is the pushed ref (``refs/heads/main``, ``refs/tags/v1``); ``base_ref`` is a pull
    request's target branch; ``changed_files`` are repository-relative paths, or None when
    unknown; ``action`` is the activity type (``opened``, ...) when the event has one;
    ``schedule`` is the cron that fired a ``schedule`` event (``github.event.schedule``).
    """

    name: str
    ref: str | None = None
    base_ref: str | None = None
    changed_files: Sequence[str] | None = None
    action: str | None = None
    schedule: str | None = None


@dataclass(frozen=True)
class TriggerDecision:
    """Whether a workflow runs, and if not, which part of ``on:`` excluded the event."""

    triggers: bool
    reason: str


_RUN = TriggerDecision(True, "")


def _event_config(on: object, name: str) -> tuple[bool, Mapping[str, object]]:
    if isinstance(on, str):
        return on == name, {}
    if isinstance(on, Sequence):
        return name in on, {}
    if not isinstance(on, Mapping):
        raise InvalidError("workflow", [FieldError("on", "must be a string, list or mapping")])
    if name not in on:
        return False, {}
    config = on[name]
    if config is None:
        return True, {}
    if not isinstance(config, Mapping):
        raise InvalidError("workflow", [FieldError(f"on.{name}", "must be a mapping")])
    return True, config


def _pair(
    config: Mapping[str, object], key: str, kind: PatternKind, where: str
) -> tuple[FilterList | None, FilterList | None]:
    ignore_key = f"{key}-ignore"
    if key in config and ignore_key in config:
        raise InvalidError(
            "workflow",
            [FieldError(f"{where}.{key}", f"cannot be used together with {ignore_key}")],
        )
    include = config.get(key)
    ignore = config.get(ignore_key)
    return (
        None if include is None else compile_filters(include, kind, where=f"{where}.{key}"),
        None if ignore is None else compile_filters(ignore, kind, where=f"{where}.{ignore_key}"),
    )


def _check_value(
    value: str, pair: tuple[FilterList | None, FilterList | None], key: str
) -> TriggerDecision:
    include, ignore = pair
    label = key.removesuffix("es").removesuffix("s")
    if include is not None and not include.selects(value):
        return TriggerDecision(False, f"{label} {value!r} is not selected by {key}")
    if ignore is not None and ignore.selects(value):
        return TriggerDecision(False, f"{label} {value!r} is selected by {key}-ignore")
    return _RUN


def _check_paths(
    files: Sequence[str] | None, pair: tuple[FilterList | None, FilterList | None]
) -> TriggerDecision:
    include, ignore = pair
    if files is None:
        return _RUN
    if include is not None and not any(include.selects(f) for f in files):
        return TriggerDecision(False, "no changed file is selected by paths")
    if ignore is not None and all(ignore.selects(f) for f in files):
        return TriggerDecision(False, "every changed file is selected by paths-ignore")
    return _RUN


def _check_ref(
    ref: str,
    branches: tuple[FilterList | None, FilterList | None],
    tags: tuple[FilterList | None, FilterList | None],
) -> TriggerDecision:
    has_branch_filters = branches != (None, None)
    has_tag_filters = tags != (None, None)
    if ref.startswith("refs/tags/"):
        if has_branch_filters and not has_tag_filters:
            return TriggerDecision(False, "only branch filters are set, so tag pushes do not run")
        return _check_value(ref.removeprefix("refs/tags/"), tags, "tags")
    branch = ref.removeprefix("refs/heads/")
    if has_tag_filters and not has_branch_filters:
        return TriggerDecision(False, "only tag filters are set, so branch pushes do not run")
    return _check_value(branch, branches, "branches")


def _check_types(config: Mapping[str, object], event: Event, where: str) -> TriggerDecision:
    types = config.get("types")
    if types is None:
        if event.name not in _PR_EVENTS:
            return _RUN
        types = list(_PR_DEFAULT_TYPES)
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, Sequence):
        raise InvalidError("workflow", [FieldError(f"{where}.types", "must be a list")])
    if event.action is None or event.action in types:
        return _RUN
    return TriggerDecision(False, f"activity type {event.action!r} is not in {where}.types")


def _check_push(config: Mapping[str, object], event: Event, where: str) -> TriggerDecision:
    branches = _pair(config, "branches", "ref", where)
    tags = _pair(config, "tags", "ref", where)
    paths = _pair(config, "paths", "path", where)
    if event.ref is None:
        raise InvalidError("event", [FieldError("ref", "a push event needs the pushed ref")])
    decision = _check_ref(event.ref, branches, tags)
    if not decision.triggers or event.ref.startswith("refs/tags/"):
        return decision
    return _check_paths(event.changed_files, paths)


def _check_pull_request(config: Mapping[str, object], event: Event, where: str) -> TriggerDecision:
    branches = _pair(config, "branches", "ref", where)
    paths = _pair(config, "paths", "path", where)
    decision = _check_types(config, event, where)
    if not decision.triggers:
        return decision
    if branches != (None, None):
        if event.base_ref is None:
            raise InvalidError(
                "event", [FieldError("base_ref", "a pull request event needs its base branch")]
            )
        decision = _check_value(event.base_ref.removeprefix("refs/heads/"), branches, "branches")
        if not decision.triggers:
            return decision
    return _check_paths(event.changed_files, paths)


def schedule_crons(on: object) -> tuple[str, ...] | None:
    """The crons of ``on.schedule`` (``- cron:`` entries), or None when it has no schedule.

    ``on.schedule`` may also be given as ``{"crons": [...]}`` (the parsed workflow's form).
    Raises InvalidError for a schedule that is not a list of ``cron`` entries.
    """
    if isinstance(on, str):
        return () if on == "schedule" else None
    if not isinstance(on, Mapping):
        return () if isinstance(on, Sequence) and "schedule" in on else None
    if "schedule" not in on:
        return None
    config = on["schedule"]
    if isinstance(config, Mapping) and isinstance(config.get("crons"), list):
        config = [{"cron": cron} for cron in config["crons"]]
    if not isinstance(config, list):
        raise InvalidError("workflow", [FieldError("on.schedule", "must be a list of - cron:")])
    crons: list[str] = []
    for index, entry in enumerate(config):
        cron = entry.get("cron") if isinstance(entry, Mapping) else None
        if not isinstance(cron, str):
            raise InvalidError(
                "workflow", [FieldError(f"on.schedule[{index}].cron", "must be a string")]
            )
        crons.append(cron)
    return tuple(crons)


def _check_schedule(on: object, event: Event) -> TriggerDecision:
    crons = schedule_crons(on)
    if crons is None:
        return TriggerDecision(False, "the workflow does not listen to schedule")
    if event.schedule is None:
        raise InvalidError(
            "event", [FieldError("schedule", "a schedule event needs the cron that fired it")]
        )
    if event.schedule in crons:
        return _RUN
    listed = ", ".join(repr(c) for c in crons) or "none"
    return TriggerDecision(
        False, f"the schedule {event.schedule!r} is not one of on.schedule's crons ({listed})"
    )


def evaluate_trigger(on: object, event: Event) -> TriggerDecision:
    """Decide whether ``event`` starts a workflow whose ``on:`` section is ``on``.

    Raises InvalidError (with ``on.<event>...`` field paths) for invalid filters.
    """
    if event.name == "schedule":
        return _check_schedule(on, event)
    listed, config = _event_config(on, event.name)
    if not listed:
        return TriggerDecision(False, f"the workflow does not listen to {event.name}")
    where = f"on.{event.name}"
    if event.name == "push":
        return _check_push(config, event, where)
    if event.name in _PR_EVENTS:
        return _check_pull_request(config, event, where)
    return _check_types(config, event, where)


def triggers(on: object, event: Event) -> bool:
    """Whether ``event`` starts a workflow whose ``on:`` section is ``on``."""
    return evaluate_trigger(on, event).triggers
