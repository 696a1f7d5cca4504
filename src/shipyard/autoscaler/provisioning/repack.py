"""Cost improvement after packing: re-plan a pool's freely movable pods when that is cheaper.

Karpenter's packing puts each pod on the first claim that can still grow to hold it, so a
claim may end on a large instance type when several small ones would cost less: two 1.5-vCPU
pods share a 4-vCPU node although two 2-vCPU nodes cost half as much. After the batch is
planned, the claims of each pool whose pods no topology rule involves (no spread, no pod
(anti-)affinity, not selected by anyone's) are dissolved and packed again:

- **at most** :data:`EXACT_PODS` **pods**: exactly — dynamic programming over the subsets
  finds the cheapest partition into claims, where a block costs the cheapest offering of one
  claim holding it (the same late-binding rules: requirements, DaemonSet overhead, offerings).
  Small batches are the common case in a running cluster (a few pods pending at a time).
- **more pods** (up to :data:`MAX_PODS`): heuristics, keeping the cheapest of

  1. *first fit with a price cap* — new claims may only use the pool's instance types up to
     a price (each distinct price when the pool has few types, a geometric sample
     otherwise), a pod that fits none of them getting the smallest cap it fits;
  2. *cheapest insertion* — each pod joins the claim whose price rises least, or a new
     claim when that is cheaper (ties join);

  each with pods in Karpenter's order (cpu, then memory, descending) and in the order of
  what a node of their own would cost; then, up to :data:`MAX_SEARCH_PODS` pods, a local
  search moves one pod to another claim, or swaps two, while the total price drops.

The result replaces the original claims only when strictly cheaper, so the plan never gets
more expensive, and no choice is random, so it stays deterministic.

Left alone: pools with limits (another set of claims would be charged differently against
them), claims holding a pod any topology rule involves, and pools with more than
:data:`MAX_PODS` movable pods (large batches pack into large nodes, where the rounding this
pass recovers is a small share of the cost).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .planner import OK, Claim, Planner, Pool
from .podspec import PodState

__all__ = ["EXACT_PODS", "MAX_CAPS", "MAX_PODS", "MAX_SEARCH_PODS", "improve"]

EXACT_PODS = 8
MAX_PODS = 256
MAX_SEARCH_PODS = 64
MAX_CAPS = 12
_EPS = 1e-9


def improve(planner: Planner, pools: list[Pool]) -> None:
    """Replace each pool's movable claims by a cheaper packing when one is found."""
    for pool in pools:
        if pool.remaining is not None:
            continue
        claims = [c for c in planner.claims if c.pool is pool and c.pods]
        movable = [c for c in claims if all(p.is_free() for p in c.pods)]
        pods = sorted((p for c in movable for p in c.pods), key=_order)
        if not movable or len(pods) > MAX_PODS:
            continue
        current = _cost(planner, movable)
        if len(pods) <= EXACT_PODS:
            exact = _optimal(planner, pool, pods)
            if exact is not None and _cost(planner, exact) < current - _EPS:
                _replace(planner, movable, exact)
            continue
        best, best_cost = None, current
        for plan in _plans(planner, pool, pods):
            cost = _cost(planner, plan)
            if cost < best_cost - _EPS:
                best, best_cost = plan, cost
        start = best if best is not None else _rebuild_all(planner, pool, movable)
        if start is not None and len(pods) <= MAX_SEARCH_PODS:
            polished = _move_pods(planner, pool, start)
            if _cost(planner, polished) < best_cost - _EPS:
                best = polished
        if best is not None:
            _replace(planner, movable, best)


def _order(pod: PodState) -> tuple[int, int, int]:
    return (-pod.cpu, -pod.memory, pod.index)


def _cost(planner: Planner, claims: list[Claim]) -> float:
    return sum(planner.price(c) for c in claims)


