"""Composition root: the one place that builds and wires components for ``up``, ``demo`` and
``simulate``. Nothing else constructs backends, clocks or controllers."""
