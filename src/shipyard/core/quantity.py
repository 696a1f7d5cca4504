"""Kubernetes resource quantities: parsed, compared, added and printed as Kubernetes does.

Reproduces ``k8s.io/apimachinery/pkg/api/resource.Quantity``:

* **Grammar** (``ParseQuantity``): an optional sign, digits with an optional fraction
  (``1.``, ``.5`` are valid), then one suffix: binary ``Ki Mi Gi Ti Pi Ei`` (powers of
  1024), decimal ``n u m "" k M G T P E`` (powers of 1000), or a decimal exponent
  ``e``/``E`` with a signed integer whose magnitude fits an int32 (``1e3``, ``1E-3``).
  Suffixes are case-sensitive: ``1K``, ``1kb`` and ``1mi`` are errors.
* **Precision**: the value is rounded *up* (away from zero) to the nearest nano, so any
  non-zero request stays non-zero: ``0.1n`` is ``1n``, ``-3.001n`` is ``-4n``. A binary
  value is capped at 2^63-1; one of magnitude below 1 after rounding (``0.0000001Ki``)
  switches to DecimalSI, as Kubernetes does.
* **Format**: the suffix family seen when parsing (``BinarySI``, ``DecimalSI``,
  ``DecimalExponent``) is kept and decides how :meth:`Quantity.__str__` prints.
* **Canonical form** (``CanonicalizeBytes``): no fractional digits, the largest
  exponent that loses nothing. Decimal formats print ``mantissa * 10^(3k)`` with the
  matching SI suffix (``1.5`` -> ``1500m``, ``1000`` -> ``1k``) or ``e<3k>``
  (``1.5e3`` -> ``1500``, ``1e9`` -> ``1e9``). BinarySI prints ``mantissa * 1024^k``
  (``1.5Gi`` -> ``1536Mi``) unless the value is below 1024 in magnitude or not an
  integer, where it falls back to DecimalSI (``0.5Ki`` -> ``512``, ``0.1Mi`` ->
  ``104857600m``). Past the largest suffix (``E``, ``Ei``) the exponent form is used
  (``1000E`` -> ``1e21``), as current upstream does. Zero is always ``0``.
* **Arithmetic** (``Add``/``Sub``/``Mul``): exact; the result keeps the left operand's
  format unless the left operand is zero, in which case it takes the right one's (so
  ``sum(quantities)`` prints in the quantities' own format). Comparison, equality and
  hashing are by value only: ``1Gi == 1024Mi == 1073741824``.
* **Value()/MilliValue()**: the value in units / milli-units, rounded away from zero.

Design: a quantity is an exact integer count of nano-units plus its format; parsing
works on digit strings and integer powers, never on binary floats. Floats passed to
:meth:`Quantity.parse` are first written out the way a Go JSON encoder writes a
float64 (shortest round-trip digits) and then parsed like any other text.

Deliberate deviations from Kubernetes:

* A number without digits (``Mi``, ``k``, ``.``, ``-``) is rejected; Kubernetes' fast
  scanner accepts it as zero (kubernetes/apimachinery#165), which only hides typos.
* Kubernetes' parser caches some non-canonical inputs and echoes them back from
  ``String()`` (``+1``, ``01``, ``1.``, ``1.500``; kubernetes/kubernetes#138165). Here
  ``str()`` is always the canonical form (``1``, ``1``, ``1``, ``1500m``).
* Magnitudes of 10^1000 or more, and numbers with more than 1000 significant digits,
  are rejected (Kubernetes has no bound for decimal formats). Value() and MilliValue()
  return exact Python ints instead of saturating or wrapping at int64.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final, Literal, TypeAlias

from shipyard.core.text import quote

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "ZERO",
    "Format",
    "Quantity",
    "QuantityError",
    "parse_quantity",
]

Format: TypeAlias = Literal["BinarySI", "DecimalSI", "DecimalExponent"]
BINARY_SI: Final = "BinarySI"
DECIMAL_SI: Final = "DecimalSI"
DECIMAL_EXPONENT: Final = "DecimalExponent"
_FORMATS: Final = frozenset({BINARY_SI, DECIMAL_SI, DECIMAL_EXPONENT})

_NANO: Final = 10**9
_MILLI_IN_NANOS: Final = 10**6
# Kubernetes caps BinarySI values at the largest int64 ("maxAllowed").
_MAX_BINARY_NANOS: Final = (2**63 - 1) * _NANO
# Shipyard's own bounds, so a hostile string cannot build a gigantic integer.
MAX_INTEGER_DIGITS: Final = 1000
MAX_SIGNIFICANT_DIGITS: Final = 1000
_LIMIT_UNITS: Final = 10**MAX_INTEGER_DIGITS
_LIMIT_NANOS: Final = _LIMIT_UNITS * _NANO
# Kubernetes stores the exponent in an int32 that it negates, so it accepts +-(2^31-1).
_MAX_EXPONENT: Final = 2**31 - 1

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
_BINARY_SUFFIXES: Final[dict[str, int]] = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_BY_EXPONENT: Final = {power: suffix for suffix, power in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER: Final = {0: "", **{power: suffix for suffix, power in _BINARY_SUFFIXES.items()}}
# Digits of 1024^6, the largest binary multiplier: bounds how far a multiplier can
# move the decimal point when deciding that a value is below one nano.
_MULTIPLIER_DIGITS: Final = 19

_NUMBER: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)", re.DOTALL)
_EXPONENT: Final = re.compile(r"[eE]([+-]?)([0-9]+)")
_HINT: Final = 'expected a number with an optional suffix, such as "500m", "2Gi" or "1e3"'
_SUFFIX_HELP: Final = (
    "valid suffixes are Ki Mi Gi Ti Pi Ei (binary), n u m k M G T P E (decimal) "
    "or e<integer> (exponent); they are case-sensitive"
)


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity; the message names it and says why."""


