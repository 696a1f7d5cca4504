"""`shipyard ci …` end to end: validate, expr, run --list/--dry-run, runs and logs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from tests.git.gitrepo import commit, git, init

CI = """\
name: CI
on:
  push:
    branches: [main]
    paths: ['src/**']
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 2
      matrix:
        os: [linux, mac]
        py: ['3.11', '3.12']
        exclude: [{os: mac, py: '3.11'}]
    steps: [{run: echo build}]
  test:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: echo test}]
  deploy:
    needs: [build, test]
    uses: ./.github/workflows/deploy.yml
"""
DOCS = """\
on:
  push:
    paths: ['docs/**']
jobs:
  docs: {runs-on: x, steps: [{run: echo docs}]}
"""
DEPLOY = """\
on: workflow_call
jobs:
  go: {runs-on: x, steps: [{run: echo go}]}
"""
BROKEN = """\
on: push
jobs:
  d:
    runs-on: x
    stepz: [{run: echo}]
"""


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"SHIPYARD_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = init(tmp_path / "shop")
    commit(
        root,
        "initial",
        {
            ".github/workflows/ci.yml": CI,
            ".github/workflows/docs.yml": DOCS,
            ".github/workflows/deploy.yml": DEPLOY,
            "src/app.py": "1",
            "docs/index.md": "d",
        },
    )
    commit(root, "change the app", {"src/app.py": "2"})
    return root


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, ["ci", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_validate_ok_and_counts(cli: CliRunner, checkout: Path) -> None:
    out = invoke(cli, "validate", str(checkout))
    assert ".github/workflows/ci.yml: ok" in out
    assert "3 workflows, 0 problems" in out


def test_validate_reports_every_problem_with_positions(cli: CliRunner, checkout: Path) -> None:
    bad = checkout / ".github/workflows/bad.yml"
    bad.write_text(BROKEN)
    out = invoke(cli, "validate", str(checkout), code=1)
    assert f"{bad}:3:3: jobs.d.steps:" in out
    assert f"{bad}:5:5: jobs.d.stepz: unknown key 'stepz' — did you mean 'steps'?" in out
    assert "4 workflows, 2 problems" in out
    one = invoke(cli, "validate", str(bad), code=1)
    assert "1 workflow, 2 problems" in one


def test_validate_reports_yaml_syntax_errors(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "w.yml"
    bad.write_text("on: push\njobs: [unclosed\n")
    out = invoke(cli, "validate", str(bad), code=1)
    assert f"{bad}:3:1: YAML:" in out


def test_validate_without_workflows_directory(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["ci", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "has no .github/workflows directory" in result.output


@pytest.mark.parametrize(
    ("expression", "context", "printed"),
    [
        ("1 == '1'", None, "true"),
        (
            "${{ format('{0}-{1}', github.ref_name, 3) }}",
            '{"github": {"ref_name": "main"}}',
            '"main-3"',
        ),
        ("fromJSON('{\"a\": [1, 2]}')", None, '{\n  "a": [\n    1,\n    2\n  ]\n}'),
        ("v-${{ matrix.n }}", '{"matrix": {"n": 2}}', '"v-2"'),
        ("github.missing", "{}", "null"),
    ],
)
def test_expr_prints_json(
    cli: CliRunner, expression: str, context: str | None, printed: str
) -> None:
    args = ["expr", expression] + (["--context", context] if context else [])
    assert invoke(cli, *args) == printed + "\n"


def test_expr_context_from_a_file(cli: CliRunner, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"needs": {"a": {"result": "failure"}}}))
    assert invoke(cli, "expr", "needs.a.result != 'success'", "-c", f"@{ctx}") == "true\n"


def test_expr_hash_files_reads_the_workspace(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("typer\n")
    inner = hashlib.sha256(b"typer\n").digest()
    expected = hashlib.sha256(inner).hexdigest()
    out = invoke(cli, "expr", "hashFiles('**/requirements.txt')", "--workspace", str(tmp_path))
    assert out == f'"{expected}"\n'
    assert invoke(cli, "expr", "hashFiles('none/*')", "--workspace", str(tmp_path)) == '""\n'


def test_expr_errors_are_positioned_on_stderr(cli: CliRunner) -> None:
    result = cli.invoke(app, ["ci", "expr", "1 =="])
    assert result.exit_code == 1
    assert "Located at position 3 within expression: 1 ==" in result.output
    bad_context = cli.invoke(app, ["ci", "expr", "1", "--context", "[1]"])
    assert bad_context.exit_code == 1
    assert "--context must be a JSON object" in bad_context.output


def test_list_shows_triggered_workflows_and_why_others_are_not(
    cli: CliRunner, checkout: Path
) -> None:
    out = invoke(cli, "run", str(checkout), "--list")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(".github")}
    assert "yes" in rows[".github/workflows/ci.yml"]
    assert "build, test, deploy" in rows[".github/workflows/ci.yml"]
    assert "no changed file is selected by paths" in rows[".github/workflows/docs.yml"]
    assert "does not listen to push" in rows[".github/workflows/deploy.yml"]
    assert "changed files: src/app.py" in out


def test_list_for_a_pull_request_and_a_feature_branch(cli: CliRunner, checkout: Path) -> None:
    git(checkout, "checkout", "-q", "-b", "feature")
    commit(checkout, "docs", {"docs/index.md": "more"})
    push = invoke(cli, "run", str(checkout), "--list")
    assert "branch 'feature' is not selected by branches" in push
    assert "yes" in next(line for line in push.splitlines() if "docs.yml" in line)
    pr = invoke(cli, "run", str(checkout), "--list", "--event", "pull_request")
    assert "does not listen to pull_request" in pr


def test_list_with_an_event_file(cli: CliRunner, checkout: Path, tmp_path: Path) -> None:
    first = git(checkout, "rev-list", "--max-parents=0", "HEAD")
    head = git(checkout, "rev-parse", "HEAD")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "before": first, "after": head}))
    out = invoke(cli, "run", str(checkout), "--list", "-e", str(event))
    assert "changed files: src/app.py" in out
    event.write_text(json.dumps({"ref": "refs/tags/v1", "before": first, "after": head}))
    tag = invoke(cli, "run", str(checkout), "--list", "-e", str(event))
    assert "only branch filters are set, so tag pushes do not run" in tag


def test_list_marks_broken_workflows(cli: CliRunner, checkout: Path) -> None:
    (checkout / ".github/workflows/bad.yml").write_text(BROKEN)
    out = invoke(cli, "run", str(checkout), "--list")
    assert "invalid" in next(line for line in out.splitlines() if "bad.yml" in line)


def test_dry_run_shows_matrix_and_needs_order(cli: CliRunner, checkout: Path) -> None:
    out = invoke(cli, "run", str(checkout), "--dry-run", "-W", "ci.yml")
    lines = out.splitlines()
    build = next(line for line in lines if line.startswith("1 ") and " build " in line)
    assert "build (linux, 3.11); build (linux, 3.12); build (mac, 3.12)" in build
    assert "max-parallel: 2" in build
    assert next(line for line in lines if " test " in line).split()[0] == "2"
    deploy = next(line for line in lines if " deploy " in line)
    assert deploy.split()[0] == "3" and "calls ./.github/workflows/deploy.yml" in deploy
    assert "docs" not in out


def test_dry_run_of_one_job_shows_what_it_needs(cli: CliRunner, checkout: Path) -> None:
    out = invoke(cli, "run", str(checkout), "--dry-run", "-j", "test")
    jobs = [line.split()[1] for line in out.splitlines() if line[:1].isdigit()]
    assert jobs == ["build", "test"]


def test_unknown_workflow_and_bad_pairs(cli: CliRunner, checkout: Path) -> None:
    result = cli.invoke(app, ["ci", "run", str(checkout), "-W", "nope", "--list"])
    assert result.exit_code == 1 and "-W nope: no such workflow" in result.output
    result = cli.invoke(app, ["ci", "run", str(checkout), "--input", "novalue", "--list"])
    assert result.exit_code == 1 and "--input takes KEY=VALUE" in result.output


def test_run_outside_a_checkout(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["ci", "run", str(tmp_path), "--list"])
    assert result.exit_code == 1 and "not inside a git repository" in result.output


PIPELINE = """\
name: pipeline
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::group::Details"
          echo "hidden detail"
          echo "::endgroup::"
          echo "lint ok with $TOKEN"
        env:
          TOKEN: ${{ secrets.TOKEN }}
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "tested $(cat src/app.py)" > result.txt && cat result.txt
  fail:
    if: vars.BREAK == 'yes'
    runs-on: ubuntu-latest
    steps:
      - run: exit 4
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    root = init(tmp_path / "pipe")
    commit(root, "pipeline", {".github/workflows/pipeline.yml": PIPELINE, "src/app.py": "v1"})
    return root


