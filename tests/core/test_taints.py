"""Taints and tolerations: matching, kubectl syntax, API validation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import BadRequestError, InvalidError
from shipyard.core.taints import (
    DO_NOT_SCHEDULE,
    EFFECTS,
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    Taint,
    TaintRemoval,
    TaintSpecError,
    Toleration,
    did_not_tolerate,
    parse_taint,
    parse_taint_change,
    taints_from_list,
    tolerates,
    tolerates_all,
    tolerations_from_list,
    untolerated,
    validate_taints,
    validate_tolerations,
)

GPU = Taint("dedicated", "gpu", NO_SCHEDULE)

TOLERATES = [
    # (toleration, taint, tolerated) — Kubernetes' ToleratesTaint
    (Toleration("dedicated", "Equal", "gpu", NO_SCHEDULE), GPU, True),
    (Toleration("dedicated", "Equal", "gpu"), GPU, True),
    (Toleration("dedicated", "", "gpu"), GPU, True),
    (Toleration("dedicated", "Equal", "cpu"), GPU, False),
    (Toleration("dedicated", "Equal", ""), GPU, False),
    (Toleration("dedicated", "Exists"), GPU, True),
    (Toleration("dedicated", "Exists", effect=NO_EXECUTE), GPU, False),
    (Toleration("other", "Exists"), GPU, False),
    (Toleration("", "Exists"), GPU, True),
    (Toleration("", "Exists", effect=NO_SCHEDULE), GPU, True),
    (Toleration("", "Exists", effect=PREFER_NO_SCHEDULE), GPU, False),
    (Toleration("", "Equal", "gpu"), GPU, True),
    (Toleration("dedicated", "Lt", "gpu"), GPU, False),
    (Toleration("flag", "Equal"), Taint("flag", effect=NO_EXECUTE), True),
    (
        Toleration("flag", "Exists", toleration_seconds=30, effect=NO_EXECUTE),
        Taint("flag", effect=NO_EXECUTE),
        True,
    ),
]


@pytest.mark.parametrize(("toleration", "taint", "tolerated"), TOLERATES)
def test_tolerates(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert tolerates(toleration, taint) is tolerated
    assert toleration.tolerates(taint) is tolerated


NODE_TAINTS = [
    Taint("soft", "x", PREFER_NO_SCHEDULE),
    Taint("b", "1", NO_SCHEDULE),
    Taint("a", "", NO_EXECUTE),
    Taint("c", "2", NO_SCHEDULE),
]

UNTOLERATED = [
    # (tolerations, effects, keys of untolerated taints in node order)
    ([], DO_NOT_SCHEDULE, ["b", "a", "c"]),
    ([], EFFECTS, ["soft", "b", "a", "c"]),
    ([Toleration("b", "Exists")], DO_NOT_SCHEDULE, ["a", "c"]),
    ([Toleration("a", "Exists"), Toleration("c", "Equal", "2")], DO_NOT_SCHEDULE, ["b"]),
    ([Toleration("", "Exists")], EFFECTS, []),
    ([Toleration("", "Exists", effect=NO_SCHEDULE)], DO_NOT_SCHEDULE, ["a"]),
    ([], (PREFER_NO_SCHEDULE,), ["soft"]),
]


@pytest.mark.parametrize(("tolerations", "effects", "keys"), UNTOLERATED)
def test_untolerated_in_node_order(
    tolerations: list[Toleration], effects: tuple[str, ...], keys: list[str]
) -> None:
    assert [t.key for t in untolerated(NODE_TAINTS, tolerations, effects)] == keys
    assert tolerates_all(tolerations, NODE_TAINTS, effects) is (not keys)


def test_scheduler_and_karpenter_messages() -> None:
    first = untolerated(NODE_TAINTS, [])[0]
    assert f"node(s) had untolerated taint {first}" == "node(s) had untolerated taint {b: 1}"
    assert str(Taint("a", effect=NO_EXECUTE)) == "{a: }"
    assert did_not_tolerate(NODE_TAINTS, [Toleration("b", "Exists")]) == (
        "did not tolerate soft=x:PreferNoSchedule; did not tolerate a=:NoExecute; "
        "did not tolerate c=2:NoSchedule"
    )
    assert did_not_tolerate(NODE_TAINTS, [Toleration("", "Exists")]) is None


# --- kubectl syntax ----------------------------------------------------------------------------

PARSE = [
    # (text, result)
    ("dedicated=gpu:NoSchedule", Taint("dedicated", "gpu", NO_SCHEDULE)),
    ("dedicated:NoExecute", Taint("dedicated", "", NO_EXECUTE)),
    ("dedicated=:PreferNoSchedule", Taint("dedicated", "", PREFER_NO_SCHEDULE)),
    ("example.com/team=a-b_c.d:NoSchedule", Taint("example.com/team", "a-b_c.d", NO_SCHEDULE)),
    ("dedicated-", TaintRemoval("dedicated")),
    ("dedicated:NoSchedule-", TaintRemoval("dedicated", NO_SCHEDULE)),
]


@pytest.mark.parametrize(("text", "result"), PARSE)
def test_parse_taint_change(text: str, result: Taint | TaintRemoval) -> None:
    assert parse_taint_change(text) == result
    if isinstance(result, Taint):
        assert parse_taint(text) == result
        assert parse_taint(result.kubectl_form()) == result


BAD_TAINT_SPECS = [
    ("dedicated=gpu", "expected key=value:Effect or key:Effect"),
    ("dedicated", "expected key=value:Effect or key:Effect"),
    ("a:b:NoSchedule", "expected key=value:Effect or key:Effect"),
    ("dedicated=gpu:Sometimes", "unsupported taint effect 'Sometimes'"),
    ("dedicated=gpu:", "unsupported taint effect ''"),
    ("a=b=c:NoSchedule", "more than one '='"),
    ("bad key=x:NoSchedule", "key 'bad key': name part must consist of"),
    ("=x:NoSchedule", "key '': name part must be non-empty"),
    ("k=bad value:NoSchedule", "value 'bad value': a valid label must be"),
    ("k:Sometimes-", "unsupported taint effect 'Sometimes'"),
    ("k=v-", "key 'k=v'"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_TAINT_SPECS)
def test_bad_taint_spec_names_the_text(text: str, fragment: str) -> None:
    with pytest.raises(TaintSpecError) as info:
        parse_taint_change(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BadRequestError)


def test_parse_taint_rejects_removals() -> None:
    with pytest.raises(TaintSpecError, match="removes a taint"):
        parse_taint("dedicated-")


def test_removal_applies_to() -> None:
    assert TaintRemoval("b").applies_to(Taint("b", effect=NO_EXECUTE))
    assert TaintRemoval("b", NO_SCHEDULE).applies_to(Taint("b", "x", NO_SCHEDULE))
    assert not TaintRemoval("b", NO_SCHEDULE).applies_to(Taint("b", effect=NO_EXECUTE))
    assert not TaintRemoval("a").applies_to(Taint("b"))


# --- dicts and validation -----------------------------------------------------------------------


def test_taint_dict_round_trip() -> None:
    d = {"key": "k", "value": "v", "effect": NO_EXECUTE, "timeAdded": "2024-01-01T00:00:00Z"}
    taint = Taint.from_dict(d)
    assert taint.to_dict() == d
    assert taint == Taint("k", "v", NO_EXECUTE)  # timeAdded is not part of identity
    assert Taint.from_dict({"key": "k", "effect": NO_SCHEDULE}).to_dict() == {
        "key": "k",
        "effect": NO_SCHEDULE,
    }
    assert taint.matches(Taint("k", "other", NO_EXECUTE))
    assert not taint.matches(Taint("k", "v", NO_SCHEDULE))


def test_toleration_dict_round_trip() -> None:
    d = {"key": "k", "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": 30}
    toleration = Toleration.from_dict(d)
    assert toleration == Toleration("k", "Exists", "", NO_EXECUTE, 30)
    assert toleration.to_dict() == d
    assert Toleration.from_dict({"key": "k", "value": "v"}) == Toleration("k", "Equal", "v")
    assert tolerations_from_list([{"operator": "Exists"}]) == [Toleration("", "Exists")]


BAD_TAINTS = [
    # (taint list, [(path, message fragment), ...])
    ([{"key": "k", "effect": "Sometimes"}], [("spec.taints[0].effect", "Unsupported value")]),
    ([{"key": "k"}], [("spec.taints[0].effect", "Required value")]),
    ([{"key": "bad key", "effect": NO_SCHEDULE}], [("spec.taints[0].key", '"bad key"')]),
    ([{"effect": NO_SCHEDULE}], [("spec.taints[0].key", "name part must be non-empty")]),
    (
        [{"key": "k", "value": "bad value", "effect": NO_SCHEDULE}],
        [("spec.taints[0].value", 'Invalid value: "bad value"')],
    ),
    (
        [
            {"key": "k", "value": "a", "effect": NO_SCHEDULE},
            {"key": "k", "value": "b", "effect": NO_EXECUTE},
            {"key": "k", "value": "c", "effect": NO_SCHEDULE},
        ],
        [("spec.taints[2]", "taints must be unique by key and effect pair")],
    ),
    (["k:NoSchedule"], [("spec.taints[0]", "must be an object")]),
    ({"key": "k"}, [("spec.taints", "must be a list")]),
]


@pytest.mark.parametrize(("items", "expected"), BAD_TAINTS)
def test_taint_validation_names_field_paths(items: Any, expected: list[tuple[str, str]]) -> None:
    _assert_causes(validate_taints(items), expected)
    with pytest.raises(InvalidError) as info:
        taints_from_list(items)
    _assert_causes(info.value.causes, expected)


BAD_TOLERATIONS = [
    (
        [{"key": "", "operator": "Equal", "value": "x"}],
        [("spec.tolerations[0].operator", "operator must be Exists when `key` is empty")],
    ),
    (
        [{"key": "k", "operator": "Exists", "value": "x"}],
        [("spec.tolerations[0].value", "value must be empty when `operator` is 'Exists'")],
    ),
    (
        [{"key": "k", "operator": "Exists", "tolerationSeconds": 5, "effect": NO_SCHEDULE}],
        [("spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds`")],
    ),
    (
        [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}],
        [("spec.tolerations[0].effect", "effect must be 'NoExecute'")],
    ),
    (
        [{"key": "k", "operator": "Exists", "tolerationSeconds": "5", "effect": NO_EXECUTE}],
        [("spec.tolerations[0].tolerationSeconds", "must be an integer")],
    ),
    (
        [{"key": "k", "operator": "Near"}],
        [
            (
                "spec.tolerations[0].operator",
                "Unsupported value: 'Near': supported values: \"Equal\"",
            )
        ],
    ),
    (
        [{"key": "k", "operator": "Exists", "effect": "Sometimes"}],
        [("spec.tolerations[0].effect", "Unsupported value: 'Sometimes'")],
    ),
    ([{"key": "bad key", "operator": "Exists"}], [("spec.tolerations[0].key", '"bad key"')]),
    (
        [{"key": "k", "value": "bad value"}],
        [("spec.tolerations[0].value", 'Invalid value: "bad value"')],
    ),
    (
        [{"operator": "Exists"}, {"key": "k", "operator": "Exists", "value": "v"}],
        [("spec.tolerations[1].value", "must be empty")],
    ),
]


@pytest.mark.parametrize(("items", "expected"), BAD_TOLERATIONS)
def test_toleration_validation_names_field_paths(
    items: Any, expected: list[tuple[str, str]]
) -> None:
    _assert_causes(validate_tolerations(items), expected)
    with pytest.raises(InvalidError) as info:
        tolerations_from_list(items)
    _assert_causes(info.value.causes, expected)


def _assert_causes(causes: list[Any], expected: list[tuple[str, str]]) -> None:
    assert [c.path for c in causes] == [path for path, _ in expected]
    for cause, (_, fragment) in zip(causes, expected, strict=True):
        assert fragment in cause.message


def test_from_dict_raises_with_the_given_path() -> None:
    with pytest.raises(InvalidError, match=r"spec\.taint\.effect: Unsupported value"):
        Taint.from_dict({"key": "k", "effect": "x"}, path="spec.taint")
    with pytest.raises(InvalidError, match=r"tol\.value: Invalid value: 'v'"):
        Toleration.from_dict({"key": "k", "operator": "Exists", "value": "v"}, path="tol")


# --- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "dedicated", "example.com/team", "node.kubernetes.io/not-ready"])
VALUES = st.sampled_from(["", "gpu", "x_y-z.1", "true"])
TAINTS = st.builds(Taint, KEYS, VALUES, st.sampled_from(EFFECTS))


@given(TAINTS)
def test_kubectl_form_round_trips(taint: Taint) -> None:
    assert parse_taint(taint.kubectl_form()) == taint
    assert Taint.from_dict(taint.to_dict()) == taint


@given(TAINTS)
def test_empty_key_exists_tolerates_everything(taint: Taint) -> None:
    assert tolerates(Toleration("", "Exists"), taint)
    assert tolerates(Toleration(taint.key, "Exists", effect=taint.effect), taint)
    assert tolerates(Toleration(taint.key, "Equal", taint.value), taint)


@given(st.text())
def test_parse_taint_raises_only_taint_spec_error(text: str) -> None:
    try:
        change = parse_taint_change(text)
    except TaintSpecError:
        return
    assert isinstance(change, Taint | TaintRemoval)
