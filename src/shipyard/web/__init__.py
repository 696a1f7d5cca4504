"""Dashboard, REST API, webhooks and metrics.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
