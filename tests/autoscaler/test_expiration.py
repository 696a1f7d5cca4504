"""Expiration: a NodeClaim older than ``expireAfter`` is deleted at once, budgets or not; its
pods come back on a new node the provisioner launches. Also holds ``disruption_world``, the
builder the drift, interruption and invariant tests share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from shipyard.autoscaler.disruption.candidates import ConsolidationMarker
from shipyard.autoscaler.disruption.controller import DisruptionController, standard_methods
from shipyard.autoscaler.disruption.drift import Drift, DriftController, NodePoolHashController
from shipyard.autoscaler.disruption.expiration import (
    DISRUPTION_REASON,
    NodeClaimExpiration,
    expires_at,
)
from shipyard.autoscaler.disruption.types import DisruptionMethod, Rescheduler
from shipyard.autoscaler.interruption import InterruptionController
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cluster.podutil import condition
from shipyard.core.clock import VirtualClock, format_time, parse_time
from shipyard.core.objects import Obj
from shipyard.platform.autoscaling import AutoscaledCluster, AutoscalerOptions
from shipyard.platform.wiring import memory_cluster
from shipyard.sim.invariants import InvariantChecker, run_checked
from tests.autoscaler.test_lifecycle_helpers import make_nodeclass
from tests.cluster.fixtures import merge
from tests.platform.test_autoscaling_helpers import World, catalog, nodepool, web

MANUAL = AutoscalerOptions(disruption=False)


class DisruptionWorld(World):
    """A :class:`World` with the expiration, drift and interruption controllers wired in (and
    optionally the disruption controller with the drift method), whose ``run`` checks every
    invariant of :mod:`shipyard.sim.invariants` after each step."""

    expiration: NodeClaimExpiration
    drift: DriftController
    interruption: InterruptionController
    disruption: DisruptionController | None
    checker: InvariantChecker

    def run(self, seconds: float) -> None:
        run_checked(self.auto, self.checker, seconds, step=STEP)

    @property
    def cloud(self) -> SimulatedCloud:
        cloud = self.auto.cloud
        assert isinstance(cloud, SimulatedCloud)
        return cloud

    def running_pods(self, namespace: str = "default") -> list[Obj]:
        return [
            p
            for p in self.pods(namespace)
            if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
        ]

    def instance_id(self, claim: Obj) -> str:
        return str(claim["status"]["providerID"]).rsplit("/", 1)[-1]


STEP = 2.0  # seconds between invariant checks


def disruption_world(
    *,
    pool: Obj | None = None,
    extra: Sequence[Obj] = (),
    drift_poll: float = 60.0,
    disruption: bool = False,
    drift_method: Callable[[Rescheduler], DisruptionMethod] = Drift,
) -> DisruptionWorld:
    """A started autoscaled cluster (SimulatedCloud over the four burstable types) with the
    node class, ``pool`` (the acceptance NodePool by default), ``extra`` objects, and the
    expiration, drift (polling the cloud every ``drift_poll`` s) and interruption controllers;
    with ``disruption``, also the consolidation marker and the disruption controller running
    Karpenter's methods with ``drift_method`` (:class:`Drift`) plugged in."""
    clock = VirtualClock()
    types = catalog(clock)
    cloud = SimulatedCloud(clock, catalog=types)
    # these tests add the disruption controllers themselves, with their own settings
    auto = AutoscaledCluster(
        memory_cluster(clock), cloud=cloud, unavailable=types.unavailable, options=MANUAL
    )
    client = auto.client
    w = DisruptionWorld(clock, auto, clock.now())
    w.expiration = NodeClaimExpiration(client)
    w.drift = DriftController(client, cloud, poll=drift_poll)
    w.interruption = InterruptionController(client, cloud, unavailable=types.unavailable)
    w.checker = InvariantChecker(client, cloud)
    controllers: list[Any] = [w.expiration, NodePoolHashController(client), w.drift, w.interruption]
    w.disruption = None
    if disruption:
        w.disruption = DisruptionController(
            client,
            cloud,
            provisioner=auto.provisioner,
            methods=lambda r: standard_methods(r, drift=drift_method(r)),
        )
        controllers += [ConsolidationMarker(client), w.disruption]
    for controller in controllers:
        auto.cluster.manager.add(controller)
    client.create(make_nodeclass())
    client.create(pool or nodepool())
    for obj in extra:
        client.create(obj)
    auto.start()
    return w


