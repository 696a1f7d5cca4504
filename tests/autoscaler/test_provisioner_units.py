"""The provisioner's pure parts: the batch window, which pods are provisionable, the NodeClaim
written for a plan, what a claim counts against limits, and the metrics' arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.apis.hashing import (
    HASH_VERSION,
    NODEPOOL_HASH,
    NODEPOOL_HASH_VERSION,
    nodepool_hash,
)
from shipyard.autoscaler.metrics import AutoscalerMetrics, Counter, Histogram
from shipyard.autoscaler.provisioning import PlannedClaim
from shipyard.autoscaler.provisioning.batcher import Batcher, BatchOptions
from shipyard.autoscaler.provisioning.capacity import claim_capacity
from shipyard.autoscaler.provisioning.controller import is_provisionable, nodeclaim_for
from shipyard.core.requirements import IN, Requirement, Requirements
from shipyard.core.taints import Taint
from tests.autoscaler.test_provisioning_helpers import instance_type
from tests.cluster.fixtures import make_pod, merge
from tests.platform.test_autoscaling_helpers import nodepool

UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}

# --- the batch window -------------------------------------------------------------------------

# (arrival times of distinct pods, when the window closes)
WINDOWS = [
    ([0.0], 1.0),
    ([0.0, 0.5], 1.5),
    ([0.0, 0.9, 1.8, 2.7], 3.7),
    ([0.0, 0.9, 1.8, 2.7, 3.6, 4.5, 5.4, 6.3, 7.2, 8.1, 9.0, 9.9], 10.0),
]


@pytest.mark.parametrize(("arrivals", "closes"), WINDOWS)
def test_the_window_closes_after_idle_or_at_the_cap(arrivals: list[float], closes: float) -> None:
    batcher = Batcher()
    for i, t in enumerate(arrivals):
        assert batcher.add(f"pod-{i}", t)
    assert batcher.closes_at() == pytest.approx(closes)
    assert batcher.wait(closes - 0.25) == pytest.approx(0.25)
    assert batcher.wait(closes + 5) == 0.0
    assert batcher.close() == len(arrivals)
    assert not batcher.is_open and batcher.wait(0) is None


def test_the_same_pod_seen_again_does_not_extend_the_window() -> None:
    batcher = Batcher(BatchOptions(idle_seconds=2, max_seconds=5))
    assert batcher.add("a", 0.0)
    assert not batcher.add("a", 1.5)
    assert batcher.closes_at() == 2.0


def test_negative_batch_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        BatchOptions(idle_seconds=-1)


# --- provisionable pods -----------------------------------------------------------------------


def pending(**overrides: Any) -> dict[str, Any]:
    return merge(
        make_pod("p", status={"phase": "Pending", "conditions": [UNSCHEDULABLE]}), overrides
    )


PODS = [
    ("unschedulable", pending(), True),
    ("bound", pending(spec={"nodeName": "n1"}), False),
    ("never tried", make_pod("p"), False),
    (
        "gated",
        pending(
            status={"conditions": [{**UNSCHEDULABLE, "reason": "SchedulingGated"}]},
        ),
        False,
    ),
    ("preempting", pending(status={"nominatedNodeName": "n1"}), False),
    ("terminating", pending(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}), False),
    ("failed", pending(status={"phase": "Failed"}), False),
    (
        "daemonset",
        pending(
            metadata={"ownerReferences": [{"kind": "DaemonSet", "name": "d", "controller": True}]}
        ),
        False,
    ),
    (
        "replicaset",
        pending(
            metadata={"ownerReferences": [{"kind": "ReplicaSet", "name": "r", "controller": True}]}
        ),
        True,
    ),
]


@pytest.mark.parametrize(("case", "pod", "expected"), PODS, ids=[p[0] for p in PODS])
def test_which_pods_are_provisionable(case: str, pod: dict[str, Any], expected: bool) -> None:
    assert is_provisionable(pod) is expected, case


# --- the NodeClaim for a plan -----------------------------------------------------------------


def planned(types: int = 3, **overrides: Any) -> PlannedClaim:
    its = tuple(instance_type(f"m{i}.large", 2, 8, 29, 0.1 + i / 100) for i in range(types))
    reqs = Requirements(
        [
            Requirement.create("karpenter.sh/nodepool", IN, ["default"]),
            Requirement.create("topology.kubernetes.io/zone", IN, ["us-east-1a"]),
            Requirement.create("kubernetes.io/hostname", IN, ["somewhere"]),
            Requirement.create(
                "node.kubernetes.io/instance-type", IN, [t.name for t in its], min_values=2
            ),
        ]
    )
    fields: dict[str, Any] = {
        "nodepool": "default",
        "requirements": reqs,
        "instance_types": its,
        "pods": (),
        "price": 0.1,
        "requests": {"cpu": 1500, "memory": 512 * 2**20, "pods": 2},
        "daemon_overhead": {},
        "taints": (Taint("dedicated", "web", "NoSchedule"),),
        **overrides,
    }
    return PlannedClaim(**fields)


def test_the_claim_lists_its_types_cheapest_first_and_drops_restricted_keys() -> None:
    pool_obj = {**nodepool(), "metadata": {"name": "default", "uid": "u-1"}}
    claim = nodeclaim_for(planned(), NodePoolView.from_object(pool_obj), pool_obj)
    spec = claim["spec"]
    assert spec["requirements"][0] == {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": ["m0.large", "m1.large", "m2.large"],
        "minValues": 2,
    }
    keys = [r["key"] for r in spec["requirements"]]
    assert "kubernetes.io/hostname" not in keys  # restricted on a NodeClaim
    assert "topology.kubernetes.io/zone" in keys and "karpenter.sh/nodepool" in keys
    assert spec["resources"]["requests"] == {"cpu": "1500m", "memory": "512Mi", "pods": "2"}
    assert spec["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    assert spec["expireAfter"] == "720h"
    md = claim["metadata"]
    assert md["generateName"] == "default-"
    assert md["labels"] == {"karpenter.sh/nodepool": "default"}
    assert md["ownerReferences"][0]["uid"] == "u-1"


def test_the_claim_carries_the_hash_of_the_template_it_was_made_from() -> None:
    pool_obj = {**nodepool(), "metadata": {"name": "default", "uid": "u-1"}}
    claim = nodeclaim_for(planned(), NodePoolView.from_object(pool_obj), pool_obj)
    annotations = claim["metadata"]["annotations"]
    assert annotations[NODEPOOL_HASH] == nodepool_hash(pool_obj)
    assert annotations[NODEPOOL_HASH_VERSION] == HASH_VERSION
    changed = merge(pool_obj, {"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}})
    assert nodepool_hash(changed) != annotations[NODEPOOL_HASH]  # so the claim would drift


def test_the_claim_keeps_at_most_the_cheapest_sixty_types() -> None:
    pool_obj = nodepool()
    claim = nodeclaim_for(planned(types=75), NodePoolView.from_object(pool_obj), pool_obj)
    values = claim["spec"]["requirements"][0]["values"]
    assert len(values) == 60
    assert values[0] == "m0.large" and values[-1] == "m59.large"


def test_a_claim_counts_its_launched_capacity_else_its_largest_type() -> None:
    small = instance_type("s.large", 2, 4, 17, 0.05)
    big = instance_type("b.xlarge", 4, 16, 58, 0.2)
    types = {t.name: t for t in (small, big)}
    unlaunched = {
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In",
                 "values": ["s.large", "b.xlarge"]},
            ]
        }
    }  # fmt: skip
    assert claim_capacity(unlaunched, types)["cpu"] == 4000
    launched = {**unlaunched, "status": {"capacity": {"cpu": "2", "memory": "4Gi"}}}
    assert claim_capacity(launched, types) == {"cpu": 2000, "memory": 4 * 2**30}


# --- metrics ----------------------------------------------------------------------------------


def test_a_histogram_counts_cumulative_buckets() -> None:
    h = Histogram(buckets=(1, 10, 100))
    for value in (0.5, 10, 11, 500):
        h.observe(value)
    exported = h.export()
    assert exported["buckets"] == {"1": 1, "10": 2, "100": 3}
    assert (exported["count"], exported["sum"]) == (4, 521.5)
    assert h.quantile(0.0) == 0.5 and h.quantile(1.0) == 500


def test_a_counter_only_grows_and_checks_its_labels() -> None:
    c = Counter(("nodepool",))
    c.inc("default")
    c.inc("default", by=2)
    assert c.value("default") == 3.0
    with pytest.raises(ValueError, match="only grows"):
        c.inc("default", by=-1)
    with pytest.raises(ValueError, match="expected labels"):
        c.inc("default", "extra")


def test_the_snapshot_names_every_metric() -> None:
    assert sorted(AutoscalerMetrics().snapshot()) == [
        "karpenter_cloudprovider_cost_per_hour",
        "karpenter_nodeclaims_created_total",
        "karpenter_nodeclaims_launched_total",
        "karpenter_nodes_total",
        "karpenter_pods_pending_duration_seconds",
    ]
