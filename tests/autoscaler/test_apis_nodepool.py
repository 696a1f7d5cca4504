"""NodePool admission: every rule of Karpenter v1's CRD, its defaults, and the parsed view.

Each invalid row changes one field of the getting-started NodePool and names the field path
and the words of the message the change must produce; each valid row must admit cleanly.
"""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import Budget, NodeClassRef, NodePoolView
from shipyard.autoscaler.apis.nodepool import default_nodepool, validate_nodepool
from shipyard.core.errors import FieldError, InvalidError
from shipyard.core.requirements import Requirements
from shipyard.core.taints import Taint
from tests.autoscaler.test_apis_manifests import DELETE, NODEPOOL_V1, Obj, load, patched

TSPEC = "spec.template.spec"
REQS = f"{TSPEC}.requirements"
LABELS = "spec.template.metadata.labels"


def admit(obj: Obj, old: Obj | None = None) -> list[FieldError]:
    default_nodepool(obj)
    if old is not None:
        default_nodepool(old)
    return validate_nodepool(obj, old)


def requirement(key: str, operator: str, *values: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": key, "operator": operator, **extra}
    if values:
        entry["values"] = list(values)
    return entry


def taint(key: str, effect: str = "NoSchedule", value: str | None = None) -> dict[str, Any]:
    entry = {"key": key, "effect": effect}
    return entry if value is None else {**entry, "value": value}


MANY_REQUIREMENTS = [requirement(f"example.com/k{i}", "Exists") for i in range(101)]
MANY_LABELS = {f"example.com/k{i}": "v" for i in range(101)}
MANY_BUDGETS = [{"nodes": "1"}] * 51

# (field set, value, error path, words of the message)
INVALID = [
    # requirements: operators and values
    (f"{REQS}[4].values", ["two"], f"{REQS}[4].values",
     "requirements with operator 'Gt' must have a single non-negative integer value"),
    (f"{REQS}[4].values", ["2", "3"], f"{REQS}[4].values", "must have a single non-negative"),
    (f"{REQS}[4].values", ["-1"], f"{REQS}[4].values", "must have a single non-negative"),
    (f"{REQS}[4]", requirement("karpenter.k8s.aws/instance-cpu", "Lt"), f"{REQS}[4].values",
     "operator 'Lt' must have a single non-negative integer value"),
    (f"{REQS}[4]", requirement("karpenter.k8s.aws/instance-cpu", "Lte", "x"),
     f"{REQS}[4].values", "operator 'Lte' must have a single"),
    (f"{REQS}[0].values", [], f"{REQS}[0].values",
     "requirements with operator 'In' must have a value"),
    (f"{REQS}[0].values", DELETE, f"{REQS}[0].values", "operator 'In' must have a value"),
    (f"{REQS}[3].minValues", 4, f"{REQS}[3].minValues",
     "requirements with 'minValues' must have at least that many values"),
    (f"{REQS}[3].minValues", 0, f"{REQS}[3].minValues", "must be between 1 and 50"),
    (f"{REQS}[3].minValues", 51, f"{REQS}[3].minValues", "must be between 1 and 50"),
    (f"{REQS}[3].minValues", "2", f"{REQS}[3].minValues", "must be of type integer"),
    (f"{REQS}[0].operator", "Near", f"{REQS}[0].operator", "Unsupported value"),
    (f"{REQS}[0].operator", DELETE, f"{REQS}[0].operator", "Required value"),
    (f"{REQS}[0]", requirement("example.com/team", "Exists", "a"), f"{REQS}[0].values",
     "values must be empty when operator is 'Exists'"),
    (f"{REQS}[0].values", ["bad value"], f"{REQS}[0].values[0]", "a valid label must be"),
    (f"{REQS}[0].values", ["x" * 64], f"{REQS}[0].values[0]", "no more than 63 characters"),
    (f"{REQS}[0].values", "amd64", f"{REQS}[0].values", "must be of type array"),
    (f"{REQS}[0].valuez", ["amd64"], f"{REQS}[0].valuez", 'unknown field "'),
    (f"{REQS}[0].key", "-bad-", f"{REQS}[0].key", "name part must consist of"),
    (f"{REQS}[0].key", 5, f"{REQS}[0].key", "must be of type string"),
    (f"{REQS}[0]", "kubernetes.io/arch=amd64", f"{REQS}[0]", "must be of type object"),
    (REQS, MANY_REQUIREMENTS, REQS, "must have at most 100 items"),
    (REQS, DELETE, REQS, "Required value"),
    (REQS, {"key": "a"}, REQS, "must be of type array"),
    # requirements: restricted label domains, with the CRD's messages
    (f"{REQS}[0].key", "kubernetes.io/team", f"{REQS}[0].key",
     'label domain "kubernetes.io" is restricted'),
    (f"{REQS}[0].key", "example.kubernetes.io/team", f"{REQS}[0].key",
     'label domain "kubernetes.io" is restricted'),
    (f"{REQS}[0].key", "example.k8s.io/team", f"{REQS}[0].key",
     'label domain "k8s.io" is restricted'),
    (f"{REQS}[0].key", "karpenter.sh/team", f"{REQS}[0].key",
     'label domain "karpenter.sh" is restricted'),
    (f"{REQS}[0].key", "karpenter.sh/nodepool", f"{REQS}[0].key",
     'label "karpenter.sh/nodepool" is restricted'),
    (f"{REQS}[0].key", "kubernetes.io/hostname", f"{REQS}[0].key",
     'label "kubernetes.io/hostname" is restricted'),
    (f"{REQS}[0].key", "karpenter.k8s.aws/team", f"{REQS}[0].key",
     'label domain "karpenter.k8s.aws" is restricted'),
    # template labels
    (LABELS, {"kubernetes.io/team": "a"}, LABELS, 'label domain "kubernetes.io" is restricted'),
    (LABELS, {"karpenter.sh/nodepool": "a"}, LABELS,
     'label "karpenter.sh/nodepool" is restricted'),
    (LABELS, {"kubernetes.io/hostname": "a"}, LABELS,
     'label "kubernetes.io/hostname" is restricted'),
    (LABELS, {"team.k8s.io/x": "a"}, LABELS, 'label domain "k8s.io" is restricted'),
    (LABELS, {"karpenter.sh/x": "a"}, LABELS, 'label domain "karpenter.sh" is restricted'),
    (LABELS, {"karpenter.k8s.aws/x": "a"}, LABELS,
     'label domain "karpenter.k8s.aws" is restricted'),
    (LABELS, {"team": "a b"}, LABELS, "a valid label must be"),
    (LABELS, {"a b": "c"}, LABELS, "name part must consist of"),
    (LABELS, {"team": 5}, f"{LABELS}.team", "must be of type string"),
    (LABELS, MANY_LABELS, LABELS, "must have at most 100 items"),
    ("spec.template.metadata.annotations", {"a b": "c"}, "spec.template.metadata.annotations",
     "name part must consist of"),
    ("spec.template.metadata.name", "x", "spec.template.metadata.name", 'unknown field "'),
    # taints and startup taints
    (f"{TSPEC}.taints", [taint("dedicated", "Sometimes")], f"{TSPEC}.taints[0].effect",
     'Unsupported value: "Sometimes"'),
    (f"{TSPEC}.taints", [taint("a b")], f"{TSPEC}.taints[0].key", "name part must consist of"),
    (f"{TSPEC}.taints", [{"effect": "NoSchedule"}], f"{TSPEC}.taints[0].key", "Required value"),
    (f"{TSPEC}.taints", [taint("gpu", value="a b")], f"{TSPEC}.taints[0].value",
     "a valid label must be"),
    (f"{TSPEC}.taints", [taint("gpu"), taint("gpu", value="x")], f"{TSPEC}.taints[1]",
     "taints must be unique by key and effect pair"),
    (f"{TSPEC}.startupTaints", [taint("cilium/not-ready", "NoRun")],
     f"{TSPEC}.startupTaints[0].effect", "Unsupported value"),
    (f"{TSPEC}.startupTaints", [taint("a"), taint("a")], f"{TSPEC}.startupTaints[1]",
     "Duplicate value"),
    # nodeClassRef
    (f"{TSPEC}.nodeClassRef", DELETE, f"{TSPEC}.nodeClassRef", "Required value"),
    (f"{TSPEC}.nodeClassRef.group", DELETE, f"{TSPEC}.nodeClassRef.group", "Required value"),
    (f"{TSPEC}.nodeClassRef.kind", DELETE, f"{TSPEC}.nodeClassRef.kind", "Required value"),
    (f"{TSPEC}.nodeClassRef.name", DELETE, f"{TSPEC}.nodeClassRef.name", "Required value"),
    (f"{TSPEC}.nodeClassRef.group", "", f"{TSPEC}.nodeClassRef.group", "group may not be empty"),
    (f"{TSPEC}.nodeClassRef.kind", "", f"{TSPEC}.nodeClassRef.kind", "kind may not be empty"),
    (f"{TSPEC}.nodeClassRef.name", "", f"{TSPEC}.nodeClassRef.name", "name may not be empty"),
    (f"{TSPEC}.nodeClassRef.group", "karpenter.k8s.aws/v1", f"{TSPEC}.nodeClassRef.group",
     "should match '^[^/]*$'"),
    (f"{TSPEC}.nodeClassRef.apiVersion", "karpenter.k8s.aws/v1beta1",
     f"{TSPEC}.nodeClassRef.apiVersion", 'unknown field "'),
    # durations
    (f"{TSPEC}.expireAfter", "30d", f"{TSPEC}.expireAfter",
     "must be a duration of whole hours, minutes or seconds"),
    (f"{TSPEC}.expireAfter", "1.5h", f"{TSPEC}.expireAfter", "should match"),
    (f"{TSPEC}.expireAfter", "-1h", f"{TSPEC}.expireAfter", "should match"),
    (f"{TSPEC}.expireAfter", "never", f"{TSPEC}.expireAfter", "or Never"),
    (f"{TSPEC}.expireAfter", "720h\n", f"{TSPEC}.expireAfter", "should match"),
    (f"{TSPEC}.expireAfter", 720, f"{TSPEC}.expireAfter", "must be of type string"),
    (f"{TSPEC}.terminationGracePeriod", "Never", f"{TSPEC}.terminationGracePeriod",
     "should match '^([0-9]+(s|m|h))+$'"),
    (f"{TSPEC}.terminationGracePeriod", "2d", f"{TSPEC}.terminationGracePeriod",
     "must be a duration"),
    # disruption
    ("spec.disruption.consolidateAfter", "soon", "spec.disruption.consolidateAfter",
     "should match '^(([0-9]+(s|m|h))+|Never)$'"),
    ("spec.disruption.consolidateAfter", DELETE, "spec.disruption.consolidateAfter",
     "Required value"),
    ("spec.disruption.consolidationPolicy", "WhenUnderutilized",
     "spec.disruption.consolidationPolicy",
     'Unsupported value: "WhenUnderutilized": supported values: "WhenEmpty", '
     '"WhenEmptyOrUnderutilized"'),
    ("spec.disruption.expireAfter", "720h", "spec.disruption.expireAfter", 'unknown field "'),
    ("spec.disruption.budgets", [{"nodes": "110%"}], "spec.disruption.budgets[0].nodes",
     "should match '^((100|[0-9]{1,2})%|[0-9]+)$'"),
    ("spec.disruption.budgets", [{"nodes": "ten"}], "spec.disruption.budgets[0].nodes",
     "a number of nodes or a percentage"),
    ("spec.disruption.budgets", [{"nodes": 5}], "spec.disruption.budgets[0].nodes",
     'must be of type string: write "5"'),
    ("spec.disruption.budgets", [{"nodes": "1", "schedule": "@daily"}],
     "spec.disruption.budgets[0]", "'schedule' must be set with 'duration'"),
    ("spec.disruption.budgets", [{"nodes": "1", "duration": "10m"}],
     "spec.disruption.budgets[0]", "'schedule' must be set with 'duration'"),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "0 25 * * *", "duration": "1h"}],
     "spec.disruption.budgets[0].schedule", "hour field '25': 25 is out of range 0-23"),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "0 9 * *", "duration": "1h"}],
     "spec.disruption.budgets[0].schedule", "expected 5 fields"),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "@every 1h", "duration": "1h"}],
     "spec.disruption.budgets[0].schedule", "unknown macro '@every'"),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "@daily", "duration": "30s"}],
     "spec.disruption.budgets[0].duration", "whole hours and minutes"),
    ("spec.disruption.budgets", [{"nodes": "1", "reasons": ["Expired"]}],
     "spec.disruption.budgets[0].reasons[0]",
     'Unsupported value: "Expired": supported values: "Underutilized", "Empty", "Drifted"'),
    ("spec.disruption.budgets", [{"nodes": "1", "reasons": ["Empty", "Empty"]}],
     "spec.disruption.budgets[0].reasons[1]", 'Duplicate value: "Empty"'),
    ("spec.disruption.budgets", MANY_BUDGETS, "spec.disruption.budgets",
     "must have at most 50 items"),
    # limits and weight
    ("spec.limits", {"cpu": "lots"}, "spec.limits.cpu", "quantities must match"),
    ("spec.limits", {"memory": "-1Gi"}, "spec.limits.memory", "must be greater than or equal to 0"),
    ("spec.weight", 0, "spec.weight", "must be between 1 and 100, inclusive"),
    ("spec.weight", 101, "spec.weight", "must be between 1 and 100, inclusive"),
    ("spec.weight", "10", "spec.weight", "must be of type integer"),
    # the object
    ("spec.template.spec", DELETE, "spec.template.spec", "Required value"),
    ("spec.template", DELETE, "spec.template", "Required value"),
    ("spec", DELETE, "spec", "Required value"),
    ("spec.ttlSecondsAfterEmpty", 30, "spec.ttlSecondsAfterEmpty", 'unknown field "'),
    ("spec.replicas", 3, "spec.replicas", 'unknown field "'),
    ("metadata.name", "Default", "metadata.name", "RFC 1123 subdomain"),
    ("metadata.name", "a" * 64, "metadata.name",
     "must be no more than 63 characters: nodes carry the name as a label value"),
    ("metadata.namespace", "default", "metadata.namespace", "not allowed on this type"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "words"), INVALID)
