"""Shipyard: a self-hosted delivery-and-scaling platform.

Actions-compatible CI, Argo CD-compatible GitOps and Karpenter-compatible node autoscaling,
on one machine by default (embedded cluster, simulated cloud) and against real Kubernetes and
AWS when a team outgrows it. See ``docs/architecture.md`` for the layers and seams.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