def _plans(planner: Planner, pool: Pool, pods: list[PodState]) -> Iterator[list[Claim]]:
    for order in (pods, _by_standalone_price(planner, pool, pods)):
        for cap in _caps(pool):
            plan = _first_fit(planner, pool, order, cap)
            if plan is not None:
                yield plan
        plan = _cheapest_insertion(planner, pool, order)
        if plan is not None:
            yield plan


def _by_standalone_price(planner: Planner, pool: Pool, pods: list[PodState]) -> list[PodState]:
    """Pods whose own node would cost most first: they decide which big nodes are worth it."""
    alone: dict[int, float] = {}
    for pod in pods:
        price = _probe_price(planner, planner.fresh_claim(pool, pool.catalog.full), pod)
        alone[pod.index] = price if price is not None else float("inf")
    return sorted(pods, key=lambda p: (-alone[p.index], *_order(p)))


def _caps(pool: Pool) -> list[int]:
    """Masks of the k cheapest types (types are sorted by price) for a spread of k."""
    n = len(pool.catalog.types)
    if n <= MAX_CAPS:
        sizes = list(range(1, n))
    else:
        ratio = n ** (1 / MAX_CAPS)
        sizes = sorted({min(n - 1, max(1, round(ratio**i))) for i in range(1, MAX_CAPS)})
    return [(1 << k) - 1 for k in sizes]


def _place_new(planner: Planner, pool: Pool, pod: PodState, cap: int) -> Claim | None:
    """A new claim for the pod, capped at the smallest price cap (at least ``cap``) it fits."""
    for candidate in (cap, *(c for c in _caps(pool) if c > cap), pool.catalog.full):
        claim = planner.fresh_claim(pool, pool.catalog.full, cap=candidate)
        if planner.try_claim(claim, pod) == OK:
            return claim
    return None


def _first_fit(planner: Planner, pool: Pool, pods: list[PodState], cap: int) -> list[Claim] | None:
    plan: list[Claim] = []
    for pod in pods:
        if any(planner.try_claim(c, pod) == OK for c in plan):
            continue
        claim = _place_new(planner, pool, pod, cap)
        if claim is None:
            return None
        plan.append(claim)
    return plan


def _probe_price(planner: Planner, claim: Claim, pod: PodState) -> float | None:
    if planner.try_claim(claim, pod, commit=False) != OK:
        return None
    state, mask, _ = planner.probe
    found = claim.pool.catalog.cheapest(mask, planner.states.reqs[state])
    return None if found is None else found[0]


def _cheapest_insertion(planner: Planner, pool: Pool, pods: list[PodState]) -> list[Claim] | None:
    plan: list[Claim] = []
    for pod in pods:
        best: tuple[float, Claim] | None = None
        for claim in plan:
            after = _probe_price(planner, claim, pod)
            if after is None:
                continue
            rise = after - planner.price(claim)
            if best is None or rise < best[0] - _EPS:
                best = (rise, claim)
        fresh = planner.fresh_claim(pool, pool.catalog.full)
        alone = _probe_price(planner, fresh, pod)
        if best is not None and (alone is None or best[0] <= alone + _EPS):
            planner.try_claim(best[1], pod)
            continue
        if alone is None:
            return None
        planner.try_claim(fresh, pod)
        plan.append(fresh)
    return plan


def _rebuild(planner: Planner, pool: Pool, pods: list[PodState]) -> Claim | None:
    claim = planner.fresh_claim(pool, pool.catalog.full)
    for pod in pods:
        if planner.try_claim(claim, pod) != OK:
            return None
    return claim


def _rebuild_all(planner: Planner, pool: Pool, claims: list[Claim]) -> list[Claim] | None:
    plan = []
    for claim in claims:
        rebuilt = _rebuild(planner, pool, sorted(claim.pods, key=_order))
        if rebuilt is None:
            return None
        plan.append(rebuilt)
    return plan


