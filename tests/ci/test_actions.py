"""``uses:`` steps: the built-in registry, actions/checkout, local composite actions."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from shipyard.ci.actions import ActionContext, ActionInput, ActionRegistry, default_actions
from shipyard.ci.composite import load_action
from shipyard.core.errors import BadRequestError
from tests.ci.test_exec_executor import execute, make_request
from tests.ci.test_steps import steps_yaml

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )
    return out.stdout.strip()


def make_repo(root: Path) -> tuple[str, str]:
    """A repository with two commits on main and a tag v1 on the first; returns both ids."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "app.txt").write_text("version 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "tag", "v1")
    first = git(root, "rev-parse", "HEAD")
    (root / "app.txt").write_text("version 2\n")
    git(root, "commit", "-q", "-am", "second")
    return first, git(root, "rev-parse", "HEAD")


def write_action(directory: Path, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "action.yml").write_text(textwrap.dedent(text))


# -- the registry --------------------------------------------------------------------------


class Greeter:
    """A built-in action written the way later ones (docker/login-action…) will be."""

    name = "shipyard-test/greet"
    inputs = (
        ActionInput("who", required=True),
        ActionInput("greeting", "hello from ${{ github.repository }}"),
    )

    def run(self, ctx: ActionContext) -> None:
        if ctx.input("who") == "nobody":
            raise BadRequestError("there is nobody to greet")
        ctx.log(f"{ctx.input('greeting')}, {ctx.env['INPUT_WHO']}")
        ctx.add_mask("greeter-secret")
        ctx.set_output("message", f"{ctx.input('greeting')} {ctx.input('who')}")
        ctx.export_variable("GREETED", ctx.input("who"))
        ctx.add_path(str(ctx.workspace / "greeter-bin"))
        ctx.run(["sh", "-c", "echo from a command greeter-secret"])


def registry_with_greeter() -> ActionRegistry:
    registry = default_actions()
    registry.add(Greeter())
    return registry


def test_registry_lookup_ignores_ref_and_case() -> None:
    registry = registry_with_greeter()
    assert registry.names() == ["actions/checkout", "shipyard-test/greet"]
    assert registry.get("Actions/Checkout@v4") is not None
    assert "shipyard-test/greet@main" in registry
    assert registry.get("actions/setup-node@v4") is None


def test_a_built_in_action_gets_inputs_and_sets_outputs_env_path_masks(tmp_path: Path) -> None:
    body = """
- id: greet
  uses: shipyard-test/greet@v1
  with:
    who: ${{ github.actor }}
    extra: ignored
- run: echo "${{ steps.greet.outputs.message }} / $GREETED / ${PATH%%:*}"
- uses: shipyard-test/greet@v1
  continue-on-error: true
  with:
    who: nobody
- uses: shipyard-test/greet@v1
  continue-on-error: true
"""
    request = make_request(tmp_path, steps_yaml(body))
    record, sink = execute(request, actions=registry_with_greeter())
    shown = sink.output()
    assert "hello from octo/shop, octo" in shown
    assert "from a command ***" in shown
    workspace = request.facts.workspace
    assert f"hello from octo/shop octo / octo / {workspace}/greeter-bin" in shown
    assert any("Unexpected input(s) 'extra'" in line for line in shown)
    assert [s.outcome for s in record.steps] == ["success", "success", "failure", "failure"]
    assert "##[error]there is nobody to greet" in shown
    assert "##[error]Input required and not supplied: who" in shown
    assert record.result == "success"


@pytest.mark.parametrize(
    "uses",
    ["aws-actions/configure-aws-credentials@v4", "docker://alpine:3.20", "actions/setup-node@v4"],
)
def test_an_action_that_is_not_built_in_fails_its_step_clearly(tmp_path: Path, uses: str) -> None:
    body = f"""
- uses: {uses}
- if: always()
  run: echo cleanup
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.steps[0].outcome == "failure"
    assert record.result == "failure"
    expected = (
        f'##[error]action "{uses}" is not available in Shipyard: built-in actions are '
        "actions/checkout; use a run step or a local composite action"
    )
    assert expected in sink.output()
    assert "cleanup" in sink.output()


# -- actions/checkout ----------------------------------------------------------------------


def test_checkout_copies_the_repository_at_github_sha(tmp_path: Path) -> None:
    first, second = make_repo(tmp_path / "repo")
    body = """
