"""JSON merge patch, JSON patch and strategic merge patch, from the tables in data/patch/.

A new case is a new row in ``merge.yaml`` (RFC 7386), ``json.yaml`` (RFC 6902) or
``strategic.yaml``; the Hypothesis properties below check round trips, purity and that
malformed patches fail only with BadRequestError.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import BadRequestError, InvalidError
from shipyard.store.patch import (
    PatchType,
    apply_patch,
    create_strategic_merge_patch,
    parse_patch_type,
    strategic_merge_patch,
)
from shipyard.store.patch_json import (
    create_merge_patch,
    json_equal,
    json_merge_patch,
    json_patch,
)
from shipyard.store.patch_keys import PatchSchema, schema_for

DATA = Path(__file__).parent / "data" / "patch"


def load_cases(name: str) -> list[Any]:
    cases = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    return [pytest.param(case, id=case["name"]) for case in cases]


def expect_same(actual: Any, expected: Any) -> None:
    """Equal as JSON, and as Python (so dict key order aside, everything matches)."""
    assert actual == expected
    assert json_equal(actual, expected)


# --------------------------------------------------------------------------------------------
# Fixture tables


@pytest.mark.parametrize("case", load_cases("merge"))
def test_json_merge_patch(case: dict[str, Any]) -> None:
    original = copy.deepcopy(case["original"])
    expect_same(json_merge_patch(original, case["patch"]), case["expected"])
    assert original == case["original"]


@pytest.mark.parametrize("case", load_cases("json"))
def test_json_patch(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(BadRequestError, match=re.escape(case["error"])):
            json_patch(case["original"], case["patch"])
    else:
        expect_same(json_patch(case["original"], case["patch"]), case["expected"])


@pytest.mark.parametrize("case", load_cases("strategic"))
def test_strategic_merge_patch(case: dict[str, Any]) -> None:
    kind = {"api_version": case.get("apiVersion", "v1"), "kind": case.get("kind", "Pod")}
    if "error" in case:
        with pytest.raises(BadRequestError, match=re.escape(case["error"])):
            strategic_merge_patch(case["original"], case["patch"], **kind)
    else:
        expect_same(
            strategic_merge_patch(case["original"], case["patch"], **kind), case["expected"]
        )


# --------------------------------------------------------------------------------------------
# Patch types and the dispatcher


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("json", PatchType.JSON),
        ("merge", PatchType.MERGE),
        ("strategic", PatchType.STRATEGIC),
        ("Strategic", PatchType.STRATEGIC),
        ("application/json-patch+json", PatchType.JSON),
        ("application/merge-patch+json; charset=utf-8", PatchType.MERGE),
        ("application/strategic-merge-patch+json", PatchType.STRATEGIC),
        (PatchType.MERGE, PatchType.MERGE),
    ],
)
def test_parse_patch_type(text: str, expected: PatchType) -> None:
    assert parse_patch_type(text) is expected


@pytest.mark.parametrize("text", ["apply", "application/apply-patch+yaml", "application/json", ""])
def test_parse_patch_type_rejects(text: str) -> None:
    with pytest.raises(BadRequestError, match="unsupported patch type"):
        parse_patch_type(text)


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}},
    },
}


SET_IMAGE_OF_B = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}}


@pytest.mark.parametrize(
    ("patch_type", "patch", "containers"),
    [
        ("strategic", SET_IMAGE_OF_B, [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]),
        ("merge", SET_IMAGE_OF_B, [{"name": "b", "image": "y"}]),
        ("json", [{"op": "add", "path": "/spec/template/spec/containers/1/image", "value": "y"}],
         [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]),
    ],
)  # fmt: skip
def test_apply_patch_dispatches_on_type(patch_type: str, patch: Any, containers: Any) -> None:
    result = apply_patch(DEPLOYMENT, patch, patch_type, api_version="apps/v1", kind="Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == containers
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][1] == {"name": "b"}


@pytest.mark.parametrize(
    ("patch_type", "patch", "message"),
    [
        (PatchType.MERGE, ["not", "an", "object"], "must leave a JSON object"),
        (PatchType.JSON, [{"op": "replace", "path": "", "value": 3}], "must leave a JSON object"),
        (PatchType.STRATEGIC, [{"op": "add"}], "a strategic merge patch must be a JSON object"),
        (PatchType.JSON, {"spec": {}}, "a json patch must be a JSON array"),
        ("yaml", {}, "unsupported patch type"),
    ],
)
def test_apply_patch_errors(patch_type: str, patch: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(message)):
        apply_patch(DEPLOYMENT, patch, patch_type, api_version="apps/v1", kind="Deployment")


# --------------------------------------------------------------------------------------------
# Computing patches


@pytest.mark.parametrize(
    ("original", "modified", "expected"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, {"a": {"c": None}}),
        ({"a": {"b": 1}}, {"a": {"b": 1}, "d": [1, 2]}, {"d": [1, 2]}),
        ({"a": [1, 2]}, {"a": [2]}, {"a": [2]}),
        ({"a": {"b": 1}}, {"a": "b"}, {"a": "b"}),
        ({"a": True}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 1.0}, {}),
        ({"a": {"x": 1}}, {"a": {}}, {"a": {"x": None}}),
        ({"a": 1}, {"a": {}}, {"a": {}}),
    ],
)
def test_create_merge_patch(original: Any, modified: Any, expected: Any) -> None:
    patch = create_merge_patch(original, modified)
    expect_same(patch, expected)
    expect_same(json_merge_patch(original, patch), modified)


def test_create_merge_patch_needs_objects() -> None:
    with pytest.raises(BadRequestError, match="two JSON objects"):
        create_merge_patch({"a": 1}, [1])  # type: ignore[arg-type]


def pod(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **metadata},
            "spec": spec or {}}  # fmt: skip


TWO_WAY = [
    pytest.param(pod({"containers": [{"name": "a"}]}), pod({"containers": [{"name": "a"}]}), {},
                 id="unchanged"),
    pytest.param(
        pod({"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}),
        pod({"containers": [{"name": "a", "image": "y"}, {"name": "b"}]}),
        {"spec": {"containers": [{"name": "a", "image": "y"}],
                  "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}},
        id="changed-container"),
    pytest.param(
        pod({"containers": [{"name": "a"}, {"name": "b"}]}),
        pod({"containers": [{"name": "b"}]}),
        {"spec": {"containers": [{"name": "a", "$patch": "delete"}],
                  "$setElementOrder/containers": [{"name": "b"}]}},
        id="removed-container"),
    pytest.param(
        pod({"containers": [{"name": "a"}, {"name": "b"}]}),
        pod({"containers": [{"name": "b"}, {"name": "a"}]}),
        {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
        id="reordered-containers"),
    pytest.param(
        pod({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}),
        pod({"containers": [{"name": "a", "env": [{"name": "X", "value": "2"}, {"name": "Y"}]}]}),
        {"spec": {"containers": [{"name": "a",
                                  "env": [{"name": "X", "value": "2"}, {"name": "Y"}],
                                  "$setElementOrder/env": [{"name": "X"}, {"name": "Y"}]}],
                  "$setElementOrder/containers": [{"name": "a"}]}},
        id="env-changed-and-added"),
    pytest.param(
        pod(finalizers=["a", "b"]), pod(finalizers=["b", "c"]),
        {"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"],
                      "$setElementOrder/finalizers": ["b", "c"]}},
        id="finalizers"),
    pytest.param(
        pod({"volumes": [{"name": "v", "emptyDir": {}}]}),
        pod({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}),
        {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}, "emptyDir": None,
                               "$retainKeys": ["configMap", "name"]}],
                  "$setElementOrder/volumes": [{"name": "v"}]}},
        id="volume-source-retain-keys"),
    pytest.param(
        pod({"tolerations": [{"key": "a"}, {"key": "b"}]}), pod({"tolerations": [{"key": "b"}]}),
        {"spec": {"tolerations": [{"key": "b"}]}},
        id="atomic-list"),
    pytest.param(
        pod({"containers": []}), pod({"containers": [{"name": "a"}]}),
        {"spec": {"containers": [{"name": "a"}]}},
        id="list-was-empty"),
    pytest.param(
        pod({"containers": [{"name": "a"}, {"name": "a"}]}), pod({"containers": [{"name": "b"}]}),
        {"spec": {"containers": [{"name": "b"}, {"$patch": "replace"}]}},
        id="duplicate-keys-replace-the-list"),
    pytest.param(
        pod({"nodeSelector": {"a": "1"}}), pod(), {"spec": {"nodeSelector": None}},
        id="removed-map"),
]  # fmt: skip


@pytest.mark.parametrize(("original", "modified", "expected"), TWO_WAY)
def test_create_strategic_merge_patch(original: Any, modified: Any, expected: Any) -> None:
    patch = create_strategic_merge_patch(original, modified, api_version="v1", kind="Pod")
    expect_same(patch, expected)
    expect_same(strategic_merge_patch(original, patch, api_version="v1", kind="Pod"), modified)


def test_create_strategic_merge_patch_halves() -> None:
    original = pod({"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}, labels={"x": "1"})
    modified = pod({"containers": [{"name": "a", "image": "y"}]}, labels={"y": "2"})
    only: dict[str, Any] = {"api_version": "v1", "kind": "Pod"}
    deletions = create_strategic_merge_patch(original, modified, include_changes=False, **only)
    assert deletions == {
        "metadata": {"labels": {"x": None}},
        "spec": {
            "containers": [{"name": "b", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "a"}],
        },
    }
    changes = create_strategic_merge_patch(original, modified, include_deletions=False, **only)
    assert changes == {
        "metadata": {"labels": {"y": "2"}},
        "spec": {
            "containers": [{"name": "a", "image": "y"}],
            "$setElementOrder/containers": [{"name": "a"}],
        },
    }


def test_create_strategic_merge_patch_for_custom_resources_is_a_merge_patch() -> None:
    original = {"spec": {"items": [{"name": "a"}, {"name": "b"}], "gone": 1, "keep": {"x": 1}}}
    modified = {"spec": {"items": [{"name": "b"}], "keep": {"x": 1, "y": 2}}}
    kind: dict[str, Any] = {"api_version": "example.com/v1", "kind": "Widget"}
    full = create_strategic_merge_patch(original, modified, **kind)
    assert full == {"spec": {"gone": None, "items": [{"name": "b"}], "keep": {"y": 2}}}
    assert create_strategic_merge_patch(original, modified, include_changes=False, **kind) == {
        "spec": {"gone": None}
    }
    assert create_strategic_merge_patch(original, modified, include_deletions=False, **kind) == {
        "spec": {"items": [{"name": "b"}], "keep": {"y": 2}}
    }


# --------------------------------------------------------------------------------------------
# The merge-key table


def field_schema(api_version: str, kind: str, path: str) -> PatchSchema:
    schema = schema_for(api_version, kind)
    assert schema is not None
    for name in path.split("."):
        schema = schema.child(name)
    return schema


POD_SPEC_ROWS = [
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("containers.env", "name"),
    ("initContainers.env", "name"),
    ("ephemeralContainers.env", "name"),
    ("containers.ports", "containerPort"),
    ("containers.volumeMounts", "mountPath"),
    ("containers.volumeDevices", "devicePath"),
    ("volumes", "name"),
    ("imagePullSecrets", "name"),
    ("hostAliases", "ip"),
    ("topologySpreadConstraints", "topologyKey"),
    ("resourceClaims", "name"),
    ("schedulingGates", "name"),
    ("tolerations", ""),
    ("readinessGates", ""),
    ("containers.envFrom", ""),
    ("containers.args", ""),
]
POD_TEMPLATES = [
    ("v1", "Pod", "spec"),
    ("v1", "PodTemplate", "template.spec"),
    ("v1", "ReplicationController", "spec.template.spec"),
    ("apps/v1", "Deployment", "spec.template.spec"),
    ("apps/v1", "ReplicaSet", "spec.template.spec"),
    ("apps/v1", "DaemonSet", "spec.template.spec"),
    ("apps/v1", "StatefulSet", "spec.template.spec"),
    ("batch/v1", "Job", "spec.template.spec"),
    ("batch/v1", "CronJob", "spec.jobTemplate.spec.template.spec"),
]
OTHER_ROWS = [
    ("v1", "Pod", "status.conditions", "type"),
    ("v1", "Pod", "status.podIPs", "ip"),
    ("v1", "Pod", "status.containerStatuses", ""),
    ("v1", "Node", "status.conditions", "type"),
    ("v1", "Node", "status.addresses", "type"),
    ("v1", "Node", "spec.taints", ""),
    ("v1", "Service", "spec.ports", "port"),
    ("v1", "ServiceAccount", "secrets", "name"),
    ("v1", "Endpoints", "subsets", ""),
    ("v1", "ConfigMap", "metadata.ownerReferences", "uid"),
    ("apps/v1", "Deployment", "status.conditions", "type"),
    ("apps/v1", "StatefulSet", "status.conditions", "type"),
    ("apps/v1", "Deployment", "spec.template.metadata.ownerReferences", "uid"),
    ("batch/v1", "Job", "status.conditions", "type"),
    ("policy/v1", "PodDisruptionBudget", "status.conditions", "type"),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "path", "merge_key"),
    [
        *[(v, k, f"{prefix}.{path}", key) for v, k, prefix in POD_TEMPLATES
          for path, key in POD_SPEC_ROWS],
        *OTHER_ROWS,
    ],
)  # fmt: skip
def test_merge_keys(api_version: str, kind: str, path: str, merge_key: str) -> None:
    schema = field_schema(api_version, kind, path)
    assert schema.merge_key == merge_key
    assert schema.keyed == bool(merge_key)


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("v1", "Pod", "metadata.finalizers"),
        ("batch/v1", "CronJob", "metadata.finalizers"),
        ("v1", "Node", "spec.podCIDRs"),
    ],
)
def test_primitive_lists_merge_as_sets(api_version: str, kind: str, path: str) -> None:
    schema = field_schema(api_version, kind, path)
    assert schema.merge and not schema.merge_key


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("v1", "Pod", "spec.volumes"),
        ("v1", "Pod", "spec.resourceClaims"),
        ("apps/v1", "Deployment", "spec.strategy"),
        ("batch/v1", "CronJob", "spec.jobTemplate.spec.template.spec.volumes"),
    ],
)
def test_retain_keys_fields(api_version: str, kind: str, path: str) -> None:
    assert field_schema(api_version, kind, path).retain_keys


def test_custom_resources_have_no_schema() -> None:
    assert schema_for("karpenter.sh/v1", "NodePool") is None
    assert schema_for("example.com/v1alpha1", "Pod") is None
    assert schema_for("v1", "Secret") is not None
    assert schema_for("rbac.authorization.k8s.io/v1", "Role") is not None


# --------------------------------------------------------------------------------------------
# Properties

SCALARS = (
    st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=3)
)


def json_trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def nest(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)

    return st.recursive(leaves, nest, max_leaves=12)


JSON_NO_NULLS = json_trees(SCALARS)
OBJECTS_NO_NULLS = st.dictionaries(st.text(max_size=2), JSON_NO_NULLS, max_size=4)
JSON_VALUES = json_trees(st.none() | SCALARS)

NAMES = st.sampled_from(["a", "b", "c", "d"])
WORDS = st.sampled_from(["x", "y", "1"])


def keyed(element: st.SearchStrategy[dict[str, Any]], key: str) -> st.SearchStrategy[Any]:
    return st.lists(element, max_size=3, unique_by=lambda item: item[key])


def some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object holding any subset of ``fields``."""
    return st.fixed_dictionaries({}, optional=fields)


