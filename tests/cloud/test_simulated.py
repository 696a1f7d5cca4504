"""SimulatedCloud: choice of offering, ICE, latency, lifecycle, cost, interruptions, drift."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.cloud.account import SimulatedAccount
from shipyard.cloud.pricing import Availability, CapacityReservation
from shipyard.cloud.provider import CreateError, Instance, InsufficientCapacityError
from shipyard.cloud.simulated import LaunchLatency, SimulatedCloud
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import BadRequestError, InvalidError, NotFoundError

from .helpers import reqs, request, small_cloud

ZONE = "topology.kubernetes.io/zone"
CT = "karpenter.sh/capacity-type"
T_FAMILY = ("t3.medium", "t3.large", "t4g.medium", "t4g.large")


def cheapest(
    cloud: SimulatedCloud, names: tuple[str, ...], capacity_type: str, zones: tuple[str, ...]
) -> tuple[str, str, float]:
    """Brute force over the catalog: (type, zone, price) of the cheapest allowed offering."""
    offers = [
        (o.price, t.name, o.zone)
        for t in cloud.instance_types({})
        if t.name in names
        for o in t.offerings
        if o.capacity_type == capacity_type and o.zone in zones and o.available
    ]
    price, name, zone = min(offers)
    return name, zone, price


def launch(
    cloud: SimulatedCloud,
    names: tuple[str, ...] = T_FAMILY,
    *terms: tuple[str, str, list[str]],
    **kwargs: Any,
) -> Instance:
    types = [t for t in cloud.instance_types({}) if t.name in names]
    return cloud.create(request(types, reqs(*terms), **kwargs))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def cloud(clock: VirtualClock) -> SimulatedCloud:
    return small_cloud(clock)


# --- choosing --------------------------------------------------------------------------------


def test_create_takes_the_cheapest_spot_offering_when_both_are_allowed(
    cloud: SimulatedCloud,
) -> None:
    instance = launch(cloud)
    assert (instance.instance_type, instance.zone, instance.price) == cheapest(
        cloud, T_FAMILY, "spot", ("us-east-1a", "us-east-1b", "us-east-1c")
    )
    assert instance.capacity_type == "spot"


def test_create_takes_on_demand_when_only_on_demand_is_allowed(cloud: SimulatedCloud) -> None:
    instance = launch(cloud, T_FAMILY, (CT, "In", ["on-demand"]))
    assert (instance.instance_type, instance.capacity_type, instance.price) == (
        "t4g.medium",
        "on-demand",
        0.0336,
    )


def test_create_honours_the_zone_restriction(cloud: SimulatedCloud) -> None:
    instance = launch(cloud, T_FAMILY, (ZONE, "In", ["us-east-1c"]), (CT, "In", ["spot"]))
    assert instance.zone == "us-east-1c"
    assert (instance.instance_type, instance.zone, instance.price) == cheapest(
        cloud, T_FAMILY, "spot", ("us-east-1c",)
    )


def test_create_uses_a_reservation_first(clock: VirtualClock) -> None:
    availability = Availability(
        reservations=[CapacityReservation("cr-1", "t3.large", "us-east-1b", 1)]
    )
    cloud = small_cloud(clock, availability=availability)
    first = launch(cloud)
    assert (first.instance_type, first.zone, first.capacity_type) == (
        "t3.large",
        "us-east-1b",
        "reserved",
    )
    assert first.labels["karpenter.k8s.aws/capacity-reservation-id"] == "cr-1"
    second = launch(cloud)  # the reservation is used up, so the catalog no longer offers it
    assert second.capacity_type == "spot"
    assert "karpenter.k8s.aws/capacity-reservation-id" not in second.labels


def test_instance_facts_labels_and_tags(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    instance = launch(
        cloud,
        ("m5.large",),
        labels={"team": "a"},
        taints=[{"key": "k", "effect": "NoSchedule"}],
        tags={"env": "test"},
    )
    assert instance.provider_id == f"aws:///{instance.zone}/{instance.instance_id}"
    assert instance.instance_id.startswith("i-") and len(instance.instance_id) == 19
    assert instance.state == "pending" and instance.launch_time == clock.now()
    assert instance.allocatable["cpu"] == 1930 and instance.capacity["pods"] == 29
    assert instance.labels["team"] == "a"
    assert instance.labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert instance.labels[ZONE] == instance.zone
    assert instance.labels[CT] == "spot"
    assert instance.labels["topology.k8s.aws/zone-id"].startswith("use1-az")
    assert instance.taints == ({"key": "k", "effect": "NoSchedule"},)
    assert instance.tags == {
        "env": "test",
        "karpenter.sh/nodepool": "default",
        "karpenter.sh/nodeclaim": "default-abcde",
    }
    assert instance.image_id.startswith("ami-") and instance.subnet_id.startswith("subnet-")
    assert instance.arch == "amd64" and len(instance.security_group_ids) == 1


def test_instance_ids_are_deterministic_for_a_seed() -> None:
    ids = []
    for _ in range(2):
        cloud = small_cloud(VirtualClock(), seed=3)
        ids.append([launch(cloud).instance_id for _ in range(3)])
    assert ids[0] == ids[1] and len(set(ids[0])) == 3
    other = small_cloud(VirtualClock(), seed=4)
    assert launch(other).instance_id != ids[0][0]


def test_request_types_are_refreshed_from_the_catalog(cloud: SimulatedCloud) -> None:
    stale = [t for t in cloud.instance_types({}) if t.name == "m5.large"]
    for zone in ("us-east-1a", "us-east-1b"):
        cloud.unavailable.mark("m5.large", zone, "spot")
    instance = cloud.create(request(stale))  # the stale copy still says every zone is available
    assert instance.zone == "us-east-1c"


# --- insufficient capacity ---------------------------------------------------------------------


def test_exhausted_capacity_raises_ice_and_marks_offerings_for_three_minutes(
    clock: VirtualClock,
) -> None:
    availability = Availability(limits={("m5.large", None, "spot"): 0})
    cloud = small_cloud(clock, availability=availability)
    with pytest.raises(InsufficientCapacityError) as caught:
        launch(cloud, ("m5.large",))
    assert set(caught.value.offerings) == {
        ("m5.large", z, "spot") for z in ("us-east-1a", "us-east-1b", "us-east-1c")
    }
    assert all(
        cloud.unavailable.is_unavailable("m5.large", z, "spot")
        for z in ("us-east-1a", "us-east-1b", "us-east-1c")
    )
    # the retry plans around them and falls back to on-demand
    retry = launch(cloud, ("m5.large",))
    assert retry.capacity_type == "on-demand"
    clock.advance(180)
    assert not cloud.unavailable.is_unavailable("m5.large", "us-east-1a", "spot")


def test_a_partly_exhausted_capacity_type_launches_elsewhere_and_remembers(
    clock: VirtualClock,
) -> None:
    cloud = small_cloud(clock, ("m5.large",))
    by_price = sorted(
        (o.price, o.zone)
        for o in cloud.instance_types({})[0].offerings
        if o.capacity_type == "spot"
    )
    cheapest_zone = by_price[0][1]
    cloud.availability.set_capacity("m5.large", cheapest_zone, "spot", 1)
    first = launch(cloud, ("m5.large",))
    assert first.zone == cheapest_zone
    second = launch(cloud, ("m5.large",))
    assert second.zone == by_price[1][1]
    assert cloud.unavailable.is_unavailable("m5.large", cheapest_zone, "spot")


def test_capacity_is_released_when_an_instance_terminates(clock: VirtualClock) -> None:
    cloud = small_cloud(
        clock, ("m5.large",), availability=Availability(limits={("m5.large", None, None): 1})
    )
    instance = launch(cloud, ("m5.large",), (ZONE, "In", ["us-east-1a"]), (CT, "In", ["on-demand"]))
    with pytest.raises(InsufficientCapacityError):
        launch(cloud, ("m5.large",), (ZONE, "In", ["us-east-1a"]), (CT, "In", ["on-demand"]))
    cloud.delete(instance.provider_id)
    clock.advance(5)
    cloud.unavailable.delete("m5.large", "us-east-1a", "on-demand")
    assert (
        launch(cloud, ("m5.large",), (ZONE, "In", ["us-east-1a"]), (CT, "In", ["on-demand"])).zone
        == "us-east-1a"
    )


def test_no_allowed_offering_raises_ice(cloud: SimulatedCloud) -> None:
    with pytest.raises(InsufficientCapacityError, match="allow no zone with a subnet"):
        launch(cloud, ("m5.large",), (ZONE, "In", ["us-east-1d"]))
    with pytest.raises(
        InsufficientCapacityError, match=r"\[m5.large\] in zones .* and capacity types \[x\]"
    ):
        launch(cloud, ("m5.large",), (CT, "In", ["x"]))


# --- latency and lifecycle ---------------------------------------------------------------------


def test_launch_timeline_on_a_virtual_clock(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    start = clock.now()
    seen: list[tuple[str, float, str]] = []
    cloud.on_running(lambda i: seen.append(("running", clock.now() - start, i.state)))
    cloud.on_ready(lambda i: seen.append(("ready", clock.now() - start, i.state)))
    instance = launch(cloud)
    clock.advance(14.9)
    assert cloud.get(instance.provider_id).state == "pending" and seen == []
    clock.advance(0.1)
    assert cloud.get(instance.provider_id).state == "running"
    clock.advance(10)
    assert seen == [("running", 15.0, "running"), ("ready", 25.0, "running")]


def test_latency_is_configurable_with_seeded_jitter() -> None:
    def running_delays(seed: int) -> list[float]:
        clock = VirtualClock()
        cloud = small_cloud(clock, latency=LaunchLatency(running=30, jitter=0.2), seed=seed)
        start = clock.now()
        delays: list[float] = []
        cloud.on_running(lambda _instance: delays.append(clock.now() - start))
        for _ in range(4):
            launch(cloud)
        clock.run_until_idle()
        return delays

    first = running_delays(9)
    assert first == running_delays(9)
    assert first != running_delays(10)
    assert len(set(first)) == 4
    assert all(24 <= d <= 36 for d in first)


def test_delete_lifecycle(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    terminated: list[str] = []
    cloud.on_terminated(lambda i: terminated.append(i.instance_id))
    instance = launch(cloud)
    clock.advance(15)
    cloud.delete(instance.provider_id)
    assert cloud.get(instance.provider_id).state == "shutting-down"
    assert [i.instance_id for i in cloud.list()] == [instance.instance_id]
    cloud.delete(instance.provider_id)  # already shutting down: nothing more happens
    clock.advance(5)
    assert terminated == [instance.instance_id]
    assert cloud.list() == []
    with pytest.raises(NotFoundError):
        cloud.get(instance.provider_id)
    with pytest.raises(NotFoundError):
        cloud.delete(instance.provider_id)
    with pytest.raises(NotFoundError):
        cloud.get("aws:///us-east-1a/i-00000000000000000")
    assert cloud.interruptions() == []  # our own deletes send no state-change messages
    assert clock.pending() == 0


def test_deleting_a_pending_instance_never_runs_it(
    cloud: SimulatedCloud, clock: VirtualClock
) -> None:
    running: list[Instance] = []
    cloud.on_running(running.append)
    instance = launch(cloud)
    clock.advance(5)
    cloud.delete(instance.instance_id)
    clock.run_until_idle()
    assert running == [] and cloud.cost() == 0.0
    assert cloud.all_instances()[0].state == "terminated"


# --- cost ---------------------------------------------------------------------------------------


def test_cost_accrues_per_second_while_running(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    start = clock.now()
    a = launch(cloud, ("m5.large",), (CT, "In", ["on-demand"]))
    b = launch(cloud, ("t3.medium",), (CT, "In", ["on-demand"]))
    assert cloud.hourly_cost() == 0.0  # pending instances are not billed
    clock.advance(15)
    assert cloud.hourly_cost() == pytest.approx(0.096 + 0.0416)
    clock.advance(3600)
    assert cloud.cost(instance_id=a.instance_id) == 0.096  # exactly an hour at 0.096 $/h
    clock.advance(0.5)  # fractions of a second count too
    assert cloud.cost(instance_id=a.instance_id) == 0.096 * 3600.5 / 3600
    assert cloud.cost(instance_id=a.instance_id, now=start + 15 + 3600) == 0.096
    assert cloud.cost() == pytest.approx((0.096 + 0.0416) * 3600.5 / 3600)
    cloud.delete(b.provider_id)
    clock.advance(1799.5)
    assert cloud.cost(instance_id=b.provider_id) == 0.0416 * 3600.5 / 3600  # billing stopped
    assert cloud.cost() == pytest.approx(0.096 * 1.5 + 0.0416 * 3600.5 / 3600)
    assert cloud.cost(now=start + 15 + 1800) == pytest.approx((0.096 + 0.0416) / 2)
    assert cloud.cost_by_instance() == {
        a.instance_id: 0.096 * 5400 / 3600,
        b.instance_id: 0.0416 * 3600.5 / 3600,
    }
    assert cloud.hourly_cost() == pytest.approx(0.096)


def test_a_short_life_is_billed_the_minimum_minute(
    cloud: SimulatedCloud, clock: VirtualClock
) -> None:
    instance = launch(cloud, ("m5.large",), (CT, "In", ["on-demand"]))
    clock.advance(15 + 10)
    assert cloud.cost() == pytest.approx(0.096 * 10 / 3600)
    cloud.delete(instance.provider_id)
    clock.advance(100)
    assert cloud.cost() == pytest.approx(0.096 * 60 / 3600)


# --- interruptions ------------------------------------------------------------------------------


def test_spot_interruption_warning_then_reclaim(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    instance = launch(cloud)
    clock.advance(15)
    at = clock.now() + 100
    cloud.interrupt_spot(instance.instance_id, at=at)
    clock.advance(99)
    assert cloud.interruptions() == []
    clock.advance(1)
    [warning] = cloud.interruptions()
    assert (warning.kind, warning.instance_id, warning.provider_id) == (
        "spot-interruption",
        instance.instance_id,
        instance.provider_id,
    )
    assert (warning.time, warning.deadline) == (at, at + 120)
    assert cloud.interruptions() == []  # delivered once
    clock.advance(119)
    assert cloud.get(instance.provider_id).state == "running"
    clock.advance(1)
    assert cloud.get(instance.provider_id).state == "shutting-down"
    clock.advance(5)
    messages = cloud.interruptions()
    assert [(m.kind, m.state, m.time) for m in messages] == [
        ("state-change", "shutting-down", at + 120),
        ("state-change", "terminated", at + 125),
    ]
    assert cloud.list() == []
    assert cloud.cost(instance_id=instance.instance_id) == pytest.approx(
        instance.price * 220 / 3600
    )


def test_only_spot_instances_get_spot_interruptions(cloud: SimulatedCloud) -> None:
    instance = launch(cloud, T_FAMILY, (CT, "In", ["on-demand"]))
    with pytest.raises(BadRequestError, match="only spot instances"):
        cloud.interrupt_spot(instance.instance_id)


def test_rebalance_scheduled_change_and_external_stop_and_terminate(
    cloud: SimulatedCloud, clock: VirtualClock
) -> None:
    a, b, c = launch(cloud), launch(cloud), launch(cloud)
    clock.advance(15)
    cloud.rebalance(a.instance_id)
    cloud.scheduled_change(a.instance_id, deadline=clock.now() + 86400)
    cloud.stop_externally(b.provider_id)
    cloud.terminate_externally(c.instance_id, at=clock.now() + 10)
    clock.advance(10)
    kinds = [(m.kind, m.instance_id, m.state) for m in cloud.interruptions()]
    assert kinds == [
        ("rebalance", a.instance_id, ""),
        ("scheduled-change", a.instance_id, ""),
        ("state-change", b.instance_id, "stopping"),
        ("state-change", b.instance_id, "stopped"),
        ("state-change", c.instance_id, "shutting-down"),
    ]
    assert cloud.get(a.provider_id).state == "running"
    assert cloud.get(b.provider_id).state == "stopped"
    assert {i.instance_id for i in cloud.list()} == {a.instance_id, b.instance_id, c.instance_id}
    clock.advance(5)
    assert [(m.kind, m.state) for m in cloud.interruptions()] == [("state-change", "terminated")]
    assert cloud.hourly_cost() == pytest.approx(a.price)


def test_random_spot_interruptions_are_seeded() -> None:
    def run(seed: int) -> list[tuple[str, float]]:
        clock = VirtualClock()
        cloud = small_cloud(clock, seed=seed, spot_interruption_rate=1.0)  # one per instance-hour
        for _ in range(5):
            launch(cloud)
        clock.advance(6 * 3600)
        return [
            (m.instance_id, m.time) for m in cloud.interruptions() if m.kind == "spot-interruption"
        ]

    first = run(1)
    assert first == run(1)
    assert first != run(2)
    assert 1 <= len(first) <= 5


# --- node classes, AMIs, drift ----------------------------------------------------------------


def node_class(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": spec,
    }


def test_ami_drift_after_a_new_release(cloud: SimulatedCloud, clock: VirtualClock) -> None:
    nc = node_class(amiSelectorTerms=[{"alias": "al2023@latest"}])
    instance = launch(cloud, T_FAMILY, node_class=nc)
    assert cloud.is_drifted(instance, nc) == ""
    cloud.account.publish_ami("bottlerocket", "ami-0bottlerocketnew")  # another family
    assert cloud.is_drifted(instance, nc) == ""
    cloud.account.publish_ami("al2023", "ami-0al2023new")
    assert cloud.is_drifted(instance, nc) == "AMIDrift"
    replacement = launch(cloud, T_FAMILY, node_class=nc)
    assert replacement.image_id == "ami-0al2023new"
    pinned = node_class(amiSelectorTerms=[{"alias": "al2023@v20260101"}])
    assert cloud.is_drifted(instance, pinned) == ""
    assert cloud.is_drifted(replacement, pinned) == "AMIDrift"


def test_arm64_and_amd64_get_their_own_images(cloud: SimulatedCloud) -> None:
    nc = node_class(amiSelectorTerms=[{"alias": "al2023@latest"}])
    arm = launch(cloud, ("t4g.medium",), node_class=nc)
    amd = launch(cloud, ("t3.medium",), node_class=nc)
    assert arm.arch == "arm64" and amd.arch == "amd64" and arm.image_id != amd.image_id
    cloud.account.publish_ami("al2023", "ami-0newarm", arch="arm64")
    assert cloud.is_drifted(arm, nc) == "AMIDrift"
    assert cloud.is_drifted(amd, nc) == ""


def test_an_image_for_one_architecture_limits_the_launch(cloud: SimulatedCloud) -> None:
    cloud.account.register_image("ami-0armonly", arch="arm64", tags={"team": "ml"})
    nc = node_class(amiFamily="AL2023", amiSelectorTerms=[{"tags": {"team": "ml"}}])
    instance = launch(cloud, T_FAMILY, node_class=nc)
    assert instance.arch == "arm64" and instance.image_id == "ami-0armonly"
    with pytest.raises(InsufficientCapacityError):
        launch(cloud, ("t3.medium",), node_class=nc)


def test_subnet_and_security_group_drift(cloud: SimulatedCloud) -> None:
    subnet = cloud.account.add_subnet("us-east-1b", "subnet-0private", tags={"tier": "private"})
    group = cloud.account.add_security_group("nodes", "sg-0nodes", tags={"role": "node"})
    nc = node_class(
        subnetSelectorTerms=[{"tags": {"tier": "private"}}],
        securityGroupSelectorTerms=[{"tags": {"role": "node"}}],
    )
    instance = launch(cloud, T_FAMILY, node_class=nc)
    assert (instance.zone, instance.subnet_id, instance.security_group_ids) == (
        "us-east-1b",
        subnet.id,
        (group.id,),
    )
    assert cloud.is_drifted(instance, nc) == ""
    moved = node_class(
        subnetSelectorTerms=[{"id": "subnet-0other"}],
        securityGroupSelectorTerms=[{"tags": {"role": "node"}}],
    )
    assert cloud.is_drifted(instance, moved) == "SubnetDrift"
    more_groups = node_class(
        subnetSelectorTerms=[{"tags": {"tier": "private"}}],
        securityGroupSelectorTerms=[{"tags": {"role": "node"}}, {"name": "default"}],
    )
    assert cloud.is_drifted(instance, more_groups) == "SecurityGroupDrift"


def test_subnets_restrict_the_offered_zones(cloud: SimulatedCloud) -> None:
    cloud.account.add_subnet("us-east-1c", "subnet-0c", tags={"only": "c"})
    nc = node_class(subnetSelectorTerms=[{"tags": {"only": "c"}}])
    types = cloud.instance_types({}, nc)
    assert {o.zone for t in types for o in t.offerings} == {"us-east-1c"}
    assert launch(cloud, T_FAMILY, node_class=nc).zone == "us-east-1c"


def test_unknown_tags_fall_back_to_the_default_account_resources(cloud: SimulatedCloud) -> None:
    nc = node_class(
        amiSelectorTerms=[{"alias": "al2023@latest"}],
        subnetSelectorTerms=[{"tags": {"karpenter.sh/discovery": "my-cluster"}}],
        securityGroupSelectorTerms=[{"tags": {"karpenter.sh/discovery": "my-cluster"}}],
    )
    assert {o.zone for t in cloud.instance_types({}, nc) for o in t.offerings} == {
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    }
    instance = launch(cloud, T_FAMILY, node_class=nc)
    assert cloud.is_drifted(instance, nc) == ""


def test_bad_selector_terms_are_invalid_with_field_paths(cloud: SimulatedCloud) -> None:
    nc = node_class(
        amiSelectorTerms=[{"alias": "ubuntu@latest"}, {"alias": "windows2022@v1"}],
        subnetSelectorTerms=[{"id": "subnet-1", "tags": {"a": "b"}}],
        securityGroupSelectorTerms=[{}],
    )
    with pytest.raises(InvalidError) as caught:
        cloud.instance_types({}, nc)
    assert [c.path for c in caught.value.causes] == [
        "spec.amiSelectorTerms[0].alias",
        "spec.amiSelectorTerms[1].alias",
        "spec.subnetSelectorTerms[0]",
        "spec.securityGroupSelectorTerms[0]",
    ]


def test_a_node_class_without_subnets_in_the_region_cannot_launch(clock: VirtualClock) -> None:
    nc = node_class(subnetSelectorTerms=[{"id": "subnet-0abc"}])
    cloud = small_cloud(clock)
    assert len(cloud.account.resolve(nc).zones) == 1  # an unknown id is adopted into one zone
    elsewhere = SimulatedAccount("us-east-1", ["us-east-1d"])
    misplaced = small_cloud(clock, account=elsewhere)
    with pytest.raises(CreateError, match="selects no subnet in zones us-east-1a"):
        launch(misplaced, T_FAMILY, node_class=nc)
    assert misplaced.instance_types({}, nc) == []


def test_node_class_sizing_reaches_the_launched_instance(cloud: SimulatedCloud) -> None:
    nc = node_class(
        kubelet={"maxPods": 110},
        blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi"}}],
    )
    sized = {t.name: t for t in cloud.instance_types({}, nc)}["m5.large"]
    instance = launch(cloud, ("m5.large",), node_class=nc)
    assert instance.capacity["pods"] == 110 == sized.capacity["pods"]
    assert instance.capacity["ephemeral-storage"] == 100 * 1024**3
    assert instance.allocatable == sized.allocatable
