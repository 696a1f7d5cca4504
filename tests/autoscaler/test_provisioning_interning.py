"""Interned requirement sets and cached pod requests: the same answers as computed afresh."""

from __future__ import annotations

from shipyard.autoscaler.provisioning.capacity import _requested
from shipyard.autoscaler.provisioning.planner import States
from shipyard.autoscaler.provisioning.podspec import PodState
from shipyard.cloud.provider import add_resources
from shipyard.cluster.podutil import pod_requests
from shipyard.core.requirements import Requirements
from tests.cluster.fixtures import make_pod


def test_equal_requirement_sets_share_one_id_and_different_ones_do_not() -> None:
    states = States()
    a = states.intern(Requirements.from_labels({"zone": "a", "arch": "amd64"}))
    again = states.intern(Requirements.from_labels({"arch": "amd64", "zone": "a"}))  # new object
    b = states.intern(Requirements.from_labels({"zone": "b", "arch": "amd64"}))
    assert a == again and a != b
    assert states.reqs[a] == Requirements.from_labels({"zone": "a", "arch": "amd64"})
    assert States().intern(Requirements.from_labels({"zone": "b", "arch": "amd64"})) == 0


def test_requested_sums_as_add_resources_and_counts_pods() -> None:
    pods = [make_pod("a", cpu="250m", memory="64Mi"), make_pod("b", cpu="1")]
    expected = add_resources(*(add_resources(pod_requests(p), {"pods": 1}) for p in pods))
    assert _requested(pods) == expected
    assert _requested(pods) == expected  # the second time from the cache
    assert _requested([]) == {}


def test_a_pod_with_a_replaced_part_is_parsed_anew() -> None:
    pod = make_pod("a", cpu="1")
    first = PodState(pod, 0)
    assert PodState(pod, 1).tolerations == first.tolerations  # the same parts: kept

    tolerant = {**pod, "spec": {**pod["spec"], "tolerations": [{"key": "x", "operator": "Exists"}]}}
    assert [t.key for t in PodState(tolerant, 0).tolerations] == ["x"]
    bigger = make_pod("a", cpu="2")
    assert PodState(bigger, 0).requests["cpu"] == 2000
    assert PodState(pod, 0).requests["cpu"] == 1000


def fields(state: PodState) -> dict[str, object]:
    return {name: getattr(state, name) for name in PodState.__slots__}


def test_a_pod_state_copied_from_the_same_pod_equals_one_built_afresh() -> None:
    pod = make_pod("a", cpu="1")
    pod["spec"]["tolerations"] = [{"key": "x", "operator": "Exists"}]
    pod["spec"]["nodeSelector"] = {"zone": "a"}
    first = PodState.of(pod, 3)
    assert fields(first) == fields(PodState(pod, 3))
    second = PodState.of(pod, 7)  # copied
    assert fields(second) == fields(PodState(pod, 7))
    assert second.terms is not first.terms and second.spreads is not first.spreads
    second.terms.pop()  # a solve relaxing its copy leaves the next copy whole
    assert PodState.of(pod, 0).terms == PodState(pod, 0).terms != []

    pod["spec"]["nodeSelector"] = {"zone": "b"}  # a part replaced: derived again
    assert PodState.of(pod, 0).requirements.get("zone").value_set == {"b"}
    pod["metadata"] = {**pod["metadata"], "name": "b"}
    assert PodState.of(pod, 0).key == "default/b"
