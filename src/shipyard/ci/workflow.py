"""Workflow files: parse with positions, validate against GitHub's syntax, build a typed model.

``parse_workflow(text, file=...)`` reads YAML with ruamel.yaml's round-trip loader, which keeps
the line and column of every key, value and list item. A single ``_Checker`` walks the
document once, validating each field against GitHub's documented workflow syntax while it
builds the frozen model (``Workflow`` → ``Trigger`` / ``Job`` → ``Step``, defined in
``shipyard.ci.schema`` and re-exported here); the ``on:`` section is read by its base class,
``TriggerReader`` of ``shipyard.ci.triggers``. It never stops at
the first problem: every problem is collected and raised together as one ``WorkflowError``
whose lines read ``file:line:column: field.path: what is wrong — what to write instead``.

What the model holds:

- Expressions (``${{ ... }}``) are kept as text. Fields GitHub types as boolean or number
  (``continue-on-error``, ``timeout-minutes``, ``fail-fast``, ``max-parallel``,
  ``cancel-in-progress``) accept either the typed value or a string holding an expression.
- ``env`` and step ``with`` values are strings, as GitHub passes them (``true`` → ``"true"``,
  ``3`` → ``"3"``); a reusable-workflow caller's ``with`` keeps its YAML types, since the
  called workflow's inputs are typed.
- ``Workflow.jobs`` is in topological order of ``needs`` (ties keep file order), so a runner
  can start jobs front to back; ``needs`` naming a missing job, the job itself, or forming a
  cycle is an error.
- Triggers are described in ``shipyard.ci.triggers``: their configurations are kept as
  plain data for ``shipyard.ci.filters``, their filter patterns checked when the file loads.

Like GitHub, duplicate and unknown keys are errors; Shipyard adds the closest known key as
the suggestion. Deliberate differences: the YAML is read as YAML 1.2 (``on`` is a plain key,
not the boolean ``true`` of YAML 1.1). Reusable-workflow callers (``jobs.<id>.uses``) are
checked for shape only; the called file is read when the job runs. Expressions are not
parsed here, so a malformed ``${{`` is reported when it is evaluated, not at load time.
Model mappings are plain ``dict`` typed as ``Mapping``: the dataclasses are frozen, their
contents are not copied into immutable types.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from shipyard.ci.schema import (
    DEFAULT_TIMEOUT_MINUTES,
    ID_PATTERN,
    JOB_KEYS,
    REUSABLE_JOB_KEYS,
    STEP_KEYS,
    TOP_LEVEL_KEYS,
    Input,
    Job,
    Plain,
    Position,
    Step,
    Strategy,
    Trigger,
    Workflow,
    WorkflowError,
    WorkflowProblem,
    describe,
    is_expression,
    join_path,
    plain_mapping,
    source_key,
    to_plain,
)
from shipyard.ci.triggers import TriggerReader

__all__ = [
    "DEFAULT_TIMEOUT_MINUTES",
    "Input",
    "Job",
    "Position",
    "Step",
    "Strategy",
    "Trigger",
    "Workflow",
    "WorkflowError",
    "WorkflowProblem",
    "load_workflow",
    "parse_workflow",
]

_LOCAL_WORKFLOW = re.compile(r"\./\.github/workflows/[^/@]+\.ya?ml")
_REMOTE_WORKFLOW = re.compile(r"[^/@\s]+/[^/@\s]+/\.github/workflows/[^/@]+\.ya?ml@[^@\s]+")
_ACTION = re.compile(r"[^/@\s]+/[^/@\s]+(/[^@\s]+)?@[^@\s]+")


def load_workflow(path: str | Path) -> Workflow:
    """Read and parse the workflow file at ``path``."""
    file = Path(path)
    return parse_workflow(file.read_text(encoding="utf-8"), file=str(file))


def parse_workflow(text: str, *, file: str = "<workflow>") -> Workflow:
    """Parse and validate workflow YAML; raises WorkflowError listing every problem."""
    root = _load_yaml(text, file)
    checker = _Checker(file)
    workflow = checker.workflow(root)
    if checker.problems or workflow is None:
        raise WorkflowError(file, checker.problems)
    return workflow


def _load_yaml(text: str, file: str) -> object:
    yaml = YAML(typ="rt", pure=True)
    try:
        return yaml.load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        hint = "give each key once per mapping" if "duplicate" in problem else "fix the YAML syntax"
        raise WorkflowError(
            file, [WorkflowProblem(file, line, column, "", f"YAML: {problem}", hint)]
        ) from err
    except YAMLError as err:
        raise WorkflowError(
            file, [WorkflowProblem(file, 1, 1, "", f"YAML: {err}", "fix the YAML syntax")]
        ) from err


class _Checker(TriggerReader):
    """Walks the document once, recording problems and building the model."""

    # -- workflow ----------------------------------------------------------------------------

    def workflow(self, root: object) -> Workflow | None:
        top = self.mapping(root, Position(1, 1), "")
        if top is None:
            return None
        self.keys(top, TOP_LEVEL_KEYS, "")
        for required in ("on", "jobs"):
            if required not in top:
                self.err(
                    Position(1, 1),
                    required,
                    f"the workflow has no {required!r} key",
                    f"add a top-level `{required}:` section",
                )
        return Workflow(
            file=self.file,
            name=self.string(top, "name", ""),
            run_name=self.string(top, "run-name", ""),
            triggers=self.triggers(top) if "on" in top else (),
            jobs=self.jobs(top) if "jobs" in top else (),
            env=self.string_map(top, "env", ""),
            defaults_run=self.defaults(top, ""),
            permissions=self.permissions(top, ""),
            concurrency=self.concurrency(top, ""),
        )

    # -- jobs --------------------------------------------------------------------------------

    def jobs(self, top: Mapping[object, object]) -> tuple[Job, ...]:
        raw = self.mapping(top["jobs"], self.value_loc(top, "jobs"), "jobs")
        if raw is None:
            return ()
        if not raw:
            self.err(
                self.value_loc(top, "jobs"),
                "jobs",
                "the workflow has no jobs",
                "add a job with `runs-on:` and `steps:`",
            )
        jobs: list[Job] = []
        for job_id, spec in raw.items():
            job = self.job(raw, str(job_id), spec)
            if job is not None:
                jobs.append(job)
        self.check_needs(raw, jobs, {str(k) for k in raw})
        return self.ordered(raw, jobs)

    def job(self, raw: Mapping[object, object], job_id: str, spec: object) -> Job | None:
        path, loc = f"jobs.{job_id}", self.key_loc(raw, job_id)
        if not ID_PATTERN.fullmatch(job_id):
            self.err(
                loc,
                path,
                f"invalid job id {job_id!r}",
                "start with a letter or _, then use only letters, digits, _ or -",
            )
        m = self.mapping(spec, self.value_loc(raw, job_id), path)
        if m is None:
            return None
        reusable = "uses" in m
        self.keys(m, REUSABLE_JOB_KEYS if reusable else JOB_KEYS, path)
        needs = tuple(
            n
            for n, _ in self.string_list(
                m.get("needs", []),
                self.value_loc(m, "needs") if "needs" in m else loc,
                f"{path}.needs",
            )
        )
        base = Job(
            id=job_id,
            position=loc,
            name=self.string(m, "name", path),
            needs=needs,
            if_=self.condition(m, "if", path),
            strategy=self.strategy(m, path),
            permissions=self.permissions(m, path),
            concurrency=self.concurrency(m, path),
        )
        if reusable:
            return self.reusable_job(m, path, base)
        return self.normal_job(m, path, base)

    def reusable_job(
        self,
        m: Mapping[object, object],
        path: str,
        base: Job,
    ) -> Job:
        uses = self.string(m, "uses", path) or ""
        if not (_LOCAL_WORKFLOW.fullmatch(uses) or _REMOTE_WORKFLOW.fullmatch(uses)):
            self.err(
                self.value_loc(m, "uses"),
                f"{path}.uses",
                f"{uses!r} is not a reusable workflow reference",
                "write ./.github/workflows/FILE.yml or OWNER/REPO/.github/workflows/FILE.yml@REF",
            )
        with_: dict[str, Plain] = {}
        if (
            "with" in m
            and (w := self.mapping(m["with"], self.value_loc(m, "with"), f"{path}.with"))
            is not None
        ):
            with_ = {str(k): to_plain(v) for k, v in w.items()}
        secrets: dict[str, str] | str | None = None
        if m.get("secrets") == "inherit":
            secrets = "inherit"
        elif "secrets" in m:
            secrets = self.string_map(m, "secrets", path)
        return replace(base, uses=uses, with_=with_, secrets=secrets)

    def normal_job(
        self,
        m: Mapping[object, object],
        path: str,
        base: Job,
    ) -> Job:
        loc = base.position
        if "runs-on" not in m:
            self.err(
                loc,
                f"{path}.runs-on",
                "the job has no runs-on",
                "add `runs-on: ubuntu-latest` (or the labels of your runner)",
            )
        else:
            self.runs_on(m, path)
        steps = self.steps(m, loc, path)
        timeout = self.number(m, "timeout-minutes", path)
        return replace(
            base,
            runs_on=to_plain(m.get("runs-on")),
            env=self.string_map(m, "env", path),
            outputs=self.string_map(m, "outputs", path),
            timeout_minutes=DEFAULT_TIMEOUT_MINUTES if timeout is None else timeout,
            continue_on_error=self.flag(m, "continue-on-error", path, False),
            steps=steps,
            defaults_run=self.defaults(m, path),
            environment=to_plain(m.get("environment")),
        )

    def runs_on(self, m: Mapping[object, object], path: str) -> None:
        value, loc = m["runs-on"], self.value_loc(m, "runs-on")
        if isinstance(value, Mapping):
            self.keys(value, ("group", "labels"), f"{path}.runs-on")
            return
        if not self.string_list(value, loc, f"{path}.runs-on") and not self.problems_at(loc):
            self.err(
                loc, f"{path}.runs-on", "no runner labels given", "write `runs-on: ubuntu-latest`"
            )

    def problems_at(self, loc: Position) -> bool:
        return any((p.line, p.column) == (loc.line, loc.column) for p in self.problems)

    def strategy(self, m: Mapping[object, object], path: str) -> Strategy | None:
        if "strategy" not in m:
            return None
        where = f"{path}.strategy"
        s = self.mapping(m["strategy"], self.value_loc(m, "strategy"), where)
        if s is None:
            return None
        self.keys(s, ("matrix", "fail-fast", "max-parallel"), where)
        matrix = self.matrix(s, where) if "matrix" in s else None
        max_parallel = self.number(s, "max-parallel", where, integer=True)
        return Strategy(
            matrix,
            self.flag(s, "fail-fast", where, True),
            max_parallel if not isinstance(max_parallel, float) else None,
        )

    def matrix(self, s: Mapping[object, object], path: str) -> Mapping[str, Plain] | str | None:
        value, loc, where = s["matrix"], self.value_loc(s, "matrix"), f"{path}.matrix"
        if is_expression(value):
            return str(value)
        m = self.mapping(value, loc, where)
        if m is None:
            return None
        for key, axis in m.items():
            key_path, axis_loc = f"{where}.{key}", self.value_loc(m, key)
            if is_expression(axis):
                continue
            if key in ("include", "exclude"):
                if not isinstance(axis, list) or not all(isinstance(x, Mapping) for x in axis):
                    self.err(
                        axis_loc,
                        key_path,
                        f"must be a list of mappings, got {describe(axis)}",
                        f"write `- {{os: ubuntu-latest}}` entries under {key}",
                    )
            elif not isinstance(axis, list) or not axis:
                self.err(
                    axis_loc,
                    key_path,
                    f"a matrix axis must be a non-empty list, got {describe(axis)}",
                    f"write `{key}: [a, b]`",
                )
        return plain_mapping(m)

    # -- steps -------------------------------------------------------------------------------

    def steps(self, m: Mapping[object, object], loc: Position, path: str) -> tuple[Step, ...]:
        raw = m.get("steps")
        where = f"{path}.steps"
        if not isinstance(raw, list) or not raw:
            step_loc = self.value_loc(m, "steps") if "steps" in m else loc
            self.err(
                step_loc,
                where,
                f"a job needs a non-empty list of steps, got {describe(raw)}",
                "add `steps:` with `- run: ...` or `- uses: ...` items",
            )
            return ()
        steps: list[Step] = []
        seen: set[str] = set()
        for index, spec in enumerate(raw):
            step = self.step(raw, index, spec, f"{where}[{index}]")
            if step is None:
                continue
            if step.id is not None and step.id in seen:
                self.err(
                    self.value_loc(spec, "id"),
                    f"{where}[{index}].id",
                    f"step id {step.id!r} is already used in this job",
                    "give each step a unique id",
                )
            seen.add(step.id or "")
            steps.append(step)
        return tuple(steps)

    def step(self, raw: Sequence[object], index: int, spec: object, path: str) -> Step | None:
        loc = self.value_loc(raw, index)
        m = self.mapping(spec, loc, path)
        if m is None:
            return None
        self.keys(m, STEP_KEYS, path)
        has_uses, has_run = "uses" in m, "run" in m
        if has_uses == has_run:
            what = "both uses and run" if has_uses else "neither uses nor run"
            self.err(
                loc,
                path,
                f"a step needs exactly one of uses or run, it has {what}",
                "split it into two steps"
                if has_uses
                else "add `run: COMMAND` or `uses: OWNER/REPO@REF`",
            )
        step_id = self.string(m, "id", path)
        if step_id is not None and not ID_PATTERN.fullmatch(step_id):
            self.err(
                self.value_loc(m, "id"),
                f"{path}.id",
                f"invalid step id {step_id!r}",
                "start with a letter or _, then use only letters, digits, _ or -",
            )
        self.step_kind_keys(m, path, has_uses)
        timeout = self.number(m, "timeout-minutes", path)
        return Step(
            index=index,
            position=loc,
            id=step_id,
            name=self.string(m, "name", path),
            uses=self.uses(m, path),
            run=self.string(m, "run", path),
            with_=self.string_map(m, "with", path),
            env=self.string_map(m, "env", path),
            if_=self.condition(m, "if", path),
            shell=self.string(m, "shell", path),
            working_directory=self.string(m, "working-directory", path),
            continue_on_error=self.flag(m, "continue-on-error", path, False),
            timeout_minutes=timeout,
        )

    def step_kind_keys(self, m: Mapping[object, object], path: str, has_uses: bool) -> None:
        wrong = ("shell", "working-directory") if has_uses else ("with",)
        for key in wrong:
            if key in m:
                need = "run" if has_uses else "uses"
                self.err(
                    self.key_loc(m, key),
                    join_path(path, key),
                    f"{key} only applies to a step with {need}",
                    f"remove {key} or make this a `{need}:` step",
                )

    def uses(self, m: Mapping[object, object], path: str) -> str | None:
        uses = self.string(m, "uses", path)
        if uses is None:
            return None
        ok = uses.startswith(("./", "docker://")) or _ACTION.fullmatch(uses)
        if not ok:
            self.err(
                self.value_loc(m, "uses"),
                f"{path}.uses",
                f"{uses!r} is not an action reference",
                "write OWNER/REPO@REF, OWNER/REPO/PATH@REF, ./PATH or docker://IMAGE",
            )
        return uses

    # -- needs graph -------------------------------------------------------------------------

    def check_needs(self, raw: Mapping[object, object], jobs: list[Job], ids: set[str]) -> None:
        for job in jobs:
            spec = raw[source_key(raw, job.id)]
            assert isinstance(spec, Mapping)
            loc = self.value_loc(spec, "needs") if "needs" in spec else job.position
            for need in job.needs:
                if need == job.id:
                    self.err(
                        loc,
                        f"jobs.{job.id}.needs",
                        f"job {job.id!r} needs itself",
                        "remove it from needs",
                    )
                elif need not in ids:
                    close = difflib.get_close_matches(need, sorted(ids), n=1)
                    others = ", ".join(sorted(ids - {job.id})) or "none; add the job first"
                    hint = (
                        f"did you mean {close[0]!r}?" if close else f"jobs you can need: {others}"
                    )
                    self.err(loc, f"jobs.{job.id}.needs", f"job {need!r} does not exist", hint)

    def ordered(self, raw: Mapping[object, object], jobs: list[Job]) -> tuple[Job, ...]:
        by_id = {job.id: job for job in jobs}
        deps = {j.id: {n for n in j.needs if n in by_id and n != j.id} for j in jobs}
        order: list[Job] = []
        done: set[str] = set()
        progress = True
        while progress:
            progress = False
            for job in jobs:
                if job.id not in done and deps[job.id] <= done:
                    order.append(job)
                    done.add(job.id)
                    progress = True
                    break
        left = [j for j in jobs if j.id not in done]
        if left:
            self.report_cycle(raw, left[0], deps, {j.id for j in left})
        return tuple(order)

    def report_cycle(
        self,
        raw: Mapping[object, object],
        start: Job,
        deps: Mapping[str, set[str]],
        left: set[str],
    ) -> None:
        path = [start.id]
        while True:
            nxt = sorted(deps[path[-1]] & left)[0]
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                break
            path.append(nxt)
        first = cycle[0]
        spec = raw[source_key(raw, first)]
        assert isinstance(spec, Mapping)
        self.err(
            self.value_loc(spec, "needs"),
            f"jobs.{first}.needs",
            f"needs form a cycle: {' -> '.join(cycle)}",
            "remove one of these needs so the jobs can run in order",
        )