def expiring_pool(expire_after: str, **overrides: Any) -> Obj:
    return merge(nodepool(spec={"template": {"spec": {"expireAfter": expire_after}}}), overrides)


# --- the arithmetic ----------------------------------------------------------------------------


def claim_at(created: float, expire_after: str) -> Obj:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "c", "creationTimestamp": format_time(created)},
        "spec": {
            "requirements": [],
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "d"},
            "expireAfter": expire_after,
        },
    }


@pytest.mark.parametrize(
    ("expire_after", "expected"),
    [("1h", 1000.0 + 3600), ("30m", 1000.0 + 1800), ("720h", 1000.0 + 720 * 3600), ("Never", None)],
)
def test_expires_at_is_creation_plus_expire_after(
    expire_after: str, expected: float | None
) -> None:
    assert expires_at(claim_at(1000.0, expire_after)) == expected


def test_a_claim_not_created_yet_has_no_expiry() -> None:
    claim = claim_at(0.0, "1h")
    del claim["metadata"]["creationTimestamp"]
    assert expires_at(claim) is None


# --- in the cluster ------------------------------------------------------------------------------


def test_an_expired_claim_is_deleted_and_its_pods_run_on_a_replacement() -> None:
    w = disruption_world(pool=expiring_pool("10m"), extra=[web(replicas=2)])
    w.run(60)
    [first] = w.claims()
    assert len(w.running_pods()) == 2
    created = parse_time(first["metadata"]["creationTimestamp"])
    w.run_until(created - w.start + 599)
    assert [c["metadata"]["name"] for c in w.live_claims()] == [first["metadata"]["name"]]
    w.run(1)  # exactly expireAfter after creation
    gone = w.client.get("karpenter.sh/v1", "NodeClaim", first["metadata"]["name"])
    assert gone["metadata"].get("deletionTimestamp")
    reason = condition(gone, DISRUPTION_REASON) or {}
    assert (reason.get("status"), reason.get("reason")) == ("True", "Expired")
    [message] = w.messages("Expired", kind="NodeClaim")
    assert message == f"NodeClaim {first['metadata']['name']} expired after 10m (expireAfter)"
    assert w.expiration.expired == [first["metadata"]["name"]]
    w.run(120)
    [replacement] = w.live_claims()
    assert replacement["metadata"]["name"] != first["metadata"]["name"]
    names = {c["metadata"]["name"] for c in w.claims()}
    assert first["metadata"]["name"] not in names  # terminated and released
    assert len(w.running_pods()) == 2
    nodes = {p["spec"]["nodeName"] for p in w.running_pods()}
    assert nodes == {replacement["status"]["nodeName"]}


def test_expiration_ignores_disruption_budgets() -> None:
    pool = expiring_pool(
        "5m", spec={"disruption": {"consolidateAfter": "Never", "budgets": [{"nodes": "0"}]}}
    )
    w = disruption_world(pool=pool, extra=[web(replicas=1)])
    w.run(60)
    [first] = w.claims()
    w.run(300)
    assert w.expiration.expired == [first["metadata"]["name"]]


def test_never_does_not_expire() -> None:
    w = disruption_world(pool=expiring_pool("Never"), extra=[web(replicas=1)])
    w.run(3 * 3600)
    [claim] = w.claims()
    assert not claim["metadata"].get("deletionTimestamp")
    assert w.expiration.expired == []
