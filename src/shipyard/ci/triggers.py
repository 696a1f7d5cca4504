"""Workflow triggers: the ``on:`` section, validated against GitHub's syntax as it is read.

:class:`TriggerReader` is the part of the one-pass workflow walk of ``shipyard.ci.workflow``
that reads ``on``, in any of GitHub's three forms: an event name (``on: push``), a list of
names (``on: [push, pull_request]``) or a mapping of event to configuration. Each event
becomes a ``Trigger`` whose configuration is kept as plain data (``Trigger.config``) for
``shipyard.ci.filters``, which decides whether an event matches; what is checked here:

- ``push``, ``pull_request`` and ``pull_request_target`` take ``branches`` and ``paths``
  filters (``push`` also ``tags``, the pull request events also ``types``);
  ``workflow_run`` takes ``workflows``, ``types`` and ``branches``; any other event takes
  ``types`` only. Filter patterns are compiled here once so a bad glob is reported with its
  position, and ``branches`` with ``branches-ignore`` (likewise tags, paths) is rejected, as
  GitHub does.
- ``schedule`` is a non-empty list of ``- cron:`` entries, each checked by ``cron_problems``.
- ``workflow_dispatch`` inputs are ``string`` (the default), ``boolean``, ``choice``,
  ``number`` or ``environment``; ``workflow_call`` inputs must name their type, ``string``,
  ``boolean`` or ``number``. A ``choice`` needs ``options`` and a default among them, a
  ``boolean`` default must be true or false. ``workflow_call`` also declares ``outputs``,
  each with a ``value``, and ``secrets`` (``description``, ``required``).

Like every check of the walk, a problem is recorded with its position and the walk goes on;
an unknown event name gets the closest known event as the suggestion. Deliberate
difference: activity ``types`` are checked to be strings, not against each event's list of
activity types.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from shipyard.ci.filters import PatternKind, compile_filters
from shipyard.ci.schema import (
    EVENTS,
    ID_PATTERN,
    FieldReader,
    Input,
    Position,
    Trigger,
    cron_problems,
    describe,
    join_path,
    plain_mapping,
    to_plain,
)
from shipyard.core.errors import InvalidError

__all__ = ["TriggerReader"]

_FILTER_PAIRS: tuple[tuple[str, PatternKind], ...] = (
    ("branches", "ref"),
    ("tags", "ref"),
    ("paths", "path"),
)
_DISPATCH_TYPES = ("string", "boolean", "choice", "number", "environment")
_CALL_TYPES = ("string", "boolean", "number")


class TriggerReader(FieldReader):
    """Reads the ``on:`` section of a workflow into its triggers, recording every problem."""

    def triggers(self, top: Mapping[object, object]) -> tuple[Trigger, ...]:
        value, loc = top["on"], self.value_loc(top, "on")
        if isinstance(value, (str, list)):
            return tuple(
                self.trigger(name, None, where, f"on[{name}]", None)
                for name, where in self.string_list(value, loc, "on")
                if self.known_event(name, where, "on")
            )
        events = self.mapping(value, loc, "on")
        if events is None:
            return ()
        if not events:
            self.err(loc, "on", "no events are listed", "add an event such as `push:`")
        out = []
        for name, config in events.items():
            path = f"on.{name}"
            if self.known_event(str(name), self.key_loc(events, name), "on"):
                out.append(
                    self.trigger(
                        str(name), config, self.key_loc(events, name), path, (events, name)
                    )
                )
        return tuple(out)

    def known_event(self, name: str, loc: Position, path: str) -> bool:
        if name in EVENTS:
            return True
        close = difflib.get_close_matches(name, sorted(EVENTS), n=1)
        self.err(
            loc,
            f"{path}.{name}",
            f"unknown event {name!r}",
            f"did you mean {close[0]!r}?" if close else "use a GitHub Actions event name",
        )
        return False

    def trigger(
        self,
        event: str,
        config: object,
        loc: Position,
        path: str,
        parent: tuple[Mapping[object, object], object] | None,
    ) -> Trigger:
        if event == "schedule":
            crons = self.schedule(config, loc, path, parent)
            return Trigger(event, {"crons": list(crons)}, loc, crons=crons)
        if config is None:
            return Trigger(event, {}, loc)
        value_loc = self.value_loc(*parent) if parent else loc
        cfg = self.mapping(config, value_loc, path)
        if cfg is None:
            return Trigger(event, {}, loc)
        handler = self._TRIGGER_HANDLERS.get(event, TriggerReader.other_event)
        return handler(self, event, cfg, loc, path)

    def filters(self, cfg: Mapping[object, object], path: str, allowed: Sequence[str]) -> None:
        for key, kind in _FILTER_PAIRS:
            if key not in allowed:
                continue
            if key in cfg and f"{key}-ignore" in cfg:
                self.err(
                    self.key_loc(cfg, f"{key}-ignore"),
                    f"{path}.{key}-ignore",
                    f"{key} and {key}-ignore cannot both be set for one event",
                    f"keep {key} and negate patterns with '!' instead",
                )
            for name in (key, f"{key}-ignore"):
                if name in cfg:
                    self.patterns(cfg, name, f"{path}.{name}", kind)

    def patterns(
        self, cfg: Mapping[object, object], key: str, path: str, kind: PatternKind
    ) -> None:
        value, loc = cfg[key], self.value_loc(cfg, key)
        items = self.string_list(value, loc, path)
        if not items:
            return
        try:
            compile_filters([text for text, _ in items], kind, where="")
        except InvalidError as err:
            for cause in err.causes:
                match = re.match(r"\[(\d+)\]", cause.path)
                index = int(match.group(1)) if match else 0
                self.err(
                    items[index][1],
                    f"{path}[{index}]",
                    cause.message,
                    "fix the glob (escape literal [ ? * + with \\)",
                )

    def push_event(
        self, event: str, cfg: Mapping[object, object], loc: Position, path: str
    ) -> Trigger:
        allowed = ["branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"]
        if event != "push":
            allowed = [a for a in allowed if not a.startswith("tags")] + ["types"]
        self.keys(cfg, allowed, path)
        self.filters(cfg, path, [a for a in allowed if not a.endswith("-ignore")])
        if "types" in cfg:
            self.string_list(cfg["types"], self.value_loc(cfg, "types"), f"{path}.types")
        return Trigger(event, plain_mapping(cfg), loc)

    def other_event(
        self, event: str, cfg: Mapping[object, object], loc: Position, path: str
    ) -> Trigger:
        allowed = ["types", "branches", "branches-ignore", "workflows"]
        self.keys(cfg, allowed if event == "workflow_run" else ["types"], path)
        for key in ("types", "workflows"):
            if key in cfg:
                self.string_list(cfg[key], self.value_loc(cfg, key), join_path(path, key))
        if event == "workflow_run":
            self.filters(cfg, path, ["branches"])
        return Trigger(event, plain_mapping(cfg), loc)

    def schedule(
        self,
        config: object,
        loc: Position,
        path: str,
        parent: tuple[Mapping[object, object], object] | None,
    ) -> tuple[str, ...]:
        value_loc = self.value_loc(*parent) if parent else loc
        if not isinstance(config, list) or not config:
            self.err(
                value_loc,
                path,
                f"must be a list of `- cron:` entries, got {describe(config)}",
                "write `- cron: '30 5 * * 1'`",
            )
            return ()
        crons: list[str] = []
        for index, entry in enumerate(config):
            where = f"{path}[{index}]"
            item = self.mapping(entry, self.value_loc(config, index), where)
            if item is None:
                continue
            self.keys(item, ("cron",), where)
            cron = self.string(item, "cron", where)
            if cron is None:
                self.err(
                    self.value_loc(config, index),
                    f"{where}.cron",
                    "missing cron",
                    "write `cron: '30 5 * * 1'` (minute hour day month weekday, UTC)",
                )
                continue
            for problem in cron_problems(cron):
                self.err(
                    self.value_loc(item, "cron"),
                    f"{where}.cron",
                    f"invalid cron {cron!r}: {problem}",
                    "write minute hour day-of-month month day-of-week, e.g. '0 3 * * 1-5'",
                )
            crons.append(cron)
        return tuple(crons)

    def inputs(
        self, cfg: Mapping[object, object], path: str, types: Sequence[str]
    ) -> tuple[Input, ...]:
        if "inputs" not in cfg or cfg["inputs"] is None:
            return ()
        raw = self.mapping(cfg["inputs"], self.value_loc(cfg, "inputs"), f"{path}.inputs")
        if raw is None:
            return ()
        return tuple(
            i
            for name, spec in raw.items()
            if (i := self.input(raw, str(name), spec, f"{path}.inputs.{name}", types))
        )

    def input(
        self,
        raw: Mapping[object, object],
        name: str,
        spec: object,
        path: str,
        types: Sequence[str],
    ) -> Input | None:
        if not ID_PATTERN.fullmatch(name):
            self.err(
                self.key_loc(raw, name),
                path,
                f"invalid input name {name!r}",
                "start with a letter or _, then letters, digits, _ or -",
            )
        spec = {} if spec is None else spec
        m = self.mapping(spec, self.value_loc(raw, name), path)
        if m is None:
            return None
        allowed = ["description", "required", "default", "type"]
        self.keys(m, allowed + (["options"] if "choice" in types else []), path)
        kind = m.get("type", "string" if "choice" in types else None)
        if kind not in types:
            loc = self.value_loc(m, "type") if "type" in m else self.value_loc(raw, name)
            self.err(
                loc,
                f"{path}.type",
                f"input type must be one of {', '.join(types)}, got {describe(kind)}",
                f"write `type: {types[0]}`",
            )
            kind = types[0]
        options = self.options(m, path) if kind == "choice" else ()
        default = to_plain(m.get("default"))
        if kind == "choice" and default is not None and str(default) not in options:
            self.err(
                self.value_loc(m, "default"),
                f"{path}.default",
                f"default {default!r} is not one of the options",
                f"write one of: {', '.join(options)}",
            )
        if kind == "boolean" and default is not None and not isinstance(default, bool):
            self.err(
                self.value_loc(m, "default"),
                f"{path}.default",
                f"default of a boolean input must be true or false, got {describe(default)}",
                "write true or false",
            )
        required = self.flag(m, "required", path, False)
        return Input(
            name,
            str(kind),
            self.string(m, "description", path) or "",
            required is True,
            default,
            options,
        )

    def options(self, m: Mapping[object, object], path: str) -> tuple[str, ...]:
        value = m.get("options")
        if not isinstance(value, list) or not value:
            loc = self.value_loc(m, "options") if "options" in m else self.value_loc(m, "type")
            self.err(
                loc,
                f"{path}.options",
                "a choice input needs a non-empty options list",
                "add `options: [first, second]`",
            )
            return ()
        return tuple(str(to_plain(v)) for v in value)

    def dispatch_event(
        self, event: str, cfg: Mapping[object, object], loc: Position, path: str
    ) -> Trigger:
        self.keys(cfg, ("inputs",), path)
        inputs = self.inputs(cfg, path, _DISPATCH_TYPES)
        return Trigger(event, plain_mapping(cfg), loc, inputs=inputs)

    def call_event(
        self, event: str, cfg: Mapping[object, object], loc: Position, path: str
    ) -> Trigger:
        self.keys(cfg, ("inputs", "outputs", "secrets"), path)
        inputs = self.inputs(cfg, path, _CALL_TYPES)
        outputs: dict[str, str] = {}
        raw = cfg.get("outputs")
        if (
            raw is not None
            and (out := self.mapping(raw, self.value_loc(cfg, "outputs"), f"{path}.outputs"))
            is not None
        ):
            for name, spec in out.items():
                where = f"{path}.outputs.{name}"
                m = self.mapping(spec, self.value_loc(out, name), where)
                if m is None:
                    continue
                self.keys(m, ("description", "value"), where)
                value = self.string(m, "value", where)
                if value is None:
                    self.err(
                        self.value_loc(out, name),
                        f"{where}.value",
                        "output has no value",
                        "add `value: ${{ jobs.<job>.outputs.<name> }}`",
                    )
                outputs[str(name)] = value or ""
        secrets = self.call_secrets(cfg, path)
        return Trigger(
            event,
            plain_mapping(cfg),
            loc,
            inputs=inputs,
            outputs=outputs,
            secrets=secrets,
        )

    def call_secrets(self, cfg: Mapping[object, object], path: str) -> tuple[str, ...]:
        raw = cfg.get("secrets")
        if raw is None:
            return ()
        secrets = self.mapping(raw, self.value_loc(cfg, "secrets"), f"{path}.secrets")
        if secrets is None:
            return ()
        for name, spec in secrets.items():
            if (
                spec is not None
                and (
                    m := self.mapping(spec, self.value_loc(secrets, name), f"{path}.secrets.{name}")
                )
                is not None
            ):
                self.keys(m, ("description", "required"), f"{path}.secrets.{name}")
                self.flag(m, "required", f"{path}.secrets.{name}", False)
        return tuple(str(name) for name in secrets)

    _TRIGGER_HANDLERS: ClassVar[
        dict[str, Callable[[TriggerReader, str, Mapping[object, object], Position, str], Trigger]]
    ] = {
        "push": push_event,
        "pull_request": push_event,
        "pull_request_target": push_event,
        "workflow_dispatch": dispatch_event,
        "workflow_call": call_event,
    }
