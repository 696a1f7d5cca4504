"""Image build (buildah), registry (distribution) and OCI client.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
