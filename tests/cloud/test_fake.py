"""FakeCloud: recorded calls, injected errors, per-offering ICE, the shared offering choice."""

from __future__ import annotations

import pytest

from shipyard.cloud.fake import Call, FakeCloud
from shipyard.cloud.provider import CreateError, InsufficientCapacityError, Interruption
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import NotFoundError

from .helpers import both_types, reqs, request, small_catalog, small_cloud

CT = "karpenter.sh/capacity-type"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def test_create_is_instant_and_ids_are_deterministic(clock: VirtualClock) -> None:
    cloud = FakeCloud([both_types("a", 0.03, 0.1)], clock)
    first = cloud.create(request(cloud.instance_types({})))
    second = cloud.create(request(cloud.instance_types({})))
    assert (first.instance_id, second.instance_id) == ("i-00000000000000001", "i-00000000000000002")
    assert first.state == "running" and first.launch_time == clock.now()
    assert first.provider_id == "aws:///us-east-1a/i-00000000000000001"
    assert [i.instance_id for i in cloud.list()] == [first.instance_id, second.instance_id]


def test_calls_are_recorded_in_order(clock: VirtualClock) -> None:
    cloud = FakeCloud([both_types("a", 0.03, 0.1)], clock)
    pool = {"metadata": {"name": "default"}}
    types = cloud.instance_types(pool)
    launch = request(types)
    instance = cloud.create(launch)
    cloud.get(instance.provider_id)
    cloud.delete(instance.provider_id)
    cloud.interruptions()
    assert [c.method for c in cloud.calls] == [
        "instance_types",
        "create",
        "get",
        "delete",
        "interruptions",
    ]
    assert cloud.calls[0] == Call("instance_types", {"nodepool": pool, "node_class": None})
    assert cloud.calls_of("create")[0].args["request"] is launch


def test_fail_next_raises_once_per_queued_error(clock: VirtualClock) -> None:
    cloud = FakeCloud([both_types("a", 0.03, 0.1)], clock)
    types = cloud.instance_types({})
    cloud.fail_next("create", CreateError("quota exceeded"))
    cloud.fail_next(
        "create", InsufficientCapacityError("no capacity", [("a", "us-east-1a", "spot")])
    )
    with pytest.raises(CreateError, match="quota exceeded"):
        cloud.create(request(types))
    with pytest.raises(InsufficientCapacityError) as caught:
        cloud.create(request(types))
    assert caught.value.offerings == (("a", "us-east-1a", "spot"),)
    assert cloud.create(request(types)).instance_type == "a"
    assert len(cloud.calls_of("create")) == 3  # failed calls are recorded too
    cloud.fail_next("list", RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        cloud.list()


def test_per_offering_insufficient_capacity(clock: VirtualClock) -> None:
    cloud = FakeCloud([both_types("a", 0.03, 0.1), both_types("b", 0.04, 0.2)], clock)
    types = cloud.instance_types({})
    cloud.insufficient_capacity("a", "us-east-1a", "spot")
    instance = cloud.create(request(types))
    assert (instance.instance_type, instance.zone) == ("a", "us-east-1b")
    cloud.insufficient_capacity("a", None, "spot")
    cloud.insufficient_capacity("b")
    with pytest.raises(InsufficientCapacityError) as caught:
        cloud.create(request(types, reqs((CT, "In", ["spot"]))))
    assert len(caught.value.offerings) == 6
    cloud.clear_insufficient_capacity()
    assert cloud.create(request(types)).capacity_type == "spot"


def test_delete_get_drift_and_interruptions(clock: VirtualClock) -> None:
    cloud = FakeCloud([both_types("a", 0.03, 0.1)], clock)
    instance = cloud.create(request(cloud.instance_types({})))
    assert cloud.is_drifted(instance, None) == ""
    cloud.set_drift(instance.provider_id, "AMIDrift")
    assert cloud.is_drifted(instance, None) == "AMIDrift"
    message = Interruption(
        "spot-interruption",
        instance.instance_id,
        instance.provider_id,
        clock.now(),
        clock.now() + 120,
    )
    cloud.push_interruption(message)
    assert cloud.interruptions() == [message]
    assert cloud.interruptions() == []
    cloud.delete(instance.provider_id)
    assert cloud.list() == []
    with pytest.raises(NotFoundError):
        cloud.get(instance.provider_id)
    with pytest.raises(NotFoundError):
        cloud.delete(instance.provider_id)


def test_fake_and_simulated_choose_the_same_offering(clock: VirtualClock) -> None:
    simulated = small_cloud(clock)
    fake = FakeCloud(small_catalog(clock), clock)
    for terms in (
        [],
        [(CT, "In", ["on-demand"])],
        [("topology.kubernetes.io/zone", "In", ["us-east-1c"])],
    ):
        types = simulated.instance_types({})
        assert [t.name for t in types] == [t.name for t in fake.instance_types({})]
        a = simulated.create(request(types, reqs(*terms)))
        b = fake.create(request(fake.instance_types({}), reqs(*terms)))
        assert (a.instance_type, a.zone, a.capacity_type, a.price) == (
            b.instance_type,
            b.zone,
            b.capacity_type,
            b.price,
        )
        assert a.labels == b.labels
