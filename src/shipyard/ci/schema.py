"""The workflow schema: the typed model, GitHub's vocabulary, and positioned field readers.

``shipyard.ci.workflow`` parses a file and walks it with a ``FieldReader`` subclass; this
module holds what that walk builds and checks against:

- the frozen model (``Workflow`` → ``Trigger`` / ``Job`` → ``Step``) and ``WorkflowError``,
  whose problems each carry file, line, column, field path, message and a hint saying what to
  write instead;
- the vocabulary tables (top-level, job and step keys, events, permission scopes);
- ``FieldReader``: typed reads (string, boolean-or-expression, positive number, env mapping,
  string-or-list, permissions, concurrency, defaults) over ruamel.yaml round-trip nodes, each
  recording a positioned problem instead of raising, so one pass reports everything;
- ``cron_problems`` for ``on.schedule``.

Cron follows GitHub's documented POSIX schedule syntax: five fields (minute, hour, day of
month, month, day of week), each ``*`` or a comma list of values, ranges ``a-b`` and steps
``x/n``; months accept ``JAN``-``DEC`` and weekdays ``SUN``-``SAT``. Shipyard also rejects
steps of zero and reversed ranges, which GitHub silently never schedules.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from shipyard.core.errors import FieldError, InvalidError

__all__ = [
    "DEFAULT_TIMEOUT_MINUTES",
    "EVENTS",
    "ID_PATTERN",
    "JOB_KEYS",
    "PERMISSION_SCOPES",
    "PERMISSION_VALUES",
    "REUSABLE_JOB_KEYS",
    "STEP_KEYS",
    "TOP_LEVEL_KEYS",
    "FieldReader",
    "Input",
    "Job",
    "Plain",
    "Position",
    "Step",
    "Strategy",
    "Trigger",
    "Workflow",
    "WorkflowError",
    "WorkflowProblem",
    "cron_problems",
    "describe",
    "env_text",
    "is_expression",
    "join_path",
    "plain_mapping",
    "source_key",
    "to_plain",
]

DEFAULT_TIMEOUT_MINUTES = 360
ID_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

TOP_LEVEL_KEYS = frozenset(
    {"name", "run-name", "on", "env", "defaults", "permissions", "concurrency", "jobs"}
)

JOB_KEYS = frozenset(
    {
        "name",
        "needs",
        "permissions",
        "runs-on",
        "environment",
        "concurrency",
        "outputs",
        "env",
        "defaults",
        "if",
        "steps",
        "timeout-minutes",
        "strategy",
        "continue-on-error",
        "container",
        "services",
        "snapshot",
    }
)

REUSABLE_JOB_KEYS = frozenset(
    {"name", "uses", "with", "secrets", "needs", "if", "permissions", "strategy", "concurrency"}
)

STEP_KEYS = frozenset(
    {
        "id",
        "name",
        "if",
        "uses",
        "run",
        "with",
        "env",
        "shell",
        "working-directory",
        "continue-on-error",
        "timeout-minutes",
    }
)

PERMISSION_SCOPES = frozenset(
    {
        "actions",
        "attestations",
        "checks",
        "contents",
        "deployments",
        "discussions",
        "id-token",
        "issues",
        "models",
        "packages",
        "pages",
        "pull-requests",
        "repository-projects",
        "security-events",
        "statuses",
    }
)
PERMISSION_VALUES = ("read", "write", "none")

EVENTS = frozenset(
    {
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    }
)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

# (field name, lowest, highest, names mapped to lowest + index)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if text.upper() in names:
        return low + names.index(text.upper())
    if text.isdigit():
        value = int(text)
        return value if low <= value <= high else None
    return None


def _cron_part(part: str, field: tuple[str, int, int, tuple[str, ...]]) -> str | None:
    name, low, high, names = field
    span, _, step = part.partition("/")
    if "/" in part and (not step.isdigit() or int(step) == 0):
        return f"{name}: step in {part!r} must be a positive number"
    if span == "*":
        return None
    first, dash, last = span.partition("-")
    start = _cron_value(first, low, high, names)
    end = _cron_value(last, low, high, names) if dash else start
    if start is None or end is None:
        return f"{name}: {part!r} is not a value or range within {low}-{high}"
    if start > end:
        return f"{name}: range {span!r} runs backwards"
    return None


def cron_problems(expression: str) -> list[str]:
    """Every reason ``expression`` is not a valid five-field cron schedule."""
    fields = expression.split()
    if len(fields) != 5:
        return [
            f"a cron schedule has 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        ]
    problems: list[str] = []
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            problem = _cron_part(part, spec)
            if problem is not None:
                problems.append(problem)
    return problems


Plain = object  # JSON-like data: None, bool, int, float, str, list, dict


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column in the workflow file."""

    line: int
    column: int