def test_run_prints_folded_groups_masked_lines_and_a_summary(
    cli: CliRunner, pipeline: Path
) -> None:
    out = invoke(cli, "run", str(pipeline), "--secret", "TOKEN=hunter2-secret")
    assert "[lint] ▸ Details" in out
    assert "hidden detail" not in out
    assert "[lint] lint ok with ***" in out
    assert "hunter2-secret" not in out
    assert "[test] tested v1" in out
    assert "pipeline.yml: run 1 success" in out
    summary = out[out.index("JOB ") :].splitlines()
    assert [line.split()[:2] for line in summary[1:]] == [
        ["lint", "success"], ["test", "success"], ["fail", "skipped"]
    ]  # fmt: skip
    expanded = invoke(cli, "run", str(pipeline), "--expand-groups")
    assert "[lint] hidden detail" in expanded


def test_run_fails_with_exit_code_1_and_runs_lists_it(cli: CliRunner, pipeline: Path) -> None:
    invoke(cli, "run", str(pipeline))
    out = invoke(cli, "run", str(pipeline), "--var", "BREAK=yes", code=1)
    assert "run 2 failure" in out
    listing = invoke(cli, "runs").splitlines()
    assert listing[0].split() == [
        "RUN", "WORKFLOW", "EVENT", "REF", "STATUS", "CONCLUSION", "DURATION"
    ]  # fmt: skip
    assert listing[1].split()[:6] == [
        "2", "pipeline", "push", "refs/heads/main", "completed", "failure"
    ]  # fmt: skip
    assert listing[2].split()[5] == "success"


