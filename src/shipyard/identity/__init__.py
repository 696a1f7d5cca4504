"""OIDC issuer, STS and the IAM policy engine.

This layer is planned in docs/architecture.md; it has no modules yet.
"""
