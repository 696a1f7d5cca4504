"""Cron schedules of disruption budgets: five fields or an ``@daily``-style macro.

A NodePool budget's ``schedule`` follows the standard cron syntax Karpenter documents (the
same as a CronJob's, without time zones): ``minute hour day-of-month month day-of-week``, each
field a comma-separated list of ``*``, ``n``, ``a-b`` or any of them with ``/step``; months and
weekdays may be written as names (``jan``, ``mon``), ``?`` means ``*`` in the two day fields,
and the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight`` and ``@hourly`` stand for their five-field forms.

:func:`parse_cron` returns a :class:`CronSchedule` (the allowed values of each field) or
raises ``ValueError`` with a message naming the field and what is wrong with it.
:meth:`CronSchedule.matches` applies cron's day rule: when both day fields are restricted, a
day matches if *either* does.

Deliberate difference from Karpenter: Karpenter's CRD only checks the rough shape (a macro,
or five whitespace-separated parts) and reports a bad field when the budget is evaluated;
Shipyard parses the whole expression at admission, so ``0 25 * * *`` is rejected when the
NodePool is applied. ``@every`` and ``TZ=`` prefixes are rejected, as the CRD pattern does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MACROS", "CronSchedule", "parse_cron"]

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    question_mark: bool = False  # "?" allowed as "*"


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31, question_mark=True),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 6, _WEEKDAYS, question_mark=True),
)


@dataclass(frozen=True)
class CronSchedule:
    """The values each field allows; ``*_star`` records a day field written as ``*``/``?``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    day_of_month_star: bool
    day_of_week_star: bool

    def matches(self, minute: int, hour: int, day: int, month: int, weekday: int) -> bool:
        """True when the schedule fires at that minute (``weekday`` 0 is Sunday)."""
        if minute not in self.minutes or hour not in self.hours or month not in self.months:
            return False
        by_date = day in self.days_of_month
        by_weekday = weekday in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return by_date and by_weekday
        return by_date or by_weekday


def parse_cron(text: str) -> CronSchedule:
    """A schedule from five fields or a macro; ``ValueError`` saying what is wrong."""
    expanded = MACROS.get(text.strip(), text) if text.startswith("@") else text
    if expanded.startswith("@"):
        raise ValueError(
            f"unknown macro {expanded.split()[0]!r}: use five fields or one of " + ", ".join(MACROS)
        )
    if expanded.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError("time zones are not supported: write the schedule in UTC")
    parts = expanded.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(parts)}"
        )
    values = [_parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    return CronSchedule(
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=values[4],
        day_of_month_star=parts[2] in ("*", "?"),
        day_of_week_star=parts[4] in ("*", "?"),
    )


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    allowed: set[int] = set()
    for item in text.split(","):
        allowed.update(_parse_item(item, spec))
    return frozenset(allowed)


def _parse_item(item: str, spec: _Field) -> range:
    body, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{spec.name} field {item!r}: the step must be a positive number")
        step = int(step_text)
    if body == "*" or (body == "?" and spec.question_mark):
        return range(spec.low, spec.high + 1, step)
    low_text, dash, high_text = body.partition("-")
    low = _value(low_text, spec, item)
    high = _value(high_text, spec, item) if dash else (spec.high if slash else low)
    if high < low:
        raise ValueError(f"{spec.name} field {item!r}: the range {low}-{high} is backwards")
    return range(low, high + 1, step)


def _value(text: str, spec: _Field, item: str) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.low + spec.names.index(lowered)
    if not text.isdigit():
        named = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise ValueError(f"{spec.name} field {item!r}: {text!r} is not a number{named}")
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise ValueError(
            f"{spec.name} field {item!r}: {number} is out of range {spec.low}-{spec.high}"
        )
    return number
