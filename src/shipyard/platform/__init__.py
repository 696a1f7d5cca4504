"""Composition root: builds and wires components for up, demo and simulate.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
