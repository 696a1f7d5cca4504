"""The built-in functions, as GitHub documents them.

Every function receives its arguments as zero-argument callables so that ``case`` can
stop at the first true predicate, as GitHub's does; the others simply call them all.
Status functions read the job's status from the evaluation context (``job.status``;
inside a composite action ``success()``/``failure()`` read ``github.action_status``, the
status of the composite's own steps). A missing status means nothing has failed yet.

``hashFiles`` is only a hook here: the caller passes ``EvaluationOptions.hash_files``
(the runner knows the workspace); without it the call is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.ci.expressions.values import (
    equals,
    fold_case,
    kind_of,
    to_json,
    to_string,
)

__all__ = ["ARITY", "FUNCTIONS", "STATUS_FUNCTIONS", "EvaluationOptions", "Function"]

Thunk = Callable[[], object]


@dataclass(frozen=True)
class EvaluationOptions:
    """How to evaluate: what the context alone cannot say."""

    in_composite_action: bool = False
    #: hashFiles(patterns) → hex digest; the runner supplies it with the workspace.
    hash_files: Callable[[Sequence[str]], str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CallEnv:
    context: Mapping[str, object]
    options: EvaluationOptions


class FunctionError(Exception):
    """Raised by a function body; the evaluator adds the position and wraps it."""


@dataclass(frozen=True)
class Function:
    name: str
    fewest: int
    most: int | None
    run: Callable[[Sequence[Thunk], CallEnv], object]


def _values(args: Sequence[Thunk]) -> list[object]:
    return [arg() for arg in args]


def _is_primitive(value: object) -> bool:
    return kind_of(value) not in ("Array", "Object")


def _contains(args: Sequence[Thunk], env: CallEnv) -> object:
    search, item = _values(args)
    if isinstance(search, list):
        return any(equals(element, item) for element in search)
    if not (_is_primitive(search) and _is_primitive(item)):
        return False
    return fold_case(to_string(item)) in fold_case(to_string(search))


def _starts_with(args: Sequence[Thunk], env: CallEnv) -> object:
    text, prefix = _values(args)
    if not (_is_primitive(text) and _is_primitive(prefix)):
        return False
    return fold_case(to_string(text)).startswith(fold_case(to_string(prefix)))


def _ends_with(args: Sequence[Thunk], env: CallEnv) -> object:
    text, suffix = _values(args)
    if not (_is_primitive(text) and _is_primitive(suffix)):
        return False
    return fold_case(to_string(text)).endswith(fold_case(to_string(suffix)))


def _format(args: Sequence[Thunk], env: CallEnv) -> object:
    template, *rest = _values(args)
    return format_string(to_string(template), [to_string(value) for value in rest])


def format_string(template: str, args: Sequence[str]) -> str:
    """``format``: ``{N}`` is argument N, ``{{``/``}}`` are literal braces."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i + 1 : i + 2] == char:
            out.append(char)
            i += 2
        elif char == "{":
            close = template.find("}", i)
            number = template[i + 1 : close] if close > 0 else ""
            if not number.isdigit():
                raise FunctionError(f"The following format string is invalid: {template}")
            if int(number) >= len(args):
                raise FunctionError(
                    "The following format string references more arguments than were "
                    f"supplied: {template}"
                )
            out.append(args[int(number)])
            i = close + 1
        elif char == "}":
            raise FunctionError(f"The following format string is invalid: {template}")
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _join(args: Sequence[Thunk], env: CallEnv) -> object:
    values = _values(args)
    separator = "," if len(values) < 2 or not _is_primitive(values[1]) else to_string(values[1])
    items = values[0]
    if isinstance(items, list):
        return separator.join(to_string(item) if _is_primitive(item) else "" for item in items)
    return to_string(items) if _is_primitive(items) else ""


def _to_json(args: Sequence[Thunk], env: CallEnv) -> object:
    return to_json(args[0]())


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _from_json(args: Sequence[Thunk], env: CallEnv) -> object:
    text = to_string(args[0]())
    try:
        return json.loads(text, parse_int=float, parse_constant=_reject_constant)
    except ValueError as error:
        raise FunctionError(f"fromJSON: the string is not valid JSON ({error}): {text}") from error


def _case(args: Sequence[Thunk], env: CallEnv) -> object:
    if len(args) % 2 == 0:
        raise FunctionError(
            "case needs pairs of predicate and value followed by a default value "
            f"(an odd number of arguments), got {len(args)}"
        )
    for index in range(0, len(args) - 1, 2):
        predicate = args[index]()
        if not isinstance(predicate, bool):
            raise FunctionError("case predicate must evaluate to a boolean value")
        if predicate:
            return args[index + 1]()
    return args[-1]()


def _hash_files(args: Sequence[Thunk], env: CallEnv) -> object:
    if env.options.hash_files is None:
        raise FunctionError("hashFiles is not available here: no workspace to hash files in")
    return env.options.hash_files([to_string(value) for value in _values(args)])


def _lookup(container: object, name: str) -> object:
    if not isinstance(container, Mapping):
        return None
    if name in container:
        return container[name]
    folded = name.lower()
    return next((v for k, v in container.items() if str(k).lower() == folded), None)


def job_status(env: CallEnv, *, own_steps: bool) -> str:
    """The status the status functions test; a missing status means no failure yet."""
    status = None
    if own_steps and env.options.in_composite_action:
        status = _lookup(_lookup(env.context, "github"), "action_status")
    if status is None:
        status = _lookup(_lookup(env.context, "job"), "status")
    return "success" if status is None else to_string(status).lower()


def _success(args: Sequence[Thunk], env: CallEnv) -> object:
    return job_status(env, own_steps=True) == "success"


def _failure(args: Sequence[Thunk], env: CallEnv) -> object:
    return job_status(env, own_steps=True) == "failure"


def _cancelled(args: Sequence[Thunk], env: CallEnv) -> object:
    return job_status(env, own_steps=False) == "cancelled"


def _always(args: Sequence[Thunk], env: CallEnv) -> object:
    return True


FUNCTIONS: dict[str, Function] = {
    function.name.lower(): function
    for function in (
        Function("contains", 2, 2, _contains),
        Function("startsWith", 2, 2, _starts_with),
        Function("endsWith", 2, 2, _ends_with),
        Function("format", 1, None, _format),
        Function("join", 1, 2, _join),
        Function("toJSON", 1, 1, _to_json),
        Function("fromJSON", 1, 1, _from_json),
        Function("case", 3, None, _case),
        Function("hashFiles", 1, None, _hash_files),
        Function("success", 0, 0, _success),
        Function("failure", 0, 0, _failure),
        Function("cancelled", 0, 0, _cancelled),
        Function("always", 0, 0, _always),
    )
}
ARITY = {key: (f.name, f.fewest, f.most) for key, f in FUNCTIONS.items()}
STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})
