"""Go-style durations.

Vectors come from Go's ``src/time/time_test.go`` (parseDurationTests,
parseDurationErrorTests, durationTests) plus Karpenter's ``Never`` spelling.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shipyard.core.durations import (
    NEVER,
    DurationError,
    format_duration,
    format_duration_ns,
    format_duration_or_never,
    parse_duration,
    parse_duration_ns,
    parse_duration_or_never,
)

NS = 1
US = 1000 * NS
MS = 1000 * US
S = 1000 * MS
M = 60 * S
H = 60 * M
MAX_NS = 2**63 - 1
MIN_NS = -(2**63)

# (text, nanoseconds): Go's parseDurationTests, then the forms Shipyard's users write.
PARSE = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12µs", 12 * US),  # U+00B5
    ("12μs", 12 * US),  # U+03BC
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * M),  # more than 9 fraction digits (Go issue 6617)
    ("9007199254740993ns", (1 << 53) + 1),  # not representable in a float64
    ("9223372036854775807ns", MAX_NS),
    ("9223372036854775.807us", MAX_NS),
    ("9223372036s854ms775us807ns", MAX_NS),
    ("-9223372036854775808ns", MIN_NS),
    ("-9223372036854775.808us", MIN_NS),
    ("-9223372036s854ms775us808ns", MIN_NS),
    ("-2562047h47m16.854775808s", MIN_NS),  # Go issue 48629
    ("0.100000000000000000000h", 6 * M),  # Go issue 15011
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),  # leadingFraction overflow
    # everyday spellings
    ("90s", 90 * S),
    ("1h30m", 90 * M),
    ("720h", 720 * H),
    ("1.5h", 90 * M),
    ("300ms", 300 * MS),
    ("1us", 1 * US),
    ("2h45m30.5s", 2 * H + 45 * M + 30 * S + 500 * MS),
    ("-1h", -H),
    ("1h1h", 2 * H),  # Go allows a unit to repeat
    ("0s", 0),
    ("0.5ns", 0),  # fractions below a nanosecond truncate, as in Go
    ("1.9ns", 1),
]


@pytest.mark.parametrize(("text", "nanos"), PARSE)
def test_parse_duration(text: str, nanos: int) -> None:
    assert parse_duration_ns(text) == nanos
    assert parse_duration(text) == nanos / 1e9


# (nanoseconds, Duration.String()): Go's durationTests, then everyday values.
FORMAT = [
    (0, "0s"),
    (1 * NS, "1ns"),
    (1100 * NS, "1.1µs"),
    (2200 * US, "2.2ms"),
    (3300 * MS, "3.3s"),
    (4 * M + 5 * S, "4m5s"),
    (4 * M + 5001 * MS, "4m5.001s"),
    (5 * H + 6 * M + 7001 * MS, "5h6m7.001s"),
    (8 * M + 1 * NS, "8m0.000000001s"),
    (MAX_NS, "2562047h47m16.854775807s"),
    (MIN_NS, "-2562047h47m16.854775808s"),
    (90 * M, "1h30m0s"),
    (720 * H, "720h0m0s"),
    (1500 * MS, "1.5s"),
    (300 * MS, "300ms"),
    (-300 * MS, "-300ms"),
    (999 * NS, "999ns"),
    (1 * US, "1µs"),
    (1 * MS, "1ms"),
    (1 * S, "1s"),
    (60 * S, "1m0s"),
    (H, "1h0m0s"),
    (H + S, "1h0m1s"),
    (-H, "-1h0m0s"),
    (25 * H, "25h0m0s"),  # no days
]


@pytest.mark.parametrize(("nanos", "text"), FORMAT)
def test_format_duration(nanos: int, text: str) -> None:
    assert format_duration_ns(nanos) == text
    assert parse_duration_ns(text) == nanos


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0, "0s"),
        (-0.0, "0s"),
        (1.5, "1.5s"),
        (5400, "1h30m0s"),
        (2592000.0, "720h0m0s"),
        (0.3, "300ms"),
        (1e-9, "1ns"),
        (1.4e-9, "1ns"),  # rounds to the nearest nanosecond
        (1.6e-9, "2ns"),
        (1.1e-6, "1.1µs"),
        (245.001, "4m5.001s"),
        (-3600, "-1h0m0s"),
        (MAX_NS / 1e9, "2562047h47m16.854775807s"),  # the float lies past 2^63-1 ns
        (MIN_NS / 1e9, "-2562047h47m16.854775808s"),
    ],
)
def test_format_duration_from_seconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# (text, part of the reason): Go's parseDurationErrorTests, then common mistakes.
BAD_INPUT = [
    ("", "expected a number and a unit"),
    ("3", 'missing unit after "3"'),
    ("-", "expected a number and a unit"),
    ("s", 'expected a number before "s"'),
    (".", 'expected a number before "."'),
    ("-.", 'expected a number before "."'),
    (".s", 'expected a number before ".s"'),
    ("+.s", 'expected a number before ".s"'),
    ("1d", 'unknown unit "d"'),
    ("\x85\x85", "whitespace"),
    ("\ufffd", "expected a number before"),
    ("9223372036854775810ns", "out of range"),
    ("9223372036854775808ns", "out of range"),
    ("-9223372036854775809ns", "out of range"),
    ("9223372036854776us", "out of range"),
    ("3000000h", "out of range"),
    ("9223372036854775.808us", "out of range"),
    ("9223372036854ms775us808ns", "out of range"),
    ("1" + "0" * 30 + "ns", "out of range"),
    ("1", 'missing unit after "1"'),
    ("1.5", 'missing unit after "1.5"'),
    ("h", 'expected a number before "h"'),
    ("1hh", 'unknown unit "hh"'),
    ("1H", 'unknown unit "H"'),
    ("1sec", 'unknown unit "sec"'),
    (" 1h", "whitespace"),
    ("1h ", "whitespace"),
    ("1h 30m", "whitespace"),
    ("1h-30m", "sign is only allowed at the start"),
    ("--1h", "sign is only allowed at the start"),
    ("1.2.3s", 'missing unit after "1.2"'),
    ("Never", 'expected a number before "Never"'),
    ("１h", 'expected a number before "１h"'),  # full-width digit
]


@pytest.mark.parametrize(("text", "reason"), BAD_INPUT)
def test_bad_input_names_the_input_and_the_reason(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert message.startswith("invalid duration ")
    assert reason in message
    if text.isprintable() and len(text) <= 80:
        assert f'"{text}"' in message


def test_non_printable_input_is_escaped_in_the_message() -> None:
    with pytest.raises(DurationError, match=r'"\\x85\\x85"'):
        parse_duration("\x85\x85")


@pytest.mark.parametrize("value", [30, 1.5, None])
def test_parse_duration_rejects_non_strings(value: object) -> None:
    # YAML "ttl: 30" gives an int; Go's Duration fields only accept the string form.
    with pytest.raises(DurationError, match="expected a string"):
        parse_duration(value)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match='invalid duration "1d"'):
        parse_duration("1d")


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, 1e10, -1e10])
def test_format_duration_rejects_values_outside_go_range(seconds: float) -> None:
    with pytest.raises(DurationError):
        format_duration(seconds)


@pytest.mark.parametrize("nanos", [MAX_NS + 1, MIN_NS - 1])
def test_format_duration_ns_rejects_values_outside_int64(nanos: int) -> None:
    with pytest.raises(DurationError, match="outside Go's range"):
        format_duration_ns(nanos)


def test_never() -> None:
    assert NEVER == "Never"
    assert parse_duration_or_never("Never") is None
    assert parse_duration_or_never("720h") == 720 * 3600.0
    assert parse_duration_or_never("0") == 0.0
    assert format_duration_or_never(None) == "Never"
    assert format_duration_or_never(90.0) == "1m30s"
    with pytest.raises(DurationError):
        parse_duration_or_never("never")  # case-sensitive, as Karpenter's NillableDuration


# -- properties -------------------------------------------------------------------------

int64_nanos = st.integers(MIN_NS, MAX_NS)
UNIT_NANOS = {"ns": NS, "us": US, "µs": US, "μs": US, "ms": MS, "s": S, "m": M, "h": H}


@given(int64_nanos)
@example(MAX_NS)
@example(MIN_NS)
def test_round_trip_nanoseconds(nanos: int) -> None:
    assert parse_duration_ns(format_duration_ns(nanos)) == nanos


@given(int64_nanos)
@example(MAX_NS)
@example(MIN_NS)
@example(1)
def test_round_trip_seconds(nanos: int) -> None:
    seconds = nanos / 1e9
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.floats(min_value=-9e9, max_value=9e9, allow_nan=False))
def test_format_rounds_to_the_nearest_nanosecond(seconds: float) -> None:
    nanos = parse_duration_ns(format_duration(seconds))
    assert abs(Fraction(nanos) - Fraction(seconds) * 10**9) <= Fraction(1, 2)


@st.composite
def terms(draw: st.DrawFn) -> tuple[str, int]:
    """A term whose fraction Go's float64 arithmetic scales exactly, and its nanoseconds."""
    unit = draw(st.sampled_from(sorted(UNIT_NANOS)))
    scale = UNIT_NANOS[unit]
    whole = draw(st.integers(0, 10**4))
    trailing_zeros = len(str(scale)) - len(str(scale).rstrip("0"))
    places = draw(st.integers(0, trailing_zeros))
    fraction = draw(st.integers(0, 10**places - 1)) if places else 0
    text = f"{whole}.{fraction:0{places}d}{unit}" if places else f"{whole}{unit}"
    return text, whole * scale + fraction * (scale // 10**places)


@given(st.lists(terms(), min_size=1, max_size=6), st.sampled_from(["", "+", "-"]))
def test_parse_sums_the_terms(parts: list[tuple[str, int]], sign: str) -> None:
    text = sign + "".join(part for part, _ in parts)
    total = sum(nanos for _, nanos in parts)
    assert parse_duration_ns(text) == (-total if sign == "-" else total)


@given(st.text())
@example("9" * 5000 + "h")
@example("0." + "9" * 5000 + "h")
def test_arbitrary_text_only_raises_duration_error(text: str) -> None:
    try:
        nanos = parse_duration_ns(text)
    except DurationError:
        return
    assert MIN_NS <= nanos <= MAX_NS


@given(st.text("0123456789.+-hmsnuµμ ", max_size=20))
def test_duration_like_text_only_raises_duration_error(text: str) -> None:
    try:
        nanos = parse_duration_ns(text)
    except DurationError as error:
        assert str(error).startswith("invalid duration")
    else:
        assert parse_duration_ns(format_duration_ns(nanos)) == nanos
