"""Cloud providers behind the CloudProvider seam (fake, simulated EC2, AWS).

This layer is planned in docs/architecture.md; it has no modules yet.
"""
