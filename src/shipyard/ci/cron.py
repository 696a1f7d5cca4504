"""When an ``on.schedule`` cron is due: the ``schedule`` event of a workflow.

GitHub runs a scheduled workflow when one of its ``on.schedule`` crons is due, in UTC, with
the cron that fired in ``github.event.schedule``. :func:`due_crons` answers "which of these
crons are due at this minute (UTC)?"; the trigger filter then matches a ``schedule`` event by
that cron string (:func:`shipyard.ci.filters.evaluate_trigger`).

The syntax is POSIX cron, five fields (minute, hour, day of month, month, day of week),
already validated by :func:`shipyard.ci.schema.cron_problems`: values, ``a-b`` ranges,
``*``, ``/step`` on a range or ``*`` (``5/15`` means ``5-59/15``, as cron reads it), lists
with ``,`` and the month and weekday names ``JAN``…``DEC`` and ``SUN``…``SAT``. As in cron,
when both the day of month and the day of week are restricted (neither starts with ``*``) a
day matches if *either* does; otherwise both must.

GitHub may start a scheduled run late under load, and never runs one more often than every
five minutes; Shipyard decides on the exact minute and leaves the shortest interval to the
caller (the CLI runs one decision per invocation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from shipyard.ci.schema import cron_problems
from shipyard.core.errors import FieldError, InvalidError

__all__ = ["cron_matches", "due_crons"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (lowest, highest, names mapped to lowest + index), in field order
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)


def _value(text: str, low: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    return low + names.index(upper) if upper in names else int(text)


def _field_values(text: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if span == "*":
            first, last = low, high
        else:
            start, dash, end = span.partition("-")
            first = _value(start, low, names)
            last = _value(end, low, names) if dash else (high if slash else first)
        values.update(range(first, last + 1, step))
    return frozenset(values)


def cron_matches(expression: str, at: datetime) -> bool:
    """Whether the cron ``expression`` is due in the minute of ``at`` (taken in UTC).

    Raises InvalidError (field ``cron``) for an expression that is not a valid cron.
    """
    problems = cron_problems(expression)
    if problems:
        raise InvalidError(f"cron {expression!r}", [FieldError("cron", p) for p in problems])
    if at.tzinfo is None:
        raise InvalidError("schedule", [FieldError("at", "must carry a time zone (UTC)")])
    moment = at.astimezone(UTC)
    fields = expression.split()
    minute, hour, day, month, weekday = (
        _field_values(text, low, high, names)
        for text, (low, high, names) in zip(fields, _FIELDS, strict=True)
    )
    if moment.minute not in minute or moment.hour not in hour or moment.month not in month:
        return False
    day_ok = moment.day in day
    weekday_ok = moment.isoweekday() % 7 in weekday  # Sunday is 0
    if fields[2].startswith("*") or fields[4].startswith("*"):
        return day_ok and weekday_ok
    return day_ok or weekday_ok


def due_crons(crons: Iterable[str], at: datetime) -> tuple[str, ...]:
    """The crons of ``crons`` due in the minute of ``at`` (UTC), in their order."""
    return tuple(cron for cron in crons if cron_matches(cron, at))