- id: co
  uses: actions/checkout@v4
- run: |
    cat app.txt
    git rev-parse HEAD
    git rev-parse --abbrev-ref HEAD
    git rev-list --count HEAD
- uses: actions/checkout@v4
  with:
    path: old
    ref: v1
    fetch-depth: 0
- run: cat old/app.txt; git -C old rev-list --count HEAD; git -C old tag
"""
    request = make_request(tmp_path, steps_yaml(body), sha=first)
    record, sink = execute(request)
    assert record.result == "success", sink.text
    shown = sink.output()
    # github.sha is the first commit on refs/heads/main: main is checked out at that commit.
    assert ["version 1", first, "main", "1"] == shown[shown.index("version 1") :][:4]
    assert record.steps[0].outputs == {"ref": "refs/heads/main", "commit": first}
    # ref v1 is the first commit: one commit deep, the tag fetched with fetch-depth 0.
    assert shown[-3:] == ["version 1", "1", "v1"]
    old = Path(request.facts.workspace) / "old"
    assert (old / "app.txt").read_text() == "version 1\n"
    assert git(old, "rev-parse", "HEAD") == first
    assert git(old, "rev-parse", "origin/main") == second  # fetch-depth 0 fetched every branch


def test_checkout_of_a_branch_push_can_push_back(tmp_path: Path) -> None:
    _, second = make_repo(tmp_path / "repo")
    git(tmp_path / "repo", "checkout", "-q", "--detach")  # a non-bare origin accepts pushes
    body = """
- uses: actions/checkout@v4
- run: |
    sed -i 's/version 2/version 3/' app.txt
    git -c user.name=bot -c user.email=bot@example.com commit -qam "bump"
    git push -q origin HEAD:main
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body), sha=second))
    assert record.result == "success", sink.text
    assert git(tmp_path / "repo", "show", "main:app.txt") == "version 3"


def test_checkout_refuses_another_repository_and_paths_outside(tmp_path: Path) -> None:
    make_repo(tmp_path / "repo")
    body = """
- uses: actions/checkout@v4
  with:
    repository: someone/else
- if: always()
  uses: actions/checkout@v4
  with:
    path: ../../outside
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert [s.outcome for s in record.steps] == ["failure", "failure"]
    assert "checking out another repository (someone/else) is not available" in sink.text
    assert "is not under" in sink.text
    assert not (tmp_path / "outside").exists()


def test_checkout_when_the_workspace_is_the_repository(tmp_path: Path) -> None:
    _, second = make_repo(tmp_path / "work" / "shop")
    body = "- uses: actions/checkout@v4\n- run: cat app.txt"
    request = make_request(tmp_path, steps_yaml(body), repository_root=tmp_path / "work" / "shop")
    record, sink = execute(request)
    assert record.result == "success", sink.text
    assert "version 2" in sink.output()
    assert record.steps[0].outputs["commit"] == second


# -- local composite actions -----------------------------------------------------------------


def test_composite_action_inputs_outputs_env_and_nesting(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_action(
        repo / ".github" / "actions" / "build",
        """
        name: Build
        inputs:
          target:
            required: true
          flavour:
            default: plain-${{ github.run_number }}
        outputs:
          artifact:
            value: ${{ steps.pack.outputs.file }}
        runs:
          using: composite
          steps:
            - id: pack
              shell: bash
              run: |
                echo "building ${{ inputs.target }} ${{ inputs.flavour }} $CALLER"
                echo "file=${{ inputs.target }}.tgz" >> "$GITHUB_OUTPUT"
                echo "BUILT=yes" >> "$GITHUB_ENV"
                echo "INPUT_TARGET=[${INPUT_TARGET:-}]"
                test -f "$GITHUB_ACTION_PATH/action.yml" && echo "has action path"
            - uses: ./.github/actions/notify
              with:
                text: done ${{ steps.pack.outputs.file }}
        """,
    )
    write_action(
        repo / ".github" / "actions" / "notify",
        """
        inputs:
          text: {}
        runs:
          using: composite
          steps:
            - run: echo "notify ${{ inputs.text }} $BUILT"
              shell: sh
        """,
    )
    body = """