def _move_pods(planner: Planner, pool: Pool, plan: list[Claim]) -> list[Claim]:
    """Move one pod to another claim, or swap two pods, while the total price drops."""
    plan = list(plan)
    for _ in range(4 * sum(len(c.pods) for c in plan)):
        move = _best_move(planner, pool, plan)
        if move is not None:
            source, pod, target, rest = move
            planner.try_claim(target, pod)
            plan.remove(source)
            if rest is not None:
                plan.append(rest)
            continue
        swap = _swap(planner, pool, plan)
        if swap is None:
            break
        old, new = swap
        plan = [c for c in plan if c not in old] + new
    return plan


def _swap(
    planner: Planner, pool: Pool, plan: list[Claim]
) -> tuple[list[Claim], list[Claim]] | None:
    """Two pods on different claims trade places when that lowers the pair's price."""
    for i, a in enumerate(plan):
        for b in plan[i + 1 :]:
            before = planner.price(a) + planner.price(b)
            for pa in a.pods:
                for pb in b.pods:
                    new_a = _rebuild(planner, pool, [p for p in a.pods if p is not pa] + [pb])
                    if new_a is None or planner.price(new_a) >= before - _EPS:
                        continue
                    new_b = _rebuild(planner, pool, [p for p in b.pods if p is not pb] + [pa])
                    if new_b is None:
                        continue
                    if planner.price(new_a) + planner.price(new_b) < before - _EPS:
                        return [a, b], [new_a, new_b]
    return None


def _best_move(
    planner: Planner, pool: Pool, plan: list[Claim]
) -> tuple[Claim, PodState, Claim, Claim | None] | None:
    for source in plan:
        before_source = planner.price(source)
        for pod in source.pods:
            others = [p for p in source.pods if p is not pod]
            rest = _rebuild(planner, pool, others) if others else None
            if others and rest is None:
                continue
            saved = before_source - (planner.price(rest) if rest is not None else 0.0)
            for target in plan:
                if target is source:
                    continue
                after = _probe_price(planner, target, pod)
                if after is not None and after - planner.price(target) < saved - _EPS:
                    return source, pod, target, rest
    return None


def _optimal(planner: Planner, pool: Pool, pods: list[PodState]) -> list[Claim] | None:
    """The cheapest partition of a few pods into claims (dynamic programming over subsets).

    A block's cost is the price of one claim holding exactly those pods; a block that cannot
    be one claim makes every superset impossible too, which prunes most of the 2^n blocks.
    """
    n = len(pods)
    full = (1 << n) - 1
    price: list[float] = [0.0] * (full + 1)
    for subset in range(1, full + 1):
        top = subset.bit_length() - 1
        rest = subset ^ (1 << top)
        if rest and price[rest] == math.inf:
            price[subset] = math.inf
            continue
        claim = _rebuild(planner, pool, [pods[i] for i in range(n) if subset >> i & 1])
        price[subset] = math.inf if claim is None else planner.price(claim)
    best: list[float] = [0.0] + [math.inf] * full
    choice = [0] * (full + 1)
    for subset in range(1, full + 1):
        low = subset & -subset
        others = subset ^ low
        part = others
        while True:
            block = part | low
            cost = price[block] + best[subset ^ block]
            if cost < best[subset] - _EPS:
                best[subset], choice[subset] = cost, block
            if not part:
                break
            part = (part - 1) & others
    if best[full] == math.inf:
        return None
    plan, left = [], full
    while left:
        block = choice[left]
        claim = _rebuild(planner, pool, [pods[i] for i in range(n) if block >> i & 1])
        if claim is None:  # pragma: no cover - the block was priced from the same rebuild
            return None
        plan.append(claim)
        left ^= block
    return plan


def _replace(planner: Planner, old: list[Claim], new: list[Claim]) -> None:
    gone = {id(c) for c in old}
    first = next(i for i, c in enumerate(planner.claims) if id(c) in gone)
    kept = [c for c in planner.claims if id(c) not in gone]
    planner.claims[:] = kept[:first] + new + kept[first:]
    for i, claim in enumerate(planner.claims):
        claim.index = i
