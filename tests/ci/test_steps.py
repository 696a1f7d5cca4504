"""Steps end to end: real processes in tmp_path, GitHub's step semantics."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shipyard.ci.steps import shell_command, timeout_minutes
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import BadRequestError
from tests.ci.test_exec_executor import ListSink, execute, make_request

HEAD = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
"""


def steps_yaml(body: str, *, job_extra: str = "", top: str = "") -> str:
    """A workflow with one job ``build`` whose ``steps:`` are ``body`` (indented 6)."""
    indented = "\n".join(f"      {line}" if line else "" for line in body.strip("\n").splitlines())
    extra = "\n".join(f"    {line}" for line in job_extra.strip("\n").splitlines())
    return f"{top}\n{HEAD}{extra}\n    steps:\n{indented}\n"


def outcomes(record: object) -> list[tuple[str, str]]:
    return [(s.outcome, s.conclusion) for s in record.steps]  # type: ignore[attr-defined]


# -- shells ------------------------------------------------------------------------------


def test_shell_invocations_are_githubs() -> None:
    path = "/usr/bin:/bin"
    bash = shutil.which("bash", path=path)
    sh = shutil.which("sh", path=path)
    assert shell_command(None, path) == ([bash, "-e", "{0}"], ".sh")
    assert shell_command("bash", path) == (
        [bash, "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
        ".sh",
    )
    assert shell_command("sh", path) == ([sh, "-e", "{0}"], ".sh")
    assert shell_command("bash -x {0}", path) == ([bash, "-x", "{0}"], ".sh")


def test_default_shell_is_sh_when_there_is_no_bash(tmp_path: Path) -> None:
    (tmp_path / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    argv, _ = shell_command(None, str(tmp_path))
    assert argv == [str(tmp_path / "sh"), "-e", "{0}"]


@pytest.mark.parametrize(
    ("shell", "message"),
    [
        ("cmd", "runs only on Windows"),
        ("perl", "a command template containing {0}"),
        ("no-such-shell-xyz {0}", "'no-such-shell-xyz' was not found on PATH"),
    ],
)
def test_bad_shells_are_refused(shell: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        shell_command(shell, "/usr/bin:/bin")


def test_explicit_bash_uses_pipefail_but_default_shell_does_not(tmp_path: Path) -> None:
    body = """
- id: default
  run: false | true; echo "survived"
- id: explicit
  shell: bash
  run: false | true; echo "survived"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert outcomes(record) == [("success", "success"), ("failure", "failure")]
    assert [text for _, text in sink.lines].count("survived") == 1  # only the first step


def test_python_and_custom_shells_get_their_script_files(tmp_path: Path) -> None:
    body = """
- shell: python
  run: |
    import os, sys
    print("py", os.path.splitext(sys.argv[0])[1], os.environ["GITHUB_ACTIONS"])
- shell: sh -c 'echo custom "$1"' sh {0}
  run: echo hi
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.result == "success"
    assert "py .py true" in sink.text
    assert any(text.startswith("custom ") and text.endswith(".sh") for _, text in sink.lines)


# -- if, env, working-directory, defaults ----------------------------------------------------


def test_if_status_functions_see_the_job_status_so_far(tmp_path: Path) -> None:
    body = """
- run: echo first
- id: broken
  run: exit 1
- run: echo after-failure
- if: failure()
  run: echo on-failure ${{ job.status }} ${{ steps.broken.outcome }}
- if: always()
  run: echo always
- if: success() || github.run_number == 3
  run: echo success-or
- if: cancelled()
  run: echo never
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert [s.outcome for s in record.steps] == [
        "success", "failure", "skipped", "success", "success", "success", "skipped",
    ]  # fmt: skip
    assert "on-failure failure failure" in sink.text
    assert record.result == "failure"


def test_env_layers_workflow_job_step_and_github_env(tmp_path: Path) -> None:
    top = "env:\n  LEVEL: workflow\n  WF_ONLY: wf"
    job_extra = "env:\n  LEVEL: job\n  JOB_ONLY: ${{ env.WF_ONLY }}-job"
    body = """
- run: echo "1 $LEVEL $WF_ONLY $JOB_ONLY"
- env:
    LEVEL: step-${{ env.LEVEL }}
  run: echo "2 $LEVEL ${{ env.LEVEL }}"
- run: echo "LEVEL=from-file" >> "$GITHUB_ENV"
- run: echo "3 $LEVEL ${{ env.LEVEL }}"
- run: echo "4 $GITHUB_REPOSITORY $GITHUB_RUN_NUMBER $CI $RUNNER_OS $GITHUB_ACTION"
  id: defaults
"""
    request = make_request(tmp_path, steps_yaml(body, job_extra=job_extra, top=top))
    record, sink = execute(request)
    assert record.result == "success", sink.text
    lines = [text for _, text in sink.lines]
    assert "1 job wf wf-job" in lines
    assert "2 step-job step-job" in lines
    assert "3 from-file from-file" in lines
    assert "4 octo/shop 3 true Linux defaults" in lines


def test_working_directory_and_defaults_run(tmp_path: Path) -> None:
    top = "defaults:\n  run:\n    shell: sh\n    working-directory: sub"
    body = """
- run: mkdir -p sub/deeper
  working-directory: .
- run: echo "in $(basename "$PWD")"
- run: echo "in $(basename "$PWD")"
  working-directory: sub/deeper
- run: echo unreachable
  working-directory: missing
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body, top=top)))
    lines = [text for _, text in sink.lines]
    assert "in sub" in lines and "in deeper" in lines
    assert record.steps[3].outcome == "failure"
    assert "with working directory" in sink.text and "No such file or directory" in sink.text


