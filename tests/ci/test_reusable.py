"""Reusable workflows: inputs, secrets, outputs, display names, nesting and remote calls."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import cast

from shipyard.ci.orchestrator import run_workflow
from shipyard.ci.reusable import MAX_DEPTH
from shipyard.core.clock import VirtualClock
from tests.ci.test_orchestrator import PUSH, FakeJobs, results, run, workflow

CALLED = """
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
      retries: {type: number, default: 3}
      verbose: {type: boolean}
      label: {type: string, default: "${{ github.ref_name }}-build"}
    secrets:
      DEPLOY_KEY: {required: true}
    outputs:
      url:
        value: ${{ jobs.deploy.outputs.url }}
      flags:
        value: ${{ jobs.deploy.outputs.flags }}
      state:
        value: ${{ jobs.deploy.result }}
jobs:
  deploy:
    name: Deploy ${{ inputs.target }}
    runs-on: local
    outputs:
      url: "https://${{ inputs.target }}/${{ inputs.retries }}"
      flags: "${{ inputs.verbose }}/${{ inputs.label }}"
      key: "${{ secrets.DEPLOY_KEY }}"
    steps: [{run: "${{ inputs.target == 'broken' && 'fail' || 'ok' }}"}]
"""

CALLER = """
on: push
jobs:
  prepare:
    runs-on: local
    outputs: {where: staging}
    steps: [{run: ok}]
  release:
    needs: prepare
    uses: ./.github/workflows/called.yml
    with:
      target: ${{ needs.prepare.outputs.where }}
      retries: 5
    secrets: {secrets_line}
  announce:
    needs: release
    runs-on: local
    outputs:
      said: "${{ needs.release.outputs.url }}/${{ needs.release.outputs.flags }}"
      state: "${{ needs.release.result }} ${{ needs.release.outputs.state }}"
    steps: [{run: ok}]
