"""File commands and workflow commands: how a step talks back to the runner.

File commands
-------------
Before each step the runner creates empty files and names them in ``GITHUB_ENV``,
``GITHUB_OUTPUT``, ``GITHUB_STATE``, ``GITHUB_PATH`` and ``GITHUB_STEP_SUMMARY``; after the step
it reads them. The first three share one format, parsed by :func:`parse_key_values`, which
follows the runner's documented rules exactly:

- lines are split on ``\\n`` (a ``\\r`` before it belongs to the line break); empty lines between
  entries are skipped;
- ``NAME=value`` when ``=`` comes before any ``<<`` (split on the first ``=``, so the value may
  contain ``=`` and may be empty);
- ``NAME<<DELIMITER`` when ``<<`` comes first: the value is every following line up to a line
  that equals the delimiter exactly (no trimming: `` EOF`` is not ``EOF``), joined with the line
  breaks between them; name and delimiter must both be non-empty; a delimiter that never
  appears is "Matching delimiter not found", and a value line that ends the file without a
  line break is "EOF marker missing new line";
- any other non-empty line is "Invalid format '<line>'".

``GITHUB_ENV`` refuses ``NODE_OPTIONS`` with GitHub's error annotation and keeps the other
values. ``GITHUB_PATH`` holds one directory per non-empty line; each is prepended, so the last
line ends up first in ``PATH``. ``GITHUB_STEP_SUMMARY`` is Markdown kept as written, refused
above 1 MiB with GitHub's message.

Workflow commands
-----------------
A line of step output of the form ``::name key=value,key=value::data`` (leading whitespace
allowed) is a command. :func:`parse_workflow_command` implements the grammar and its escapes
(data: ``%25 %0D %0A``; properties also ``%3A %2C``; a property with an empty value is dropped).
:class:`CommandProcessor` runs the commands the runner knows — ``add-mask``, ``debug``,
``notice``/``warning``/``error`` with ``file,line,endLine,col,endColumn,title``, ``group``/
``endgroup``, ``echo``, ``stop-commands`` … ``::TOKEN::``, and the deprecated ``set-output`` and
``save-state`` (still applied, with GitHub's deprecation warning) — and turns every line into
what the log shows, masked by the step's :class:`~shipyard.ci.masking.SecretMasker`.
``set-env`` and ``add-path`` are disabled as on GitHub unless ``ACTIONS_ALLOW_UNSECURE_COMMANDS``
is set; a ``stop-commands`` token that is empty, ``pause-logging`` or a command name is refused
unless ``ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS`` is set. Property names are
case-insensitive. An ``add-mask`` line is echoed (when echo is on) as ``::add-mask::***``.
A name the runner does not know leaves the line as plain output.

A command the runner cannot process — ``set-env``/``add-path`` while disabled, ``set-output``
/``save-state``/``set-env`` without ``name`` — logs GitHub's two errors (``Unable to process
command '…' successfully.`` and the reason) and sets :attr:`CommandProcessor.failed`: on
GitHub such a command fails its step even when the process exits 0.

Deliberate differences: Shipyard does not cap the number of annotations per step as GitHub
does; problem matchers (``add-matcher``/``remove-matcher``) are not supported, so those lines
are plain output; an empty name in ``=value`` is refused ("Name must not be empty") where the
runner's own check lets it through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from shipyard.ci.masking import SecretMasker
from shipyard.core.errors import BadRequestError

__all__ = [
    "NODE_OPTIONS_ERROR",
    "SUMMARY_LIMIT_BYTES",
    "Annotation",
    "CommandProcessor",
    "EnvFileResult",
    "FileCommandError",
    "LogLine",
    "WorkflowCommand",
    "escape_data",
    "escape_property",
    "parse_key_values",
    "parse_workflow_command",
    "read_env_file",
    "read_output_file",
    "read_path_file",
    "read_state_file",
    "read_step_summary",
    "unescape_data",
    "unescape_property",
]

SUMMARY_LIMIT_BYTES = 1024 * 1024
NODE_OPTIONS_ERROR = "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command."
SET_OUTPUT_DEPRECATED = (
    "The `{name}` command is deprecated and will be disabled soon. Please upgrade to using "
    "Environment Files. For more information see: https://github.blog/changelog/"
    "2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/"
)
STOP_TOKEN_REFUSED = (
    "You cannot use a endToken that is an empty string, the string 'pause-logging', or another "
    "workflow command. For more information see: https://docs.github.com/actions/"
    "learn-github-actions/workflow-commands-for-github-actions"
    "#example-stopping-and-starting-workflow-commands or opt into insecure command execution by "
    "setting the `ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS` environment variable to `true`."
)
UNSECURE_DISABLED = (
    "The `{name}` command is disabled. Please upgrade to using Environment Files or opt into "
    "unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment "
    "variable to `true`. For more information see: https://github.blog/changelog/"
    "2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/"
)


class FileCommandError(BadRequestError):
    """A file command's content could not be parsed; the message names the file and line."""

    def __init__(self, file: str, detail: str) -> None:
        super().__init__(f"Unable to process file command '{file}' successfully: {detail}")
        self.file = file
        self.detail = detail


