"""The example corpus (tests/ci/corpus/<example>/) run end to end through `shipyard ci run`.

Each example is a small repository: its files are committed into a fresh Git repository in
``tmp_path``, ``shipyard ci run`` runs it against a data directory in ``tmp_path``, and the
test reads the persisted runs back (job results, outputs, summaries, annotations, logs) and
asserts what a user would see on GitHub.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.ci.records import API_VERSION, RUN_KIND, list_runs, run_logs
from shipyard.cli.main import app
from shipyard.platform.wiring import open_cluster
from tests.git.gitrepo import commit, git, init

CORPUS = Path(__file__).parent / "corpus"
SECRET = "tok-8f3e2a91c4"


@dataclass
class Run:
    """One persisted run: its record and its jobs' logs."""

    workflow: str
    conclusion: str
    message: str
    jobs: dict[str, dict[str, Any]]
    logs: dict[str, str]

    def job(self, key: str) -> dict[str, Any]:
        assert key in self.jobs, f"no job {key!r}: {sorted(self.jobs)}"
        return self.jobs[key]

    def result(self, key: str) -> str:
        return str(self.job(key)["result"])

    def outputs(self, key: str) -> Mapping[str, str]:
        return self.job(key)["outputs"]  # type: ignore[no-any-return]

    def all_text(self) -> str:
        parts = [*self.logs.values(), self.message]
        for job in self.jobs.values():
            parts += [json.dumps(job["outputs"]), job.get("summary", ""), job.get("error", "")]
        return "\n".join(parts)


@dataclass
class Outcome:
    code: int
    output: str
    runs: dict[str, Run]  # by workflow file name

    def run(self, file: str) -> Run:
        assert file in self.runs, f"no run of {file}: {sorted(self.runs)}\n{self.output}"
        return self.runs[file]


