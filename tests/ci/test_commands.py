"""File commands and workflow commands: the peer vectors, then Shipyard's own cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.ci.commands import (
    NODE_OPTIONS_ERROR,
    SUMMARY_LIMIT_BYTES,
    Annotation,
    CommandProcessor,
    FileCommandError,
    LogLine,
    escape_data,
    escape_property,
    parse_key_values,
    parse_workflow_command,
    read_env_file,
    read_output_file,
    read_path_file,
    read_state_file,
    read_step_summary,
    unescape_data,
    unescape_property,
)
from shipyard.ci.masking import SecretMasker
from shipyard.core.errors import ShipyardError
from tests.compat import compat_dir


def _vectors(kind: str) -> list[dict[str, Any]]:
    path = compat_dir() / "file_and_workflow_command_vectors.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["kind"] == kind]


FILE_VECTORS = _vectors("file_command")
COMMAND_VECTORS = _vectors("workflow_command")


def test_vector_file_is_not_empty() -> None:
    assert len(FILE_VECTORS) >= 10 and len(COMMAND_VECTORS) >= 5


def _blocked_for_env(vector: dict[str, Any]) -> bool:
    return "NODE_OPTIONS" in vector["name"]


@pytest.mark.parametrize("vector", FILE_VECTORS, ids=lambda v: str(v["name"]))
def test_file_command_vector_env(vector: dict[str, Any]) -> None:
    if "error_contains" in vector:
        with pytest.raises(FileCommandError, match="GITHUB_ENV") as info:
            read_env_file(vector["content"])
        assert vector["error_contains"] in str(info.value)
        return
    result = read_env_file(vector["content"])
    assert result.env == vector["expected"]
    if _blocked_for_env(vector):
        assert result.annotations == [Annotation("error", NODE_OPTIONS_ERROR)]
    else:
        assert result.annotations == []


@pytest.mark.parametrize("vector", FILE_VECTORS, ids=lambda v: str(v["name"]))
def test_file_command_vector_output(vector: dict[str, Any]) -> None:
    if "error_contains" in vector:
        with pytest.raises(FileCommandError, match="GITHUB_OUTPUT") as info:
            read_output_file(vector["content"])
        assert vector["error_contains"] in str(info.value)
        return
    outputs = read_output_file(vector["content"])
    if _blocked_for_env(vector):
        # The NODE_OPTIONS block is GITHUB_ENV's alone: outputs keep the value.
        assert outputs == {"NODE_OPTIONS": "asdf"}
    else:
        assert outputs == vector["expected"]


@pytest.mark.parametrize("vector", COMMAND_VECTORS, ids=lambda v: str(v["line"]))
def test_workflow_command_vector(vector: dict[str, Any]) -> None:
    command = parse_workflow_command(vector["line"])
    if not vector["parsed"]:
        assert command is None
        return
    assert command is not None
    assert command.command == vector["command"]
    assert command.properties == vector["properties"]
    assert command.data == vector["data"]


# --- file commands: Shipyard's own cases -------------------------------------------------


def test_crlf_line_breaks_are_not_part_of_values() -> None:
    text = "A=1\r\nB<<EOF\r\nx\r\ny\r\nEOF\r\n"
    assert parse_key_values(text) == [("A", "1"), ("B", "x\r\ny")]


def test_later_value_wins_and_state_uses_same_parser() -> None:
    assert read_state_file("K=1\nK=2\n") == {"K": "2"}


def test_heredoc_value_line_without_newline_is_an_error() -> None:
    with pytest.raises(FileCommandError, match="EOF marker missing new line"):
        parse_key_values("K<<EOF\nvalue")


def test_heredoc_delimiter_missing_names_it() -> None:
    with pytest.raises(FileCommandError, match="Matching delimiter not found 'END'"):
        parse_key_values("K<<END\nvalue\nEND \n")


def test_empty_name_is_rejected() -> None:
    with pytest.raises(FileCommandError, match="Name must not be empty"):
        parse_key_values("=value", file="GITHUB_OUTPUT")


def test_heredoc_empty_delimiter_is_rejected() -> None:
    with pytest.raises(FileCommandError, match="delimiter must not be empty"):
        parse_key_values("K<<\nx\n")


def test_errors_are_shipyard_errors() -> None:
    with pytest.raises(ShipyardError):
        parse_key_values("oops")


def test_node_options_block_is_case_insensitive_and_keeps_others() -> None:
    result = read_env_file("node_options=x\nKEEP=1\n")
    assert result.env == {"KEEP": "1"}
    assert len(result.annotations) == 1


def test_path_file_last_line_first_and_deduplicated() -> None:
    assert read_path_file("/a\n\n/b\n/a\n/c") == ["/c", "/a", "/b"]


def test_step_summary_limit() -> None:
    assert read_step_summary(b"# ok\n") == "# ok\n"
    assert read_step_summary(b"x" * SUMMARY_LIMIT_BYTES) == "x" * SUMMARY_LIMIT_BYTES
    with pytest.raises(FileCommandError, match="supports content up to a size of 1024k"):
        read_step_summary(b"x" * (SUMMARY_LIMIT_BYTES + 1))


def test_step_summary_must_be_utf8() -> None:
    with pytest.raises(FileCommandError, match="not UTF-8"):
        read_step_summary(b"\xff")


_NAMES = st.text(st.sampled_from("ABCxyz_019"), min_size=1, max_size=8)
_VALUES = st.text(st.characters(exclude_characters="\r\n"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES, st.booleans()), max_size=6))
def test_written_entries_read_back(entries: list[tuple[str, str, bool]]) -> None:
    delimiter = "ghadelimiter_7f3c"
    lines = []
    for name, value, heredoc in entries:
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}" if heredoc else f"{name}={value}")
    text = "\n".join(lines) + "\n"
    # A plain value containing "<<" before "=" cannot happen: the name has neither.
    assert parse_key_values(text) == [(n, v) for n, v, _ in entries]


# --- escapes ----------------------------------------------------------------------------


@given(st.text(max_size=30))
def test_escapes_round_trip(text: str) -> None:
    assert unescape_data(escape_data(text)) == text
    assert unescape_property(escape_property(text)) == text


@given(st.text(max_size=30), st.text(max_size=30))
def test_escaped_command_parses_back(value: str, data: str) -> None:
    line = f"::notice title={escape_property(value)}::{escape_data(data)}"
    command = parse_workflow_command(line)
    assert command is not None
    assert command.data == data
    assert command.properties == ({"title": value} if value else {})


def test_lines_that_are_not_commands() -> None:
    for line in ["hello", "::", ":: ::x", "::missing-end", "x ::notice::y"]:
        assert parse_workflow_command(line) is None, line


# --- the processor ----------------------------------------------------------------------


def _processor(**kwargs: Any) -> CommandProcessor:
    return CommandProcessor(SecretMasker(), **kwargs)


def test_plain_output_passes_through() -> None:
    assert _processor().process("hello") == [LogLine("output", "hello")]


def test_unknown_command_is_plain_output() -> None:
    assert _processor().process("::do-something::x") == [LogLine("output", "::do-something::x")]


def test_add_mask_hides_later_lines_and_the_command_echo() -> None:
    processor = _processor(debug=True)
    shown = processor.process("::add-mask::hunter2")
    assert shown == [LogLine("command", "::add-mask::***")]
    assert processor.process("pw is hunter2") == [LogLine("output", "pw is ***")]


def test_add_mask_of_multiline_escaped_value() -> None:
    processor = _processor()
    processor.process("::add-mask::line-one%0Aline-two")
    assert processor.process("line-two") == [LogLine("output", "***")]


def test_add_mask_empty_and_single_character_warn() -> None:
    processor = _processor()
    assert processor.process("::add-mask::")[0].kind == "warning"
    assert processor.process("::add-mask::x")[0].kind == "warning"
    assert processor.process("x") == [LogLine("output", "x")]


def test_debug_only_when_enabled() -> None:
    assert _processor().process("::debug::detail") == []
    assert _processor(debug=True).process("::debug::detail")[-1] == LogLine("debug", "detail")


def test_annotation_with_position() -> None:
    processor = _processor()
    shown = processor.process("::error file=app.py,line=3,col=5,endColumn=9,title=Bad::it broke")
    assert shown == [LogLine("error", "it broke")]
    assert processor.annotations == [
        Annotation("error", "it broke", title="Bad", file="app.py", line=3, col=5, end_column=9)
    ]


def test_annotation_with_bad_line_number_warns_and_drops_it() -> None:
    processor = _processor()
    shown = processor.process("::warning line=three::careful")
    assert shown[0] == LogLine("warning", "careful")
    assert "Invalid value 'three' for 'line'" in shown[1].text
    assert processor.annotations[0].line is None


def test_groups() -> None:
    processor = _processor()
    assert processor.process("::group::Build") == [LogLine("group", "Build")]
    assert processor.process("::endgroup::") == [LogLine("endgroup", "")]


def test_stop_commands_until_token() -> None:
    processor = _processor()
    assert processor.process("::stop-commands::tok-123") == []
    assert processor.process("::add-mask::secret") == [LogLine("output", "::add-mask::secret")]
    assert processor.process("::tok-123::") == []
    assert processor.process("::add-mask::secret") == []
    assert processor.process("secret") == [LogLine("output", "***")]


def test_stop_commands_rejects_command_names_and_empty() -> None:
    processor = _processor()
    for line in ["::stop-commands::", "::stop-commands::add-mask"]:
        assert processor.process(line)[0].kind == "error"
    # Commands still run: the stop was refused.
    assert processor.process("::group::g") == [LogLine("group", "g")]


def test_set_output_and_save_state_work_with_deprecation_warning() -> None:
    processor = _processor()
    shown = processor.process("::set-output name=result::42")
    assert shown[0].kind == "warning" and "`set-output` command is deprecated" in shown[0].text
    processor.process("::save-state name=pid::7")
    assert processor.outputs == {"result": "42"}
    assert processor.state == {"pid": "7"}


def test_set_output_without_name_is_an_error_that_fails_the_step() -> None:
    processor = _processor()
    assert processor.process("::set-output::42") == [
        LogLine("error", "Unable to process command '::set-output::42' successfully."),
        LogLine("error", "Required field 'name' is missing in ##[set-output] command."),
    ]
    assert processor.outputs == {} and processor.failed


def test_set_env_and_add_path_disabled_unless_allowed() -> None:
    processor = _processor()
    unable, reason = processor.process("::set-env name=A::1")
    assert unable.text == "Unable to process command '::set-env name=A::1' successfully."
    assert "`set-env` command is disabled" in reason.text
    assert processor.env == {} and processor.failed
    allowed = _processor(allow_unsecure_commands=True)
    allowed.process("::set-env name=A::1")
    allowed.process("::add-path::/opt/bin")
    assert allowed.env == {"A": "1"} and allowed.path == ["/opt/bin"]
    assert not allowed.failed


def test_echo_on_shows_commands() -> None:
    processor = _processor()
    assert processor.process("::echo::on") == []
    assert processor.process("::group::g") == [
        LogLine("command", "::group::g"),
        LogLine("group", "g"),
    ]
    assert processor.process("::echo::maybe")[-1].kind == "warning"


def test_annotation_message_is_masked() -> None:
    processor = CommandProcessor(SecretMasker(["s3cr3t"]))
    assert processor.process("::notice title=s3cr3t::has s3cr3t") == [LogLine("notice", "has ***")]
    assert processor.annotations[0] == Annotation("notice", "has ***", title="***")


def test_property_names_are_case_insensitive() -> None:
    processor = _processor()
    processor.process("::warning File=a.py,LINE=7,EndLine=9::x")
    assert processor.annotations[0] == Annotation("warning", "x", file="a.py", line=7, end_line=9)


def test_property_with_empty_name_is_dropped() -> None:
    command = parse_workflow_command("::notice =v,k=w::d")
    assert command is not None and command.properties == {"k": "w"}


def test_stop_token_pause_logging_refused_unless_allowed() -> None:
    processor = _processor()
    shown = processor.process("::stop-commands::Pause-Logging")
    assert "You cannot use a endToken" in shown[0].text
    allowed = _processor(allow_unsecure_stop_tokens=True)
    assert allowed.process("::stop-commands::add-matcher") == []
    assert allowed.process("::group::g") == [LogLine("output", "::group::g")]


def test_add_path_moves_repeated_directory_to_front() -> None:
    processor = _processor(allow_unsecure_commands=True)
    for directory in ["/a", "/b", "/a"]:
        processor.process(f"::add-path::{directory}")
    assert processor.path == ["/a", "/b"]


def test_add_mask_echo_never_shows_value() -> None:
    processor = _processor(echo=True)
    assert processor.process("::add-mask::first%0Asecond") == [
        LogLine("command", "::add-mask::***")
    ]


def test_position_must_be_a_plain_integer() -> None:
    processor = _processor()
    shown = processor.process("::error line=--3,col=²::x")
    assert [line.kind for line in shown] == ["error", "warning", "warning"]
    assert processor.annotations[0] == Annotation("error", "x")


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from("AB=<\n\r E"), max_size=40))
def test_any_file_content_parses_or_fails_with_a_file_command_error(text: str) -> None:
    try:
        pairs = parse_key_values(text)
    except FileCommandError as error:
        assert "GITHUB_ENV" in str(error)
    else:
        assert all(name for name, _ in pairs)


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from(":%0ADC2 ,=ab"), max_size=30))
def test_any_line_parses_or_is_plain_output(line: str) -> None:
    command = parse_workflow_command(line)
    assert command is None or command.command
    shown = _processor().process(line)
    assert all(isinstance(item, LogLine) for item in shown)