@dataclass(frozen=True, slots=True, eq=False)
class Quantity:
    """An exact resource quantity: ``nanos`` units of 10^-9 plus the suffix family.

    Immutable and hashable; equality, hashing and ordering are by value only, and
    agree with ``int`` (``Quantity.parse("1k") == 1000``).
    """

    nanos: int
    format: Format = DECIMAL_SI

    def __post_init__(self) -> None:
        if type(self.nanos) is not int:
            raise TypeError(f"Quantity.nanos must be an int, not {type(self.nanos).__name__}")
        if self.format not in _FORMATS:
            raise QuantityError(f"unknown quantity format {self.format!r}")
        if abs(self.nanos) >= _LIMIT_NANOS:
            raise QuantityError(
                f"quantity out of range: magnitude must be below 1e{MAX_INTEGER_DIGITS}"
            )

    @classmethod
    def parse(cls, value: str | int | float | Quantity) -> Quantity:
        """Parse text, an int or a float the way Kubernetes reads a manifest field."""
        if isinstance(value, Quantity):
            return value
        if isinstance(value, str):
            return _parse_text(value)
        if isinstance(value, bool):
            raise QuantityError(f"invalid quantity {value!r}: expected a string or a number")
        if isinstance(value, int):
            return _from_int(value)
        if isinstance(value, float):
            return _parse_text(_float_text(value))
        kind = type(value).__name__
        raise QuantityError(f"invalid quantity of type {kind}: expected a string or a number")

    # -- conversions ------------------------------------------------------------------

    def __str__(self) -> str:
        return _canonical(self.nanos, self.format)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def value(self) -> int:
        """The value in whole units, rounded away from zero (``Value()``)."""
        return _scaled(self.nanos, _NANO)

    def milli_value(self) -> int:
        """The value in milli-units, rounded away from zero (``MilliValue()``)."""
        return _scaled(self.nanos, _MILLI_IN_NANOS)

    def as_fraction(self) -> Fraction:
        """The exact value."""
        return Fraction(self.nanos, _NANO)

    def as_float(self) -> float:
        """The nearest float; +-inf past the float range (``AsApproximateFloat64``)."""
        try:
            return self.nanos / _NANO
        except OverflowError:
            return math.inf if self.nanos > 0 else -math.inf

    def is_zero(self) -> bool:
        return self.nanos == 0

    # -- arithmetic -------------------------------------------------------------------

    def __add__(self, other: Quantity | int) -> Quantity:
        right = _operand(other)
        if right is None:
            return NotImplemented
        return Quantity(self.nanos + right.nanos, _result_format(self, right))

    def __radd__(self, other: int) -> Quantity:
        left = _operand(other)
        if left is None:
            return NotImplemented
        return left + self

    def __sub__(self, other: Quantity | int) -> Quantity:
        right = _operand(other)
        if right is None:
            return NotImplemented
        return Quantity(self.nanos - right.nanos, _result_format(self, right))

    def __rsub__(self, other: int) -> Quantity:
        left = _operand(other)
        if left is None:
            return NotImplemented
        return left - self

    def __mul__(self, factor: int) -> Quantity:
        if type(factor) is not int:
            return NotImplemented
        return Quantity(self.nanos * factor, self.format)

    __rmul__ = __mul__

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __abs__(self) -> Quantity:
        return Quantity(abs(self.nanos), self.format)

    # -- comparison -------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        nanos = _nanos_of(other)
        if nanos is None:
            return NotImplemented
        return self.nanos == nanos

    def __hash__(self) -> int:
        # Fraction hashes like the equal int, so Quantity("1k") and 1000 share a hash.
        return hash(self.as_fraction())

    def __lt__(self, other: Quantity | int) -> bool:
        nanos = _nanos_of(other)
        if nanos is None:
            return NotImplemented
        return self.nanos < nanos

    def __le__(self, other: Quantity | int) -> bool:
        nanos = _nanos_of(other)
        if nanos is None:
            return NotImplemented
        return self.nanos <= nanos

    def __gt__(self, other: Quantity | int) -> bool:
        nanos = _nanos_of(other)
        if nanos is None:
            return NotImplemented
        return self.nanos > nanos

    def __ge__(self, other: Quantity | int) -> bool:
        nanos = _nanos_of(other)
        if nanos is None:
            return NotImplemented
        return self.nanos >= nanos