class Example:
    """An example checked out as a Git repository, with a CLI and a data directory."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.root = init(tmp_path / name)
        shutil.copytree(CORPUS / name, self.root, dirs_exist_ok=True)
        commit(self.root, f"add the {name} example", {})
        self.data = tmp_path / "data"
        self.tmp = tmp_path
        self.cli = CliRunner(env={"SHIPYARD_DATA_DIR": str(self.data)})
        self._seen = 0

    def ci(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
        result = self.cli.invoke(app, ["ci", *args], env=dict(env or {}))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Outcome:
        code, output = self.ci("run", str(self.root), *args, env=env)
        return Outcome(code, output, self._new_runs())

    def _new_runs(self) -> dict[str, Run]:
        store = open_cluster(self.data)
        try:
            views = [v for v in list_runs(store) if v.run_id > self._seen]
            self._seen = max([self._seen, *(v.run_id for v in views)])
            runs = {}
            for view in views:
                obj = store.get(API_VERSION, RUN_KIND, view.name, namespace="default")
                jobs = {j["key"]: j for j in obj["status"]["jobs"]}
                logs = run_logs(store, view.run_id)
                runs[Path(view.workflow).name] = Run(
                    view.workflow, view.conclusion, view.message, jobs, logs
                )
            return runs
        finally:
            store.close()


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Any]:
    yield lambda name: Example(tmp_path, name)


def _rows(listing: str) -> dict[str, str]:
    return {line.split()[0]: line for line in listing.splitlines() if line.startswith(".github")}


# --- triggers ----------------------------------------------------------------------------


def test_branch_and_path_filters_on_push(example: Any) -> None:
    ex = example("filters")
    commit(ex.root, "change the app", {"src/app.py": "print(2)"})
    listing = _rows(ex.ci("run", str(ex.root), "--list")[1])
    assert " yes " in listing[".github/workflows/src.yml"]
    assert " yes " in listing[".github/workflows/not-docs.yml"]
    assert "no changed file is selected by paths" in listing[".github/workflows/docs.yml"]
    assert "only tag filters are set" in listing[".github/workflows/tags.yml"]
    assert "does not listen to push" in listing[".github/workflows/pr.yml"]
    out = ex.run()
    assert out.code == 0, out.output
    assert sorted(out.runs) == ["not-docs.yml", "src.yml"]
    assert "built main" in out.run("src.yml").logs["build"]


def test_docs_only_change_and_negated_path(example: Any) -> None:
    ex = example("filters")
    commit(ex.root, "docs and a readme", {"docs/index.md": "more", "src/pkg/README.md": "r"})
    out = ex.run()
    assert sorted(out.runs) == ["docs.yml"]  # src/**/*.md is negated; **.md is ignored
    assert out.run("docs.yml").conclusion == "success"


def test_release_branch_and_tag_push(example: Any) -> None:
    ex = example("filters")
    git(ex.root, "checkout", "-q", "-b", "release/2.0")
    commit(ex.root, "fix", {"src/app.py": "print(3)"})
    assert "src.yml" in ex.run().runs
    head = git(ex.root, "rev-parse", "HEAD")
    event = ex.tmp / "tag.json"
    event.write_text(json.dumps({"ref": "refs/tags/v2.0.1", "before": "0" * 40, "after": head}))
    out = ex.run("-e", str(event))
    # path filters are not evaluated for tag pushes; src.yml has only branch filters
    assert sorted(out.runs) == ["docs.yml", "not-docs.yml", "tags.yml"]
    assert "release v2.0.1" in out.run("tags.yml").logs["release"]


def test_pull_request_base_branch_filter(example: Any) -> None:
    ex = example("filters")
    git(ex.root, "checkout", "-q", "-b", "feature")
    commit(ex.root, "feature work", {"src/app.py": "print(4)"})
    out = ex.run("--event", "pull_request", "-W", "pr.yml")
    assert out.code == 0, out.output
    assert "pr 1 from feature into main" in out.run("pr.yml").logs["check"]


# --- expressions, needs, matrix -------------------------------------------------------------


def test_expressions(example: Any) -> None:
    out = example("expressions").run()
    assert out.code == 0, out.output
    outputs = out.run("expr.yml").outputs("eval")
    assert outputs["joined"] == "a+b+c"
    assert outputs["shout"] == "hello, main!"
    assert outputs["flags"] == "true true true true true fallback was-push"
    assert outputs["json"] == "[1,2.5,true]"
    steps = out.run("expr.yml").job("eval")["steps"]
    assert [s["conclusion"] for s in steps] == ["success", "skipped"]


def test_needs_skip_propagation_and_status_functions(example: Any) -> None:
    out = example("needs").run()
    assert out.code == 1
    run = out.run("needs.yml")
    assert run.conclusion == "failure"
    assert [run.result(k) for k in ("setup", "broken", "after-broken", "downstream")] == [
        "success", "failure", "skipped", "skipped"
    ]  # fmt: skip
    assert run.result("cleanup") == "success"
    assert "setup=success after-broken=skipped version=1.2.3" in run.logs["cleanup"]
    assert "broken was failure" in run.logs["on-failure"]
    assert "using 1.2.3" in run.logs["broken"]
    assert "downstream" not in run.logs


def test_matrix_include_exclude(example: Any) -> None:
    out = example("matrix").run()
    assert out.code == 0, out.output
    run = out.run("matrix.yml")
    assert sorted(run.jobs) == [
        "build (linux, 3.11)", "build (linux, 3.12, true)", "build (mac, 3.12)",
        "build (windows, 3.13)",
    ]  # fmt: skip
    assert "os=linux python=3.12 experimental=true" in run.logs["build (linux, 3.12, true)"]
    assert "os=mac python=3.12 experimental=false" in run.logs["build (mac, 3.12)"]
    assert (
        "os=windows python=3.13 experimental=false index=3/4" in run.logs["build (windows, 3.13)"]
    )


def test_fail_fast_cancels_the_other_combinations(example: Any) -> None:
    out = example("fail_fast").run()
    assert out.code == 1
    run = out.run("fail-fast.yml")
    assert run.result("test (1)") == "failure"
    assert run.result("test (2)") == "cancelled"
    assert run.result("test (3)") == "cancelled"
    assert [run.result(f"keep-going ({n})") for n in (1, 2, 3)] == [
        "success", "failure", "success"
    ]  # fmt: skip


def test_max_parallel_runs_one_combination_at_a_time(example: Any) -> None:
    ex = example("max_parallel")
    out = ex.run("--var", f"LOG_DIR={ex.tmp}")
    assert out.code == 0, out.output
    lines = (ex.tmp / "max-parallel.log").read_text().split("\n")[:-1]
    assert len(lines) == 8
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ") and end == "end " + start.removeprefix("start ")


# --- steps: file commands, masking, workflow commands, continue-on-error -------------------


def test_file_commands(example: Any) -> None:
    out = example("file_commands").run()
    assert out.code == 0, out.output
    run = out.run("files.yml")
    outputs = run.outputs("files")
    assert outputs["single"] == "blue"
    assert outputs["multi"] == "line one\nline two"
    assert outputs["from-env"] == "blue/blue"
    assert "tool says hi to blue" in run.logs["files"]
    assert run.job("files")["summary"] == "## Build summary\n- color: blue\n"


def test_secrets_and_add_mask_never_reach_logs_outputs_or_summaries(example: Any) -> None:
    ex = example("masking")
    out = ex.run(
        "--secret", f"API_TOKEN={SECRET}", env={"SHIPYARD_SECRET_MULTI": "first-line\nsecond-line"}
    )
    assert out.code == 0, out.output
    run = out.run("masking.yml")
    text = run.all_text() + out.output
    for leaked in (SECRET, "first-line", "second-line", "gen-sdcrdt-value"):
        assert leaked not in text
    log = run.logs["secrets"]
    assert "token is ***" in log and "generated is ***" in log
    assert "multi is ***" in log


def test_workflow_commands(example: Any) -> None:
    out = example("workflow_commands").run()
    assert out.code == 0, out.output
    run = out.run("commands.yml")
    annotations = run.job("commands")["annotations"]
    notice = next(a for a in annotations if a["level"] == "notice")
    assert (notice["file"], notice["line"], notice["title"]) == ("src/app.py", 3, "Heads up")
    assert any(a["level"] == "error" and a["message"] == "something is off" for a in annotations)
    assert any(a["level"] == "warning" and a.get("line") == 7 for a in annotations)
    log = run.logs["commands"]
    assert "::warning::not a command while stopped" in log
    assert "##[debug]only with debug logging" not in log  # debug logging is off
    assert "compiling" in log and "##[group]Compile" in log
    assert "legacy=legacy-value" in log


def test_continue_on_error_step_and_job(example: Any) -> None:
    out = example("continue_on_error").run()
    assert out.code == 0, out.output
    run = out.run("continue.yml")
    assert run.conclusion == "success"
    assert run.outputs("tolerant")["result"] == "failure/success"
    assert run.result("experimental") == "failure"
    assert run.result("after") == "success"


# --- reuse: reusable workflows, composite actions ------------------------------------------


def test_reusable_workflow_inputs_outputs_secrets(example: Any) -> None:
    out = example("reusable").run("--secret", f"DEPLOY_KEY={SECRET}", "-W", "caller.yml")
    assert out.code == 0, out.output
    run = out.run("caller.yml")
    assert run.result("build / compile") == "success"
    assert "publishing web-opt.tar" in run.logs["publish"]
    assert "building web optimize=true with key ***" in run.logs["build / compile"]
    assert SECRET not in run.all_text()


def test_local_composite_action(example: Any) -> None:
    out = example("composite").run()
    assert out.code == 0, out.output
    run = out.run("composite.yml")
    assert run.outputs("hello")["greeting"] == "Hello, Shipyard!"
    assert "got Hello, Shipyard!" in run.logs["hello"]
    assert "action path is set" in run.logs["hello"]


def test_cancel_in_progress_concurrency_group(example: Any) -> None:
    out = example("concurrency").run()
    run = out.run("deploy.yml")
    assert run.result("deploy-old") == "cancelled"
    assert run.result("deploy-new") == "success"
    assert "old deploy finished" not in run.logs.get("deploy-old", "")
    assert run.conclusion == "cancelled" and out.code == 1


def test_workflow_dispatch_typed_inputs(example: Any) -> None:
    ex = example("dispatch_inputs")
    out = ex.run("--event", "workflow_dispatch", "--input", "replicas=3")
    assert out.code == 0, out.output
    assert out.run("dispatch.yml").outputs("show")["summary"] == (
        "staging dry=true typed=true event=true replicas=3 more=true note=none"
    )
    code, output = ex.ci(
        "run", str(ex.root), "--event", "workflow_dispatch", "--input", "environment=qa"
    )
    assert code == 1 and "inputs.environment" in output and "qa" in output


def test_defaults_working_directory_and_shells(example: Any) -> None:
    out = example("defaults_shell").run()
    assert out.code == 0, out.output
    run = out.run("defaults.yml")
    outputs = run.outputs("shells")
    assert outputs["where"] == "inside app"
    assert outputs["sub"] == "inside sub"
    assert outputs["py"] == "app-1024"
    assert outputs["custom"] == "perl-42"
    strict = run.job("shells")["steps"][-1]
    assert (strict["outcome"], strict["conclusion"]) == ("failure", "success")


def _hash_files(root: Path, paths: list[str]) -> str:
    """GitHub's hashFiles: SHA-256 over the SHA-256 of each file, in path order."""
    total = hashlib.sha256()
    for path in sorted(paths):
        total.update(hashlib.sha256((root / path).read_bytes()).digest())
    return total.hexdigest()