# --- escapes ----------------------------------------------------------------------------

_DATA_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY_ESCAPES = {**_DATA_ESCAPES, ":": "%3A", ",": "%2C"}
_DATA_UNESCAPE = re.compile("%25|%0D|%0A")
_PROPERTY_UNESCAPE = re.compile("%25|%0D|%0A|%3A|%2C")
_REVERSE = {v: k for k, v in _PROPERTY_ESCAPES.items()}


def escape_data(text: str) -> str:
    return "".join(_DATA_ESCAPES.get(ch, ch) for ch in text)


def escape_property(text: str) -> str:
    return "".join(_PROPERTY_ESCAPES.get(ch, ch) for ch in text)


def unescape_data(text: str) -> str:
    # One pass, so ``%250D`` decodes to the literal ``%0D`` and never to a carriage return.
    return _DATA_UNESCAPE.sub(lambda m: _REVERSE[m.group(0)], text)


def unescape_property(text: str) -> str:
    return _PROPERTY_UNESCAPE.sub(lambda m: _REVERSE[m.group(0)], text)


# --- file commands ----------------------------------------------------------------------


def _read_line(text: str, index: int) -> tuple[str | None, str | None, int]:
    """The line at ``index``, its line break (None at end of text) and the next index."""
    if index >= len(text):
        return None, None, index
    newline_at = text.find("\n", index)
    if newline_at < 0:
        return text[index:], None, len(text)
    if newline_at > index and text[newline_at - 1] == "\r":
        return text[index : newline_at - 1], "\r\n", newline_at + 1
    return text[index:newline_at], "\n", newline_at + 1


def _heredoc(text: str, index: int, delimiter: str, file: str) -> tuple[str, int]:
    start = end = index
    line, newline, index = _read_line(text, index)
    while line != delimiter:
        if line is None:
            raise FileCommandError(
                file, f"Invalid value. Matching delimiter not found '{delimiter}'"
            )
        if newline is None:
            raise FileCommandError(file, "Invalid value. EOF marker missing new line.")
        end = index - len(newline)
        line, newline, index = _read_line(text, index)
    return (text[start:end] if end > start else ""), index


def parse_key_values(text: str, *, file: str = "GITHUB_ENV") -> list[tuple[str, str]]:
    """Every ``(name, value)`` in a GITHUB_ENV/OUTPUT/STATE file, in order (later wins)."""
    pairs: list[tuple[str, str]] = []
    line, _, index = _read_line(text, 0)
    while line is not None:
        if line:
            equals, heredoc = line.find("="), line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                name, value = line.split("=", 1)
                if not name:
                    raise FileCommandError(file, f"Invalid format '{line}'. Name must not be empty")
            elif heredoc >= 0:
                name, delimiter = line.split("<<", 1)
                if not name or not delimiter:
                    raise FileCommandError(
                        file,
                        f"Invalid format '{line}'. "
                        "Name must not be empty and delimiter must not be empty",
                    )
                value, index = _heredoc(text, index, delimiter, file)
            else:
                raise FileCommandError(file, f"Invalid format '{line}'")
            pairs.append((name, value))
        line, _, index = _read_line(text, index)
    return pairs


@dataclass(frozen=True)
class Annotation:
    """An error, warning or notice shown on the run, optionally pointing into a file."""

    level: Literal["notice", "warning", "error"]
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None
    end_line: int | None = None
    col: int | None = None
    end_column: int | None = None


