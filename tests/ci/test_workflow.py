"""Workflow files: real pipelines parse into the model; broken ones fail at line:column."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from shipyard.ci.schema import cron_problems
from shipyard.ci.workflow import (
    DEFAULT_TIMEOUT_MINUTES,
    Input,
    Position,
    WorkflowError,
    load_workflow,
    parse_workflow,
)

PIPELINE = """\
name: build-test-release
run-name: Release ${{ inputs.version }} by @${{ github.actor }}
on:
  push:
    branches: [main, 'releases/**', '!releases/**-alpha']
    paths-ignore: ['docs/**']
  pull_request:
    branches: [main]
    types: [opened, synchronize]
  workflow_dispatch:
    inputs:
      version:
        description: Version to release
        required: true
        type: string
      dry-run:
        type: boolean
        default: false
      channel:
        type: choice
        options: [stable, beta]
        default: stable
  schedule:
    - cron: '30 5 * * 1-5'
env:
  CI_DEBUG: true
  RETRIES: 3
permissions:
  contents: read
  id-token: write
concurrency:
  group: ${{ github.workflow }}-${{ github.ref }}
  cancel-in-progress: true
defaults:
  run:
    shell: bash
jobs:
  release:
    needs: [test, build]
    if: github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    steps:
      - run: echo "releasing ${{ needs.build.outputs.image }}"
  test:
    needs: build
    runs-on: ${{ matrix.os }}
    continue-on-error: ${{ matrix.experimental }}
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        os: [ubuntu-latest, macos-latest]
        python: ['3.10', '3.11']
        include:
          - os: ubuntu-latest
            experimental: true
        exclude:
          - os: macos-latest
            python: '3.10'
    steps:
      - uses: actions/checkout@v4
      - name: Test
        id: test
        run: pytest -q
        working-directory: src
        timeout-minutes: 10
        env:
          PY: ${{ matrix.python }}
  build:
    runs-on: [self-hosted, linux]
    timeout-minutes: 30
    outputs:
      image: ${{ steps.meta.outputs.image }}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - id: meta
        run: echo "image=app:${{ github.sha }}" >> "$GITHUB_OUTPUT"
        shell: bash
        continue-on-error: true
"""


def _problems(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(WorkflowError) as info:
        parse_workflow(text, file="ci.yml")
    return [(p.line, p.column, f"{p.path}: {p.message}") for p in info.value.problems]


def test_pipeline_parses_into_the_model() -> None:
    wf = parse_workflow(PIPELINE, file="ci.yml")
    assert wf.name == "build-test-release"
    assert wf.run_name == "Release ${{ inputs.version }} by @${{ github.actor }}"
    assert [t.event for t in wf.triggers] == [
        "push",
        "pull_request",
        "workflow_dispatch",
        "schedule",
    ]
    assert wf.env == {"CI_DEBUG": "true", "RETRIES": "3"}
    assert wf.permissions == {"contents": "read", "id-token": "write"}
    assert wf.concurrency == {
        "group": "${{ github.workflow }}-${{ github.ref }}",
        "cancel-in-progress": True,
    }
    assert wf.defaults_run == {"shell": "bash"}


def test_jobs_come_in_topological_order_of_needs() -> None:
    wf = parse_workflow(PIPELINE)
    assert [j.id for j in wf.jobs] == ["build", "test", "release"]
    assert wf.job("release").needs == ("test", "build")
    assert wf.job("test").needs == ("build",)


def test_job_fields() -> None:
    wf = parse_workflow(PIPELINE)
    build, test, release = wf.job("build"), wf.job("test"), wf.job("release")
    assert build.runs_on == ["self-hosted", "linux"]
    assert build.timeout_minutes == 30
    assert release.timeout_minutes == DEFAULT_TIMEOUT_MINUTES
    assert build.outputs == {"image": "${{ steps.meta.outputs.image }}"}
    assert release.if_ == "github.ref == 'refs/heads/main'"
    assert test.continue_on_error == "${{ matrix.experimental }}"
    assert test.strategy is not None
    assert test.strategy.fail_fast is False
    assert test.strategy.max_parallel == 2
    assert test.strategy.matrix == {
        "os": ["ubuntu-latest", "macos-latest"],
        "python": ["3.10", "3.11"],
        "include": [{"os": "ubuntu-latest", "experimental": True}],
        "exclude": [{"os": "macos-latest", "python": "3.10"}],
    }
    assert test.position == Position(44, 3)


def test_step_fields() -> None:
    wf = parse_workflow(PIPELINE)
    checkout, meta = wf.job("build").steps
    assert checkout.uses == "actions/checkout@v4"
    assert checkout.with_ == {"fetch-depth": "0"}
    assert checkout.run is None
    assert meta.id == "meta" and meta.shell == "bash" and meta.continue_on_error is True
    assert meta.run == 'echo "image=app:${{ github.sha }}" >> "$GITHUB_OUTPUT"'
    test_step = wf.job("test").steps[1]
    assert test_step.index == 1
    assert test_step.working_directory == "src"
    assert test_step.timeout_minutes == 10
    assert test_step.env == {"PY": "${{ matrix.python }}"}


def test_triggers_keep_their_config_inputs_and_crons() -> None:
    wf = parse_workflow(PIPELINE)
    push = wf.trigger("push")
    assert push is not None
    assert push.config["branches"] == ["main", "releases/**", "!releases/**-alpha"]
    dispatch = wf.trigger("workflow_dispatch")
    assert dispatch is not None
    assert dispatch.inputs == (
        Input("version", "string", "Version to release", required=True),
        Input("dry-run", "boolean", default=False),
        Input("channel", "choice", default="stable", options=("stable", "beta")),
    )
    schedule = wf.trigger("schedule")
    assert schedule is not None and schedule.crons == ("30 5 * * 1-5",)
    assert wf.trigger("release") is None


def test_on_as_string_and_list() -> None:
    jobs = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"
    assert [t.event for t in parse_workflow("on: push\n" + jobs).triggers] == ["push"]
    listed = parse_workflow("on: [push, workflow_dispatch]\n" + jobs)
    assert [t.event for t in listed.triggers] == ["push", "workflow_dispatch"]


def test_reusable_workflow_and_its_caller() -> None:
    called = parse_workflow(
        """\