def test_invalid_nodepool_is_rejected_with_path_and_reason(
    field: str, value: Any, path: str, words: str
) -> None:
    causes = admit(patched(NODEPOOL_V1, field, value))
    assert any(c.path == path and words in c.message for c in causes), causes


VALID = [
    (f"{REQS}[4]", requirement("karpenter.k8s.aws/instance-cpu", "Gte", "4")),
    (f"{REQS}[4]", requirement("karpenter.k8s.aws/instance-memory", "Lte", "16384")),
    (f"{REQS}[4]", requirement("karpenter.k8s.aws/instance-cpu", "Lt", "0")),
    (f"{REQS}[3].minValues", 3),
    (f"{REQS}[3]", requirement("karpenter.k8s.aws/instance-family", "Exists", minValues=5)),
    (f"{REQS}[0]", requirement("kubernetes.io/arch", "NotIn", "arm64")),
    (f"{REQS}[0]", requirement("example.com/team", "DoesNotExist")),
    (f"{REQS}[0].key", "beta.kubernetes.io/arch"),
    (f"{REQS}[0].key", "node.kubernetes.io/instance-type"),
    (f"{REQS}[0].key", "node-restriction.kubernetes.io/team"),
    (f"{REQS}[0].key", "topology.kubernetes.io/zone"),
    (f"{REQS}[0].key", "kops.k8s.io/instancegroup"),
    (f"{REQS}[0].key", "karpenter.k8s.aws/ec2nodeclass"),
    (f"{REQS}[0].key", "karpenter.k8s.aws/instance-hypervisor"),
    (f"{REQS}[0].key", "example.com/team"),
    (REQS, []),  # present, if empty: any instance type
    (REQS, MANY_REQUIREMENTS[:100]),
    (LABELS, {"team": "a", "node.kubernetes.io/role": "x", "karpenter.sh/capacity-type": "spot"}),
    (LABELS, dict(list(MANY_LABELS.items())[:100])),
    ("spec.template.metadata.annotations", {"example.com/owner": "team a"}),
    (f"{TSPEC}.taints", [taint("nvidia.com/gpu", "NoSchedule", "true"),
                         taint("nvidia.com/gpu", "NoExecute")]),
    (f"{TSPEC}.startupTaints", [taint("node.cilium.io/agent-not-ready", "NoExecute", "true")]),
    (f"{TSPEC}.expireAfter", "Never"),
    (f"{TSPEC}.expireAfter", "1h30m"),
    (f"{TSPEC}.expireAfter", "90s"),
    (f"{TSPEC}.terminationGracePeriod", "48h"),
    ("spec.disruption.consolidateAfter", "Never"),
    ("spec.disruption.consolidationPolicy", "WhenEmpty"),
    ("spec.disruption.budgets", [{"nodes": "0"}, {"nodes": "100%"}, {"nodes": "20"}]),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h",
                                  "reasons": ["Drifted", "Underutilized"]}]),
    ("spec.disruption.budgets", [{"nodes": "0", "schedule": "@daily", "duration": "1h30m0s"}]),
    ("spec.disruption.budgets", [{"reasons": ["Empty"]}]),  # nodes defaults to 10%
    ("spec.disruption.budgets", MANY_BUDGETS[:50]),
    ("spec.limits", {"cpu": "1000", "memory": "1000Gi", "nvidia.com/gpu": 8, "nodes": "50"}),
    ("spec.weight", 1),
    ("spec.weight", 100),
    ("spec.weight", None),
    ("status", {"resources": {"cpu": "4"}, "nodes": 1, "conditions": []}),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), VALID)
