"""A node group as an Auto Scaling group, on a FakeCloud and a virtual clock: launches after
the ASG reaction, zones balanced, capacity errors, replacement of lost instances, termination
that lowers the desired capacity, and the checks on the groups' instance types and zones."""

from __future__ import annotations

import pytest

from shipyard.autoscaler.baseline import (
    ASG_TAG,
    GROUP_LABEL,
    AutoScalingGroup,
    LaunchModel,
    NodeGroup,
    resolve_groups,
)
from shipyard.cloud.catalog import Catalog
from shipyard.cloud.fake import FakeCloud
from shipyard.cloud.specs import spec_by_name
from shipyard.cloud.unavailable import UnavailableOfferings
from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError

FIXED = LaunchModel(jitter=0)


def setup(
    *groups: NodeGroup, model: LaunchModel = FIXED
) -> tuple[VirtualClock, FakeCloud, dict[str, AutoScalingGroup]]:
    clock = VirtualClock()
    catalog = Catalog(
        [spec_by_name(n) for n in ("t3.xlarge", "m5.large")],
        unavailable=UnavailableOfferings(clock),
    )
    cloud = FakeCloud(catalog, clock)
    return clock, cloud, resolve_groups(groups, cloud, clock, model=model)


def zones_of(group: AutoScalingGroup) -> list[str]:
    return sorted(i.zone for i in group.instances.values())


def test_the_group_launches_its_minimum_after_the_asg_reaction_one_per_zone() -> None:
    clock, cloud, groups = setup(NodeGroup("general", "t3.xlarge", min_size=3, max_size=5))
    asg = groups["general"]
    asg.converge()
    assert (asg.desired, asg.waiting, cloud.calls_of("create")) == (3, 3, [])
    clock.advance(29.9)
    assert asg.instances == {}
    clock.advance(0.1)
    assert zones_of(asg) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    request = cloud.calls_of("create")[0].args["request"]
    assert [t.name for t in request.instance_types] == ["t3.xlarge"]
    assert request.labels[GROUP_LABEL] == "general"
    assert request.tags == {ASG_TAG: "general"}
    assert {i.capacity_type for i in asg.instances.values()} == {"on-demand"}


def test_a_zone_out_of_capacity_sends_the_launch_to_the_next_zone() -> None:
    clock, cloud, groups = setup(
        NodeGroup("general", "t3.xlarge", max_size=5, zones=("us-east-1a", "us-east-1b"))
    )
    cloud.insufficient_capacity("t3.xlarge", "us-east-1a")
    asg = groups["general"]
    asg.desired = 2
    asg.converge()
    clock.advance(30)
    assert zones_of(asg) == ["us-east-1b", "us-east-1b"]


def test_a_launch_failing_everywhere_gives_the_capacity_up_and_backs_off() -> None:
    clock, cloud, groups = setup(NodeGroup("spot", "m5.large", max_size=5, capacity_type="spot"))
    cloud.insufficient_capacity("m5.large")
    asg = groups["spot"]
    asg.desired = 1
    asg.converge()
    clock.advance(30)
    assert (asg.desired, asg.instances) == (0, {})
    assert asg.in_backoff()
    [failure] = asg.failures
    assert failure.group == "spot" and "us-east-1a" in failure.message
    clock.advance(300)
    assert not asg.in_backoff()


def test_an_instance_lost_outside_the_autoscaler_is_replaced() -> None:
    clock, cloud, groups = setup(NodeGroup("general", "t3.xlarge", min_size=2, max_size=2))
    asg = groups["general"]
    asg.converge()
    clock.advance(30)
    lost = next(iter(asg.instances))
    cloud.delete(lost)  # terminated from the console
    alive = {i.provider_id for i in cloud.list()}
    assert [i.provider_id for i in asg.refresh(alive)] == [lost]
    asg.converge()
    clock.advance(30)
    assert len(asg.instances) == 2 and lost not in asg.instances


def test_terminating_an_instance_lowers_the_desired_capacity() -> None:
    clock, cloud, groups = setup(NodeGroup("general", "t3.xlarge", max_size=4))
    asg = groups["general"]
    asg.desired = 2
    asg.converge()
    clock.advance(30)
    victim = sorted(asg.instances)[0]
    asg.terminate(victim)
    asg.converge()
    clock.advance(60)
    assert asg.desired == 1 and list(asg.instances) != [victim] and len(asg.instances) == 1
    assert [c.args["provider_id"] for c in cloud.calls_of("delete")] == [victim]


def test_lowering_the_desired_capacity_cancels_launches_still_waiting() -> None:
    clock, _cloud, groups = setup(NodeGroup("general", "t3.xlarge", max_size=4))
    asg = groups["general"]
    asg.desired = 3
    asg.converge()
    asg.desired = 1
    asg.converge()
    clock.advance(60)
    assert len(asg.instances) == 1


def test_unknown_types_and_zones_without_offerings_are_named() -> None:
    with pytest.raises(InvalidError) as e:
        setup(
            NodeGroup("a", "t3.xlarge", zones=("eu-west-1a",)),
            NodeGroup("b", "z9.huge"),
        )
    assert [c.path for c in e.value.causes] == ["nodeGroups[0].zones", "nodeGroups[1].instanceType"]
    assert 'unknown instance type "z9.huge"' in e.value.message
