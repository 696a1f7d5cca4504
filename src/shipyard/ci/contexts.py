"""The contexts a workflow sees and the default environment variables of a step.

Design
------
Everything here is a pure function over plain data: a :class:`RunFacts` (what the runner
knows about the run: repository, ids, directories, server) plus the trigger event (its name
and its JSON payload). Nothing reads a clock, the host or the network; the caller passes
the machine architecture (``platform.machine()``) when it builds the ``runner`` context.

The values follow GitHub's documented contexts and default variables:

* ``github.ref`` / ``github.sha`` — the pushed ref and ``after`` for ``push``; the merge ref
  ``refs/pull/N/merge`` and the merge commit for ``pull_request``; the ref and commit the
  caller resolved for ``workflow_dispatch`` and ``schedule`` (the payload of ``schedule``
  carries neither, that of ``workflow_dispatch`` only the ref).
* ``github.ref_name`` is the short name: ``main`` for ``refs/heads/main``, ``v1`` for
  ``refs/tags/v1``, ``N/merge`` for a pull request; ``ref_type`` is ``branch`` or ``tag``.
* ``base_ref`` / ``head_ref`` are set only for pull request events, empty otherwise.
* ``api_url`` / ``graphql_url`` derive from ``server_url`` as on GitHub: ``api.github.com``
  for github.com, ``<server>/api/v3`` and ``<server>/api/graphql`` for a server install.
* ``github.token`` holds the token; :func:`values_to_mask` lists what the caller must register
  with the secret masker so it never reaches a log.

The file-command paths (``GITHUB_ENV`` and friends) live under ``RUNNER_TEMP`` in
``_runner_file_commands`` as on GitHub; Shipyard names each file after the step's position
(``set_env_3``) instead of a random id so a run is reproducible. The event payload is written
by the caller to :func:`event_path`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from shipyard.core.errors import FieldError, InvalidError

__all__ = [
    "INPUT_TYPE_DEFAULTS",
    "RunFacts",
    "StepFiles",
    "api_urls",
    "event_path",
    "github_context",
    "inputs_context",
    "job_context",
    "matrix_context",
    "needs_context",
    "ref_name",
    "ref_type",
    "runner_arch",
    "runner_context",
    "step_environment",
    "step_files",
    "steps_context",
    "strategy_context",
    "values_to_mask",
]

_PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
Outcome = Literal["success", "failure", "cancelled", "skipped"]


@dataclass(frozen=True)
class RunFacts:
    """What the runner knows about one run, independent of the trigger event."""

    repository: str
    run_id: int
    run_number: int
    workspace: str
    temp_dir: str
    workflow: str
    run_attempt: int = 1
    server_url: str = "https://github.com"
    workflow_path: str = ""
    actor: str = ""
    triggering_actor: str = ""
    token: str = ""
    runner_name: str = "shipyard"
    tool_cache: str = ""
    protected_branches: frozenset[str] = field(default_factory=frozenset)
    retention_days: int = 90

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]


@dataclass(frozen=True)
class StepFiles:
    """The file-command files of one step (``GITHUB_OUTPUT`` and friends)."""

    env: str
    output: str
    path: str
    state: str
    step_summary: str


def ref_type(ref: str) -> str:
    """``tag`` for ``refs/tags/…``, ``branch`` for any other ref (as GitHub reports it)."""
    return "tag" if ref.startswith("refs/tags/") else "branch"


def ref_name(ref: str) -> str:
    """The short name of ``ref``: ``main``, ``v1.2``, ``12/merge`` for ``refs/pull/12/merge``."""
    for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref.removeprefix("refs/")


def api_urls(server_url: str) -> tuple[str, str]:
    """The REST and GraphQL URLs for ``server_url``."""
    server = server_url.rstrip("/")
    if server == "https://github.com":
        return "https://api.github.com", "https://api.github.com/graphql"
    return f"{server}/api/v3", f"{server}/api/graphql"


def event_path(facts: RunFacts) -> str:
    """Where the event payload is written for ``GITHUB_EVENT_PATH``."""
    return f"{facts.temp_dir}/_github_workflow/event.json"


def step_files(facts: RunFacts, step_index: int) -> StepFiles:
    """The file-command paths of the step at ``step_index`` (0-based) of the job."""
    base = f"{facts.temp_dir}/_runner_file_commands"
    n = step_index + 1
    return StepFiles(
        env=f"{base}/set_env_{n}",
        output=f"{base}/set_output_{n}",
        path=f"{base}/add_path_{n}",
        state=f"{base}/save_state_{n}",
        step_summary=f"{base}/step_summary_{n}",
    )


def _text(event: Mapping[str, object], *keys: str) -> str:
    value: object = event
    for key in keys:
        if not isinstance(value, Mapping):
            return ""
        value = value.get(key)
    return value if isinstance(value, str) else ""


def _ref_and_sha(
    event_name: str, event: Mapping[str, object], ref: str | None, sha: str | None
) -> tuple[str, str]:
    if event_name in _PR_EVENTS:
        number = event.get("number")
        if not isinstance(number, int):
            raise InvalidError(
                "pull_request event", [FieldError("event.number", "must be an integer")]
            )
        merge_sha = _text(event, "pull_request", "merge_commit_sha")
        return (
            ref or f"refs/pull/{number}/merge",
            sha or merge_sha or _text(event, "pull_request", "head", "sha"),
        )
    resolved_ref = ref or _text(event, "ref")
    resolved_sha = sha or _text(event, "after")
    problems = []
    if not resolved_ref:
        problems.append(FieldError("event.ref", f"a {event_name} run needs a ref"))
    if not resolved_sha:
        problems.append(FieldError("event.after", f"a {event_name} run needs a commit sha"))
    if problems:
        raise InvalidError(f"{event_name} event", problems)
    if event_name in ("push", "workflow_dispatch") and not resolved_ref.startswith("refs/"):
        resolved_ref = f"refs/heads/{resolved_ref}"
    return resolved_ref, resolved_sha


def _actor(facts: RunFacts, event: Mapping[str, object]) -> str:
    return (
        facts.actor
        or _text(event, "sender", "login")
        or _text(event, "pusher", "name")
        or facts.owner
    )


def github_context(
    facts: RunFacts,
    event_name: str,
    event: Mapping[str, object],
    *,
    job: str = "",
    action: str = "",
    ref: str | None = None,
    sha: str | None = None,
) -> dict[str, object]:
    """The ``github`` context for a run triggered by ``event_name`` with payload ``event``.

    ``ref``/``sha`` override what the payload says; ``schedule`` runs need both (the default
    branch and its last commit), ``workflow_dispatch`` runs need ``sha``.
    """
    full_ref, full_sha = _ref_and_sha(event_name, event, ref, sha)
    is_pr = event_name in _PR_EVENTS
    api_url, graphql_url = api_urls(facts.server_url)
    actor = _actor(facts, event)
    kind = ref_type(full_ref)
    return {
        "event": dict(event),
        "event_name": event_name,
        "event_path": event_path(facts),
        "sha": full_sha,
        "ref": full_ref,
        "ref_name": ref_name(full_ref),
        "ref_type": kind,
        "ref_protected": kind == "branch" and ref_name(full_ref) in facts.protected_branches,
        "base_ref": _text(event, "pull_request", "base", "ref") if is_pr else "",
        "head_ref": _text(event, "pull_request", "head", "ref") if is_pr else "",
        "repository": facts.repository,
        "repository_owner": facts.owner,
        "actor": actor,
        "triggering_actor": facts.triggering_actor or actor,
        "run_id": str(facts.run_id),
        "run_number": str(facts.run_number),
        "run_attempt": str(facts.run_attempt),
        "retention_days": str(facts.retention_days),
        "workflow": facts.workflow,
        "workflow_ref": _workflow_ref(facts, full_ref),
        "workflow_sha": full_sha,
        "job": job,
        "action": action,
        "server_url": facts.server_url,
        "api_url": api_url,
        "graphql_url": graphql_url,
        "workspace": facts.workspace,
        "token": facts.token,
    }


def _workflow_ref(facts: RunFacts, full_ref: str) -> str:
    path = facts.workflow_path or facts.workflow
    return f"{facts.repository}/{path}@{full_ref}"


def values_to_mask(github: Mapping[str, object]) -> list[str]:
    """The values of the ``github`` context that must be masked in every log (the token)."""
    token = github.get("token")
    return [token] if isinstance(token, str) and token else []


def runner_arch(machine: str) -> str:
    """``X64``, ``ARM64``, ``ARM`` or ``X86`` for a ``platform.machine()`` string."""
    name = machine.lower()
    if name in ("x86_64", "amd64", "x64"):
        return "X64"
    if name in ("aarch64", "arm64"):
        return "ARM64"
    if name.startswith("arm"):
        return "ARM"
    if name in ("i386", "i486", "i586", "i686", "x86"):
        return "X86"
    raise InvalidError("runner", [FieldError("runner.arch", f"unknown machine {machine!r}")])


def runner_context(facts: RunFacts, *, machine: str, debug: bool = False) -> dict[str, object]:
    """The ``runner`` context of a Linux host runner whose ``platform.machine()`` is ``machine``."""
    context: dict[str, object] = {
        "name": facts.runner_name,
        "os": "Linux",
        "arch": runner_arch(machine),
        "temp": facts.temp_dir,
        "tool_cache": facts.tool_cache or f"{facts.temp_dir}/_tool",
        "environment": "self-hosted",
    }
    if debug:
        context["debug"] = "1"
    return context


def step_environment(
    github: Mapping[str, object],
    runner: Mapping[str, object],
    files: StepFiles,
) -> dict[str, str]:
    """The default environment variables of a step, from its ``github``/``runner`` contexts."""
    env = {"CI": "true", "GITHUB_ACTIONS": "true"}
    for key in (
        "action", "actor", "api_url", "base_ref", "event_name", "event_path", "graphql_url",
        "head_ref", "job", "ref", "ref_name", "ref_type", "repository", "repository_owner",
        "retention_days", "run_attempt", "run_id", "run_number", "server_url", "sha",
        "triggering_actor", "workflow", "workflow_ref", "workflow_sha", "workspace",
    ):  # fmt: skip
        env[f"GITHUB_{key.upper()}"] = str(github.get(key, ""))
    env["GITHUB_REF_PROTECTED"] = "true" if github.get("ref_protected") else "false"
    env |= {
        "GITHUB_ENV": files.env,
        "GITHUB_OUTPUT": files.output,
        "GITHUB_PATH": files.path,
        "GITHUB_STATE": files.state,
        "GITHUB_STEP_SUMMARY": files.step_summary,
    }
    for key in ("name", "os", "arch", "temp", "tool_cache", "environment", "debug"):
        if key in runner:
            env[f"RUNNER_{key.upper()}"] = str(runner[key])
    return env


def job_context(
    status: str = "success",
    *,
    container: Mapping[str, object] | None = None,
    services: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The ``job`` context: the job's current status, its container and service containers."""
    return {
        "status": status,
        "container": dict(container or {}),
        "services": dict(services or {}),
    }