def test_valid_nodepool_is_admitted(field: str, value: Any) -> None:
    assert admit(patched(NODEPOOL_V1, field, value)) == []


def test_every_problem_is_reported_at_once() -> None:
    obj = patched(NODEPOOL_V1, "spec.weight", 0)
    obj = patched(obj, f"{REQS}[0].operator", "Near")
    obj = patched(obj, f"{TSPEC}.expireAfter", "1d")
    assert sorted(c.path for c in admit(obj)) == sorted(
        [f"{REQS}[0].operator", f"{TSPEC}.expireAfter", "spec.weight"]
    )


def test_any_json_shape_gives_errors_not_exceptions() -> None:
    shapes: list[Any] = ["x", 5, [], {"template": "x"}, {"template": {"spec": []}}]
    for spec in shapes:
        obj = load(NODEPOOL_V1)
        obj["spec"] = spec
        assert admit(obj), spec
    assert admit({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {}})


# --- defaults -----------------------------------------------------------------------------


def defaulted(obj: Obj) -> Obj:
    default_nodepool(obj)
    return obj


def test_defaults_fill_disruption_and_expiry() -> None:
    obj = patched(patched(NODEPOOL_V1, "spec.disruption", DELETE), f"{TSPEC}.expireAfter", None)
    spec = defaulted(obj)["spec"]
    assert spec["disruption"] == {
        "consolidateAfter": "0s",
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "budgets": [{"nodes": "10%"}],
    }
    assert spec["template"]["spec"]["expireAfter"] == "720h"
    assert "weight" not in spec and "limits" in spec
    assert admit(obj) == []


