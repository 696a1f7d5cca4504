"""kubectl client-side apply (three-way merge), from the cases in data/patch/apply.yaml.

Each case names last-applied, desired and live; the test adds the annotation kubectl would
have left on live, applies, and compares the result and (when given) the patch, both without
the annotation, which is checked on its own.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import BadRequestError
from shipyard.store.apply import (
    LAST_APPLIED,
    apply_result,
    last_applied,
    three_way_patch,
    with_last_applied,
)
from tests.store.test_patch import DEPLOYMENTS, PODS, WIDGETS, scramble

CASES = yaml.safe_load((Path(__file__).parent / "data" / "patch" / "apply.yaml").read_text())


def complete(doc: dict[str, Any] | None, api_version: str, kind: str) -> dict[str, Any] | None:
    """The document with apiVersion, kind and metadata.name, as a manifest would have them."""
    if doc is None:
        return None
    doc = copy.deepcopy(doc)
    doc.setdefault("apiVersion", api_version)
    doc.setdefault("kind", kind)
    doc.setdefault("metadata", {}).setdefault("name", "web")
    return doc


def annotation(applied: dict[str, Any]) -> str:
    """The last-applied annotation kubectl writes when it applies ``applied``."""
    text: str = with_last_applied(applied)["metadata"]["annotations"][LAST_APPLIED]
    return text


def annotated(live: dict[str, Any], applied: dict[str, Any] | None) -> dict[str, Any]:
    """``live`` carrying the annotation kubectl left when it applied ``applied``."""
    if applied is not None:
        live["metadata"].setdefault("annotations", {})[LAST_APPLIED] = annotation(applied)
    return live


def without_annotation(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    metadata = doc.get("metadata", {})
    annotations = metadata.get("annotations", {})
    annotations.pop(LAST_APPLIED, None)
    if not annotations:
        metadata.pop("annotations", None)
    if not metadata:
        doc.pop("metadata", None)
    return doc


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in CASES])
def test_apply(case: dict[str, Any]) -> None:
    kind = {
        "api_version": case.get("apiVersion", "apps/v1"),
        "kind": case.get("kind", "Deployment"),
    }
    docs = [complete(case[k], *kind.values()) for k in ("last_applied", "desired", "live")]
    last, desired, live = docs
    assert desired is not None and live is not None
    live = annotated(live, last)
    before = copy.deepcopy(docs)

    result = apply_result(last, desired, live, **kind)

    assert without_annotation(result) == complete(case["expected"], *kind.values())
    assert result["metadata"]["annotations"][LAST_APPLIED] == annotation(desired)
    if "patch" in case:
        patch = three_way_patch(last, desired, live, **kind)
        assert without_annotation(patch) == case["patch"]
    assert [last, desired, live] == before


def test_annotation_is_written_like_kubectl() -> None:
    desired = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"namespace": "default", "name": "cm"},
        "data": {"b": "<a & b>", "a": "grüße"},
    }
    annotations = with_last_applied(desired)["metadata"]["annotations"]
    assert annotations == {
        LAST_APPLIED: '{"apiVersion":"v1","data":{"a":"grüße","b":"\\u003ca \\u0026 b\\u003e"},'
        '"kind":"ConfigMap","metadata":{"annotations":{},"name":"cm","namespace":"default"}}\n'
    }
    assert "annotations" not in desired["metadata"]


def test_annotation_excludes_itself_and_keeps_other_annotations() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "annotations": {"team": "shop", LAST_APPLIED: "stale"}},
    }
    applied = with_last_applied(desired)
    assert applied["metadata"]["annotations"]["team"] == "shop"
    assert json.loads(applied["metadata"]["annotations"][LAST_APPLIED]) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "annotations": {"team": "shop"}},
    }
    assert with_last_applied(applied) == applied


def test_with_last_applied_needs_object_metadata() -> None:
    with pytest.raises(BadRequestError, match="metadata must be an object"):
        with_last_applied({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "cm"})
    with pytest.raises(BadRequestError, match=r"metadata\.annotations must be an object"):
        with_last_applied({"kind": "ConfigMap", "metadata": {"annotations": ["a"]}})


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"name": "cm"}, None),
        ({"annotations": None}, None),
        ({"annotations": {LAST_APPLIED: ""}}, None),
        ({"annotations": {LAST_APPLIED: '{"data":{"a":"1"}}\n'}}, {"data": {"a": "1"}}),
    ],
)
def test_last_applied(metadata: dict[str, Any], expected: Any) -> None:
    assert last_applied({"kind": "ConfigMap", "metadata": metadata}) == expected


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "3", 7])
def test_last_applied_rejects_what_is_not_an_object(text: Any) -> None:
    live = {"kind": "ConfigMap", "metadata": {"name": "cm", "annotations": {LAST_APPLIED: text}}}
    with pytest.raises(BadRequestError, match=r"ConfigMap cm: annotation .* does not hold a JSON"):
        last_applied(live)


# Three manifests of one kind: what was there, and two successive applies.
MANIFESTS = st.sampled_from([PODS, DEPLOYMENTS, WIDGETS]).flatmap(
    lambda kind: st.tuples(kind, kind, kind)
)


@given(MANIFESTS)
def test_apply_twice_then_reapply_is_a_no_op(docs: tuple[dict[str, Any], ...]) -> None:
    """Applying d1 then d2 to a live object: d2's fields win, fields d1 set and d2 dropped are
    gone, and applying d2 once more sends an empty patch."""
    existing, first, second = docs
    kind = {"api_version": first["apiVersion"], "kind": first["kind"]}
    before = copy.deepcopy(docs)

    live = apply_result(None, first, existing, **kind)
    live = apply_result(last_applied(live), second, live, **kind)

    assert three_way_patch(last_applied(live), second, live, **kind) == {}
    assert live["metadata"]["annotations"][LAST_APPLIED] == annotation(second)
    if "spec" in first and "spec" not in second:
        assert "spec" not in live
    elif "spec" in first:
        dropped = set(first["spec"]) - set(second["spec"])
        assert dropped.isdisjoint(live["spec"])
    assert docs == before


@given(MANIFESTS)
def test_three_way_patch_never_mutates_inputs(docs: tuple[dict[str, Any], ...]) -> None:
    last, desired, live = docs
    kind = {"api_version": desired["apiVersion"], "kind": desired["kind"]}
    before = copy.deepcopy(docs)
    scramble(three_way_patch(last, desired, live, **kind))
    scramble(apply_result(last, desired, live, **kind))
    assert docs == before
