"""The pods the kubelet produces have the shapes real clusters show (Argo CD's health fixtures).

Each case drives a pod into the state a fixture captured (running and ready, running but never
ready, crash-looping under Always and OnFailure, failed under Never, stuck on an image pull),
then checks that every field of the fixture's ``status`` is present in ours with the same
structure (objects, lists), and that the judgement-bearing values (phase, waiting reason,
Ready) agree. Fields Kubernetes added since the fixtures were captured (``started``,
``podIPs``, ``hostIPs``, ``PodReadyToStartContainers``) may be extra on our side.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shipyard.cluster.kubelet import ImageProfile
from shipyard.cluster.podutil import condition
from tests.cluster.kubelet.helpers import (
    bound_pod,
    container,
    container_status,
    start_cluster,
)
from tests.compat import compat_dir

FIXTURES = compat_dir() / "argocd-health"
Obj = dict[str, Any]


def fixture(name: str) -> Obj:
    path = FIXTURES / name
    loaded: Obj = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    return loaded


def missing(expected: Any, actual: Any, path: str = "status") -> list[str]:
    """Fields (or structure) of ``expected`` that ``actual`` lacks."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}")
            else:
                out += missing(value, actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or (expected and not actual):
            return [f"{path}: expected a non-empty list"]
        if expected and isinstance(expected[0], dict) and "type" in expected[0]:
            by_type = {a.get("type"): a for a in actual if isinstance(a, dict)}
            out = []
            for item in expected:
                where = f"{path}[{item['type']}]"
                found = by_type.get(item["type"])
                out += [where] if found is None else missing(item, found, where)
            return out
        return missing(expected[0], actual[0], f"{path}[0]") if expected else []
    return []


CASES = {
    "pod-running-restart-always.yaml": ({"*": ImageProfile(pull_seconds=1)}, {}, 30),
    "pod-running-not-ready.yaml": (
        {"*": ImageProfile(pull_seconds=1, ready=False)},
        {"readinessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10}},
        60,
    ),
    "pod-crashloop.yaml": ({"*": ImageProfile(pull_seconds=1, crash_after_seconds=2)}, {}, 60),
    "pod-running-restart-onfailure.yaml": (
        {"*": ImageProfile(pull_seconds=1, crash_after_seconds=2)},
        {},
        120,
    ),
    "pod-failed.yaml": ({"*": ImageProfile(pull_seconds=1, crash_after_seconds=2)}, {}, 30),
    "pod-imagepullbackoff.yaml": ({"*": ImageProfile(pull_seconds=1, pullable=False)}, {}, 30),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_produced_pods_have_the_fixture_shapes(name: str) -> None:
    expected = fixture(name)
    profiles, fields, seconds = CASES[name]
    cluster = start_cluster(profiles)
    policy = expected["spec"]["restartPolicy"]
    readiness = fields.get("readinessProbe")
    main = container(readinessProbe=readiness) if readiness else container()
    cluster.create(bound_pod(containers=[main], spec={"restartPolicy": policy}))
    cluster.advance(seconds)
    pod = cluster.pod()
    assert missing(expected["status"], pod["status"]) == []
    assert pod["status"]["phase"] == expected["status"]["phase"]
    want, got = expected["status"]["containerStatuses"][0], container_status(pod)
    assert list(got["state"]) == list(want["state"])
    assert got["state"].get("waiting", {}).get("reason") == want["state"].get("waiting", {}).get(
        "reason"
    )
    assert list(got["lastState"]) == list(want["lastState"])
    assert str(got["ready"]).lower() == want["ready"]
    ready = condition(pod, "Ready")
    assert ready is not None and ready["status"] == condition(expected, "Ready")["status"]  # type: ignore[index]


def test_the_shape_check_notices_a_missing_field() -> None:
    assert missing(
        {"a": {"b": 1}, "c": [{"type": "X", "d": 1}]}, {"a": {}, "c": [{"type": "X"}]}
    ) == [
        "status.a.b",
        "status.c[X].d",
    ]
    assert missing({"c": [{"type": "X"}]}, {"c": [{"type": "Y"}]}) == ["status.c[X]"]