def test_defaults_inside_a_written_disruption_block() -> None:
    obj = patched(NODEPOOL_V1, "spec.disruption", {"consolidateAfter": "5m", "budgets": None})
    assert defaulted(obj)["spec"]["disruption"] == {
        "consolidateAfter": "5m",
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "budgets": [{"nodes": "10%"}],
    }
    budgets = patched(NODEPOOL_V1, "spec.disruption.budgets", [{"reasons": ["Empty"]}, {}])
    assert defaulted(budgets)["spec"]["disruption"]["budgets"] == [
        {"reasons": ["Empty"], "nodes": "10%"},
        {"nodes": "10%"},
    ]


def test_written_disruption_without_consolidate_after_is_not_defaulted() -> None:
    obj = patched(NODEPOOL_V1, "spec.disruption", {"consolidationPolicy": "WhenEmpty"})
    assert "consolidateAfter" not in defaulted(obj)["spec"]["disruption"]
    assert [str(c) for c in admit(obj)] == ["spec.disruption.consolidateAfter: Required value"]


def test_defaults_keep_what_is_written_and_survive_bad_shapes() -> None:
    obj = patched(NODEPOOL_V1, f"{TSPEC}.expireAfter", "Never")
    assert defaulted(obj)["spec"]["template"]["spec"]["expireAfter"] == "Never"
    shapes: list[Any] = ["x", {"disruption": "x", "template": {"spec": "x"}}, {"template": []}]
    for spec in shapes:
        odd = {"spec": spec}
        default_nodepool(odd)  # no exception; admission reports the shapes
    assert defaulted({"spec": {"disruption": {"budgets": ["x"]}}})["spec"]["disruption"][
        "budgets"
    ] == ["x"]


