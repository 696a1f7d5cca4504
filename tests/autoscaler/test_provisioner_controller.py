"""The provisioner on an AutoscaledCluster: batching on the clock, NodePool limits, a missing
node class, insufficient capacity planned again at once, failures reported on the pod.

FakeCloud launches instantly and nothing joins the cluster, so claims stay in flight and the
tests see the plans alone; the SimulatedCloud stories are in tests/platform."""

from __future__ import annotations

from shipyard.autoscaler.provisioning.batcher import BatchOptions
from shipyard.cloud.fake import FakeCloud
from shipyard.cloud.provider import InsufficientCapacityError
from shipyard.core.objects import Obj
from shipyard.platform.autoscaling import AutoscalerOptions
from tests.platform.test_autoscaling_helpers import (
    INSTANCE_TYPE,
    World,
    make_pod,
    nodepool,
    web,
    world,
)


def fake_world(pool: Obj | None = None, **kwargs: object) -> World:
    return world(pool=pool, fake=True, **kwargs)  # type: ignore[arg-type]


def pod(name: str, cpu: str = "500m", memory: str = "512Mi") -> Obj:
    return make_pod(name, cpu=cpu, memory=memory)


def claim_types(claim: Obj) -> list[str]:
    [req] = [r for r in claim["spec"]["requirements"] if r["key"] == INSTANCE_TYPE]
    return list(req["values"])


def fake(w: World) -> FakeCloud:
    assert isinstance(w.auto.cloud, FakeCloud)
    return w.auto.cloud


# --- batching ---------------------------------------------------------------------------------


def planned_at(w: World, t: float, count: int = 1) -> list[Obj]:
    """Run to just before ``t`` (fewer than ``count`` claims), then to ``t`` (``count``)."""
    w.run_until(t - 0.01)
    assert len(w.claims()) < count, f"planned before {t} s"
    w.run_until(t)
    claims = w.claims()
    assert len(claims) == count, f"not planned at {t} s"
    return claims


def test_pods_arriving_within_the_idle_window_are_planned_together() -> None:
    w = fake_world()
    w.create(pod("a"))
    w.run(0.6)
    w.create(pod("b"))
    w.run(0.6)
    w.create(pod("c"))  # 1.2 s after the first: each came within 1 s of the one before
    [claim] = planned_at(w, 2.2)
    assert claim["spec"]["resources"]["requests"]["cpu"] == "1500m"
    assert w.auto.provisioner.batches == 1
    assert len(w.messages("Nominated", kind="Pod")) == 3


def test_a_pod_after_the_window_closed_starts_the_next_batch() -> None:
    w = fake_world()
    w.create(pod("a"))
    planned_at(w, 1.0)
    w.run_until(1.5)
    w.create(pod("b", cpu="1500m"))  # cannot join a's claim: 1930m allocatable at most
    planned_at(w, 2.5, count=2)
    assert w.auto.provisioner.batches == 2


def test_a_steady_stream_of_pods_is_cut_at_ten_seconds() -> None:
    w = fake_world(nodepool(types=["t3.large", "t4g.large"]))
    for i in range(13):  # one every 0.8 s up to 9.6 s: the idle window never closes
        w.run_until(i * 0.8)
        w.create(pod(f"p{i}", cpu="10m", memory="16Mi"))
    [first] = planned_at(w, 10.0)
    assert first["spec"]["resources"]["requests"]["pods"] == "13"
    w.run_until(10.4)
    w.create(pod("p13", cpu="10m", memory="16Mi"))
    w.run_until(12)
    assert w.auto.provisioner.batches == 2
    late = {e["involvedObject"]["name"] for e in w.events("Nominated")}
    assert late == {f"p{i}" for i in range(14)}


def test_batch_durations_are_configurable() -> None:
    options = AutoscalerOptions(batch=BatchOptions(idle_seconds=3, max_seconds=4))
    w = fake_world(options=options)
    w.create(pod("a"))
    w.run(2)
    w.create(pod("b"))
    planned_at(w, 4.0)  # the 4 s cap, before the 3 s idle after b (5 s)


# --- limits, node classes, failures -------------------------------------------------------------


def test_a_cpu_limit_below_every_type_stops_the_launch_with_an_event() -> None:
    w = fake_world(nodepool(spec={"limits": {"cpu": "1"}}), extra=[web()])
    w.run(2)
    assert w.claims() == []
    assert fake(w).calls_of("create") == []
    [pool_event] = w.events("LimitsExceeded", kind="NodePool")
    assert pool_event["type"] == "Warning"
    assert (
        'all available instance types exceed limits for nodepool: "default"'
        in (pool_event["message"])
    )
    assert "cpu=1" in pool_event["message"]
    [failed] = [e for e in w.events("FailedScheduling") if e["source"]["component"] == "karpenter"]
    assert failed["message"].startswith("Failed to schedule pod, ")
    assert 'exceed limits for nodepool: "default"' in failed["message"]


