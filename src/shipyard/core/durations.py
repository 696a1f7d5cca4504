"""Go-style durations: ``time.ParseDuration`` and ``Duration.String()``, in float seconds.

Kubernetes, Karpenter, Argo CD and GitHub Actions runners all spell durations the Go way,
so Shipyard reads and writes exactly that form:

* **Grammar** (``time.ParseDuration``): an optional sign, then one or more
  ``<number><unit>`` terms, where a number is digits with an optional fraction (``1.5``,
  ``.5``, ``5.``) and a unit is ``ns``, ``us`` (also ``µs`` U+00B5 and ``μs`` U+03BC),
  ``ms``, ``s``, ``m`` or ``h``. Terms add up: ``2h45m30.5s``, ``10.5s4m``. The bare
  string ``0`` (with an optional sign) is zero; any other number needs a unit. There are
  no days, whitespace is not allowed, and units are case-sensitive.
* **Range and rounding**: the value is a whole number of nanoseconds in int64
  (about +-292 years). The fraction of each term is scaled the way Go does it, in float64
  arithmetic truncated toward zero, so ``0.3333333333333333333h`` is exactly ``20m`` and
  ``0.830103483285477580700h`` is ``49m48.372539827s`` as in Go; digits past int64
  precision are ignored.
* **Printing** (``Duration.String()``): ``0s``; below one second the largest of ``ns``,
  ``µs``, ``ms`` with a trimmed fraction (``1.5µs``, ``300ms``); otherwise hours, minutes
  and seconds with a trimmed fraction, leading units omitted when zero (``1h30m0s``,
  ``720h0m0s``, ``4m5.001s``, ``1.5s``).

Shipyard keeps time as float seconds (see :mod:`shipyard.core.clock`), so
:func:`parse_duration` returns seconds and :func:`format_duration` takes them, rounding
to the nearest nanosecond; :func:`parse_duration_ns` and :func:`format_duration_ns` give
the exact integer nanoseconds. :func:`parse_duration_or_never` reads Karpenter's
``expireAfter``/``consolidateAfter`` style, where the literal ``Never`` disables the timer.

Error messages name the input and the rule it broke, which is friendlier than Go's bare
``time: invalid duration "1d"`` but carries the same information.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Final

from shipyard.core.text import quote

__all__ = [
    "NEVER",
    "DurationError",
    "format_duration",
    "format_duration_ns",
    "format_duration_or_never",
    "parse_duration",
    "parse_duration_ns",
    "parse_duration_or_never",
]

NEVER: Final = "Never"

_NANOS_PER_SECOND: Final = 10**9
_MAX_NANOS: Final = 2**63 - 1  # the largest Go Duration
_MIN_NANOS: Final = -(2**63)
# Go accumulates digits in a uint64 and refuses a total past 2^63 (the magnitude of the
# most negative Duration).
_LIMIT: Final = 2**63
_EDGE_SECONDS: Final = _LIMIT / _NANOS_PER_SECOND  # the float nearest 2^63 ns
_UNITS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,  # U+00B5 MICRO SIGN
    "μs": 10**3,  # U+03BC GREEK SMALL LETTER MU
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_UNIT_HELP: Final = "valid units are ns, us (or µs), ms, s, m, h"
# One term: digits, an optional fraction, then the unit (everything up to the next number).
_TERM: Final = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


class DurationError(ValueError):
    """Text that is not a Go duration, or a duration outside Go's int64 nanosecond range."""


# -- parsing ----------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Parse a Go duration ("90s", "1h30m", "-1.5h", "0") into seconds."""
    return parse_duration_ns(text) / _NANOS_PER_SECOND


