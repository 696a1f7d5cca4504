"""Simulation scenarios, traces, reports and charts.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