def test_bad_expression_fails_the_step_not_the_runner(tmp_path: Path) -> None:
    body = """
- run: echo ${{ fromJSON('not json') }}
- if: steps.x.outputs == (
  run: echo never
- if: always()
  run: echo still-here
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert [s.outcome for s in record.steps] == ["failure", "failure", "success"]
    assert "'if' could not be evaluated" in sink.text
    assert "still-here" in sink.text


# -- continue-on-error, timeouts ---------------------------------------------------------


def test_continue_on_error_keeps_outcome_and_changes_conclusion(tmp_path: Path) -> None:
    body = """
- id: flaky
  run: exit 2
  continue-on-error: ${{ github.run_number == 3 }}
- run: echo ${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.result == "success"
    assert outcomes(record)[0] == ("failure", "success")
    assert "failure/success" in [text for _, text in sink.lines]


def test_step_timeout_fails_the_step_with_githubs_message(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = ListSink()
    sink.on("waiting", lambda: clock.advance(2 * 60 + 1))
    body = """
- name: Slow
  run: echo waiting; sleep 30
  timeout-minutes: 2
- if: always()
  run: echo after ${{ job.status }}
"""
    record, _ = execute(make_request(tmp_path, steps_yaml(body)), sink=sink, clock=clock)
    assert outcomes(record) == [("failure", "failure"), ("success", "success")]
    assert "##[error]The action 'Slow' has timed out after 2 minutes." in sink.text
    assert "after failure" in sink.text
    assert record.result == "failure"


def test_step_timeout_with_continue_on_error(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = ListSink()
    sink.on("waiting", lambda: clock.advance(61))
    body = """
- run: echo waiting; sleep 30
  timeout-minutes: 1
  continue-on-error: true
"""
    record, _ = execute(make_request(tmp_path, steps_yaml(body)), sink=sink, clock=clock)
    assert outcomes(record) == [("failure", "success")]
    assert record.result == "success"


# -- file commands -------------------------------------------------------------------------


def test_outputs_heredoc_path_and_state(tmp_path: Path) -> None:
    body = """
- id: make
  run: |
    {
      echo "multi<<EOF"
      echo "line one"
      echo "line two"
      echo "EOF"
      echo "single=value=with=equals"
    } >> "$GITHUB_OUTPUT"
    echo "saved=1" >> "$GITHUB_STATE"
    mkdir -p "$RUNNER_TEMP/tools"
    printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/tools/mytool"
    chmod +x "$RUNNER_TEMP/tools/mytool"
    echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
- run: |
    mytool
    echo "${{ steps.make.outputs.single }}"
  env:
    MULTI: ${{ steps.make.outputs.multi }}
- run: printf '%s|' "$MULTI"; echo
  env:
    MULTI: ${{ steps.make.outputs.multi }}
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.result == "success", sink.text
    assert record.steps[0].outputs == {"multi": "line one\nline two", "single": "value=with=equals"}
    lines = [text for _, text in sink.lines]
    assert "tool-ran" in lines and "value=with=equals" in lines
    assert "line one" in lines and "line two|" in lines


def test_bad_file_command_fails_the_step_with_githubs_message(tmp_path: Path) -> None:
    body = """
- id: bad
  run: echo "not a valid line" >> "$GITHUB_ENV"
- run: echo "X<<EOF" >> "$GITHUB_OUTPUT"; echo "no end" >> "$GITHUB_OUTPUT"
  continue-on-error: true
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.steps[0].outcome == "failure"
    assert "Unable to process file command 'GITHUB_ENV' successfully" in sink.text
    assert "Invalid format 'not a valid line'" in sink.text
    assert record.result == "failure"


def test_node_options_is_refused_in_github_env(tmp_path: Path) -> None:
    body = """
- run: echo "NODE_OPTIONS=--inspect" >> "$GITHUB_ENV"; echo "OK=1" >> "$GITHUB_ENV"
- run: echo "node=[${NODE_OPTIONS:-}] ok=$OK"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert "node=[] ok=1" in [text for _, text in sink.lines]
    assert any("NODE_OPTIONS" in a.message and a.level == "error" for a in record.annotations)


def test_step_summaries_are_concatenated_and_the_limit_is_githubs(tmp_path: Path) -> None:
    body = """
- run: echo "# Build" >> "$GITHUB_STEP_SUMMARY"
- run: echo "- tests passed" >> "$GITHUB_STEP_SUMMARY"
- run: head -c 1048577 /dev/zero | tr '\\0' 'a' >> "$GITHUB_STEP_SUMMARY"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.summary == "# Build\n- tests passed\n"
    assert record.result == "success"
    assert "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k" in (
        sink.text
    )


# -- workflow commands and masking ---------------------------------------------------------


def test_secrets_and_add_mask_values_never_reach_logs_outputs_or_summary(tmp_path: Path) -> None:
    body = """
- id: leak
  env:
    TOKEN: ${{ secrets.API_TOKEN }}
  run: |
    echo "token is $TOKEN"
    echo "::add-mask::generated-password"
    echo "password generated-password"
    echo "pw=generated-password" >> "$GITHUB_OUTPUT"
    echo "secret in summary: $TOKEN" >> "$GITHUB_STEP_SUMMARY"
    printf 'KEY<<EOF\\nfirst-key-line\\nsecond-key-line\\nEOF\\n' >> "$GITHUB_ENV"
- run: |
    echo "::add-mask::${KEY//$'\\n'/%0A}"
    echo "first-key-line"
    echo "second-key-line"
- run: echo "real value reaches the step ${{ steps.leak.outputs.pw }}" > out.txt; cat out.txt
"""
    request = make_request(tmp_path, steps_yaml(body), secrets={"API_TOKEN": "tok-12345"})
    record, sink = execute(request)
    assert record.result == "success", sink.text
    assert "tok-12345" not in sink.text
    # The script headers echo the workflow's own text (a literal there is no secret, as on
    # GitHub); what the steps print must be masked.
    shown = "\n".join(sink.output())
    for forbidden in ("generated-password", "first-key-line", "second-key-line"):
        assert forbidden not in shown
    assert "token is ***" in shown and "password ***" in shown
    assert record.steps[0].outputs == {"pw": "***"}
    assert record.summary == "secret in summary: ***\n"
    workspace = Path(request.facts.workspace)
    assert "generated-password" in (workspace / "out.txt").read_text()


def test_workflow_commands_annotations_groups_debug_and_stop_commands(tmp_path: Path) -> None:
    body = """
- run: |
    echo "::group::Compile"
    echo "::debug::hidden unless step debug"
    echo "::notice file=app.py,line=4,title=Heads up::notice text"
    echo "::error::broken thing"
    echo "::endgroup::"
    echo "::stop-commands::pause-123"
    echo "::warning::not a command now"
    echo "::pause-123::"
    echo "::warning::a command again"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    lines = sink.output()
    assert "##[group]Compile" in lines and "##[endgroup]" in lines
    assert not any("hidden unless" in line for line in lines)
    assert "##[notice]notice text" in lines
    assert "::warning::not a command now" in lines
    assert "##[warning]a command again" in lines
    levels = [(a.level, a.message) for a in record.annotations]
    assert ("notice", "notice text") in levels and ("error", "broken thing") in levels
    notice = next(a for a in record.annotations if a.level == "notice")
    assert (notice.file, notice.line, notice.title) == ("app.py", 4, "Heads up")
    assert record.result == "success"  # ::error:: alone does not fail a step


def test_debug_lines_show_with_actions_step_debug(tmp_path: Path) -> None:
    body = '- run: echo "::debug::now visible"'
    request = make_request(tmp_path, steps_yaml(body), secrets={"ACTIONS_STEP_DEBUG": "true"})
    _, sink = execute(request)
    assert "##[debug]now visible" in [text for _, text in sink.lines]


def test_deprecated_set_output_works_with_warning_and_set_env_is_disabled(tmp_path: Path) -> None:
    """GitHub: set-output still works (with a deprecation warning); a disabled set-env cannot
    be processed, which fails its step although the script exits 0."""
    body = """
- id: old
  run: echo "::set-output name=legacy::yes"
- run: echo "legacy=${{ steps.old.outputs.legacy }}"
- id: env
  run: |
    echo "::set-env name=BAD::1"
    echo "still running"
- if: always()
  run: echo "bad=${BAD:-unset} outcome=${{ steps.env.outcome }}"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    lines = [text for _, text in sink.lines]
    assert record.steps[0].outputs == {"legacy": "yes"}
    assert "legacy=yes" in lines
    assert "The `set-output` command is deprecated" in sink.text
    assert "##[error]Unable to process command '::set-env name=BAD::1' successfully." in lines
    assert "The `set-env` command is disabled" in sink.text
    assert "still running" in lines  # the script goes on; the step fails at its end
    assert "bad=unset outcome=failure" in lines
    assert outcomes(record)[2] == ("failure", "failure")
    assert record.result == "failure"


# -- audit of issue 6: runner.temp, job.status, unsecure commands ------------------------------


def test_runner_temp_is_the_runner_temp_directory_and_is_writable(tmp_path: Path) -> None:
    body = """
- run: |
    test "${{ runner.temp }}" = "$RUNNER_TEMP" && test -d "$RUNNER_TEMP"
    echo kept > "${{ runner.temp }}/note"
- run: echo "temp holds $(cat "$RUNNER_TEMP/note")"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    assert record.result == "success", sink.text
    assert "temp holds kept" in [text for _, text in sink.lines]


def test_job_status_follows_failures_but_not_tolerated_ones(tmp_path: Path) -> None:
    body = """
- run: echo "start ${{ job.status }}"
- run: exit 1
  continue-on-error: true
- run: echo "tolerated ${{ job.status }}"
- run: exit 2
- if: always()
  run: echo "end ${{ job.status }}"
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    lines = [text for _, text in sink.lines]
    assert "start success" in lines and "tolerated success" in lines
    assert "end failure" in lines
    assert outcomes(record) == [
        ("success", "success"), ("failure", "success"), ("success", "success"),
        ("failure", "failure"), ("success", "success"),
    ]  # fmt: skip


def test_set_env_and_add_path_work_when_unsecure_commands_are_allowed(tmp_path: Path) -> None:
    body = """
- run: |
    echo "::set-env name=OLD_STYLE::from-set-env"
    echo "::add-path::/opt/old-style/bin"
  env:
    ACTIONS_ALLOW_UNSECURE_COMMANDS: true
- run: echo "got $OLD_STYLE"; case "$PATH" in /opt/old-style/bin:*) echo on-path;; esac
"""
    record, sink = execute(make_request(tmp_path, steps_yaml(body)))
    lines = [text for _, text in sink.lines]
    assert record.result == "success", sink.text
    assert "got from-set-env" in lines and "on-path" in lines
    assert "The `set-env` command is disabled" not in sink.text


def test_timeout_minutes_reads_numbers_and_expressions_and_names_a_bad_one() -> None:
    context = {"matrix": {"slow": True}, "inputs": {"minutes": "2.5"}}
    assert timeout_minutes(5, context) == 5.0
    assert timeout_minutes("${{ matrix.slow && 30 || 10 }}", context) == 30.0
    assert timeout_minutes("${{ inputs.minutes }}", context) == 2.5
    with pytest.raises(BadRequestError, match=r"jobs.build.timeout-minutes must be a number"):
        timeout_minutes("${{ 'soon' }}", context, where="jobs.build.timeout-minutes")
    with pytest.raises(BadRequestError, match="timeout-minutes must be greater than 0, got 0"):
        timeout_minutes(0, context)