def parse_duration_or_never(text: str) -> float | None:
    """``Never`` -> None (the timer is disabled); anything else as :func:`parse_duration`."""
    if text == NEVER:
        return None
    return parse_duration(text)


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration into whole nanoseconds, exactly as ``time.ParseDuration``."""
    if not isinstance(text, str):
        raise DurationError(f'invalid duration {text!r}: expected a string such as "1h30m"')
    negative, body = _split_sign(text)
    if body == "0":
        return 0
    if not body:
        raise _fail(text, 'expected a number and a unit, such as "90s" or "1h30m"')
    total = _sum_terms(text, body)
    if negative:
        return -total
    if total > _MAX_NANOS:
        raise _out_of_range(text)
    return total


def _split_sign(text: str) -> tuple[bool, str]:
    if text[:1] in ("-", "+"):
        return text[0] == "-", text[1:]
    return False, text


def _sum_terms(text: str, body: str) -> int:
    """Add up the terms of an unsigned duration, refusing a total past 2^63 ns."""
    total, position = 0, 0
    while position < len(body):
        nanos, position = _parse_term(text, body, position)
        total += nanos
        if total > _LIMIT:
            raise _out_of_range(text)
    return total


def _parse_term(text: str, body: str, position: int) -> tuple[int, int]:
    """Parse the term starting at ``position``; return its nanoseconds and the next position."""
    match = _TERM.match(body, position)
    # _TERM can match the empty string, so it always matches.
    assert match is not None
    whole, fraction, unit = match.group(1), match.group(2), match.group(3)
    if not whole and not fraction:
        raise _fail(text, _no_number_reason(body, position))
    if not unit:
        raise _fail(text, _missing_unit_reason(whole, fraction))
    scale = _UNITS.get(unit)
    if scale is None:
        raise _fail(text, _unknown_unit_reason(unit))
    nanos = _whole_nanos(text, whole, scale) + _fraction_nanos(fraction or "", scale)
    if nanos > _LIMIT:
        raise _out_of_range(text)
    return nanos, match.end()


def _no_number_reason(body: str, position: int) -> str:
    rest = body[position:]
    if any(char.isspace() for char in rest):
        return "whitespace is not allowed"
    if rest[:1] in ("-", "+"):
        return "a sign is only allowed at the start"
    return f"expected a number before {quote(rest[:8])}"


def _missing_unit_reason(whole: str, fraction: str | None) -> str:
    number = whole if fraction is None else f"{whole}.{fraction}"
    return f'missing unit after "{number}"; {_UNIT_HELP} (e.g. "{number}s")'


def _unknown_unit_reason(unit: str) -> str:
    if any(char.isspace() for char in unit):
        return "whitespace is not allowed"
    if "-" in unit or "+" in unit:
        return "a sign is only allowed at the start"
    hint = ' (there is no day unit; use hours, e.g. "24h")' if unit == "d" else ""
    return f"unknown unit {quote(unit)}; {_UNIT_HELP}{hint}"


def _whole_nanos(text: str, whole: str, scale: int) -> int:
    digits = whole.lstrip("0")
    # Go stops at 2^63 while reading digits; 20 digits already exceed it.
    if len(digits) > 19 or (digits and int(digits) > _LIMIT):
        raise _out_of_range(text)
    return int(digits or "0") * scale


def _fraction_nanos(fraction: str, scale: int) -> int:
    """Nanoseconds of ``0.<fraction>`` units, computed as Go does: in float64, truncated."""
    value, divisor = 0, 1.0
    for char in fraction:
        following = value * 10 + ord(char) - ord("0")
        if following > _LIMIT:
            break  # Go keeps reading digits but ignores them once int64 would overflow
        value, divisor = following, divisor * 10
    if value == 0:
        return 0
    return int(float(value) * (float(scale) / divisor))


def _fail(text: str, reason: str) -> DurationError:
    return DurationError(f"invalid duration {quote(text)}: {reason}")


def _out_of_range(text: str) -> DurationError:
    return _fail(text, "out of range; a duration must lie within about +-292 years (int64 ns)")


# -- printing ---------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """Print seconds as Go's ``Duration.String()`` ("1h30m0s", "1.5s", "300ms", "0s").

    The value is rounded to the nearest nanosecond; it must lie within Go's range.
    """
    if not math.isfinite(seconds):
        raise DurationError(f"cannot format duration {seconds!r}: not a finite number")
    nanos = round(Fraction(seconds) * _NANOS_PER_SECOND)
    if abs(seconds) <= _EDGE_SECONDS:
        # The float nearest Go's extremes lies a few hundred ns beyond them: clamp it.
        nanos = min(max(nanos, _MIN_NANOS), _MAX_NANOS)
    return format_duration_ns(nanos)


def format_duration_or_never(seconds: float | None) -> str:
    """None -> ``Never``; anything else as :func:`format_duration`."""
    return NEVER if seconds is None else format_duration(seconds)


def format_duration_ns(nanos: int) -> str:
    """Print whole nanoseconds as Go's ``Duration.String()``."""
    if not _MIN_NANOS <= nanos <= _MAX_NANOS:
        raise DurationError(
            f"cannot format duration of {nanos} ns: outside Go's range (about +-292 years)"
        )
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    magnitude = abs(nanos)
    if magnitude < _NANOS_PER_SECOND:
        return sign + _small(magnitude)
    return sign + _hours_minutes_seconds(magnitude)


def _small(nanos: int) -> str:
    if nanos < 10**3:
        return f"{nanos}ns"
    if nanos < 10**6:
        return _decimal(nanos, 3) + "µs"
    return _decimal(nanos, 6) + "ms"


def _hours_minutes_seconds(nanos: int) -> str:
    minutes, rest = divmod(nanos, 60 * _NANOS_PER_SECOND)
    text = _decimal(rest, 9) + "s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return text


def _decimal(value: int, places: int) -> str:
    """``value / 10**places`` with the fraction's trailing zeros (and a bare point) dropped."""
    whole, fraction = divmod(value, 10**places)
    digits = str(fraction).rjust(places, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
