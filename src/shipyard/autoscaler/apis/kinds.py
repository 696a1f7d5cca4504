"""The autoscaler's kinds as the store serves them: names, scope, defaults, admission, columns.

:func:`karpenter_kinds` returns the ``v1`` kinds (NodePool, NodeClaim, EC2NodeClass), the
versions objects are stored in; :func:`v1beta1_kinds` returns the ``v1beta1`` versions, which
the store converts to v1 (``KindInfo.convert`` =
:func:`shipyard.autoscaler.apis.v1beta1.convert`, with a warning per converted or dropped
field) before admitting and storing them; their own ``validate`` (conversion, then v1
admission) serves callers that check without storing. Add the v1 kinds to a scheme first, so
that ``nodepools`` and ``ec2nc`` resolve to v1. Names and short names are those of Karpenter's
CRDs (all three are cluster-scoped, with a status subresource, in the ``karpenter`` category);
nothing registers itself: the platform adds these to its scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.autoscaler.apis.columns import (
    NODECLAIM_COLUMNS,
    NODECLASS_COLUMNS,
    NODEPOOL_COLUMNS,
    Column,
)
from shipyard.autoscaler.apis.nodeclaim import default_nodeclaim, validate_nodeclaim
from shipyard.autoscaler.apis.nodeclass import default_nodeclass, validate_nodeclass
from shipyard.autoscaler.apis.nodepool import default_nodepool, validate_nodepool
from shipyard.autoscaler.apis.v1beta1 import convert
from shipyard.core.errors import FieldError, InvalidError, ShipyardError
from shipyard.store.scheme import Converter, KindInfo
from shipyard.store.validation.schema import Validator

__all__ = ["karpenter_kinds", "v1beta1_kinds"]

Defaulter = Callable[[dict[str, Any]], None]
_KARPENTER = "karpenter.sh"
_AWS = "karpenter.k8s.aws"


def _kind(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    short: tuple[str, ...] = (),
    default: Defaulter,
    validate: Validator,
    columns: tuple[Column, ...],
    converter: Converter | None = None,
) -> KindInfo:
    return KindInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=False,
        short_names=short,
        has_status=True,
        default=default,
        validate=validate,
        columns=columns,
        convert=converter,
    )


def karpenter_kinds() -> list[KindInfo]:
    """``karpenter.sh/v1`` NodePool and NodeClaim, ``karpenter.k8s.aws/v1`` EC2NodeClass."""
    return [
        _kind(_KARPENTER, "v1", "NodePool", "nodepools", default=default_nodepool,
              validate=validate_nodepool, columns=NODEPOOL_COLUMNS),
        _kind(_KARPENTER, "v1", "NodeClaim", "nodeclaims", default=default_nodeclaim,
              validate=validate_nodeclaim, columns=NODECLAIM_COLUMNS),
        _kind(_AWS, "v1", "EC2NodeClass", "ec2nodeclasses", short=("ec2nc", "ec2ncs"),
              default=default_nodeclass, validate=validate_nodeclass,
              columns=NODECLASS_COLUMNS),
    ]  # fmt: skip


def _no_defaults(obj: dict[str, Any]) -> None:
    return None


def _as_v1(default: Defaulter, validate: Validator) -> Validator:
    """Admission of an older version: convert, default as v1, validate as v1."""

    def admit(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
        try:
            converted, _ = convert(obj)
            previous = None if old is None else convert(old)[0]
        except InvalidError as e:
            return list(e.causes)
        except ShipyardError as e:
            return [FieldError("apiVersion", e.message)]
        default(converted)
        if previous is not None:
            default(previous)
        return validate(converted, previous)

    return admit


def v1beta1_kinds() -> list[KindInfo]:
    """The ``v1beta1`` versions, admitted through conversion to v1 (see the module docstring)."""
    return [
        _kind(_KARPENTER, "v1beta1", "NodePool", "nodepools", default=_no_defaults,
              validate=_as_v1(default_nodepool, validate_nodepool), columns=NODEPOOL_COLUMNS,
              converter=convert),
        _kind(_KARPENTER, "v1beta1", "NodeClaim", "nodeclaims", default=_no_defaults,
              validate=_as_v1(default_nodeclaim, validate_nodeclaim),
              columns=NODECLAIM_COLUMNS, converter=convert),
        _kind(_AWS, "v1beta1", "EC2NodeClass", "ec2nodeclasses", short=("ec2nc", "ec2ncs"),
              default=_no_defaults, validate=_as_v1(default_nodeclass, validate_nodeclass),
              columns=NODECLASS_COLUMNS, converter=convert),
    ]  # fmt: skip
