"""Benchmark of plan cost: the $/h of the planned nodes against an LP lower bound.

Run ``.venv/bin/python benchmarks/provisioning_cost.py [--sizes 500,5000] [--quick]``.

**Generic pods.** ``n`` pods drawn with a fixed seed (:data:`SEED`), each with one container
whose cpu request is uniform over {100m, 250m, 500m, 1, 2} and whose memory request is
uniform over {128Mi, 256Mi, 512Mi, 1Gi, 2Gi, 4Gi}, independently (30 shapes of the common
web/worker sizes); no limits, node selector, affinity, tolerations, topology spread or host
ports, so every pod is free to go anywhere the pool allows. No DaemonSets.

**Catalog and pool.** The real AWS catalog (:class:`shipyard.cloud.catalog.Catalog` with its
defaults: us-east-1, three zones, the seeded spot model) and one NodePool allowing the whole
catalog: ``kubernetes.io/os In [linux]``, ``kubernetes.io/arch In [amd64, arm64]`` and
``karpenter.sh/capacity-type In`` the run's capacity types. Two runs per size:

- ``on-demand`` — capacity type on-demand only; **this run carries the target**;
- ``spot`` — spot and on-demand allowed (prices are the cheaper of the two per type, as a
  launch would pick); reported for information.

**Plan.** :func:`shipyard.autoscaler.provisioning.solve` with its defaults; the plan's cost is
``Results.total_price()``: every new claim at its cheapest compatible offering. The wall time
(``time.perf_counter``) covers the whole ``solve``.

**Lower bound.** Call a *configuration* a node type ``t`` with a multiset of pod shapes whose
summed cpu, memory and pod count fit ``t``'s allocatable (the scheduler's own fit rule, so
every node of every plan is a configuration). With ``n_s`` pods of shape ``s``, the
configuration LP is::

    minimise   Σ_c price(c) · x_c
    subject to Σ_c count_s(c) · x_c ≥ n_s   for every shape s,    x ≥ 0.

Any plan is a feasible point (``x_c`` = how many of its nodes are configuration ``c``), so the
LP optimum is at most the cheapest plan's cost. Unlike the resource-aggregate LP it cannot buy
half a node of a type too small for any pod (a ``t4g.nano`` has 4 pods of room but 15 MiB of
memory), nor spread a 1-vCPU pod over two halves of a 1.93-vCPU node: configurations are
whole pods. It is the Gilmore–Gomory relaxation of cutting stock.

The LP has too many columns to write down, so it is solved by column generation with HiGHS
(``scipy.optimize.linprog`` for the master, ``scipy.optimize.milp`` for the pricing knapsack
per node type). The bound reported does not rely on the generation converging: with the
master's duals ``y ≥ 0`` and ``ρ`` an *upper bound* on ``max_c y·count(c) / price(c)`` over
all configurations (from the knapsacks' proven dual bounds, or a cheap single-resource bound
for types whose knapsack was not solved), ``y/ρ`` is feasible for the dual of the full LP, so
``Σ_s n_s y_s / ρ`` is a lower bound (Farley's bound). At convergence ``ρ = 1`` and it equals
the LP optimum. Node types dominated by another (no cheaper, no larger in any resource) are
dropped first: every configuration of one fits the other, so the optimum does not change.

The weaker bounds are printed for comparison: the resource-aggregate LP (``Σ_t price_t x_t``
with ``Σ_t alloc_t x_t ≥`` total requests per resource) and the same restricted to node types
that hold at least one pod of the batch's smallest shape.

Target: the on-demand plan within 5 % of the bound (ratio ≤ 1.05) at 500 and 5,000 pods. The
last line is one JSON object with every figure, the targets and a pass flag per target
(``null`` when a run did not include that size).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from shipyard.autoscaler.provisioning import PoolTemplate, Results, solve
from shipyard.cloud.catalog import Catalog
from shipyard.cloud.provider import InstanceType
from shipyard.cluster.podutil import pod_requests
from shipyard.core.labels import ARCH, CAPACITY_TYPE, OS
from shipyard.core.requirements import IN, Requirement, Requirements
from shipyard.platform.runtime import tune_gc

Obj = dict[str, Any]
MI = 1024**2
CPUS = (100, 250, 500, 1000, 2000)  # millicores
MEMORIES = (128, 256, 512, 1024, 2048, 4096)  # MiB
RESOURCES = ("cpu", "memory", "pods")
ARCHES = ("amd64", "arm64")
RUNS: dict[str, tuple[str, ...]] = {"on-demand": ("on-demand",), "spot": ("spot", "on-demand")}
TARGET_RUN = "on-demand"
SIZES = (500, 5000)
SEED = 42
MAX_ROUNDS = 60
MAX_COLUMNS_PER_ROUND = 40
RHO_TOLERANCE = 1e-7
TARGETS = {
    "ratio_at_500": ("<=", 1.05),
    "ratio_at_5000": ("<=", 1.05),
    "all_pods_placed": ("==", True),
}


# --- the workload -----------------------------------------------------------------------------


def make_pods(count: int, seed: int = SEED) -> list[Obj]:
    """The generic pods of the module docstring, deterministic for a seed."""
    rng = random.Random(seed)
    pods = []
    for i in range(count):
        requests = {"cpu": f"{rng.choice(CPUS)}m", "memory": f"{rng.choice(MEMORIES)}Mi"}
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"pod-{i}", "namespace": "default"},
                "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]},
            }
        )
    return pods


def make_pool(types: Sequence[InstanceType], capacity_types: Sequence[str]) -> PoolTemplate:
    requirements = Requirements(
        [
            Requirement.create(OS, IN, ["linux"]),
            Requirement.create(ARCH, IN, list(ARCHES)),
            Requirement.create(CAPACITY_TYPE, IN, list(capacity_types)),
        ]
    )
    return PoolTemplate(name="default", instance_types=types, requirements=requirements)


# --- the lower bound --------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeType:
    """A node type as the bound sees it: its price and allocatable (cpu, memory, pods)."""

    name: str
    price: float
    room: tuple[int, int, int]


def shapes_of(pods: Sequence[Obj]) -> Counter[tuple[int, int, int]]:
    """How many pods request each (cpu, memory, pods) triple."""
    counts: Counter[tuple[int, int, int]] = Counter()
    for pod in pods:
        requests = pod_requests(pod)
        counts[(requests.get("cpu", 0), requests.get("memory", 0), 1)] += 1
    return counts


def node_types(pool: PoolTemplate) -> list[NodeType]:
    """Every type the pool may launch, at its cheapest offering the pool allows."""
    reqs = pool.template_requirements()
    arch = reqs.get(ARCH)
    out = []
    for it in pool.instance_types:
        if not any(arch.has(a) for a in it.requirements.get(ARCH).value_set):
            continue
        price = it.cheapest_price(reqs)
        if price is None:
            continue
        alloc = it.allocatable
        room = (alloc.get("cpu", 0), alloc.get("memory", 0), alloc.get("pods", 0))
        out.append(NodeType(it.name, price, room))
    return out


def undominated(types: Sequence[NodeType]) -> list[NodeType]:
    """Drop every type another one matches or beats in price and every resource."""
    kept: list[NodeType] = []
    for t in sorted(types, key=lambda t: (t.price, [-r for r in t.room], t.name)):
        if not any(all(a >= b for a, b in zip(k.room, t.room, strict=True)) for k in kept):
            kept.append(t)
    return kept


def aggregate_bound(types: Sequence[NodeType], shapes: Counter[tuple[int, int, int]]) -> float:
    """The resource-aggregate LP: enough total allocatable per resource, fractional nodes."""
    if not types:
        return float("inf")
    totals = [sum(shape[r] * n for shape, n in shapes.items()) for r in range(3)]
    scale = [max(1.0, float(v)) for v in totals]
    a_ub = -np.array([[t.room[r] / scale[r] for t in types] for r in range(3)])
    b_ub = -np.array([totals[r] / scale[r] for r in range(3)])
    res = linprog([t.price for t in types], A_ub=a_ub, b_ub=b_ub, method="highs")
    return float(res.fun) if res.status == 0 else float("inf")


Column = tuple[float, list[int]]  # (price, pods per shape)
ColumnCache = dict[tuple[tuple[int, int, int], ...], list[Column]]


@dataclass
class ConfigurationBound:
    """The configuration LP's Farley bound and how column generation went."""

    bound: float
    master: float
    rho: float
    rounds: int
    columns: int
    seconds: float