# --- updates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("group", "karpenter.azure.com", "nodeClassRef.group is immutable"),
        ("kind", "AKSNodeClass", "nodeClassRef.kind is immutable"),
    ],
)
def test_node_class_ref_group_and_kind_are_immutable(field: str, value: str, message: str) -> None:
    old = load(NODEPOOL_V1)
    new = patched(old, f"{TSPEC}.nodeClassRef.{field}", value)
    assert [str(c) for c in admit(new, old)] == [
        f'{TSPEC}.nodeClassRef: Invalid value: "object": {message}'
    ]


def test_other_fields_may_change_on_update() -> None:
    old = load(NODEPOOL_V1)
    new = patched(old, f"{TSPEC}.nodeClassRef.name", "gpu")
    new = patched(new, "spec.weight", 50)
    new = patched(new, f"{REQS}[2].values", ["spot", "on-demand"])
    assert admit(new, old) == []


# --- the view -----------------------------------------------------------------------------


def test_view_of_the_getting_started_nodepool() -> None:
    view = NodePoolView.from_object(load(NODEPOOL_V1))
    assert view.name == "default"
    assert view.weight == 0
    assert view.node_class_ref == NodeClassRef("karpenter.k8s.aws", "EC2NodeClass", "default")
    assert view.labels == {"karpenter.sh/nodepool": "default"}
    assert view.expire_after == 720 * 3600
    assert view.termination_grace_period is None
    assert view.consolidation_policy == "WhenEmptyOrUnderutilized"
    assert view.consolidate_after == 60
    assert view.budgets == (Budget(nodes="10%"),)
    assert view.limits == {"cpu": 1_000_000}  # millicores
    assert view.taints == view.startup_taints == ()
    req = view.requirements
    assert req.get("karpenter.k8s.aws/instance-category").values() == {"c", "m", "r"}
    assert req.get("karpenter.sh/nodepool").values() == {"default"}
    assert req.get("karpenter.k8s.aws/instance-generation").has("3")
    assert not req.get("karpenter.k8s.aws/instance-generation").has("2")


