"""The scheduling queue: order, backoff, and which cluster events retry which pods."""

from __future__ import annotations

import pytest

from shipyard.cluster.scheduler.queue import (
    ACTIVE,
    BACKOFF,
    UNSCHEDULABLE,
    SchedulingQueue,
    backoff_seconds,
)
from tests.cluster.scheduler.helpers import info

FIT = frozenset({"NodeResourcesFit"})
SPREAD = frozenset({"PodTopologySpread"})
TAINTS = frozenset({"TaintToleration"})


def popped(queue: SchedulingQueue) -> list[str]:
    names = []
    while (qp := queue.pop()) is not None:
        names.append(qp.info.name)
    return names


def fail(queue: SchedulingQueue, name: str, now: float, rejected_by: frozenset[str] | None) -> None:
    qp = queue.get(("default", name))
    assert qp is not None
    queue.failed(qp, now, rejected_by=rejected_by)


def test_higher_priority_first_then_older_then_by_name() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="late", created="2026-01-01T00:00:09Z"), 0)
    queue.add(info(name="b", created="2026-01-01T00:00:05Z"), 0)
    queue.add(info(name="a", created="2026-01-01T00:00:05Z"), 0)
    queue.add(info(name="urgent", priority=1000, created="2026-01-01T00:00:10Z"), 0)
    assert popped(queue) == ["urgent", "a", "b", "late"]


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]
)
def test_backoff_doubles_up_to_ten_seconds(attempts: int, seconds: float) -> None:
    assert backoff_seconds(attempts) == seconds


def test_an_unschedulable_pod_waits_for_an_event_that_may_help() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="big"), 0)
    queue.pop()
    fail(queue, "big", 0, FIT)
    assert queue.place_of(("default", "big")) == UNSCHEDULABLE
    queue.pod_added(0.5)  # a new pod frees nothing
    assert queue.place_of(("default", "big")) == UNSCHEDULABLE
    queue.pod_deleted(0.5)  # a deleted pod may free room, but the backoff (1 s) is not over
    assert queue.place_of(("default", "big")) == BACKOFF
    assert queue.next_wakeup() == 1.0
    queue.flush(1.0)
    assert popped(queue) == ["big"]


def test_spread_and_affinity_rejections_wait_for_pods_to_appear() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="spread"), 0)
    queue.add(info(name="tainted"), 0)
    for qp in (queue.pop(), queue.pop()):
        assert qp is not None
        queue.failed(qp, 0, rejected_by=SPREAD if qp.info.name == "spread" else TAINTS)
    queue.pod_added(5)
    assert queue.place_of(("default", "spread")) == ACTIVE
    assert queue.place_of(("default", "tainted")) == UNSCHEDULABLE
    queue.move_all(5)  # a node event helps every pod
    assert queue.place_of(("default", "tainted")) == ACTIVE


def test_unschedulable_pods_are_retried_after_a_minute_anyway() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="big"), 0)
    queue.pop()
    fail(queue, "big", 0, FIT)
    assert queue.next_wakeup() == 60.0
    queue.flush(59.9)
    assert queue.place_of(("default", "big")) == UNSCHEDULABLE
    queue.flush(60.0)
    assert popped(queue) == ["big"]


def test_an_event_during_the_attempt_is_not_lost() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="big"), 0)
    qp = queue.pop()
    assert qp is not None
    queue.move_all(0)  # a node arrived while the pod was being scheduled
    queue.failed(qp, 0, rejected_by=FIT)
    assert queue.place_of(("default", "big")) == BACKOFF


def test_errors_back_off_and_relevant_updates_move_unschedulable_pods() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="a"), 0)
    queue.add(info(name="b"), 0)
    fail(queue, "a", 0, None)
    assert queue.place_of(("default", "a")) == BACKOFF
    queue.pop()
    fail(queue, "b", 0, TAINTS)
    queue.add(info(name="b"), 3, relevant=False)  # e.g. its own status was written
    assert queue.place_of(("default", "b")) == UNSCHEDULABLE
    queue.add(info(name="b"), 3, relevant=True)  # e.g. a toleration was added
    assert queue.place_of(("default", "b")) == ACTIVE


def test_deleted_pods_leave_the_queue() -> None:
    queue = SchedulingQueue()
    queue.add(info(name="a"), 0)
    queue.delete(("default", "a"))
    assert len(queue) == 0
    assert queue.pop() is None
