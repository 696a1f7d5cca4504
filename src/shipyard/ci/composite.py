"""``uses:`` steps: local composite actions, built-in actions, and what is not available.

Design
------
:class:`ActionDispatcher` is the :class:`~shipyard.ci.steps.UsesHandler` of a job:

* ``uses: ./path`` — a local action: ``action.yml`` (or ``action.yaml``) in that directory of
  the workspace (or, when the workspace has no such directory — nothing checked out yet — of
  the repository checkout the run is for). Only ``runs.using: composite`` runs; its steps run
  in their own :class:`~shipyard.ci.steps.Scope` with the ``inputs`` context (given ``with``
  values, else the declared ``default``, evaluated in the caller's context), their own
  ``steps`` context, ``github.action_path``/``GITHUB_ACTION_PATH``, and ``success()``/
  ``failure()`` reading the action's own status. After the steps, each declared output's
  ``value`` is evaluated in the action's context and becomes an output of the calling step.
  As on GitHub: a ``run`` step of a composite action must name its ``shell`` (the caller's
  ``defaults.run`` does not apply), ``GITHUB_ENV``/``GITHUB_PATH`` written inside apply to the
  following steps inside and after the action, ``INPUT_*`` variables are not set for
  composite steps (they read ``inputs``), a missing required input is not an error, and
  composite actions nest at most 9 deep.
* ``uses: owner/repo@ref`` registered in the :class:`~shipyard.ci.actions.ActionRegistry` —
  run in process with its inputs (defaults applied, ``INPUT_<NAME>`` set in its environment;
  unexpected inputs draw GitHub's warning; a missing required input fails the step with the
  toolkit's "Input required and not supplied").
* anything else (a remote action that is not built in, ``docker://``, a JavaScript or Docker
  local action) fails the step with a message naming what is available.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from shipyard.ci.actions import ActionContext, ActionRegistry, BuiltinAction
from shipyard.ci.expressions import evaluate_template, interpolate, to_string
from shipyard.ci.schema import Position, Step, env_text
from shipyard.ci.steps import Outcome, Scope, UsesCall
from shipyard.core.errors import BadRequestError, ShipyardError

__all__ = [
    "MAX_COMPOSITE_DEPTH",
    "ActionDispatcher",
    "CompositeAction",
    "CompositeInput",
    "load_action",
    "not_available_message",
]

MAX_COMPOSITE_DEPTH = 9
_STEP_KEYS = frozenset(
    {"id", "name", "if", "run", "shell", "uses", "with", "env", "working-directory",
     "continue-on-error", "timeout-minutes"}
)  # fmt: skip


@dataclass(frozen=True)
class CompositeInput:
    name: str
    default: str | None = None
    required: bool = False


@dataclass(frozen=True)
class CompositeAction:
    """A parsed local ``action.yml`` whose ``runs.using`` is ``composite``."""

    file: Path
    name: str
    inputs: tuple[CompositeInput, ...]
    outputs: Mapping[str, str]  # output name → value template
    steps: tuple[Step, ...]


def not_available_message(uses: str, registry: ActionRegistry) -> str:
    names = ", ".join(registry.names()) or "none"
    return (
        f'action "{uses}" is not available in Shipyard: built-in actions are {names}; '
        "use a run step or a local composite action"
    )


def load_action(directory: Path) -> CompositeAction:
    """Read ``action.yml``/``action.yaml`` in ``directory``; raises BadRequestError naming the
    file and field when it is missing, malformed or not a composite action."""
    candidates = (directory / "action.yml", directory / "action.yaml")
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise BadRequestError(
            f"Can't find 'action.yml' or 'action.yaml' under '{directory}'. Did you forget to "
            "run actions/checkout before running your local action?"
        )
    try:
        raw = YAML(typ="safe", pure=True).load(file.read_text(encoding="utf-8"))
    except (YAMLError, OSError) as err:
        raise BadRequestError(f"{file}: cannot read the action: {err}") from err
    top = _mapping(raw, file, "")
    runs = _mapping(top.get("runs"), file, "runs")
    using = str(runs.get("using", ""))
    if using != "composite":
        raise BadRequestError(
            f"{file}: runs.using is {using!r}; Shipyard runs only composite local actions "
            "(runs.using: composite)"
        )
    steps_raw = runs.get("steps")
    if not isinstance(steps_raw, list):
        raise BadRequestError(f"{file}: runs.steps must be a list of steps")
    return CompositeAction(
        file=file,
        name=str(top.get("name") or directory.name),
        inputs=_inputs(top.get("inputs"), file),
        outputs=_outputs(top.get("outputs"), file),
        steps=tuple(_step(item, i, file) for i, item in enumerate(steps_raw)),
    )


def _mapping(value: object, file: Path, path: str) -> Mapping[str, object]:
    if value is None and path != "runs":
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{file}: {path or 'the file'} must be a mapping")
    return {str(k): v for k, v in value.items()}


def _inputs(raw: object, file: Path) -> tuple[CompositeInput, ...]:
    out = []
    for name, spec in _mapping(raw, file, "inputs").items():
        spec_map = _mapping(spec, file, f"inputs.{name}")
        default = spec_map.get("default")
        out.append(
            CompositeInput(
                name,
                None if default is None else env_text(default),
                spec_map.get("required") is True,
            )
        )
    return tuple(out)


def _outputs(raw: object, file: Path) -> dict[str, str]:
    outputs = {}
    for name, spec in _mapping(raw, file, "outputs").items():
        value = _mapping(spec, file, f"outputs.{name}").get("value")
        if value is None:
            raise BadRequestError(f"{file}: outputs.{name}.value is required in a composite action")
        outputs[name] = env_text(value)
    return outputs


def _step(raw: object, index: int, file: Path) -> Step:
    path = f"runs.steps[{index}]"
    m = _mapping(raw, file, path)
    unknown = sorted(set(m) - _STEP_KEYS)
    if unknown:
        raise BadRequestError(f"{file}: {path}: unknown key(s) {', '.join(unknown)}")
    if ("run" in m) == ("uses" in m):
        raise BadRequestError(f"{file}: {path}: a step needs exactly one of 'run' or 'uses'")
    if "run" in m and "shell" not in m:
        raise BadRequestError(f"{file}: {path}.shell: Required property is missing: shell")
    return Step(
        index=index,
        position=Position(1, 1),
        id=_text(m.get("id")),
        name=_text(m.get("name")),
        uses=_text(m.get("uses")),
        run=_text(m.get("run")),
        with_=_strings(m.get("with"), file, f"{path}.with"),
        env=_strings(m.get("env"), file, f"{path}.env"),
        if_=_text(m.get("if")),
        shell=_text(m.get("shell")),
        working_directory=_text(m.get("working-directory")),
        continue_on_error=_flag(m.get("continue-on-error", False)),
        timeout_minutes=_number(m.get("timeout-minutes")),
    )


def _strings(value: object, file: Path, path: str) -> dict[str, str]:
    return {k: env_text(v) for k, v in _mapping(value, file, path).items()}


def _text(value: object) -> str | None:
    return None if value is None else env_text(value)


def _flag(value: object) -> bool | str:
    return value if isinstance(value, bool) else str(value)


def _number(value: object) -> float | str | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value) if isinstance(value, (int, float)) else str(value)


class ActionDispatcher:
    """Runs ``uses:`` steps for a job (see the module docstring)."""

    def __init__(self, registry: ActionRegistry) -> None:
        self._registry = registry

    def run_uses(self, call: UsesCall) -> Outcome:
        uses = call.uses.strip()
        try:
            if uses.startswith("./"):
                return self._composite(call, uses)
            action = None if uses.startswith("docker://") else self._registry.get(uses)
            if action is None:
                raise BadRequestError(not_available_message(uses, self._registry))
            return self._builtin(call, action)
        except ShipyardError as err:
            if call.cancel.cancelled:
                return "cancelled"
            call.job.emit(f"##[error]{err}")
            return "failure"

    # -- built-in actions ----------------------------------------------------------------

    def _builtin(self, call: UsesCall, action: BuiltinAction) -> Outcome:
        job = call.job
        declared = {spec.name.lower(): spec for spec in action.inputs}
        unexpected = [k for k in call.inputs if k.lower() not in declared]
        if unexpected:
            valid = ", ".join(f"'{spec.name}'" for spec in action.inputs)
            job.emit(
                f"##[warning]Unexpected input(s) {', '.join(repr(u) for u in unexpected)}, "
                f"valid inputs are [{valid}]"
            )
        inputs = self._builtin_inputs(call, action)
        env = dict(call.env)
        env |= {f"INPUT_{k.replace(' ', '_').upper()}": v for k, v in inputs.items()}
        ctx = ActionContext(
            inputs=inputs,
            env=env,
            workspace=job.workspace,
            repository_root=job.repository_root,
            github=_mapping_of(call.context.get("github")),
            masker=job.masker,
            executor=job.executor,
            cancel=call.cancel,
            log=job.emit,
            timeout=call.timeout,
        )
        action.run(ctx)
        processor = call.processor
        processor.outputs |= ctx.outputs
        processor.env |= ctx.exported
        processor.path.extend(ctx.path)
        return "cancelled" if call.cancel.cancelled else "success"

    @staticmethod
    def _builtin_inputs(call: UsesCall, action: BuiltinAction) -> dict[str, str]:
        given = {k.lower(): v for k, v in call.inputs.items()}
        options = call.runner.options(call.scope)
        inputs: dict[str, str] = {}
        for spec in action.inputs:
            if spec.name.lower() in given:
                inputs[spec.name] = given[spec.name.lower()]
            elif spec.required:
                raise BadRequestError(f"Input required and not supplied: {spec.name}")
            else:
                inputs[spec.name] = interpolate(spec.default, call.context, options=options)
        return inputs

    # -- composite actions ---------------------------------------------------------------

    def _composite(self, call: UsesCall, uses: str) -> Outcome:
        job, scope = call.job, call.scope
        if scope.depth >= MAX_COMPOSITE_DEPTH:
            raise BadRequestError(
                f"composite action {uses!r} is nested more than {MAX_COMPOSITE_DEPTH} deep"
            )
        relative = uses[2:].split("@", 1)[0]
        directory = job.workspace / relative
        if not directory.is_dir():
            directory = job.repository_root / relative
        action = load_action(directory)
        inner = Scope(
            inputs=self._composite_inputs(call, action),
            env={**scope.env, **call.step_env},
            action_path=str(directory.resolve()),
            depth=scope.depth + 1,
        )
        cancelled = False
        for index, step in enumerate(action.steps):
            outcome = call.runner.run(step, inner, index)
            cancelled = cancelled or outcome.record.outcome == "cancelled"
        context = call.runner.context(inner, {})
        options = call.runner.options(inner)
        for name, template in action.outputs.items():
            call.processor.outputs[name] = to_string(
                evaluate_template(template, context, options=options)
            )
        if inner.failed:
            return "failure"
        return "cancelled" if cancelled else "success"

    @staticmethod
    def _composite_inputs(call: UsesCall, action: CompositeAction) -> dict[str, object]:
        given = {k.lower(): v for k, v in call.inputs.items()}
        declared = {spec.name.lower() for spec in action.inputs}
        unexpected = [k for k in call.inputs if k.lower() not in declared]
        if unexpected:
            valid = ", ".join(f"'{spec.name}'" for spec in action.inputs)
            call.job.emit(
                f"##[warning]Unexpected input(s) {', '.join(repr(u) for u in unexpected)}, "
                f"valid inputs are [{valid}]"
            )
        options = call.runner.options(call.scope)
        inputs: dict[str, object] = {}
        for spec in action.inputs:
            if spec.name.lower() in given:
                inputs[spec.name] = given[spec.name.lower()]
            elif spec.default is not None:
                inputs[spec.name] = interpolate(spec.default, call.context, options=options)
            else:
                inputs[spec.name] = ""
        return inputs


def _mapping_of(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}
