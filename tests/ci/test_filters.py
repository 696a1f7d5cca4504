"""Trigger filters: the peer vectors, GitHub's documented rules, and glob properties."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shipyard.ci.filters import (
    Event,
    PatternKind,
    compile_filters,
    compile_pattern,
    evaluate_trigger,
    filter_selects,
    pattern_problems,
    triggers,
)
from shipyard.core.errors import InvalidError
from tests.compat import compat_dir


def _vectors() -> list[dict[str, Any]]:
    lines = (compat_dir() / "filter_vectors.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


VECTORS = _vectors()


def _of(*kinds: str) -> list[Any]:
    chosen = [v for v in VECTORS if v["kind"] in kinds]
    return [pytest.param(v, id=f"{v['kind']}-{i}") for i, v in enumerate(chosen)]


def test_every_vector_kind_is_handled() -> None:
    assert {v["kind"] for v in VECTORS} <= {"ref", "path", "event", "act_list", "validate"}


@pytest.mark.parametrize("vector", _of("ref", "path"))
def test_pattern_vectors(vector: dict[str, Any]) -> None:
    kind = vector["kind"]
    assert filter_selects(vector["patterns"], vector["input"], kind) is vector["matches"]


@pytest.mark.parametrize("vector", _of("act_list"))
def test_act_list_vectors(vector: dict[str, Any]) -> None:
    # "matches": some input's last matching pattern is positive (a paths filter would run).
    selected = compile_filters(vector["patterns"], "path")
    assert any(selected.selects(i) for i in vector["inputs"]) is vector["matches"]


@pytest.mark.parametrize("vector", _of("validate"))
def test_validate_vectors(vector: dict[str, Any]) -> None:
    both: list[PatternKind] = ["ref", "path"]
    kinds = both if vector["glob_type"] == "ref+path" else [vector["glob_type"]]
    for kind in kinds:
        problems = pattern_problems(vector["pattern"], kind)
        assert (problems == []) is vector["valid"], (kind, problems)


@pytest.mark.parametrize("vector", _of("event"))
def test_event_vectors(vector: dict[str, Any]) -> None:
    event = Event(
        vector["event"],
        ref=vector.get("ref"),
        base_ref=vector.get("base_ref"),
        changed_files=vector.get("changed_files"),
    )
    assert triggers(vector["on"], event) is vector["triggers"]


# --- glob semantics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "a/b", False),
        ("**", "a/b", True),
        ("**/x", "x", True),
        ("**/x", "a/b/x", True),
        ("a**/x", "ab/c/x", True),
        ("a+b", "aaab", True),
        ("a+b", "b", False),
        ("ab?c", "ac", True),
        ("ab?c", "abbc", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[ab]+", "abba", True),
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("a\\+", "a+", True),
        ("foo\\!bar", "foo!bar", True),
        ("a.b", "axb", False),
        ("(x)", "(x)", True),
        ("v1", "v12", False),
        ("1", "v1", False),
    ],
)
def test_glob_semantics(pattern: str, value: str, expected: bool) -> None:
    assert compile_pattern(pattern, "path").matches(value) is expected


def test_last_matching_pattern_wins() -> None:
    patterns = ["releases/**", "!releases/**-alpha", "releases/keep-alpha"]
    assert filter_selects(patterns, "releases/1-alpha", "ref") is False
    assert filter_selects(patterns, "releases/keep-alpha", "ref") is True
    assert filter_selects(patterns, "main", "ref") is False


def test_negated_pattern_reports_negation() -> None:
    pattern = compile_pattern("!docs/**", "path")
    assert pattern.negated and pattern.matches("docs/a")


@pytest.mark.parametrize(
    ("pattern", "kind", "fragment"),
    [
        ("", "path", "cannot be empty"),
        ("!", "ref", "'!' must be followed"),
        ("*?", "path", "must follow an ordinary character"),
        ("[z-a]", "path", "is reversed"),
        ("[a-c", "path", "missing its closing"),
        ("feature:x", "ref", "cannot appear in a Git ref name"),
        ("/main", "ref", "cannot start with '/'"),
        ("..", "path", "never matches"),
    ],
)
def test_invalid_pattern_messages(pattern: str, kind: Any, fragment: str) -> None:
    assert any(fragment in p for p in pattern_problems(pattern, kind))


def test_invalid_patterns_name_their_field_path() -> None:
    with pytest.raises(InvalidError) as caught:
        compile_filters(["main", "?bad"], "ref", where="on.push.branches")
    assert caught.value.causes[0].path == "on.push.branches[1]"
    assert "'?bad'" in caught.value.message


def test_invalid_filter_in_on_section_is_rejected() -> None:
    on = {"push": {"branches": ["main", "foo."]}}
    with pytest.raises(InvalidError, match=r"on\.push\.branches\[1\]"):
        triggers(on, Event("push", ref="refs/heads/main"))


def test_non_string_pattern_is_rejected() -> None:
    with pytest.raises(InvalidError, match=r"on\.push\.paths\[0\]: must be a string"):
        triggers({"push": {"paths": [3]}}, Event("push", ref="refs/heads/main"))


# --- trigger decisions ----------------------------------------------------------------------


def _push(ref: str = "refs/heads/main", files: list[str] | None = None) -> Event:
    return Event("push", ref=ref, changed_files=files)


def test_on_forms_string_list_and_mapping() -> None:
    assert triggers("push", _push())
    assert triggers(["pull_request", "push"], _push())
    assert not triggers(["pull_request"], _push())
    assert triggers({"push": None}, _push())
    assert not evaluate_trigger({"schedule": [{"cron": "0 0 * * *"}]}, _push()).triggers


def test_paths_ignore_skips_only_when_every_file_is_ignored() -> None:
    on = {"push": {"paths-ignore": ["docs/**"]}}
    assert not triggers(on, _push(files=["docs/a.md", "docs/b/c.md"]))
    assert triggers(on, _push(files=["docs/a.md", "src/a.py"]))
    decision = evaluate_trigger(on, _push(files=["docs/a.md"]))
    assert decision.reason == "every changed file is selected by paths-ignore"


def test_paths_with_negation() -> None:
    on = {"push": {"paths": ["sub/**", "!sub/docs/**"]}}
    assert not triggers(on, _push(files=["sub/docs/readme.md"]))
    assert triggers(on, _push(files=["sub/docs/readme.md", "sub/main.py"]))


def test_unknown_changed_files_pass_path_filters() -> None:
    assert triggers({"push": {"paths": ["src/**"]}}, _push(files=None))
    assert triggers({"push": {"paths-ignore": ["src/**"]}}, _push(files=None))


def test_no_changed_files_fail_path_filters() -> None:
    assert not triggers({"push": {"paths": ["src/**"]}}, _push(files=[]))
    assert not triggers({"push": {"paths-ignore": ["src/**"]}}, _push(files=[]))
    assert triggers({"push": {"branches": ["main"]}}, _push(files=[]))


def test_branches_and_paths_must_both_pass() -> None:
    on = {"push": {"branches": ["main"], "paths": ["src/**"]}}
    assert not triggers(on, _push("refs/heads/dev", ["src/a.py"]))
    assert not triggers(on, _push("refs/heads/main", ["README.md"]))


def test_tag_filters_exclude_branch_pushes() -> None:
    decision = evaluate_trigger({"push": {"tags": ["v*"]}}, _push("refs/heads/main"))
    assert not decision.triggers
    assert "only tag filters" in decision.reason
    assert triggers({"push": {"tags-ignore": ["v1*"]}}, _push("refs/tags/v2"))
    assert not triggers({"push": {"tags-ignore": ["v1*"]}}, _push("refs/tags/v1.0"))


def test_path_filters_are_not_applied_to_tag_pushes() -> None:
    """GitHub: path filters are not evaluated for pushes of tags."""
    only_paths = {"push": {"paths": ["src/**"]}}
    assert triggers(only_paths, _push("refs/tags/v1", ["docs/a.md"]))
    assert not triggers(only_paths, _push("refs/heads/main", ["docs/a.md"]))
    tags_and_ignore = {"push": {"tags": ["v*"], "paths-ignore": ["docs/**"]}}
    assert triggers(tags_and_ignore, _push("refs/tags/v1", ["docs/a.md"]))
    assert not triggers(tags_and_ignore, _push("refs/tags/x1", ["src/a.py"]))
    assert triggers({"push": {"paths": ["src/**"]}}, _push("refs/tags/v1", []))


def test_filter_and_its_ignore_form_cannot_be_combined() -> None:
    on = {"push": {"branches": ["main"], "branches-ignore": ["dev"]}}
    with pytest.raises(InvalidError, match="cannot be used together with branches-ignore"):
        triggers(on, _push())


def test_pull_request_activity_types() -> None:
    event = Event("pull_request", base_ref="main", action="closed")
    assert not triggers({"pull_request": None}, event)
    assert triggers({"pull_request": {"types": ["closed"]}}, event)
    assert triggers({"pull_request": None}, Event("pull_request", action="synchronize"))


def test_pull_request_branch_filter_uses_base_branch() -> None:
    on = {"pull_request_target": {"branches-ignore": ["wip/**"]}}
    assert not triggers(on, Event("pull_request_target", base_ref="refs/heads/wip/x"))
    assert triggers(on, Event("pull_request_target", base_ref="main"))


# --- properties -----------------------------------------------------------------------------

_SAFE = st.text(alphabet="abcXYZ019-_./", min_size=1, max_size=20)


@given(st.text(alphabet="ab09-_./[?*+!\\", min_size=1, max_size=20))
def test_escaped_literal_matches_only_itself(value: str) -> None:
    assume(value not in (".", ".."))
    pattern = compile_pattern(re.sub(r"([\[?*+\\!])", r"\\\1", value), "path")
    assert pattern.matches(value)
    assert not pattern.matches(value + "x")


@given(st.lists(_SAFE.filter(lambda s: "/" not in s), min_size=1, max_size=4))
def test_double_star_matches_any_path_and_star_only_one_segment(parts: list[str]) -> None:
    path = "/".join(parts)
    assert compile_pattern("**", "path").matches(path)
    assert compile_pattern("*", "path").matches(path) is (len(parts) == 1)


@given(st.text(max_size=12))
def test_validation_never_crashes(pattern: str) -> None:
    for kind in ("ref", "path"):
        problems = pattern_problems(pattern, kind)
        if not problems:
            compile_pattern(pattern, kind)
        else:
            with pytest.raises(InvalidError):
                compile_pattern(pattern, kind)


@given(st.lists(st.sampled_from(["a/**", "!a/b*", "*.md", "!**/x.md"]), max_size=5), _SAFE)
def test_last_match_decides(patterns: list[str], value: str) -> None:
    compiled = [compile_pattern(p, "path") for p in patterns]
    matching = [p for p in compiled if p.matches(value)]
    expected = bool(matching) and not matching[-1].negated
    assert filter_selects(patterns, value, "path") is expected
