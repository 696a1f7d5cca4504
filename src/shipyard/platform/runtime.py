"""Process-wide runtime settings, applied by the composition root (:mod:`.wiring`).

Only :func:`tune_gc` for now: how CPython's cyclic garbage collector should treat a process
that holds a cluster's objects in memory. Nothing below ``platform`` touches the collector;
the builders in :mod:`.wiring` call this once their cluster is bootstrapped, and
``benchmarks/store.py`` calls it too, so the benchmark measures what real runs use.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

# (young, middle, old): CPython's defaults are (700, 10, 10). See tune_gc for the choice.
GC_THRESHOLDS = (50_000, 100, 10)


def tune_gc() -> bool:
    """Set the collector up for a large, long-lived heap of acyclic objects; idempotent.

    **Why.** The store keeps each object version as a tree of small dicts and lists that
    lives until the object changes, about fifteen tracked containers per Pod. They never form
    reference cycles (they are plain JSON; reference counting frees them), so the cyclic
    collector never finds garbage among them, yet with CPython's defaults it keeps walking
    them: a young collection every 700 net allocations (every ~25 writes), and a full
    collection of the whole heap each time it has grown by a quarter. Creating 10,000 Pods
    spent about a quarter of its time there, most of it in two full collections.

    **What.**

    - ``gc.collect()`` then ``gc.freeze()``: everything alive now (imported modules, schemas,
      the scheme, the bootstrap objects, a database just loaded) moves to the permanent
      generation and is never traversed again. Frozen objects are still freed by reference
      counting; only a reference cycle among them would outlive its last use.
    - Thresholds :data:`GC_THRESHOLDS`, ``(50_000, 100, 10)``: a young collection every 50,000
      net allocations instead of 700, so a burst of writes triggers a handful of collections
      rather than hundreds; a middle collection (which walks every survivor since the last
      one: hundreds of thousands of store objects) only every 100 young ones, and full
      collections about 700 times less often (CPython still holds one back until the heap has
      grown by a quarter). In the full-cluster benchmark the young collections cost about 4 %
      of the run and there were no middle or full ones. Cyclic garbage made by
      other code (exceptions with tracebacks, closures) is collected later, and a young
      collection pauses for a few milliseconds instead of tens of microseconds: fine for a
      simulator and a small control plane. (CPython 3.13 itself raised the default to 2,000.)

    Only the first call in a process collects and freezes (a process that builds many
    clusters, such as a test run, freezes once, at its first one). Returns whether this call
    changed the settings.
    """
    if gc.get_threshold() == GC_THRESHOLDS:
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return True