ENV = st.fixed_dictionaries({"name": NAMES}, optional={"value": WORDS})
PORT = st.fixed_dictionaries(
    {"containerPort": st.integers(80, 83)}, optional={"name": WORDS, "protocol": st.just("UDP")}
)
MOUNT = st.fixed_dictionaries(
    {"mountPath": st.sampled_from(["/a", "/b"])},
    optional={"name": NAMES, "readOnly": st.booleans()},
)
CONTAINER = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "image": WORDS,
        "args": st.lists(WORDS, max_size=3),
        "env": keyed(ENV, "name"),
        "ports": keyed(PORT, "containerPort"),
        "volumeMounts": keyed(MOUNT, "mountPath"),
        "resources": some(limits=st.dictionaries(st.sampled_from(["cpu", "memory"]), WORDS)),
    },
)
VOLUME = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "emptyDir": some(medium=st.just("Memory")),
        "configMap": st.fixed_dictionaries({"name": WORDS}),
        "secret": some(secretName=WORDS, optional=st.booleans()),
    },
)
POD_SPEC = some(
    containers=keyed(CONTAINER, "name"),
    initContainers=keyed(CONTAINER, "name"),
    volumes=keyed(VOLUME, "name"),
    tolerations=st.lists(st.fixed_dictionaries({"key": NAMES}), max_size=2),
    hostAliases=keyed(
        st.fixed_dictionaries({"ip": st.sampled_from(["10.0.0.1", "10.0.0.2"])},
                              optional={"hostnames": st.lists(WORDS, max_size=2)}), "ip"),
    imagePullSecrets=keyed(st.fixed_dictionaries({"name": NAMES}), "name"),
    nodeSelector=st.dictionaries(NAMES, WORDS, max_size=2),
    restartPolicy=st.sampled_from(["Always", "Never"]),
)  # fmt: skip
METADATA = st.fixed_dictionaries(
    {"name": st.just("web")},
    optional={
        "labels": st.dictionaries(NAMES, WORDS, max_size=3),
        "finalizers": st.lists(NAMES, max_size=3, unique=True),
        "ownerReferences": keyed(
            st.fixed_dictionaries({"uid": NAMES}, optional={"controller": st.booleans()}), "uid"
        ),
    },
)
PODS = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.just("Pod"), "metadata": METADATA},
    optional={
        "spec": POD_SPEC,
        "status": some(
            conditions=keyed(st.fixed_dictionaries({"type": NAMES, "status": WORDS}), "type")
        ),
    },
)
DEPLOYMENTS = st.fixed_dictionaries(
    {"apiVersion": st.just("apps/v1"), "kind": st.just("Deployment"), "metadata": METADATA},
    optional={
        "spec": some(
            replicas=st.integers(0, 3),
            strategy=st.sampled_from(
                [{"type": "Recreate"}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}]
            ),
            template=some(metadata=some(labels=st.dictionaries(NAMES, WORDS)), spec=POD_SPEC),
        )
    },
)
WIDGETS = st.fixed_dictionaries(
    {"apiVersion": st.just("example.com/v1"), "kind": st.just("Widget"), "metadata": METADATA},
    optional={"spec": OBJECTS_NO_NULLS},
)
# Two documents of the same kind.
SAME_KIND_PAIRS = st.sampled_from([PODS, DEPLOYMENTS, WIDGETS]).flatmap(
    lambda kind: st.tuples(kind, kind)
)

