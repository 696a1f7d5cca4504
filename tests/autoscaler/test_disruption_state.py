"""The disruption pass's read of the cluster: NodePools kept from one read to the next."""

from __future__ import annotations

from shipyard.autoscaler.disruption.state import (
    KARPENTER,
    ClusterState,
    PoolCache,
    PoolInfo,
    read_state,
)
from tests.autoscaler.test_disruption_helpers import DWorld, dworld
from tests.platform.test_autoscaling_helpers import ALLOWED, web


def read(w: DWorld, cache: PoolCache | None) -> ClusterState:
    return read_state(w.client, w.auto.cloud, w.clock.now(), pools=cache)


def info(w: DWorld, cache: PoolCache) -> PoolInfo:
    """The kept info, checked against a read without the cache."""
    kept = read(w, cache).pools["default"]
    fresh = read(w, None).pools["default"]
    assert kept.view == fresh.view and kept.obj is fresh.obj
    assert kept.types == fresh.types and kept.template == fresh.template
    return kept


def test_a_pools_info_is_kept_while_the_pool_and_its_offerings_stay_the_same() -> None:
    w = dworld()
    cache = PoolCache()
    first = info(w, cache)
    assert info(w, cache) is first

    w.auto.unavailable.mark(ALLOWED[0], "us-east-1b", "on-demand", reason="test")
    marked = info(w, cache)
    assert marked is not first
    assert info(w, cache) is marked


def test_a_changed_pool_or_used_limits_give_a_new_info() -> None:
    w = dworld()
    cache = PoolCache()
    first = info(w, cache)

    pool = w.client.get(KARPENTER, "NodePool", "default")
    pool["spec"]["limits"] = {"cpu": "100"}
    w.client.update(pool)
    limited = info(w, cache)
    assert limited is not first
    assert limited.template.remaining_limits == {"cpu": 100_000}

    w.create(web(2))
    w.run(120)  # a NodeClaim launches: less remains
    used = info(w, cache)
    assert used is not limited
    remaining = used.template.remaining_limits
    assert remaining is not None and remaining["cpu"] < 100_000

    claim = w.live_claims()[0]  # one more claim, nothing else changed (the clock stands)
    claim["metadata"] = {"name": "default-extra", "labels": claim["metadata"]["labels"]}
    w.create(claim)
    more = info(w, cache)
    assert more is not used
    assert more.template.remaining_limits == {"cpu": 2 * remaining["cpu"] - 100_000}
