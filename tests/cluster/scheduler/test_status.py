"""merge_status gives what the store's strategic merge of the scheduler's patches gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cluster.scheduler.status import merge_status
from shipyard.store.patch import apply_patch

Obj = dict[str, Any]
TYPES = st.sampled_from(["PodScheduled", "Ready", "Initialized", "example.com/Gate"])
TEXT = st.sampled_from(["", "False", "True", "Unschedulable", "0/3 nodes are available"])
FIELDS = st.sampled_from(["status", "reason", "message", "lastTransitionTime", "lastProbeTime"])


def condition_of(type_: st.SearchStrategy[Any]) -> st.SearchStrategy[Obj]:
    return st.builds(lambda t, rest: {"type": t, **rest}, type_, st.dictionaries(FIELDS, TEXT))


STORED_CONDITIONS = st.one_of(
    st.lists(condition_of(TYPES), max_size=4, unique_by=lambda c: c["type"]),
    st.lists(condition_of(TYPES), max_size=4),  # duplicate types: left to the store
    st.lists(st.one_of(condition_of(TYPES), st.just({"status": "True"})), max_size=3),
    st.just("not a list"),
)
STATUS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"conditions": STORED_CONDITIONS},
        optional={"phase": st.just("Pending"), "nominatedNodeName": st.just("node-0")},
    ),
)
PATCHED_TYPES = st.sampled_from(["PodScheduled", "PodScheduled", "Ready", "Initialized"])
PATCH = st.fixed_dictionaries(
    {},
    optional={
        "conditions": st.one_of(
            st.lists(condition_of(PATCHED_TYPES), min_size=1, max_size=1),
            st.lists(condition_of(PATCHED_TYPES), min_size=1, max_size=1),
            st.lists(condition_of(TYPES), min_size=2, max_size=2),  # not handled here
            st.just([{"type": "Ready", "$patch": "delete"}]),  # a directive: not handled
        ),
        "nominatedNodeName": st.one_of(st.none(), st.sampled_from(["node-1", "node-0"])),
    },
)


def by_store(status: Any, patch: Obj) -> Obj:
    pod: Obj = {} if status is None else {"status": status}
    merged: Obj = apply_patch(pod, {"status": patch}, "strategic", api_version="v1", kind="Pod")[
        "status"
    ]
    return merged


@settings(max_examples=400)
@given(STATUS, PATCH)
def test_the_same_status_fields_and_order_as_the_store(status: Any, patch: Obj) -> None:
    ours = merge_status(status, patch)
    if ours is not None:
        # json.dumps keeps the order of keys and of list items: both must match
        assert json.dumps(ours) == json.dumps(by_store(status, patch))


def test_the_scheduler_shapes_are_handled() -> None:
    gated = {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
    ready = {"type": "Ready", "status": "False"}
    failed = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"}
    cases: list[tuple[Any, Obj]] = [
        (None, {"conditions": [failed]}),
        ({"phase": "Pending"}, {"conditions": [failed], "nominatedNodeName": "node-1"}),
        ({"conditions": [ready, gated]}, {"conditions": [failed]}),
        ({"conditions": [ready]}, {"conditions": [failed]}),
        ({"nominatedNodeName": "node-1"}, {"nominatedNodeName": None}),
        ({"conditions": [{**gated, "lastProbeTime": "t"}]}, {"conditions": [failed]}),
    ]
    for status, patch in cases:
        ours = merge_status(status, patch)
        assert ours is not None
        assert json.dumps(ours) == json.dumps(by_store(status, patch))


def test_a_new_condition_goes_first_as_in_the_strategic_merge() -> None:
    ready = {"type": "Ready", "status": "False"}
    failed = {"type": "PodScheduled", "status": "False"}
    assert merge_status({"conditions": [ready]}, {"conditions": [failed]}) == {
        "conditions": [failed, ready]
    }


def test_the_stored_status_is_not_changed() -> None:
    stored = {"conditions": [{"type": "PodScheduled", "status": "True"}]}
    before = json.dumps(stored)
    merged = merge_status(stored, {"conditions": [{"type": "PodScheduled", "status": "False"}]})
    assert merged is not None
    assert json.dumps(stored) == before
    assert merged["conditions"][0] is not stored["conditions"][0]
