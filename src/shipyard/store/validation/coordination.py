"""``coordination.k8s.io/v1`` Lease: leader election and node heartbeats.

``leaseDurationSeconds`` is positive and ``leaseTransitions`` non-negative; times are RFC 3339
(micro-second precision allowed). A Lease has no status and nothing is defaulted.
"""

from __future__ import annotations

from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import TIME, object_meta, object_schema
from shipyard.store.validation.schema import Int, Obj, Str, Validator, validator

__all__ = ["validate_lease"]

LEASE = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "spec": Obj(
            {
                "acquireTime": TIME,
                "holderIdentity": Str(),
                "leaseDurationSeconds": Int(1, message="must be greater than 0"),
                "leaseTransitions": Int(0),
                "preferredHolder": Str(),
                "renewTime": TIME,
                "strategy": Str(),
            }
        )
    },
)

validate_lease: Validator = validator(LEASE)