PATCH_KEYS = st.sampled_from(
    [
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$setElementOrder/finalizers",
        "$setElementOrder/",
        "$deleteFromPrimitiveList/finalizers",
        "$deleteFromPrimitiveList/containers",
        "metadata",
        "spec",
        "template",
        "containers",
        "env",
        "volumes",
        "finalizers",
        "strategy",
        "name",
        "value",
    ]
)
PATCH_VALUES = st.recursive(
    st.none() | SCALARS | st.sampled_from(["replace", "delete", "merge", "a", "name"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PATCH_KEYS, inner, max_size=4),
    max_leaves=16,
)
ARBITRARY_PATCHES = st.dictionaries(PATCH_KEYS, PATCH_VALUES, max_size=4) | PODS | DEPLOYMENTS
POINTERS = st.lists(
    st.sampled_from(["a", "b", "0", "1", "-", "01", "~0", "~1", "~", "spec", ""]), max_size=3
).map(lambda tokens: "".join("/" + token for token in tokens)) | st.text(max_size=3)
OPERATIONS = some(
    op=st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]) | SCALARS,
    path=POINTERS | SCALARS,
    value=JSON_VALUES,
    **{"from": POINTERS | SCALARS},
)
ARBITRARY_OPS = st.lists(OPERATIONS | JSON_VALUES, max_size=4) | JSON_VALUES
DOCUMENTS = st.dictionaries(st.sampled_from(["a", "b", "0", "spec"]), JSON_VALUES, max_size=3)