"""


def repo(tmp_path: Path, **files: str) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (workflows / f"{name}.yml").write_text(textwrap.dedent(text))
    return tmp_path


def test_inputs_outputs_and_mapped_secrets(tmp_path: Path) -> None:
    jobs = FakeJobs()
    root = repo(tmp_path, called=CALLED)
    caller = CALLER.replace("{secrets_line}", "{DEPLOY_KEY: '${{ secrets.PROD_KEY }}'}")
    result = run(caller, root, jobs, secrets={"PROD_KEY": "k-123456", "OTHER": "o-999999"})
    assert results(result) == {
        "prepare": "success", "release / deploy": "success", "announce": "success",
    }  # fmt: skip
    assert result.job("release / deploy").name == "release / Deploy staging"
    assert result.job("announce").outputs == {
        "said": "https://staging/5/false/main-build",
        "state": "success success",
    }
    request = jobs.requests["release / deploy"]
    secrets = cast(dict[str, str], request.contexts["secrets"])
    assert secrets == {"DEPLOY_KEY": "k-123456", "GITHUB_TOKEN": secrets["GITHUB_TOKEN"]}
    assert request.contexts["inputs"] == {
        "target": "staging", "retries": 5, "verbose": False, "label": "main-build"
    }  # fmt: skip


def test_secrets_inherit_passes_every_secret(tmp_path: Path) -> None:
    jobs = FakeJobs()
    root = repo(tmp_path, called=CALLED)
    result = run(CALLER.replace("{secrets_line}", "inherit"), root, jobs,
                 secrets={"DEPLOY_KEY": "d-777777", "OTHER": "o-999999"})  # fmt: skip
    assert result.conclusion == "success"
    secrets = cast(dict[str, str], jobs.requests["release / deploy"].contexts["secrets"])
    assert {k: secrets[k] for k in ("DEPLOY_KEY", "OTHER")} == {
        "DEPLOY_KEY": "d-777777", "OTHER": "o-999999"
    }  # fmt: skip


def test_a_failing_called_job_fails_the_caller(tmp_path: Path) -> None:
    root = repo(tmp_path, called=CALLED)
    caller = CALLER.replace("{secrets_line}", "inherit").replace(
        "${{ needs.prepare.outputs.where }}", "broken"
    )
    result = run(caller, root)
    assert results(result) == {
        "prepare": "success", "release / deploy": "failure", "announce": "skipped",
    }  # fmt: skip
    assert result.conclusion == "failure"


def test_bad_calls_fail_the_caller_job_with_a_clear_message(tmp_path: Path) -> None:
    root = repo(
        tmp_path, called=CALLED, plain="on: push\njobs: {a: {runs-on: x, steps: [{run: ok}]}}"
    )
    result = run("""
        on: push
        jobs:
          missing-input:
            uses: ./.github/workflows/called.yml
          undeclared-secret:
            uses: ./.github/workflows/called.yml
            with: {target: x}
            secrets: {NOPE: x}
          remote:
            uses: octo/tools/.github/workflows/build.yml@v1
          absent:
            uses: ./.github/workflows/absent.yml
          not-callable:
            uses: ./.github/workflows/plain.yml
    """, root)  # fmt: skip
    errors = {j.key: j.error for j in result.jobs}
    assert "jobs.missing-input.with.target: is required" in errors["missing-input"]
    assert "jobs.undeclared-secret.secrets.NOPE: is not a secret" in errors["undeclared-secret"]
    assert "is not available" in errors["remote"]
    assert "not found" in errors["absent"]
    assert "must be triggered by workflow_call" in errors["not-callable"]
    assert set(results(result).values()) == {"failure"}


def test_nesting_deeper_than_the_limit_fails(tmp_path: Path) -> None:
    files = {}
    for level in range(1, MAX_DEPTH + 1):
        files[f"level{level}"] = f"""
            on: workflow_call
            jobs:
              down:
                uses: ./.github/workflows/level{level + 1}.yml
        """
    files[f"level{MAX_DEPTH + 1}"] = (
        "on: workflow_call\njobs: {leaf: {runs-on: x, steps: [{run: ok}]}}"
    )
    root = repo(tmp_path, **files)
    result = run("on: push\njobs:\n  top:\n    uses: ./.github/workflows/level1.yml\n", root)
    deepest = "top" + " / down" * (MAX_DEPTH - 1)  # the caller and nine called workflows
    assert MAX_DEPTH == 10  # github.com's documented limit
    assert results(result) == {deepest: "failure"}
    assert f"at most {MAX_DEPTH} levels" in result.job(deepest).error


def test_nesting_up_to_the_limit_runs(tmp_path: Path) -> None:
    files = {}
    for level in range(1, MAX_DEPTH - 1):
        files[f"level{level}"] = f"""
            on: workflow_call
            jobs:
              down:
                uses: ./.github/workflows/level{level + 1}.yml
        """
    files[f"level{MAX_DEPTH - 1}"] = (
        "on: workflow_call\njobs: {leaf: {runs-on: x, steps: [{run: 'true'}]}}"
    )
    root = repo(tmp_path, **files)
    result = run("on: push\njobs:\n  top:\n    uses: ./.github/workflows/level1.yml\n", root)
    leaf = "top" + " / down" * (MAX_DEPTH - 2) + " / leaf"
    assert results(result) == {leaf: "success"}


def test_a_broken_called_file_reports_its_positions(tmp_path: Path) -> None:
    root = repo(tmp_path, bad="on: workflow_call\njobs:\n  x:\n    runs-on: y\n    stepz: []\n")
    result = run("on: push\njobs:\n  call:\n    uses: ./.github/workflows/bad.yml\n", root)
    assert results(result) == {"call": "failure"}
    assert "bad.yml:5:5" in result.job("call").error


def test_end_to_end_reusable_workflow_with_real_steps(tmp_path: Path) -> None:
    root = repo(tmp_path, called="""
        on:
          workflow_call:
            inputs: {who: {type: string, required: true}}
            secrets: {KEY: {required: true}}
            outputs: {greeting: {value: "${{ jobs.greet.outputs.text }}"}}
        jobs:
          greet:
            runs-on: local
            outputs: {text: "${{ steps.say.outputs.text }}"}
            steps:
              - id: say
                run: echo "text=hi ${{ inputs.who }} $KEY_LEN" >> "$GITHUB_OUTPUT"
                env: {KEY_LEN: "${{ secrets.KEY != '' }}"}
    """)  # fmt: skip
    result = run_workflow(None, workflow("""
        on: push
        jobs:
          call:
            uses: ./.github/workflows/called.yml
            with: {who: world}
            secrets: {KEY: "${{ secrets.MY_KEY }}"}
          show:
            needs: call
            runs-on: local
            outputs: {got: "${{ needs.call.outputs.greeting }}"}
            steps: [{run: "true"}]
    """), "push", repository_root=root, clock=VirtualClock(), payload=PUSH,
        secrets={"MY_KEY": "abcdef123"})  # fmt: skip
    assert results(result) == {"call / greet": "success", "show": "success"}
    assert result.job("show").outputs == {"got": "hi world true"}


def test_a_matrix_caller_runs_the_called_workflow_per_combination(tmp_path: Path) -> None:
    jobs = FakeJobs()
    root = repo(tmp_path, called="""
        on:
          workflow_call:
            inputs: {env: {type: string, required: true}}
            outputs: {seen: {value: "${{ jobs.one.outputs.env }}"}}
        jobs:
          one:
            runs-on: local
            outputs: {env: "${{ inputs.env }}"}
            steps: [{run: ok}]
    """)  # fmt: skip
    result = run("""
        on: push
        jobs:
          deploy:
            strategy: {matrix: {env: [dev, prod]}}
            uses: ./.github/workflows/called.yml
            with: {env: "${{ matrix.env }}"}
          after:
            needs: deploy
            runs-on: local
            outputs: {got: "${{ needs.deploy.outputs.seen }}"}
            steps: [{run: ok}]
    """, root, jobs)  # fmt: skip
    assert sorted(results(result)) == ["after", "deploy (dev) / one", "deploy (prod) / one"]
    assert result.job("deploy (prod) / one").name == "deploy (prod) / one"
    assert result.job("after").outputs["got"] in ("dev", "prod")


def test_called_jobs_see_the_callers_event_and_typed_defaults(tmp_path: Path) -> None:
    """GitHub: ``github`` in a called workflow is the caller's (event_name ``push`` here, not
    ``workflow_call``); an optional number input without default is 0, a boolean false."""
    jobs = FakeJobs()
    called = CALLED.replace("retries: {type: number, default: 3}", "retries: {type: number}")
    root = repo(tmp_path, called=called)
    caller = CALLER.replace("{secrets_line}", "inherit").replace("      retries: 5\n", "")
    result = run(caller, root, jobs, secrets={"DEPLOY_KEY": "d-777777"})
    assert result.conclusion == "success"
    request = jobs.requests["release / deploy"]
    github = cast(dict[str, object], request.contexts["github"])
    assert github["event_name"] == "push" and github["ref"] == "refs/heads/main"
    inputs = request.contexts["inputs"]
    assert inputs == {"target": "staging", "retries": 0, "verbose": False, "label": "main-build"}
