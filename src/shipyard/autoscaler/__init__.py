"""Karpenter-compatible node autoscaling (NodePool, NodeClaim, provisioning, disruption).

This layer is planned in docs/architecture.md; it has no modules yet.
"""
