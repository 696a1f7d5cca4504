"""Git hosting: bare repositories, smart HTTP, push hooks.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