def steps_context(
    results: Sequence[tuple[str, Outcome, Mapping[str, str], bool]],
) -> dict[str, object]:
    """The ``steps`` context from ``(id, outcome, outputs, continue_on_error)`` per finished step.

    ``conclusion`` is ``success`` when a step failed under ``continue-on-error``; steps
    without an id (empty string) are left out, as on GitHub.
    """
    context: dict[str, object] = {}
    for step_id, outcome, outputs, continue_on_error in results:
        if not step_id:
            continue
        conclusion = "success" if outcome == "failure" and continue_on_error else outcome
        context[step_id] = {
            "outputs": dict(outputs),
            "outcome": outcome,
            "conclusion": conclusion,
        }
    return context


def strategy_context(
    *, fail_fast: bool, job_index: int, job_total: int, max_parallel: int | None = None
) -> dict[str, object]:
    """The ``strategy`` context of one matrix job (``max-parallel`` defaults to the total)."""
    return {
        "fail-fast": fail_fast,
        "job-index": job_index,
        "job-total": job_total,
        "max-parallel": max_parallel if max_parallel is not None else job_total,
    }


def matrix_context(combination: Mapping[str, object] | None) -> dict[str, object]:
    """The ``matrix`` context: the job's combination, empty for a job without a matrix."""
    return dict(combination or {})