def test_logs_of_a_run_and_of_one_job(cli: CliRunner, pipeline: Path) -> None:
    invoke(cli, "run", str(pipeline), "--secret", "TOKEN=abc-secret-1")
    out = invoke(cli, "logs", "1")
    assert out.startswith("run 1 of pipeline (push, refs/heads/main): success")
    assert "=== lint ===" in out and "=== test ===" in out
    assert "hidden detail" in out and "abc-secret-1" not in out
    only = invoke(cli, "logs", "run-1", "--job", "test")
    assert "=== lint ===" not in only and "tested v1" in only
    missing = cli.invoke(app, ["ci", "logs", "9"])
    assert missing.exit_code == 1 and "workflow run 9 not found" in missing.output


def test_runs_when_there_are_none(cli: CliRunner) -> None:
    assert invoke(cli, "runs") == "No workflow runs found.\n"


def test_one_job_runs_with_what_it_needs(cli: CliRunner, pipeline: Path) -> None:
    out = invoke(cli, "run", str(pipeline), "-j", "test")
    summary = out[out.index("JOB ") :]
    assert "lint " in summary and "test " in summary and "fail" not in summary
    result = cli.invoke(app, ["ci", "run", str(pipeline), "-j", "nope"])
    assert result.exit_code == 1 and "no workflow runs for push with job 'nope'" in result.output