- id: build
  uses: ./.github/actions/build
  env:
    CALLER: from-caller
  with:
    target: web
- run: echo "artifact=${{ steps.build.outputs.artifact }} built=$BUILT"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.result == "success", sink.text
    shown = sink.output()
    assert "building web plain-3 from-caller" in shown
    assert "INPUT_TARGET=[]" in shown  # composite steps read inputs, as on GitHub
    assert "has action path" in shown
    assert "notify done web.tgz yes" in shown
    assert "artifact=web.tgz built=yes" in shown
    assert record.steps[0].outputs == {"artifact": "web.tgz"}


def test_composite_failure_and_status_functions_inside(tmp_path: Path) -> None:
    write_action(
        tmp_path / "repo" / "act",
        """
        runs:
          using: composite
          steps:
            - run: exit 3
              shell: bash
            - run: echo inner-skipped
              shell: bash
            - if: failure()
              run: echo inner-on-failure
              shell: bash
        """,
    )
    body = """
- id: act
  uses: ./act
- if: always()
  run: echo "after ${{ steps.act.outcome }}"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    shown = sink.output()
    assert "inner-skipped" not in shown
    assert "inner-on-failure" in shown
    assert "after failure" in shown
    assert record.result == "failure"


def test_composite_action_problems_fail_the_step(tmp_path: Path) -> None:
    write_action(
        tmp_path / "repo" / "noshell",
        "runs:\n  using: composite\n  steps:\n    - run: echo hi\n",
    )
    write_action(tmp_path / "repo" / "node", "runs:\n  using: node20\n  main: index.js\n")
    body = """
- uses: ./noshell
- if: always()
  uses: ./node
- if: always()
  uses: ./missing
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert [s.outcome for s in record.steps] == ["failure", "failure", "failure"]
    text = sink.text
    assert "runs.steps[0].shell: Required property is missing: shell" in text
    assert "runs.using is 'node20'; Shipyard runs only composite local actions" in text
    assert "Can't find 'action.yml' or 'action.yaml'" in text


def test_load_action_accepts_action_yaml(tmp_path: Path) -> None:
    (tmp_path / "action.yaml").write_text(
        "name: x\noutputs:\n  o:\n    value: '1'\nruns:\n  using: composite\n  steps: []\n"
    )
    action = load_action(tmp_path)
    assert action.name == "x" and action.outputs == {"o": "1"} and action.steps == ()


def test_composite_actions_nest_at_most_nine_deep(tmp_path: Path) -> None:
    write_action(
        tmp_path / "repo" / "loop",
        "runs:\n  using: composite\n  steps:\n    - uses: ./loop\n",
    )
    record, sink = execute(make_request(tmp_path, steps_yaml("- uses: ./loop")))
    assert record.result == "failure"
    assert "composite action './loop' is nested more than 9 deep" in sink.text


def test_checkout_empties_a_directory_that_is_not_a_clone(tmp_path: Path) -> None:
    first, _ = make_repo(tmp_path / "repo")
    body = """
- run: mkdir -p dest/old && touch dest/stale.txt dest/old/x
- uses: actions/checkout@v4
  with:
    path: dest
- run: ls -A dest | grep -v '^.git$'
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body), sha=first))
    assert record.result == "success", sink.text
    assert sink.output()[-1] == "app.txt"
    assert any(line.startswith("Deleting the contents of") for line in sink.output())


def test_action_yml_double_quoted_escaped_line_break_follows_yaml_spec(tmp_path: Path) -> None:
    """YAML 1.2 §7.3.1: ``\\`` + line break in a double-quoted scalar drops the break and the
    next line's leading white space (the action.yml loader agrees with the workflow one)."""
    (tmp_path / "action.yml").write_text(
        "name: x\nruns:\n  using: composite\n  steps:\n"
        '    - run: "echo abc \\\n          def"\n      shell: bash\n'
    )
    (step,) = load_action(tmp_path).steps
    assert step.run == "echo abc def"
