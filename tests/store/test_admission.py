"""Admission of the built-in kinds: Kubernetes' defaults and validation messages.

Most cases are fixture files under ``data/admission``: ``valid/*.yaml`` must be accepted after
defaulting; each ``invalid/*.yaml`` starts with one ``# expect: <path>: <message substring>``
line per error it must produce — no more, no fewer. A new case is a new file. The tests below
them cover what a single manifest cannot: update rules (immutable fields), limits too large
for a fixture, and robustness against any JSON value anywhere (hypothesis).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import FieldError
from shipyard.core.objects import json_copy
from shipyard.store.kinds import builtin_scheme
from shipyard.store.scheme import KindInfo
from shipyard.store.validation import schema
from shipyard.store.validation.schema import show

DATA = Path(__file__).parent / "data" / "admission"
VALID = sorted((DATA / "valid").glob("*.yaml"))
INVALID = sorted((DATA / "invalid").glob("*.yaml"))
SCHEME = builtin_scheme()
UID = "6c1d6f1e-2f2a-4c55-9d0e-1f3b2a4c5d6e"
EXPECT = "# expect: "

Obj = dict[str, Any]


# --- helpers --------------------------------------------------------------------------------


def info_of(obj: Obj) -> KindInfo:
    return SCHEME.get(obj["apiVersion"], obj["kind"])


def admit(obj: Obj, old: Obj | None = None, info: KindInfo | None = None) -> list[FieldError]:
    """What the store does before a write: place the object, default it, validate it."""
    info = info or info_of(obj)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        if info.namespaced and not metadata.get("namespace"):
            metadata["namespace"] = "default"
        metadata.setdefault("uid", UID)
    info.default(obj)
    return info.validate(obj, old)


def documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def expectations(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().splitlines()
    pairs = [line[len(EXPECT) :].partition(": ") for line in lines if line.startswith(EXPECT)]
    return [(field, message) for field, _, message in pairs]


def admitted(obj: Obj) -> Obj:
    """The object as stored after a successful create."""
    errors = admit(obj)
    assert errors == [], errors
    return obj


def fixture(name: str, kind: str | None = None) -> Obj:
    """A defaulted copy of a valid fixture document (the first of ``kind`` when given)."""
    docs = documents(DATA / "valid" / f"{name}.yaml")
    doc = next(d for d in docs if kind is None or d["kind"] == kind)
    return admitted(json_copy(doc))


def expect_error(errors: list[FieldError], path: str, fragment: str) -> None:
    assert any(e.path == path and fragment in e.message for e in errors), errors


# --- fixture files --------------------------------------------------------------------------


def test_fixture_sets_cover_the_kinds() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for p in VALID for d in documents(p)}
    assert kinds == {(info.api_version, info.kind) for info in SCHEME}
    assert len(INVALID) >= 100


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_manifest_is_accepted_after_defaulting(path: Path) -> None:
    for doc in documents(path):
        assert admit(doc) == [], f"{doc['kind']} {doc['metadata'].get('name')}"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_defaulting_is_idempotent(path: Path) -> None:
    for doc in documents(path):
        once = json_copy(doc)
        admit(once)
        twice = json_copy(once)
        info_of(twice).default(twice)
        assert twice == once


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_reports_exactly_the_expected_errors(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '{EXPECT}' line"
    errors = admit(documents(path)[0])
    for field, message in expected:
        expect_error(errors, field, message)
    assert len(errors) == len(expected), errors


def test_every_invalid_value_is_shown_in_quotes() -> None:
    errors = [e for path in INVALID for e in admit(documents(path)[0])]
    invalid = [e for e in errors if e.message.startswith("Invalid value")]
    assert len(invalid) > 50
    for error in invalid:
        assert re.match(r'Invalid value: ".*": \S', error.message), error


@pytest.mark.parametrize("path", INVALID[::7], ids=lambda p: p.stem)
def test_a_repeat_is_judged_like_a_first_sighting(path: Path) -> None:
    """The validators remember valid values and objects; that must never hide an error."""
    doc = documents(path)[0]
    assert admit(json_copy(doc)) == admit(json_copy(doc))


def test_values_are_shown_in_double_quotes_whatever_their_type() -> None:
    assert [show(v) for v in ("fast", -1, 2.5, True, None, {"app": "web"}, [1])] == [
        '"fast"',
        '"-1"',
        '"2.5"',
        '"true"',
        '"null"',
        '"{"app":"web"}"',
        '"[1]"',
    ]
    assert show('say "hi"') == '"say \\"hi\\""'
    assert show("x" * 500).endswith('..."')


def test_durations_for_the_products_kinds() -> None:
    errors: list[FieldError] = []
    spec = schema.Obj({"after": schema.Duration(), "expire": schema.Duration(allow_never=True)})
    spec.check({"after": "1h30m", "expire": "Never"}, "spec", errors)
    assert errors == []
    spec.check({"after": "1d", "expire": "-5s"}, "spec", errors)
    assert [e.path for e in errors] == ["spec.after", "spec.expire"]
    assert errors[0].message.startswith('Invalid value: "1d": invalid duration')
    assert errors[1].message == 'Invalid value: "-5s": must not be negative'


def test_the_issue_example_names_the_path_and_the_bad_value() -> None:
    deployment = documents(DATA / "invalid" / "deployment-cpu-fast.yaml")[0]
    [error] = admit(deployment)
    assert error.path == "spec.template.spec.containers[0].resources.requests.cpu"
    assert '"fast"' in error.message
    assert str(error).startswith("spec.template.spec.containers[0].resources.requests.cpu: ")


# --- metadata -------------------------------------------------------------------------------


def test_annotations_are_limited_to_256_kib_in_total() -> None:
    pod = fixture("pod-minimal")
    pod["metadata"]["annotations"] = {"a": "x" * (128 * 1024), "b": "y" * (128 * 1024)}
    expect_error(admit(pod), "metadata.annotations", "Too long: may not be more than 262144")
    pod["metadata"]["annotations"]["b"] = "y" * (128 * 1024 - 2)
    assert admit(pod) == []


def test_namespaced_kinds_need_a_namespace_and_cluster_kinds_refuse_one() -> None:
    pod = fixture("pod-minimal")
    del pod["metadata"]["namespace"]
    info = info_of(pod)
    expect_error(info.validate(pod, None), "metadata.namespace", "Required value")
    node = fixture("core-misc", "Node")
    node["metadata"]["namespace"] = "default"
    expect_error(admit(node), "metadata.namespace", "Forbidden: not allowed on this type")


def test_status_may_carry_anything_for_kinds_whose_status_is_not_modelled() -> None:
    pod = fixture("pod-minimal")
    pod["status"] = {"phase": "Running", "somethingNew": [1, {"x": None}], "podIP": "10.0.0.1"}
    assert admit(pod) == []
    pod["status"] = "Running"
    expect_error(admit(pod), "status", 'Invalid value: "Running": must be of type object')


def test_wrong_types_are_reported_with_the_value_and_the_expected_type() -> None:
    deployment = fixture("deployment")
    deployment["spec"]["paused"] = "no"
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = {"containerPort": 80}
    errors = admit(deployment)
    expect_error(errors, "spec.paused", 'Invalid value: "no": must be of type boolean')
    expect_error(
        errors,
        "spec.template.spec.containers[0].ports",
        'Invalid value: "{"containerPort":80}": must be of type array',
    )


# --- update rules ---------------------------------------------------------------------------


def test_an_update_reruns_an_objects_rules_only_when_an_entry_is_not_the_stored_one() -> None:
    """A new map holding exactly the stored entries (a write's metadata) has the stored
    content, whose rules passed when it was written; any other map is judged in full."""
    judged: list[dict[str, Any]] = []

    def rule(obj: dict[str, Any], path: str, errs: schema.Errors) -> None:
        judged.append(obj)
        if obj.get("b") == "bad":
            errs.append(schema.invalid(f"{path}.b", obj["b"], "must not be bad"))

    node = schema.Obj({"a": schema.Str(), "b": schema.Str(), "c": schema.AnyValue()}, rules=(rule,))
    old: Obj = {"a": "x", "b": None, "c": {"n": 1}}

    def check(new: Obj) -> list[FieldError]:
        errs: schema.Errors = []
        node.check_update(new, old, "spec", errs)
        return errs

    assert check({**old}) == [] and judged == []
    for new, paths in (
        ({**old, "b": "bad"}, ["spec.b"]),  # a changed entry
        ({**old, "c": {"n": 1}}, []),  # equal, but not the stored part itself
        ({"a": "x", "c": old["c"]}, []),  # an entry dropped
        ({**old, "d": None}, ["spec.d"]),  # a null that was not stored: an unknown field
    ):
        judged.clear()
        assert [e.path for e in check(new)] == paths
        assert judged == [new]


def test_deployment_selector_is_immutable_but_scale_and_image_may_change() -> None:
    old = fixture("deployment")
    new = json_copy(old)
    new["spec"]["replicas"] = 10
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert admit(new, old) == []
    new["spec"]["selector"]["matchLabels"]["tier"] = "front"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    expect_error(admit(new, old), "spec.selector", "field is immutable")


def test_service_cluster_ip_cannot_change_once_set() -> None:
    old = fixture("services", "Service")
    new = json_copy(old)
    new["spec"]["clusterIP"] = "10.96.0.20"  # allocated: from unset to set is fine
    assert admit(new, old) == []
    newer = json_copy(new)
    newer["spec"]["clusterIP"] = "10.96.0.21"
    expect_error(admit(newer, new), "spec.clusterIP", 'Invalid value: "10.96.0.21": field is')
    del newer["spec"]["clusterIP"]  # left out of an update: the stored value stays
    assert admit(newer, new) == []


def test_pod_spec_is_immutable_except_images_binding_and_added_tolerations() -> None:
    old = fixture("pod-full")
    new = json_copy(old)
    new["spec"]["containers"][0]["image"] = "registry.example.com/api:1.4.3"
    new["spec"]["nodeName"] = "ip-10-0-1-23"
    new["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})
    new["spec"]["activeDeadlineSeconds"] = 60
    assert admit(new, old) == []
    bound = json_copy(new)
    moved = json_copy(bound)
    moved["spec"]["nodeName"] = "ip-10-0-9-9"
    moved["spec"]["tolerations"].pop(0)
    moved["spec"]["containers"][0]["args"] = ["--port=9090"]
    [error] = admit(moved, bound)
    assert error.path == "spec"
    assert "pod updates may not change fields" in error.message
    assert "spec.containers, spec.nodeName, spec.tolerations" in error.message


def test_statefulset_updates_are_limited_to_the_mutable_fields() -> None:
    old = fixture("statefulset")
    new = json_copy(old)
    new["spec"]["replicas"] = 5
    new["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 0
    assert admit(new, old) == []
    new["spec"]["serviceName"] = "pg"
    expect_error(admit(new, old), "spec", "Forbidden: updates to statefulset spec for fields")


def test_immutable_configmap_and_secret_keep_their_data() -> None:
    old = fixture("core-misc", "ConfigMap")
    old["immutable"] = True
    new = json_copy(old)
    new["data"]["LOG_LEVEL"] = "debug"
    expect_error(admit(new, old), "data", "field is immutable when `immutable` is set")
    new = json_copy(old)
    new["immutable"] = False
    expect_error(admit(new, old), "immutable", "field is immutable when `immutable` is set")
    secret = fixture("core-misc", "Secret")
    retyped = json_copy(secret)
    retyped["type"] = "Opaque"
    retyped["data"]["tls.key"] = retyped["data"]["tls.crt"]
    expect_error(admit(retyped, secret), "type", "field is immutable")


def test_priority_class_value_cannot_change() -> None:
    old = fixture("other-groups", "PriorityClass")
    new = json_copy(old)
    new["value"] = 5
    expect_error(admit(new, old), "value", "Forbidden: may not be changed in an update.")


def test_job_template_may_change_only_while_suspended() -> None:
    old = fixture("job")
    new = json_copy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    expect_error(admit(new, old), "spec.template", "field is immutable")
    old["spec"]["suspend"] = True
    new["spec"]["suspend"] = True
    assert admit(new, old) == []
    new["spec"]["selector"]["matchLabels"]["x"] = "y"
    expect_error(admit(new, old), "spec.selector", "field is immutable")


def test_claim_may_grow_but_not_change_class() -> None:
    old = fixture("core-misc", "PersistentVolumeClaim")
    new = json_copy(old)
    new["spec"]["resources"]["requests"]["storage"] = "20Gi"
    new["spec"]["volumeName"] = "pv-123"  # bound by the volume controller
    assert admit(new, old) == []
    new["spec"]["storageClassName"] = "io2"
    expect_error(admit(new, old), "spec", "spec is immutable after creation")


def test_endpoint_slice_address_type_and_node_provider_id_are_fixed() -> None:
    old = fixture("other-groups", "EndpointSlice")
    new = json_copy(old)
    new["addressType"] = "IPv6"
    new["endpoints"][0]["addresses"] = ["fd00::5"]
    expect_error(admit(new, old), "addressType", "field is immutable")
    node = fixture("core-misc", "Node")
    moved = json_copy(node)
    moved["spec"]["providerID"] = "aws:///eu-west-1b/i-0fedcba9876543210"
    expect_error(admit(moved, node), "spec.providerID", "may not change providerID")


# --- robustness: any JSON value anywhere ----------------------------------------------------

# Values that mean something to some field: enum members, quantities, percentages.
MEANINGFUL: tuple[str, ...] = ("", "0", "-1", "0%", "150%", "fast", "100m", "1Gi", "Always")
MEANINGFUL += ("Exists", "In", "Gt", "NoExecute", "Indexed", "Utilization", "None", "http")
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(MEANINGFUL)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
TARGETS = [
    fixture("pod-full"),
    fixture("deployment"),
    fixture("statefulset"),
    fixture("job-indexed"),
    fixture("cronjob"),
    fixture("services", "Service"),
    fixture("other-groups", "HorizontalPodAutoscaler"),
    fixture("other-groups", "PodDisruptionBudget"),
    fixture("core-misc", "Node"),
]


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every dict key and list index under ``value``, as a path of keys."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found.append((*prefix, key))
        if isinstance(item, (dict, list)) and item:
            found.extend(paths_in(item, (*prefix, key)))
    return found


def assert_only_field_errors(obj: Obj, info: KindInfo, old: Obj | None = None) -> None:
    errors = admit(obj, old, info)
    assert isinstance(errors, list)
    assert all(isinstance(e, FieldError) and isinstance(e.path, str) for e in errors)


@given(target=st.sampled_from(TARGETS), data=st.data(), value=JSON)
def test_any_value_anywhere_yields_field_errors_never_a_crash(
    target: Obj, data: st.DataObject, value: Any
) -> None:
    obj = json_copy(target)
    info = info_of(obj)
    path = data.draw(st.sampled_from(paths_in(obj)))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert_only_field_errors(obj, info)
    assert_only_field_errors(json_copy(obj), info, old=target)


@given(target=st.sampled_from(TARGETS), data=st.data(), key=st.text(max_size=10), value=JSON)
def test_any_extra_key_anywhere_yields_field_errors_never_a_crash(
    target: Obj, data: st.DataObject, key: str, value: Any
) -> None:
    obj = json_copy(target)
    info = info_of(obj)
    objects = [p for p in paths_in(obj) if isinstance(_at(obj, p), dict)]
    where = data.draw(st.sampled_from([(), *objects]))
    _at(obj, where)[key] = value
    assert_only_field_errors(obj, info)


@given(value=JSON)
def test_any_value_as_a_whole_object_yields_field_errors(value: Any) -> None:
    for info in SCHEME:
        obj = {"apiVersion": info.api_version, "kind": info.kind, "metadata": value}
        assert_only_field_errors(obj, info)
        assert_only_field_errors({"apiVersion": info.api_version, "spec": value}, info)


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


# --- speed ----------------------------------------------------------------------------------


def test_a_typical_pod_is_admitted_quickly() -> None:
    """A loose guard against order-of-magnitude regressions; benchmarks/ has the real figure."""
    import timeit

    template = documents(DATA / "valid" / "deployment.yaml")[0]["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", **json_copy(template)}
    pod["metadata"]["name"] = "web-7d4b9c-x2k8p"
    info = info_of(pod)
    assert admit(json_copy(pod), info=info) == []
    runs = 500
    seconds = min(timeit.repeat(lambda: admit(json_copy(pod), info=info), number=runs, repeat=3))
    assert seconds / runs < 0.002  # 2 ms: ~20x the measured cost on a slow CI machine