ZERO: Final = Quantity(0, DECIMAL_SI)


def parse_quantity(value: str | int | float) -> Quantity:
    """Parse a quantity; see :meth:`Quantity.parse`."""
    return Quantity.parse(value)


# -- operands ---------------------------------------------------------------------------


def _operand(other: object) -> Quantity | None:
    if isinstance(other, Quantity):
        return other
    if type(other) is int:
        return _from_int(other)
    return None


def _nanos_of(other: object) -> int | None:
    if isinstance(other, Quantity):
        return other.nanos
    if type(other) is int:
        return other * _NANO
    return None


def _result_format(left: Quantity, right: Quantity) -> Format:
    # Kubernetes' Add/Sub: a zero receiver adopts the other operand's format.
    return right.format if left.nanos == 0 else left.format


def _scaled(nanos: int, unit: int) -> int:
    magnitude = -(-abs(nanos) // unit)
    return magnitude if nanos >= 0 else -magnitude


# -- parsing ----------------------------------------------------------------------------


def _fail(text: str, reason: str) -> QuantityError:
    return QuantityError(f"invalid quantity {quote(text)}: {reason}")


def _from_int(value: int) -> Quantity:
    if abs(value) >= _LIMIT_UNITS:
        raise QuantityError(
            f"invalid quantity: an integer of {value.bit_length()} bits is too large "
            f"(magnitude must be below 1e{MAX_INTEGER_DIGITS})"
        )
    return Quantity(value * _NANO, DECIMAL_SI)


def _float_text(value: float) -> str:
    """Write a float as Go's encoding/json would, so YAML ``cpu: 0.5`` parses like "0.5"."""
    if not math.isfinite(value):
        raise QuantityError(f"invalid quantity {value!r}: not a finite number")
    shortest = repr(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return shortest
    return format(Decimal(shortest), "f")


def _parse_text(text: str) -> Quantity:
    if not text:
        raise _fail(text, f"empty string; {_HINT}")
    negative, whole, fraction, suffix = _split(text)
    if not (whole or fraction):
        raise _fail(text, _no_digits_reason(suffix))
    power10, power1024, fmt = _interpret_suffix(text, suffix)
    digits, exponent = _significand(text, whole, fraction)
    nanos = _round_up_to_nanos(text, digits, exponent + power10, 1024**power1024)
    return _finish(negative, nanos, fmt)


def _split(text: str) -> tuple[bool, str, str, str]:
    match = _NUMBER.fullmatch(text)
    # The pattern can match any string: every part is optional and the suffix is ".*".
    assert match is not None
    sign, whole, fraction, suffix = match.groups()
    return sign == "-", whole, fraction or "", suffix


def _interpret_suffix(text: str, suffix: str) -> tuple[int, int, Format]:
    """Map a suffix to (power of 10, power of 1024, format)."""
    if suffix in _DECIMAL_SUFFIXES:
        return _DECIMAL_SUFFIXES[suffix], 0, DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 0, _BINARY_SUFFIXES[suffix], BINARY_SI
    match = _EXPONENT.fullmatch(suffix)
    if match is None:
        raise _fail(text, _bad_suffix_reason(suffix))
    sign, digits = match.groups()
    significant = digits.lstrip("0") or "0"
    if len(significant) > 10 or int(significant) > _MAX_EXPONENT:
        raise _fail(text, f"exponent {sign}{digits} is out of range (at most {_MAX_EXPONENT})")
    return (-1 if sign == "-" else 1) * int(significant), 0, DECIMAL_EXPONENT


def _bad_suffix_reason(suffix: str) -> str:
    if any(char.isspace() for char in suffix):
        return "whitespace is not allowed"
    if suffix.startswith("."):
        return "a number has at most one decimal point"
    if suffix[:1] in "+-":
        return "a sign is only allowed at the start"
    return f"unknown suffix {quote(suffix)}; {_SUFFIX_HELP}"


def _no_digits_reason(suffix: str) -> str:
    known = suffix in _DECIMAL_SUFFIXES or suffix in _BINARY_SUFFIXES
    if suffix and (known or _EXPONENT.fullmatch(suffix)):
        return f'the suffix {quote(suffix)} needs a number before it, e.g. "1{suffix}"'
    if any(char.isspace() for char in suffix):
        return "whitespace is not allowed"
    return f"not a number; {_HINT}"


def _significand(text: str, whole: str, fraction: str) -> tuple[str, int]:
    """Return (significant digits, power of ten of the last one); "" means zero."""
    digits = (whole + fraction).lstrip("0")
    significant = digits.rstrip("0")
    if len(significant) > MAX_SIGNIFICANT_DIGITS:
        raise _fail(text, f"more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    return significant, len(digits) - len(significant) - len(fraction)


def _round_up_to_nanos(text: str, digits: str, exponent: int, multiplier: int) -> int:
    """ceil(int(digits) * multiplier * 10**exponent * 10**9) for a non-negative value."""
    if not digits:
        return 0
    shift = exponent + 9
    if shift >= 0:
        if len(digits) + exponent > MAX_INTEGER_DIGITS:
            raise _fail(text, f"magnitude must be below 1e{MAX_INTEGER_DIGITS}")
        scale: int = 10**shift
        return int(digits) * multiplier * scale
    if -shift > len(digits) + _MULTIPLIER_DIGITS:
        return 1  # far below one nano: Kubernetes rounds any non-zero amount up to 1n
    divisor: int = 10**-shift
    whole, remainder = divmod(int(digits) * multiplier, divisor)
    return whole + (1 if remainder else 0)


def _finish(negative: bool, nanos: int, fmt: Format) -> Quantity:
    if fmt == BINARY_SI:
        nanos = min(nanos, _MAX_BINARY_NANOS)
        if 0 < nanos < _NANO:
            fmt = DECIMAL_SI
    return Quantity(-nanos if negative else nanos, fmt)


# -- canonical form ---------------------------------------------------------------------


def _canonical(nanos: int, fmt: Format) -> str:
    if nanos == 0:
        return "0"
    sign = "-" if nanos < 0 else ""
    magnitude = abs(nanos)
    if fmt == BINARY_SI and magnitude >= 1024 * _NANO and magnitude % _NANO == 0:
        binary = _binary_text(magnitude // _NANO)
        if binary is not None:
            return sign + binary
    # A BinarySI value below 1024, fractional, or past "Ei" prints as DecimalSI: exact,
    # never rounded, as Kubernetes does.
    return sign + _decimal_text(magnitude, exponent_form=fmt == DECIMAL_EXPONENT)


def _binary_text(units: int) -> str | None:
    mantissa, power = units, 0
    while mantissa % 1024 == 0:
        mantissa //= 1024
        power += 1
    suffix = _BINARY_BY_POWER.get(power)
    return None if suffix is None else f"{mantissa}{suffix}"


def _decimal_text(nanos: int, *, exponent_form: bool) -> str:
    mantissa, exponent = nanos, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # Lower the exponent to a multiple of three, moving digits into the mantissa.
    excess = exponent % 3
    mantissa *= 10**excess
    exponent -= excess
    if not exponent_form and exponent in _DECIMAL_BY_EXPONENT:
        return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)
