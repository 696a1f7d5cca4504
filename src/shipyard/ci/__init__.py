"""GitHub Actions-compatible CI (workflows, expressions, jobs, runner).

This layer is planned in docs/architecture.md; it has no modules yet.
"""
