"""The disruption pass's read of the cluster: NodePools kept from one read to the next."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.autoscaler.disruption.informer import ClusterReader
from shipyard.autoscaler.disruption.state import (
    KARPENTER,
    ClusterState,
    PoolCache,
    PoolInfo,
    read_state,
)
from shipyard.autoscaler.provisioning import ExistingNode
from shipyard.autoscaler.provisioning.capacity import existing_capacity
from shipyard.core.objects import Obj
from tests.autoscaler.test_disruption_helpers import DWorld, dworld, pdb
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


def pod_with_spread(spread: Obj) -> Obj:
    """A bare pod (no controller) with one topology spread constraint."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "spread-1", "namespace": "default", "labels": {"app": "spread"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "app:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
            "topologySpreadConstraints": [{**spread, "whenUnsatisfiable": "ScheduleAnyway"}],
        },
    }


def same_read(kept: ClusterState, fresh: ClusterState) -> None:
    """The reader's state holds the very objects a fresh read finds, in the same order."""

    def ids(objs: Sequence[Obj]) -> list[int]:
        return [id(o) for o in objs]

    a, b = kept.snapshot, fresh.snapshot
    assert ids(a.pods) == ids(b.pods)
    assert list(a.nodes) == list(b.nodes) and ids(list(a.nodes.values())) == ids(
        list(b.nodes.values())
    )
    assert list(a.claims) == list(b.claims) and ids(list(a.claims.values())) == ids(
        list(b.claims.values())
    )
    assert ids(a.pools) == ids(b.pools) and ids(a.daemonsets) == ids(b.daemonsets)
    assert a.namespaces == b.namespaces
    assert sorted(a.bound) == sorted(b.bound)
    assert all(ids(a.bound[n]) == ids(b.bound[n]) for n in b.bound)
    assert {k: id(v) for k, v in a.by_provider_id.items()} == {
        k: id(v) for k, v in b.by_provider_id.items()
    }
    assert ids(kept.pdbs) == ids(fresh.pdbs)
    assert kept.claim_by_node == fresh.claim_by_node
    assert {k: id(v) for k, v in kept.node_by_claim.items()} == {
        k: id(v) for k, v in fresh.node_by_claim.items()
    }
    assert kept.pools.keys() == fresh.pools.keys()
    assert kept.pool_counts() == fresh.pool_counts()
    assert kept.topology is not None and fresh.topology is None  # kept count / looked at pods
    assert kept.any_topology() == fresh.any_topology()


def test_the_reader_follows_pods_nodes_and_claims_as_they_come_change_and_go() -> None:
    w = dworld(extra=[pdb("web", "web", max_unavailable=1)])
    reader = ClusterReader(w.client, w.auto.cloud)
    checks = 0

    def check() -> None:
        nonlocal checks
        same_read(reader.read(w.clock.now()), read(w, None))
        checks += 1

    check()  # empty: the pool and the node class only
    w.create(web(6))
    for _ in range(4):  # pods pending, claims launching, nodes registering, pods binding
        w.run(30)
        check()
    assert any(read(w, None).snapshot.bound.values())
    w.scale("web", 14)
    w.run(90)
    check()
    w.scale("web", 1)  # pods terminate; consolidation deletes nodes
    for _ in range(6):
        w.run(120)
        check()
    assert not reader.read(w.clock.now()).any_topology()
    spread = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone"}
    spread["labelSelector"] = {"matchLabels": {"app": "spread"}}
    w.create(spread_pod := pod_with_spread(spread))
    w.run(30)
    check()
    assert reader.read(w.clock.now()).any_topology()  # one pod with topology rules
    w.client.delete("v1", "Pod", spread_pod["metadata"]["name"], namespace="default")
    w.run(60)
    check()
    assert not reader.read(w.clock.now()).any_topology()  # gone again
    reader.close()
    w.scale("web", 3)
    w.run(60)
    assert reader.read(w.clock.now()).snapshot.pods != read(w, None).snapshot.pods  # deaf
    assert checks == 14


def test_capacity_read_again_from_unchanged_nodes_and_pods_is_the_same_and_follows_changes() -> (
    None
):
    w = dworld()
    reader = ClusterReader(w.client, w.auto.cloud)
    w.create(web(4))
    w.run(150)

    def capacity() -> dict[str, ExistingNode]:
        state = reader.read(w.clock.now())
        types = {name: info.types for name, info in state.pools.items()}
        found, _ = existing_capacity(state.snapshot, {}, types)
        fresh, _ = existing_capacity(read(w, None).snapshot, {}, types)
        assert found == fresh  # the same capacity as read afresh
        return {n.name: n for n in found}

    first = capacity()
    assert first and all(n.pods for n in first.values())
    again = capacity()
    assert all(again[name] is first[name] for name in first)  # nothing changed: kept
    w.scale("web", 1)
    w.run(60)
    later = capacity()
    changed = [name for name in first if name in later and later[name] is not first[name]]
    assert changed and all(later[n].requested["pods"] < first[n].requested["pods"] for n in changed)
