"""The autoscaler's API kinds: Karpenter's NodePool, NodeClaim and EC2NodeClass.

Users bring their Karpenter manifests unchanged, so these kinds are served under Karpenter's
own names (``karpenter.sh/v1`` NodePool and NodeClaim, ``karpenter.k8s.aws/v1``
EC2NodeClass) with Karpenter v1's defaults, admission rules and printer columns. Older
``v1beta1`` manifests (and the alpha-era fields tutorials still show) are converted to v1 with
a warning per changed field, or rejected with a message saying what to write instead.

Layout::

    kinds.py      karpenter_kinds(), v1beta1_kinds(): the KindInfos the platform adds
    nodepool.py   NodePool defaults, validation, NodePoolView (what the provisioner reads)
    nodeclaim.py  NodeClaim defaults, validation (immutable spec), NodeClaimView
    nodeclass.py  EC2NodeClass defaults, validation, NodeClassView (kubelet sizing inputs)
    kubelet.py    the EC2NodeClass's kubelet settings and eviction thresholds
    v1beta1.py    convert(), conversion_for(): older versions to v1
    fields.py     schema pieces the three share (requirements, taints, nodeClassRef, ...)
    cron.py       budget schedules
    columns.py    printer columns

Validation reuses the store's declarative schema walk (:mod:`shipyard.store.validation`), so
every problem comes back at once as a ``FieldError`` with its path
(``spec.template.spec.requirements[2].values``), and the requirement algebra of
:mod:`shipyard.core.requirements`. The views are frozen dataclasses parsed from a validated
object; they never hold on to the dict they came from.
"""

from __future__ import annotations

from shipyard.autoscaler.apis.columns import PRICE_ANNOTATION
from shipyard.autoscaler.apis.cron import CronSchedule, parse_cron
from shipyard.autoscaler.apis.kinds import karpenter_kinds, v1beta1_kinds
from shipyard.autoscaler.apis.nodeclaim import (
    NodeClaimView,
    default_nodeclaim,
    validate_nodeclaim,
)
from shipyard.autoscaler.apis.nodeclass import (
    AmiAlias,
    EvictionThreshold,
    NodeClassView,
    SelectorTerm,
    default_nodeclass,
    validate_nodeclass,
)
from shipyard.autoscaler.apis.nodepool import (
    Budget,
    NodeClassRef,
    NodePoolView,
    default_nodepool,
    validate_nodepool,
)
from shipyard.autoscaler.apis.v1beta1 import (
    KUBELET_COMPATIBILITY_ANNOTATION,
    Converter,
    conversion_for,
    convert,
)

__all__ = [
    "KUBELET_COMPATIBILITY_ANNOTATION",
    "PRICE_ANNOTATION",
    "AmiAlias",
    "Budget",
    "Converter",
    "CronSchedule",
    "EvictionThreshold",
    "NodeClaimView",
    "NodeClassRef",
    "NodeClassView",
    "NodePoolView",
    "SelectorTerm",
    "conversion_for",
    "convert",
    "default_nodeclaim",
    "default_nodeclass",
    "default_nodepool",
    "karpenter_kinds",
    "parse_cron",
    "v1beta1_kinds",
    "validate_nodeclaim",
    "validate_nodeclass",
    "validate_nodepool",
]
