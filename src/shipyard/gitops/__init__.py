"""Argo CD-compatible GitOps (Application, render, diff, sync, health, history).

This layer is planned in docs/architecture.md; it has no modules yet.
"""