@dataclass(frozen=True)
class EnvFileResult:
    env: dict[str, str]
    annotations: list[Annotation]


def read_env_file(text: str) -> EnvFileResult:
    """GITHUB_ENV: the variables to set; ``NODE_OPTIONS`` is refused with an error annotation."""
    env: dict[str, str] = {}
    annotations: list[Annotation] = []
    for name, value in parse_key_values(text, file="GITHUB_ENV"):
        if name.upper() == "NODE_OPTIONS":
            annotations.append(Annotation("error", NODE_OPTIONS_ERROR))
            continue
        env[name] = value
    return EnvFileResult(env, annotations)


def read_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT: the step's outputs."""
    return dict(parse_key_values(text, file="GITHUB_OUTPUT"))


def read_state_file(text: str) -> dict[str, str]:
    """GITHUB_STATE: values handed to the action's post step (as ``STATE_<name>``)."""
    return dict(parse_key_values(text, file="GITHUB_STATE"))


def read_path_file(text: str) -> list[str]:
    """GITHUB_PATH: directories in the order they must appear in PATH (last line first)."""
    ordered: list[str] = []
    for line in text.splitlines():
        if line:
            if line in ordered:
                ordered.remove(line)
            ordered.insert(0, line)
    return ordered


def read_step_summary(content: bytes) -> str:
    """GITHUB_STEP_SUMMARY: the Markdown as written; refused above 1 MiB as GitHub does."""
    if len(content) > SUMMARY_LIMIT_BYTES:
        raise FileCommandError(
            "GITHUB_STEP_SUMMARY",
            f"$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of "
            f"{SUMMARY_LIMIT_BYTES // 1024}k, got {len(content) // 1024}k.",
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileCommandError(
            "GITHUB_STEP_SUMMARY", f"the summary is not UTF-8 text (byte {e.start})"
        ) from e


# --- workflow commands ------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowCommand:
    command: str
    properties: dict[str, str]
    data: str


def parse_workflow_command(line: str) -> WorkflowCommand | None:
    """``::name k=v,k=v::data`` (leading whitespace allowed), or None for any other line."""
    text = line.lstrip()
    if not text.startswith("::"):
        return None
    end = text.find("::", 2)
    if end < 0:
        return None
    info = text[2:end]
    name, _, raw_properties = info.partition(" ")
    if not name:
        return None
    properties: dict[str, str] = {}
    for entry in raw_properties.split(","):
        key, sep, value = entry.partition("=")
        if key and sep and value:
            properties[key] = unescape_property(value)
    return WorkflowCommand(name, properties, unescape_data(text[end + 2 :]))


LogKind = Literal["output", "command", "debug", "notice", "warning", "error", "group", "endgroup"]


@dataclass(frozen=True)
class LogLine:
    """One line as the log shows it (already masked)."""

    kind: LogKind
    text: str


_KNOWN = frozenset(
    {
        "add-mask", "debug", "notice", "warning", "error", "group", "endgroup", "echo",
        "stop-commands", "set-output", "save-state", "set-env", "add-path",
    }
)  # fmt: skip
# Names the runner registers; a stop token may not be one of them.
_REGISTERED = _KNOWN | {"add-matcher", "remove-matcher"}
_LEVELS: dict[str, Literal["notice", "warning", "error"]] = {
    "notice": "notice",
    "warning": "warning",
    "error": "error",
}
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")
_POSITION_KEYS = {"line": "line", "endline": "end_line", "col": "col", "endcolumn": "end_column"}


@dataclass
class CommandProcessor:
    """Runs the workflow commands in one step's output and says what each line shows."""

    masker: SecretMasker
    debug: bool = False
    allow_unsecure_commands: bool = False
    allow_unsecure_stop_tokens: bool = False
    echo: bool | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    #: a command could not be processed: the step fails, as on GitHub
    failed: bool = False
    _stop_token: str | None = field(default=None, init=False, repr=False)

    def process(self, line: str) -> list[LogLine]:
        """Apply ``line`` if it is a command; return what the log shows for it."""
        command = parse_workflow_command(line)
        if self._stop_token is not None:
            if command is not None and command.command == self._stop_token:
                self._stop_token = None
                return self._echoed(line)
            return [self._line("output", line)]
        if command is None or command.command not in _KNOWN:
            return [self._line("output", line)]
        echo = self._echo_on()
        produced = self._run(command, line)
        if not echo:
            return produced
        # An add-mask line is never echoed with its value, whatever the value's length.
        shown = "::add-mask::***" if command.command == "add-mask" else line
        return [self._line("command", shown), *produced]

    def _echo_on(self) -> bool:
        return self.debug if self.echo is None else self.echo

    def _echoed(self, line: str) -> list[LogLine]:
        return [self._line("command", line)] if self._echo_on() else []

    def _line(self, kind: LogKind, text: str) -> LogLine:
        return LogLine(kind, self.masker.mask(text))

    def _run(self, parsed: WorkflowCommand, line: str) -> list[LogLine]:
        # Property names are case-insensitive on GitHub (``Line=3`` is ``line=3``).
        properties = {key.lower(): value for key, value in parsed.properties.items()}
        command = WorkflowCommand(parsed.command, properties, parsed.data)
        name, data = command.command, command.data
        if name in ("notice", "warning", "error"):
            return self._annotate(command)
        if name == "add-mask":
            return self._add_mask(data)
        if name == "debug":
            return [self._line("debug", data)] if self.debug else []
        if name in ("group", "endgroup"):
            return [self._line("group" if name == "group" else "endgroup", data)]
        if name == "echo":
            return self._set_echo(data)
        if name == "stop-commands":
            return self._stop(data)
        return self._set_value(command, line)

    def _add_mask(self, data: str) -> list[LogLine]:
        if not data.strip():
            return [self._warn("Can't add secret mask for empty string in ##[add-mask] command.")]
        if not self.masker.add(data):
            return [self._warn("Can't add secret mask for a one-character value.")]
        return []

    def _set_echo(self, data: str) -> list[LogLine]:
        if data.lower() not in ("on", "off"):
            return [self._warn(f"Invalid echo command value '{data}': use 'on' or 'off'.")]
        self.echo = data.lower() == "on"
        return []

    def _stop(self, token: str) -> list[LogLine]:
        refused = not token or token in _REGISTERED or token.lower() == "pause-logging"
        if refused and not self.allow_unsecure_stop_tokens:
            return [self._error(STOP_TOKEN_REFUSED)]
        self._stop_token = token
        return []

    def _set_value(self, command: WorkflowCommand, line: str) -> list[LogLine]:
        name = command.command
        if name in ("set-env", "add-path") and not self.allow_unsecure_commands:
            return self._unprocessable(line, UNSECURE_DISABLED.format(name=name))
        if name == "add-path":
            if command.data in self.path:
                self.path.remove(command.data)
            self.path.insert(0, command.data)
            return []
        key = command.properties.get("name")
        if not key:
            return self._unprocessable(
                line, f"Required field 'name' is missing in ##[{name}] command."
            )
        if name == "set-env":
            self.env[key] = command.data
            return []
        target = self.outputs if name == "set-output" else self.state
        target[key] = command.data
        return [self._warn(SET_OUTPUT_DEPRECATED.format(name=name))]

    def _annotate(self, command: WorkflowCommand) -> list[LogLine]:
        props, problems = command.properties, []
        positions: dict[str, int] = {}
        for key, attribute in _POSITION_KEYS.items():
            raw = props.get(key)
            if raw is not None and _INTEGER.fullmatch(raw):
                positions[attribute] = int(raw)
            elif raw is not None:
                problems.append(f"Invalid value '{raw}' for '{key}': not a number.")
        level = _LEVELS[command.command]
        annotation = Annotation(
            level,
            self.masker.mask(command.data),
            title=self.masker.mask(props["title"]) if "title" in props else None,
            file=props.get("file"),
            **positions,
        )
        self.annotations.append(annotation)
        return [self._line(level, command.data), *(self._warn(p) for p in problems)]

    def _unprocessable(self, line: str, reason: str) -> list[LogLine]:
        self.failed = True
        return [
            self._error(f"Unable to process command '{line}' successfully."),
            self._error(reason),
        ]

    def _warn(self, message: str) -> LogLine:
        self.annotations.append(Annotation("warning", message))
        return self._line("warning", message)

    def _error(self, message: str) -> LogLine:
        self.annotations.append(Annotation("error", message))
        return self._line("error", message)