def _copies(shape: tuple[int, int, int], room: tuple[int, int, int]) -> int:
    return min(room[r] // shape[r] for r in range(3) if shape[r] > 0)


class _Knapsacks:
    """The pricing problem of each node type: the most dual value one node can hold."""

    def __init__(self, types: Sequence[NodeType], shapes: Sequence[tuple[int, int, int]]) -> None:
        self.types = types
        self.shapes = shapes
        self.sizes = np.array(shapes, dtype=float).T  # 3 × shapes
        self._fit_cache: dict[str, list[int]] = {}

    def relaxed(self, t: NodeType, duals: np.ndarray) -> float:
        """The knapsack's LP relaxation: an upper bound, exact enough to prune with."""
        fits = self._fits(t)
        if not fits:
            return 0.0
        res = linprog(
            -duals[fits],
            A_ub=self.sizes[:, fits],
            b_ub=np.array(t.room, dtype=float),
            bounds=[(0.0, float(_copies(self.shapes[s], t.room))) for s in fits],
            method="highs",
        )
        if res.status != 0:
            return float("inf")
        return -float(res.fun) + 1e-9 * (1.0 + abs(float(res.fun)))

    def solve(self, t: NodeType, duals: np.ndarray, relaxed: float) -> tuple[float, list[int]]:
        """A proven upper bound on the knapsack and the best configuration found."""
        fits = self._fits(t)
        counts = [0] * len(self.shapes)
        if not fits:
            return 0.0, counts
        upper = [float(_copies(self.shapes[s], t.room)) for s in fits]
        with _quiet():
            res = milp(
                c=-duals[fits],
                constraints=LinearConstraint(
                    self.sizes[:, fits], -np.inf, np.array(t.room, dtype=float)
                ),
                integrality=np.ones(len(fits)),
                bounds=Bounds(np.zeros(len(fits)), np.array(upper)),
            )
        if res.x is not None:
            for j, s in enumerate(fits):
                counts[s] = round(float(res.x[j]))
        found = float(sum(duals[s] * k for s, k in enumerate(counts)))
        dual_bound = getattr(res, "mip_dual_bound", None)
        upper_bound = relaxed
        if res.status == 0 and dual_bound is not None and np.isfinite(dual_bound):
            upper_bound = min(relaxed, -float(dual_bound) + 1e-9 * (1.0 + abs(dual_bound)))
        return max(upper_bound, found), counts

    def _fits(self, t: NodeType) -> list[int]:
        found = self._fit_cache.get(t.name)
        if found is None:
            found = [s for s, shape in enumerate(self.shapes) if _copies(shape, t.room) > 0]
            self._fit_cache[t.name] = found
        return found


@contextmanager
def _quiet() -> Iterator[None]:
    """HiGHS' MIP solver sometimes writes progress lines straight to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def configuration_bound(
    types: Sequence[NodeType],
    shapes: Counter[tuple[int, int, int]],
    cache: ColumnCache | None = None,
) -> ConfigurationBound:
    """The configuration LP by column generation; see the module docstring.

    ``cache`` keeps the columns between calls over the same node types, by shape set: a later
    batch with the same shapes starts from them. Every column is a configuration, so reusing
    them changes the speed, never the bound.
    """
    started = time.perf_counter()
    order = sorted(shapes)
    demand = np.array([shapes[s] for s in order], dtype=float)
    knapsacks = _Knapsacks(types, order)
    saved = cache.setdefault(tuple(order), []) if cache is not None else []
    columns: list[Column] = list(saved)
    for s, shape in enumerate(order):  # a homogeneous node per shape: the master is feasible
        best = min(
            (t for t in types if _copies(shape, t.room) > 0),
            key=lambda t: t.price / _copies(shape, t.room),
        )
        counts = [0] * len(order)
        counts[s] = _copies(shape, best.room)
        columns.append((best.price, counts))
    bound = master = 0.0
    rho = float("inf")
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        master, duals = _master(columns, demand)
        rho, new = _price(knapsacks, duals)
        bound = max(bound, float(demand @ duals) / max(rho, 1.0))
        if rho <= 1.0 + RHO_TOLERANCE or not new:
            break
        columns.extend(new)
    saved[:] = columns
    return ConfigurationBound(
        bound, master, rho, rounds, len(columns), time.perf_counter() - started
    )


def _master(columns: list[Column], demand: np.ndarray) -> tuple[float, np.ndarray]:
    a_ub = -np.array([counts for _, counts in columns], dtype=float).T
    res = linprog([price for price, _ in columns], A_ub=a_ub, b_ub=-demand, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the master LP failed: {res.message}")
    duals = np.maximum(0.0, -np.asarray(res.ineqlin.marginals, dtype=float))
    return float(res.fun), duals


def _price(knapsacks: _Knapsacks, duals: np.ndarray) -> tuple[float, list[Column]]:
    """ρ (an upper bound on the best value/price of any configuration) and new columns."""
    uppers = [knapsacks.relaxed(t, duals) for t in knapsacks.types]
    relaxed = sorted(
        (
            (upper / t.price, upper, i)
            for i, (t, upper) in enumerate(zip(knapsacks.types, uppers, strict=True))
        ),
        reverse=True,
    )
    rho = 0.0
    found: list[tuple[float, float, list[int]]] = []
    for ratio, upper, i in relaxed:
        if ratio <= rho:  # the rest cannot beat the best proven ratio so far
            break
        t = knapsacks.types[i]
        proven, counts = knapsacks.solve(t, duals, upper)
        rho = max(rho, proven / t.price)
        value = float(sum(duals[s] * c for s, c in enumerate(counts)))
        if value > t.price * (1.0 + RHO_TOLERANCE):
            found.append((value / t.price, t.price, counts))
    found.sort(key=lambda f: -f[0])
    return rho, [(price, counts) for _, price, counts in found[:MAX_COLUMNS_PER_ROUND]]


# --- the run ----------------------------------------------------------------------------------


def measure(
    size: int, run: str, types: Sequence[InstanceType], cache: ColumnCache
) -> dict[str, Any]:
    pods = make_pods(size)
    pool = make_pool(types, RUNS[run])
    started = time.perf_counter()
    results: Results = solve(pods, [pool])
    seconds = time.perf_counter() - started
    shapes = shapes_of(pods)
    offered = node_types(pool)
    kept = undominated(offered)
    smallest = min(shapes, key=lambda s: (s[1], s[0]))
    holding = [t for t in kept if _copies(smallest, t.room) > 0]
    config = configuration_bound(kept, shapes, cache)
    plan = results.total_price()
    return {
        "pods": size,
        "run": run,
        "plan_per_hour": round(plan, 4),
        "bound_per_hour": round(config.bound, 4),
        "ratio": round(plan / config.bound, 4),
        "nodes": len(results.new_claims),
        "placed": results.placed(),
        "errors": len(results.errors),
        "plan_seconds": round(seconds, 3),
        "aggregate_bound": round(aggregate_bound(kept, shapes), 4),
        "aggregate_bound_fitting_types": round(aggregate_bound(holding, shapes), 4),
        "bound_master": round(config.master, 4),
        "bound_rho": round(config.rho, 9),
        "bound_rounds": config.rounds,
        "bound_columns": config.columns,
        "bound_seconds": round(config.seconds, 2),
        "node_types": len(offered),
        "undominated_types": len(kept),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'pods':>6} {'run':<10}{'plan $/h':>10}{'bound $/h':>11}{'ratio':>8}{'nodes':>7}"
        f"{'plan s':>8}{'agg LP':>9}{'agg fit':>9}{'bound s':>9}"
    )
    for r in rows:
        print(
            f"{r['pods']:>6} {r['run']:<10}{r['plan_per_hour']:>10.4f}{r['bound_per_hour']:>11.4f}"
            f"{r['ratio']:>8.3f}{r['nodes']:>7}{r['plan_seconds']:>8.2f}"
            f"{r['aggregate_bound']:>9.3f}{r['aggregate_bound_fitting_types']:>9.3f}"
            f"{r['bound_seconds']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated pod counts (default 500,5000)")
    parser.add_argument("--quick", action="store_true", help="the on-demand run only")
    args = parser.parse_args(argv)
    sizes: tuple[int, ...] = SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    runs = (TARGET_RUN,) if args.quick else tuple(RUNS)
    gc_tuned = tune_gc()
    types = Catalog().instance_types()
    rows = []
    for run in runs:
        cache: ColumnCache = {}
        rows += [measure(size, run, types, cache) for size in sizes]
    print_table(rows)
    target = {r["pods"]: r for r in rows if r["run"] == TARGET_RUN}
    passes: dict[str, bool | None] = {
        f"ratio_at_{n}": (
            target[n]["ratio"] <= TARGETS[f"ratio_at_{n}"][1] if n in target else None
        )
        for n in (500, 5000)
    }
    passes["all_pods_placed"] = all(r["placed"] == r["pods"] and r["errors"] == 0 for r in rows)
    figures = {
        "benchmark": "provisioning_cost",
        "seed": SEED,
        "gc_tuned": gc_tuned,
        "target_run": TARGET_RUN,
        "rows": rows,
        "targets": TARGETS,
        "pass": passes,
    }
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