def scramble(value: Any) -> None:
    """Empty every container inside ``value``: a result sharing structure with an input
    would change the input too."""
    children = list(value.values()) if isinstance(value, dict) else value
    if isinstance(children, list):
        for child in children:
            scramble(child)
        value.clear()


@given(OBJECTS_NO_NULLS, OBJECTS_NO_NULLS)
def test_merge_patch_round_trip(original: dict[str, Any], modified: dict[str, Any]) -> None:
    patch = create_merge_patch(original, modified)
    assert json_equal(json_merge_patch(original, patch), modified)


@given(SAME_KIND_PAIRS)
def test_strategic_merge_patch_round_trip(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    original, modified = pair
    kind = {"api_version": original["apiVersion"], "kind": original["kind"]}
    patch = create_strategic_merge_patch(original, modified, **kind)
    assert json_equal(strategic_merge_patch(original, patch, **kind), modified)
    assert create_strategic_merge_patch(modified, modified, **kind) == {}


@given(JSON_VALUES)
def test_empty_json_patch_is_identity(document: Any) -> None:
    result = json_patch(document, [])
    assert json_equal(result, document)
    scramble(result)
    assert json_equal(json_patch(document, []), document)


@given(PODS | DEPLOYMENTS, ARBITRARY_PATCHES)
def test_arbitrary_strategic_patches_fail_only_with_bad_request(
    original: dict[str, Any], patch: dict[str, Any]
) -> None:
    kind = {"api_version": original["apiVersion"], "kind": original["kind"]}
    with contextlib.suppress(BadRequestError, InvalidError):
        strategic_merge_patch(original, patch, **kind)


@given(DOCUMENTS, ARBITRARY_OPS)
def test_arbitrary_json_patches_fail_only_with_bad_request(document: Any, ops: Any) -> None:
    with contextlib.suppress(BadRequestError, InvalidError):
        json_patch(document, ops)


@given(
    PODS | DEPLOYMENTS,
    ARBITRARY_PATCHES | ARBITRARY_OPS,
    st.sampled_from(["json", "merge", "strategic", "other"]),
)
def test_arbitrary_patches_through_the_dispatcher(
    original: dict[str, Any], patch: Any, patch_type: str
) -> None:
    kind = {"api_version": original["apiVersion"], "kind": original["kind"]}
    with contextlib.suppress(BadRequestError, InvalidError):
        assert isinstance(apply_patch(original, patch, patch_type, **kind), dict)


@given(PODS | DEPLOYMENTS, ARBITRARY_PATCHES, ARBITRARY_OPS)
def test_patches_never_mutate_inputs(original: dict[str, Any], patch: Any, ops: Any) -> None:
    kind = {"api_version": original["apiVersion"], "kind": original["kind"]}
    before = copy.deepcopy((original, patch, ops))
    calls: list[Callable[[], Any]] = [
        lambda: strategic_merge_patch(original, patch, **kind),
        lambda: json_merge_patch(original, patch),
        lambda: json_patch(original, ops),
        lambda: create_merge_patch(original, patch),
        lambda: create_strategic_merge_patch(original, patch, **kind),
        lambda: create_strategic_merge_patch(patch, original, **kind),
    ]
    for call in calls:
        with contextlib.suppress(BadRequestError):
            scramble(call())
        assert (original, patch, ops) == before