def test_workspace_option_keeps_the_checkout(
    cli: CliRunner, pipeline: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    invoke(cli, "run", str(pipeline), "--workspace", str(work))
    assert (work / "result.txt").read_text() == "tested v1\n"
    assert not (pipeline / "result.txt").exists()
    leftovers = list((tmp_path / "data" / "ci" / "work").glob("*"))
    invoke(cli, "run", str(pipeline))
    assert list((tmp_path / "data" / "ci" / "work").glob("*")) == leftovers == []


def test_secrets_from_the_environment(cli: CliRunner, pipeline: Path) -> None:
    result = cli.invoke(
        app, ["ci", "run", str(pipeline)], env={"SHIPYARD_SECRET_TOKEN": "from-env-secret"}
    )
    assert result.exit_code == 0, result.output
    assert "lint ok with ***" in result.output and "from-env-secret" not in result.output


def test_live_printer_stops_quietly_when_stdout_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipyard.cli import ci

    printed: list[str] = []

    def echo(text: str, **_: object) -> None:
        if len(printed) == 1:
            raise BrokenPipeError
        printed.append(text)

    monkeypatch.setattr(ci.typer, "echo", echo)
    monkeypatch.setattr(ci.typer, "secho", echo)
    printer = ci.LivePrinter("wf: ")
    printer.line("job", "first")
    printer.line("job", "second")
    printer.line("job", "third")
    assert printed == ["[wf: job] first"]


SCHEDULED = """\
on:
  schedule:
    - cron: '0 3 * * *'
jobs:
  nightly:
    runs-on: ubuntu-latest
    steps:
      - run: echo "nightly on ${{ github.ref }} at ${{ github.sha }} (${{ github.event.schedule }})"
"""


def test_an_event_from_a_file_runs_on_head(cli: CliRunner, tmp_path: Path) -> None:
    root = init(tmp_path / "nightly")
    sha = commit(root, "nightly", {".github/workflows/nightly.yml": SCHEDULED})
    event = tmp_path / "schedule.json"
    event.write_text(json.dumps({"schedule": "0 3 * * *"}))
    out = invoke(cli, "run", str(root), "--event", "schedule", "-e", str(event))
    assert f"nightly on refs/heads/main at {sha} (0 3 * * *)" in out
    result = cli.invoke(app, ["ci", "run", str(root), "--event", "release"])
    assert result.exit_code == 1 and "--event must be one of" in result.output
    assert "schedule" in result.output


def test_dry_run_and_run_of_broken_and_unreadable_workflows(cli: CliRunner, checkout: Path) -> None:
    (checkout / ".github/workflows/bad.yml").write_text(BROKEN)
    (checkout / ".github/workflows/binary.yml").write_bytes(b"on: push\n\xff\xfe")
    plan = invoke(cli, "run", str(checkout), "--dry-run", "-W", "bad.yml")
    assert ".github/workflows/bad.yml: would fail (invalid workflow)" in plan
    assert ".github/workflows/bad.yml:5:5: jobs.d.stepz: unknown key" in plan
    out = invoke(cli, "run", str(checkout), "-W", "binary.yml", code=1)
    assert ".github/workflows/binary.yml: run 1 failure" in out
    assert ".github/workflows/binary.yml:1:1: cannot read the file: 'utf-8' codec" in out
    nothing = invoke(
        cli, "run", str(checkout), "--dry-run", "--event", "pull_request", "-W", "ci.yml"
    )
    assert nothing == "no workflow runs for pull_request (see --list)\n"


@pytest.mark.parametrize(
    ("started", "finished", "shown"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:07Z", "7s"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:01:05Z", "1m05s"),
        ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "60m00s"),
        ("2026-01-01T00:00:00Z", None, "-"),
        (None, "2026-01-01T00:00:00Z", "-"),
    ],
)
def test_duration(started: str | None, finished: str | None, shown: str) -> None:
    from shipyard.cli.ci import duration

    assert duration(started, finished) == shown