def test_a_cpu_limit_stops_the_second_node_but_not_the_first() -> None:
    w = fake_world(nodepool(spec={"limits": {"cpu": "2"}}))
    w.create(pod("a", cpu="1500m"))
    w.create(pod("b", cpu="1500m"))
    w.run(2)
    [claim] = w.claims()
    assert claim["spec"]["resources"]["requests"]["cpu"] == "1500m"
    assert len(w.events("LimitsExceeded", kind="NodePool")) == 1
    nominated = {e["involvedObject"]["name"] for e in w.events("Nominated")}
    failed = {
        e["involvedObject"]["name"]
        for e in w.events("FailedScheduling")
        if e["source"]["component"] == "karpenter"
    }
    assert len(nominated) == 1 and len(failed) == 1 and nominated | failed == {"a", "b"}


def test_a_pool_without_its_node_class_is_skipped_with_an_event() -> None:
    broken = nodepool(
        "broken",
        spec={
            "weight": 100,
            "template": {"spec": {"nodeClassRef": {"name": "missing"}}},
        },
    )
    w = fake_world(extra=[broken, web()])
    w.run(2)
    [claim] = w.claims()
    assert claim["metadata"]["labels"]["karpenter.sh/nodepool"] == "default"
    [event] = w.events("NodeClassNotFound", kind="NodePool")
    assert event["involvedObject"]["name"] == "broken"
    assert 'EC2NodeClass "missing" not found' in event["message"]
    ready = {c["type"]: c for c in w.pool("broken")["status"]["conditions"]}
    assert ready["Ready"]["status"] == "False"
    assert ready["NodeClassReady"]["reason"] == "NodeClassNotFound"


def test_the_heaviest_pool_wins_and_its_template_reaches_the_claim() -> None:
    heavy = nodepool(
        "heavy",
        types=["t3.large"],
        spec={
            "weight": 50,
            "template": {
                "metadata": {"labels": {"team": "web"}, "annotations": {"owner": "web"}},
                "spec": {
                    "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
                    "startupTaints": [{"key": "agent-not-ready", "effect": "NoExecute"}],
                    "terminationGracePeriod": "1h",
                    "expireAfter": "24h",
                },
            },
        },
    )
    tolerant = pod("a")
    tolerant["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    w = fake_world(extra=[heavy, tolerant])
    w.run(1)
    [claim] = w.claims()
    assert claim["metadata"]["name"].startswith("heavy-")
    assert claim["metadata"]["labels"]["team"] == "web"
    assert claim["metadata"]["annotations"]["owner"] == "web"
    spec = claim["spec"]
    assert spec["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    assert spec["startupTaints"] == [{"key": "agent-not-ready", "effect": "NoExecute"}]
    assert (spec["terminationGracePeriod"], spec["expireAfter"]) == ("1h", "24h")
    assert claim_types(claim) == ["t3.large"]


def test_a_pod_no_pool_can_take_gets_the_reason_and_no_claim() -> None:
    w = fake_world(extra=[pod("huge", cpu="64")])
    w.run(2)
    assert w.claims() == []
    [failed] = [e for e in w.events("FailedScheduling") if e["source"]["component"] == "karpenter"]
    assert failed["involvedObject"]["name"] == "huge"
    assert 'incompatible with nodepool "default"' in failed["message"]
    assert "no instance type" in failed["message"]


# --- insufficient capacity ------------------------------------------------------------------------


def test_insufficient_capacity_plans_the_pods_again_at_once_on_another_offering() -> None:
    w = fake_world(extra=[web()])
    fake(w).fail_next(
        "create",
        InsufficientCapacityError(
            "insufficient on-demand capacity",
            offerings=[("t4g.medium", "us-east-1b", "on-demand")],
        ),
    )
    w.run(1)
    claims = w.claims()
    assert len(claims) == 1  # the first claim is gone; its pods are on the second already
    [again] = claims
    assert claim_types(again)[0] == "t3.medium"  # t4g.medium in us-east-1b is unavailable
    assert again["metadata"]["labels"][INSTANCE_TYPE] == "t3.medium"
    assert w.auto.unavailable is not None
    assert w.auto.unavailable.is_unavailable("t4g.medium", "us-east-1b", "on-demand")
    [ice] = w.events("InsufficientCapacityError")
    nominations = w.messages("Nominated", kind="Pod")
    assert nominations[-1] == f"Pod should schedule on: nodeclaim/{again['metadata']['name']}"
    assert ice["involvedObject"]["name"] not in nominations[-1]
    assert len(fake(w).calls_of("create")) == 2


def test_nominated_pods_are_not_planned_again_while_their_claim_is_in_flight() -> None:
    w = fake_world(extra=[web()])
    w.run(1)
    [claim] = w.claims()
    w.run(60)  # the scheduler retries the pod; the claim never registers (FakeCloud)
    assert [c["metadata"]["name"] for c in w.claims()] == [claim["metadata"]["name"]]
    assert len(w.messages("Nominated", kind="Pod")) == 1