@dataclass(frozen=True)
class WorkflowProblem:
    """One thing wrong with a workflow, where it is, and what to write instead."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field_path = f" {self.path}:" if self.path else ""
        hint = f" — {self.hint}" if self.hint else ""
        return f"{where}:{field_path} {self.message}{hint}"


class WorkflowError(InvalidError):
    """A workflow file is invalid; ``problems`` lists every problem, in file order."""

    def __init__(self, file: str, problems: Iterable[WorkflowProblem]) -> None:
        self.file = file
        self.problems = tuple(sorted(problems, key=lambda p: (p.line, p.column)))
        causes = [
            FieldError(f"{p.file}:{p.line}:{p.column}", str(p).split(": ", 1)[1])
            for p in self.problems
        ]
        super().__init__(f"workflow {file}", causes)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        self.message = f"workflow {file} has {count} problem{'s' * (count != 1)}:\n{lines}"
        self.args = (self.message,)


@dataclass(frozen=True)
class Input:
    """A ``workflow_dispatch`` or ``workflow_call`` input."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    default: Plain = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trigger:
    """One event under ``on``; ``config`` is its configuration as plain data."""

    event: str
    config: Mapping[str, Plain]
    position: Position
    inputs: tuple[Input, ...] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    crons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of a job: exactly one of ``uses`` / ``run``; ``index`` is its place in the job."""

    index: int
    position: Position
    id: str | None = None
    name: str | None = None
    uses: str | None = None
    run: str | None = None
    with_: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    if_: str | None = None
    shell: str | None = None
    working_directory: str | None = None
    continue_on_error: bool | str = False
    timeout_minutes: float | str | None = None


@dataclass(frozen=True)
class Strategy:
    """``jobs.<id>.strategy``: the matrix (a mapping, or an expression kept as text)."""

    matrix: Mapping[str, Plain] | str | None = None
    fail_fast: bool | str = True
    max_parallel: int | str | None = None


@dataclass(frozen=True)
class Job:
    """One job; ``uses`` is set for a reusable-workflow caller, ``steps`` otherwise."""

    id: str
    position: Position
    name: str | None = None
    needs: tuple[str, ...] = ()
    runs_on: Plain = None
    if_: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    timeout_minutes: float | str = DEFAULT_TIMEOUT_MINUTES
    continue_on_error: bool | str = False
    strategy: Strategy | None = None
    steps: tuple[Step, ...] = ()
    uses: str | None = None
    with_: Mapping[str, Plain] = field(default_factory=dict)
    secrets: Mapping[str, str] | str | None = None
    permissions: Mapping[str, str] | str | None = None
    concurrency: Mapping[str, Plain] | None = None
    defaults_run: Mapping[str, str] = field(default_factory=dict)
    environment: Plain = None


@dataclass(frozen=True)
class Workflow:
    """A validated workflow file; ``jobs`` are in topological order of ``needs``."""

    file: str
    name: str | None
    run_name: str | None
    triggers: tuple[Trigger, ...]
    jobs: tuple[Job, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    defaults_run: Mapping[str, str] = field(default_factory=dict)
    permissions: Mapping[str, str] | str | None = None
    concurrency: Mapping[str, Plain] | None = None

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def trigger(self, event: str) -> Trigger | None:
        return next((t for t in self.triggers if t.event == event), None)


def to_plain(value: object) -> Plain:
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def source_key(m: Mapping[object, object], key: str) -> object:
    """The key of ``m`` as YAML wrote it (``1`` for a job id read as ``"1"``)."""
    if key in m:
        return key
    return next((k for k in m if str(k) == key), key)


def _node_position(parent: object, key: object, *, value: bool) -> Position:
    """Where ``parent[key]`` (or the key itself) starts; the parent's start when unknown.

    Keys pulled in by a YAML merge (``<<: *anchor``) have no position of their own in the
    mapping; they are reported at the mapping.
    """
    if not isinstance(parent, (CommentedMap, CommentedSeq)):
        return Position(1, 1)
    lc = parent.lc
    data = lc.data or {}
    if isinstance(parent, CommentedSeq):
        if isinstance(key, int) and key in data:
            line, col = lc.item(key)
            return Position(line + 1, col + 1)
    elif key in data or (key := source_key(data, str(key))) in data:
        use_value = value and parent.get(key) is not None  # a null's mark is the next token
        line, col = lc.value(key) if use_value else lc.key(key)
        return Position(line + 1, col + 1)
    return Position((lc.line or 0) + 1, (lc.col or 0) + 1)


def plain_mapping(value: Mapping[object, object]) -> dict[str, Plain]:
    """A YAML mapping as plain JSON-like data with string keys."""
    return {str(k): to_plain(v) for k, v in value.items()}


def env_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(to_plain(value))


def join_path(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def is_expression(value: object) -> bool:
    return isinstance(value, str) and "${{" in value


def describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    plain = to_plain(value)
    return f"{type(plain).__name__} {plain!r}"


class FieldReader:
    """Typed reads of a positioned YAML mapping; every problem is recorded, none raised."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[WorkflowProblem] = []

    # -- positions and reporting -------------------------------------------------------------

    def err(self, loc: Position, path: str, message: str, hint: str = "") -> None:
        self.problems.append(WorkflowProblem(self.file, loc.line, loc.column, path, message, hint))

    @staticmethod
    def key_loc(parent: object, key: object) -> Position:
        return _node_position(parent, key, value=False)

    @staticmethod
    def value_loc(parent: object, key: object) -> Position:
        return _node_position(parent, key, value=True)

    # -- typed field readers -----------------------------------------------------------------

    def mapping(self, value: object, loc: Position, path: str) -> Mapping[object, object] | None:
        if isinstance(value, Mapping):
            return value
        self.err(loc, path, f"must be a mapping, got {describe(value)}", "write `key: value` lines")
        return None

    def keys(self, m: Mapping[object, object], allowed: Iterable[str], path: str) -> None:
        known = sorted(allowed)
        for key in m:
            if str(key) not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(known)}"
                self.err(self.key_loc(m, key), join_path(path, key), f"unknown key {key!r}", hint)

    def string(self, m: Mapping[object, object], key: str, path: str) -> str | None:
        if key not in m or m[key] is None:
            return None
        value = m[key]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        self.err(
            self.value_loc(m, key),
            join_path(path, key),
            f"must be a string, got {describe(value)}",
            "write a single line of text",
        )
        return None

    def flag(self, m: Mapping[object, object], key: str, path: str, default: bool) -> bool | str:
        value = m.get(key, default)
        if isinstance(value, bool):
            return value
        if is_expression(value):
            return str(value)
        self.err(
            self.value_loc(m, key),
            join_path(path, key),
            f"must be true or false, got {describe(value)}",
            "write true, false or a ${{ }} expression",
        )
        return default

    def number(
        self, m: Mapping[object, object], key: str, path: str, *, integer: bool = False
    ) -> float | str | None:
        if key not in m:
            return None
        value = m[key]
        if is_expression(value):
            return str(value)
        ok_type = int if integer else (int, float)
        if isinstance(value, ok_type) and not isinstance(value, bool) and value > 0:
            return int(value) if integer else float(value)
        kind = "a positive whole number" if integer else "a positive number"
        self.err(
            self.value_loc(m, key),
            join_path(path, key),
            f"must be {kind}, got {describe(value)}",
            f"write {kind} or a ${{{{ }}}} expression",
        )
        return None

    def condition(self, m: Mapping[object, object], key: str, path: str) -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        self.err(
            self.value_loc(m, key),
            join_path(path, key),
            f"must be an expression, got {describe(value)}",
            "write a condition such as `github.ref == 'refs/heads/main'`",
        )
        return None

    def string_map(self, m: Mapping[object, object], key: str, path: str) -> dict[str, str]:
        if key not in m or m[key] is None:
            return {}
        value = self.mapping(m[key], self.value_loc(m, key), join_path(path, key))
        if value is None:
            return {}
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, (Mapping, list)):
                self.err(
                    self.value_loc(value, name),
                    join_path(join_path(path, key), name),
                    f"must be a string, number or boolean, got {describe(item)}",
                    "write a single value (use toJSON() in an expression for structures)",
                )
                continue
            out[str(name)] = env_text(item)
        return out

    def string_list(self, value: object, loc: Position, path: str) -> list[tuple[str, Position]]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self.err(
                loc,
                path,
                f"must be a string or a list of strings, got {describe(value)}",
                "write `[a, b]` or one item per `- ` line",
            )
            return []
        out: list[tuple[str, Position]] = []
        for index, item in enumerate(items):
            where = loc if isinstance(value, str) else self.value_loc(items, index)
            if isinstance(item, str):
                out.append((item, where))
            else:
                self.err(
                    where,
                    f"{path}[{index}]",
                    f"must be a string, got {describe(item)}",
                    "quote the value",
                )
        return out

    def defaults(self, m: Mapping[object, object], path: str) -> dict[str, str]:
        if "defaults" not in m:
            return {}
        where = f"{path}.defaults".lstrip(".")
        defaults = self.mapping(m["defaults"], self.value_loc(m, "defaults"), where)
        if defaults is None:
            return {}
        self.keys(defaults, ("run",), where)
        if "run" not in defaults:
            return {}
        run = self.mapping(defaults["run"], self.value_loc(defaults, "run"), f"{where}.run")
        if run is None:
            return {}
        self.keys(run, ("shell", "working-directory"), f"{where}.run")
        return self.string_map(defaults, "run", where)

    def permissions(self, m: Mapping[object, object], path: str) -> dict[str, str] | str | None:
        if "permissions" not in m:
            return None
        where = f"{path}.permissions".lstrip(".")
        value, loc = m["permissions"], self.value_loc(m, "permissions")
        if value in ("read-all", "write-all"):
            return str(value)
        if isinstance(value, str) or value is None:
            self.err(
                loc,
                where,
                f"unknown permissions {value!r}",
                "write read-all, write-all, {} or a mapping of scopes",
            )
            return None
        scopes = self.mapping(value, loc, where)
        if scopes is None:
            return None
        out: dict[str, str] = {}
        for scope, level in scopes.items():
            if str(scope) not in PERMISSION_SCOPES:
                close = difflib.get_close_matches(str(scope), sorted(PERMISSION_SCOPES), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "use a GitHub token scope"
                self.err(
                    self.key_loc(scopes, scope),
                    f"{where}.{scope}",
                    f"unknown permission scope {scope!r}",
                    hint,
                )
            elif level not in PERMISSION_VALUES:
                self.err(
                    self.value_loc(scopes, scope),
                    f"{where}.{scope}",
                    f"permission must be read, write or none, got {describe(level)}",
                    "write read, write or none",
                )
            else:
                out[str(scope)] = str(level)
        return out

    def concurrency(self, m: Mapping[object, object], path: str) -> dict[str, Plain] | None:
        if "concurrency" not in m:
            return None
        where = f"{path}.concurrency".lstrip(".")
        value, loc = m["concurrency"], self.value_loc(m, "concurrency")
        if isinstance(value, str):
            return {"group": str(value), "cancel-in-progress": False}
        conc = self.mapping(value, loc, where)
        if conc is None:
            return None
        self.keys(conc, ("group", "cancel-in-progress"), where)
        group = self.string(conc, "group", where)
        if group is None and "group" not in conc:
            self.err(
                loc,
                f"{where}.group",
                "concurrency needs a group",
                "add `group: ${{ github.workflow }}-${{ github.ref }}`",
            )
        cancel = self.flag(conc, "cancel-in-progress", where, False)
        return {"group": group, "cancel-in-progress": cancel}