def needs_context(
    results: Mapping[str, tuple[str, Mapping[str, str]]],
) -> dict[str, object]:
    """The ``needs`` context from ``{job_id: (result, outputs)}`` of the jobs this one needs."""
    return {
        job_id: {"result": result, "outputs": dict(outputs)}
        for job_id, (result, outputs) in results.items()
    }


# What an optional input without a default holds, by type (GitHub's documented defaults;
# every other type — string, choice, environment — is the empty string).
INPUT_TYPE_DEFAULTS: Mapping[str, object] = {"boolean": False, "number": 0, "string": ""}


def inputs_context(
    declared: Mapping[str, Mapping[str, object]],
    given: Mapping[str, object],
) -> dict[str, object]:
    """The ``inputs`` context: ``given`` values (or defaults) converted to the declared types.

    ``declared`` maps input names to their definition (``type``, ``default``, ``required``).
    Booleans and numbers keep their type in ``inputs`` (``github.event.inputs`` has strings).
    An optional input that is neither given nor has a default gets GitHub's documented
    default for its type (:data:`INPUT_TYPE_DEFAULTS`: ``false``, ``0``, ``""``).
    """
    problems: list[FieldError] = []
    context: dict[str, object] = {}
    for name in given:
        if name not in declared:
            problems.append(FieldError(f"inputs.{name}", "is not a declared input"))
    for name, spec in declared.items():
        value = given.get(name, spec.get("default"))
        kind = str(spec.get("type", "string"))
        if value is None:
            if spec.get("required") is True:
                problems.append(FieldError(f"inputs.{name}", "is required"))
                continue
            value = INPUT_TYPE_DEFAULTS.get(kind, "")
        converted = _convert_input(kind, value)
        if isinstance(converted, FieldError):
            problems.append(FieldError(f"inputs.{name}", converted.message))
        else:
            context[name] = converted
    if problems:
        raise InvalidError("inputs", problems)
    return context


def _convert_input(kind: str, value: object) -> object:
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        return FieldError("", f"{value!r} is not a boolean (write true or false)")
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value))
        except ValueError:
            return FieldError("", f"{value!r} is not a number")
        return int(number) if number.is_integer() else number
    return value if isinstance(value, str) else str(value)