on:
  workflow_call:
    inputs:
      env: {type: string, required: true}
    outputs:
      url: {description: where, value: '${{ jobs.deploy.outputs.url }}'}
    secrets:
      token: {required: true}
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs: {url: '${{ steps.d.outputs.url }}'}
    steps: [{id: d, run: echo url=x >> $GITHUB_OUTPUT}]
"""
    )
    call = called.trigger("workflow_call")
    assert call is not None
    assert call.inputs == (Input("env", "string", required=True),)
    assert call.outputs == {"url": "${{ jobs.deploy.outputs.url }}"}
    assert call.secrets == ("token",)
    caller = parse_workflow(
        """\
on: push
jobs:
  deploy:
    uses: ./.github/workflows/deploy.yml
    with: {env: prod}
    secrets: inherit
  remote:
    needs: deploy
    uses: org/repo/.github/workflows/deploy.yml@v1
    secrets: {token: '${{ secrets.TOKEN }}'}
"""
    )
    assert caller.job("deploy").uses == "./.github/workflows/deploy.yml"
    assert caller.job("deploy").with_ == {"env": "prod"}
    assert caller.job("deploy").secrets == "inherit"
    assert caller.job("remote").secrets == {"token": "${{ secrets.TOKEN }}"}
    assert caller.job("remote").steps == ()


def test_load_workflow_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "ok.yml"
    good.write_text(PIPELINE)
    assert load_workflow(good).file == str(good)
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs: {}\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow(bad)
    assert str(info.value).splitlines()[1].startswith(f"{bad}:2:7: jobs: the workflow has no jobs")


JOB = "jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"

BROKEN: list[tuple[str, str, list[tuple[int, int, str]]]] = [
    ("yaml syntax", "on: [push\n", [(2, 1, ": YAML: expected ',' or ']', but got '<stream end>'")]),
    (
        "duplicate key",
        "on: push\non: pull_request\n" + JOB,
        [
            (
                2,
                1,
                ': YAML: found duplicate key "on" with value "pull_request" (original value: '
                '"push")',
            )
        ],
    ),
    ("not a mapping", "- a\n", [(1, 1, ": must be a mapping, got a list")]),
    (
        "missing on and jobs",
        "name: x\n",
        [
            (1, 1, "on: the workflow has no 'on' key"),
            (1, 1, "jobs: the workflow has no 'jobs' key"),
        ],
    ),
    ("unknown top key", "on: push\nenvs: {}\n" + JOB, [(2, 1, "envs: unknown key 'envs'")]),
    (
        "unknown event",
        "on: [push, pul_request]\n" + JOB,
        [(1, 12, "on.pul_request: unknown event 'pul_request'")],
    ),
    (
        "branches and ignore",
        "on:\n  push:\n    branches: [main]\n    branches-ignore: [x]\n" + JOB,
        [
            (
                4,
                5,
                "on.push.branches-ignore: branches and branches-ignore cannot both be set "
                "for one event",
            )
        ],
    ),
    (
        "bad glob",
        "on:\n  push:\n    paths: ['src/**', 'a[]']\n" + JOB,
        [
            (
                3,
                23,
                "on.push.paths[1]: invalid path pattern 'a[]': "
                "a character class [] cannot be empty (at character 3)",
            )
        ],
    ),
    (
        "tags on pull_request",
        "on:\n  pull_request:\n    tags: [v*]\n" + JOB,
        [(3, 5, "on.pull_request.tags: unknown key 'tags'")],
    ),
    (
        "cron fields",
        "on:\n  schedule:\n    - cron: '0 3 * *'\n" + JOB,
        [
            (
                3,
                13,
                "on.schedule[0].cron: invalid cron '0 3 * *': a cron schedule has 5 fields "
                "(minute hour day-of-month month day-of-week), got 4",
            )
        ],
    ),
    (
        "cron range",
        "on:\n  schedule:\n    - cron: '61 3 * * MON'\n" + JOB,
        [
            (
                3,
                13,
                "on.schedule[0].cron: invalid cron '61 3 * * MON': minute: '61' is not a value "
                "or range within 0-59",
            )
        ],
    ),
    (
        "choice without options",
        "on:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: choice\n" + JOB,
        [
            (
                5,
                15,
                "on.workflow_dispatch.inputs.env.options: a choice input needs a non-empty "
                "options list",
            )
        ],
    ),
    (
        "bad input type",
        "on:\n  workflow_call:\n    inputs:\n      n: {type: choice}\n" + JOB,
        [
            (
                4,
                17,
                "on.workflow_call.inputs.n.type: input type must be one of string, boolean, "
                "number, got str 'choice'",
            )
        ],
    ),
    (
        "call output without value",
        "on:\n  workflow_call:\n    outputs:\n      o: {}\n" + JOB,
        [(4, 10, "on.workflow_call.outputs.o.value: output has no value")],
    ),
    (
        "permission scope",
        "on: push\npermissions:\n  content: read\n" + JOB,
        [(3, 3, "permissions.content: unknown permission scope 'content'")],
    ),
    (
        "permission value",
        "on: push\npermissions:\n  contents: admin\n" + JOB,
        [(3, 13, "permissions.contents: permission must be read, write or none, got str 'admin'")],
    ),
    (
        "concurrency without group",
        "on: push\nconcurrency: {cancel-in-progress: true}\n" + JOB,
        [(2, 14, "concurrency.group: concurrency needs a group")],
    ),
    (
        "job id",
        "on: push\njobs:\n  1st:\n    runs-on: x\n    steps: [{run: a}]\n",
        [(3, 3, "jobs.1st: invalid job id '1st'")],
    ),
    (
        "missing job",
        "on: push\njobs:\n  a:\n    needs: [bulid]\n    runs-on: x\n"
        "    steps: [{run: a}]\n  build:\n    runs-on: x\n    steps: [{run: a}]\n",
        [(4, 12, "jobs.a.needs: job 'bulid' does not exist")],
    ),
    (
        "needs cycle",
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [{run: a}]\n"
        "  b:\n    needs: a\n    runs-on: x\n    steps: [{run: a}]\n",
        [(4, 12, "jobs.a.needs: needs form a cycle: a -> b -> a")],
    ),
    (
        "needs itself",
        "on: push\njobs:\n  a:\n    needs: a\n    runs-on: x\n    steps: [{run: a}]\n",
        [(4, 12, "jobs.a.needs: job 'a' needs itself")],
    ),
    (
        "no runs-on, no steps",
        "on: push\njobs:\n  a:\n    name: A\n",
        [
            (3, 3, "jobs.a.runs-on: the job has no runs-on"),
            (3, 3, "jobs.a.steps: a job needs a non-empty list of steps, got nothing"),
        ],
    ),
    (
        "job key typo",
        "on: push\njobs:\n  a:\n    runs_on: x\n    runs-on: x\n    steps: [{run: a}]\n",
        [(4, 5, "jobs.a.runs_on: unknown key 'runs_on'")],
    ),
    (
        "timeout",
        "on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: -1\n    steps: [{run: a}]\n",
        [(5, 22, "jobs.a.timeout-minutes: must be a positive number, got int -1")],
    ),
    (
        "continue-on-error",
        "on: push\njobs:\n  a:\n    runs-on: x\n    continue-on-error: yes\n"
        "    steps: [{run: a}]\n",
        [(5, 24, "jobs.a.continue-on-error: must be true or false, got str 'yes'")],
    ),
    (
        "matrix axis",
        "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n"
        "        os: ubuntu\n      max-parallel: 0\n    steps: [{run: a}]\n",
        [
            (
                7,
                13,
                "jobs.a.strategy.matrix.os: a matrix axis must be a non-empty list, got str "
                "'ubuntu'",
            ),
            (8, 21, "jobs.a.strategy.max-parallel: must be a positive whole number, got int 0"),
        ],
    ),
    (
        "step with both",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - run: a\n        uses: actions/checkout@v4\n",
        [
            (
                6,
                9,
                "jobs.a.steps[0]: a step needs exactly one of uses or run, it has both uses and "
                "run",
            )
        ],
    ),
    (
        "step with neither",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: x\n",
        [
            (
                6,
                9,
                "jobs.a.steps[0]: a step needs exactly one of uses or run, it has neither uses "
                "nor run",
            )
        ],
    ),
    (
        "step ids",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - {id: s, run: a}\n"
        "      - {id: s, run: b}\n      - {id: 2x, run: c}\n",
        [
            (7, 14, "jobs.a.steps[1].id: step id 's' is already used in this job"),
            (8, 14, "jobs.a.steps[2].id: invalid step id '2x'"),
        ],
    ),
    (
        "shell on uses",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - uses: actions/checkout@v4\n        shell: bash\n",
        [(7, 9, "jobs.a.steps[0].shell: shell only applies to a step with run")],
    ),
    (
        "bad action ref",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n",
        [(6, 15, "jobs.a.steps[0].uses: 'actions/checkout' is not an action reference")],
    ),
    (
        "bad reusable ref",
        "on: push\njobs:\n  a:\n    uses: org/repo/deploy.yml\n",
        [(4, 11, "jobs.a.uses: 'org/repo/deploy.yml' is not a reusable workflow reference")],
    ),
    (
        "on without events",
        "on:\njobs:\n  a: {runs-on: x, needs: b, steps: [{run: a}]}\n",
        [
            (1, 1, "on: must be a mapping, got nothing"),
            (3, 26, "jobs.a.needs: job 'b' does not exist"),
        ],
    ),
    (
        "numeric job id from a merge",
        "on: push\nbase: &b {runs-on: x}\njobs:\n  1:\n    <<: *b\n    steps: [{run: a}]\n",
        [(2, 1, "base: unknown key 'base'"), (4, 3, "jobs.1: invalid job id '1'")],
    ),
    (
        "env structure",
        "on: push\nenv:\n  A: [1]\n" + JOB,
        [(3, 6, "env.A: must be a string, number or boolean, got a list")],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_broken_workflow_reports_position_and_message(
    text: str, expected: list[tuple[int, int, str]]
) -> None:
    assert _problems(text) == expected


def test_every_problem_is_reported_at_once_with_a_hint() -> None:
    text = "on:\n  push:\n    branches: ['[z-a]']\njobs:\n  a:\n    runs-on: x\n    step: []\n"
    with pytest.raises(WorkflowError) as info:
        parse_workflow(text, file="ci.yml")
    err = info.value
    assert [(p.line, p.column) for p in err.problems] == [(3, 16), (5, 3), (7, 5)]
    assert all(p.hint for p in err.problems)
    assert "did you mean 'steps'?" in str(err)
    assert str(err).startswith("workflow ci.yml has 3 problems:\nci.yml:3:16: on.push.branches")
    assert err.causes[0].path == "ci.yml:3:16"


def test_expressions_are_kept_as_text() -> None:
    wf = parse_workflow(
        "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n"
        "      matrix: ${{ fromJSON(needs.p.outputs.m) }}\n"
        "      fail-fast: ${{ github.ref == 'main' }}\n    steps: [{run: a}]\n"
    )
    strategy = wf.job("a").strategy
    assert strategy is not None
    assert strategy.matrix == "${{ fromJSON(needs.p.outputs.m) }}"
    assert strategy.fail_fast == "${{ github.ref == 'main' }}"


@pytest.mark.parametrize(
    "cron", ["* * * * *", "*/15 0-6 1,15 JAN-MAR sun", "0 12 * 12 6", "5/10 * * * 1-5"]
)
def test_valid_crons(cron: str) -> None:
    assert cron_problems(cron) == []


@pytest.mark.parametrize(
    "cron",
    [
        "* * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "0 0 * * 7",
        "*/0 * * * *",
        "5-1 * * * *",
        "a * * * *",
    ],
)
def test_invalid_crons(cron: str) -> None:
    assert cron_problems(cron) != []


_KEYS = st.sampled_from(
    [
        "on",
        "jobs",
        "push",
        "branches",
        "paths",
        "steps",
        "run",
        "uses",
        "needs",
        "a",
        "b",
        "runs-on",
        "strategy",
        "matrix",
        "include",
        "with",
        "env",
        "id",
        "if",
        "schedule",
        "cron",
        "workflow_dispatch",
        "inputs",
        "type",
        "options",
        "default",
        "workflow_call",
        "outputs",
        "secrets",
        "permissions",
        "concurrency",
        "timeout-minutes",
        "max-parallel",
        "shell",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from(["x", "* * * * *", "[", "main", "./a", "a/b@v1", "${{ x }}", "choice", "a"]),
)
_DOCS = st.dictionaries(
    _KEYS,
    st.recursive(
        _SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(_DOCS, st.booleans())
def test_no_document_shape_crashes_the_validator(doc: dict[str, object], flow: bool) -> None:
    yaml = YAML()
    yaml.default_flow_style = flow
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    try:
        parse_workflow(buffer.getvalue(), file="f.yml")
    except WorkflowError as err:
        assert err.problems
        assert all(p.line >= 1 and p.column >= 1 and p.hint for p in err.problems)


_YAMLISH = st.text(alphabet="on:jobs-steps run[]{}'\"\n #&*!|>%@`\t,uses", max_size=80)


@settings(max_examples=150, deadline=None)
@given(_YAMLISH)
def test_no_input_crashes_the_loader(text: str) -> None:
    try:
        parse_workflow(text, file="f.yml")
    except WorkflowError as err:
        assert err.problems
        assert all(p.line >= 1 and p.column >= 1 for p in err.problems)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 59), min_size=1, max_size=3),
    st.integers(0, 23),
    st.integers(1, 31),
    st.integers(1, 12),
    st.integers(0, 6),
)
def test_in_range_crons_are_valid(
    minutes: list[int], hour: int, day: int, month: int, weekday: int
) -> None:
    expression = f"{','.join(map(str, minutes))} {hour} {day} {month} {weekday}"
    assert cron_problems(expression) == []


def test_double_quoted_escaped_line_break_drops_the_break_and_next_line_indent() -> None:
    """YAML 1.2 §7.3.1 (example 7.5): a ``\\`` at the end of a line inside a double-quoted
    scalar is an escaped line break — the break and the next line's leading white space are
    both dropped, white space before the ``\\`` is kept, and ``\\ `` keeps an escaped space.
    ruamel.yaml follows the spec, so the loader passes it through unchanged."""
    text = (
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: local\n"
        "    steps:\n"
        '      - run: "echo abc\\\n'
        '            def"\n'
        '      - run: "echo one \\\n'
        '          \t  two"\n'
        '      - run: "folded \n'
        "          to a space,\t\n"
        "          \n"
        "          to a line feed, or \t\\\n"
        '          \\ \tnon-content"\n'
    )
    glued, spaced, spec_example = (s.run for s in parse_workflow(text).job("a").steps)
    assert glued == "echo abcdef"
    assert spaced == "echo one two"
    assert spec_example == "folded to a space,\nto a line feed, or \t \tnon-content"
