"""Prober worker bookkeeping and the kubelet's restart back-off, as tables."""

from __future__ import annotations

import math

import pytest

from shipyard.cluster.kubelet import ProbeKind
from shipyard.cluster.kubelet.probes import BackOff, ProbeSpec, ProbeTracker


def tracker(kind: ProbeKind, **probe: int) -> ProbeTracker:
    spec = ProbeSpec.of({kind.value: {"httpGet": {"port": 80}, **probe}}, kind)
    assert spec is not None
    return ProbeTracker(spec, started_at=100.0)


def test_probe_specs_take_the_api_defaults() -> None:
    spec = ProbeSpec.of({"readinessProbe": {"tcpSocket": {"port": 80}}}, ProbeKind.READINESS)
    assert spec is not None
    assert (spec.initial_delay, spec.period, spec.success_threshold, spec.failure_threshold) == (
        0.0,
        10.0,
        1,
        3,
    )
    assert ProbeSpec.of({}, ProbeKind.LIVENESS) is None


@pytest.mark.parametrize(
    ("kind", "initial"),
    [(ProbeKind.READINESS, False), (ProbeKind.LIVENESS, True), (ProbeKind.STARTUP, False)],
)
def test_initial_results(kind: ProbeKind, initial: bool) -> None:
    assert tracker(kind).result is initial


@pytest.mark.parametrize(
    ("results", "thresholds", "expected"),
    [
        # results in order -> the result after each
        ([True], (1, 3), [True]),
        ([True, False, False, False], (1, 3), [True, True, True, False]),
        ([True, False, True, False, False], (1, 3), [True, True, True, True, True]),
        ([True, True, True], (3, 1), [False, False, True]),
        ([True, True, False, True], (2, 1), [False, True, False, False]),
    ],
)
def test_results_flip_after_consecutive_thresholds(
    results: list[bool], thresholds: tuple[int, int], expected: list[bool]
) -> None:
    success, failure = thresholds
    t = tracker(ProbeKind.READINESS, successThreshold=success, failureThreshold=failure)
    seen = []
    for i, ok in enumerate(results):
        t.record(ok, 100.0 + 10 * i)
        seen.append(t.result)
    assert seen == expected


def test_probes_run_after_the_initial_delay_then_every_period() -> None:
    t = tracker(ProbeKind.LIVENESS, initialDelaySeconds=15, periodSeconds=5)
    assert not t.due(110.0) and t.due(115.0)
    t.record(True, 115.0)
    assert t.next_at == 120.0
    t.record(True, 131.0)  # a late run keeps the schedule's phase
    assert t.next_at == 135.0


@pytest.mark.parametrize(
    ("failures", "delays"),
    [
        # (finished_at, restarted_at) of each crash -> the delay used for the next restart
        ([(0, 0), (5, 15), (20, 40), (45, 85)], [10, 20, 40, 80]),
        ([(0, 0), (5, 15), (700, 700)], [10, 20, 10]),  # ran > 10 min: forgotten
    ],
)
def test_back_off_doubles_and_is_forgotten_after_ten_minutes(
    failures: list[tuple[float, float]], delays: list[float]
) -> None:
    backoff = BackOff()
    used = []
    for finished, restarted in failures:
        assert not backoff.in_backoff_since(finished, restarted)
        backoff.next(finished, restarted)
        used.append(backoff.delay)
    assert used == delays


def test_back_off_waits_the_current_delay_after_a_failure() -> None:
    backoff = BackOff()
    backoff.next(0.0, 0.0)
    assert backoff.in_backoff_since(5.0, 5.0)
    assert backoff.in_backoff_since(5.0, 14.9)
    assert not backoff.in_backoff_since(5.0, 15.0)


def test_back_off_is_capped_at_five_minutes() -> None:
    backoff = BackOff()
    t = 0.0
    for _ in range(10):
        backoff.next(t, t)
        t += backoff.delay
    assert backoff.delay == 300.0


def test_a_promised_success_skips_the_runs_before_the_promise_ends() -> None:
    t = tracker(ProbeKind.LIVENESS, periodSeconds=10)
    t.record(True, 100.0)
    t.hold_until(135.0)
    assert t.next_at == 140.0  # the first run at or after the promise ends
    t.hold_until(math.inf)
    assert t.next_at == math.inf
