"""``strategy.matrix`` expansion: one job per combination, with GitHub's documented rules.

1. Every key other than ``include`` / ``exclude`` is a *vector*: a non-empty list of values.
   The combinations are the cartesian product of the vectors in key order, the first key
   outermost (``os: [a, b]``, ``node: [1, 2]`` gives a1, a2, b1, b2).
2. ``exclude`` removes every combination that equals an entry on all of the entry's keys
   (partial matches exclude several combinations). An exclude key that names no vector is
   an error, as on GitHub.
3. ``include`` entries are then applied in order. An entry is merged into every *original*
   combination (one built from the vectors) whose original values it does not contradict;
   keys it adds may overwrite keys an earlier include added, never original values. An
   entry that merges into no original combination becomes a new combination of its own.
   With no vectors at all, each include entry is its own combination.
4. At most 256 combinations (GitHub's per-workflow-run limit for one matrix); more is an
   error. Without a matrix the job runs once, with an empty matrix context.

Values compare by JSON equality (``true`` is not ``1``). Expressions such as
``${{ fromJSON(...) }}`` are evaluated by the caller before expansion; here a matrix is plain
data.

The job name GitHub shows for a combination is the job's name followed by the combination's
values in order, comma-separated in parentheses: ``build (ubuntu-latest, 14)``. Strings are
shown as-is, numbers and booleans as JSON; Shipyard shows nested objects and lists as compact
JSON. A job whose own ``name:`` uses the matrix context shows that name instead (the caller
decides, since it evaluates ``name:``).

Deliberate difference: a matrix whose combinations are all excluded (and that has no
include) is reported as an error here rather than silently producing no job.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence

from shipyard.core.errors import FieldError, InvalidError

__all__ = ["MAX_JOBS", "expand_matrix", "format_matrix_value", "job_display_name"]

MAX_JOBS = 256

Combination = dict[str, object]


def _invalid(where: str, message: str) -> InvalidError:
    return InvalidError("strategy.matrix", [FieldError(where, message)])


def _same(a: object, b: object) -> bool:
    """JSON equality: booleans never equal numbers, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _entries(matrix: Mapping[str, object], key: str, where: str) -> list[Mapping[str, object]]:
    raw = matrix.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid(f"{where}.{key}", "must be a list of mappings")
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not all(isinstance(k, str) for k in entry):
            raise _invalid(f"{where}.{key}[{index}]", "must be a mapping of matrix keys")
    return list(raw)


def _vectors(matrix: Mapping[str, object], where: str) -> dict[str, list[object]]:
    vectors: dict[str, list[object]] = {}
    for key, values in matrix.items():
        if key in ("include", "exclude"):
            continue
        if not isinstance(values, list):
            raise _invalid(f"{where}.{key}", f"matrix vector {key!r} must be a list of values")
        if not values:
            raise _invalid(f"{where}.{key}", f"matrix vector {key!r} does not contain any values")
        vectors[str(key)] = values
    return vectors


def _check_excludes(
    excludes: list[Mapping[str, object]], vectors: Mapping[str, object], where: str
) -> None:
    for index, entry in enumerate(excludes):
        for key in entry:
            if key not in vectors:
                raise _invalid(
                    f"{where}.exclude[{index}].{key}",
                    f"matrix exclude key {key!r} does not match any key within the matrix",
                )


def _excluded(combo: Combination, excludes: list[Mapping[str, object]]) -> bool:
    return any(all(_same(combo[k], v) for k, v in entry.items()) for entry in excludes)


def _product(vectors: dict[str, list[object]]) -> Iterator[Combination]:
    keys = list(vectors)
    for values in itertools.product(*(vectors[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def _originals(
    vectors: dict[str, list[object]], excludes: list[Mapping[str, object]], where: str
) -> list[Combination]:
    kept: list[Combination] = []
    for combo in _product(vectors):
        if _excluded(combo, excludes):
            continue
        kept.append(combo)
        if len(kept) > MAX_JOBS:
            raise _too_many(where)
    return kept


def _too_many(where: str) -> InvalidError:
    return _invalid(where, f"the matrix produces more than {MAX_JOBS} jobs (GitHub's limit)")


def _apply_includes(
    originals: list[Combination], vector_keys: Sequence[str], includes: list[Mapping[str, object]]
) -> list[Combination]:
    combos = [dict(c) for c in originals]
    added: list[Combination] = []
    for entry in includes:
        fixed = {k: v for k, v in entry.items() if k in vector_keys}
        merged = False
        for original, combo in zip(originals, combos, strict=True):
            if all(_same(original[k], v) for k, v in fixed.items()):
                combo.update(entry)
                merged = True
        if not merged:
            added.append(dict(entry))
    return combos + added


def expand_matrix(matrix: object, *, where: str = "strategy.matrix") -> list[Combination]:
    """Every combination ``matrix`` expands to, in GitHub's order.

    ``None`` (no matrix) gives one empty combination. Raises InvalidError, naming the field
    under ``where``, for a malformed matrix or more than ``MAX_JOBS`` combinations.
    """
    if matrix is None:
        return [{}]
    if not isinstance(matrix, Mapping) or not all(isinstance(k, str) for k in matrix):
        raise _invalid(where, "must be a mapping of vectors (evaluate expressions first)")
    vectors = _vectors(matrix, where)
    excludes = _entries(matrix, "exclude", where)
    includes = _entries(matrix, "include", where)
    _check_excludes(excludes, vectors, where)
    originals = _originals(vectors, excludes, where) if vectors else []
    if vectors and not originals and not includes:
        raise _invalid(f"{where}.exclude", "every combination is excluded; no job would run")
    combos = _apply_includes(originals, list(vectors), includes)
    if len(combos) > MAX_JOBS:
        raise _too_many(where)
    return combos or [{}]


def format_matrix_value(value: object) -> str:
    """How a matrix value appears in a job name: strings as-is, everything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def job_display_name(name: str, combination: Mapping[str, object]) -> str:
    """``name (v1, v2, ...)`` for a matrix combination; just ``name`` without one."""
    if not combination:
        return name
    values = ", ".join(format_matrix_value(v) for v in combination.values())
    return f"{name} ({values})"