def test_view_adds_template_labels_as_requirements_and_parses_everything() -> None:
    obj = load(NODEPOOL_V1)
    tspec = obj["spec"]["template"]["spec"]
    obj["spec"]["template"]["metadata"] = {
        "labels": {"team": "ml"},
        "annotations": {"example.com/owner": "ml"},
    }
    tspec["taints"] = [taint("nvidia.com/gpu", "NoSchedule", "true")]
    tspec["startupTaints"] = [taint("node.cilium.io/agent-not-ready", "NoExecute")]
    tspec["expireAfter"] = "Never"
    tspec["terminationGracePeriod"] = "1h30m"
    obj["spec"]["weight"] = 10
    obj["spec"]["limits"] = {"cpu": "100", "memory": "400Gi", "nvidia.com/gpu": 4}
    obj["spec"]["disruption"] = {
        "consolidationPolicy": "WhenEmpty",
        "consolidateAfter": "Never",
        "budgets": [
            {"nodes": "25%", "reasons": ["Empty", "Drifted"]},
            {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h"},
        ],
    }
    view = NodePoolView.from_object(obj)
    assert view.weight == 10
    assert view.labels == {"team": "ml", "karpenter.sh/nodepool": "default"}
    assert view.annotations == {"example.com/owner": "ml"}
    assert view.requirements.get("team").values() == {"ml"}
    assert view.taints == (Taint("nvidia.com/gpu", "true", "NoSchedule"),)
    assert view.startup_taints == (Taint("node.cilium.io/agent-not-ready", "", "NoExecute"),)
    assert view.expire_after is None
    assert view.termination_grace_period == 5400
    assert (view.consolidation_policy, view.consolidate_after) == ("WhenEmpty", None)
    assert view.limits == {"cpu": 100_000, "memory": 400 * 2**30, "nvidia.com/gpu": 4}
    everyday, office = view.budgets
    assert everyday.reasons == {"Empty", "Drifted"} and everyday.cron is None
    assert everyday.applies_to("Empty") and not everyday.applies_to("Underutilized")
    assert office.duration == 8 * 3600 and office.applies_to("Underutilized")
    assert office.cron is not None and office.cron.matches(0, 9, 3, 6, 1)  # Monday 09:00
    assert not office.cron.matches(0, 9, 7, 6, 0)  # Sunday


@pytest.mark.parametrize(
    ("nodes", "total", "allowed"),
    [("10%", 25, 3), ("10%", 10, 1), ("10%", 0, 0), ("100%", 7, 7), ("0", 50, 0), ("5", 3, 5)],
)
def test_budget_allows_disruptions_rounding_percentages_up(
    nodes: str, total: int, allowed: int
) -> None:
    assert Budget(nodes=nodes).allowed_disruptions(total) == allowed


def test_view_requirements_admit_the_nodes_the_pool_would_launch() -> None:
    view = NodePoolView.from_object(load(NODEPOOL_V1))
    node = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "karpenter.sh/capacity-type": "on-demand",
        "karpenter.k8s.aws/instance-category": "m",
        "karpenter.k8s.aws/instance-generation": "5",
        "karpenter.sh/nodepool": "default",
    }
    assert view.requirements.satisfied_by(node)
    assert not view.requirements.satisfied_by({**node, "karpenter.sh/capacity-type": "spot"})
    pod_wants_pool = Requirements.from_labels({"karpenter.sh/nodepool": "default"})
    assert view.requirements.compatible(pod_wants_pool) is None
    assert view.requirements.compatible(Requirements.from_labels({"karpenter.sh/nodepool": "gpu"}))


def test_view_rejects_an_invalid_nodepool_and_leaves_the_input_alone() -> None:
    obj = load(NODEPOOL_V1)
    before = load(NODEPOOL_V1)
    NodePoolView.from_object(obj)
    assert obj == before  # defaults went to a copy
    with pytest.raises(InvalidError) as caught:
        NodePoolView.from_object(patched(obj, "spec.weight", 0))
    assert caught.value.subject == 'NodePool "default"'
    assert [c.path for c in caught.value.causes] == ["spec.weight"]