def test_hash_files(example: Any) -> None:
    ex = example("hashfiles")
    out = ex.run()
    assert out.code == 0, out.output
    outputs = out.run("cache-key.yml").outputs("key")
    expected = _hash_files(ex.root, ["deps/requirements-dev.txt", "requirements.txt"])
    assert outputs["key"] == f"deps-{expected}"
    assert outputs["none"] == "[]"


def test_broken_workflow_fails_only_its_own_run(example: Any) -> None:
    out = example("broken").run()
    assert out.code == 1
    assert out.run("good.yml").conclusion == "success"
    bad = out.run("bad.yml")
    assert bad.conclusion == "failure" and not bad.jobs
    assert ".github/workflows/bad.yml:6:22: jobs.oops.timeout-minutes: must be a positive" in (
        bad.message
    )


# --- the build-and-push workflow of the issue ------------------------------------------------


def test_ecr_build_push_runs_up_to_the_first_missing_action(example: Any) -> None:
    ex = example("ecr")
    code, output = ex.ci("validate", str(ex.root))
    assert code == 0 and "1 workflow, 0 problems" in output
    out = ex.run()
    assert out.code == 1
    run = out.run("build-push.yml")
    steps = run.job("build")["steps"]
    assert [s["conclusion"] for s in steps] == ["success", "failure", *["skipped"] * 4]
    log = run.logs["build"]
    assert 'action "aws-actions/configure-aws-credentials@v4" is not available' in log
    assert "tag: old-tag" in (ex.root / "deploy/helm/values.yaml").read_text()


