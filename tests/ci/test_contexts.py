"""Contexts and default environment variables built from push, pull_request, dispatch events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.ci.contexts import (
    RunFacts,
    api_urls,
    event_path,
    github_context,
    inputs_context,
    job_context,
    matrix_context,
    needs_context,
    ref_name,
    ref_type,
    runner_arch,
    runner_context,
    step_environment,
    step_files,
    steps_context,
    strategy_context,
    values_to_mask,
)
from shipyard.ci.expressions import evaluate, evaluate_condition
from shipyard.core.errors import InvalidError

BEFORE = "1" * 40
AFTER = "a" * 40
HEAD = "b" * 40
BASE = "c" * 40
MERGE = "d" * 40


def make_facts(**overrides: Any) -> RunFacts:
    values: dict[str, Any] = {
        "repository": "octo-org/shop",
        "run_id": 9001,
        "run_number": 42,
        "workspace": "/runs/9001/work/shop",
        "temp_dir": "/runs/9001/temp",
        "workflow": "CI",
        "workflow_path": ".github/workflows/ci.yaml",
        "token": "ghs_secrettoken",
        "protected_branches": frozenset({"main"}),
    }
    values.update(overrides)
    return RunFacts(**values)


def push_event(ref: str = "refs/heads/main") -> dict[str, object]:
    return {
        "ref": ref,
        "before": BEFORE,
        "after": AFTER,
        "commits": [{"id": AFTER, "message": "Fix the cart\n\nDetails"}],
        "head_commit": {"id": AFTER, "message": "Fix the cart\n\nDetails"},
        "pusher": {"name": "mona", "email": "mona@example.com"},
        "repository": {"full_name": "octo-org/shop", "default_branch": "main"},
        "sender": {"login": "mona"},
    }


def pull_request_event(number: int = 17) -> dict[str, object]:
    return {
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": "feature/cart", "sha": HEAD},
            "base": {"ref": "main", "sha": BASE},
            "merge_commit_sha": MERGE,
        },
        "repository": {"full_name": "octo-org/shop"},
        "sender": {"login": "hubot"},
    }


def test_push_to_branch_github_context() -> None:
    github = github_context(make_facts(), "push", push_event(), job="build", action="__run")
    expected = {
        "event_name": "push",
        "sha": AFTER,
        "ref": "refs/heads/main",
        "ref_name": "main",
        "ref_type": "branch",
        "ref_protected": True,
        "base_ref": "",
        "head_ref": "",
        "repository": "octo-org/shop",
        "repository_owner": "octo-org",
        "actor": "mona",
        "triggering_actor": "mona",
        "run_id": "9001",
        "run_number": "42",
        "run_attempt": "1",
        "workflow": "CI",
        "workflow_ref": "octo-org/shop/.github/workflows/ci.yaml@refs/heads/main",
        "job": "build",
        "action": "__run",
        "server_url": "https://github.com",
        "api_url": "https://api.github.com",
        "graphql_url": "https://api.github.com/graphql",
        "workspace": "/runs/9001/work/shop",
        "token": "ghs_secrettoken",
        "event_path": "/runs/9001/temp/_github_workflow/event.json",
    }
    assert {key: github[key] for key in expected} == expected
    assert github["event"] == push_event()


def test_push_of_tag_is_a_tag_ref_and_never_protected() -> None:
    github = github_context(make_facts(), "push", push_event("refs/tags/v1.2.0"))
    assert (github["ref_name"], github["ref_type"]) == ("v1.2.0", "tag")
    assert github["ref_protected"] is False


def test_push_to_unprotected_branch_with_slashes() -> None:
    github = github_context(make_facts(), "push", push_event("refs/heads/feature/a/b"))
    assert github["ref_name"] == "feature/a/b"
    assert github["ref_protected"] is False


def test_pull_request_github_context() -> None:
    github = github_context(make_facts(), "pull_request", pull_request_event(17))
    assert github["ref"] == "refs/pull/17/merge"
    assert github["ref_name"] == "17/merge"
    assert github["ref_type"] == "branch"
    assert github["sha"] == MERGE
    assert (github["base_ref"], github["head_ref"]) == ("main", "feature/cart")
    assert github["actor"] == "hubot"


def test_pull_request_without_merge_commit_uses_head_sha() -> None:
    event = pull_request_event()
    pr = event["pull_request"]
    assert isinstance(pr, dict)
    del pr["merge_commit_sha"]
    assert github_context(make_facts(), "pull_request", event)["sha"] == HEAD


def test_pull_request_needs_a_number() -> None:
    event = pull_request_event()
    del event["number"]
    with pytest.raises(InvalidError, match=r"event\.number"):
        github_context(make_facts(), "pull_request", event)


def test_workflow_dispatch_short_ref_and_inputs() -> None:
    event = {"ref": "release", "inputs": {"dry": "true"}}
    github = github_context(make_facts(), "workflow_dispatch", event, sha=HEAD)
    assert (github["ref"], github["ref_name"], github["sha"]) == (
        "refs/heads/release",
        "release",
        HEAD,
    )
    assert evaluate("github.event.inputs.dry", {"github": github}) == "true"


def test_schedule_needs_ref_and_sha_from_caller() -> None:
    with pytest.raises(InvalidError) as caught:
        github_context(make_facts(), "schedule", {"schedule": "0 3 * * *"})
    assert {cause.path for cause in caught.value.causes} == {"event.ref", "event.after"}
    github = github_context(
        make_facts(), "schedule", {"schedule": "0 3 * * *"}, ref="refs/heads/main", sha=AFTER
    )
    assert (github["ref_name"], github["sha"]) == ("main", AFTER)


def test_explicit_actor_and_triggering_actor_win() -> None:
    facts = make_facts(actor="owner", triggering_actor="rerunner", run_attempt=2)
    github = github_context(facts, "push", push_event())
    assert (github["actor"], github["triggering_actor"], github["run_attempt"]) == (
        "owner",
        "rerunner",
        "2",
    )


def test_enterprise_server_urls() -> None:
    assert api_urls("https://ghe.example.com/") == (
        "https://ghe.example.com/api/v3",
        "https://ghe.example.com/api/graphql",
    )


def test_token_is_listed_for_masking() -> None:
    assert values_to_mask(github_context(make_facts(), "push", push_event())) == ["ghs_secrettoken"]
    no_token = github_context(make_facts(token=""), "push", push_event())
    assert values_to_mask(no_token) == []


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "X64"), ("AMD64", "X64"), ("aarch64", "ARM64"), ("arm64", "ARM64"),
     ("armv7l", "ARM"), ("i686", "X86")],
)  # fmt: skip
def test_runner_arch(machine: str, arch: str) -> None:
    assert runner_arch(machine) == arch


def test_unknown_machine_is_rejected() -> None:
    with pytest.raises(InvalidError, match="riscv64"):
        runner_arch("riscv64")


def test_runner_context() -> None:
    runner = runner_context(make_facts(), machine="aarch64")
    assert runner == {
        "name": "shipyard",
        "os": "Linux",
        "arch": "ARM64",
        "temp": "/runs/9001/temp",
        "tool_cache": "/runs/9001/temp/_tool",
        "environment": "self-hosted",
    }
    assert runner_context(make_facts(), machine="x86_64", debug=True)["debug"] == "1"


def test_step_environment_for_push() -> None:
    facts = make_facts()
    github = github_context(facts, "push", push_event("refs/tags/v2"), job="build", action="__run")
    env = step_environment(github, runner_context(facts, machine="x86_64"), step_files(facts, 0))
    files = "/runs/9001/temp/_runner_file_commands"
    expected = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION": "__run",
        "GITHUB_ACTOR": "mona",
        "GITHUB_BASE_REF": "",
        "GITHUB_HEAD_REF": "",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": event_path(facts),
        "GITHUB_JOB": "build",
        "GITHUB_REF": "refs/tags/v2",
        "GITHUB_REF_NAME": "v2",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_PROTECTED": "false",
        "GITHUB_REPOSITORY": "octo-org/shop",
        "GITHUB_REPOSITORY_OWNER": "octo-org",
        "GITHUB_RUN_ID": "9001",
        "GITHUB_RUN_NUMBER": "42",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_GRAPHQL_URL": "https://api.github.com/graphql",
        "GITHUB_SHA": AFTER,
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_WORKSPACE": "/runs/9001/work/shop",
        "GITHUB_ENV": f"{files}/set_env_1",
        "GITHUB_OUTPUT": f"{files}/set_output_1",
        "GITHUB_PATH": f"{files}/add_path_1",
        "GITHUB_STATE": f"{files}/save_state_1",
        "GITHUB_STEP_SUMMARY": f"{files}/step_summary_1",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "shipyard",
        "RUNNER_TEMP": "/runs/9001/temp",
        "RUNNER_TOOL_CACHE": "/runs/9001/temp/_tool",
    }
    assert {key: env[key] for key in expected} == expected
    assert "RUNNER_DEBUG" not in env
    assert "ghs_secrettoken" not in env.values()


def test_step_environment_for_pull_request() -> None:
    facts = make_facts()
    github = github_context(facts, "pull_request", pull_request_event(5))
    env = step_environment(github, runner_context(facts, machine="x86_64"), step_files(facts, 2))
    assert env["GITHUB_REF"] == "refs/pull/5/merge"
    assert env["GITHUB_REF_NAME"] == "5/merge"
    assert (env["GITHUB_BASE_REF"], env["GITHUB_HEAD_REF"]) == ("main", "feature/cart")
    assert env["GITHUB_OUTPUT"].endswith("/set_output_3")


def test_each_step_gets_its_own_files() -> None:
    facts = make_facts()
    first, second = step_files(facts, 0), step_files(facts, 1)
    assert len({first.env, first.output, first.path, first.state, first.step_summary}) == 5
    assert first.output != second.output


def test_expressions_over_push_contexts() -> None:
    facts = make_facts()
    contexts = {
        "github": github_context(facts, "push", push_event("refs/tags/v3.1")),
        "runner": runner_context(facts, machine="x86_64"),
    }
    assert evaluate("github.ref_name", contexts) == "v3.1"
    assert evaluate("github.event.head_commit.message", contexts) == "Fix the cart\n\nDetails"
    assert evaluate("startsWith(github.ref, 'refs/tags/')", contexts) is True
    assert evaluate("github.event.commits[0].id == github.sha", contexts) is True
    assert evaluate("runner.os == 'linux' && runner.arch == 'X64'", contexts) is True
    assert evaluate("github.run_number", contexts) == "42"


def test_expressions_over_pull_request_contexts() -> None:
    contexts = {"github": github_context(make_facts(), "pull_request", pull_request_event(8))}
    assert evaluate("startsWith(github.ref, 'refs/tags/')", contexts) is False
    assert evaluate("github.event.pull_request.number", contexts) == 8
    assert evaluate("format('{0}->{1}', github.head_ref, github.base_ref)", contexts) == (
        "feature/cart->main"
    )
    assert evaluate_condition("github.event_name == 'pull_request'", contexts) is True


def test_steps_context_conclusion_under_continue_on_error() -> None:
    steps = steps_context(
        [
            ("build", "success", {"image": "shop:1"}, False),
            ("lint", "failure", {}, True),
            ("", "success", {"ignored": "x"}, False),
            ("test", "failure", {}, False),
            ("deploy", "skipped", {}, False),
        ]
    )
    assert steps == {
        "build": {"outputs": {"image": "shop:1"}, "outcome": "success", "conclusion": "success"},
        "lint": {"outputs": {}, "outcome": "failure", "conclusion": "success"},
        "test": {"outputs": {}, "outcome": "failure", "conclusion": "failure"},
        "deploy": {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"},
    }
    assert evaluate("steps.build.outputs.image", {"steps": steps}) == "shop:1"
    assert evaluate("steps.lint.outcome == 'failure'", {"steps": steps}) is True


def test_job_strategy_matrix_needs_contexts() -> None:
    assert job_context() == {"status": "success", "container": {}, "services": {}}
    assert strategy_context(fail_fast=True, job_index=1, job_total=4) == {
        "fail-fast": True,
        "job-index": 1,
        "job-total": 4,
        "max-parallel": 4,
    }
    assert (
        strategy_context(fail_fast=False, job_index=0, job_total=4, max_parallel=2)["max-parallel"]
        == 2
    )
    assert matrix_context(None) == {}
    assert matrix_context({"os": "linux", "py": 3.11}) == {"os": "linux", "py": 3.11}
    needs = needs_context({"build": ("success", {"tag": "v1"}), "lint": ("skipped", {})})
    assert evaluate("needs.build.outputs.tag", {"needs": needs}) == "v1"
    assert evaluate("needs.lint.result", {"needs": needs}) == "skipped"


def test_inputs_context_types_and_defaults() -> None:
    declared: dict[str, dict[str, object]] = {
        "dry": {"type": "boolean", "default": False},
        "count": {"type": "number", "default": 3},
        "env": {"type": "choice", "default": "staging"},
        "note": {"type": "string"},
    }
    inputs = inputs_context(declared, {"dry": "true", "count": "2.5"})
    assert inputs == {"dry": True, "count": 2.5, "env": "staging", "note": ""}
    assert evaluate("inputs.dry && inputs.count > 2", {"inputs": inputs}) is True


def test_optional_inputs_without_default_get_the_documented_type_defaults() -> None:
    """GitHub: an input with no default is false (boolean), 0 (number) or "" (string)."""
    declared: dict[str, dict[str, object]] = {
        "dry": {"type": "boolean"},
        "count": {"type": "number", "required": False},
        "note": {"type": "string"},
        "env": {"type": "environment"},
    }
    inputs = inputs_context(declared, {})
    assert inputs == {"dry": False, "count": 0, "note": "", "env": ""}
    assert type(inputs["count"]) is int
    assert evaluate("!inputs.dry && inputs.count == 0", {"inputs": inputs}) is True


def test_inputs_context_reports_every_problem() -> None:
    declared: dict[str, dict[str, object]] = {
        "dry": {"type": "boolean"},
        "count": {"type": "number"},
        "target": {"type": "string", "required": True},
    }
    with pytest.raises(InvalidError) as caught:
        inputs_context(declared, {"dry": "yes", "count": "many", "extra": "1"})
    assert {cause.path for cause in caught.value.causes} == {
        "inputs.dry",
        "inputs.count",
        "inputs.target",
        "inputs.extra",
    }


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12)
_name = st.lists(_segment, min_size=1, max_size=3).map("/".join)


@settings(max_examples=50, deadline=None)
@given(_name)
def test_ref_name_strips_exactly_the_namespace(name: str) -> None:
    assert ref_name(f"refs/heads/{name}") == name
    assert ref_name(f"refs/tags/{name}") == name
    assert ref_type(f"refs/tags/{name}") == "tag"
    assert ref_type(f"refs/heads/{name}") == "branch"


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=10**6))
def test_pull_request_ref_name_is_number_merge(number: int) -> None:
    github = github_context(make_facts(), "pull_request", pull_request_event(number))
    assert github["ref_name"] == f"{number}/merge"
    assert evaluate("github.ref_name", {"github": github}) == f"{number}/merge"
