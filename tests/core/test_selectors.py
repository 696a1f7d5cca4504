"""Label and field selectors: parse, print, match, validate (Kubernetes semantics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import BadRequestError, InvalidError
from shipyard.core.selectors import (
    FieldSelector,
    FieldTerm,
    LabelRequirement,
    LabelSelector,
    SelectorError,
    SelectorOperator,
    parse_field_selector,
    parse_label_selector,
    validate_label_key,
    validate_label_value,
)

DATA = Path(__file__).parent / "data"

# --- label selector: parse and canonical form ------------------------------------------------

PARSE_CASES = [
    # (text, canonical str())
    ("", ""),
    ("   \t ", ""),
    ("app=web", "app=web"),
    ("a==b", "a==b"),
    (" a = b ", "a=b"),
    ("a!=b", "a!=b"),
    ("a=", "a="),
    ("x in (b,a,a)", "x in (a,b)"),
    ("x in(b)", "x in (b)"),
    ("x notin (y)", "x notin (y)"),
    ("x in ()", "x in ()"),
    ("x in (a,)", "x in (,a)"),
    ("x in (,a)", "x in (,a)"),
    ("x in (a,,b)", "x in (,a,b)"),
    ("!legacy", "!legacy"),
    ("! legacy", "!legacy"),
    ("version", "version"),
    ("gen>5", "gen>5"),
    ("gen < 10", "gen<10"),
    ("in in (in,notin)", "in in (in,notin)"),
    ("notin notin (in)", "notin notin (in)"),
    ("example.com/app=web", "example.com/app=web"),
    (
        "app=web,tier!=db,env in (a,b),!legacy,version,x notin (y)",
        "app=web,env in (a,b),!legacy,tier!=db,version,x notin (y)",
    ),
    ("b=1,a=2,b=0", "a=2,b=1,b=0"),  # stable by key: duplicates keep their order
]


@pytest.mark.parametrize(("text", "canonical"), PARSE_CASES)
def test_parse_gives_canonical_string(text: str, canonical: str) -> None:
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert parse_label_selector(canonical) == selector


def test_parse_keeps_operator_distinctions() -> None:
    selector = parse_label_selector("a=1,b==1,c!=1,d,!e,f in (1),g notin (1)")
    ops = [r.operator for r in selector.requirements]
    assert ops == [
        SelectorOperator.EQUALS,
        SelectorOperator.DOUBLE_EQUALS,
        SelectorOperator.NOT_EQUALS,
        SelectorOperator.EXISTS,
        SelectorOperator.DOES_NOT_EXIST,
        SelectorOperator.IN,
        SelectorOperator.NOT_IN,
    ]


def _rows(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load((DATA / name).read_text())
    return rows


@pytest.mark.parametrize("row", _rows("label_selector_matches.yaml"), ids=lambda r: r["selector"])
def test_label_selector_matches(row: dict[str, Any]) -> None:
    assert parse_label_selector(row["selector"]).matches(row["labels"]) is row["match"]


# --- label selector: bad input -----------------------------------------------------------------

BAD_LABEL_SELECTORS = [
    # (text, fragment the message must contain, position)
    ("a b", "found 'b' at position 2, expected: in, notin, =, ==, !=, gt, lt", 2),
    ("!a=b", "found '=' at position 2, expected: ',' or 'end of string'", 2),
    ("a,", "found end of string at position 2, expected: identifier after ','", 2),
    (",a", "found ',' at position 0, expected: !, identifier, or 'end of string'", 0),
    ("=a", "found '=' at position 0", 0),
    ("a in b", "found 'b' at position 5, expected: '('", 5),
    ("a in (b", "found end of string at position 7, expected: ',' or ')'", 7),
    ("a in (b c)", "found 'c' at position 8, expected: ',' or ')'", 8),
    ("a in (=)", "found '=' at position 6, expected: ',', ')' or identifier", 6),
    ("a in (,,)", "found ')' at position 8, expected: ',', or identifier", 8),
    ("a=(b)", "found '(' at position 2, expected: identifier", 2),
    ("!", "found end of string at position 1, expected: identifier", 1),
    ("a>b", "invalid value \"b\" for key \"a\": for 'Gt', 'Lt' operators", 2),
    ("a<", "the value must be an integer", 2),
    ("a>99999999999999999999", "the value must be an integer", 2),
    ("a<-1", 'invalid label value "-1" for key "a"', 2),
    ("A/b=c", 'invalid label key "A/b": prefix part a lowercase RFC 1123 subdomain', 0),
    ("a/b/c", 'invalid label key "a/b/c": a qualified name must consist of', 0),
    ("x=" + "v" * 64, "must be no more than 63 characters", 2),
    ("-a=b", 'invalid label key "-a": name part must consist of', 0),
    ("a=b c", "found 'c' at position 4, expected: ',' or 'end of string'", 4),
    ("a=_b", 'invalid label value "_b" for key "a"', 2),
]


@pytest.mark.parametrize(("text", "fragment", "position"), BAD_LABEL_SELECTORS)
def test_bad_label_selector_names_the_problem(text: str, fragment: str, position: int) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)
    assert info.value.position == position
    assert info.value.text == text


def test_selector_error_is_a_bad_request_and_a_value_error() -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector("a b")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, BadRequestError)
    assert info.value.code == 400


# --- label requirements and selectors built in code ---------------------------------------------

BAD_REQUIREMENTS = [
    ("k", SelectorOperator.IN, (), "values set can't be empty"),
    ("k", SelectorOperator.EQUALS, ("a", "b"), "exact-match compatibility requires one"),
    ("k", SelectorOperator.EXISTS, ("a",), "values set must be empty"),
    ("k", SelectorOperator.GT, ("1", "2"), "exactly one value is required"),
    ("k", SelectorOperator.LT, ("x",), "the value must be an integer"),
    ("bad key", SelectorOperator.EXISTS, (), 'invalid label key "bad key"'),
    ("k", "between", ("a",), 'unsupported selector operator "between"'),
]


@pytest.mark.parametrize(("key", "op", "values", "fragment"), BAD_REQUIREMENTS)
def test_label_requirement_validates(key: str, op: Any, values: Any, fragment: str) -> None:
    with pytest.raises(SelectorError, match=fragment):
        LabelRequirement(key, op, values)


def test_selector_from_labels_and_everything_nothing() -> None:
    selector = LabelSelector.from_labels({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert LabelSelector.everything().matches({}) and LabelSelector.everything().is_empty()
    assert not LabelSelector.nothing().matches({})
    assert not LabelSelector.nothing().is_empty()
    assert str(LabelSelector.nothing()) == ""


EQUALITY_PAIRS = [
    ("a=1,b==2,c in (3),d in (4,5),e!=6,f", {"a": "1", "b": "2", "c": "3"}),
    ("a=1,a=2", {"a": "1"}),
    ("", {}),
]


@pytest.mark.parametrize(("text", "pairs"), EQUALITY_PAIRS)
def test_equality_pairs(text: str, pairs: dict[str, str]) -> None:
    assert parse_label_selector(text).equality_pairs() == pairs


# --- metav1.LabelSelector dicts ---------------------------------------------------------------

FROM_DICT_CASES = [
    # (dict, canonical str, labels, match)
    ({}, "", {}, True),
    ({"matchLabels": {"app": "web"}}, "app=web", {"app": "web"}, True),
    (
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "zone", "operator": "Exists", "values": []},
            ],
        },
        "app=web,env notin (prod),!legacy,tier in (a,b),zone",
        {"app": "web", "tier": "a", "zone": "z"},
        True,
    ),
]


@pytest.mark.parametrize(("d", "canonical", "labels", "match"), FROM_DICT_CASES)
def test_from_dict(d: dict[str, Any], canonical: str, labels: dict[str, str], match: bool) -> None:
    selector = LabelSelector.from_dict(d)
    assert str(selector) == canonical
    assert selector.matches(labels) is match


def test_from_dict_none_selects_nothing_and_empty_selects_everything() -> None:
    assert LabelSelector.from_dict(None) == LabelSelector.nothing()
    assert LabelSelector.from_dict({}) == LabelSelector.everything()


BAD_DICTS = [
    # (dict, [(path, message fragment), ...])
    (
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        [("spec.selector.matchExpressions[0].values", "Required value")],
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        [("spec.selector.matchExpressions[0].values", "Forbidden")],
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
        [("spec.selector.matchExpressions[0].operator", "Unsupported value: 'Gt'")],
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "no way"]}]},
        [("spec.selector.matchExpressions[0].values[1]", 'Invalid value: "no way"')],
    ),
    (
        {"matchLabels": {"bad key": "v", "k": "bad value"}},
        [
            ("spec.selector.matchLabels", 'Invalid value: "bad key"'),
            ("spec.selector.matchLabels", 'Invalid value: "bad value"'),
        ],
    ),
    (
        {"matchExpressions": [{"key": "", "operator": "Bogus", "values": "x"}]},
        [
            ("spec.selector.matchExpressions[0].operator", "Unsupported value: 'Bogus'"),
            ("spec.selector.matchExpressions[0].key", "name part must be non-empty"),
            ("spec.selector.matchExpressions[0].values", "must be a list of strings"),
        ],
    ),
    ({"matchExpressions": "nope"}, [("spec.selector.matchExpressions", "must be a list")]),
    ({"matchLabels": ["a"]}, [("spec.selector.matchLabels", "must be a map")]),
]


@pytest.mark.parametrize(("d", "expected"), BAD_DICTS)
def test_from_dict_reports_field_paths(d: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidError) as info:
        LabelSelector.from_dict(d, path="spec.selector")
    causes = info.value.causes
    assert [c.path for c in causes] == [path for path, _ in expected]
    for cause, (_, fragment) in zip(causes, expected, strict=True):
        assert fragment in cause.message


# --- label key and value syntax -----------------------------------------------------------------

REGEX_NAME = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
KEY_CASES = [
    ("app", None),
    ("a", None),
    ("example.com/App_1.x-y", None),
    ("kubernetes.io/arch", None),
    ("a" * 63, None),
    ("a" * 64, "name part must be no more than 63 characters"),
    ("", "name part must be non-empty; name part " + REGEX_NAME),
    ("-a", "name part " + REGEX_NAME),
    ("/a", "prefix part must be non-empty"),
    ("a/", "name part must be non-empty; name part " + REGEX_NAME),
    ("Example.com/a", "prefix part a lowercase RFC 1123 subdomain must consist of"),
    ("a/b/c", "a qualified name " + REGEX_NAME + " with an optional DNS subdomain prefix and '/'"),
    ("x" * 254 + "/a", "prefix part must be no more than 253 characters"),
    ("ключ", "name part " + REGEX_NAME),
]


@pytest.mark.parametrize(("key", "message"), KEY_CASES)
def test_validate_label_key(key: str, message: str | None) -> None:
    result = validate_label_key(key)
    if message is None:
        assert result is None
    else:
        assert result is not None and result.startswith(message)


VALUE_CASES = [
    ("", None),
    ("web", None),
    ("1.2_3-x", None),
    ("v" * 63, None),
    ("v" * 64, "must be no more than 63 characters"),
    ("-x", "a valid label must be an empty string or consist of alphanumeric characters"),
    ("a b", "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'"),
    ("a\n", "a valid label must be an empty string"),
]


@pytest.mark.parametrize(("value", "fragment"), VALUE_CASES)
def test_validate_label_value(value: str, fragment: str | None) -> None:
    result = validate_label_value(value)
    if fragment is None:
        assert result is None
    else:
        assert result is not None and fragment in result


# --- field selectors ----------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web"}},
    "spec": {"nodeName": "node-a", "hostNetwork": True, "priority": 10},
    "status": {"phase": "Running"},
}

FIELD_CASES = [
    # (text, canonical str, matches POD)
    ("", "", True),
    (",,", "", True),
    ("metadata.name=web-1", "metadata.name=web-1", True),
    ("metadata.name==web-1", "metadata.name=web-1", True),
    ("metadata.name!=web-1", "metadata.name!=web-1", False),
    (
        "status.phase!=Pending,spec.nodeName=node-a",
        "spec.nodeName=node-a,status.phase!=Pending",
        True,
    ),
    ("spec.nodeName=", "spec.nodeName=", False),
    ("spec.missing=", "spec.missing=", True),
    ("spec.missing!=", "spec.missing!=", False),
    ("spec.hostNetwork=true", "spec.hostNetwork=true", True),
    ("spec.priority=10", "spec.priority=10", True),
    ("metadata.labels=x", "metadata.labels=x", False),
    ("metadata.name.deeper=", "metadata.name.deeper=", True),
    ("metadata.name=a\\,b", "metadata.name=a\\,b", False),
    ("metadata.name=a\\=b\\\\c", "metadata.name=a\\=b\\\\c", False),
    ("a!!=b", "a!!=b", True),
]


@pytest.mark.parametrize(("text", "canonical", "match"), FIELD_CASES)
def test_field_selector(text: str, canonical: str, match: bool) -> None:
    selector = parse_field_selector(text)
    assert str(selector) == canonical
    assert parse_field_selector(canonical) == selector
    assert selector.matches(POD) is match


def test_field_selector_terms_unescape_values() -> None:
    selector = parse_field_selector("spec.nodeName!=x,metadata.name=a\\,b\\=c")
    assert selector.terms() == (
        ("metadata.name", "=", "a,b=c"),
        ("spec.nodeName", "!=", "x"),
    )
    assert selector.equality_pairs() == {"metadata.name": "a,b=c"}
    assert FieldSelector.everything().is_empty() and not selector.is_empty()


BAD_FIELD_SELECTORS = [
    ("metadata.name", "can't understand 'metadata.name'"),
    ("a=b,c", "can't understand 'c'"),
    ("a=b=c", "unescaped character '=' in value of term 'a=b=c'"),
    ("a=\\q", "invalid escape sequence '\\\\q' in term 'a=\\\\q'"),
    ("a=b\\", "invalid escape sequence '\\\\'"),
    ("=b", "term '=b' has an empty field name"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_FIELD_SELECTORS)
def test_bad_field_selector_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


def test_field_selector_built_in_code_is_canonical() -> None:
    built = FieldSelector((FieldTerm("b", "==", "1"), FieldTerm("a", "!=", "2")))
    assert str(built) == "a!=2,b=1"
    with pytest.raises(SelectorError, match="not one of"):
        FieldSelector((FieldTerm("a", "<", "1"),))


# --- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "app", "in", "notin", "example.com/app", "x.y-z_1", "A9"])
VALUES = st.sampled_from(["", "a", "web", "in", "notin", "1.2", "x_y-z", "0", "42"])
INTS = st.integers(min_value=0, max_value=10**6).map(str)


@st.composite
def label_requirements(draw: st.DrawFn) -> LabelRequirement:
    key = draw(KEYS)
    op = draw(st.sampled_from(list(SelectorOperator)))
    if op in (SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST):
        return LabelRequirement(key, op)
    if op in (SelectorOperator.GT, SelectorOperator.LT):
        return LabelRequirement(key, op, (draw(INTS),))
    if op in (SelectorOperator.IN, SelectorOperator.NOT_IN):
        return LabelRequirement(key, op, tuple(draw(st.lists(VALUES, min_size=1, max_size=4))))
    return LabelRequirement(key, op, (draw(VALUES),))


@given(st.lists(label_requirements(), max_size=6))
def test_label_selector_round_trips(reqs: list[LabelRequirement]) -> None:
    selector = LabelSelector(tuple(reqs))
    assert parse_label_selector(str(selector)) == selector


@given(st.lists(label_requirements(), max_size=4), st.dictionaries(KEYS, VALUES, max_size=4))
def test_selector_matches_all_of_its_requirements(
    reqs: list[LabelRequirement], labels: dict[str, str]
) -> None:
    selector = LabelSelector(tuple(reqs))
    assert selector.matches(labels) == all(r.matches(labels) for r in reqs)


SELECTOR_ALPHABET = "ab=!(),<> \t\n/.-_019inotAZ\\é\x00"


@given(st.one_of(st.text(), st.text(alphabet=SELECTOR_ALPHABET)))
def test_label_parser_raises_only_selector_error(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(selector)) == selector


PATHS = st.sampled_from(["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"])


@given(st.lists(st.tuples(PATHS, st.sampled_from(["=", "==", "!="]), st.text(max_size=8))))
def test_field_selector_round_trips(terms: list[tuple[str, str, str]]) -> None:
    selector = FieldSelector(tuple(FieldTerm(*t) for t in terms))
    assert parse_field_selector(str(selector)) == selector


@given(st.one_of(st.text(), st.text(alphabet="a.=!,\\ b")))
def test_field_parser_raises_only_selector_error(text: str) -> None:
    try:
        selector = parse_field_selector(text)
    except SelectorError:
        return
    assert parse_field_selector(str(selector)) == selector
