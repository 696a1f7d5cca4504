"""Karpenter's requirement algebra, NodePool requirement validation and label policy."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core import labels as wk
from shipyard.core.errors import InvalidError
from shipyard.core.requirements import (
    MIN_VALUES_MAX,
    OPERATORS,
    Requirement,
    Requirements,
    pod_requirement_terms,
    preferred_terms,
)

DATA = Path(__file__).parent / "data"


def req(spec: str, key: str = "k", min_values: int | None = None) -> Requirement:
    """``"In a b"`` -> Requirement.create(key, "In", ["a", "b"])."""
    operator, *values = spec.split()
    return Requirement.create(key, operator, values, min_values)


def reqs(*specs: str) -> Requirements:
    """``reqs("zone In a b", "team NotIn x")``: key first, then the operator and values."""
    return Requirements(req(" ".join(s.split()[1:]), key=s.split()[0]) for s in specs)


# --- the algebra -------------------------------------------------------------------------------

INTERSECTIONS: list[dict[str, str]] = yaml.safe_load(
    (DATA / "requirement_intersections.yaml").read_text()
)


@pytest.mark.parametrize("row", INTERSECTIONS, ids=lambda r: f"{r['a']} & {r['b']}")
def test_intersection_table(row: dict[str, str]) -> None:
    a, b = req(row["a"]), req(row["b"])
    assert str(a.intersection(b)) == row["want"]
    assert a.intersection(b) == b.intersection(a)
    assert a.intersects(b) is (row["want"] != "k DoesNotExist")


HAS = [
    # (requirement, value, allowed)
    ("In a b", "a", True),
    ("In a b", "c", False),
    ("NotIn a", "a", False),
    ("NotIn a", "b", True),
    ("Exists", "", True),
    ("DoesNotExist", "", False),
    ("DoesNotExist", "x", False),
    ("Gt 5", "6", True),
    ("Gt 5", "5", False),
    ("Gt 5", "06", True),
    ("Gt 5", "+6", True),
    ("Gt 5", "six", False),
    ("Gt 5", "6.0", False),
    ("Gt 5", " 6", False),
    ("Gt 5", "1_000", False),
    ("Gt 5", "99999999999999999999", False),
    ("Lt 5", "-3", True),
    ("Lt 5", "5", False),
    ("Gte 5", "5", True),
    ("Gte 5", "4", False),
    ("Lte 5", "5", True),
    ("Lte 5", "6", False),
]


@pytest.mark.parametrize(("spec", "value", "allowed"), HAS)
def test_has(spec: str, value: str, allowed: bool) -> None:
    assert req(spec).has(value) is allowed


SHAPES = [
    # (requirement, operator(), len(), any(), str())
    ("In b a", "In", 2, "a", "k In [a b]"),
    ("NotIn a", "NotIn", sys.maxsize - 1, "0", "k NotIn [a]"),
    ("NotIn 0 1", "NotIn", sys.maxsize - 2, "2", "k NotIn [0 1]"),
    ("Exists", "Exists", sys.maxsize, "0", "k Exists"),
    ("DoesNotExist", "DoesNotExist", 0, None, "k DoesNotExist"),
    ("Gt 5", "Exists", sys.maxsize, "6", "k Exists >5"),
    ("Lt 0", "Exists", sys.maxsize, "-1", "k Exists <0"),
    ("Gte 5", "Exists", sys.maxsize, "5", "k Exists >4"),
    ("Lte 5", "Exists", sys.maxsize, "0", "k Exists <6"),
    ("In a b c d e f g", "In", 7, "a", "k In [a b c d e and 2 others]"),
]


@pytest.mark.parametrize(("spec", "operator", "length", "any_value", "text"), SHAPES)
def test_requirement_shape(
    spec: str, operator: str, length: int, any_value: str | None, text: str
) -> None:
    r = req(spec)
    assert r.operator() == operator
    assert len(r) == length
    assert r.any() == any_value
    assert str(r) == text


def test_any_finds_a_spelling_when_every_integer_is_excluded() -> None:
    r = req("Gt 2").intersection(req("Lt 4")).intersection(req("NotIn 3"))
    assert str(r) == "k NotIn [3] >2 <4"
    assert r.any() == "03" and r.has("03")
    assert r.intersects(req("Exists"))


def test_values_only_for_finite_requirements() -> None:
    assert req("In a b").values() == frozenset({"a", "b"})
    assert req("DoesNotExist").values() == frozenset()
    with pytest.raises(ValueError, match="infinitely many"):
        req("NotIn a").values()


def test_min_values_string_and_intersection() -> None:
    a = req("In a b c", min_values=2)
    assert str(a) == "k In [a b c] minValues 2"
    assert a.intersection(req("In a b", min_values=1)).min_values == 2
    assert a.intersection(req("Gt 3").intersection(req("Lt 3"))).min_values == 2


def test_create_normalises_aliases_and_rejects_bad_input() -> None:
    assert req("In amd64", key="beta.kubernetes.io/arch").key == wk.ARCH
    assert req("In a", key="failure-domain.beta.kubernetes.io/zone").key == wk.ZONE
    with pytest.raises(ValueError, match="unknown operator 'Near'"):
        req("Near a")
    with pytest.raises(ValueError, match="operator Gt needs one integer value"):
        req("Gt x")
    with pytest.raises(ValueError, match="cannot intersect requirements on 'a' and 'b'"):
        req("Exists", key="a").intersection(req("Exists", key="b"))


def test_gte_and_lte_are_shifted_gt_and_lt() -> None:
    assert req("Gte 5") == req("Gt 4")
    assert req("Lte 5") == req("Lt 6")


# --- NodeSelectorRequirement output --------------------------------------------------------------

OUTPUT = [
    # (requirement, to_node_selector_requirement(), to_node_selector_requirements())
    (
        req("In b a", min_values=2),
        {"key": "k", "operator": "In", "values": ["a", "b"], "minValues": 2},
        None,
    ),
    (req("Exists"), {"key": "k", "operator": "Exists", "values": []}, None),
    (req("DoesNotExist"), {"key": "k", "operator": "DoesNotExist", "values": []}, None),
    (req("Gte 0"), {"key": "k", "operator": "Gte", "values": ["0"]}, None),
    (
        req("Gt 1").intersection(req("Lt 10")).intersection(req("NotIn 5")),
        {"key": "k", "operator": "Gt", "values": ["1"]},
        [
            {"key": "k", "operator": "Gt", "values": ["1"]},
            {"key": "k", "operator": "Lt", "values": ["10"]},
            {"key": "k", "operator": "NotIn", "values": ["5"]},
        ],
    ),
]


@pytest.mark.parametrize(("r", "one", "many"), OUTPUT)
def test_node_selector_output(r: Requirement, one: dict[str, Any], many: Any) -> None:
    assert r.to_node_selector_requirement() == one
    assert r.to_node_selector_requirements() == (many or [one])
    rebuilt = Requirements.from_node_selector_requirements(r.to_node_selector_requirements())
    assert rebuilt == Requirements([r])


# --- Requirements: construction and validation --------------------------------------------------


def test_duplicate_keys_intersect_and_aliases_merge() -> None:
    parsed = Requirements.from_node_selector_requirements(
        [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]},
            {"key": "failure-domain.beta.kubernetes.io/zone", "operator": "In", "values": ["b"]},
            {"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gte", "values": ["4"]},
            {"key": "karpenter.k8s.aws/instance-cpu", "operator": "Lte", "values": ["16"]},
        ]
    )
    assert len(parsed) == 2
    assert str(parsed.get(wk.ZONE)) == "topology.kubernetes.io/zone In [b]"
    assert str(parsed.get(wk.INSTANCE_CPU)) == "karpenter.k8s.aws/instance-cpu Exists >3 <17"
    assert str(parsed) == (
        "karpenter.k8s.aws/instance-cpu Exists >3 <17, topology.kubernetes.io/zone In [b]"
    )


BAD_REQUIREMENT_ITEMS = [
    # (items, [(path, message fragment), ...])
    (
        [{"key": "k", "operator": "Near", "values": ["a"]}],
        [("requirements[0].operator", "Unsupported value: 'Near': supported values: \"In\"")],
    ),
    (
        [{"key": "k", "operator": "In", "values": []}],
        [("requirements[0].values", "operator 'In' must have a value")],
    ),
    (
        [{"key": "k", "operator": "Exists", "values": ["a"]}],
        [("requirements[0].values", "Forbidden: values must be empty when operator is 'Exists'")],
    ),
    (
        [{"key": "k", "operator": "DoesNotExist", "values": ["a"]}],
        [("requirements[0].values", "Forbidden")],
    ),
    (
        [{"key": "k", "operator": "Gt", "values": ["a"]}],
        [("requirements[0].values", "operator 'Gt' must have a single non-negative integer")],
    ),
    (
        [{"key": "k", "operator": "Lt", "values": ["1", "2"]}],
        [("requirements[0].values", "operator 'Lt' must have a single non-negative integer")],
    ),
    (
        [{"key": "k", "operator": "Gte", "values": ["-1"]}],
        [("requirements[0].values", "Invalid value: ['-1']")],
    ),
    (
        [{"key": "k", "operator": "Lte", "values": []}],
        [("requirements[0].values", "operator 'Lte' must have a single")],
    ),
    (
        [{"key": "k", "operator": "In", "values": ["a"], "minValues": 0}],
        [("requirements[0].minValues", f"must be between 1 and {MIN_VALUES_MAX}")],
    ),
    (
        [{"key": "k", "operator": "Exists", "minValues": 51}],
        [("requirements[0].minValues", "Invalid value: 51")],
    ),
    (
        [{"key": "k", "operator": "In", "values": ["a", "b"], "minValues": 3}],
        [("requirements[0].minValues", "must have at least that many values")],
    ),
    (
        [{"key": "k", "operator": "In", "values": ["a"], "minValues": True}],
        [("requirements[0].minValues", "must be an integer")],
    ),
    (
        [{"key": "bad key", "operator": "Exists"}],
        [("requirements[0].key", 'Invalid value: "bad key": name part must consist of')],
    ),
    ([{"operator": "Exists"}], [("requirements[0].key", "Required value")]),
    (
        [{"key": "k", "operator": "In", "values": ["ok", "not ok"]}],
        [("requirements[0].values[1]", 'Invalid value: "not ok"')],
    ),
    ([{"key": "k", "operator": "In", "values": "a"}], [("requirements[0].values", "list")]),
    (["zone"], [("requirements[0]", "must be an object")]),
    (
        [
            {"key": "a", "operator": "Exists"},
            {"key": "b", "operator": "In", "values": ["x"]},
            {"key": "c", "operator": "In"},
        ],
        [("requirements[2].values", "must have a value")],
    ),
    (
        [{"key": "", "operator": "Gt", "values": ["x"], "minValues": 0}],
        [
            ("requirements[0].key", "name part must be non-empty"),
            ("requirements[0].values", "single non-negative integer"),
            ("requirements[0].minValues", "between 1 and 50"),
        ],
    ),
]


@pytest.mark.parametrize(("items", "expected"), BAD_REQUIREMENT_ITEMS)
def test_requirement_validation_names_field_paths(
    items: list[Any], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidError) as info:
        Requirements.from_node_selector_requirements(items)
    causes = info.value.causes
    assert [c.path for c in causes] == [path for path, _ in expected]
    for cause, (_, fragment) in zip(causes, expected, strict=True):
        assert fragment in cause.message


RESTRICTED = [
    # (key, accepted when restricted=True)
    ("kubernetes.io/arch", True),
    ("beta.kubernetes.io/arch", True),
    ("node.kubernetes.io/instance-type", True),
    ("karpenter.sh/capacity-type", True),
    ("karpenter.k8s.aws/instance-family", True),
    ("node.kubernetes.io/custom", True),
    ("node-restriction.kubernetes.io/team", True),
    ("kops.k8s.io/instancegroup", True),
    ("example.com/team", True),
    ("team", True),
    ("kubernetes.io/hostname", False),
    ("kubernetes.io/custom", False),
    ("foo.kubernetes.io/custom", False),
    ("k8s.io/custom", False),
    ("karpenter.sh/custom", False),
    ("karpenter.k8s.aws/custom", False),
]


@pytest.mark.parametrize(("key", "accepted"), RESTRICTED)
def test_restricted_label_domains(key: str, accepted: bool) -> None:
    message = wk.restricted_label_error(key)
    assert (message is None) is accepted
    items = [{"key": key, "operator": "Exists"}]
    Requirements.from_node_selector_requirements(items)  # unrestricted parsing accepts all
    if accepted:
        Requirements.from_node_selector_requirements(items, restricted=True)
        return
    assert message is not None
    assert message.startswith(f"label {key} is restricted; specify a well known label: [")
    assert "or a custom label that does not use a restricted domain: [k8s.io" in message
    with pytest.raises(InvalidError, match="is restricted"):
        Requirements.from_node_selector_requirements(items, restricted=True)


def test_label_tables() -> None:
    assert wk.HOSTNAME not in wk.WELL_KNOWN_LABELS
    assert {wk.ARCH, wk.OS, wk.ZONE, wk.REGION, wk.INSTANCE_TYPE, wk.CAPACITY_TYPE}.issubset(
        wk.WELL_KNOWN_LABELS
    )
    assert wk.normalize_label_key("beta.kubernetes.io/instance-type") == wk.INSTANCE_TYPE
    assert wk.normalize_label_key("failure-domain.beta.kubernetes.io/region") == wk.REGION
    assert wk.normalize_label_key("example.com/x") == "example.com/x"
    assert all(wk.validate_label_key(k) is None for k in wk.WELL_KNOWN_LABELS)
    assert set(OPERATORS) == {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"}


# --- Compatible / Intersects -------------------------------------------------------------------

ZONE_MISMATCH = (
    "key topology.kubernetes.io/zone, topology.kubernetes.io/zone In [b] "
    "not in topology.kubernetes.io/zone In [a]"
)
COMPATIBLE = [
    # (nodepool requirements, pod requirements, expected reason or None)
    (["topology.kubernetes.io/zone In a b"], ["topology.kubernetes.io/zone In a"], None),
    (["topology.kubernetes.io/zone In a"], ["topology.kubernetes.io/zone In b"], ZONE_MISMATCH),
    (
        ["topology.kubernetes.io/zone In a"],
        ["failure-domain.beta.kubernetes.io/zone In b"],
        ZONE_MISMATCH,
    ),
    ([], ["topology.kubernetes.io/zone In a"], None),
    ([], ["karpenter.k8s.aws/instance-cpu Gt 4"], None),
    ([], ["team In x"], 'label "team" does not have known values'),
    ([], ["team Exists"], 'label "team" does not have known values'),
    ([], ["team NotIn x"], None),
    ([], ["team DoesNotExist"], None),
    (["team In x"], ["team NotIn x"], "key team, team NotIn [x] not in team In [x]"),
    (["team NotIn x"], ["team DoesNotExist"], None),
    (["team DoesNotExist"], ["team NotIn x"], None),
    (["team DoesNotExist"], ["team In x"], "key team, team In [x] not in team DoesNotExist"),
    (["team In x"], ["tea In x"], 'label "tea" does not have known values (typo of "team"?)'),
    (
        [],
        ["topology.kubernetes.io/zon In a"],
        'label "topology.kubernetes.io/zon" does not have known values '
        '(typo of "topology.kubernetes.io/zone"?)',
    ),
    (
        ["karpenter.k8s.aws/instance-cpu Gt 8"],
        ["karpenter.k8s.aws/instance-cpu Lt 4"],
        "key karpenter.k8s.aws/instance-cpu, karpenter.k8s.aws/instance-cpu Exists <4 not in "
        "karpenter.k8s.aws/instance-cpu Exists >8",
    ),
    (
        ["topology.kubernetes.io/zone In a"],
        ["topology.kubernetes.io/zone In b", "team In x"],
        'label "team" does not have known values; ' + ZONE_MISMATCH,
    ),
]


@pytest.mark.parametrize(("nodepool", "pod", "reason"), COMPATIBLE)
def test_compatible(nodepool: list[str], pod: list[str], reason: str | None) -> None:
    assert reqs(*nodepool).compatible(reqs(*pod)) == reason


def test_compatible_with_nothing_allowed_undefined() -> None:
    reason = Requirements().compatible(
        reqs("topology.kubernetes.io/zone In a"), allow_undefined=frozenset()
    )
    assert reason == 'label "topology.kubernetes.io/zone" does not have known values'


def test_intersects_ignores_undefined_keys() -> None:
    assert reqs("a In x").intersects(reqs("b In y")) is None
    assert reqs("a In x").intersects(reqs("a In y")) == "key a, a In [y] not in a In [x]"


# --- Requirements against node labels ----------------------------------------------------------

SATISFIED = [
    # (requirements, node labels, satisfied)
    (["k In a"], {"k": "a"}, True),
    (["k In a"], {"k": "b"}, False),
    (["k In a"], {}, False),
    (["k NotIn a"], {}, True),
    (["k NotIn a"], {"k": "a"}, False),
    (["k NotIn a"], {"k": "b"}, True),
    (["k Exists"], {}, False),
    (["k Exists"], {"k": ""}, True),
    (["k DoesNotExist"], {}, True),
    (["k DoesNotExist"], {"k": ""}, False),
    (["k Gt 5"], {"k": "6"}, True),
    (["k Gt 5"], {"k": "5"}, False),
    (["k Gt 5"], {"k": "x"}, False),
    (["k Gt 5"], {}, False),
    (["k Lt 5"], {"k": "4"}, True),
    (["k Gte 5"], {"k": "5"}, True),
    (["k Lte 5"], {"k": "6"}, False),
    (["k Gt 1", "k NotIn 3"], {}, False),
    (["k Gt 1", "k NotIn 3"], {"k": "4"}, True),
    (["beta.kubernetes.io/arch In arm64"], {"kubernetes.io/arch": "arm64"}, True),
    (["kubernetes.io/arch In arm64"], {"beta.kubernetes.io/arch": "arm64"}, True),
    (["kubernetes.io/arch In arm64"], {"kubernetes.io/arch": "amd64"}, False),
    (["a In x", "b NotIn y", "c DoesNotExist"], {"a": "x", "b": "z"}, True),
    ([], {"anything": "goes"}, True),
]


@pytest.mark.parametrize(("specs", "labels", "satisfied"), SATISFIED)
def test_satisfied_by(specs: list[str], labels: dict[str, str], satisfied: bool) -> None:
    assert reqs(*specs).satisfied_by(labels) is satisfied


def test_labels_and_template_labels() -> None:
    r = reqs(
        "topology.kubernetes.io/zone In a",
        "kubernetes.io/arch In amd64 arm64",
        "team NotIn x",
        "tier In web",
        "kubernetes.io/hostname In placeholder",
        "example.com/gone DoesNotExist",
    )
    assert r.labels() == {
        "kubernetes.io/hostname": "placeholder",
        "tier": "web",
        "topology.kubernetes.io/zone": "a",
    }
    # Karpenter's Labels(): keys it may set itself, one value each (well-known ones excluded).
    assert r.template_labels() == {"team": "0", "tier": "web"}
    assert "hostname" not in str(r)


def test_from_labels_and_mapping_protocol() -> None:
    r = Requirements.from_labels({"beta.kubernetes.io/os": "linux", "team": "a"})
    assert list(r) == ["kubernetes.io/os", "team"]
    assert "beta.kubernetes.io/os" in r and "kubernetes.io/os" in r and "x" not in r
    assert r.keys() == frozenset({"kubernetes.io/os", "team"})
    assert r.get("nope") == Requirement("nope", True)
    assert r.add(req("In b", key="team")).get("team").is_empty()
    assert r.get("team") == req("In a", key="team")  # add returned a new object
    assert r == Requirements.from_labels({"kubernetes.io/os": "linux", "team": "a"})
    assert hash(r) == hash(Requirements.from_labels({"team": "a", "kubernetes.io/os": "linux"}))


# --- minValues ---------------------------------------------------------------------------------


def test_min_values_satisfied() -> None:
    family = wk.INSTANCE_FAMILY
    r = Requirements([req("In c5 m5 r5", key=family, min_values=2), req("Exists", key="x")])
    assert r.has_min_values() and not reqs("a In b").has_min_values()
    only_c5 = [{family: "c5"}, {family: "c5"}, {family: "t3"}, {}]
    assert r.min_values_satisfied(only_c5) == (
        "minValues requirement is not met for label(s) "
        "(label(s)=[karpenter.k8s.aws/instance-family])"
    )
    assert r.min_values_satisfied([*only_c5, {family: "m5"}]) is None
    as_requirements = [reqs(f"{family} In c5 m5"), reqs(f"{family} In t3")]
    assert r.min_values_satisfied(as_requirements) is None
    assert reqs("a In b").min_values_satisfied([]) is None


# --- pods ---------------------------------------------------------------------------------------


def _pod(node_selector: dict[str, str] | None = None, **affinity: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": node_selector} if node_selector else {}
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    return {"spec": spec}


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


def test_pod_terms_from_node_selector_only() -> None:
    assert pod_requirement_terms(_pod({"team": "a"})) == [reqs("team In a")]
    assert pod_requirement_terms({}) == [Requirements()]


def test_pod_terms_are_or_ed_and_each_carries_the_node_selector() -> None:
    pod = _pod(
        {"team": "a"},
        requiredDuringSchedulingIgnoredDuringExecution={
            "nodeSelectorTerms": [
                {"matchExpressions": [_expr("topology.kubernetes.io/zone", "In", "a")]},
                {"matchExpressions": []},  # an empty term matches nothing
                {
                    "matchExpressions": [
                        _expr("kubernetes.io/arch", "In", "arm64"),
                        _expr("gen", "Gt", "-1"),
                    ]
                },
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]},
            ]
        },
    )
    assert pod_requirement_terms(pod) == [
        reqs("team In a", "topology.kubernetes.io/zone In a"),
        reqs("team In a", "kubernetes.io/arch In arm64", "gen Gt -1"),
        reqs("team In a"),
    ]


def test_pod_with_only_empty_terms_fits_nowhere() -> None:
    pod = _pod(requiredDuringSchedulingIgnoredDuringExecution={"nodeSelectorTerms": [{}]})
    assert pod_requirement_terms(pod) == []


def test_pod_term_errors_name_the_field_path() -> None:
    pod = _pod(
        requiredDuringSchedulingIgnoredDuringExecution={
            "nodeSelectorTerms": [
                {"matchExpressions": [_expr("a", "Exists"), _expr("b", "Gte", "1")]}
            ]
        }
    )
    with pytest.raises(InvalidError) as info:
        pod_requirement_terms(pod)
    assert [c.path for c in info.value.causes] == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[1].operator"
    ]


TERM0 = (
    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    ".nodeSelectorTerms[0].matchExpressions[0]"
)
BAD_POD_EXPRESSIONS = [
    # (expression, path suffix, message fragment) — the API server's rules, not Karpenter's
    (_expr("a", "NotIn"), ".values", "must be specified when `operator` is 'NotIn'"),
    (_expr("a", "Gte", "1"), ".operator", "Unsupported value: 'Gte'"),
    (_expr("a", "Gt", "abc"), ".values", "operator 'Gt' must have a single integer value"),
    ({**_expr("a", "In", "x"), "minValues": 1}, ".minValues", "Forbidden"),
    (_expr("bad key", "Exists"), ".key", 'Invalid value: "bad key"'),
]


@pytest.mark.parametrize(("expression", "suffix", "fragment"), BAD_POD_EXPRESSIONS)
def test_pod_expression_rules(expression: dict[str, Any], suffix: str, fragment: str) -> None:
    pod = _pod(
        requiredDuringSchedulingIgnoredDuringExecution={
            "nodeSelectorTerms": [{"matchExpressions": [expression]}]
        }
    )
    with pytest.raises(InvalidError) as info:
        pod_requirement_terms(pod)
    assert [c.path for c in info.value.causes] == [TERM0 + suffix]
    assert fragment in info.value.causes[0].message


def test_pod_values_need_not_be_label_values() -> None:
    pod = _pod(
        requiredDuringSchedulingIgnoredDuringExecution={
            "nodeSelectorTerms": [{"matchExpressions": [_expr("a", "In", "not/a label")]}]
        }
    )
    assert pod_requirement_terms(pod) == [
        Requirements([Requirement.create("a", "In", ["not/a label"])])
    ]


def test_preferred_terms_heaviest_first() -> None:
    pod = _pod(
        preferredDuringSchedulingIgnoredDuringExecution=[
            {"weight": 10, "preference": {"matchExpressions": [_expr("a", "In", "1")]}},
            {"weight": 50, "preference": {"matchExpressions": [_expr("b", "In", "1")]}},
            {"weight": 10, "preference": {"matchExpressions": [_expr("c", "In", "1")]}},
            {"weight": 90, "preference": {}},
        ]
    )
    assert preferred_terms(pod) == [
        (50, reqs("b In 1")),
        (10, reqs("a In 1")),
        (10, reqs("c In 1")),
    ]
    assert preferred_terms(_pod()) == []


# --- properties ---------------------------------------------------------------------------------

SAMPLE_VALUES = ["a", "b", "c", "0", "1", "2", "3", "5", "9", "10", "03", "+3", "-1", "x", ""]
VALUE_SETS = st.lists(st.sampled_from(SAMPLE_VALUES), max_size=4)
SMALL_INTS = st.integers(min_value=-3, max_value=12)


@st.composite
def base_requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(OPERATORS))
    min_values = draw(st.none() | st.integers(min_value=1, max_value=3))
    if op in ("In", "NotIn"):
        values = draw(VALUE_SETS)
    elif op in ("Exists", "DoesNotExist"):
        values = []
    else:
        values = [str(draw(SMALL_INTS))]
    return Requirement.create("k", op, values, min_values)


def _intersect_all(parts: list[Requirement]) -> Requirement:
    return functools.reduce(Requirement.intersection, parts)


REQUIREMENTS = st.lists(base_requirements(), min_size=1, max_size=3).map(_intersect_all)


@given(REQUIREMENTS, REQUIREMENTS)
def test_intersection_is_commutative(a: Requirement, b: Requirement) -> None:
    assert a.intersection(b) == b.intersection(a)


@given(REQUIREMENTS, REQUIREMENTS, REQUIREMENTS)
def test_intersection_is_associative(a: Requirement, b: Requirement, c: Requirement) -> None:
    assert a.intersection(b).intersection(c) == a.intersection(b.intersection(c))


@given(REQUIREMENTS)
def test_intersection_with_self_is_identity(a: Requirement) -> None:
    assert a.intersection(a) == a
    assert a.intersection(Requirement("k", True)) == a


@given(REQUIREMENTS, REQUIREMENTS, st.sampled_from(SAMPLE_VALUES) | st.integers().map(str))
def test_intersection_agrees_with_has(a: Requirement, b: Requirement, value: str) -> None:
    both = a.intersection(b)
    assert both.has(value) == (a.has(value) and b.has(value))
    for witness in (a.any(), b.any(), both.any()):
        if witness is not None:
            assert both.has(witness) == (a.has(witness) and b.has(witness))


@given(REQUIREMENTS)
def test_any_is_a_member_exactly_when_not_empty(a: Requirement) -> None:
    witness = a.any()
    assert (witness is None) == a.is_empty() == (len(a) == 0)
    if witness is not None:
        assert a.has(witness)


NODEPOOL_VALUES = st.lists(st.sampled_from(["a", "b", "0", "1", "3", "10", "03"]), max_size=3)


@st.composite
def nodepool_items(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPERATORS))
    if op in ("In", "NotIn"):
        values = draw(NODEPOOL_VALUES.filter(bool) if op == "In" else NODEPOOL_VALUES)
    elif op in ("Exists", "DoesNotExist"):
        values = []
    else:
        values = [str(draw(st.integers(min_value=0, max_value=12)))]
    return {"key": draw(st.sampled_from(["k", "example.com/j"])), "operator": op, "values": values}


@given(st.lists(nodepool_items(), max_size=5))
def test_node_selector_output_round_trips(items: list[dict[str, Any]]) -> None:
    parsed = Requirements.from_node_selector_requirements(items)
    again = Requirements.from_node_selector_requirements(parsed.to_node_selector_requirements())
    assert again == parsed
