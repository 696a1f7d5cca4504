"""Karpenter-compatible node autoscaling (NodePool, NodeClaim, provisioning, disruption).

- :mod:`shipyard.autoscaler.apis` — Karpenter's kinds as Shipyard serves them: ``karpenter.sh/v1``
  NodePool and NodeClaim, ``karpenter.k8s.aws/v1`` EC2NodeClass (defaults, admission with
  field paths, printer columns), conversion of older ``v1beta1``/alpha manifests, and the
  typed views (``NodePoolView``, ``NodeClassView``) the provisioner reads;
- :mod:`shipyard.autoscaler.provisioning` — batching unschedulable pods onto NodeClaims.

The autoscaler stands on the cluster and cloud layers and never imports GitOps or CI.
"""
