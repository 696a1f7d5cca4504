"""The embedded control plane (scheduler, workloads, kubelet, services, disruption, API facade).

This layer is planned in docs/architecture.md; it has no modules yet.
"""