def test_live_printer_marks_annotations_and_nested_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipyard.cli import ci

    printed: list[str] = []
    monkeypatch.setattr(ci.typer, "echo", lambda text, **_: printed.append(text))
    monkeypatch.setattr(ci.typer, "secho", lambda text, **_: printed.append(text))
    printer = ci.LivePrinter()
    for text in ["##[group]Outer", "##[group]Inner", "inside", "##[endgroup]", "##[endgroup]",
                 "##[warning]careful", "##[error]broken", "##[notice]fyi", "plain"]:  # fmt: skip
        printer.line("j", text)
    assert printed == [
        "[j] ▸ Outer", "[j] Warning: careful", "[j] Error: broken", "[j] Notice: fyi", "[j] plain"
    ]  # fmt: skip


NIGHTLY = """\
name: nightly
on:
  schedule:
    - cron: '30 5 * * 1-5'
    - cron: '0 12 * * SUN'
  push:
jobs:
  n:
    runs-on: ubuntu-latest
    steps:
      - run: echo "fired by ${{ github.event.schedule }} on ${{ github.event_name }}"
"""


def test_schedule_runs_the_workflows_whose_cron_is_due_in_utc(
    cli: CliRunner, tmp_path: Path
) -> None:
    root = init(tmp_path / "sched")
    commit(root, "nightly", {".github/workflows/nightly.yml": NIGHTLY,
                             ".github/workflows/push.yml": DOCS})  # fmt: skip
    # Monday 2026-03-02 05:30 UTC, given as 07:30 at UTC+2
    listing = invoke(cli, "run", str(root), "--event", "schedule", "--at",
                     "2026-03-02T07:30:00+02:00", "--list")  # fmt: skip
    rows = {line.split()[0]: line for line in listing.splitlines() if line.startswith(".github")}
    assert " yes " in rows[".github/workflows/nightly.yml"]
    assert "does not listen to schedule" in rows[".github/workflows/push.yml"]
    assert "event: schedule at 2026-03-02T05:30:00Z (UTC)" in listing
    late = invoke(cli, "run", str(root), "--event", "schedule", "--at",
                  "2026-03-02T05:31:00Z", "--list")  # fmt: skip
    assert (
        "no cron of on.schedule is due at 2026-03-02T05:31:00Z (UTC): '30 5 * * 1-5', "
        "'0 12 * * SUN'" in late
    )
    out = invoke(cli, "run", str(root), "--event", "schedule", "--at", "2026-03-08T12:00:00Z")
    assert "[n] fired by 0 12 * * SUN on schedule" in out
    nothing = invoke(cli, "run", str(root), "--event", "schedule", "--at",
                     "2026-03-08T12:01:00Z", code=1)  # fmt: skip
    assert "no workflow runs for schedule" in nothing
    bad = invoke(cli, "run", str(root), "--event", "schedule", "--at", "monday", code=1)
    assert "--at: 'monday' is not an RFC 3339 time" in bad


def test_schedule_from_an_event_file_names_its_cron(cli: CliRunner, tmp_path: Path) -> None:
    root = init(tmp_path / "sched")
    commit(root, "nightly", {".github/workflows/nightly.yml": NIGHTLY})
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "30 5 * * 1-5"}))
    out = invoke(cli, "run", str(root), "--event", "schedule", "-e", str(event))
    assert "[n] fired by 30 5 * * 1-5 on schedule" in out
    event.write_text(json.dumps({"schedule": "1 1 * * *"}))
    listing = invoke(cli, "run", str(root), "--event", "schedule", "-e", str(event), "--list")
    assert "the schedule '1 1 * * *' is not one of on.schedule's crons" in listing
