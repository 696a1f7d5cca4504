"""Reusable workflows: what a ``jobs.<id>.uses: ./.github/workflows/x.yml`` job calls.

GitHub's documented rules, which the orchestrator applies through these functions:

* Only local workflows of the same repository (``./.github/workflows/<file>.yml``) can run
  here; ``owner/repo/.github/workflows/x.yml@ref`` fails the caller job with a clear "not
  available" message, because Shipyard fetches nothing from the network.
* The called file must declare ``on.workflow_call``. Its ``inputs`` are typed (``string``,
  ``boolean``, ``number``), take their ``default`` (which may be an expression over
  ``github``, ``inputs`` and ``vars``) when the caller's ``with`` omits them, and a missing
  ``required`` input or an undeclared ``with`` key is an error naming the field.
* ``secrets: inherit`` passes every caller secret; an explicit mapping passes the named
  secrets (values are expressions over the caller's contexts, ``secrets`` included) and a
  name the called workflow does not declare is an error. ``GITHUB_TOKEN`` always passes.
* ``on.workflow_call.outputs.<id>.value`` is evaluated with ``github``, ``jobs`` (each called
  job's ``result`` and ``outputs``), ``vars`` and ``inputs`` once the called jobs end; the
  values become the caller job's outputs in the caller's ``needs`` context.
* Nesting: at most :data:`MAX_DEPTH` levels of workflows (the top-level caller and nine
  called ones), the limit GitHub documents for github.com (GitHub Enterprise Server allows
  four); a deeper call fails the caller job with a message saying so.

The ``github`` context of a called workflow is the caller's (same event, ref and sha), and the
caller's workflow-level ``env`` is not passed on, both as GitHub documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from shipyard.ci.contexts import inputs_context
from shipyard.ci.expressions import evaluate_template, interpolate
from shipyard.ci.schema import Job, Workflow
from shipyard.ci.workflow import load_workflow
from shipyard.core.errors import BadRequestError, FieldError, InvalidError, NotFoundError

__all__ = [
    "MAX_DEPTH",
    "call_inputs",
    "call_outputs",
    "call_secrets",
    "load_called_workflow",
]

MAX_DEPTH = 10
_LOCAL = re.compile(r"\./(\.github/workflows/[^/@]+\.ya?ml)")
_CALL_CONTEXTS = ("github", "needs", "strategy", "matrix", "inputs", "vars")
_DEFAULT_CONTEXTS = ("github", "inputs", "vars")
_OUTPUT_CONTEXTS = ("github", "jobs", "vars", "inputs")


def load_called_workflow(uses: str, repository_root: Path, *, depth: int) -> Workflow:
    """The workflow ``uses`` names, for a caller at nesting level ``depth`` (top level = 1).

    Raises BadRequestError for a remote workflow or one nested too deep, NotFoundError for a
    missing file, WorkflowError (with positions) for a broken one, InvalidError when the file
    has no ``on.workflow_call``.
    """
    match = _LOCAL.fullmatch(uses.strip())
    if match is None:
        raise BadRequestError(
            f"reusable workflow {uses!r} is not available: Shipyard runs only workflows of "
            "the same repository (uses: ./.github/workflows/<file>.yml)"
        )
    if depth + 1 > MAX_DEPTH:
        raise BadRequestError(
            f"reusable workflow {uses!r} would be level {depth + 1} of nesting; workflows "
            f"can be nested at most {MAX_DEPTH} levels (the caller and {MAX_DEPTH - 1} "
            "reusable workflows)"
        )
    path = repository_root / match.group(1)
    if not path.is_file():
        raise NotFoundError(f"reusable workflow {uses!r} not found: no file {path}")
    workflow = load_workflow(path)
    if workflow.trigger("workflow_call") is None:
        raise InvalidError(
            f"reusable workflow {uses}",
            [FieldError("on.workflow_call", "the called workflow must be triggered by "
                        "workflow_call (add `on: workflow_call`)")],
        )  # fmt: skip
    return workflow


def _evaluated(value: object, context: Mapping[str, object], names: tuple[str, ...]) -> object:
    if isinstance(value, str) and "${{" in value:
        return evaluate_template(value, context, named_values=names)
    return value


def call_inputs(job: Job, called: Workflow, context: Mapping[str, object]) -> dict[str, object]:
    """The called workflow's ``inputs`` context from the caller job's ``with``.

    ``context`` holds the caller's ``github``, ``needs``, ``strategy``, ``matrix``,
    ``inputs`` and ``vars``. Raises InvalidError (field ``jobs.<id>.with.<name>``) or
    ExpressionError.
    """
    trigger = called.trigger("workflow_call")
    declared = trigger.inputs if trigger is not None else ()
    given = {name: _evaluated(v, context, _CALL_CONTEXTS) for name, v in job.with_.items()}
    defaults_context = {
        "github": context.get("github", {}),
        "vars": context.get("vars", {}),
        "inputs": {},
    }
    specs: dict[str, Mapping[str, object]] = {}
    for spec in declared:
        default = _evaluated(spec.default, defaults_context, _DEFAULT_CONTEXTS)
        specs[spec.name] = {"type": spec.type, "default": default, "required": spec.required}
    try:
        return inputs_context(specs, given)
    except InvalidError as err:
        causes = [FieldError(f"jobs.{job.id}.with.{c.path.removeprefix('inputs.')}", c.message)
                  for c in err.causes]  # fmt: skip
        raise InvalidError(f"call of {job.uses}", causes) from None


def call_secrets(
    job: Job,
    called: Workflow,
    caller_secrets: Mapping[str, str],
    context: Mapping[str, object],
) -> dict[str, str]:
    """The called workflow's ``secrets`` context: inherited or mapped by the caller job."""
    token = {k: v for k, v in caller_secrets.items() if k == "GITHUB_TOKEN"}
    if job.secrets == "inherit":
        return dict(caller_secrets)
    if not isinstance(job.secrets, Mapping):
        return token
    trigger = called.trigger("workflow_call")
    declared = set(trigger.secrets if trigger is not None else ())
    known = ", ".join(sorted(declared)) or "none"
    problems = [
        FieldError(f"jobs.{job.id}.secrets.{name}", "is not a secret the called workflow "
                   f"declares under on.workflow_call.secrets ({known})")
        for name in job.secrets
        if name not in declared
    ]  # fmt: skip
    if problems:
        raise InvalidError(f"call of {job.uses}", problems)
    full = {**context, "secrets": dict(caller_secrets)}
    names = (*_CALL_CONTEXTS, "secrets")
    return token | {
        name: interpolate(value, full, named_values=names) for name, value in job.secrets.items()
    }


def call_outputs(
    called: Workflow,
    jobs: Mapping[str, tuple[str, Mapping[str, str]]],
    context: Mapping[str, object],
) -> dict[str, str]:
    """The caller job's outputs: ``on.workflow_call.outputs`` over the called jobs' results.

    ``jobs`` maps each called job id to its ``(result, outputs)``; ``context`` holds the
    called workflow's ``github``, ``vars`` and ``inputs``.
    """
    trigger = called.trigger("workflow_call")
    if trigger is None:
        return {}
    full = {
        **context,
        "jobs": {jid: {"result": r, "outputs": dict(o)} for jid, (r, o) in jobs.items()},
    }
    return {
        name: interpolate(value, full, named_values=_OUTPUT_CONTEXTS)
        for name, value in trigger.outputs.items()
    }