# --- schedule ---------------------------------------------------------------------------------


def test_schedule_runs_the_workflows_whose_cron_is_due(example: Any) -> None:
    ex = example("schedule")
    # 2026-03-02 is a Monday; 05:30 UTC given as 00:30 at UTC-5
    listing = _rows(ex.ci("run", str(ex.root), "--event", "schedule",
                          "--at", "2026-03-02T00:30:00-05:00", "--list")[1])  # fmt: skip
    assert " yes " in listing[".github/workflows/nightly.yml"]
    assert "no cron of on.schedule is due" in listing[".github/workflows/weekly.yml"]
    assert "does not listen to schedule" in listing[".github/workflows/push.yml"]
    weekday = ex.run("--event", "schedule", "--at", "2026-03-02T05:30:00Z")
    assert weekday.code == 0, weekday.output
    assert sorted(weekday.runs) == ["nightly.yml"]
    assert weekday.run("nightly.yml").outputs("report") == {"cron": "30 5 * * 1-5"}
    monday_six = ex.run("--event", "schedule", "--at", "2026-03-02T06:00:00Z")
    assert sorted(monday_six.runs) == ["weekly.yml"]
    weekend = ex.run("--event", "schedule", "--at", "2026-03-07T18:00:00Z")
    assert weekend.run("nightly.yml").outputs("report") == {"cron": "0 */6 * * SAT,SUN"}
    assert "event schedule cron '0 */6 * * SAT,SUN'" in weekend.run("nightly.yml").logs["report"]
